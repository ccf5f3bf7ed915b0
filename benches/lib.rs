//! `lapps-load`, the closed-loop WebSocket load generator of lapps, as a library.
//!
//! The binary (`benches/src/main.rs`) only parses its arguments and prints; everything else
//! is here, so that tests run the same engine against an in-process server. It works against
//! any RFC 6455 server for `echo` and `idle`; `echo --protocol lapps` needs the `echo_lapps`
//! example service, and `bcast` the service in `benches/apps/bcast_bench`.
//!
//! # Usage
//!
//! ```text
//! lapps-load echo URL [-c N=100] [-s BYTES=64] [-d SECS=10 | -n COUNT] [--warmup SECS]
//!                     [--text] [--protocol raw|lapps] [--ca FILE] [--quiet]
//! lapps-load idle URL [-c N=1000] [--sources K=1] [--concurrency C=256] [--hold SECS]
//!                     [--ca FILE] [--quiet]
//! lapps-load bcast URL [-c SUBSCRIBERS=10000] [-s BYTES=64] [-d SECS=10 | -n COUNT]
//!                      [--window W=1] [--warmup SECS] [--sources K=1] [--quiet]
//! ```
//!
//! Every mode also takes `--concurrency`, `--sources` and `--ca`. Examples, against
//! `lapps` on its default configuration (`/echo` and `/echo_lapps` on 127.0.0.1:5083):
//!
//! ```text
//! taskset -c 1 lapps-load echo ws://127.0.0.1:5083/echo -c 100 -d 5
//! lapps-load echo ws://127.0.0.1:5083/echo_lapps --protocol lapps -c 100 -s 1024
//! lapps-load echo wss://localhost:5083/echo --ca ca.pem -n 100000
//! lapps-load idle ws://127.0.0.1:5083/echo -c 10000 --hold 30
//! LAPPS_HOME=benches lapps run --config-dir benches/apps/conf &
//! lapps-load bcast ws://127.0.0.1:5083/bcast_bench -c 1000 --window 4
//! ```
//!
//! Each run prints one JSON line on stdout (see [`report`]), a progress bar on stderr when
//! stderr is a terminal (not with `--quiet`), and the first few errors on stderr. It exits
//! non-zero if a connection failed to open or any error was counted.
//!
//! # How it is cheap per message
//!
//! The client is meant to be pinned to one core (`taskset`) next to the server under test, so
//! it spends as little as it can per message: a current-thread tokio runtime with one task
//! per connection and no atomics (tasks share state through cells, inside a
//! [`tokio::task::LocalSet`]); lapps-proto's client role with a reused receive buffer; data
//! frames encoded and masked straight into a reused write buffer and written in one call;
//! masks from a xorshift generator ([`client::XorShift`]); LAppS answers checked by comparing
//! bytes with the expected canonical CBOR ([`lapps`]); one latency histogram per run.
//!
//! # Modes
//!
//! - [`echo`]: closed-loop round trips, one message in flight per connection, each echo
//!   checked against what was sent.
//! - [`idle`]: open N connections, print the report, hold them until `--hold` or stdin's EOF.
//! - [`bcast`]: broadcast fan-out through `bcast_bench`, with a window of broadcasts in
//!   flight, and delivery latency.

#![forbid(unsafe_code)]

#[path = "src/args.rs"]
pub mod args;
#[path = "src/bcast.rs"]
pub mod bcast;
#[path = "src/client.rs"]
pub mod client;
#[path = "src/connect.rs"]
pub mod connect;
#[path = "src/echo.rs"]
pub mod echo;
#[path = "src/idle.rs"]
pub mod idle;
#[path = "src/lapps.rs"]
pub mod lapps;
#[path = "src/report.rs"]
pub mod report;

/// The error of setting a run up: an invalid URL or CA file, too few file descriptors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

//! The lapps WebSocket application server, as an embeddable library.
//!
//! `lapps-server` serves *services* over RFC 6455 WebSockets (plain or TLS): each service is
//! reached at its request target, runs as N *instances*, and every connection is bound to one
//! instance for its whole life. It is what the `lapps` binary runs; embed it to serve your own
//! Rust services beside Lua ones ([`lua::LuaService`]), configure it in code or from
//! LAppS's `ws.json`/`lapps.json` ([`config`]), and stop it gracefully. Use `lapps-proto`
//! directly if you only need the RFC 6455 codec.
//!
//! # Quick start
//!
//! ```no_run
//! use async_trait::async_trait;
//! use lapps_server::service::{ConnectionId, DataKind, Disposition, Inbound, ReactiveService};
//! use lapps_server::{InstanceContext, Server, ServiceConfig, echo};
//!
//! /// Answers every text message in upper case.
//! struct Shout;
//!
//! #[async_trait(?Send)]
//! impl ReactiveService for Shout {
//!     async fn on_message(&mut self, ctx: &InstanceContext, conn: ConnectionId, msg: Inbound) -> Disposition {
//!         let loud = String::from_utf8_lossy(&msg.data).to_uppercase();
//!         match ctx.send(conn, DataKind::Text, loud.as_bytes()) {
//!             Ok(()) => Disposition::Keep,
//!             Err(_) => Disposition::Close, // backpressure or closed: close with 1011
//!         }
//!     }
//! }
//!
//! # async fn run() -> Result<(), lapps_server::Error> {
//! let server = Server::builder()
//!     .service(echo::service("echo").instances(4))
//!     .service(ServiceConfig::new("shout", |_| Ok(Box::new(Shout) as Box<dyn ReactiveService>)).instances(2))
//!     .max_connections(10_000)
//!     .bind("127.0.0.1:5083")
//!     .await?;
//! println!("listening on {}", server.local_addr());
//! let stop = server.shutdown_handle(); // call stop.shutdown() from anywhere
//! server
//!     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
//!     .await?;
//! # drop(stop);
//! # Ok(())
//! # }
//! ```
//!
//! # Lifecycle
//!
//! [`ServerBuilder::bind`] validates the services, binds the listeners, starts the worker
//! threads and each service's instances (`on_start`), then accepts. Awaiting the [`Server`]
//! waits for the shutdown; a [`ShutdownHandle`] (or the signal given to
//! [`Server::with_graceful_shutdown`]) starts it: accepting stops, every client gets Close 1001
//! "server shutdown" and `handshake_timeout` to answer, then each instance runs
//! `on_disconnect` for its connections and `on_shutdown`. An embedded server installs no
//! signal handlers, never exits the process and logs through `tracing`.
//!
//! # Guarantees
//!
//! An instance's callbacks run one at a time, on the worker thread it was built on; a
//! connection's messages reach it in order; `on_disconnect` runs exactly once per connection,
//! whatever ended it; sends never block (a full outbound buffer refuses with
//! [`service::SendError::Backpressure`]). See `docs/architecture.md`.
//!
//! # Limits and defaults
//!
//! Every setting of [`ServerBuilder`] has the default of the lapps spec §2.4: 10 000
//! connections per worker, a 4 MiB outbound buffer per connection, an 8 KiB request head,
//! 10 s for the handshake, 120 s of idle time, a ping after 30 s of silence, 16 MiB messages.
//!
//! # Feature flags
//!
//! - `tls` (default): serve `wss://` ([`ServerBuilder::tls`], the `tls` configuration key).

#![forbid(unsafe_code)]

pub mod acl;
mod bcast;
mod builder;
pub mod config;
mod conn;
pub mod echo;
mod error;
mod instance;
pub mod lua;
mod metrics;
mod registry;
mod runtime;
mod server;
pub mod service;
pub mod standalone;
mod transport;
mod upgrade;
mod worker;

pub use builder::{DEFAULT_MAX_MESSAGE_SIZE, ServerBuilder, ServiceConfig, listen_address};
pub use error::Error;
pub use instance::{InstanceContext, LappsSendError};
pub use lapps_balancer::Strategy;
pub use lapps_lua as lua_host;
pub use metrics::{Initiator, Metrics, ServiceMetrics};
pub use runtime::ServiceState;
pub use server::{Server, ShutdownHandle};
pub use standalone::{StandaloneConfig, StandaloneService};

pub use lapps_proto as proto;

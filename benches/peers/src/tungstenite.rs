//! `peer-tungstenite ADDR`: the tokio-tungstenite echo server lapps is compared with.
//!
//! tokio-tungstenite's own `examples/echo-server.rs` on one current-thread runtime; see
//! [`lapps_bench_peers`] for what every peer does. Run with:
//! `cargo run --release -p lapps-bench-peers --bin peer-tungstenite -- 127.0.0.1:0`

use std::process::ExitCode;

use lapps_bench_peers::{args, fail, serve, tungstenite_echo};

fn main() -> ExitCode {
    let args = match args(&[]) {
        Ok(args) => args,
        Err(usage) => return fail(&usage),
    };
    serve("ws", &args[0], tungstenite_echo)
}

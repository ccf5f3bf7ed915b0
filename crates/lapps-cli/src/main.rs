//! The `lapps` binary.
//!
//! Until the server lands (issue 3), `lapps` serves the raw echo of lapps-proto's blocking
//! example on every request target, by default on 127.0.0.1:5083. The server, the LAppS
//! configuration files and the Lua services replace it.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;

#[path = "../../lapps-proto/examples/std_echo.rs"]
#[allow(dead_code, reason = "only `run` is used; `main` is the example's own")]
mod std_echo;

/// A Lua application server over WebSockets (today: the lapps-proto echo server).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The address to listen on; port 0 picks a free port, which is printed.
    #[arg(long, default_value = "127.0.0.1:5083")]
    listen: String,
}

#[expect(
    clippy::print_stderr,
    reason = "a binary reports its address and errors"
)]
fn main() -> ExitCode {
    let args = Args::parse();
    let listener = match TcpListener::bind(&args.listen) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("lapps: cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => eprintln!("lapps: echo listening on ws://{addr}/echo"),
        Err(error) => eprintln!("lapps: listening (address unknown: {error})"),
    }
    std_echo::run(&listener);
    ExitCode::SUCCESS
}

//! What the native echo peers share: the command line, the runtime, binding and the announce
//! line, the accept loop, and the tokio-tungstenite echo used with and without TLS.
//!
//! The peers are the servers `benches/compare.sh` runs beside lapps. Each one is the idiomatic
//! echo server of its library, on a current-thread tokio runtime because the script pins it to
//! one core, as lapps is run with one worker. Each binds the address it is given (port 0 picks a
//! free one), prints exactly one line `listening on ws://IP:PORT` (or `wss://`) on standard error
//! once bound, and serves until it is killed. A client that misbehaves is logged on standard
//! error and dropped; it never stops the server.

use std::error::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, future};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// The error a connection handler returns: logged with the peer's address, then dropped.
pub type ConnError = Box<dyn Error + Send + Sync>;

/// Reads the command line: the listen address, then exactly `extra.len()` more arguments, named
/// by `extra` in the usage line.
///
/// # Errors
///
/// The usage line, when the count is wrong or the first argument is `-h` or `--help`.
pub fn args(extra: &[&str]) -> Result<Vec<String>, String> {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_else(|| "peer".to_owned());
    let args: Vec<String> = args.collect();
    let help = args.first().is_some_and(|a| a == "-h" || a == "--help");
    if help || args.len() != extra.len() + 1 {
        let mut usage = format!("usage: {program} ADDR");
        for name in extra {
            usage.push(' ');
            usage.push_str(name);
        }
        usage.push_str("   (ADDR such as 127.0.0.1:0; port 0 picks a free port)");
        return Err(usage);
    }
    Ok(args)
}

/// Serves `addr` on a current-thread runtime: binds, announces `listening on SCHEME://IP:PORT`
/// on standard error, then accepts forever, setting `TCP_NODELAY` and spawning
/// `handle(stream)` for each connection.
///
/// Returns only on a failure to start (runtime, bind), which it reports.
pub fn serve<H, F>(scheme: &str, addr: &str, handle: H) -> ExitCode
where
    H: Fn(TcpStream) -> F,
    F: Future<Output = Result<(), ConnError>> + Send + 'static,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        let listener = match bind(addr).await {
            Ok(listener) => listener,
            Err(e) => return fail(&format!("cannot bind {addr}: {e}")),
        };
        match listener.local_addr() {
            Ok(local) => announce(scheme, local),
            Err(e) => return fail(&format!("cannot read the bound address: {e}")),
        }
        accept_loop(&listener, handle).await
    })
}

/// Echoes every text and binary message back on a tokio-tungstenite connection, the form of
/// tokio-tungstenite's own `examples/echo-server.rs`: the default `WebSocketConfig`, the
/// stream split, and text and binary messages forwarded to the sink (pings are answered and
/// the close handshake completed by tungstenite itself).
///
/// # Errors
///
/// The handshake's or the connection's [`tungstenite::Error`](tokio_tungstenite::tungstenite::Error).
pub async fn tungstenite_echo<S>(stream: S) -> Result<(), ConnError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ws = tokio_tungstenite::accept_async(stream).await?;
    let (write, read) = ws.split();
    read.try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(write)
        .await?;
    Ok(())
}

/// Logs a connection's error, or the listener's when `peer` is `None`, on standard error.
#[expect(
    clippy::print_stderr,
    reason = "a bench peer logs to standard error only"
)]
pub fn log_error(peer: Option<SocketAddr>, e: &ConnError) {
    match peer {
        Some(peer) => eprintln!("{peer}: {e}"),
        None => eprintln!("accept: {e}"),
    }
}

/// Prints `message` on standard error and returns the failure exit code.
#[expect(clippy::print_stderr, reason = "a binary reports its failure")]
pub fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}

/// Binds `addr` (the first address it resolves to) with the listen backlog lapps uses.
///
/// `TcpListener::bind` listens with a backlog of 128, as the standard library does, and
/// `lapps-load` keeps 256 handshakes in flight by default: the accept queue overflowed, the
/// kernel dropped handshakes, and each came back only with the client's SYN retransmission a
/// second later, which cut the peers' connection rate to a tenth of lapps' (lapps listens
/// with 1024, `crates/lapps-server/src/builder.rs`).
async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let Some(addr) = tokio::net::lookup_host(addr).await?.next() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "the address resolves to nothing",
        ));
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn accept_loop<H, F>(listener: &TcpListener, handle: H) -> ExitCode
where
    H: Fn(TcpStream) -> F,
    F: Future<Output = Result<(), ConnError>> + Send + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and the like: the listener stays usable, so wait and go on.
                log_error(None, &e.into());
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            log_error(Some(peer), &e.into());
            continue;
        }
        let connection = handle(stream);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                log_error(Some(peer), &e);
            }
        });
    }
}

#[expect(
    clippy::print_stderr,
    reason = "the announce line is read by compare.sh"
)]
fn announce(scheme: &str, local: SocketAddr) {
    eprintln!("listening on {scheme}://{local}");
}

const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The listen backlog: the same as lapps'.
const LISTEN_BACKLOG: u32 = 1024;

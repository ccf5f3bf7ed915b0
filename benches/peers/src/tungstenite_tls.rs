//! `peer-tungstenite-tls ADDR CERT_PEM KEY_PEM`: the tokio-tungstenite echo server behind
//! tokio-rustls, compared with lapps over `wss://`.
//!
//! The rustls configuration is lapps's own ([`lapps_tls::ServerTlsConfig`]: the *ring*
//! provider, TLS 1.2 and 1.3, ALPN `http/1.1`), so both servers offer the client the same
//! handshake and cipher suites. Run with:
//! `cargo run --release -p lapps-bench-peers --bin peer-tungstenite-tls -- 127.0.0.1:0 cert.pem key.pem`

use std::process::ExitCode;

use lapps_bench_peers::{ConnError, args, fail, serve, tungstenite_echo};
use lapps_tls::ServerTlsConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

fn main() -> ExitCode {
    let args = match args(&["CERT_PEM", "KEY_PEM"]) {
        Ok(args) => args,
        Err(usage) => return fail(&usage),
    };
    let config = match ServerTlsConfig::from_pem_files(&args[1], &args[2]).and_then(|c| c.build()) {
        Ok(config) => config,
        Err(e) => return fail(&e.to_string()),
    };
    let acceptor = TlsAcceptor::from(config);
    serve("wss", &args[0], move |stream| {
        echo(acceptor.clone(), stream)
    })
}

async fn echo(acceptor: TlsAcceptor, stream: TcpStream) -> Result<(), ConnError> {
    tungstenite_echo(acceptor.accept(stream).await?).await
}

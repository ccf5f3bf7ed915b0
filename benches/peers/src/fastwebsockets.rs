//! `peer-fastwebsockets ADDR`: the fastwebsockets echo server lapps is compared with.
//!
//! fastwebsockets' own `examples/echo_server.rs` on one current-thread runtime: a hyper 1
//! HTTP/1.1 connection with upgrades, [`upgrade::upgrade`] answering the handshake, then a
//! [`FragmentCollector`] (whole messages, as tungstenite and lapps deliver them) that writes
//! every text and binary frame back, with automatic pongs and close replies. See
//! [`lapps_bench_peers`] for what every peer does. Run with:
//! `cargo run --release -p lapps-bench-peers --bin peer-fastwebsockets -- 127.0.0.1:0`

use std::future;
use std::net::SocketAddr;
use std::process::ExitCode;

use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use lapps_bench_peers::{ConnError, args, fail, log_error, serve};
use tokio::net::TcpStream;

fn main() -> ExitCode {
    let args = match args(&[]) {
        Ok(args) => args,
        Err(usage) => return fail(&usage),
    };
    serve("ws", &args[0], serve_http)
}

/// One HTTP/1.1 connection, which the upgrade takes over.
async fn serve_http(stream: TcpStream) -> Result<(), ConnError> {
    let peer = stream.peer_addr().ok();
    let service = service_fn(move |request| future::ready(upgrade_to_echo(request, peer)));
    http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await?;
    Ok(())
}

/// Answers the upgrade request and spawns the echo that runs once the 101 has gone out.
fn upgrade_to_echo(
    mut request: Request<Incoming>,
    peer: Option<SocketAddr>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgraded) = upgrade::upgrade(&mut request)?;
    tokio::spawn(async move {
        // As the upstream example: unconstrained, so tokio's cooperative budget never makes a
        // busy connection yield between a read and its write.
        if let Err(e) = tokio::task::unconstrained(echo(upgraded)).await {
            log_error(peer, &e.into());
        }
    });
    Ok(response)
}

async fn echo(upgraded: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = upgraded.await?;
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            OpCode::Continuation | OpCode::Ping | OpCode::Pong => {}
        }
    }
}

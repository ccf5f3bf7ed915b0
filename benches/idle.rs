//! Opens N idle WebSocket connections and holds them, for memory measurements.
//!
//! Run with: `cargo run --release -p lapps-bench --bin lapps-idle -- ws://127.0.0.1:5083/echo 10000`
//!
//! It prints `open N` once every connection completed its handshake, then holds them until
//! its standard input closes (or it is killed). The load generator of issue 5 grows out of
//! this.

use std::io::Read as _;

use lapps_proto::Status;
use lapps_proto::handshake::{self, ClientOptions, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Handshakes in flight at once.
const CONCURRENCY: usize = 200;

#[tokio::main(flavor = "current_thread")]
#[expect(clippy::print_stdout, reason = "the tool reports progress on stdout")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: lapps-idle URL COUNT")?;
    let count: usize = args.next().ok_or("usage: lapps-idle URL COUNT")?.parse()?;
    let uri = Uri::parse(&url)?;
    let addr = format!("{}:{}", uri.host(), uri.port());
    let mut held = Vec::with_capacity(count);
    let mut pending = tokio::task::JoinSet::new();
    let mut started = 0;
    while held.len() < count {
        while started < count && pending.len() < CONCURRENCY {
            let (addr, uri) = (addr.clone(), uri.clone());
            let key = u128::try_from(started).unwrap_or(0).to_le_bytes();
            pending.spawn(async move { connect(&addr, &uri, key).await });
            started += 1;
        }
        match pending.join_next().await {
            Some(Ok(Ok(stream))) => held.push(stream),
            Some(Ok(Err(error))) => return Err(error),
            Some(Err(error)) => return Err(error.into()),
            None => break,
        }
    }
    println!("open {}", held.len());
    // Hold the connections until stdin closes.
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    drop(held);
    Ok(())
}

async fn connect(
    addr: &str,
    uri: &Uri,
    key: [u8; 16],
) -> Result<TcpStream, Box<dyn std::error::Error + Send + Sync>> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut request = Vec::new();
    handshake::write_request(uri, &key, &ClientOptions::new(), &mut request);
    stream.write_all(&request).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err("the server closed the connection during the handshake".into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Status::Complete(_) = handshake::parse_response(&head, &key, &[])? {
            return Ok(stream);
        }
    }
}

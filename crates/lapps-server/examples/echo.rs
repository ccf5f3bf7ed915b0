//! The built-in raw echo service on a lapps server.
//!
//! Run with: `cargo run --release -p lapps-server --example echo -- 127.0.0.1:9001`
//! (port 0 picks a free port; the address is printed). Ctrl-C shuts it down gracefully.

use lapps_server::{Server, echo};

#[tokio::main(flavor = "current_thread")]
#[expect(
    clippy::print_stdout,
    reason = "the example reports its address on stdout"
)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5083".to_owned());
    let server = Server::builder()
        .service(echo::service("echo").instances(4))
        .bind(addr)
        .await?;
    println!("listening on {}", server.local_addr());
    server
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

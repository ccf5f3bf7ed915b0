//! The built-in echo service over real sockets, with tokio-tungstenite as the client.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lapps_server::{Server, echo};
use tokio_tungstenite::tungstenite::Message;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TIMEOUT: Duration = Duration::from_secs(20);

async fn echo_server() -> Result<Server, lapps_server::Error> {
    Server::builder()
        .workers(2)
        .service(echo::service("echo").instances(2))
        .bind("127.0.0.1:0")
        .await
}

#[tokio::test]
async fn echoes_text_binary_and_large_messages() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_server().await?;
        let url = format!("ws://{}/echo", server.local_addr());
        let (mut ws, response) = tokio_tungstenite::connect_async(&url).await?;
        assert_eq!(response.status(), 101);
        let messages = [
            Message::text("hello κόσμε"),
            Message::binary(vec![0u8, 1, 2, 255]),
            Message::text(""),
            Message::binary(vec![7u8; 3 << 20]),
        ];
        for message in messages {
            ws.send(message.clone()).await?;
            assert_eq!(ws.next().await.ok_or("stream ended")??, message);
        }
        ws.close(None).await?;
        let handle = server.shutdown_handle();
        handle.shutdown();
        server.await?;
        Ok(())
    })
    .await?
}

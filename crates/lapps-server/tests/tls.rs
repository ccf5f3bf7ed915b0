//! `wss://` (spec §5.14) with an rcgen CA: tokio-tungstenite clients over rustls (ring), text,
//! binary and large messages, ALPN, SNI, protocol errors and bad input on a TLS listener.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lapps_server::echo;
use support::{
    Bystander, RawClient, TIMEOUT, TestPki, TestResult, Ws, assert_echo, assert_sample, stop,
    wss_connect,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn tls_server(pki: &TestPki) -> Result<lapps_server::Server, lapps_server::Error> {
    support::echo_builder()
        .tls(Arc::clone(&pki.server))
        .service(echo::service("big").max_message_size(32 << 20))
        .bind("127.0.0.1:0")
        .await
}

/// Returns the rustls session under a tokio-tungstenite client.
fn session(ws: &Ws) -> &lapps_tls::rustls::ClientConnection {
    match ws.get_ref() {
        MaybeTlsStream::Rustls(stream) => stream.get_ref().1,
        _ => panic!("not a TLS stream"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_clients_exchange_text_binary_and_large_messages() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let pki = TestPki::new()?;
        let server = tls_server(&pki).await?;
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(32 << 20))
            .max_frame_size(Some(32 << 20));
        let url = format!("wss://{}/big", server.local_addr());
        let (mut ws, response) = tokio_tungstenite::connect_async_tls_with_config(
            url,
            Some(config),
            false,
            Some(pki.connector()),
        )
        .await?;
        assert_eq!(response.status(), 101);
        assert_echo(&mut ws, Message::text("over TLS: κόσμε")).await?;
        assert_echo(&mut ws, Message::binary(vec![0u8, 1, 2, 255])).await?;
        assert_echo(&mut ws, Message::text("")).await?;
        // Larger than a TLS record, a socket buffer and the 16 MiB default limit.
        let large: Vec<u8> = (0..20u32 << 20).map(|i| (i % 249) as u8).collect();
        ws.send(Message::binary(large.clone())).await?;
        let reply = ws.next().await.ok_or("the stream ended")??;
        assert!(reply == Message::binary(large), "the 20 MiB echo differs");
        // Many messages in flight at once.
        for i in 0..200 {
            ws.feed(Message::text(format!("burst {i}"))).await?;
        }
        ws.flush().await?;
        for i in 0..200 {
            let reply = ws.next().await.ok_or("the stream ended")??;
            assert_eq!(reply, Message::text(format!("burst {i}")));
        }
        // An empty Close is answered with 1000 (spec §5.10), then the server closes first.
        ws.close(None).await?;
        let reply = ws.next().await.ok_or("no Close came back")??;
        let normal = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        assert_eq!(reply, Message::Close(Some(normal)));
        assert!(ws.next().await.is_none());
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn wss_connections_move_to_their_instances_worker_with_their_tls_session() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let pki = TestPki::new()?;
        // Two workers, two instances: every other connection moves to worker 1 after its
        // handshake, with the rustls session and the 101 still queued in it.
        let server = support::echo_builder()
            .tls(Arc::clone(&pki.server))
            .service(echo::service("pair").instances(2))
            .bind("127.0.0.1:0")
            .await?;
        let mut clients = Vec::new();
        for _ in 0..6 {
            clients.push(wss_connect(server.local_addr(), "/pair", pki.connector()).await?);
        }
        for (i, ws) in clients.iter_mut().enumerate() {
            assert_echo(ws, Message::text(format!("moved {i}"))).await?;
            assert_echo(ws, Message::binary(vec![0x42; 100_000])).await?;
        }
        for mut ws in clients {
            ws.close(None).await?;
        }
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn alpn_is_answered_with_http_1_1_and_sni_is_accepted() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let pki = TestPki::new()?;
        let server = tls_server(&pki).await?;
        let mut offering = (*pki.client).clone();
        offering.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let connector = tokio_tungstenite::Connector::Rustls(Arc::new(offering));
        let mut ws = wss_connect(server.local_addr(), "/echo", connector).await?;
        assert_eq!(session(&ws).alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_echo(&mut ws, Message::text("alpn")).await?;
        // Without an offer there is no answer.
        let mut plain = wss_connect(server.local_addr(), "/echo", pki.connector()).await?;
        assert_eq!(session(&plain).alpn_protocol(), None);
        assert_echo(&mut plain, Message::text("no alpn")).await?;
        // A host name: the client sends SNI and checks the certificate for `localhost`.
        let stream = tokio::net::TcpStream::connect(server.local_addr()).await?;
        let url = format!("wss://localhost:{}/echo", server.local_addr().port());
        let (mut named, _) = tokio_tungstenite::client_async_tls_with_config(
            url,
            stream,
            None,
            Some(pki.connector()),
        )
        .await?;
        assert_echo(&mut named, Message::text("sni")).await?;
        for mut ws in [ws, plain, named] {
            ws.close(None).await?;
        }
        stop(server).await
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_on_a_tls_listener_gets_no_http_and_is_counted() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let pki = TestPki::new()?;
        let server = tls_server(&pki).await?;
        let bystander =
            Bystander::with(wss_connect(server.local_addr(), "/echo", pki.connector()).await?)
                .await?;
        // Spec §5.14: TLS only, no plaintext fallback.
        let mut client = RawClient::connect(server.local_addr()).await?;
        client
            .write(&support::RequestHead::upgrade("/echo").to_bytes())
            .await?;
        let answer = client.read_to_end().await?;
        assert!(
            !answer.starts_with(b"HTTP/"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
        // A client that does not trust the certificate fails, and is counted too.
        let untrusting = tokio_tungstenite::Connector::Rustls(
            lapps_tls::ClientTlsConfig::new(lapps_tls::Roots::empty()).build()?,
        );
        assert!(
            wss_connect(server.local_addr(), "/echo", untrusting)
                .await
                .is_err()
        );
        support::wait_until("both failures are counted", || {
            server
                .metrics()
                .render()
                .contains("lapps_tls_handshake_failures_total 2\n")
        })
        .await?;
        assert_sample(
            &server.metrics().render(),
            r#"lapps_connections_total{service="echo"} 1"#,
        );
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn the_tls_handshake_counts_toward_the_handshake_timeout() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let pki = TestPki::new()?;
        let timeout = Duration::from_millis(300);
        let server = support::echo_builder()
            .tls(Arc::clone(&pki.server))
            .handshake_timeout(timeout)
            .bind("127.0.0.1:0")
            .await?;
        // A client that connects and says nothing: closed with nothing sent.
        let mut silent = RawClient::connect(server.local_addr()).await?;
        let started = tokio::time::Instant::now();
        assert_eq!(silent.read_to_end().await?, b"");
        assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
        assert_eq!(server.metrics().handshake_failures("timeout"), 1);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn protocol_errors_over_tls_close_with_their_codes() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let pki = TestPki::new()?;
        let server = tls_server(&pki).await?;
        // tokio-tungstenite does the TLS and WebSocket handshakes; the test then writes raw
        // bytes into the TLS stream underneath it.
        let cases: [(&[u8], u16); 3] = [
            (b"\x81\x05hello", 1002),                // unmasked
            (b"\x09\x80\x00\x00\x00\x00", 1002),     // ping without FIN
            (b"\x81\x81\x00\x00\x00\x00\xff", 1007), // invalid UTF-8
        ];
        for (bytes, code) in cases {
            let mut ws = wss_connect(server.local_addr(), "/echo", pki.connector()).await?;
            let stream = ws.get_mut();
            stream.write_all(bytes).await?;
            stream.flush().await?;
            let mut got = Vec::new();
            // Until close_notify (or the TCP end).
            let _ =
                tokio::time::timeout(support::READ_TIMEOUT, stream.read_to_end(&mut got)).await?;
            assert!(got.len() >= 4 && got[0] == 0x88, "{bytes:?}: {got:?}");
            assert_eq!(u16::from_be_bytes([got[2], got[3]]), code, "{bytes:?}");
        }
        stop(server).await
    })
    .await?
}

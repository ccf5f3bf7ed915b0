//! Configured limits at their boundaries: `max_connections` (503), `max_header_size` and the
//! 64-field cap (431), and `max_message_size` (1009, from the frame header).

mod support;

use std::time::Duration;

use lapps_proto::OpCode;
use lapps_server::{Server, echo};
use support::{MASK, RawClient, RequestHead, TIMEOUT, TestResult, echo_builder, stop, wait_until};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn connections_beyond_workers_times_max_connections_get_503() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = Server::builder()
            .workers(1)
            .max_connections(2)
            .handshake_timeout(Duration::from_secs(1))
            .service(echo::service("echo"))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let mut first = support::ws_connect(addr, "/echo").await?;
        let mut second = support::ws_connect(addr, "/echo").await?;
        let mut third = RawClient::connect(addr).await?;
        let response = third.request(&RequestHead::upgrade("/echo")).await?;
        assert_eq!(response.status_line, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(response.text(), "too many connections\n");
        third.expect_eof().await?;
        // A real client sees the 503 too.
        match tokio_tungstenite::connect_async(support::ws_url(addr, "/echo")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503);
            }
            other => panic!("expected a 503, got {other:?}"),
        }
        assert_eq!(server.metrics().handshake_failures("503"), 2);
        // The two open connections are served, and a slot that frees up is reused.
        support::assert_echo(&mut first, Message::text("first")).await?;
        support::assert_echo(&mut second, Message::text("second")).await?;
        second.close(None).await?;
        wait_until("the second connection is gone", || {
            server.open_connections() == 1
        })
        .await?;
        let mut fourth = support::ws_connect(addr, "/echo").await?;
        support::assert_echo(&mut fourth, Message::text("fourth")).await?;
        assert_eq!(server.metrics().connections_open("echo"), 2);
        drop((first, fourth));
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn the_connection_limit_counts_every_service() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = Server::builder()
            .workers(2)
            .max_connections(1)
            .handshake_timeout(Duration::from_secs(1))
            .service(echo::service("a"))
            .service(echo::service("b"))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let a = RawClient::open(addr, "/a").await?;
        let b = RawClient::open(addr, "/b").await?;
        for target in ["/a", "/b"] {
            let mut client = RawClient::connect(addr).await?;
            assert_eq!(
                client.request(&RequestHead::upgrade(target)).await?.status,
                503
            );
        }
        // Rejected handshakes never held a slot: closing one connection frees exactly one.
        drop(a);
        wait_until("the first connection is gone", || {
            server.open_connections() == 1
        })
        .await?;
        let again = RawClient::open(addr, "/b").await?;
        let mut client = RawClient::connect(addr).await?;
        assert_eq!(
            client.request(&RequestHead::upgrade("/a")).await?.status,
            503
        );
        drop((b, again));
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn a_head_of_exactly_max_header_size_is_accepted_and_one_more_byte_gets_431() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        const LIMIT: usize = 1024;
        let server = echo_builder()
            .max_header_size(LIMIT)
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let base = RequestHead::upgrade("/echo").to_bytes().len();
        // "X-Pad: " plus the value plus CRLF brings the head to `LIMIT` exactly.
        let pad = |extra: usize| {
            RequestHead::upgrade("/echo").set("X-Pad", &"p".repeat(LIMIT - base - 9 + extra))
        };
        assert_eq!(pad(0).to_bytes().len(), LIMIT);
        RawClient::open_with(addr, &pad(0)).await?;
        let mut client = RawClient::connect(addr).await?;
        let response = client.request(&pad(1)).await?;
        assert_eq!(
            response.status_line,
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        // The tolerated leading empty line counts toward the limit.
        let mut client = RawClient::connect(addr).await?;
        client
            .write(&[b"\r\n".as_slice(), &pad(0).to_bytes()].concat())
            .await?;
        assert_eq!(client.read_response().await?.status, 431);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn sixty_four_header_fields_are_accepted_and_sixty_five_get_431() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        let with_fields = |total: usize| {
            let mut head = RequestHead::upgrade("/echo");
            for i in head.fields.len()..total {
                head = head.add(&format!("X-Field-{i}"), "v");
            }
            assert_eq!(head.fields.len(), total);
            head
        };
        RawClient::open_with(addr, &with_fields(64)).await?;
        let mut client = RawClient::connect(addr).await?;
        let response = client.request(&with_fields(65)).await?;
        assert_eq!(
            response.status_line,
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn max_message_size_is_enforced_from_the_frame_header() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .service(echo::service("small").max_message_size(1000))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        // Exactly the limit: echoed.
        let mut client = RawClient::open(addr, "/small").await?;
        client.send_frame(true, OpCode::Binary, &[7; 1000]).await?;
        assert_eq!(client.read_frame().await?.payload.len(), 1000);
        // One byte more: only the header is sent, and the 1009 comes without the payload.
        client.write(&[0x82, 0x80 | 0x7e, 0x03, 0xe9]).await?;
        client.write(&MASK).await?;
        let (before, close) = client.read_until_close().await?;
        assert_eq!((before.len(), close.map(|c| c.0)), (0, Some(1009)));
        client.expect_eof().await?;
        // Fragments count together: 600 + 401 bytes is over, 600 + 400 is not.
        let mut client = RawClient::open(addr, "/small").await?;
        client.send_frame(false, OpCode::Binary, &[1; 600]).await?;
        client
            .send_frame(true, OpCode::Continuation, &[2; 400])
            .await?;
        assert_eq!(client.read_frame().await?.payload.len(), 1000);
        client.send_frame(false, OpCode::Text, &[b'a'; 600]).await?;
        client
            .send_frame(true, OpCode::Continuation, &[b'b'; 401])
            .await?;
        let (before, close) = client.read_until_close().await?;
        assert_eq!((before.len(), close.map(|c| c.0)), (0, Some(1009)));
        client.expect_eof().await?;
        // Control frames are limited to 125 bytes on their own, whatever the message limit.
        let mut client = RawClient::open(addr, "/small").await?;
        client.send_frame(true, OpCode::Ping, &[0; 125]).await?;
        assert_eq!(client.read_frame().await?.opcode, OpCode::Pong);
        drop(client);
        stop(server).await
    })
    .await?
}

//! The connection timers of spec §5.1, §5.9 and §5.10, with short settings: the handshake
//! timeout, the idle timeout, keepalive pings and the closing timeout.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use lapps_proto::OpCode;
use support::{RawClient, RequestHead, TIMEOUT, TestResult, assert_sample, echo_builder, stop};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const IDLE: Duration = Duration::from_millis(300);
const PING: Duration = Duration::from_millis(100);

/// Asserts that `elapsed` is at least `at` and not much later.
fn assert_around(what: &str, elapsed: Duration, at: Duration) {
    assert!(elapsed >= at, "{what} after {elapsed:?}, before {at:?}");
    assert!(
        elapsed < at + Duration::from_millis(700),
        "{what} only after {elapsed:?}, expected {at:?}"
    );
}

#[tokio::test]
async fn a_silent_connection_is_closed_with_1001_idle_timeout() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .idle_timeout(IDLE)
            .ping_interval(Duration::ZERO)
            .bind("127.0.0.1:0")
            .await?;
        // Taken before the handshake: the server's idle timer starts at its 101, which the
        // client sees a little later, so timing from after `open` could read under IDLE.
        let opened = Instant::now();
        let mut client = RawClient::open(server.local_addr(), "/echo").await?;
        client.expect_close(1001, "idle timeout").await?;
        assert_around("the idle close", opened.elapsed(), IDLE);
        client.send_close(1001, "").await?;
        client.expect_eof().await?;
        assert_sample(
            &server.metrics().render(),
            r#"lapps_closes_total{service="echo",initiator="server",code="1001"} 1"#,
        );
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn any_received_bytes_reset_the_idle_timer() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .idle_timeout(IDLE)
            .ping_interval(Duration::ZERO)
            .bind("127.0.0.1:0")
            .await?;
        let mut client = RawClient::open(server.local_addr(), "/echo").await?;
        // Unsolicited pongs, then one frame a byte at a time: 100 ms apart, for 3 idle periods.
        for _ in 0..3 {
            client.send_frame(true, OpCode::Pong, b"still here").await?;
            tokio::time::sleep(PING).await;
        }
        let mut last_byte = Instant::now();
        for byte in support::masked_frame(true, OpCode::Text, b"slow") {
            tokio::time::sleep(PING).await;
            client.write(&[byte]).await?;
            last_byte = Instant::now();
        }
        let echo = client.read_frame().await?;
        assert_eq!(
            (echo.opcode, &echo.payload[..]),
            (OpCode::Text, &b"slow"[..])
        );
        // Now silent: closed one idle period after the last byte.
        client.expect_close(1001, "idle timeout").await?;
        assert_around("the idle close", last_byte.elapsed(), IDLE);
        drop(client);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn keepalive_pings_have_an_empty_payload_and_repeat_while_silent() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .ping_interval(PING)
            .idle_timeout(Duration::ZERO)
            .bind("127.0.0.1:0")
            .await?;
        let mut client = RawClient::open(server.local_addr(), "/echo").await?;
        let opened = Instant::now();
        for n in 1..=3u32 {
            let ping = client.read_frame().await?;
            assert_eq!(
                (ping.fin, ping.opcode, &ping.payload[..]),
                (true, OpCode::Ping, &b""[..])
            );
            assert_around(&format!("ping {n}"), opened.elapsed(), PING * n);
        }
        // Traffic postpones the next ping: it comes one interval after the last bytes.
        tokio::time::sleep(PING / 2).await;
        client.send_frame(true, OpCode::Pong, b"").await?;
        let answered = Instant::now();
        let ping = client.read_frame().await?;
        assert_eq!((ping.opcode, &ping.payload[..]), (OpCode::Ping, &b""[..]));
        assert_around("the ping after traffic", answered.elapsed(), PING);
        drop(client);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn a_client_that_answers_pings_outlives_the_idle_timeout() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .ping_interval(PING)
            .idle_timeout(IDLE)
            .bind("127.0.0.1:0")
            .await?;
        let mut ws = support::ws_connect(server.local_addr(), "/echo").await?;
        // tungstenite answers each ping with a pong while it reads.
        let deadline = Instant::now() + IDLE * 4;
        let mut pings = 0;
        while let Ok(message) = tokio::time::timeout_at(deadline, ws.next()).await {
            match message.ok_or("the server closed the connection")?? {
                Message::Ping(payload) => {
                    assert!(payload.is_empty());
                    pings += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(pings >= 8, "{pings} pings in {:?}", IDLE * 4);
        support::assert_echo(&mut ws, Message::text("still open")).await?;
        ws.close(None).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn a_peer_that_never_answers_our_close_is_dropped_after_the_closing_timeout() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let closing = Duration::from_millis(400);
        let server = echo_builder()
            .idle_timeout(Duration::from_millis(100))
            .ping_interval(Duration::ZERO)
            .handshake_timeout(closing)
            .bind("127.0.0.1:0")
            .await?;
        let mut client = RawClient::open(server.local_addr(), "/echo").await?;
        client.expect_close(1001, "idle timeout").await?;
        let sent = Instant::now();
        // Data frames sent after the server's Close are discarded, and do not keep it open.
        client.send_frame(true, OpCode::Text, b"ignored").await?;
        client.expect_eof().await?;
        assert_around(
            "the drop",
            sent.elapsed(),
            closing.saturating_sub(Duration::from_millis(20)),
        );
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn a_silent_socket_is_closed_at_the_handshake_timeout_without_a_response() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let timeout = Duration::from_millis(300);
        let server = echo_builder()
            .handshake_timeout(timeout)
            .bind("127.0.0.1:0")
            .await?;
        let mut silent = RawClient::connect(server.local_addr()).await?;
        let connected = Instant::now();
        // A head that completes in time is served, even after a pause.
        let mut slow = RawClient::connect(server.local_addr()).await?;
        tokio::time::sleep(timeout / 2).await;
        assert_eq!(
            slow.request(&RequestHead::upgrade("/echo")).await?.status,
            101
        );
        assert_eq!(silent.read_to_end().await?, b"");
        assert_around("the silent socket's end", connected.elapsed(), timeout);
        assert_eq!(server.metrics().handshake_failures("timeout"), 1);
        drop(slow);
        stop(server).await
    })
    .await?
}

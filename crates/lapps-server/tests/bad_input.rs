//! Bad input over raw TCP (issue 3): in every case the server answers the bad client with the
//! right status or close code, and a well-behaved tokio-tungstenite client connected before the
//! bad input is served during and after it.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use lapps_proto::frame::FrameDecoder;
use lapps_proto::{OpCode, Role};
use support::{
    Bystander, MASK, RawClient, RequestHead, TIMEOUT, TestResult, echo_builder, masked_frame, stop,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn handshake_sent_byte_by_byte_is_accepted() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let mut client = RawClient::connect(server.local_addr()).await?;
        let mut bytes = RequestHead::upgrade("/echo").to_bytes();
        // The first frame follows the head in the same trickle.
        bytes.extend(masked_frame(true, OpCode::Text, b"one byte at a time"));
        for byte in bytes {
            client.write(&[byte]).await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(client.read_response().await?.status, 101);
        let frame = client.read_frame().await?;
        assert_eq!(
            (frame.opcode, &frame.payload[..]),
            (OpCode::Text, &b"one byte at a time"[..])
        );
        bystander.finish_after(1).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn headers_over_the_limit_get_431() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        // A complete head of 9000 bytes, over the default 8 KiB.
        let head = RequestHead::upgrade("/echo").set("X-Padding", &"p".repeat(9000));
        let mut client = RawClient::connect(server.local_addr()).await?;
        let response = client.request(&head).await?;
        assert_eq!(
            response.status_line,
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        client.expect_eof().await?;
        // A head that never ends: answered once it passes the limit, not when it ends.
        let mut client = RawClient::connect(server.local_addr()).await?;
        client.write(b"GET /echo HTTP/1.1\r\nX-Endless: ").await?;
        client.write(&vec![b'e'; 8200]).await?;
        let response = client.read_response().await?;
        assert_eq!(response.status, 431);
        assert_eq!(server.metrics().handshake_failures("431"), 2);
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn wrong_websocket_version_gets_426() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let mut client = RawClient::connect(server.local_addr()).await?;
        let response = client
            .request(&RequestHead::upgrade("/echo").set("Sec-WebSocket-Version", "8"))
            .await?;
        assert_eq!(response.status_line, "HTTP/1.1 426 Upgrade Required");
        assert_eq!(response.field("Sec-WebSocket-Version"), Some("13"));
        client.expect_eof().await?;
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn non_get_request_gets_405() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let mut client = RawClient::connect(server.local_addr()).await?;
        // A POST with a body: the server answers and drains what follows, then closes.
        let head = RequestHead::upgrade("/echo")
            .method("POST")
            .set("Content-Length", "4096");
        client.write(&head.to_bytes()).await?;
        client.write(&[b'x'; 4096]).await?;
        let response = client.read_response().await?;
        assert_eq!(response.status_line, "HTTP/1.1 405 Method Not Allowed");
        assert_eq!(response.field("Allow"), Some("GET"));
        client.expect_eof().await?;
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn bytes_that_are_not_http_get_400() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let garbage: [&[u8]; 5] = [
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"\x00\x01\x02\x03\xff\xfe\xfd\r\n\r\n",
            b"GET /echo\r\n\r\n",
            b"GET /echo HTTP/1.1\r\nno colon here\r\n\r\n",
            b"\xc3\x28 \xa0\xa1 HTTP/1.1\r\n",
        ];
        for bytes in garbage {
            let mut client = RawClient::connect(server.local_addr()).await?;
            client.write(bytes).await?;
            let response = client.read_response().await?;
            assert_eq!(
                response.status_line, "HTTP/1.1 400 Bad Request",
                "{bytes:?}"
            );
            client.expect_eof().await?;
        }
        assert_eq!(server.metrics().handshake_failures("400"), 5);
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn slowloris_is_cut_off_at_the_handshake_timeout_without_a_response() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let timeout = Duration::from_millis(400);
        let server = echo_builder()
            .handshake_timeout(timeout)
            .bind("127.0.0.1:0")
            .await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let mut stream = TcpStream::connect(server.local_addr()).await?;
        stream.set_nodelay(true)?;
        let started = tokio::time::Instant::now();
        let head = RequestHead::upgrade("/echo").to_bytes();
        let mut received = Vec::new();
        let mut sent = 0;
        // One byte every 20 ms: the whole head would take about 3 s.
        let ended = loop {
            if stream.write_all(&head[sent..=sent]).await.is_err() {
                break started.elapsed();
            }
            sent += 1;
            let mut buf = [0u8; 256];
            match tokio::time::timeout(Duration::from_millis(20), stream.read(&mut buf)).await {
                Err(_) => {}
                Ok(Ok(0) | Err(_)) => break started.elapsed(),
                Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            }
            assert!(sent < head.len(), "the whole head went through");
        };
        assert_eq!(received, b"", "the server must close without a response");
        assert!(
            ended >= timeout,
            "closed after {ended:?}, before the timeout"
        );
        assert!(ended < timeout * 3, "closed only after {ended:?}");
        assert_eq!(server.metrics().handshake_failures("timeout"), 1);
        // The bystander echoed all along: about one round every 5 ms.
        bystander.finish_after(10).await?;
        stop(server).await
    })
    .await?
}

/// Opens a raw connection, writes `bytes` after the 101, and checks that the server answers
/// with a Close carrying `code` and then closes the TCP connection first.
async fn expect_violation(
    addr: std::net::SocketAddr,
    what: &str,
    bytes: &[u8],
    code: u16,
) -> TestResult {
    let mut client = RawClient::open(addr, "/echo").await?;
    client.write(bytes).await?;
    let (before, close) = client.read_until_close().await?;
    assert!(
        before.iter().all(|f| f.opcode == OpCode::Text),
        "{what}: {before:?}"
    );
    let (got, reason) = close.ok_or_else(|| format!("{what}: an empty Close"))?;
    assert_eq!(got, code, "{what}: reason {reason:?}");
    client.expect_eof().await?;
    Ok(())
}

#[tokio::test]
async fn frame_claiming_a_2_pow_63_byte_length_is_closed_with_1002() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let mut frame = vec![0x82, 0x80 | 0x7f];
        frame.extend_from_slice(&(1u64 << 63).to_be_bytes());
        frame.extend_from_slice(&MASK);
        frame.extend_from_slice(b"some payload bytes");
        expect_violation(server.local_addr(), "2^63", &frame, 1002).await?;
        // The largest legal length is refused from the header as too big, before any payload.
        let mut frame = vec![0x82, 0x80 | 0x7f];
        frame.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        frame.extend_from_slice(&MASK);
        expect_violation(server.local_addr(), "2^63 - 1", &frame, 1009).await?;
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn unmasked_client_frames_are_closed_with_1002() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let mut bytes = masked_frame(true, OpCode::Text, b"masked first");
        bytes.extend_from_slice(&[0x81, 0x05]);
        bytes.extend_from_slice(b"plain");
        expect_violation(server.local_addr(), "unmasked text", &bytes, 1002).await?;
        expect_violation(server.local_addr(), "unmasked ping", &[0x89, 0x00], 1002).await?;
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn fragmented_control_frames_are_closed_with_1002() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let addr = server.local_addr();
        for opcode in [OpCode::Ping, OpCode::Pong, OpCode::Close] {
            let mut bytes = masked_frame(false, opcode, b"part 1");
            bytes.extend(masked_frame(true, OpCode::Continuation, b"part 2"));
            expect_violation(addr, &format!("fragmented {opcode:?}"), &bytes, 1002).await?;
        }
        // And a control frame over 125 bytes.
        expect_violation(
            addr,
            "126-byte ping",
            &masked_frame(true, OpCode::Ping, &[b'p'; 126]),
            1002,
        )
        .await?;
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn other_protocol_violations_close_with_their_codes() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let addr = server.local_addr();
        let mut rsv1 = masked_frame(true, OpCode::Text, b"deflated?");
        rsv1[0] |= 0x40;
        let text_during_fragments = [
            masked_frame(false, OpCode::Text, b"a"),
            masked_frame(true, OpCode::Text, b"b"),
        ]
        .concat();
        let invalid_utf8_across_fragments = [
            masked_frame(false, OpCode::Text, b"ok \xe2\x82"),
            masked_frame(true, OpCode::Continuation, b"\x28"),
        ]
        .concat();
        let cases: [(&str, Vec<u8>, u16); 9] = [
            ("RSV1 set", rsv1, 1002),
            (
                "reserved opcode 3",
                masked_frame(true, OpCode::Reserved(3), b""),
                1002,
            ),
            (
                "reserved opcode 11",
                masked_frame(true, OpCode::Reserved(11), b""),
                1002,
            ),
            (
                "continuation with no message",
                masked_frame(true, OpCode::Continuation, b"x"),
                1002,
            ),
            (
                "text while a message is in progress",
                text_during_fragments,
                1002,
            ),
            (
                "invalid UTF-8",
                masked_frame(true, OpCode::Text, b"\xff"),
                1007,
            ),
            (
                "invalid UTF-8 across fragments",
                invalid_utf8_across_fragments,
                1007,
            ),
            (
                "Close with a 1-byte payload",
                masked_frame(true, OpCode::Close, b"\x03"),
                1002,
            ),
            (
                "Close with code 1005",
                masked_frame(true, OpCode::Close, &1005u16.to_be_bytes()),
                1002,
            ),
        ];
        for (what, bytes, code) in &cases {
            expect_violation(addr, what, bytes, *code).await?;
        }
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_flood_gets_one_pong_per_ping_in_order() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let client = RawClient::open(server.local_addr(), "/echo").await?;
        let leftover = client.buf;
        let (mut reader, mut writer) = client.stream.into_split();
        let payload = |i: usize| format!("{i:0>125}").into_bytes();
        // Ping in batches of 100 until the bystander had 20 echoes during the flood (and at
        // least 3000 pings), then send a text message; returns the number of pings. At most
        // 5000 pings go unanswered: their pongs (635 KB) stay within the 4 MiB outbound limit,
        // beyond which even the echo would be refused (pongs count toward it, spec §5.12).
        let (rounds, floor) = (bystander.rounds_handle(), bystander.rounds() + 20);
        let answered = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&answered);
        let flood = tokio::spawn(async move {
            let mut sent = 0;
            while sent < 3000 || rounds.load(Ordering::Relaxed) < floor {
                while sent - counter.load(Ordering::Relaxed) > 5000 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let mut bytes = Vec::new();
                for i in sent..sent + 100 {
                    bytes.extend(masked_frame(true, OpCode::Ping, &payload(i)));
                }
                writer.write_all(&bytes).await?;
                sent += 100;
            }
            writer
                .write_all(&masked_frame(true, OpCode::Text, b"after the flood"))
                .await?;
            Ok::<_, std::io::Error>((writer, sent))
        });
        let mut decoder = FrameDecoder::new(Role::Client, 1 << 20);
        let mut buf = BytesMut::from(&leftover[..]);
        let mut flood = Some(flood);
        let (mut pongs, mut pings, mut writer) = (0, None, None);
        // The pongs come in order; the echo, produced by the service, may overtake the last ones.
        while pings.is_none_or(|pings| pongs < pings) {
            let Some(frame) = decoder.decode(&mut buf)? else {
                buf.reserve(64 * 1024);
                assert!(
                    reader.read_buf(&mut buf).await? > 0,
                    "the server closed during the flood"
                );
                continue;
            };
            if frame.opcode == OpCode::Text {
                assert_eq!(&frame.payload[..], b"after the flood");
                // The text went last, so the flood is over: learn how many pings it sent.
                let (half, sent) = flood.take().ok_or("a second echo")?.await??;
                (writer, pings) = (Some(half), Some(sent));
                continue;
            }
            assert_eq!(
                frame.opcode,
                OpCode::Pong,
                "after {pongs} pongs: {:?}",
                support::close_payload(&frame.payload)
            );
            assert_eq!(frame.payload, payload(pongs), "pong {pongs}");
            pongs += 1;
            answered.store(pongs, Ordering::Relaxed);
        }
        drop(writer);
        bystander.finish_after(20).await?;
        stop(server).await
    })
    .await?
}

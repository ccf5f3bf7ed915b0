//! Frames on an open connection, over a raw client: the peer-initiated close handshake of spec
//! §5.10, control frames between fragments (§5.6), `auto_fragment` (§5.11), closes a service
//! asks for or causes (§3.4), and text on a LAppS-protocol service (§4.1).

mod support;

use async_trait::async_trait;
use lapps_proto::OpCode;
use lapps_server::echo;
use lapps_server::service::{
    ConnectionId, DataKind, Disposition, Inbound, Protocol, ReactiveService, SendError,
};
use lapps_server::{InstanceContext, ServiceConfig};
use support::{RawClient, TIMEOUT, TestResult, assert_sample, echo_builder, masked_frame, stop};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn peer_closes_are_answered_as_spec_5_10_says() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        let code = |c: u16| c.to_be_bytes().to_vec();
        let mut cases: Vec<(Vec<u8>, u16)> = vec![(Vec::new(), 1000)];
        for echoed in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ]
        .into_iter()
        .chain([3000, 3999, 4000, 4999])
        {
            cases.push(([code(echoed), b"a reason".to_vec()].concat(), echoed));
        }
        for invalid in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535] {
            cases.push((code(invalid), 1002));
        }
        cases.push(([code(1000), b"\xff\xfe".to_vec()].concat(), 1007));
        for (payload, want) in cases {
            let mut client = RawClient::open(addr, "/echo").await?;
            client.send_frame(true, OpCode::Close, &payload).await?;
            let frame = client.read_frame().await?;
            assert_eq!(frame.opcode, OpCode::Close, "{payload:?}");
            let (got, reason) = support::close_payload(&frame.payload).ok_or("an empty Close")?;
            assert_eq!(got, want, "{payload:?}");
            if want != 1002 && want != 1007 {
                // Echoes carry no reason.
                assert_eq!(reason, "", "{payload:?}");
            }
            // The server closes the TCP connection first.
            client.expect_eof().await?;
        }
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn a_close_followed_by_a_half_close_still_gets_its_reply() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let mut client = RawClient::open(server.local_addr(), "/echo").await?;
        let mut bytes = masked_frame(true, OpCode::Close, &4321u16.to_be_bytes());
        // Data after the Close is discarded.
        bytes.extend(masked_frame(true, OpCode::Text, b"too late"));
        client.write(&bytes).await?;
        // The client is done sending, but still reads: it must get the Close reply.
        client.stream.shutdown().await?;
        client.expect_close(4321, "").await?;
        client.expect_eof().await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn control_frames_between_fragments_are_answered_and_the_message_continues() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let mut client = RawClient::open(server.local_addr(), "/echo").await?;
        client
            .send_frame(false, OpCode::Text, b"fragmented ")
            .await?;
        client.send_frame(true, OpCode::Ping, b"between").await?;
        // The pong comes before the message is complete.
        let pong = client.read_frame().await?;
        assert_eq!(
            (pong.opcode, &pong.payload[..]),
            (OpCode::Pong, &b"between"[..])
        );
        client
            .send_frame(false, OpCode::Continuation, b"message ")
            .await?;
        client
            .send_frame(true, OpCode::Pong, b"unsolicited")
            .await?;
        // A code point split across fragments is valid.
        client
            .send_frame(false, OpCode::Continuation, b"\xce")
            .await?;
        client
            .send_frame(true, OpCode::Continuation, b"\xba")
            .await?;
        let echo = client.read_frame().await?;
        assert_eq!(
            (echo.fin, echo.opcode, &echo.payload[..]),
            (true, OpCode::Text, "fragmented message κ".as_bytes())
        );
        drop(client);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn auto_fragment_splits_messages_as_lapps_does() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .auto_fragment(true)
            .bind("127.0.0.1:0")
            .await?;
        let mut client = RawClient::open(server.local_addr(), "/echo").await?;
        let cases: [(usize, &[usize]); 5] = [
            (0, &[0]),
            (2783, &[2783]),
            (2784, &[1392, 1392]),
            (3000, &[1392, 1608]),
            (5600, &[1392, 1392, 1392, 1424]),
        ];
        for (len, sizes) in cases {
            for opcode in [OpCode::Binary, OpCode::Text] {
                let payload: Vec<u8> = b"abcdefghijklmnopqrstuvwxyz"
                    .iter()
                    .copied()
                    .cycle()
                    .take(len)
                    .collect();
                client.send_frame(true, opcode, &payload).await?;
                let mut got = Vec::new();
                let mut frames = Vec::new();
                for (i, size) in sizes.iter().enumerate() {
                    let frame = client.read_frame().await?;
                    let want_opcode = if i == 0 { opcode } else { OpCode::Continuation };
                    assert_eq!(
                        (frame.fin, frame.opcode, frame.payload.len()),
                        (i + 1 == sizes.len(), want_opcode, *size),
                        "{len} bytes, frame {i}"
                    );
                    frames.push(frame.payload.len());
                    got.extend_from_slice(&frame.payload);
                }
                assert_eq!(got, payload, "{len} bytes: {frames:?}");
            }
        }
        drop(client);
        stop(server).await
    })
    .await?
}

/// Answers "close" with a message then `ctx.close(4000, "bye")`, "fail" with
/// `Disposition::Close`, and "panic" with a panic.
struct Closer;

#[async_trait(?Send)]
impl ReactiveService for Closer {
    async fn on_message(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        message: Inbound,
    ) -> Disposition {
        match &message.data[..] {
            b"close" => {
                assert_eq!(ctx.send(conn, DataKind::Text, b"before the close"), Ok(()));
                assert_eq!(ctx.close(conn, 4000, "bye"), Ok(()));
                // The handler is stale at once.
                assert_eq!(
                    ctx.send(conn, DataKind::Text, b"after"),
                    Err(SendError::Closed)
                );
                assert_eq!(ctx.close(conn, 4000, "again"), Err(SendError::Closed));
                Disposition::Keep
            }
            b"bad code" => {
                assert_eq!(ctx.close(conn, 1005, ""), Err(SendError::InvalidCloseCode));
                let long = "r".repeat(124);
                assert_eq!(
                    ctx.close(conn, 4000, &long),
                    Err(SendError::CloseReasonTooLong)
                );
                assert_eq!(ctx.send(conn, DataKind::Text, b"still open"), Ok(()));
                Disposition::Keep
            }
            b"fail" => Disposition::Close,
            b"panic" => panic!("the service panicked on purpose"),
            _ => Disposition::Keep,
        }
    }
}

#[tokio::test]
async fn closes_a_service_asks_for_or_causes() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let closer = ServiceConfig::new("closer", |_| {
            Ok(Box::new(Closer) as Box<dyn ReactiveService>)
        });
        let server = echo_builder().service(closer).bind("127.0.0.1:0").await?;
        let addr = server.local_addr();

        let mut client = RawClient::open(addr, "/closer").await?;
        client.send_frame(true, OpCode::Text, b"bad code").await?;
        assert_eq!(&client.read_frame().await?.payload[..], b"still open");
        client.send_frame(true, OpCode::Text, b"close").await?;
        // Queued data goes first, then the Close the service asked for.
        assert_eq!(&client.read_frame().await?.payload[..], b"before the close");
        client.expect_close(4000, "bye").await?;
        client.send_close(4000, "").await?;
        client.expect_eof().await?;

        for (input, what) in [("fail", "returned Close"), ("panic", "panicked")] {
            let mut client = RawClient::open(addr, "/closer").await?;
            client
                .send_frame(true, OpCode::Text, input.as_bytes())
                .await?;
            // Spec §3.4: 1011 "internal error", as for a Lua error or `false`.
            client
                .expect_close(1011, "internal error")
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            client.send_close(1011, "").await?;
            client.expect_eof().await?;
        }
        // The instance survived its panic.
        let mut client = RawClient::open(addr, "/closer").await?;
        client.send_frame(true, OpCode::Text, b"bad code").await?;
        assert_eq!(&client.read_frame().await?.payload[..], b"still open");

        let text = server.metrics().render();
        assert_sample(
            &text,
            r#"lapps_lua_errors_total{service="closer",callback="onMessage"} 1"#,
        );
        assert_sample(
            &text,
            r#"lapps_closes_total{service="closer",initiator="server",code="1011"} 2"#,
        );
        assert_sample(
            &text,
            r#"lapps_closes_total{service="closer",initiator="server",code="4000"} 1"#,
        );
        drop(client);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn text_on_a_lapps_protocol_service_is_closed_with_1003() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .service(echo::service("lapps").protocol(Protocol::LAppS))
            .bind("127.0.0.1:0")
            .await?;
        let mut client = RawClient::open(server.local_addr(), "/lapps").await?;
        // A binary message is checked as LAppS (spec §4.5): an empty map is answered with
        // −32600 and the connection stays open (tests/lapps_protocol.rs has every case).
        client.send_frame(true, OpCode::Binary, b"\xa0").await?;
        let expected = match lapps_proto::lapps::validate::inbound(b"\xa0") {
            Err(error) => lapps_proto::lapps::cbor::to_vec(&error.response()),
            Ok(_) => return Err("an empty map must be refused".into()),
        };
        assert_eq!(client.read_frame().await?.payload[..], expected[..]);
        client.send_frame(true, OpCode::Text, b"{}").await?;
        let (before, close) = client.read_until_close().await?;
        assert_eq!((before.len(), close.map(|c| c.0)), (0, Some(1003)));
        client.send_close(1003, "").await?;
        client.expect_eof().await?;
        stop(server).await
    })
    .await?
}

//! Successful upgrades (spec §5.2 and §5.4): the exact 101, subprotocol negotiation with
//! `proto_alias`, `extra_header`s, the head's tolerated forms, and frames pipelined right
//! after the request head.

mod support;

use futures_util::{SinkExt, StreamExt};
use lapps_proto::OpCode;
use lapps_proto::handshake::PRODUCT;
use lapps_server::echo;
use lapps_server::service::Protocol;
use support::{
    ACCEPT, RawClient, RequestHead, TIMEOUT, TestResult, echo_builder, masked_frame, stop,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[tokio::test]
async fn the_101_has_exactly_the_fields_of_spec_5_4() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let mut client = RawClient::connect(server.local_addr()).await?;
        // An extension offer is ignored: no Sec-WebSocket-Extensions is ever sent.
        let head =
            RequestHead::upgrade("/echo").set("Sec-WebSocket-Extensions", "permessage-deflate");
        client.write(&head.to_bytes()).await?;
        let want = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\nServer: {PRODUCT}\r\n\r\n"
        );
        let got = client.read_bytes(want.len()).await?;
        assert_eq!(String::from_utf8_lossy(&got), want);
        client
            .send_frame(true, OpCode::Text, b"after the 101")
            .await?;
        let frame = client.read_frame().await?;
        assert_eq!(
            (frame.opcode, &frame.payload[..]),
            (OpCode::Text, &b"after the 101"[..])
        );
        assert_eq!(server.metrics().connections_open("echo"), 1);
        drop(client);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn subprotocol_is_the_first_accepted_name_the_client_offered() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .service(echo::service("chat").proto_alias("chat.v2"))
            .service(echo::service("lapps").protocol(Protocol::LAppS))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let cases: [(&str, &[&str], Option<&str>); 11] = [
            // The alias is preferred over the protocol name, whatever the client's order.
            ("/chat", &["chat.v2"], Some("chat.v2")),
            ("/chat", &["raw"], Some("raw")),
            ("/chat", &["raw, chat.v2"], Some("chat.v2")),
            ("/chat", &["x", "raw"], Some("raw")),
            // Exact and case-sensitive; no match means no field, and the upgrade succeeds.
            ("/chat", &["Chat.v2, RAW"], None),
            ("/chat", &["chat"], None),
            ("/chat", &[], None),
            ("/echo", &["chat.v2"], None),
            ("/echo", &["raw"], Some("raw")),
            ("/lapps", &["raw, LAppS"], Some("LAppS")),
            ("/lapps", &["lapps"], None),
        ];
        for (target, offered, chosen) in cases {
            let mut head = RequestHead::upgrade(target);
            for value in offered {
                head = head.add("Sec-WebSocket-Protocol", value);
            }
            let mut client = RawClient::connect(addr).await?;
            let response = client.request(&head).await?;
            assert_eq!(response.status, 101, "{target} {offered:?}");
            assert_eq!(
                response.field("Sec-WebSocket-Protocol"),
                chosen,
                "{target} {offered:?}"
            );
        }
        // A real client checks the answer against its offer too.
        let mut request = support::ws_url(addr, "/chat").into_client_request()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("v1, chat.v2"),
        );
        let (mut ws, response) = tokio_tungstenite::connect_async(request).await?;
        assert_eq!(
            response.headers().get("Sec-WebSocket-Protocol"),
            Some(&HeaderValue::from_static("chat.v2"))
        );
        support::assert_echo(&mut ws, Message::text("negotiated")).await?;
        ws.close(None).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn extra_headers_are_in_the_101_and_may_replace_server() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .service(
                echo::service("branded")
                    .extra_header("X-Powered-By", "lapps tests")
                    .extra_header("Server", "custom/1.0")
                    .extra_header("Set-Cookie", "a=b; Path=/"),
            )
            .bind("127.0.0.1:0")
            .await?;
        let mut client = RawClient::connect(server.local_addr()).await?;
        let response = client.request(&RequestHead::upgrade("/branded")).await?;
        assert_eq!(response.status, 101);
        let fields: Vec<(&str, &str)> = response
            .fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", ACCEPT),
                ("X-Powered-By", "lapps tests"),
                ("Server", "custom/1.0"),
                ("Set-Cookie", "a=b; Path=/"),
            ]
        );
        // The plain echo service on the same server keeps the default Server field.
        let mut plain = RawClient::connect(server.local_addr()).await?;
        let response = plain.request(&RequestHead::upgrade("/echo")).await?;
        assert_eq!(response.field("Server"), Some(PRODUCT));
        assert_eq!(response.field("X-Powered-By"), None);
        drop((client, plain));
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn frames_pipelined_after_the_head_are_processed() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let mut client = RawClient::connect(server.local_addr()).await?;
        // The head, a text message, a ping, a fragmented binary message and the start of a
        // frame whose rest follows the 101: all in one write, before any response.
        let mut bytes = RequestHead::upgrade("/echo").to_bytes();
        bytes.extend(masked_frame(true, OpCode::Text, b"pipelined"));
        bytes.extend(masked_frame(true, OpCode::Ping, b"are you there"));
        bytes.extend(masked_frame(false, OpCode::Binary, &[1, 2, 3]));
        bytes.extend(masked_frame(true, OpCode::Continuation, &[4, 5]));
        let last = masked_frame(true, OpCode::Text, b"split across the 101");
        bytes.extend_from_slice(&last[..5]);
        client.write(&bytes).await?;
        let response = client.read_response().await?;
        assert_eq!(response.status, 101);
        let mut data = Vec::new();
        let mut pongs = Vec::new();
        while data.len() < 2 {
            let frame = client.read_frame().await?;
            assert!(frame.fin, "{frame:?}");
            match frame.opcode {
                // Spec §5.9: the pong is not queued behind the service, so it may come first.
                OpCode::Pong => pongs.push(frame.payload.to_vec()),
                opcode => data.push((opcode, frame.payload.to_vec())),
            }
        }
        assert_eq!(
            data,
            [
                (OpCode::Text, b"pipelined".to_vec()),
                (OpCode::Binary, vec![1, 2, 3, 4, 5])
            ]
        );
        if pongs.is_empty() {
            pongs.push(client.read_frame().await?.payload.to_vec());
        }
        assert_eq!(pongs, [b"are you there".to_vec()]);
        client.write(&last[5..]).await?;
        let frame = client.read_frame().await?;
        assert_eq!(
            (frame.opcode, &frame.payload[..]),
            (OpCode::Text, &b"split across the 101"[..])
        );
        client.send_close(1000, "").await?;
        client.expect_close(1000, "").await?;
        client.expect_eof().await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn pipelined_frames_survive_the_move_to_the_instances_worker() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        // Two workers, two instances (one on each): accepted on worker 0, every other
        // connection moves to worker 1 with its pipelined bytes.
        let server = echo_builder()
            .service(echo::service("pair").instances(2))
            .bind("127.0.0.1:0")
            .await?;
        let mut clients = Vec::new();
        for i in 0..6u8 {
            let mut client = RawClient::connect(server.local_addr()).await?;
            let mut bytes = RequestHead::upgrade("/pair").to_bytes();
            bytes.extend(masked_frame(true, OpCode::Binary, &[i; 3]));
            bytes.extend(masked_frame(false, OpCode::Text, b"half "));
            client.write(&bytes).await?;
            assert_eq!(client.read_response().await?.status, 101);
            clients.push(client);
        }
        for (i, client) in clients.iter_mut().enumerate() {
            let first = client.read_frame().await?;
            assert_eq!(&first.payload[..], &[u8::try_from(i)?; 3]);
            client
                .send_frame(true, OpCode::Continuation, b"and half")
                .await?;
            let second = client.read_frame().await?;
            assert_eq!(
                (second.opcode, &second.payload[..]),
                (OpCode::Text, &b"half and half"[..])
            );
        }
        drop(clients);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn a_pipelined_close_right_after_the_head_is_answered() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let mut client = RawClient::connect(server.local_addr()).await?;
        let mut bytes = RequestHead::upgrade("/echo").to_bytes();
        let mut close = 4001u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        bytes.extend(masked_frame(true, OpCode::Close, &close));
        client.write(&bytes).await?;
        assert_eq!(client.read_response().await?.status, 101);
        // Spec §5.10: a code in 3000–4999 is echoed, without the reason.
        client.expect_close(4001, "").await?;
        client.expect_eof().await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn tolerated_head_forms_are_accepted() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        let mixed_case = RequestHead::upgrade("/echo")
            .remove("Upgrade")
            .remove("Connection")
            .remove("Sec-WebSocket-Key")
            .add("upgrade", "WebSocket")
            .add("CONNECTION", "keep-alive")
            .add("connection", "Upgrade")
            .add("sec-websocket-key", support::KEY);
        let heads = [
            (
                "header names in any case, Connection repeated",
                mixed_case.to_bytes(),
            ),
            (
                "token lists with spaces",
                RequestHead::upgrade("/echo")
                    .set("Connection", " keep-alive ,  upgrade ")
                    .to_bytes(),
            ),
            (
                "Content-Length: 0",
                RequestHead::upgrade("/echo")
                    .set("Content-Length", "0")
                    .to_bytes(),
            ),
            (
                "one leading empty line",
                [
                    b"\r\n".as_slice(),
                    &RequestHead::upgrade("/echo").to_bytes(),
                ]
                .concat(),
            ),
        ];
        for (what, bytes) in heads {
            let mut client = RawClient::connect(addr).await?;
            client.write(&bytes).await?;
            let response = client.read_response().await?;
            assert_eq!(response.status, 101, "{what}");
            client
                .send_frame(true, OpCode::Binary, what.as_bytes())
                .await?;
            assert_eq!(
                &client.read_frame().await?.payload[..],
                what.as_bytes(),
                "{what}"
            );
        }
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn tungstenite_clients_exchange_text_binary_and_large_messages() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .service(echo::service("big").max_message_size(32 << 20))
            .bind("127.0.0.1:0")
            .await?;
        let url = support::ws_url(server.local_addr(), "/big");
        let config = WebSocketConfig::default()
            .max_message_size(Some(64 << 20))
            .max_frame_size(Some(64 << 20));
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(
                tokio_tungstenite::connect_async_with_config(&url, Some(config), false)
                    .await?
                    .0,
            );
        }
        let large: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
        for (i, ws) in clients.iter_mut().enumerate() {
            support::assert_echo(ws, Message::text(format!("client {i}: κόσμε"))).await?;
            support::assert_echo(ws, Message::binary(vec![u8::try_from(i)?; 70_000])).await?;
        }
        let ws = &mut clients[0];
        ws.send(Message::binary(large.clone())).await?;
        let reply = ws.next().await.ok_or("the stream ended")??;
        assert!(reply == Message::binary(large), "the 20 MiB echo differs");
        for mut ws in clients {
            ws.close(None).await?;
            while ws.next().await.is_some() {}
        }
        stop(server).await
    })
    .await?
}

//! The HTTP answers to upgrade requests that fail a check of spec §5.3, in the order of the
//! checks, over a raw TCP client: 404, 405, 426, 431, the 400 cases and 503, each a complete
//! response of spec §5.5.

mod support;

use lapps_proto::handshake::PRODUCT;
use lapps_server::Server;
use support::{RawClient, RequestHead, TIMEOUT, TestResult, echo_builder, stop};

/// Sends `head` on a fresh connection and returns the whole response, up to the server's FIN.
async fn exchange(
    addr: std::net::SocketAddr,
    head: &RequestHead,
) -> Result<Vec<u8>, support::BoxError> {
    let mut client = RawClient::connect(addr).await?;
    client.write(&head.to_bytes()).await?;
    client.read_to_end().await
}

/// Sends `head` and returns the parsed response, checking that the server then closes.
async fn status_of(
    addr: std::net::SocketAddr,
    head: &RequestHead,
) -> Result<support::Response, support::BoxError> {
    let mut client = RawClient::connect(addr).await?;
    let response = client.request(head).await?;
    client.expect_eof().await?;
    Ok(response)
}

/// The exact bytes of a reject (spec §5.5).
fn reject_bytes(status_line: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "{status_line}\r\nServer: {PRODUCT}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{body}",
        body.len(),
        if extra.contains("Sec-WebSocket-Version") { "Upgrade, close" } else { "close" },
    )
    .into_bytes()
}

#[tokio::test]
async fn unknown_target_gets_a_complete_404_then_the_connection_closes() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let got = exchange(server.local_addr(), &RequestHead::upgrade("/nope")).await?;
        let want = reject_bytes("HTTP/1.1 404 Not Found", "", "unknown request target\n");
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(server.metrics().handshake_failures("404"), 1);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn targets_match_byte_for_byte_without_the_query() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        for target in ["/echo/", "/Echo", "/echo%2F", "/ech", "/echo/x", "/"] {
            let response = status_of(addr, &RequestHead::upgrade(target)).await?;
            assert_eq!(response.status_line, "HTTP/1.1 404 Not Found", "{target}");
        }
        for target in ["/echo", "/echo?x=1", "/echo?"] {
            RawClient::open(addr, target).await?;
        }
        assert_eq!(server.metrics().handshake_failures("404"), 6);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn non_get_methods_get_405_with_allow_get() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        let got = exchange(addr, &RequestHead::upgrade("/echo").method("POST")).await?;
        let want = reject_bytes(
            "HTTP/1.1 405 Method Not Allowed",
            "Allow: GET\r\n",
            "method is not GET\n",
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
        // Check 4 comes before the route lookup: an unknown target also gets 405.
        for (method, target) in [
            ("HEAD", "/echo"),
            ("PUT", "/nope"),
            ("get", "/echo"),
            ("OPTIONS", "/echo"),
        ] {
            let response = status_of(addr, &RequestHead::upgrade(target).method(method)).await?;
            assert_eq!(
                response.status_line, "HTTP/1.1 405 Method Not Allowed",
                "{method} {target}"
            );
            assert_eq!(response.field("Allow"), Some("GET"));
        }
        assert_eq!(server.metrics().handshake_failures("405"), 5);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn wrong_websocket_version_gets_426_naming_version_13() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        let got = exchange(
            addr,
            &RequestHead::upgrade("/echo").set("Sec-WebSocket-Version", "8"),
        )
        .await?;
        let want = reject_bytes(
            "HTTP/1.1 426 Upgrade Required",
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            "unsupported WebSocket version (expected 13)\n",
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
        for head in [
            RequestHead::upgrade("/echo").remove("Sec-WebSocket-Version"),
            RequestHead::upgrade("/echo").set("Sec-WebSocket-Version", "14"),
            RequestHead::upgrade("/echo").set("Sec-WebSocket-Version", "13, 8"),
        ] {
            let response = status_of(addr, &head).await?;
            assert_eq!(response.status, 426, "{head:?}");
            assert_eq!(response.field("Sec-WebSocket-Version"), Some("13"));
        }
        assert_eq!(server.metrics().handshake_failures("426"), 4);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn invalid_upgrade_requests_get_400() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        let up = || RequestHead::upgrade("/echo");
        let cases = [
            ("no Host", up().remove("Host")),
            ("two Host fields", up().add("Host", "example.com")),
            ("no Upgrade", up().remove("Upgrade")),
            ("Upgrade without websocket", up().set("Upgrade", "h2c")),
            ("no Connection", up().remove("Connection")),
            (
                "Connection without upgrade",
                up().set("Connection", "keep-alive"),
            ),
            ("no key", up().remove("Sec-WebSocket-Key")),
            (
                "a key of 15 bytes",
                up().set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"),
            ),
            (
                "a key that is not base64",
                up().set("Sec-WebSocket-Key", "not base64 at all!!!!!=="),
            ),
            (
                "two keys",
                up().add("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEA=="),
            ),
            ("HTTP/1.0", up().version("HTTP/1.0")),
            ("a Content-Length body", up().set("Content-Length", "5")),
            ("a chunked body", up().set("Transfer-Encoding", "chunked")),
            (
                "an absolute-form target",
                RequestHead::upgrade("http://127.0.0.1/echo"),
            ),
            ("an asterisk target", RequestHead::upgrade("*")),
            ("a version token that is not HTTP", up().version("HTTP/2.0")),
        ];
        for (what, head) in &cases {
            let response = status_of(addr, head).await?;
            assert_eq!(response.status_line, "HTTP/1.1 400 Bad Request", "{what}");
            assert_eq!(response.field("Connection"), Some("close"), "{what}");
            assert_eq!(
                response.field("Content-Type"),
                Some("text/plain; charset=utf-8"),
                "{what}"
            );
            assert!(
                response.text().ends_with('\n') && response.text().lines().count() == 1,
                "{what}"
            );
        }
        // Two empty lines before the request line: only one is tolerated (spec §5.2).
        let mut client = RawClient::connect(addr).await?;
        client.write(b"\r\n\r\n").await?;
        client
            .write(&RequestHead::upgrade("/echo").to_bytes())
            .await?;
        assert_eq!(client.read_response().await?.status, 400);
        assert_eq!(
            server.metrics().handshake_failures("400"),
            cases.len() as u64 + 1
        );
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn the_first_failing_check_decides_the_status() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        let bad_version =
            |target: &str| RequestHead::upgrade(target).set("Sec-WebSocket-Version", "7");
        // 405 (check 4) before 404 (check 6) before 400 (check 7) before 426 (check 8).
        let cases = [
            (bad_version("/nope").method("POST").remove("Host"), 405),
            (bad_version("/nope").remove("Host"), 404),
            (bad_version("/echo").remove("Sec-WebSocket-Key"), 400),
            (bad_version("/echo"), 426),
        ];
        for (head, status) in cases {
            assert_eq!(status_of(addr, &head).await?.status, status, "{head:?}");
        }
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn unavailable_services_get_503() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .service(lapps_server::echo::service("idle").instances(0))
            .service(lapps_server::echo::service("manual").auto_start(false))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        for target in ["/idle", "/manual"] {
            let got = exchange(addr, &RequestHead::upgrade(target)).await?;
            let want = reject_bytes(
                "HTTP/1.1 503 Service Unavailable",
                "",
                "service unavailable\n",
            );
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{target}"
            );
        }
        RawClient::open(addr, "/echo").await?;
        assert_eq!(server.metrics().handshake_failures("503"), 2);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn a_server_without_services_answers_404() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = Server::builder().workers(1).bind("127.0.0.1:0").await?;
        let response = status_of(server.local_addr(), &RequestHead::upgrade("/echo")).await?;
        assert_eq!(response.status, 404);
        stop(server).await
    })
    .await?
}

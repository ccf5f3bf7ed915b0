//! The network ACLs (spec §6) and `allowed_origins` (spec §2.6) on a running server: the
//! service ACL and the origin check answer 403 before any 101 (spec §5.3 checks 9 and 10), and
//! the global ACL closes the socket at accept with nothing sent.

mod support;

use lapps_server::acl::{Acl, AclPolicy};
use lapps_server::echo;
use support::{
    Bystander, RawClient, RequestHead, TIMEOUT, TestResult, assert_sample, echo_builder, stop,
};

#[tokio::test]
async fn a_peer_the_service_acl_denies_gets_403_and_never_a_101() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let deny_local = Acl::new(AclPolicy::Allow, &["127.0.0.0/8"])?;
        let server = echo_builder()
            .service(echo::service("private").acl(deny_local))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let bystander = Bystander::start(addr).await?;
        // The whole answer, up to the server's FIN: a 403 and nothing else, even though the
        // request is a valid upgrade followed by a pipelined frame.
        let mut client = RawClient::connect(addr).await?;
        let mut bytes = RequestHead::upgrade("/private").to_bytes();
        bytes.extend(support::masked_frame(
            true,
            lapps_proto::OpCode::Text,
            b"let me in",
        ));
        client.write(&bytes).await?;
        let all = client.read_to_end().await?;
        let text = String::from_utf8(all)?;
        assert!(
            text.starts_with("HTTP/1.1 403 Forbidden\r\n"),
            "expected a 403 first: {text:?}"
        );
        assert!(!text.contains("101"), "{text:?}");
        assert!(
            text.ends_with("\r\n\r\naddress not allowed\n"),
            "one response, then the end: {text:?}"
        );
        // A real client sees the 403 as the handshake's answer.
        match tokio_tungstenite::connect_async(support::ws_url(addr, "/private")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403);
            }
            other => panic!("expected a 403, got {other:?}"),
        }
        assert_eq!(server.metrics().handshake_failures("403"), 2);
        assert_eq!(server.metrics().connections_open("private"), 0);
        bystander.finish_after(0).await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn the_service_acl_admits_what_it_lists_and_runs_after_the_earlier_checks() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let only_local = Acl::new(AclPolicy::Deny, &["10.0.0.0/8", "127.0.0.1", "::1"])?;
        let only_others = Acl::new(AclPolicy::Deny, &["10.0.0.0/8", "::1"])?;
        let server = echo_builder()
            .service(echo::service("local").acl(only_local))
            .service(echo::service("remote").acl(only_others))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        RawClient::open(addr, "/local").await?;
        let status = |head: RequestHead| async move {
            let mut client = RawClient::connect(addr).await?;
            Ok::<_, support::BoxError>(client.request(&head).await?.status)
        };
        assert_eq!(status(RequestHead::upgrade("/remote")).await?, 403);
        // Checks 4 to 8 come first: the ACL decides only for a valid upgrade.
        assert_eq!(
            status(RequestHead::upgrade("/remote").method("PUT")).await?,
            405
        );
        assert_eq!(
            status(RequestHead::upgrade("/remote").remove("Sec-WebSocket-Key")).await?,
            400
        );
        assert_eq!(
            status(RequestHead::upgrade("/remote").set("Sec-WebSocket-Version", "7")).await?,
            426
        );
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn allowed_origins_admit_matching_origins_and_requests_without_one() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .service(
                echo::service("web")
                    .allowed_origin("https://example.com")
                    .allowed_origin("http://localhost:8080"),
            )
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let with_origin = |origin: &str| RequestHead::upgrade("/web").set("Origin", origin);
        for origin in [
            "https://example.com",
            "HTTPS://Example.COM",
            "https://example.com:443",
            "http://localhost:8080",
        ] {
            RawClient::open_with(addr, &with_origin(origin)).await?;
        }
        // Non-browser clients send no Origin and are allowed.
        RawClient::open(addr, "/web").await?;
        for origin in [
            "https://example.com:8443",
            "http://example.com",
            "https://evil.example",
            "http://localhost",
            "null",
        ] {
            let mut client = RawClient::connect(addr).await?;
            let response = client.request(&with_origin(origin)).await?;
            assert_eq!(response.status_line, "HTTP/1.1 403 Forbidden", "{origin}");
            assert_eq!(response.text(), "origin not allowed\n", "{origin}");
            client.expect_eof().await?;
        }
        // A service without allowed_origins takes any origin.
        RawClient::open_with(
            addr,
            &RequestHead::upgrade("/echo").set("Origin", "https://evil.example"),
        )
        .await?;
        assert_eq!(server.metrics().handshake_failures("403"), 5);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn the_global_acl_closes_rejected_sockets_with_nothing_sent() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let closed = echo_builder()
            .acl(Acl::new(AclPolicy::Allow, &["127.0.0.0/8"])?)
            .bind("127.0.0.1:0")
            .await?;
        // Closed at accept, before any byte is read or written, though the request is valid.
        for _ in 0..2 {
            let mut rejected = RawClient::connect(closed.local_addr()).await?;
            let _ = rejected
                .write(&RequestHead::upgrade("/echo").to_bytes())
                .await;
            assert_eq!(rejected.read_to_end().await?, b"");
        }
        let text = closed.metrics().render();
        assert_sample(&text, "lapps_tcp_rejected_total 2");
        assert_sample(&text, "lapps_tcp_accepted_total 0");
        assert_eq!(closed.metrics().handshake_failures("timeout"), 0);
        stop(closed).await?;
        // Listed in a deny policy: served, and /metrics too (it obeys the global ACL only).
        let open = echo_builder()
            .metrics(true)
            .acl(Acl::new(AclPolicy::Deny, &["192.168.0.0/16", "127.0.0.1"])?)
            .bind("127.0.0.1:0")
            .await?;
        RawClient::open(open.local_addr(), "/echo").await?;
        let response = support::http_get(open.local_addr(), "/metrics").await?;
        assert_sample(response.text(), "lapps_tcp_rejected_total 0");
        assert_sample(response.text(), "lapps_tcp_accepted_total 2");
        stop(open).await
    })
    .await?
}

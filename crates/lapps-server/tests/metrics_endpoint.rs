//! `GET /healthz` and `GET /metrics` with `.metrics(true)` (spec §5.15, §8.2): status codes,
//! content types, the JSON health document and exact Prometheus sample lines.

mod support;

use std::time::Duration;

use lapps_server::echo;
use serde_json::json;
use support::{
    RawClient, RequestHead, TIMEOUT, TestResult, assert_sample, echo_builder, http_get, stop,
    wait_until,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn healthz_reports_ok_with_every_service_state() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .metrics(true)
            .service(echo::service("manual").auto_start(false))
            .bind("127.0.0.1:0")
            .await?;
        let response = http_get(server.local_addr(), "/healthz").await?;
        assert_eq!(response.status_line, "HTTP/1.1 200 OK");
        assert_eq!(response.field("Content-Type"), Some("application/json"));
        assert_eq!(response.field("Connection"), Some("close"));
        // A service that does not start with the server does not make it degraded.
        let body: serde_json::Value = serde_json::from_slice(&response.body)?;
        assert_eq!(
            body,
            json!({"status": "ok", "services": {"echo": "running", "manual": "stopped"}})
        );
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn healthz_is_503_degraded_when_an_auto_start_service_is_not_running() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let failing = lapps_server::ServiceConfig::new("broken", |_| {
            Err::<Box<dyn lapps_server::service::ReactiveService>, _>("no instance today".into())
        });
        let server = echo_builder()
            .metrics(true)
            .service(failing)
            .bind("127.0.0.1:0")
            .await?;
        let response = http_get(server.local_addr(), "/healthz").await?;
        assert_eq!(response.status_line, "HTTP/1.1 503 Service Unavailable");
        let body: serde_json::Value = serde_json::from_slice(&response.body)?;
        assert_eq!(
            body,
            json!({"status": "degraded", "services": {"echo": "running", "broken": "failed"}})
        );
        // The failed service's target answers 503, the other one serves.
        let mut client = RawClient::connect(server.local_addr()).await?;
        assert_eq!(
            client
                .request(&RequestHead::upgrade("/broken"))
                .await?
                .status,
            503
        );
        RawClient::open(server.local_addr(), "/echo").await?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn metrics_has_the_exact_sample_lines() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().metrics(true).bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        let mut kept = support::ws_connect(addr, "/echo").await?;
        support::assert_echo(&mut kept, Message::text("12345")).await?;
        support::assert_echo(&mut kept, Message::binary(vec![0; 10])).await?;
        let mut closed = support::ws_connect(addr, "/echo").await?;
        closed
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "done".into(),
            }))
            .await?;
        let mut not_found = RawClient::connect(addr).await?;
        assert_eq!(
            not_found
                .request(&RequestHead::upgrade("/nope"))
                .await?
                .status,
            404
        );
        wait_until("the closed connection is counted", || {
            server.open_connections() == 1
        })
        .await?;

        let response = http_get(addr, "/metrics").await?;
        assert_eq!(response.status_line, "HTTP/1.1 200 OK");
        assert_eq!(
            response.field("Content-Type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert_eq!(response.field("Connection"), Some("close"));
        let text = response.text();
        for line in [
            concat!("lapps_info{version=\"", env!("CARGO_PKG_VERSION"), "\"} 1"),
            r#"lapps_connections_open{service="echo"} 1"#,
            r#"lapps_connections_total{service="echo"} 2"#,
            r#"lapps_handshake_failures_total{status="404"} 1"#,
            r#"lapps_handshake_failures_total{status="400"} 0"#,
            r#"lapps_messages_received_total{service="echo"} 2"#,
            r#"lapps_messages_sent_total{service="echo"} 2"#,
            r#"lapps_bytes_received_total{service="echo"} 15"#,
            r#"lapps_bytes_sent_total{service="echo"} 15"#,
            r#"lapps_backpressure_rejections_total{service="echo"} 0"#,
            r#"lapps_closes_total{service="echo",initiator="client",code="1000"} 1"#,
            // Two WebSockets, the 404 and this request.
            "lapps_tcp_accepted_total 4",
            "lapps_tcp_rejected_total 0",
            "lapps_tls_handshake_failures_total 0",
        ] {
            assert_sample(text, line);
        }
        // Every sample is `name{labels} value` or `name value`, and each family is announced.
        for sample in support::samples(text) {
            let name = sample.split(['{', ' ']).next().unwrap_or_default();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {sample:?}"
            );
        }
        // The endpoints are not counted as WebSocket handshakes.
        let again = http_get(addr, "/metrics").await?;
        assert_sample(again.text(), r#"lapps_connections_total{service="echo"} 2"#);
        assert_sample(again.text(), "lapps_tcp_accepted_total 5");
        drop(kept);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn handshake_failures_are_counted_by_status() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .metrics(true)
            .handshake_timeout(Duration::from_millis(200))
            .service(echo::service("down").instances(0))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let up = || RequestHead::upgrade("/echo");
        let requests = [
            up().remove("Host"),
            up().method("DELETE"),
            up().set("Sec-WebSocket-Version", "12"),
            RequestHead::upgrade("/down"),
            RequestHead::upgrade("/nope"),
            RequestHead::upgrade("/nope"),
            up().set("X-Big", &"b".repeat(9000)),
        ];
        for head in &requests {
            let mut client = RawClient::connect(addr).await?;
            client.request(head).await?;
        }
        let mut silent = RawClient::connect(addr).await?;
        silent.expect_eof().await?;
        let text = http_get(addr, "/metrics").await?.text().to_owned();
        for (status, n) in [
            ("400", 1),
            ("403", 0),
            ("404", 2),
            ("405", 1),
            ("426", 1),
            ("431", 1),
            ("503", 1),
            ("timeout", 1),
        ] {
            assert_sample(
                &text,
                &format!("lapps_handshake_failures_total{{status=\"{status}\"}} {n}"),
            );
        }
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn the_endpoints_are_404_unless_metrics_is_on_and_never_answer_upgrades() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let off = echo_builder().bind("127.0.0.1:0").await?;
        for target in ["/healthz", "/metrics"] {
            let response = http_get(off.local_addr(), target).await?;
            assert_eq!(response.status_line, "HTTP/1.1 404 Not Found", "{target}");
        }
        stop(off).await?;
        let on = echo_builder().metrics(true).bind("127.0.0.1:0").await?;
        let addr = on.local_addr();
        for target in ["/healthz", "/metrics"] {
            // An upgrade request for the path is routed like any other: no such service.
            let mut client = RawClient::connect(addr).await?;
            assert_eq!(
                client.request(&RequestHead::upgrade(target)).await?.status,
                404,
                "{target}"
            );
            // Only GET.
            let mut client = RawClient::connect(addr).await?;
            assert_eq!(
                client
                    .request(&RequestHead::get(target).method("POST"))
                    .await?
                    .status,
                405,
                "{target}"
            );
            // The query string is not part of the path.
            assert_eq!(
                http_get(addr, &format!("{target}?x=1")).await?.status,
                200,
                "{target}"
            );
        }
        // A service may not take the endpoints' targets while they are on.
        let taken = echo_builder()
            .metrics(true)
            .service(echo::service("m").route("/metrics"))
            .bind("127.0.0.1:0")
            .await;
        assert!(taken.is_err_and(|e| e.is_config()));
        stop(on).await
    })
    .await?
}

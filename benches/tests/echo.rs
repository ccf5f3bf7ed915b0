//! `lapps-load echo` against an in-process lapps: exact counts over raw binary, raw text and
//! the LAppS protocol, `wss://`, and wrong echoes and refused connections counted as errors.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use lapps_bench::args::Command;
use lapps_bench::echo;
use lapps_bench::report::{EchoReport, Progress};
use lapps_server::service::{ConnectionId, Disposition, Inbound, ReactiveService};
use lapps_server::{InstanceContext, ServiceConfig};
use support::{BoxError, TIMEOUT, TestPki, TestResult, default_server, parse, stop};
use tokio::time::timeout;

/// Runs `lapps-load ARGS` (an echo) and returns its report.
async fn run(args: &[&str]) -> Result<EchoReport, BoxError> {
    let Command::Echo(args) = parse(args)? else {
        return Err("not an echo command".into());
    };
    echo::run(&args, &Progress::hidden()).await
}

/// Checks a clean counted run of 1000 round trips over 10 connections.
fn assert_exact(report: &EchoReport) {
    assert_eq!(report.errors, 0, "{:?}", report.error_samples);
    assert_eq!(report.connections, 10);
    assert_eq!(report.open, 10);
    assert_eq!(report.messages, 1000);
    assert!(report.seconds > 0.0);
    assert!(report.msgs_per_sec > 0.0);
    assert!(report.connect_per_sec > 0.0);
    assert!(report.latency.p50_us <= report.latency.p99_us);
    assert!(report.latency.p99_us <= report.latency.max_us);
}

#[tokio::test]
async fn raw_binary_echo_counts_exactly() -> TestResult {
    timeout(TIMEOUT, async {
        let server = default_server().await?;
        let url = format!("ws://{}/echo", server.local_addr());
        let report = run(&[
            "echo", &url, "-n", "1000", "-c", "10", "-s", "100", "--quiet",
        ])
        .await?;
        assert_exact(&report);
        assert!(!report.text);
        assert_eq!(report.size, 100);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn raw_text_echo_counts_exactly() -> TestResult {
    timeout(TIMEOUT, async {
        let server = default_server().await?;
        let url = format!("ws://{}/echo", server.local_addr());
        let report = run(&["echo", &url, "-n", "1000", "-c", "10", "--text", "--quiet"]).await?;
        assert_exact(&report);
        assert!(report.text);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn lapps_echo_counts_exactly() -> TestResult {
    timeout(TIMEOUT, async {
        let server = default_server().await?;
        let url = format!("ws://{}/echo_lapps", server.local_addr());
        for text in [false, true] {
            let mut args = vec![
                "echo",
                &url,
                "-n",
                "1000",
                "-c",
                "10",
                "--protocol",
                "lapps",
            ];
            if text {
                args.push("--text");
            }
            let report = run(&args).await?;
            assert_exact(&report);
            assert_eq!(
                serde_json::to_value(&report)?["protocol"],
                serde_json::json!("lapps")
            );
        }
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn timed_echo_with_warmup_measures_its_duration() -> TestResult {
    timeout(TIMEOUT, async {
        let server = default_server().await?;
        let url = format!("ws://{}/echo", server.local_addr());
        let report = run(&["echo", &url, "-c", "4", "-d", "0.5", "--warmup", "0.2"]).await?;
        assert_eq!(report.errors, 0, "{:?}", report.error_samples);
        assert!(report.messages > 0);
        assert!((0.45..1.0).contains(&report.seconds), "{}", report.seconds);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn wss_echo_with_a_ca_file() -> TestResult {
    timeout(TIMEOUT, async {
        let pki = TestPki::new("echo")?;
        let server = support::with_default_services(support::builder())
            .tls(Arc::clone(&pki.server))
            .bind("127.0.0.1:0")
            .await?;
        // The URL names `localhost`: it is the SNI and the name the certificate is checked
        // against.
        let url = format!("wss://localhost:{}/echo", server.local_addr().port());
        let ca = pki.ca_file.to_string_lossy().into_owned();
        let report = run(&["echo", &url, "-n", "1000", "-c", "10", "--ca", &ca]).await?;
        assert_exact(&report);
        let url = format!("wss://localhost:{}/echo_lapps", server.local_addr().port());
        let args = [
            "echo",
            &url,
            "-n",
            "1000",
            "-c",
            "10",
            "--ca",
            &ca,
            "--protocol",
            "lapps",
        ];
        assert_exact(&run(&args).await?);
        stop(server).await
    })
    .await?
}

/// Answers every message with its first byte flipped.
struct WrongEcho;

#[async_trait(?Send)]
impl ReactiveService for WrongEcho {
    async fn on_message(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        message: Inbound,
    ) -> Disposition {
        let mut data = message.data.to_vec();
        if let Some(first) = data.first_mut() {
            *first ^= 1;
        }
        match ctx.send(conn, message.kind, &data) {
            Ok(()) => Disposition::Keep,
            Err(_) => Disposition::Close,
        }
    }
}

#[tokio::test]
async fn wrong_echo_is_an_error_and_stops_its_connection() -> TestResult {
    timeout(TIMEOUT, async {
        let service = ServiceConfig::new("wrong", |_| {
            Ok(Box::new(WrongEcho) as Box<dyn ReactiveService>)
        });
        let server = support::builder()
            .service(service)
            .bind("127.0.0.1:0")
            .await?;
        let url = format!("ws://{}/wrong", server.local_addr());
        let report = run(&["echo", &url, "-n", "100", "-c", "4"]).await?;
        assert_eq!(report.open, 4);
        assert_eq!(report.errors, 4);
        assert_eq!(report.messages, 0);
        assert!(
            report.error_samples[0].ends_with(
                "wrong echo: sent 64 bytes binary, got 64 bytes binary with different content"
            ),
            "{:?}",
            report.error_samples
        );
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn refused_connections_are_errors() -> TestResult {
    timeout(TIMEOUT, async {
        // A port nobody listens on: bound, then released.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let url = format!("ws://{addr}/echo");
        let report = run(&["echo", &url, "-n", "10", "-c", "3"]).await?;
        assert_eq!(report.open, 0);
        assert_eq!(report.errors, 3);
        assert_eq!(report.messages, 0);
        assert!(
            report.error_samples[0].starts_with(&format!("{addr} connection ")),
            "{:?}",
            report.error_samples
        );
        Ok(())
    })
    .await?
}

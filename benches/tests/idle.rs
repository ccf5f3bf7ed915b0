//! `lapps-load idle` against an in-process lapps: connections open and stay open.

mod support;

use std::cell::Cell;
use std::time::Duration;

use lapps_bench::args::Command;
use lapps_bench::idle;
use lapps_bench::report::Progress;
use support::{TIMEOUT, TestResult, default_server, parse, stop};
use tokio::time::timeout;

#[tokio::test]
async fn idle_opens_and_holds_50_connections() -> TestResult {
    timeout(TIMEOUT, async {
        let server = default_server().await?;
        let url = format!("ws://{}/echo", server.local_addr());
        let Command::Idle(args) = parse(&["idle", &url, "-c", "50", "--concurrency", "8"])? else {
            return Err("not an idle command".into());
        };
        let held = idle::open(&args, &Progress::hidden()).await?;
        let report = held.report().clone();
        assert_eq!(report.errors, 0, "{:?}", report.error_samples);
        assert_eq!(report.connections, 50);
        assert_eq!(report.open, 50);
        assert!(report.connect_per_sec > 0.0);
        assert_eq!(held.len(), 50);
        let json = serde_json::to_value(&report)?;
        assert_eq!(json["mode"], "idle");
        assert_eq!(json["open"], 50);
        // The server sees them all open while they are held.
        let open = r#"lapps_connections_open{service="echo"} 50"#;
        let seen = Cell::new(false);
        let closed = held
            .hold_until(async {
                for _ in 0..500 {
                    if server.render_metrics().lines().any(|line| line == open) {
                        seen.set(true);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
        assert!(seen.get(), "the server never had 50 connections open");
        assert_eq!(closed, 0);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn idle_with_several_source_addresses() -> TestResult {
    timeout(TIMEOUT, async {
        let server = default_server().await?;
        let url = format!("ws://{}/echo", server.local_addr());
        let Command::Idle(args) = parse(&["idle", &url, "-c", "20", "--sources", "4"])? else {
            return Err("not an idle command".into());
        };
        let held = idle::open(&args, &Progress::hidden()).await?;
        assert_eq!(held.report().open, 20, "{:?}", held.report().error_samples);
        assert_eq!(held.hold_until(async {}).await, 0);
        stop(server).await
    })
    .await?
}

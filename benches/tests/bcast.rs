//! `lapps-load bcast` against `benches/apps/bcast_bench` in an in-process lapps: every
//! subscriber gets every broadcast exactly once.

mod support;

use lapps_bench::args::Command;
use lapps_bench::bcast;
use lapps_bench::report::{BcastReport, Progress};
use support::{BoxError, TIMEOUT, TestResult, bcast_server, parse, stop};
use tokio::time::timeout;

async fn run(args: &[&str]) -> Result<BcastReport, BoxError> {
    let Command::Bcast(args) = parse(args)? else {
        return Err("not a bcast command".into());
    };
    bcast::run(&args, &Progress::hidden()).await
}

#[tokio::test]
async fn counted_broadcasts_reach_every_subscriber_once() -> TestResult {
    timeout(TIMEOUT, async {
        let server = bcast_server().await?;
        let url = format!("ws://{}/bcast_bench", server.local_addr());
        for window in ["1", "4"] {
            let args = [
                "bcast", &url, "-c", "20", "-n", "50", "-s", "100", "--window", window,
            ];
            let report = run(&args).await?;
            assert_eq!(report.errors, 0, "{:?}", report.error_samples);
            assert_eq!(report.open, 20);
            assert_eq!(report.broadcasts, 50);
            assert_eq!(report.deliveries, 50 * 20);
            assert!(report.deliveries_per_sec > 0.0);
            assert!(report.latency.p50_us <= report.latency.max_us);
            let json = serde_json::to_value(&report)?;
            assert_eq!(json["mode"], "bcast");
            assert_eq!(json["deliveries"], 1000);
        }
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn timed_broadcasts_with_warmup() -> TestResult {
    timeout(TIMEOUT, async {
        let server = bcast_server().await?;
        let url = format!("ws://{}/bcast_bench", server.local_addr());
        let args = [
            "bcast", &url, "-c", "10", "-d", "0.5", "--warmup", "0.2", "--window", "2",
        ];
        let report = run(&args).await?;
        assert_eq!(report.errors, 0, "{:?}", report.error_samples);
        assert!(report.broadcasts > 0);
        assert_eq!(report.deliveries, report.broadcasts * 10);
        assert!((0.4..2.0).contains(&report.seconds), "{}", report.seconds);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn no_subscribers_is_a_quick_failure() -> TestResult {
    timeout(TIMEOUT, async {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let url = format!("ws://{addr}/bcast_bench");
        let started = std::time::Instant::now();
        let report = run(&["bcast", &url, "-c", "3", "-n", "10"]).await?;
        assert_eq!((report.open, report.errors, report.deliveries), (0, 3, 0));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        Ok(())
    })
    .await?
}

//! A client that sends but never reads, while a service floods it (spec §5.12): the outbound
//! limit keeps the server's memory flat, sends fail with `Backpressure`, and the stalled
//! connection is closed with 1008 "outbound buffer full" after `idle_timeout`, its undelivered
//! data discarded.
//!
//! Alone in its test binary: it measures the peak resident set of the whole process.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lapps_proto::OpCode;
use lapps_server::service::{
    ConnectionId, DataKind, Disposition, Inbound, ReactiveService, SendError,
};
use lapps_server::{InstanceContext, ServiceConfig};
use support::{
    Bystander, RawClient, TIMEOUT, TestResult, assert_sample, echo_builder, proc_status_bytes, stop,
};

const CHUNK: usize = 1 << 20;
const FLOOD: usize = 64 << 20;

#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicUsize,
    refused: AtomicUsize,
    /// A send failed with `Closed`: the flood is over.
    ended: AtomicBool,
}

/// On "flood", sends 1 MiB messages until the connection closes: at least 64 MiB in all,
/// retrying every millisecond after a `Backpressure`.
struct Flood {
    chunk: Arc<Vec<u8>>,
    stats: Arc<Stats>,
}

#[async_trait(?Send)]
impl ReactiveService for Flood {
    async fn on_message(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        message: Inbound,
    ) -> Disposition {
        if &message.data[..] != b"flood" {
            return Disposition::Keep;
        }
        loop {
            match ctx.send(conn, DataKind::Binary, &self.chunk) {
                Ok(()) => {
                    self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                }
                Err(SendError::Backpressure) => {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(SendError::Closed) => break,
                Err(other) => panic!("unexpected send error {other:?}"),
            }
        }
        self.stats.ended.store(true, Ordering::Release);
        Disposition::Keep
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_bounded_by_the_outbound_limit_then_closed_1008() -> TestResult
{
    tokio::time::timeout(TIMEOUT, async {
        let stats = Arc::new(Stats::default());
        let chunk: Arc<Vec<u8>> = Arc::new((0..CHUNK).map(|i| (i % 253) as u8).collect());
        let service = {
            let (stats, chunk) = (Arc::clone(&stats), Arc::clone(&chunk));
            ServiceConfig::new("flood", move |_| {
                let flood = Flood {
                    chunk: Arc::clone(&chunk),
                    stats: Arc::clone(&stats),
                };
                Ok(Box::new(flood) as Box<dyn ReactiveService>)
            })
        };
        let idle = Duration::from_millis(500);
        let server = echo_builder()
            .metrics(true)
            .max_outbound_buffer(CHUNK)
            .idle_timeout(idle)
            .ping_interval(Duration::ZERO)
            .handshake_timeout(Duration::from_secs(5))
            .service(service)
            .bind("127.0.0.1:0")
            .await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let mut client = RawClient::open(server.local_addr(), "/flood").await?;
        let before = proc_status_bytes("VmHWM")?;

        // Ask for the flood, then keep sending (so that the idle timeout never fires) and
        // never read, until the flood ends.
        client.send_frame(true, OpCode::Text, b"flood").await?;
        let started = tokio::time::Instant::now();
        while !stats.ended.load(Ordering::Acquire) {
            client.send_frame(true, OpCode::Text, b"tick").await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the flood never ended"
            );
        }
        let accepted = stats.accepted.load(Ordering::Relaxed);
        let refused = stats.refused.load(Ordering::Relaxed);
        let peak_growth = proc_status_bytes("VmHWM")?.saturating_sub(before);
        assert!(
            (accepted + refused) * CHUNK >= FLOOD,
            "only {accepted} + {refused} MiB tried"
        );
        assert!(
            refused > 0 && accepted < 32,
            "{accepted} accepted, {refused} refused"
        );
        assert!(
            peak_growth < 16 << 20,
            "the peak resident set grew by {} KiB while {} MiB were pushed",
            peak_growth >> 10,
            accepted + refused
        );
        // The stall lasted one idle_timeout (the ticks kept the idle timer from firing).
        assert!(
            started.elapsed() >= idle,
            "closed after {:?}",
            started.elapsed()
        );

        // What the kernel buffered arrives whole, then the 1008: the rest was discarded.
        let (data, close) = client.read_until_close().await?;
        assert_eq!(close, Some((1008, "outbound buffer full".to_owned())));
        assert!(
            !data.is_empty() && data.len() <= accepted,
            "{} of {accepted}",
            data.len()
        );
        for frame in &data {
            assert!(frame.fin && frame.opcode == OpCode::Binary && frame.payload[..] == chunk[..]);
        }
        client.send_close(1008, "").await?;
        client.expect_eof().await?;

        let text = support::http_get(server.local_addr(), "/metrics")
            .await?
            .text()
            .to_owned();
        let rejections =
            format!("lapps_backpressure_rejections_total{{service=\"flood\"}} {refused}");
        assert_sample(&text, &rejections);
        assert_sample(
            &text,
            r#"lapps_closes_total{service="flood",initiator="server",code="1008"} 1"#,
        );
        bystander.finish_after(10).await?;
        stop(server).await
    })
    .await?
}

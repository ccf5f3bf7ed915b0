//! A client that sends but never reads, while a service floods it (spec §5.12): the outbound
//! limit keeps the server's memory flat, sends fail with `Backpressure`, and the stalled
//! connection is closed with 1008 "outbound buffer full" after `idle_timeout`, its undelivered
//! data discarded.
//!
//! The tests here run one at a time and alone in their binary: they measure the peak resident
//! set of the whole process.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use lapps_server::service::{
    ConnectionId, DataKind, Disposition, Inbound, ReactiveService, SendError,
};
use lapps_server::{InstanceContext, ServiceConfig};
use support::{
    BoxError, Bystander, TIMEOUT, TestPki, TestResult, assert_sample, echo_builder,
    proc_status_bytes, stop,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The limit of every test here, and the most a flood may push before it gives up.
const LIMIT: usize = 1 << 20;
const FLOOD: usize = 64 << 20;

/// The peak resident set is per process: one measurement at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicUsize,
    refused: AtomicUsize,
    /// The flood is over: a send failed with `Closed`, or 64 MiB were accepted.
    ended: AtomicBool,
}

/// On "flood", sends its chunk until the connection closes, retrying every millisecond after
/// a `Backpressure`. It gives up after 64 MiB accepted: the limit did not hold.
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
        let mut accepted = 0;
        while accepted * self.chunk.len() < FLOOD {
            match ctx.send(conn, DataKind::Binary, &self.chunk) {
                Ok(()) => {
                    accepted += 1;
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
    flood_a_deaf_client(None, LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_client_that_never_reads_is_bounded_too() -> TestResult {
    // Messages smaller than the limit: several fit at once, whatever TLS holds.
    flood_a_deaf_client(Some(TestPki::new()?), 256 << 10).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deaf_client_is_dropped_after_the_closing_timeout_and_shutdown_completes() -> TestResult {
    deaf_client(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deaf_client_that_sent_a_close_is_dropped_after_the_closing_timeout() -> TestResult {
    deaf_client(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_from_a_client_that_never_reads_is_pushed_back() -> TestResult {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TIMEOUT, async {
        let idle = Duration::from_millis(300);
        let server = echo_builder()
            .max_outbound_buffer(LIMIT)
            .idle_timeout(idle)
            .ping_interval(Duration::ZERO)
            .handshake_timeout(idle)
            .bind("127.0.0.1:0")
            .await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let client = support::RawClient::open(server.local_addr(), "/echo").await?;
        std::fs::write("/proc/self/clear_refs", "5")?;
        let before = proc_status_bytes("VmHWM")?;
        // Pongs are always queued (spec §5.12), so the server must stop reading pings that
        // it cannot answer: 64 MiB of pings, written until the writes stall.
        let ping = support::masked_frame(true, lapps_proto::OpCode::Ping, &[b'p'; 125]);
        let batch: Vec<u8> = ping
            .iter()
            .copied()
            .cycle()
            .take(ping.len() * 1000)
            .collect();
        let mut stream = client.stream;
        let mut written = 0;
        while written < FLOOD {
            let write = tokio::io::AsyncWriteExt::write_all(&mut stream, &batch);
            if tokio::time::timeout(Duration::from_millis(200), write)
                .await
                .is_err()
            {
                break;
            }
            written += batch.len();
        }
        let peak_growth = proc_status_bytes("VmHWM")?.saturating_sub(before);
        assert!(
            written < FLOOD / 2,
            "{} MiB of pings went through",
            written >> 20
        );
        assert!(
            peak_growth < 16 << 20,
            "the peak resident set grew by {} KiB",
            peak_growth >> 10
        );
        // The backlog counts as a stall: 1008 after idle_timeout, which cannot be delivered,
        // then the connection is dropped after the closing timeout.
        // (The bystander's connection stays open.)
        support::wait_until("the connection is gone", || server.open_connections() == 1).await?;
        assert_sample(
            &server.metrics().render(),
            r#"lapps_closes_total{service="echo",initiator="server",code="1008"} 1"#,
        );
        bystander.finish_after(10).await?;
        drop(stream);
        stop(server).await
    })
    .await?
}

/// A client asks for the flood, then neither reads nor sends (unless `close_first`: a Close
/// once the flood has begun). The idle, stall or peer Close cannot be answered; the closing
/// timeout must end the connection, and the shutdown must not wait for the client to read.
async fn deaf_client(close_first: bool) -> TestResult {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TIMEOUT, async {
        let stats = Arc::new(Stats::default());
        let service = flood_service(&Arc::new(vec![0x33; LIMIT]), &stats);
        let closing = Duration::from_millis(300);
        let server = echo_builder()
            .max_outbound_buffer(LIMIT)
            .idle_timeout(Duration::from_millis(200))
            .ping_interval(Duration::ZERO)
            .handshake_timeout(closing)
            .service(service)
            .bind("127.0.0.1:0")
            .await?;
        let mut deaf = support::RawClient::open(server.local_addr(), "/flood").await?;
        deaf.send_frame(true, lapps_proto::OpCode::Text, b"flood")
            .await?;
        if close_first {
            // Some 50 ms of refusals: the socket buffers are full, data waits in the server.
            support::wait_until("the flood stalls", || {
                stats.refused.load(Ordering::Relaxed) >= 50
            })
            .await?;
            deaf.send_close(1000, "").await?;
        }
        support::wait_until("the flood ends", || stats.ended.load(Ordering::Acquire)).await?;
        support::wait_until("the connection is gone", || server.open_connections() == 0).await?;
        // The shutdown must not wait for the deaf client to read what is still queued.
        let started = tokio::time::Instant::now();
        stop(server).await?;
        let took = started.elapsed();
        assert!(took < closing * 3, "the shutdown took {took:?}");
        // The socket was closed: the client reads what the kernel had, then the end.
        let rest = deaf.read_to_end().await?;
        assert!(!rest.is_empty());
        Ok(())
    })
    .await?
}

/// Floods a client that sends (so that the idle timeout never fires) and never reads, with
/// `chunk`-byte messages under a 1 MiB limit, and checks memory, refusals, the stall close and
/// what the client finally reads.
async fn flood_a_deaf_client(tls: Option<TestPki>, chunk: usize) -> TestResult {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TIMEOUT, async {
        let stats = Arc::new(Stats::default());
        let chunk: Arc<Vec<u8>> = Arc::new((0..=252u8).cycle().take(chunk).collect());
        let service = flood_service(&chunk, &stats);
        // The flood retries every millisecond for one idle_timeout before the stall close;
        // 1 s leaves room for the 64 MiB of tries even when the machine is busy (at 500 ms, a
        // loaded 2-core machine managed 58 MiB).
        let idle = Duration::from_secs(1);
        let mut builder = echo_builder()
            .max_outbound_buffer(LIMIT)
            .idle_timeout(idle)
            .ping_interval(Duration::ZERO)
            .handshake_timeout(Duration::from_secs(5))
            .service(service);
        if let Some(pki) = &tls {
            builder = builder.tls(Arc::clone(&pki.server));
        }
        let server = builder.bind("127.0.0.1:0").await?;
        let addr = server.local_addr();
        let tls = tls.as_ref();
        let connect = |path: &'static str| async move {
            match tls {
                Some(pki) => support::wss_connect(addr, path, pki.connector()).await,
                None => support::ws_connect(addr, path).await,
            }
        };
        let bystander = Bystander::with(connect("/echo").await?).await?;
        let mut client = connect("/flood").await?;
        // Spec design: lapps measures memory as the peak resident set; start from now.
        std::fs::write("/proc/self/clear_refs", "5")?;
        let before = proc_status_bytes("VmHWM")?;

        client.send(Message::text("flood")).await?;
        let started = tokio::time::Instant::now();
        while !stats.ended.load(Ordering::Acquire) {
            client.send(Message::text("tick")).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the flood never ended"
            );
        }
        let accepted = stats.accepted.load(Ordering::Relaxed);
        let refused = stats.refused.load(Ordering::Relaxed);
        let peak_growth = proc_status_bytes("VmHWM")?.saturating_sub(before);
        let pushed = (accepted + refused) * chunk.len();
        assert!(
            pushed >= FLOOD,
            "only {accepted} + {refused} messages tried"
        );
        assert!(
            accepted * chunk.len() < FLOOD / 2,
            "{accepted} accepted, {refused} refused"
        );
        assert!(refused > 0, "{accepted} accepted, {refused} refused");
        assert!(
            peak_growth < 16 << 20,
            "the peak resident set grew by {} KiB while {} MiB were pushed",
            peak_growth >> 10,
            pushed >> 20
        );
        // The stall lasted one idle_timeout (the ticks kept the idle timer from firing).
        assert!(
            started.elapsed() >= idle,
            "closed after {:?}",
            started.elapsed()
        );

        let data = read_until_stall_close(&mut client, &chunk).await?;
        assert!(data > 0 && data <= accepted, "{data} of {accepted}");

        let text = server.metrics().render();
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

/// The flood service, sending `chunk`.
fn flood_service(chunk: &Arc<Vec<u8>>, stats: &Arc<Stats>) -> ServiceConfig {
    let (stats, chunk) = (Arc::clone(stats), Arc::clone(chunk));
    ServiceConfig::new("flood", move |_| {
        let flood = Flood {
            chunk: Arc::clone(&chunk),
            stats: Arc::clone(&stats),
        };
        Ok(Box::new(flood) as Box<dyn ReactiveService>)
    })
}

/// Reads what the kernel buffered, whole messages of `chunk`, then the 1008 (the rest was
/// discarded) and the end; returns the number of messages.
async fn read_until_stall_close(client: &mut support::Ws, chunk: &[u8]) -> Result<usize, BoxError> {
    let mut data = 0;
    let close = loop {
        match client
            .next()
            .await
            .ok_or("the stream ended before the Close")??
        {
            Message::Binary(payload) => {
                assert!(payload[..] == chunk[..], "message {data} differs");
                data += 1;
            }
            other => break other,
        }
    };
    let want = CloseFrame {
        code: CloseCode::Policy,
        reason: "outbound buffer full".into(),
    };
    assert_eq!(close, Message::Close(Some(want)));
    assert!(client.next().await.is_none());
    Ok(data)
}

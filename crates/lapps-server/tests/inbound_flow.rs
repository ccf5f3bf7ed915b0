//! Inbound flow control (spec §5.13): while an instance is slow, a connection's waiting
//! messages are bounded and the server stops reading the socket, so TCP pushes back on the
//! client; the idle timer is suspended meanwhile (spec §5.9); every message is delivered, in
//! order, once the instance catches up.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use lapps_proto::OpCode;
use lapps_server::service::{ConnectionId, DataKind, Disposition, Inbound, ReactiveService};
use lapps_server::{InstanceContext, ServiceConfig};
use support::{Bystander, RawClient, TIMEOUT, TestResult, echo_builder, stop};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

/// 60 KiB: the 16-bit length form.
const SIZE: usize = 60 << 10;
/// 60 MiB in all: more than the kernel buffers on both sides can hold.
const MESSAGES: u32 = 1024;

#[derive(Debug, Default)]
struct Shared {
    gate: Notify,
    received: AtomicUsize,
    in_order: Mutex<Vec<u32>>,
    out_of_order: AtomicBool,
}

/// Holds its first message until the gate opens; checks that messages come in order; answers
/// "done" with the count.
struct Slow {
    shared: Arc<Shared>,
    next: u32,
}

#[async_trait(?Send)]
impl ReactiveService for Slow {
    async fn on_message(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        message: Inbound,
    ) -> Disposition {
        if &message.data[..] == b"done" {
            let reply = format!("got {}", self.shared.received.load(Ordering::Relaxed));
            let _ = ctx.send(conn, DataKind::Text, reply.as_bytes());
            return Disposition::Keep;
        }
        if self.next == 0 {
            self.shared.gate.notified().await;
        }
        let index = message
            .data
            .first_chunk::<4>()
            .map(|b| u32::from_be_bytes(*b));
        if index != Some(self.next) || message.data.len() != SIZE {
            self.shared.out_of_order.store(true, Ordering::Relaxed);
            let mut log = self
                .shared
                .in_order
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            log.push(index.unwrap_or(u32::MAX));
        }
        self.next += 1;
        self.shared.received.fetch_add(1, Ordering::Relaxed);
        Disposition::Keep
    }
}

/// A binary frame of `SIZE` bytes starting with `index`, masked with the zero key so that
/// the client need not mask 60 MiB (the server unmasks as for any key).
fn frame(index: u32) -> Vec<u8> {
    let mut frame = vec![0x82, 0x80 | 0x7e];
    frame.extend_from_slice(&u16::try_from(SIZE).unwrap_or(u16::MAX).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&index.to_be_bytes());
    frame.resize(frame.len() + SIZE - 4, 0x5a);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_instance_pauses_reading_and_loses_nothing() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let shared = Arc::new(Shared::default());
        let service = {
            let shared = Arc::clone(&shared);
            ServiceConfig::new("slow", move |_| {
                let slow = Slow {
                    shared: Arc::clone(&shared),
                    next: 0,
                };
                Ok(Box::new(slow) as Box<dyn ReactiveService>)
            })
        };
        let idle = Duration::from_millis(300);
        let server = echo_builder()
            .idle_timeout(idle)
            .ping_interval(Duration::ZERO)
            .service(service)
            .bind("127.0.0.1:0")
            .await?;
        let bystander = Bystander::start(server.local_addr()).await?;
        let client = RawClient::open(server.local_addr(), "/slow").await?;
        let leftover = client.buf;
        let (reader, mut writer) = client.stream.into_split();
        let written = Arc::new(AtomicUsize::new(0));
        let progress = Arc::clone(&written);
        let flood = tokio::spawn(async move {
            for index in 0..MESSAGES {
                writer.write_all(&frame(index)).await?;
                progress.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, std::io::Error>(writer)
        });

        // The instance holds message 0; the client's writes stall well before the end. The
        // stall outlasts several idle timeouts without a close.
        tokio::time::sleep(idle * 3).await;
        let stalled = written.load(Ordering::Relaxed);
        tokio::time::sleep(idle).await;
        assert_eq!(
            written.load(Ordering::Relaxed),
            stalled,
            "the writes kept going"
        );
        assert!(!flood.is_finished(), "all {MESSAGES} messages were written");
        assert_eq!(shared.received.load(Ordering::Relaxed), 0);
        let rounds = bystander.rounds();

        // Open the gate: every message arrives, in order, and the connection is still open.
        shared.gate.notify_one();
        let writer = tokio::time::timeout(Duration::from_secs(10), flood).await???;
        let mut client = RawClient::from_stream(reader.reunite(writer)?, leftover);
        client.send_frame(true, OpCode::Text, b"done").await?;
        let reply = client.read_frame().await?;
        assert!(
            reply.opcode != OpCode::Close,
            "closed with {:?} after {} messages ({stalled} written before the stall)",
            support::close_payload(&reply.payload),
            shared.received.load(Ordering::Relaxed)
        );
        assert_eq!(
            (reply.opcode, std::str::from_utf8(&reply.payload)?),
            (OpCode::Text, format!("got {MESSAGES}").as_str()),
            "{stalled} messages were written before the stall"
        );
        assert!(
            !shared.out_of_order.load(Ordering::Relaxed),
            "out of order: {:?}",
            shared
                .in_order
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        );
        // The rest of the server was served while the instance was held.
        assert!(
            rounds >= 20,
            "the bystander had {rounds} echoes during the stall"
        );
        bystander.finish_after(rounds).await?;
        drop(client);
        stop(server).await
    })
    .await?
}

//! Open connections as the services see them: the registry of handlers and each connection's
//! outbound queue.
//!
//! A service sends from its instance's thread, which need not be the connection's: the frame
//! is encoded by the sender into the connection's outbound queue (one short lock), and the
//! connection's task is woken to write it. Everything a batch of sends queued leaves in one
//! write. The queue is bounded by `max_outbound_buffer`: a send that does not fit is refused
//! with [`SendError::Backpressure`] and starts the stall timer (spec §5.12).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use futures_util::task::AtomicWaker;
use lapps_proto::frame::encode_message;
use lapps_proto::{CloseCode, OpCode};
use tokio::sync::mpsc;

use crate::bcast::Channels;
use crate::instance::{InstanceEvent, InstanceLoad};
use crate::metrics::ServiceMetrics;
use crate::service::{ConnectionId, DataKind, Inbound, SendError};

/// Handlers are unique for the life of the process (spec §3.3), across servers.
static NEXT_HANDLER: AtomicU64 = AtomicU64::new(1);

/// Returns a fresh handler.
pub(crate) fn next_handler() -> ConnectionId {
    ConnectionId(NEXT_HANDLER.fetch_add(1, Ordering::Relaxed))
}

/// While more than this many messages of one connection wait for its instance, the
/// connection is not read (spec §5.13).
pub(crate) const MAX_PENDING_MESSAGES: usize = 64;

/// The open connections of one server, by handler.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    shards: [Mutex<HashMap<u64, Arc<ConnShared>>>; SHARDS],
}

const SHARDS: usize = 16;

impl Registry {
    pub(crate) fn insert(&self, conn: Arc<ConnShared>) {
        lock(self.shard(conn.id)).insert(conn.id.0, conn);
    }

    pub(crate) fn remove(&self, id: ConnectionId) {
        lock(self.shard(id)).remove(&id.0);
    }

    pub(crate) fn get(&self, id: ConnectionId) -> Option<Arc<ConnShared>> {
        lock(self.shard(id)).get(&id.0).cloned()
    }

    /// Rings every open connection's doorbell.
    pub(crate) fn wake_all(&self) {
        for shard in &self.shards {
            for conn in lock(shard).values() {
                conn.wake.wake();
            }
        }
    }

    fn shard(&self, id: ConnectionId) -> &Mutex<HashMap<u64, Arc<ConnShared>>> {
        // The remainder is below SHARDS, so it fits any usize.
        &self.shards[usize::try_from(id.0 % SHARDS as u64).unwrap_or(0)]
    }
}

/// The part of an open connection that services and other threads share with its task.
#[derive(Debug)]
pub(crate) struct ConnShared {
    pub(crate) id: ConnectionId,
    /// The bound instance's queue, for the connection's `Disconnect`.
    instance: mpsc::UnboundedSender<InstanceEvent>,
    pub(crate) metrics: Arc<ServiceMetrics>,
    outbound: Mutex<Outbound>,
    /// Wakes the connection's task: output was queued, a close was requested, or the
    /// instance caught up with the connection's messages.
    pub(crate) wake: Wake,
    /// The handler is stale: sends fail and `on_disconnect` is queued (spec §3.4).
    closed: AtomicBool,
    /// Messages of this connection waiting in its instance's queue.
    pending: AtomicUsize,
    /// The broadcast channels, and the ones this connection joined: left when it closes.
    channels: Arc<Channels>,
    subscriptions: Mutex<Vec<u64>>,
    /// The bound instance's load: one more queued event per delivered message.
    load: Arc<InstanceLoad>,
}

/// A connection's outbound queue.
#[derive(Debug)]
pub(crate) struct Outbound {
    /// Encoded frames the connection's task has not taken yet.
    pub(crate) frames: BytesMut,
    /// Bytes the task took and has not finished writing; they count toward the limit.
    pub(crate) in_flight: usize,
    /// A close the service asked for, sent after the frames queued before it.
    pub(crate) close: Option<(CloseCode, String)>,
    /// Since when sends have been refused or broadcasts skipped (spec §5.12).
    pub(crate) stalled_since: Option<Instant>,
    limit: usize,
    fragment_size: Option<NonZeroUsize>,
}

impl ConnShared {
    pub(crate) fn new(
        id: ConnectionId,
        instance: mpsc::UnboundedSender<InstanceEvent>,
        metrics: Arc<ServiceMetrics>,
        limit: usize,
        fragment_size: Option<NonZeroUsize>,
        channels: Arc<Channels>,
        load: Arc<InstanceLoad>,
    ) -> Self {
        Self {
            id,
            instance,
            metrics,
            outbound: Mutex::new(Outbound {
                frames: BytesMut::new(),
                in_flight: 0,
                close: None,
                stalled_since: None,
                limit,
                fragment_size,
            }),
            wake: Wake::default(),
            closed: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            channels,
            subscriptions: Mutex::new(Vec::new()),
            load,
        }
    }

    /// Queues a data message (spec §5.12): accepted if the queue is empty or the message fits
    /// within the limit; otherwise refused, and the stall timer starts.
    pub(crate) fn send(&self, kind: DataKind, payload: &[u8]) -> Result<(), SendError> {
        let opcode = match kind {
            DataKind::Text => OpCode::Text,
            DataKind::Binary => OpCode::Binary,
        };
        self.queue(payload.len(), |out| {
            let fragment_size = out.fragment_size;
            encode_message(opcode, 0, payload, fragment_size, None, &mut out.frames);
        })
    }

    /// Queues frames encoded once for many connections (a broadcast), under the same rules
    /// as [`send`](Self::send); `payload_len` is the message size.
    pub(crate) fn send_encoded(&self, frames: &[u8], payload_len: usize) -> Result<(), SendError> {
        self.queue(payload_len, |out| out.frames.extend_from_slice(frames))
    }

    fn queue(&self, len: usize, encode: impl FnOnce(&mut Outbound)) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let mut out = lock(&self.outbound);
        let queued = out.frames.len() + out.in_flight;
        if queued > 0 && queued + len > out.limit {
            out.stalled_since.get_or_insert_with(Instant::now);
            drop(out);
            self.metrics
                .backpressure_rejections
                .fetch_add(1, Ordering::Relaxed);
            return Err(SendError::Backpressure);
        }
        encode(&mut out);
        drop(out);
        self.metrics.record_sent(len);
        self.wake.wake();
        Ok(())
    }

    /// Records that the connection joined broadcast channel `id`.
    pub(crate) fn subscribed(&self, id: u64) {
        let mut subscriptions = lock(&self.subscriptions);
        if !subscriptions.contains(&id) {
            subscriptions.push(id);
        }
    }

    /// Asks the connection's task to close with `code` after the frames already queued.
    /// The handler is stale at once and `on_disconnect` is queued (spec §3.8).
    pub(crate) fn request_close(&self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !self.mark_closed() {
            return Err(SendError::Closed);
        }
        lock(&self.outbound).close = Some((code, reason.to_owned()));
        self.wake.wake();
        Ok(())
    }

    /// Marks the connection closed for its service; the first call queues `Disconnect` to
    /// the instance and returns true. Every path that ends a connection goes through here, so
    /// `on_disconnect` runs exactly once.
    pub(crate) fn mark_closed(&self) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        // Spec §3.4: stale first (above), then out of every channel, then onDisconnect.
        self.channels.unsubscribe_all(self.id, &self.subscriptions);
        // The instance may be gone already (shutdown); then there is nobody to tell.
        let _ = self.instance.send(InstanceEvent::Disconnect(self.id));
        true
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Locks the outbound queue (for the connection's task).
    pub(crate) fn outbound(&self) -> MutexGuard<'_, Outbound> {
        lock(&self.outbound)
    }

    /// Queues a message for the instance; counts it as pending.
    pub(crate) fn deliver(self: &Arc<Self>, message: Inbound) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        self.load.queued.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .instance
            .send(InstanceEvent::Message(Arc::clone(self), message));
    }

    /// The instance took one of this connection's messages.
    pub(crate) fn delivered(&self) {
        self.load.queued.fetch_sub(1, Ordering::Relaxed);
        let before = self.pending.fetch_sub(1, Ordering::AcqRel);
        if before == MAX_PENDING_MESSAGES + 1 || before == 1 {
            // Back under the bound, the task may read again; at zero, a Close held back for
            // the replies to earlier messages may go.
            self.wake.wake();
        }
    }

    /// Returns the number of this connection's messages waiting for the instance.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Returns true while the connection must not be read (spec §5.13).
    pub(crate) fn reading_paused(&self) -> bool {
        self.pending.load(Ordering::Acquire) > MAX_PENDING_MESSAGES
    }
}

/// A connection task's doorbell: any thread rings it, the task polls it.
///
/// Rings between two polls coalesce into one wake-up, and a ring costs one atomic swap when
/// the task has already been woken: a batch of sends to one connection wakes its task once.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    rung: AtomicBool,
    waker: AtomicWaker,
}

impl Wake {
    /// Rings: the task's next poll returns ready.
    pub(crate) fn wake(&self) {
        if !self.rung.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }

    /// Returns ready, and clears the bell, if it rang since the last ready poll; otherwise
    /// registers the task to be woken by the next ring.
    pub(crate) fn poll(&self, cx: &Context<'_>) -> Poll<()> {
        if self.rung.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // A ring between the check and the registration found no waker to wake.
        if self.rung.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Locks `mutex`, recovering the data if a panicking thread poisoned it: every critical
/// section here leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

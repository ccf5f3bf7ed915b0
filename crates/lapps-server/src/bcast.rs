//! Broadcast channels (spec §3.9): process-wide lists of subscribed connections.
//!
//! A broadcast is encoded once, CBOR and frame alike, and the same bytes are appended to
//! every subscriber's outbound queue. A subscriber whose queue is full is skipped for that
//! message: the drop is counted and its stall timer starts (spec §5.12). Subscriptions end
//! by themselves when a connection closes (spec §3.4).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use lapps_proto::OpCode;
use lapps_proto::frame::encode_message;

use crate::registry::ConnShared;
use crate::service::{ConnectionId, SendError};

/// Every broadcast channel of one server.
#[derive(Debug, Default)]
pub(crate) struct Channels {
    by_id: Mutex<HashMap<u64, Vec<Arc<ConnShared>>>>,
    /// Messages not queued to a subscriber because its buffer was full.
    pub(crate) dropped: AtomicU64,
    /// Broadcasts sent.
    pub(crate) sent: AtomicU64,
}

impl Channels {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<Arc<ConnShared>>>> {
        self.by_id.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns the number of channels and of subscriptions over all of them, under one
    /// lock (for the metrics).
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let channels = self.lock();
        (channels.len(), channels.values().map(Vec::len).sum())
    }

    /// Creates channel `id` if it is missing.
    pub(crate) fn create(&self, id: u64) {
        self.lock().entry(id).or_default();
    }

    /// Adds `conn` to channel `id`; a second subscription is a no-op.
    pub(crate) fn subscribe(&self, id: u64, conn: &Arc<ConnShared>) -> Result<(), SendError> {
        let mut channels = self.lock();
        let subscribers = channels.get_mut(&id).ok_or(SendError::UnknownChannel(id))?;
        // Checked under the channel lock: `unsubscribe_all` (on close) takes it too, so a
        // closing connection is either refused here or removed there.
        if conn.is_closed() {
            return Err(SendError::Closed);
        }
        if !subscribers.iter().any(|s| s.id == conn.id) {
            subscribers.push(Arc::clone(conn));
            conn.subscribed(id);
        }
        Ok(())
    }

    /// Removes connection `conn` from channel `id` at once.
    pub(crate) fn unsubscribe(&self, id: u64, conn: ConnectionId) -> Result<(), SendError> {
        let mut channels = self.lock();
        let subscribers = channels.get_mut(&id).ok_or(SendError::UnknownChannel(id))?;
        subscribers.retain(|s| s.id != conn);
        Ok(())
    }

    /// Removes a closed connection from the channels it joined (`joined`, taken under the
    /// channel lock, which `subscribe` holds while it adds to it).
    pub(crate) fn unsubscribe_all(&self, conn: ConnectionId, joined: &Mutex<Vec<u64>>) {
        let mut channels = self.lock();
        let ids = std::mem::take(&mut *joined.lock().unwrap_or_else(PoisonError::into_inner));
        for id in &ids {
            if let Some(subscribers) = channels.get_mut(id) {
                subscribers.retain(|s| s.id != conn);
            }
        }
    }

    /// Queues the CBOR `payload` as one binary message to every subscriber of `id`.
    pub(crate) fn send(
        &self,
        id: u64,
        payload: &Bytes,
        fragment_size: Option<NonZeroUsize>,
    ) -> Result<(), SendError> {
        let subscribers = self
            .lock()
            .get(&id)
            .cloned()
            .ok_or(SendError::UnknownChannel(id))?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        if subscribers.is_empty() {
            return Ok(());
        }
        let mut frames = BytesMut::new();
        encode_message(OpCode::Binary, 0, payload, fragment_size, None, &mut frames);
        for conn in &subscribers {
            match conn.send_encoded(&frames, payload.len()) {
                Ok(()) | Err(SendError::Closed) => {}
                Err(_) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }
}

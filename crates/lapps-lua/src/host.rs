//! The narrow interface between Lua and the server: send to and close connections, and
//! broadcast channels.

use bytes::Bytes;

/// The two kinds of data message.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum DataKind {
    /// A text message (opcode 1): valid UTF-8.
    Text,
    /// A binary message (opcode 2).
    Binary,
}

impl DataKind {
    /// Returns the RFC 6455 opcode: 1 for text, 2 for binary.
    pub const fn opcode(self) -> u8 {
        match self {
            Self::Text => 1,
            Self::Binary => 2,
        }
    }

    /// The kind for opcode 1 or 2.
    pub const fn from_opcode(opcode: u8) -> Option<Self> {
        match opcode {
            1 => Some(Self::Text),
            2 => Some(Self::Binary),
            _ => None,
        }
    }
}

/// Why a send, close or channel operation was refused. The texts are those Lua sees
/// (spec §3.8, §3.9).
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closed, closing, or was never known.
    #[error("connection closed")]
    Closed,
    /// The connection's outbound buffer is full; nothing was queued.
    #[error("backpressure")]
    Backpressure,
    /// A text message that is not UTF-8.
    #[error("invalid UTF-8 in text message")]
    InvalidUtf8,
    /// A close code outside 1000–1003, 1007–1014 and 3000–4999.
    #[error("invalid close code")]
    InvalidCloseCode,
    /// A close reason over 123 bytes.
    #[error("close reason too long")]
    CloseReasonTooLong,
    /// A broadcast channel that was never created (LAppS's message).
    #[error("Broadcast with id {0} is not found")]
    UnknownChannel(u64),
}

/// What the server offers an instance. One value per instance, used from its thread only.
///
/// Handlers are connection IDs: positive integers, never reused, so a stale one is harmless
/// and yields [`SendError::Closed`].
pub trait Host {
    /// Queues a message on `handler`. Text has been checked as UTF-8 by the caller.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] or [`SendError::Backpressure`].
    fn send(&self, handler: u64, kind: DataKind, data: &[u8]) -> Result<(), SendError>;

    /// Starts closing `handler` with `code` and `reason` after what is already queued; the
    /// handler is stale at once.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`], [`SendError::InvalidCloseCode`] or
    /// [`SendError::CloseReasonTooLong`].
    fn close(&self, handler: u64, code: u16, reason: &str) -> Result<(), SendError>;

    /// Creates broadcast channel `id` if it is missing.
    fn bcast_create(&self, id: u64);

    /// Adds `handler` to channel `id`; subscribing twice is a no-op.
    ///
    /// # Errors
    ///
    /// [`SendError::UnknownChannel`] or [`SendError::Closed`].
    fn bcast_subscribe(&self, id: u64, handler: u64) -> Result<(), SendError>;

    /// Removes `handler` from channel `id` at once; not being subscribed is fine.
    ///
    /// # Errors
    ///
    /// [`SendError::UnknownChannel`].
    fn bcast_unsubscribe(&self, id: u64, handler: u64) -> Result<(), SendError>;

    /// Queues the CBOR message `payload` (already validated) as one binary message to every
    /// subscriber of channel `id`; full subscribers are skipped.
    ///
    /// # Errors
    ///
    /// [`SendError::UnknownChannel`].
    fn bcast_send(&self, id: u64, payload: Bytes) -> Result<(), SendError>;
}

/// A host with no connections and no channels: sends and closes fail with
/// [`SendError::Closed`], channel operations with [`SendError::UnknownChannel`]. For VMs
/// that run Lua without a server: tools, and tests of the modules.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoConnections;

impl Host for NoConnections {
    fn send(&self, _: u64, _: DataKind, _: &[u8]) -> Result<(), SendError> {
        Err(SendError::Closed)
    }

    fn close(&self, _: u64, _: u16, _: &str) -> Result<(), SendError> {
        Err(SendError::Closed)
    }

    fn bcast_create(&self, _: u64) {}

    fn bcast_subscribe(&self, id: u64, _: u64) -> Result<(), SendError> {
        Err(SendError::UnknownChannel(id))
    }

    fn bcast_unsubscribe(&self, id: u64, _: u64) -> Result<(), SendError> {
        Err(SendError::UnknownChannel(id))
    }

    fn bcast_send(&self, id: u64, _: Bytes) -> Result<(), SendError> {
        Err(SendError::UnknownChannel(id))
    }
}

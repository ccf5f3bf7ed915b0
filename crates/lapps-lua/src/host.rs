//! The narrow interface between Lua and the server: send to and close connections, and
//! broadcast channels.

use bytes::Bytes;
use lapps_proto::lapps::{OutboundError, Value, cbor, validate};

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

/// Why a LAppS message was not sent: it breaks a rule of spec §4.6, or the connection
/// refused it.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum LappsSendError {
    /// The rule the message breaks; the text is `invalid LAppS message: <detail>`.
    #[error("invalid LAppS message: {0}")]
    Invalid(OutboundError),
    /// The connection refused it.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Validates `message` for `ws:send` (spec §4.6) and encodes it to CBOR: the payload of a
/// LAppS message, whoever sends it.
///
/// # Errors
///
/// [`LappsSendError::Invalid`] with the first rule the message breaks.
pub fn lapps_payload(message: &Value) -> Result<Vec<u8>, LappsSendError> {
    validate::outbound(message).map_err(LappsSendError::Invalid)?;
    Ok(cbor::to_vec(message))
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

    /// Sends a LAppS message (the two-argument `ws:send`): validated, encoded to CBOR, queued
    /// as one binary message. The server overrides it to note `cid` 0 answers (spec §3.4).
    ///
    /// # Errors
    ///
    /// [`LappsSendError::Invalid`], or the [`SendError`] of [`send`](Self::send).
    fn send_lapps(&self, handler: u64, message: &Value) -> Result<(), LappsSendError> {
        let payload = lapps_payload(message)?;
        Ok(self.send(handler, DataKind::Binary, &payload)?)
    }

    /// Queues a LAppS message that `ws:send` has encoded and checked with
    /// [`validate::outbound_encoded`] as one binary message; `answer` is true on `cid` 0. The
    /// server overrides it to note `cid` 0 answers, as in [`send_lapps`](Self::send_lapps).
    ///
    /// # Errors
    ///
    /// The [`SendError`] of [`send`](Self::send).
    fn send_lapps_encoded(
        &self,
        handler: u64,
        payload: &[u8],
        answer: bool,
    ) -> Result<(), SendError> {
        let _ = answer;
        self.send(handler, DataKind::Binary, payload)
    }

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

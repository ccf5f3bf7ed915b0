//! Services: the contract between the server and the code that answers clients.
//!
//! A *reactive* service is served at a request target. It runs as `instances` copies; each is
//! built by the service's [`ServiceFactory`] on the worker thread where it lives, and the
//! balancer binds every connection to one instance for its whole life. An instance's
//! callbacks never run concurrently, and a connection's messages reach it in order. Rust
//! services implement [`ReactiveService`]; Lua services plug into the same trait.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use lapps_proto::CloseCode;

use crate::instance::InstanceContext;

/// The identity of one client connection: LAppS's *handler*.
///
/// Unique for the life of the process and never reused, so a stale one is harmless: sends to
/// it fail with [`SendError::Closed`].
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct ConnectionId(pub(crate) u64);

impl ConnectionId {
    /// Returns the handler number, a positive integer below 2^53 (so a Lua number holds it).
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

pub use crate::config::Protocol;

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
}

/// A complete message from a client, as a raw-protocol service receives it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Inbound {
    /// Text or binary.
    pub kind: DataKind,
    /// The whole message; for text, valid UTF-8.
    pub data: Bytes,
}

/// What to do with a connection after [`ReactiveService::on_message`].
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum Disposition {
    /// Keep the connection open.
    #[default]
    Keep,
    /// Close it with 1011 "internal error" (LAppS: `onMessage` returned `false`).
    Close,
}

/// Why a send was refused. The texts are those Lua sees (spec §3.8).
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
}

/// A failure of a service callback; it is logged with the service and instance.
pub type ServiceError = Box<dyn std::error::Error + Send + Sync>;

/// A reactive service instance: the callbacks of spec §3.4 (`onStart`, `onMessage`,
/// `onDisconnect`, `onShutdown`), for Rust code.
///
/// Callbacks take `&mut self` and run one at a time, on the worker thread the instance was
/// built on, so an instance needs neither `Send` nor locks. A callback that awaits (a timer,
/// a channel) suspends only this instance. One that computes for a long time holds up its
/// worker thread, as in any event loop.
#[async_trait(?Send)]
pub trait ReactiveService {
    /// Runs once, before any connection is bound to the instance.
    ///
    /// # Errors
    ///
    /// An error fails the start of the whole service.
    async fn on_start(&mut self, ctx: &InstanceContext) -> Result<(), ServiceError> {
        let _ = ctx;
        Ok(())
    }

    /// Handles one complete message from `conn`.
    async fn on_message(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        message: Inbound,
    ) -> Disposition;

    /// Runs exactly once per connection, after it closed, on every path.
    async fn on_disconnect(&mut self, ctx: &InstanceContext, conn: ConnectionId) {
        let _ = (ctx, conn);
    }

    /// Runs once when the instance stops, after every `on_disconnect`.
    async fn on_shutdown(&mut self, ctx: &InstanceContext) {
        let _ = ctx;
    }
}

/// Builds the instances of a service.
///
/// [`create`](Self::create) runs on the worker thread where the instance will live, so the
/// instance itself need not be `Send` (a Lua VM is not).
pub trait ServiceFactory: Send + Sync + 'static {
    /// Builds instance number `index` (0-based).
    ///
    /// # Errors
    ///
    /// An error fails the start of the whole service.
    fn create(&self, index: usize) -> Result<Box<dyn ReactiveService>, ServiceError>;
}

impl<F> ServiceFactory for F
where
    F: Fn(usize) -> Result<Box<dyn ReactiveService>, ServiceError> + Send + Sync + 'static,
{
    fn create(&self, index: usize) -> Result<Box<dyn ReactiveService>, ServiceError> {
        self(index)
    }
}

impl fmt::Debug for dyn ServiceFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceFactory")
    }
}

/// Checks a close code and reason as `ws:close` does (spec §3.8).
pub(crate) fn check_close(code: u16, reason: &str) -> Result<CloseCode, SendError> {
    let code = CloseCode(code);
    if !code.is_valid() {
        return Err(SendError::InvalidCloseCode);
    }
    if reason.len() > lapps_proto::close::MAX_CLOSE_REASON {
        return Err(SendError::CloseReasonTooLong);
    }
    Ok(code)
}

/// A shared, type-erased factory.
pub(crate) type SharedFactory = Arc<dyn ServiceFactory>;

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

pub use lapps_lua::DataKind;
pub use lapps_lua::SendError;
pub use lapps_proto::lapps::{MsgType, Value};

/// A complete message from a client, as a raw-protocol service receives it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Inbound {
    /// Text or binary.
    pub kind: DataKind,
    /// The whole message; for text, valid UTF-8.
    pub data: Bytes,
}

/// A valid message of the LAppS protocol (spec §4.4), as a LAppS service receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Notification or request, with or without params.
    pub msg_type: MsgType,
    /// The decoded message: `lapps`, `method`, and `params` and `cid` when present.
    pub message: Value,
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

    /// Handles one valid message of a LAppS-protocol service (spec §4). Invalid messages
    /// never get here: the server answers them (spec §4.5).
    ///
    /// # Errors
    ///
    /// An error is logged; a request (`msg_type` 3 or 4) then gets the −32603 response
    /// unless the callback already answered on `cid` 0, and the connection stays open
    /// (spec §3.4).
    async fn on_request(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        request: Request,
    ) -> Result<Disposition, ServiceError> {
        let _ = (ctx, conn, request);
        Err("this service does not handle LAppS messages".into())
    }

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
/// instance itself need not be `Send` (a Lua VM is not). A closure `Fn(usize)` taking the
/// instance index is a factory too.
pub trait ServiceFactory: Send + Sync + 'static {
    /// Builds the instance whose context is `ctx` (`ctx.instance()` is its index).
    ///
    /// # Errors
    ///
    /// An error fails the start of the whole service.
    fn create(&self, ctx: &InstanceContext) -> Result<Box<dyn ReactiveService>, ServiceError>;
}

impl<F> ServiceFactory for F
where
    F: Fn(usize) -> Result<Box<dyn ReactiveService>, ServiceError> + Send + Sync + 'static,
{
    fn create(&self, ctx: &InstanceContext) -> Result<Box<dyn ReactiveService>, ServiceError> {
        self(ctx.instance())
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

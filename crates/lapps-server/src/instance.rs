//! Service instances: one task each, on a worker thread, taking its connections' events in
//! order and calling the service's callbacks one at a time.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
pub use lapps_lua::LappsSendError;
use lapps_lua::mqr::Queues;
use lapps_lua::{StopSignal, lapps_payload};
use lapps_proto::lapps::{cbor, validate};
use tokio::sync::mpsc;

use crate::bcast::Channels;
use crate::metrics::ServiceMetrics;
use crate::registry::{ConnShared, Registry};
use crate::service::{
    ConnectionId, DataKind, Disposition, Inbound, Protocol, ReactiveService, Request, SendError,
    Value, check_close,
};

/// What an instance's queue carries.
#[derive(Debug)]
pub(crate) enum InstanceEvent {
    /// A connection was bound to the instance.
    Bound(Arc<ConnShared>),
    /// A complete message from a bound connection.
    Message(Arc<ConnShared>, Inbound),
    /// A bound connection closed; `on_disconnect` follows.
    Disconnect(ConnectionId),
    /// Stop after the events already queued: `on_shutdown`, then the task ends.
    Stop,
}

/// The balancer's view of an instance.
#[derive(Debug, Default)]
pub(crate) struct InstanceLoad {
    /// Connections bound to the instance.
    pub(crate) connections: AtomicUsize,
    /// Messages waiting in the instance's queue.
    pub(crate) queued: AtomicUsize,
}

/// A handle on a running instance.
#[derive(Clone, Debug)]
pub(crate) struct InstanceHandle {
    pub(crate) index: usize,
    /// The worker thread the instance lives on.
    pub(crate) worker: usize,
    pub(crate) events: mpsc::UnboundedSender<InstanceEvent>,
    pub(crate) load: Arc<InstanceLoad>,
    pub(crate) stop: StopSignal,
}

/// Instance IDs are unique among all instances created during the life of the process
/// (spec §1.3).
static NEXT_INSTANCE_ID: AtomicU64 = AtomicU64::new(1);

/// What a service's callbacks can do: send to and close connections, broadcast, and use the
/// `mqr` queues. Cheap to clone; every clone is the same instance's context.
///
/// Handed to every [`ReactiveService`] callback. Sends never block: they queue the message
/// on the connection and return at once (spec §3.8, §5.12).
#[derive(Clone, Debug)]
pub struct InstanceContext(Rc<ContextInner>);

#[derive(Debug)]
struct ContextInner {
    service: Arc<str>,
    index: usize,
    instance_id: u64,
    stop: StopSignal,
    shared: Services,
    metrics: Arc<ServiceMetrics>,
    /// The connections bound to this instance: the fast path of a reply.
    bound: RefCell<HashMap<ConnectionId, Arc<ConnShared>>>,
    /// The connection whose message is being handled: the fastest path of a reply.
    serving: RefCell<Option<Arc<ConnShared>>>,
    /// The connection whose message is being handled, and whether it got a `cid` 0 message.
    current: Cell<Option<ConnectionId>>,
    answered: Cell<bool>,
}

/// The server-wide registries a context reaches.
#[derive(Clone, Debug)]
pub(crate) struct Services {
    pub(crate) registry: Arc<Registry>,
    pub(crate) channels: Arc<Channels>,
    pub(crate) queues: Arc<Queues>,
    pub(crate) fragment_size: Option<NonZeroUsize>,
}

impl InstanceContext {
    pub(crate) fn new(
        service: Arc<str>,
        index: usize,
        shared: Services,
        metrics: Arc<ServiceMetrics>,
    ) -> Self {
        Self(Rc::new(ContextInner {
            service,
            index,
            instance_id: NEXT_INSTANCE_ID.fetch_add(1, Ordering::Relaxed),
            stop: StopSignal::new(),
            shared,
            metrics,
            bound: RefCell::new(HashMap::new()),
            serving: RefCell::new(None),
            current: Cell::new(None),
            answered: Cell::new(false),
        }))
    }

    /// Returns the service's name.
    pub fn service(&self) -> &str {
        &self.0.service
    }

    /// Returns this instance's index, 0 to `instances - 1`.
    pub fn instance(&self) -> usize {
        self.0.index
    }

    /// Returns the instance ID: unique among all instances the process ever creates.
    pub fn instance_id(&self) -> u64 {
        self.0.instance_id
    }

    /// The instance's stop request: fired when the service or the server stops.
    pub fn stop_signal(&self) -> &StopSignal {
        &self.0.stop
    }

    /// True once the instance has been asked to stop (`must_stop()`).
    pub fn must_stop(&self) -> bool {
        self.0.stop.is_stopped()
    }

    /// The server's `mqr` queues, shared with Lua services.
    pub fn queues(&self) -> &Arc<Queues> {
        &self.0.shared.queues
    }

    /// Queues a text or binary message on `conn`, which may be any open connection of the
    /// server, not only one bound to this instance.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] for a stale or unknown handler, [`SendError::Backpressure`] when
    /// the connection's outbound buffer is full (nothing is queued), and
    /// [`SendError::InvalidUtf8`] for text that is not UTF-8.
    pub fn send(&self, conn: ConnectionId, kind: DataKind, data: &[u8]) -> Result<(), SendError> {
        if kind == DataKind::Text && !lapps_proto::utf8::is_valid(data) {
            return Err(SendError::InvalidUtf8);
        }
        self.send_checked(conn, kind, data)
    }

    /// [`send`](Self::send) for text its caller has already checked (`ws:send` does).
    pub(crate) fn send_checked(
        &self,
        conn: ConnectionId,
        kind: DataKind,
        data: &[u8],
    ) -> Result<(), SendError> {
        self.connection(conn)?.send(kind, data)
    }

    /// Sends a LAppS message (spec §4.6): validated, encoded to CBOR, queued as one binary
    /// message.
    ///
    /// # Errors
    ///
    /// [`LappsSendError::Invalid`] with the rule it breaks, or the [`SendError`] of
    /// [`send`](Self::send).
    pub fn send_lapps(&self, conn: ConnectionId, message: &Value) -> Result<(), LappsSendError> {
        let payload = lapps_payload(message)?;
        self.connection(conn)?.send(DataKind::Binary, &payload)?;
        if message.get("cid").and_then(Value::as_i64) == Some(0) {
            self.answered(conn);
        }
        Ok(())
    }

    /// Records that `conn` got a `cid` 0 message during the current callback, so that an
    /// error in it does not add a −32603 response (spec §3.4).
    pub(crate) fn answered(&self, conn: ConnectionId) {
        if self.0.current.get() == Some(conn) {
            self.0.answered.set(true);
        }
    }

    /// Starts closing `conn` with `code` and `reason` after what is already queued. The
    /// handler is stale at once; `on_disconnect` follows once the current callback returns.
    ///
    /// # Errors
    ///
    /// [`SendError::InvalidCloseCode`] for a code outside 1000–1003, 1007–1014 and 3000–4999,
    /// [`SendError::CloseReasonTooLong`] for a reason over 123 bytes, and
    /// [`SendError::Closed`] if the connection is already closed.
    pub fn close(&self, conn: ConnectionId, code: u16, reason: &str) -> Result<(), SendError> {
        let code = check_close(code, reason)?;
        self.connection(conn)?.request_close(code, reason)
    }

    /// Creates broadcast channel `id` if it is missing (spec §3.9).
    pub fn bcast_create(&self, id: u64) {
        self.0.shared.channels.create(id);
    }

    /// Subscribes `conn` to channel `id`; twice is the same as once.
    ///
    /// # Errors
    ///
    /// [`SendError::UnknownChannel`], or [`SendError::Closed`] for a stale handler.
    pub fn bcast_subscribe(&self, id: u64, conn: ConnectionId) -> Result<(), SendError> {
        let shared = self.connection(conn)?;
        self.0.shared.channels.subscribe(id, &shared)
    }

    /// Unsubscribes `conn` from channel `id` at once; not being subscribed is fine.
    ///
    /// # Errors
    ///
    /// [`SendError::UnknownChannel`].
    pub fn bcast_unsubscribe(&self, id: u64, conn: ConnectionId) -> Result<(), SendError> {
        self.0.shared.channels.unsubscribe(id, conn)
    }

    /// Broadcasts `message` on channel `id`: validated as an OON (spec §3.9), encoded once,
    /// queued to every subscriber whose buffer has room.
    ///
    /// # Errors
    ///
    /// [`LappsSendError::Invalid`] or [`SendError::UnknownChannel`].
    pub fn bcast_send(&self, id: u64, message: &Value) -> Result<(), LappsSendError> {
        validate::broadcast(message).map_err(LappsSendError::Invalid)?;
        self.bcast_send_encoded(id, &Bytes::from(cbor::to_vec(message)))?;
        Ok(())
    }

    /// Broadcasts an already validated and encoded CBOR message.
    pub(crate) fn bcast_send_encoded(&self, id: u64, payload: &Bytes) -> Result<(), SendError> {
        self.0
            .shared
            .channels
            .send(id, payload, self.0.shared.fragment_size)
    }

    fn connection(&self, conn: ConnectionId) -> Result<Arc<ConnShared>, SendError> {
        if let Some(shared) = self.0.serving.borrow().as_ref()
            && shared.id == conn
        {
            return Ok(Arc::clone(shared));
        }
        if let Some(shared) = self.0.bound.borrow().get(&conn) {
            return Ok(Arc::clone(shared));
        }
        self.0.shared.registry.get(conn).ok_or(SendError::Closed)
    }

    /// Logs a failed callback with the service, instance and error, and counts it (spec
    /// §3.4). For services that handle their own errors, such as the Lua host.
    pub fn report_error(&self, callback: &'static str, conn: Option<ConnectionId>, error: &str) {
        self.0.metrics.record_error(callback);
        tracing::error!(
            service = %self.0.service,
            instance = self.0.index,
            conn = conn.map(ConnectionId::get),
            callback,
            error,
            "service callback failed"
        );
    }
}

/// Runs an instance until it is told to stop, then calls `on_shutdown`.
pub(crate) async fn run(
    mut service: Box<dyn ReactiveService>,
    ctx: InstanceContext,
    protocol: Protocol,
    mut events: mpsc::UnboundedReceiver<InstanceEvent>,
    load: Arc<InstanceLoad>,
) {
    while let Some(event) = events.recv().await {
        match event {
            InstanceEvent::Bound(conn) => {
                ctx.0.bound.borrow_mut().insert(conn.id, conn);
            }
            InstanceEvent::Message(conn, message) => {
                let id = conn.id;
                // Replies to the connection being served skip the lookup in `bound`.
                *ctx.0.serving.borrow_mut() = Some(Arc::clone(&conn));
                let close = match protocol {
                    Protocol::Raw => on_raw(service.as_mut(), &ctx, id, message).await,
                    Protocol::LAppS => on_lapps(service.as_mut(), &ctx, id, &message.data).await,
                };
                *ctx.0.serving.borrow_mut() = None;
                // Counted as handled only now, after any reply was queued.
                conn.delivered();
                if close {
                    // spec §3.4: `false` or a raised error closes with 1011.
                    let _ = conn
                        .request_close(lapps_proto::CloseCode::INTERNAL_ERROR, "internal error");
                }
            }
            InstanceEvent::Disconnect(id) => {
                if let Err(panic) = guarded(service.on_disconnect(&ctx, id)).await {
                    report(&ctx, "onDisconnect", &panic);
                }
                if ctx.0.bound.borrow_mut().remove(&id).is_some() {
                    load.connections.fetch_sub(1, Ordering::Relaxed);
                }
            }
            InstanceEvent::Stop => break,
        }
    }
    ctx.0.stop.stop();
    if let Err(panic) = guarded(service.on_shutdown(&ctx)).await {
        report(&ctx, "onShutdown", &panic);
    }
}

/// A raw message; returns true to close the connection with 1011.
async fn on_raw(
    service: &mut dyn ReactiveService,
    ctx: &InstanceContext,
    id: ConnectionId,
    message: Inbound,
) -> bool {
    match guarded(service.on_message(ctx, id, message)).await {
        Ok(Disposition::Keep) => false,
        Ok(Disposition::Close) => true,
        Err(panic) => {
            report(ctx, "onMessage", &panic);
            true
        }
    }
}

/// A LAppS message (spec §4.5): invalid ones are answered here; valid ones go to
/// `on_request`. Returns true to close the connection with 1011.
async fn on_lapps(
    service: &mut dyn ReactiveService,
    ctx: &InstanceContext,
    id: ConnectionId,
    payload: &[u8],
) -> bool {
    let (msg_type, message) = match validate::inbound(payload) {
        Ok(valid) => valid,
        Err(error) => {
            tracing::debug!(service = %ctx.0.service, conn = %id, %error, "invalid LAppS message");
            ctx.0.metrics.record_protocol_error(error.code());
            let _ = ctx.send_lapps(id, &error.response());
            return false;
        }
    };
    ctx.0.current.set(Some(id));
    ctx.0.answered.set(false);
    let request = Request { msg_type, message };
    let outcome = guarded(service.on_request(ctx, id, request)).await;
    ctx.0.current.set(None);
    let error = match outcome {
        Ok(Ok(Disposition::Keep)) => return false,
        Ok(Ok(Disposition::Close)) => return true,
        Ok(Err(error)) => error.to_string(),
        Err(panic) => panic,
    };
    report(ctx, "onMessage", &error);
    // Spec §3.4: a request gets −32603 unless it was answered; a notification, nothing.
    if msg_type.is_request() && !ctx.0.answered.get() {
        ctx.0.metrics.record_protocol_error(-32603);
        let _ = ctx.send_lapps(id, &validate::internal_error());
    }
    false
}

/// Starts an instance: calls `on_start`, and reports a failure.
pub(crate) async fn start(
    service: &mut dyn ReactiveService,
    ctx: &InstanceContext,
) -> Result<(), String> {
    match guarded(service.on_start(ctx)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(panic) => Err(panic),
    }
}

fn report(ctx: &InstanceContext, callback: &'static str, error: &str) {
    ctx.report_error(callback, ctx.0.current.get(), error);
}

/// Runs a callback's future, turning a panic into an error (spec §3.17: a panic is handled
/// like a Lua error).
fn guarded<'a, T>(future: Pin<Box<dyn Future<Output = T> + 'a>>) -> CatchUnwind<'a, T> {
    CatchUnwind { future }
}

struct CatchUnwind<'a, T> {
    future: Pin<Box<dyn Future<Output = T> + 'a>>,
}

impl<T> Future for CatchUnwind<'_, T> {
    type Output = Result<T, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.future.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic_message(panic.as_ref()))),
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panic: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic".to_owned()
    }
}

//! Service instances: one task each, on a worker thread, taking its connections' events in
//! order and calling the service's callbacks one at a time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::metrics::ServiceMetrics;
use crate::registry::{ConnShared, Registry};
use crate::service::{
    ConnectionId, DataKind, Disposition, Inbound, ReactiveService, SendError, check_close,
};

/// What an instance's queue carries.
#[derive(Debug)]
pub(crate) enum InstanceEvent {
    /// A connection was bound to the instance.
    Bound(Arc<ConnShared>),
    /// A complete message from a bound connection.
    Message(ConnectionId, Inbound),
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
}

/// A handle on a running instance.
#[derive(Clone, Debug)]
pub(crate) struct InstanceHandle {
    pub(crate) index: usize,
    /// The worker thread the instance lives on.
    pub(crate) worker: usize,
    pub(crate) events: mpsc::UnboundedSender<InstanceEvent>,
    pub(crate) load: Arc<InstanceLoad>,
}

/// What a service's callbacks can do: send to and close connections.
///
/// Handed to every [`ReactiveService`] callback. Sends never block: they queue the message
/// on the connection and return at once (spec §3.8, §5.12).
#[derive(Debug)]
pub struct InstanceContext {
    service: Arc<str>,
    index: usize,
    registry: Arc<Registry>,
    /// The connections bound to this instance: the fast path of a reply.
    bound: RefCell<HashMap<ConnectionId, Arc<ConnShared>>>,
}

impl InstanceContext {
    pub(crate) fn new(service: Arc<str>, index: usize, registry: Arc<Registry>) -> Self {
        Self {
            service,
            index,
            registry,
            bound: RefCell::new(HashMap::new()),
        }
    }

    /// Returns the service's name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Returns this instance's index, 0 to `instances - 1`.
    pub fn instance(&self) -> usize {
        self.index
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
        self.connection(conn)?.send(kind, data)
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

    fn connection(&self, conn: ConnectionId) -> Result<Arc<ConnShared>, SendError> {
        if let Some(shared) = self.bound.borrow().get(&conn) {
            return Ok(Arc::clone(shared));
        }
        self.registry.get(conn).ok_or(SendError::Closed)
    }
}

/// Runs an instance until it is told to stop, then calls `on_shutdown`.
pub(crate) async fn run(
    mut service: Box<dyn ReactiveService>,
    ctx: InstanceContext,
    mut events: mpsc::UnboundedReceiver<InstanceEvent>,
    load: Arc<InstanceLoad>,
    metrics: Arc<ServiceMetrics>,
) {
    while let Some(event) = events.recv().await {
        match event {
            InstanceEvent::Bound(conn) => {
                ctx.bound.borrow_mut().insert(conn.id, conn);
            }
            InstanceEvent::Message(id, message) => {
                let conn = ctx.bound.borrow().get(&id).cloned();
                let outcome = guarded(service.on_message(&ctx, id, message)).await;
                // Counted as handled only now, after any reply was queued.
                if let Some(conn) = &conn {
                    conn.delivered();
                }
                let close = match outcome {
                    Ok(Disposition::Keep) => false,
                    Ok(Disposition::Close) => true,
                    Err(panic) => {
                        report(&ctx, &metrics, "onMessage", &panic);
                        true
                    }
                };
                if let (true, Some(conn)) = (close, conn) {
                    // spec §3.4: `false` or a raised error closes with 1011.
                    let _ = conn
                        .request_close(lapps_proto::CloseCode::INTERNAL_ERROR, "internal error");
                }
            }
            InstanceEvent::Disconnect(id) => {
                if let Err(panic) = guarded(service.on_disconnect(&ctx, id)).await {
                    report(&ctx, &metrics, "onDisconnect", &panic);
                }
                if ctx.bound.borrow_mut().remove(&id).is_some() {
                    load.connections.fetch_sub(1, Ordering::Relaxed);
                }
            }
            InstanceEvent::Stop => break,
        }
    }
    if let Err(panic) = guarded(service.on_shutdown(&ctx)).await {
        report(&ctx, &metrics, "onShutdown", &panic);
    }
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

fn report(ctx: &InstanceContext, metrics: &ServiceMetrics, callback: &'static str, error: &str) {
    metrics.record_error(callback);
    tracing::error!(service = %ctx.service, instance = ctx.index, callback, error, "service callback failed");
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

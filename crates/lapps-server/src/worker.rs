//! Worker threads: each runs a current-thread tokio runtime with its accept loops,
//! handshakes, open connections and service instances.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;

use bytes::BytesMut;
use lapps_proto::{Config as CodecConfig, Connection};
use lapps_tls::rustls::ServerConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::LocalSet;

use crate::conn::{self, Open};
use crate::instance::{self, InstanceContext, InstanceHandle, InstanceLoad};
use crate::registry::{ConnShared, next_handler};
use crate::runtime::{ServiceRuntime, Shared};
use crate::transport::Transport;
use crate::upgrade::{self, Outcome};

/// What a worker is asked to do.
#[derive(Debug)]
pub(crate) enum WorkerCommand {
    /// Accept connections from this listener.
    Listen(std::net::TcpListener),
    /// Build, start and run an instance of `service` on this worker.
    StartInstance {
        service: Arc<ServiceRuntime>,
        index: usize,
        reply: oneshot::Sender<Result<InstanceHandle, String>>,
    },
    /// Run an open connection whose instance lives here.
    Adopt(Box<Moving>),
    /// Finish the tasks still running, then end the thread.
    Stop,
}

/// An open connection between workers.
#[derive(Debug)]
pub(crate) struct Moving {
    stream: std::net::TcpStream,
    tls: Option<Box<ServerConnection>>,
    out: BytesMut,
    codec: Connection,
    shared: Arc<ConnShared>,
    service: Arc<ServiceRuntime>,
    pipelined: BytesMut,
}

/// Starts worker `index`; the returned receiver fires when the thread has finished.
pub(crate) fn spawn(
    index: usize,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<WorkerCommand>,
) -> std::io::Result<oneshot::Receiver<()>> {
    let (done_tx, done_rx) = oneshot::channel();
    thread::Builder::new()
        .name(format!("lapps-worker-{index}"))
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    set_current(index);
                    let local = LocalSet::new();
                    local.block_on(&runtime, serve(index, shared, commands));
                    // Let connections and instances finish their shutdown.
                    runtime.block_on(local);
                }
                Err(error) => {
                    tracing::error!(worker = index, %error, "cannot start a worker runtime");
                }
            }
            let _ = done_tx.send(());
        })?;
    Ok(done_rx)
}

async fn serve(
    index: usize,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<WorkerCommand>,
) {
    while let Some(command) = commands.recv().await {
        match command {
            WorkerCommand::Listen(listener) => {
                tokio::task::spawn_local(accept_loop(listener, Arc::clone(&shared)));
            }
            WorkerCommand::StartInstance {
                service,
                index: instance,
                reply,
            } => {
                let shared = Arc::clone(&shared);
                tokio::task::spawn_local(async move {
                    let result = start_instance(index, &shared, service, instance).await;
                    let _ = reply.send(result);
                });
            }
            WorkerCommand::Adopt(moving) => adopt(*moving, Arc::clone(&shared)),
            WorkerCommand::Stop => break,
        }
    }
}

async fn start_instance(
    worker: usize,
    shared: &Arc<Shared>,
    service: Arc<ServiceRuntime>,
    index: usize,
) -> Result<InstanceHandle, String> {
    let ctx = InstanceContext::new(
        Arc::clone(&service.name),
        index,
        shared.services(),
        Arc::clone(&service.metrics),
    );
    let mut instance = service.factory.create(&ctx).map_err(|e| e.to_string())?;
    instance::start(instance.as_mut(), &ctx).await?;
    let (events, queue) = mpsc::unbounded_channel();
    let load = Arc::new(InstanceLoad::default());
    let stop = ctx.stop_signal().clone();
    tokio::task::spawn_local(instance::run(
        instance,
        ctx,
        service.protocol,
        queue,
        Arc::clone(&load),
    ));
    Ok(InstanceHandle {
        index,
        worker,
        events,
        load,
        stop,
    })
}

async fn accept_loop(listener: std::net::TcpListener, shared: Arc<Shared>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot register a listening socket");
            return;
        }
    };
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => on_accept(stream, peer, &shared),
                Err(error) => {
                    // Spec §1.7: an accept error (EMFILE) never stops a listener.
                    shared.metrics.accept_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "accept failed; retrying shortly");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            // wait_for looks at the current value first: `changed` would miss a shutdown
            // that came before this task subscribed (one started right after bind), and the
            // loop, hence the worker and the server's shutdown, would never end.
            _ = shutdown.wait_for(|&stop| stop) => return,
        }
    }
}

fn on_accept(stream: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) {
    // Spec §6: the global ACL, before any byte is read; IPv4-mapped peers match as IPv4.
    let ip = peer.ip().to_canonical();
    if !shared.acl.permits(ip) {
        shared.metrics.tcp_rejected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%peer, "rejected by the global ACL");
        return;
    }
    shared.metrics.tcp_accepted.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    tokio::task::spawn_local(handshake(stream, peer, Arc::clone(shared)));
}

async fn handshake(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let mut transport = match &shared.tls {
        Some(config) => match ServerConnection::new(Arc::clone(config)) {
            Ok(tls) => Transport::tls(stream, tls),
            Err(error) => {
                tracing::warn!(%peer, %error, "cannot start TLS");
                return;
            }
        },
        None => Transport::plain(stream),
    };
    let ip = peer.ip().to_canonical();
    let timeout = shared.settings.handshake_timeout;
    let outcome = tokio::time::timeout(timeout, async {
        if let Err(error) = transport.handshake().await {
            shared
                .metrics
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return Ok(Outcome::Answered);
        }
        upgrade::handshake(&mut transport, ip, &shared).await
    })
    .await;
    match outcome {
        Err(_) => {
            // Spec §5.3 check 1: closed with no response.
            shared.metrics.handshake_failed("timeout");
            tracing::debug!(%peer, "handshake timed out");
        }
        Ok(Err(error)) => tracing::debug!(%peer, %error, "handshake failed"),
        Ok(Ok(Outcome::Answered)) => {}
        Ok(Ok(Outcome::Open {
            service,
            instance,
            pipelined,
        })) => {
            open(transport, service, &instance, pipelined, peer, &shared);
        }
    }
}

/// Registers a connection that got its 101 and starts it on its instance's worker.
fn open(
    transport: Transport,
    service: Arc<ServiceRuntime>,
    instance: &InstanceHandle,
    pipelined: BytesMut,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) {
    let settings = &shared.settings;
    let fragment = settings
        .auto_fragment
        .then_some(lapps_proto::config::LAPPS_FRAGMENT_SIZE);
    let id = next_handler();
    let conn = Arc::new(ConnShared::new(
        id,
        instance.events.clone(),
        Arc::clone(&service.metrics),
        settings.max_outbound_buffer,
        fragment,
        Arc::clone(&shared.channels),
        Arc::clone(&instance.load),
    ));
    shared.registry.insert(Arc::clone(&conn));
    service
        .metrics
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    service
        .metrics
        .connections_open
        .fetch_add(1, Ordering::Relaxed);
    let _ = instance
        .events
        .send(instance::InstanceEvent::Bound(Arc::clone(&conn)));
    tracing::debug!(conn = %id, %peer, service = %service.name, instance = instance.index, "connection open");
    let max = service.max_message_size;
    let codec = Connection::server(
        CodecConfig::default()
            .max_frame_size(max)
            .max_message_size(max),
    );
    let open = Open {
        transport,
        codec,
        shared: conn,
        service,
        pipelined,
    };
    let here = shared.workers.get(instance.worker);
    match here {
        Some(worker) if !is_current(instance.worker) => match open.transport.into_parts() {
            Ok((stream, tls, out)) => {
                let moving = Moving {
                    stream,
                    tls,
                    out,
                    codec: open.codec,
                    shared: open.shared,
                    service: open.service,
                    pipelined: open.pipelined,
                };
                if let Err(mpsc::error::SendError(WorkerCommand::Adopt(moving))) =
                    worker.send(WorkerCommand::Adopt(Box::new(moving)))
                {
                    abandon(&moving.shared, shared);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot move a connection to its worker");
                abandon(&open.shared, shared);
            }
        },
        _ => {
            tokio::task::spawn_local(conn::run(open, Arc::clone(shared)));
        }
    }
}

fn adopt(moving: Moving, shared: Arc<Shared>) {
    match Transport::from_parts(moving.stream, moving.tls, moving.out) {
        Ok(transport) => {
            let open = Open {
                transport,
                codec: moving.codec,
                shared: moving.shared,
                service: moving.service,
                pipelined: moving.pipelined,
            };
            tokio::task::spawn_local(conn::run(open, shared));
        }
        Err(error) => {
            tracing::warn!(%error, "cannot adopt a connection");
            abandon(&moving.shared, &shared);
        }
    }
}

/// Undoes `open` for a connection that could not be started.
fn abandon(conn: &ConnShared, shared: &Shared) {
    conn.mark_closed();
    conn.metrics
        .connections_open
        .fetch_sub(1, Ordering::Relaxed);
    shared.registry.remove(conn.id);
    shared.closed_one();
}

thread_local! {
    /// The index of the worker running on this thread.
    static CURRENT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Records that this thread is worker `index`.
pub(crate) fn set_current(index: usize) {
    CURRENT.with(|c| c.set(Some(index)));
}

fn is_current(index: usize) -> bool {
    CURRENT.with(|c| c.get() == Some(index))
}

//! [`Server`]: a bound, running server, and its [`ShutdownHandle`].

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::builder::ServerBuilder;
use crate::error::Error;
use crate::instance::InstanceEvent;
use crate::metrics::Metrics;
use crate::runtime::{ServiceState, Shared};
use crate::worker::WorkerCommand;

/// A bound server: its workers run and its services serve; await it (or [`run`](Self::run))
/// to wait for the shutdown, which a [`ShutdownHandle`] starts.
#[derive(Debug)]
#[must_use = "a server stops serving when dropped without a shutdown; await it"]
pub struct Server {
    shared: Arc<Shared>,
    local_addrs: Vec<SocketAddr>,
    done: Vec<oneshot::Receiver<()>>,
}

/// Starts the graceful shutdown of a [`Server`]. Cloneable and cheap.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Starts the shutdown: no new connections, every open one closed with 1001 "server
    /// shutdown", instances stopped after their connections. Idempotent.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        // Connection tasks look at the flag on their next turn; ring them all to take one.
        self.shared.registry.wake_all();
    }
}

impl Server {
    /// Returns a builder with the defaults of spec §2.4.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    pub(crate) fn new(
        shared: Arc<Shared>,
        local_addrs: Vec<SocketAddr>,
        done: Vec<oneshot::Receiver<()>>,
    ) -> Self {
        Self {
            shared,
            local_addrs,
            done,
        }
    }

    /// Returns the first bound address (with port 0, the port the system chose).
    ///
    /// # Panics
    ///
    /// Never: a server has at least one listener or was built without listeners on
    /// purpose, in which case this returns `0.0.0.0:0`.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Returns true if the server speaks TLS (`wss://`).
    pub fn is_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// Returns every bound address.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Returns a handle that starts the graceful shutdown.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Returns the server's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Renders what `GET /metrics` serves (spec §8.2), whether or not the endpoint is on:
    /// the counters of [`Metrics::render`] and the gauges of the live server.
    pub fn render_metrics(&self) -> String {
        crate::metrics::render_server(&self.shared)
    }

    /// Returns the state of the service `name`.
    pub fn service_state(&self, name: &str) -> Option<ServiceState> {
        self.shared
            .services
            .iter()
            .find(|s| &*s.name == name)
            .map(|s| s.state())
            .or_else(|| {
                self.shared
                    .standalone
                    .iter()
                    .find(|s| &*s.name == name)
                    .map(|s| s.state())
            })
    }

    /// Returns the number of open WebSocket connections.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Acquire)
    }

    /// Serves until `signal` completes or a [`ShutdownHandle`] is used, then shuts down
    /// gracefully.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for failures of the shutdown itself.
    pub async fn with_graceful_shutdown(
        self,
        signal: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let handle = self.shutdown_handle();
        let mut shutdown = self.shared.shutdown.subscribe();
        tokio::select! {
            () = signal => handle.shutdown(),
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
        self.drain().await;
        Ok(())
    }

    /// Serves until a [`ShutdownHandle`] is used, then shuts down gracefully.
    ///
    /// # Errors
    ///
    /// As [`with_graceful_shutdown`](Self::with_graceful_shutdown).
    pub async fn run(self) -> Result<(), Error> {
        self.with_graceful_shutdown(std::future::pending()).await
    }

    /// Spec §1.7 shutdown: connections close with 1001 (each task does it on the signal) and
    /// get `handshake_timeout` to finish their close handshakes; then the services stop,
    /// each instance after the disconnects of its connections, and the workers end.
    async fn drain(self) {
        let grace = self.shared.settings.handshake_timeout + Duration::from_millis(250);
        let deadline = tokio::time::Instant::now() + grace;
        while self.shared.open.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for service in self.shared.services.iter().rev() {
            if service.state() == ServiceState::Running {
                service.set_state(ServiceState::Stopping);
            }
            for instance in service.take_instances() {
                let _ = instance.events.send(InstanceEvent::Stop);
            }
            service.set_state(ServiceState::Stopped);
        }
        for service in self.shared.standalone.iter().rev() {
            service.stop().await;
        }
        for worker in &self.shared.workers {
            let _ = worker.send(WorkerCommand::Stop);
        }
        for done in self.done {
            let _ = done.await;
        }
        tracing::info!("lapps stopped");
    }
}

impl IntoFuture for Server {
    type Output = Result<(), Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

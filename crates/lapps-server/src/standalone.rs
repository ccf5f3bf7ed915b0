//! Standalone services (spec §3.5): `init` and `run` loops with no clients, each instance on
//! an OS thread of its own with a current-thread runtime, so that async waits (`nap`, `mqr`)
//! work there as they do on the workers.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use lapps_lua::StopSignal;
use tokio::sync::oneshot;
use tokio::task::LocalSet;

use crate::instance::InstanceContext;
use crate::metrics::ServiceMetrics;
use crate::runtime::{ServiceState, Shared};
use crate::service::ServiceError;

/// How long a stopping instance's `run` gets before it is interrupted (spec §3.5 step 3).
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long an interrupted instance gets before its thread is abandoned (spec §3.5 step 4).
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

/// A standalone service instance, for Rust code: spec §3.5 and §3.17.
///
/// Both callbacks run on the instance's own thread. `run` should return once
/// [`InstanceContext::must_stop`] is true; await [`lapps_lua::StopSignal::stopped`] from
/// [`InstanceContext::stop_signal`] together with other events to notice it at once.
#[async_trait(?Send)]
pub trait StandaloneService {
    /// Runs once; every instance's `init` completes before any `run` starts.
    ///
    /// # Errors
    ///
    /// An error fails the start of the whole service.
    async fn init(&mut self, ctx: &InstanceContext) -> Result<(), ServiceError>;

    /// The instance's loop. Its end ends the instance; it is not restarted.
    ///
    /// # Errors
    ///
    /// An error is logged and makes the service `degraded`.
    async fn run(&mut self, ctx: &InstanceContext) -> Result<(), ServiceError>;

    /// A flag that, once set, makes a `run` that ignores the stop request fail from inside
    /// (the Lua host raises `instance stopped`). `None`: no such means.
    fn interrupter(&self) -> Option<Arc<AtomicBool>> {
        None
    }
}

/// Builds the instances of a standalone service, each on its own thread.
pub trait StandaloneFactory: Send + Sync + 'static {
    /// Builds the instance whose context is `ctx`.
    ///
    /// # Errors
    ///
    /// An error fails the start of the whole service.
    fn create(&self, ctx: &InstanceContext) -> Result<Box<dyn StandaloneService>, ServiceError>;
}

impl<F> StandaloneFactory for F
where
    F: Fn(usize) -> Result<Box<dyn StandaloneService>, ServiceError> + Send + Sync + 'static,
{
    fn create(&self, ctx: &InstanceContext) -> Result<Box<dyn StandaloneService>, ServiceError> {
        self(ctx.instance())
    }
}

/// A standalone service to register with [`crate::ServerBuilder::standalone`].
#[must_use]
pub struct StandaloneConfig {
    pub(crate) name: String,
    pub(crate) instances: usize,
    pub(crate) auto_start: bool,
    pub(crate) depends: Vec<String>,
    pub(crate) factory: Arc<dyn StandaloneFactory>,
}

impl std::fmt::Debug for StandaloneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandaloneConfig")
            .field("name", &self.name)
            .field("instances", &self.instances)
            .finish_non_exhaustive()
    }
}

impl StandaloneConfig {
    /// A service `name` with one instance, started with the server.
    pub fn new(name: impl Into<String>, factory: impl StandaloneFactory) -> Self {
        Self {
            name: name.into(),
            instances: 1,
            auto_start: true,
            depends: Vec::new(),
            factory: Arc::new(factory),
        }
    }

    /// Sets the number of instances (at least 1).
    pub fn instances(mut self, instances: usize) -> Self {
        self.instances = instances.max(1);
        self
    }

    /// Whether the service starts with the server (default true).
    pub fn auto_start(mut self, auto_start: bool) -> Self {
        self.auto_start = auto_start;
        self
    }

    /// Services that must be running before this one starts (spec §2.6 `depends`).
    pub fn depends(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.depends = names.into_iter().map(Into::into).collect();
        self
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A running standalone instance, seen from the server.
#[derive(Debug)]
struct Running {
    index: usize,
    stop: StopSignal,
    interrupt: Option<Arc<AtomicBool>>,
    done: oneshot::Receiver<()>,
}

/// A standalone service as the server runs it.
#[derive(Debug)]
pub(crate) struct StandaloneRuntime {
    pub(crate) name: Arc<str>,
    pub(crate) instances: usize,
    pub(crate) auto_start: bool,
    pub(crate) depends: Vec<String>,
    factory: Arc<dyn StandaloneFactory>,
    pub(crate) metrics: Arc<ServiceMetrics>,
    state: Arc<AtomicU8>,
    running: Mutex<Vec<Running>>,
}

impl std::fmt::Debug for dyn StandaloneFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StandaloneFactory")
    }
}

impl StandaloneRuntime {
    pub(crate) fn new(config: StandaloneConfig, metrics: Arc<ServiceMetrics>) -> Self {
        Self {
            name: Arc::from(config.name.as_str()),
            instances: config.instances,
            auto_start: config.auto_start,
            depends: config.depends,
            factory: config.factory,
            metrics,
            state: Arc::new(AtomicU8::new(ServiceState::Stopped as u8)),
            running: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn state(&self) -> ServiceState {
        ServiceState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Marks the service failed without starting it (a dependency is not running).
    pub(crate) fn fail(&self) {
        self.set_state(ServiceState::Failed);
    }

    fn set_state(&self, state: ServiceState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// Starts every instance: each builds and `init`s on its thread; once all succeeded they
    /// `run`, otherwise none does and the service is `failed` (spec §3.2).
    pub(crate) async fn start(&self, shared: &Arc<Shared>) {
        self.set_state(ServiceState::Starting);
        let mut started = Vec::with_capacity(self.instances);
        let mut go = Vec::with_capacity(self.instances);
        let mut failure = None;
        for index in 0..self.instances {
            let (ready_tx, ready_rx) = oneshot::channel();
            let (go_tx, go_rx) = oneshot::channel();
            let (done_tx, done_rx) = oneshot::channel();
            let spawned = spawn_instance(self, index, Arc::clone(shared), ready_tx, go_rx, done_tx);
            if let Err(error) = spawned {
                failure = Some(format!(
                    "instance {index}: cannot start its thread: {error}"
                ));
                break;
            }
            go.push(go_tx);
            match ready_rx.await {
                Ok(Ok((stop, interrupt))) => started.push(Running {
                    index,
                    stop,
                    interrupt,
                    done: done_rx,
                }),
                Ok(Err(error)) => {
                    failure = Some(format!("instance {index}: {error}"));
                    break;
                }
                Err(_) => {
                    failure = Some(format!("instance {index}: its thread ended"));
                    break;
                }
            }
        }
        let ok = failure.is_none();
        if let Some(error) = failure {
            tracing::error!(service = %self.name, %error, "service failed to start");
            self.set_state(ServiceState::Failed);
        } else {
            self.set_state(ServiceState::Running);
        }
        for go in go {
            let _ = go.send(ok);
        }
        if ok {
            *self.running.lock().unwrap_or_else(PoisonError::into_inner) = started;
        }
    }

    /// Stops every instance (spec §3.5): the stop request, then up to [`STOP_GRACE`] for
    /// `run` to return, then the interrupt and [`INTERRUPT_GRACE`] more; a thread still
    /// running after that is abandoned.
    pub(crate) async fn stop(&self) {
        let running =
            std::mem::take(&mut *self.running.lock().unwrap_or_else(PoisonError::into_inner));
        if running.is_empty() {
            return;
        }
        if matches!(self.state(), ServiceState::Running | ServiceState::Degraded) {
            self.set_state(ServiceState::Stopping);
        }
        for instance in &running {
            instance.stop.stop();
        }
        let waits = running.into_iter().map(|instance| async move {
            let Running {
                index,
                interrupt,
                mut done,
                ..
            } = instance;
            if tokio::time::timeout(STOP_GRACE, &mut done).await.is_ok() {
                return;
            }
            tracing::warn!(service = %self.name, instance = index, "run() ignores the stop request; interrupting it");
            if let Some(flag) = &interrupt {
                flag.store(true, Ordering::Relaxed);
            }
            if tokio::time::timeout(INTERRUPT_GRACE, &mut done).await.is_err() {
                tracing::error!(service = %self.name, instance = index, "instance thread abandoned: still running after the interrupt");
            }
        });
        for wait in waits.collect::<Vec<_>>() {
            wait.await;
        }
        self.set_state(ServiceState::Stopped);
    }
}

type Ready = Result<(StopSignal, Option<Arc<AtomicBool>>), String>;

fn spawn_instance(
    service: &StandaloneRuntime,
    index: usize,
    shared: Arc<Shared>,
    ready: oneshot::Sender<Ready>,
    go: oneshot::Receiver<bool>,
    done: oneshot::Sender<()>,
) -> std::io::Result<()> {
    let name = Arc::clone(&service.name);
    let factory = Arc::clone(&service.factory);
    let metrics = Arc::clone(&service.metrics);
    let state = Arc::clone(&service.state);
    std::thread::Builder::new()
        .name(format!("lapps-{name}-{index}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = ready.send(Err(format!("cannot start its runtime: {error}")));
                    return;
                }
            };
            let local = LocalSet::new();
            local.block_on(&runtime, async move {
                let ctx =
                    InstanceContext::new(Arc::clone(&name), index, shared.services(), metrics);
                let mut instance = match factory.create(&ctx) {
                    Ok(instance) => instance,
                    Err(error) => {
                        let _ = ready.send(Err(error.to_string()));
                        return;
                    }
                };
                if let Err(error) = instance.init(&ctx).await {
                    let _ = ready.send(Err(error.to_string()));
                    return;
                }
                let signal = ctx.stop_signal().clone();
                if ready.send(Ok((signal, instance.interrupter()))).is_err() {
                    return;
                }
                if go.await != Ok(true) {
                    return;
                }
                match instance.run(&ctx).await {
                    Ok(()) => tracing::info!(service = %name, instance = index, "run() returned"),
                    Err(error) => {
                        ctx.report_error("run", None, &error.to_string());
                        let _ = state.compare_exchange(
                            ServiceState::Running as u8,
                            ServiceState::Degraded as u8,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        );
                    }
                }
            });
            let _ = done.send(());
        })?;
    Ok(())
}

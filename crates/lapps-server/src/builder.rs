//! [`ServerBuilder`] and [`ServiceConfig`]: everything a server is built from.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::sync::{mpsc, oneshot, watch};

use lapps_balancer::{Balancer, Strategy};
use lapps_lua::mqr::Queues;

use crate::acl::Acl;
use crate::bcast::Channels;
use crate::config::{BalancerStrategy, Config, ServiceSettings};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::runtime::{ServiceRuntime, ServiceState, Settings, Shared};
use crate::server::Server;
use crate::service::{Protocol, ServiceFactory, SharedFactory};
use crate::standalone::{StandaloneConfig, StandaloneRuntime};
use crate::worker::{self, WorkerCommand};

/// A reactive service to serve: its name, route, protocol, instances and limits, and the
/// factory that builds its instances.
#[derive(Clone)]
#[must_use]
pub struct ServiceConfig {
    name: String,
    route: Option<String>,
    protocol: Protocol,
    proto_alias: Option<String>,
    instances: usize,
    auto_start: bool,
    max_message_size: usize,
    acl: Acl,
    extra_headers: Vec<(String, String)>,
    allowed_origins: Vec<String>,
    balancer: Option<Strategy>,
    /// The `balancer` key of the service's entry, resolved with the server's
    /// `connection_weight` when the server starts.
    balancer_key: Option<BalancerStrategy>,
    depends: Vec<String>,
    factory: SharedFactory,
}

impl ServiceConfig {
    /// Creates a service named `name`, served at `/<name>`, with 1 instance built by
    /// `factory`, the raw protocol and a 16 MiB message limit (spec §2.6 defaults).
    pub fn new(name: impl Into<String>, factory: impl ServiceFactory) -> Self {
        Self {
            name: name.into(),
            route: None,
            protocol: Protocol::Raw,
            proto_alias: None,
            instances: 1,
            auto_start: true,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            acl: Acl::allow_all(),
            extra_headers: Vec::new(),
            allowed_origins: Vec::new(),
            balancer: None,
            balancer_key: None,
            depends: Vec::new(),
            factory: Arc::new(factory),
        }
    }

    /// Sets how connections are bound to instances (spec §1.4); default: the server's.
    pub fn balancer(mut self, strategy: Strategy) -> Self {
        self.balancer = Some(strategy);
        self
    }

    /// Services that must be running before this one starts (spec §2.6 `depends`).
    pub fn depends(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.depends = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the request target (default `/<name>`).
    pub fn route(mut self, target: impl Into<String>) -> Self {
        self.route = Some(target.into());
        self
    }

    /// Sets the protocol (default raw).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets an extra subprotocol name the service accepts, preferred over the protocol name.
    pub fn proto_alias(mut self, alias: impl Into<String>) -> Self {
        self.proto_alias = Some(alias.into());
        self
    }

    /// Sets the number of instances (default 1; 0 configures the service but never runs it:
    /// its target answers 503).
    pub fn instances(mut self, instances: usize) -> Self {
        self.instances = instances;
        self
    }

    /// Sets whether the service starts with the server (default true).
    pub fn auto_start(mut self, auto_start: bool) -> Self {
        self.auto_start = auto_start;
        self
    }

    /// Sets the largest inbound message and frame, in bytes (default 16 MiB); a larger one
    /// closes the connection with 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the service ACL, checked before the 101 (default: allow all).
    pub fn acl(mut self, acl: Acl) -> Self {
        self.acl = acl;
        self
    }

    /// Adds a header to the 101 response.
    pub fn extra_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// Allows an origin (`scheme://host[:port]`, or `*`). With none, every origin is allowed.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Returns the service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn target(&self) -> String {
        self.route
            .clone()
            .unwrap_or_else(|| format!("/{}", self.name))
    }
}

impl ServiceConfig {
    /// Creates a reactive service from its configuration entry: every key of spec §2.6
    /// that the server applies, with `factory` building its instances.
    pub fn from_settings(
        name: &str,
        settings: &ServiceSettings,
        factory: impl ServiceFactory,
    ) -> Self {
        let mut service = Self::new(name, factory)
            .route(settings.request_target.clone())
            .protocol(settings.protocol)
            .instances(settings.instances)
            .auto_start(settings.auto_start)
            .max_message_size(settings.max_inbound_message_size)
            .acl(settings.acl.clone());
        service.proto_alias.clone_from(&settings.proto_alias);
        service.depends.clone_from(&settings.depends);
        service.balancer_key = settings.balancer;
        service.extra_headers.clone_from(&settings.extra_headers);
        service
            .allowed_origins
            .clone_from(&settings.allowed_origins);
        service
    }
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("name", &self.name)
            .field("route", &self.target())
            .field("protocol", &self.protocol)
            .field("instances", &self.instances)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Server`]: settings, services and listeners, then [`bind`](Self::bind).
///
/// Every setting has the default of spec §2.4.
#[derive(Debug)]
#[must_use]
pub struct ServerBuilder {
    workers: usize,
    listeners: usize,
    max_connections: usize,
    settings: Settings,
    acl: Acl,
    tls: Option<Arc<lapps_tls::rustls::ServerConfig>>,
    services: Vec<ServiceConfig>,
    standalone: Vec<StandaloneConfig>,
    balancer: Strategy,
    connection_weight: f64,
    bound: Vec<std::net::TcpListener>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    /// Creates a builder with the defaults of spec §2.4 and no services.
    pub fn new() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            listeners: 2,
            max_connections: 10_000,
            settings: Settings {
                max_header_size: 8192,
                handshake_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(120),
                ping_interval: Duration::from_secs(30),
                max_outbound_buffer: 4 << 20,
                input_buffer_size: 2048,
                auto_fragment: false,
                metrics: false,
                max_connections: 0,
            },
            acl: Acl::allow_all(),
            tls: None,
            services: Vec::new(),
            standalone: Vec::new(),
            balancer: Strategy::RoundRobin,
            connection_weight: 1.0,
            bound: Vec::new(),
        }
    }

    /// Creates a builder with the server settings of `config` (`ws.json`): workers, limits,
    /// timeouts, the global ACL, metrics and TLS. Services are added separately, with
    /// [`ServiceConfig::from_settings`], because what implements them (Lua, Rust) is the
    /// caller's choice; the listen address is [`listen_address`].
    ///
    /// # Errors
    ///
    /// A TLS error naming the certificate or key file when `tls` is true and they cannot be
    /// loaded, or a configuration error when `tls` is true in a build without the `tls`
    /// feature.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let server = &config.server;
        let mut builder = Self::new()
            .workers(server.workers.workers)
            .listeners(usize::try_from(server.listeners).unwrap_or(usize::MAX))
            .max_connections(server.workers.max_connections)
            .handshake_timeout(server.handshake_timeout)
            .idle_timeout(server.idle_timeout)
            .ping_interval(server.ping_interval)
            .max_outbound_buffer(server.max_outbound_buffer)
            .max_header_size(server.max_header_size)
            .input_buffer_size(server.workers.input_buffer_size)
            .auto_fragment(server.workers.auto_fragment)
            .metrics(server.metrics)
            .balancer(
                Strategy::from_name(server.balancer.as_str(), server.connection_weight)
                    .unwrap_or(Strategy::RoundRobin),
            )
            .connection_weight(server.connection_weight)
            .acl(server.acl.clone());
        if server.tls {
            if !cfg!(feature = "tls") {
                return Err(Error::config(
                    "ws.json: tls: true needs a lapps built with the tls feature".to_owned(),
                ));
            }
            let files = &server.tls_certificates;
            let tls = lapps_tls::ServerTlsConfig::from_pem_files(&files.cert, &files.key)
                .and_then(|tls| tls.versions(server.tls_server_version).build())
                .map_err(|e| Error::tls("cannot set up TLS (tls_certificates)".to_owned(), e))?;
            builder = builder.tls(tls);
        }
        Ok(builder)
    }

    /// Sets the number of worker threads (default: the number of cores; at least 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Sets the number of accept loops on the listen address (default 2; with port 0, one).
    pub fn listeners(mut self, listeners: usize) -> Self {
        self.listeners = listeners.max(1);
        self
    }

    /// Sets the per-worker connection limit (default 10 000): the server takes at most
    /// `workers × max_connections` open connections and answers 503 beyond.
    pub fn max_connections(mut self, per_worker: usize) -> Self {
        self.max_connections = per_worker.max(1);
        self
    }

    /// Sets the time allowed for the TLS handshake plus the upgrade request, and for the
    /// peer's Close after ours (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.settings.handshake_timeout = timeout;
        self
    }

    /// Sets the receive-silence limit, also the outbound stall limit (default 120 s; zero
    /// disables both).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings.idle_timeout = timeout;
        self
    }

    /// Sets the keepalive ping interval (default 30 s; zero disables it).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.settings.ping_interval = interval;
        self
    }

    /// Sets the per-connection limit on queued outbound bytes (default 4 MiB).
    pub fn max_outbound_buffer(mut self, bytes: usize) -> Self {
        self.settings.max_outbound_buffer = bytes;
        self
    }

    /// Sets the largest accepted request head (default 8 KiB); a larger one gets 431.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.settings.max_header_size = bytes;
        self
    }

    /// Sets the size of a connection's first socket read (default 2048 bytes; a tuning knob
    /// only). Reads grow, up to 32 KiB or this size, after reads that fill them.
    pub fn input_buffer_size(mut self, bytes: usize) -> Self {
        self.settings.input_buffer_size = bytes.max(1);
        self
    }

    /// Splits large outbound messages into 1392-byte frames, as LAppS does (default off).
    pub fn auto_fragment(mut self, on: bool) -> Self {
        self.settings.auto_fragment = on;
        self
    }

    /// Serves `GET /healthz` and `GET /metrics` (default off).
    pub fn metrics(mut self, on: bool) -> Self {
        self.settings.metrics = on;
        self
    }

    /// Sets the global ACL, applied at accept (default: allow all).
    pub fn acl(mut self, acl: Acl) -> Self {
        self.acl = acl;
        self
    }

    /// Serves TLS with `config` (build one with `lapps_tls::ServerTlsConfig`).
    pub fn tls(mut self, config: Arc<lapps_tls::rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Adds a reactive service.
    pub fn service(mut self, service: ServiceConfig) -> Self {
        self.services.push(service);
        self
    }

    /// Adds a standalone service (spec §3.5): `init` and `run` on threads of its own.
    pub fn standalone(mut self, service: StandaloneConfig) -> Self {
        self.standalone.push(service);
        self
    }

    /// Sets the default balancer strategy of the reactive services (spec §1.4; default
    /// `round_robin`).
    pub fn balancer(mut self, strategy: Strategy) -> Self {
        self.balancer = strategy;
        self
    }

    /// Sets `connection_weight` (spec §2.4, default 1), used by services whose
    /// configuration entry selects the `weighted` balancer.
    pub fn connection_weight(mut self, weight: f64) -> Self {
        self.connection_weight = weight;
        self
    }

    /// Serves on an already bound listener as well (tests and embedders bind
    /// `127.0.0.1:0` themselves).
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.bound.push(listener);
        self
    }

    /// Validates everything, binds `addr` (a host name is resolved once; the first address
    /// is used), starts the workers and the services, and begins accepting.
    ///
    /// # Errors
    ///
    /// A configuration error (a duplicate or malformed route, a duplicate service name), a
    /// bind error (naming the address), or a failure to start the worker threads. A service
    /// whose instances fail to start does not fail the server (spec §1.7): it is logged and
    /// its state is `failed`.
    pub async fn bind(
        self,
        addr: impl tokio::net::ToSocketAddrs + std::fmt::Display,
    ) -> Result<Server, Error> {
        let name = addr.to_string();
        let resolved = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| Error::bind(format!("cannot resolve {name}"), e))?
            .next()
            .ok_or_else(|| Error::config(format!("{name} resolves to no address")))?;
        self.launch(Some(resolved)).await
    }

    /// Like [`bind`](Self::bind), but serves only the listeners given to
    /// [`listener`](Self::listener), or none (a server that runs services only).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub async fn start(self) -> Result<Server, Error> {
        self.launch(None).await
    }

    async fn launch(self, addr: Option<SocketAddr>) -> Result<Server, Error> {
        let routes = self.check_services()?;
        let order = self.start_order()?;
        let mut listeners = self.bound;
        if let Some(addr) = addr {
            listeners.extend(bind_listeners(addr, self.listeners)?);
        }
        let local_addrs = listeners
            .iter()
            .map(std::net::TcpListener::local_addr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::bind("cannot read the bound address".to_owned(), e))?;
        let metrics = Arc::new(Metrics::new());
        let (balancer, weight) = (self.balancer, self.connection_weight);
        let services: Vec<Arc<ServiceRuntime>> = self
            .services
            .into_iter()
            .map(|s| Arc::new(runtime_service(s, &metrics, &balancer, weight)))
            .collect();
        let standalone: Vec<Arc<StandaloneRuntime>> = self
            .standalone
            .into_iter()
            .map(|s| {
                let service_metrics = metrics.service(&s.name);
                Arc::new(StandaloneRuntime::new(s, service_metrics))
            })
            .collect();
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..self.workers).map(|_| mpsc::unbounded_channel()).unzip();
        let mut settings = self.settings;
        settings.max_connections = self.workers.saturating_mul(self.max_connections);
        let shared = Arc::new(Shared {
            settings,
            routes: routes
                .into_iter()
                .filter_map(|(route, i)| services.get(i).map(|s| (route, Arc::clone(s))))
                .collect(),
            services: services.clone(),
            standalone: standalone.clone(),
            registry: Arc::new(Registry::default()),
            channels: Arc::new(Channels::default()),
            queues: Arc::new(Queues::new()),
            metrics,
            acl: self.acl,
            tls: self.tls,
            open: std::sync::atomic::AtomicUsize::new(0),
            shutdown: watch::channel(false).0,
            workers: senders.clone(),
        });
        let mut done = Vec::with_capacity(self.workers);
        for (index, commands) in receivers.into_iter().enumerate() {
            done.push(
                worker::spawn(index, Arc::clone(&shared), commands)
                    .map_err(|e| Error::runtime("cannot start a worker thread".to_owned(), e))?,
            );
        }
        start_in_order(&order, &services, &standalone, &shared).await;
        for (i, listener) in listeners.into_iter().enumerate() {
            listener
                .set_nonblocking(true)
                .map_err(|e| Error::bind("cannot configure a listening socket".to_owned(), e))?;
            let _ = senders[i % senders.len()].send(WorkerCommand::Listen(listener));
        }
        tracing::info!(
            addrs = ?local_addrs,
            services = ?services.iter().map(|s| format!("{} ({})", s.name, s.state().as_str())).collect::<Vec<_>>(),
            "lapps listening"
        );
        Ok(Server::new(shared, local_addrs, done))
    }

    /// Orders the services so that each starts after what it `depends` on (spec §2.6);
    /// unknown names are ignored (the configuration warned about them), a cycle is an error.
    fn start_order(&self) -> Result<Vec<Start>, Error> {
        let mut nodes: Vec<(&str, &[String], Start)> = Vec::new();
        for (i, s) in self.services.iter().enumerate() {
            nodes.push((&s.name, &s.depends, Start::Reactive(i)));
        }
        for (i, s) in self.standalone.iter().enumerate() {
            nodes.push((&s.name, &s.depends, Start::Standalone(i)));
        }
        let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.0, i)).collect();
        // 0: not visited, 1: on the current path, 2: done.
        let mut mark = vec![0u8; nodes.len()];
        let mut order = Vec::with_capacity(nodes.len());
        for i in 0..nodes.len() {
            visit(i, &nodes, &index, &mut mark, &mut Vec::new(), &mut order)?;
        }
        Ok(order)
    }

    /// Checks names and routes; returns the route table (target to service index).
    fn check_services(&self) -> Result<HashMap<String, usize>, Error> {
        let mut routes = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for service in &self.standalone {
            if !names.insert(service.name.as_str()) {
                return Err(Error::config(format!(
                    "service {} is defined twice",
                    service.name
                )));
            }
        }
        for (i, service) in self.services.iter().enumerate() {
            if !names.insert(service.name.as_str()) {
                return Err(Error::config(format!(
                    "service {} is defined twice",
                    service.name
                )));
            }
            let target = service.target();
            if !target.starts_with('/')
                || target.contains(['?', '#'])
                || target.contains(char::is_whitespace)
            {
                return Err(Error::config(format!(
                    "service {}: request_target {target:?} must start with / and contain no ?, # or whitespace",
                    service.name
                )));
            }
            if self.settings.metrics && (target == "/healthz" || target == "/metrics") {
                return Err(Error::config(format!(
                    "service {}: request_target {target} is taken by the metrics endpoints",
                    service.name
                )));
            }
            if let Some(other) = routes.insert(target.clone(), i) {
                return Err(Error::config(format!(
                    "services {} and {} share the request_target {target}",
                    self.services[other].name, service.name
                )));
            }
        }
        Ok(routes)
    }
}

fn runtime_service(
    service: ServiceConfig,
    metrics: &Metrics,
    default: &Strategy,
    weight: f64,
) -> ServiceRuntime {
    let service_metrics = metrics.service(&service.name);
    let strategy = service
        .balancer
        .or_else(|| {
            service
                .balancer_key
                .and_then(|b| Strategy::from_name(b.as_str(), weight))
        })
        .unwrap_or(*default);
    ServiceRuntime::new(
        Arc::from(service.name.as_str()),
        service.protocol,
        service.proto_alias,
        service.instances,
        service.auto_start,
        service.max_message_size,
        service.acl,
        service.extra_headers,
        &service.allowed_origins,
        service.factory,
        service_metrics,
        Balancer::new(strategy),
        service.depends,
    )
}

/// Depth-first visit for [`ServerBuilder::start_order`]; `mark`: 0 new, 1 on the path, 2 done.
fn visit(
    i: usize,
    nodes: &[(&str, &[String], Start)],
    index: &HashMap<&str, usize>,
    mark: &mut [u8],
    path: &mut Vec<usize>,
    order: &mut Vec<Start>,
) -> Result<(), Error> {
    match mark[i] {
        2 => return Ok(()),
        1 => {
            let from = path.iter().position(|&p| p == i).unwrap_or(0);
            let cycle: Vec<&str> = path[from..]
                .iter()
                .chain([&i])
                .map(|&p| nodes[p].0)
                .collect();
            return Err(Error::config(format!(
                "services depend on each other in a cycle: {}",
                cycle.join(" -> ")
            )));
        }
        _ => {}
    }
    mark[i] = 1;
    path.push(i);
    for dep in nodes[i].1 {
        if let Some(&d) = index.get(dep.as_str()).filter(|&&d| d != i) {
            visit(d, nodes, index, mark, path, order)?;
        }
    }
    path.pop();
    mark[i] = 2;
    order.push(nodes[i].2);
    Ok(())
}

/// A service, by its kind and index, in start order.
#[derive(Clone, Copy, Debug)]
enum Start {
    Reactive(usize),
    Standalone(usize),
}

/// Starts the auto-start services in dependency order; a service whose dependency is not
/// running fails instead of starting (spec §10: "Failed dependency").
async fn start_in_order(
    order: &[Start],
    services: &[Arc<ServiceRuntime>],
    standalone: &[Arc<StandaloneRuntime>],
    shared: &Arc<Shared>,
) {
    let state_of = |name: &str| {
        services
            .iter()
            .find(|s| &*s.name == name)
            .map(|s| s.state())
            .or_else(|| {
                standalone
                    .iter()
                    .find(|s| &*s.name == name)
                    .map(|s| s.state())
            })
    };
    for start in order {
        let (name, auto_start, depends) = match *start {
            Start::Reactive(i) => (
                &services[i].name,
                services[i].auto_start,
                &services[i].depends,
            ),
            Start::Standalone(i) => (
                &standalone[i].name,
                standalone[i].auto_start,
                &standalone[i].depends,
            ),
        };
        if !auto_start {
            continue;
        }
        let failed_dep = depends.iter().find(|d| {
            d.as_str() != &**name
                && state_of(d)
                    .is_some_and(|s| !matches!(s, ServiceState::Running | ServiceState::Degraded))
        });
        if let Some(dep) = failed_dep {
            tracing::error!(service = %name, dependency = %dep, "service not started: its dependency is not running");
            match *start {
                Start::Reactive(i) => services[i].set_state(ServiceState::Failed),
                Start::Standalone(i) => standalone[i].fail(),
            }
            continue;
        }
        match *start {
            Start::Reactive(i) => start_service(&services[i], &shared.workers).await,
            Start::Standalone(i) => standalone[i].start(shared).await,
        }
    }
}

/// Starts every instance of `service` (instance `i` on worker `i mod workers`); on any
/// failure, stops the ones that started and marks the service failed (spec §3.2).
pub(crate) async fn start_service(
    service: &Arc<ServiceRuntime>,
    workers: &[mpsc::UnboundedSender<WorkerCommand>],
) {
    service.set_state(ServiceState::Starting);
    let mut started = Vec::with_capacity(service.instances);
    let mut failure = None;
    for index in 0..service.instances {
        let (reply, result) = oneshot::channel();
        let command = WorkerCommand::StartInstance {
            service: Arc::clone(service),
            index,
            reply,
        };
        if workers[index % workers.len()].send(command).is_err() {
            failure = Some(format!("instance {index}: its worker is gone"));
            break;
        }
        match result.await {
            Ok(Ok(handle)) => started.push(handle),
            Ok(Err(error)) => {
                failure = Some(format!("instance {index}: {error}"));
                break;
            }
            Err(_) => {
                failure = Some(format!("instance {index}: its worker is gone"));
                break;
            }
        }
    }
    if let Some(error) = failure {
        tracing::error!(service = %service.name, %error, "service failed to start");
        for handle in started {
            let _ = handle.events.send(crate::instance::InstanceEvent::Stop);
        }
        service.set_state(ServiceState::Failed);
        return;
    }
    let running = !started.is_empty();
    service.set_instances(started);
    service.set_state(if running {
        ServiceState::Running
    } else {
        ServiceState::Stopped
    });
}

/// Binds `count` sockets to `addr` with `SO_REUSEPORT`, so the kernel spreads connections
/// over the accept loops (spec §1.7); with port 0, one socket.
fn bind_listeners(addr: SocketAddr, count: usize) -> Result<Vec<std::net::TcpListener>, Error> {
    let first = bind_one(addr)?;
    let bound = first
        .local_addr()
        .map_err(|e| Error::bind(format!("cannot bind {addr}"), e))?;
    let mut listeners = vec![first];
    if addr.port() != 0 {
        for _ in 1..count {
            listeners.push(bind_one(bound)?);
        }
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr) -> Result<std::net::TcpListener, Error> {
    let fail = |e| Error::bind(format!("cannot bind {addr}"), e);
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(SockProtocol::TCP),
    )
    .map_err(fail)?;
    socket.set_reuse_address(true).map_err(fail)?;
    #[cfg(unix)]
    socket.set_reuse_port(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(1024).map_err(fail)?;
    Ok(socket.into())
}

/// Returns the `ip:port` the configuration listens on, with an IPv6 literal in brackets,
/// ready for [`ServerBuilder::bind`]; `None` when `listeners` is 0 (a process that runs
/// standalone services only).
pub fn listen_address(config: &Config) -> Option<String> {
    let server = &config.server;
    if server.listeners == 0 {
        return None;
    }
    let ip = &server.ip;
    Some(if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]:{}", server.port)
    } else {
        format!("{ip}:{}", server.port)
    })
}

/// The default largest inbound message: 16 MiB (spec §2.6).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

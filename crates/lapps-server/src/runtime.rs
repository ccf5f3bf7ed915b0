//! The state the workers share: settings, routes, services and their instances.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use lapps_balancer::{Balancer, Load};
use lapps_lua::mqr::Queues;

use crate::acl::Acl;
use crate::bcast::Channels;
use crate::instance::{InstanceHandle, Services};
use crate::metrics::{Metrics, ServiceMetrics};
use crate::registry::Registry;
use crate::service::{Protocol, SharedFactory};
use crate::standalone::StandaloneRuntime;
use crate::worker::WorkerCommand;

/// Settings every connection applies, resolved from the configuration.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) max_header_size: usize,
    pub(crate) handshake_timeout: Duration,
    /// Zero disables the idle timeout and the stall close.
    pub(crate) idle_timeout: Duration,
    /// Zero disables keepalive pings.
    pub(crate) ping_interval: Duration,
    pub(crate) max_outbound_buffer: usize,
    pub(crate) input_buffer_size: usize,
    pub(crate) auto_fragment: bool,
    pub(crate) metrics: bool,
    /// `workers × max_connections`.
    pub(crate) max_connections: usize,
}

/// Shared by every worker of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    /// Reactive services by request target.
    pub(crate) routes: HashMap<String, Arc<ServiceRuntime>>,
    pub(crate) services: Vec<Arc<ServiceRuntime>>,
    pub(crate) standalone: Vec<Arc<StandaloneRuntime>>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) channels: Arc<Channels>,
    pub(crate) queues: Arc<Queues>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) acl: Acl,
    pub(crate) tls: Option<Arc<lapps_tls::rustls::ServerConfig>>,
    /// Open WebSocket connections, for `max_connections`.
    pub(crate) open: AtomicUsize,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) workers: Vec<mpsc::UnboundedSender<WorkerCommand>>,
}

impl Shared {
    /// What an instance context reaches.
    pub(crate) fn services(&self) -> Services {
        Services {
            registry: Arc::clone(&self.registry),
            channels: Arc::clone(&self.channels),
            queues: Arc::clone(&self.queues),
            fragment_size: self
                .settings
                .auto_fragment
                .then_some(lapps_proto::config::LAPPS_FRAGMENT_SIZE),
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Counts a new open connection; false if that would exceed `max_connections`.
    pub(crate) fn try_open(&self) -> bool {
        let max = self.settings.max_connections;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn closed_one(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The lifecycle states of a service (spec §7.1).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[repr(u8)]
pub enum ServiceState {
    /// Not running.
    Stopped,
    /// Its instances are being created.
    Starting,
    /// Serving.
    Running,
    /// Its last start failed.
    Failed,
    /// Being stopped.
    Stopping,
    /// Running, but a standalone instance's `run` ended with an error (spec §3.5).
    Degraded,
}

impl ServiceState {
    /// Returns the name used in `/healthz` and the metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Failed => "failed",
            Self::Stopping => "stopping",
            Self::Degraded => "degraded",
        }
    }

    pub(crate) const fn from_u8(value: u8) -> Self {
        match value {
            5 => Self::Degraded,
            1 => Self::Starting,
            2 => Self::Running,
            3 => Self::Failed,
            4 => Self::Stopping,
            _ => Self::Stopped,
        }
    }
}

/// A reactive service as the server runs it.
#[derive(Debug)]
pub(crate) struct ServiceRuntime {
    pub(crate) name: Arc<str>,
    pub(crate) protocol: Protocol,
    pub(crate) proto_alias: Option<String>,
    pub(crate) instances: usize,
    pub(crate) auto_start: bool,
    pub(crate) max_message_size: usize,
    pub(crate) acl: Acl,
    pub(crate) extra_headers: Vec<(String, String)>,
    /// Normalised origins (`scheme://host:port`, lower case); empty allows all.
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) factory: SharedFactory,
    pub(crate) metrics: Arc<ServiceMetrics>,
    state: AtomicU8,
    running: Mutex<Vec<InstanceHandle>>,
    balancer: Balancer,
    /// Services that must run before this one (spec §2.6).
    pub(crate) depends: Vec<String>,
}

impl ServiceRuntime {
    #[expect(
        clippy::too_many_arguments,
        reason = "one place builds it, from ServiceConfig"
    )]
    pub(crate) fn new(
        name: Arc<str>,
        protocol: Protocol,
        proto_alias: Option<String>,
        instances: usize,
        auto_start: bool,
        max_message_size: usize,
        acl: Acl,
        extra_headers: Vec<(String, String)>,
        allowed_origins: &[String],
        factory: SharedFactory,
        metrics: Arc<ServiceMetrics>,
        balancer: Balancer,
        depends: Vec<String>,
    ) -> Self {
        if protocol == Protocol::LAppS {
            metrics.init_protocol_errors();
        }
        Self {
            name,
            protocol,
            proto_alias,
            instances,
            auto_start,
            max_message_size,
            acl,
            extra_headers,
            allowed_origins: allowed_origins
                .iter()
                .filter_map(|o| {
                    if o == "*" {
                        Some("*".to_owned())
                    } else {
                        normalize_origin(o)
                    }
                })
                .collect(),
            factory,
            metrics,
            state: AtomicU8::new(ServiceState::Stopped as u8),
            running: Mutex::new(Vec::new()),
            balancer,
            depends,
        }
    }

    pub(crate) fn state(&self) -> ServiceState {
        ServiceState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, state: ServiceState) {
        self.state.store(state as u8, Ordering::Release);
    }

    pub(crate) fn set_instances(&self, instances: Vec<InstanceHandle>) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = instances;
    }

    pub(crate) fn take_instances(&self) -> Vec<InstanceHandle> {
        std::mem::take(&mut *self.running.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Returns `(index, connections, queued)` of each running instance, for the metrics.
    pub(crate) fn instance_loads(&self) -> Vec<(usize, usize, usize)> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running
            .iter()
            .map(|i| {
                (
                    i.index,
                    i.load.connections.load(Ordering::Relaxed),
                    i.load.queued.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Binds a new connection to an instance, as the service's balancer strategy says
    /// (spec §1.4).
    pub(crate) fn pick(&self) -> Option<InstanceHandle> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let loads: Vec<Load> = running
            .iter()
            .map(|i| Load {
                running: !i.stop.is_stopped(),
                connections: i.load.connections.load(Ordering::Relaxed),
                queued: i.load.queued.load(Ordering::Relaxed),
            })
            .collect();
        let instance = running.get(self.balancer.pick(&loads)?)?.clone();
        instance.load.connections.fetch_add(1, Ordering::Relaxed);
        Some(instance)
    }

    /// The subprotocol names the service accepts, preferred first (spec §5.4).
    pub(crate) fn accepted_protocols(&self) -> Vec<&str> {
        self.proto_alias
            .as_deref()
            .into_iter()
            .chain([self.protocol.as_str()])
            .collect()
    }

    /// Spec §2.6 `allowed_origins`: empty allows every origin; otherwise one entry must
    /// match, compared case-insensitively with default ports made explicit.
    pub(crate) fn origin_allowed(&self, origin: &str) -> bool {
        if self.allowed_origins.is_empty() || self.allowed_origins.iter().any(|o| o == "*") {
            return true;
        }
        normalize_origin(origin).is_some_and(|o| self.allowed_origins.contains(&o))
    }
}

/// Returns `scheme://host:port` in lower case with the default port made explicit, or
/// `None` if `origin` is not of that form.
pub(crate) fn normalize_origin(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return None,
    };
    let authority = rest.trim_end_matches('/').to_ascii_lowercase();
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return None;
    }
    // A bracketed IPv6 host may contain colons; the port follows the bracket.
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (
            authority[..i].to_owned(),
            authority[i + 1..].parse::<u16>().ok()?,
        ),
        _ => (authority.clone(), default_port),
    };
    Some(format!("{scheme}://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::normalize_origin;

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            normalize_origin("https://Example.com").as_deref(),
            Some("https://example.com:443")
        );
        assert_eq!(
            normalize_origin("https://example.com:443/").as_deref(),
            Some("https://example.com:443")
        );
        assert_eq!(
            normalize_origin("http://example.com:8080").as_deref(),
            Some("http://example.com:8080")
        );
        assert_eq!(
            normalize_origin("http://[::1]").as_deref(),
            Some("http://[::1]:80")
        );
        assert_eq!(
            normalize_origin("http://[::1]:81").as_deref(),
            Some("http://[::1]:81")
        );
        assert_eq!(normalize_origin("null"), None);
        assert_eq!(normalize_origin("ftp://x"), None);
        assert_eq!(normalize_origin("http://x:99999"), None);
    }
}

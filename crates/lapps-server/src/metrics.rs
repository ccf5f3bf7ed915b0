//! Counters, always maintained, rendered in the Prometheus text format (version 0.0.4) for
//! `GET /metrics` (spec §8.2) and available to embedders through [`Metrics::render`] (the
//! counters) and [`crate::Server::render_metrics`] (everything `/metrics` shows, with the
//! gauges read from the live server: channels, service states, instances, `mqr` queues).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::bcast::Channels;
use crate::runtime::{ServiceState, Shared};

/// Who ended a connection (the `initiator` label of `lapps_closes_total`).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Initiator {
    /// The client sent the first Close.
    Client,
    /// The server sent the first Close.
    Server,
    /// The transport ended with no close handshake.
    Transport,
}

impl Initiator {
    const fn label(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
            Self::Transport => "transport",
        }
    }
}

/// Why a handshake did not reach 101 (the `status` label of
/// `lapps_handshake_failures_total`).
pub(crate) const HANDSHAKE_FAILURE_LABELS: [&str; 8] =
    ["400", "403", "404", "405", "426", "431", "503", "timeout"];

/// The counters of a whole server.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    pub(crate) tcp_accepted: AtomicU64,
    pub(crate) tcp_rejected: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) tls_handshake_failures: AtomicU64,
    handshake_failures: [AtomicU64; HANDSHAKE_FAILURE_LABELS.len()],
    services: Mutex<BTreeMap<String, Arc<ServiceMetrics>>>,
}

/// The counters of one service.
#[derive(Debug, Default)]
pub struct ServiceMetrics {
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_open: AtomicI64,
    pub(crate) messages_received: AtomicU64,
    pub(crate) messages_sent: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) backpressure_rejections: AtomicU64,
    closes: Mutex<BTreeMap<(Initiator, Option<u16>), u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Server-generated LAppS errors by code.
    protocol_errors: Mutex<BTreeMap<i64, u64>>,
}

/// The server-generated LAppS error codes (the `code` label of
/// `lapps_protocol_errors_total`).
pub(crate) const PROTOCOL_ERROR_CODES: [i64; 4] = [-32700, -32600, -32601, -32603];

/// Every state of a service, in the order of the `lapps_service_state` samples.
const SERVICE_STATES: [ServiceState; 6] = [
    ServiceState::Stopped,
    ServiceState::Starting,
    ServiceState::Running,
    ServiceState::Failed,
    ServiceState::Stopping,
    ServiceState::Degraded,
];

impl Metrics {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            tcp_accepted: AtomicU64::new(0),
            tcp_rejected: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
            handshake_failures: std::array::from_fn(|_| AtomicU64::new(0)),
            services: Mutex::new(BTreeMap::new()),
        }
    }

    /// Returns (creating them on first use) the counters of `service`.
    pub(crate) fn service(&self, service: &str) -> Arc<ServiceMetrics> {
        let mut services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(services.entry(service.to_owned()).or_default())
    }

    /// Counts a handshake that did not reach 101; `label` is one of
    /// [`HANDSHAKE_FAILURE_LABELS`].
    pub(crate) fn handshake_failed(&self, label: &str) {
        if let Some(i) = HANDSHAKE_FAILURE_LABELS.iter().position(|l| *l == label) {
            self.handshake_failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Returns the number of handshakes that failed with `label`.
    pub fn handshake_failures(&self, label: &str) -> u64 {
        HANDSHAKE_FAILURE_LABELS
            .iter()
            .position(|l| *l == label)
            .map_or(0, |i| self.handshake_failures[i].load(Ordering::Relaxed))
    }

    /// Returns the number of connections open for `service`.
    pub fn connections_open(&self, service: &str) -> i64 {
        self.service(service)
            .connections_open
            .load(Ordering::Relaxed)
    }

    /// Renders the counters this holds in the Prometheus text exposition format 0.0.4:
    /// everything of `/metrics` but the gauges read from the live server, which
    /// [`crate::Server::render_metrics`] adds.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        gauge(&mut out, "lapps_info", "Always 1.");
        let _ = writeln!(
            out,
            "lapps_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        gauge(&mut out, "lapps_uptime_seconds", "Time since startup.");
        let _ = writeln!(
            out,
            "lapps_uptime_seconds {}",
            self.started.elapsed().as_secs_f64()
        );
        let plain = [
            (
                "lapps_tcp_accepted_total",
                "Accepted TCP connections.",
                &self.tcp_accepted,
            ),
            (
                "lapps_tcp_rejected_total",
                "Sockets closed at accept by the global ACL.",
                &self.tcp_rejected,
            ),
            (
                "lapps_accept_errors_total",
                "Failed accept calls.",
                &self.accept_errors,
            ),
            (
                "lapps_tls_handshake_failures_total",
                "Failed TLS handshakes.",
                &self.tls_handshake_failures,
            ),
        ];
        for (name, help, value) in plain {
            counter(&mut out, name, help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        counter(
            &mut out,
            "lapps_handshake_failures_total",
            "Handshakes that did not reach 101.",
        );
        for (label, value) in HANDSHAKE_FAILURE_LABELS
            .iter()
            .zip(&self.handshake_failures)
        {
            let _ = writeln!(
                out,
                "lapps_handshake_failures_total{{status=\"{label}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let services = self
            .services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        render_services(&mut out, &services);
        out
    }
}

impl ServiceMetrics {
    pub(crate) fn record_received(&self, bytes: usize) {
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_sent(&self, bytes: usize) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_close(&self, initiator: Initiator, code: Option<u16>) {
        let mut closes = self.closes.lock().unwrap_or_else(PoisonError::into_inner);
        *closes.entry((initiator, code)).or_default() += 1;
    }

    pub(crate) fn record_error(&self, callback: &'static str) {
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        *errors.entry(callback).or_default() += 1;
    }

    /// Shows every code of [`PROTOCOL_ERROR_CODES`], at 0 until it happens (a LAppS
    /// service's series exist from its start).
    pub(crate) fn init_protocol_errors(&self) {
        let mut errors = self
            .protocol_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for code in PROTOCOL_ERROR_CODES {
            errors.entry(code).or_default();
        }
    }

    /// Counts a LAppS error the server generated and sent (−32700, −32600, −32601, −32603).
    pub(crate) fn record_protocol_error(&self, code: i64) {
        let mut errors = self
            .protocol_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *errors.entry(code).or_default() += 1;
    }

    /// Returns how many server-generated LAppS errors with `code` were sent.
    pub fn protocol_errors(&self, code: i64) -> u64 {
        let errors = self
            .protocol_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        errors.get(&code).copied().unwrap_or(0)
    }

    /// Returns how many connections ended by `initiator` with `code`.
    pub fn closes(&self, initiator: Initiator, code: Option<u16>) -> u64 {
        let closes = self.closes.lock().unwrap_or_else(PoisonError::into_inner);
        closes.get(&(initiator, code)).copied().unwrap_or(0)
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "a table of metric definitions, one entry per metric, reads best in one place"
)]
fn render_services(out: &mut String, services: &BTreeMap<String, Arc<ServiceMetrics>>) {
    type Field = fn(&ServiceMetrics) -> u64;
    let per_service: [(&str, &str, &str, Field); 7] = [
        (
            "lapps_connections_total",
            "counter",
            "Connections opened (101 sent).",
            |m| m.connections_total.load(Ordering::Relaxed),
        ),
        (
            "lapps_connections_open",
            "gauge",
            "Connections currently open.",
            |m| u64::try_from(m.connections_open.load(Ordering::Relaxed)).unwrap_or(0),
        ),
        (
            "lapps_messages_received_total",
            "counter",
            "Complete data messages received.",
            |m| m.messages_received.load(Ordering::Relaxed),
        ),
        (
            "lapps_messages_sent_total",
            "counter",
            "Complete data messages sent.",
            |m| m.messages_sent.load(Ordering::Relaxed),
        ),
        (
            "lapps_bytes_received_total",
            "counter",
            "Data payload bytes received.",
            |m| m.bytes_received.load(Ordering::Relaxed),
        ),
        (
            "lapps_bytes_sent_total",
            "counter",
            "Data payload bytes sent.",
            |m| m.bytes_sent.load(Ordering::Relaxed),
        ),
        (
            "lapps_backpressure_rejections_total",
            "counter",
            "Sends refused with backpressure.",
            |m| m.backpressure_rejections.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, field) in per_service {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (service, metrics) in services {
            let _ = writeln!(
                out,
                "{name}{{service=\"{}\"}} {}",
                escape(service),
                field(metrics)
            );
        }
    }
    counter(out, "lapps_closes_total", "How connections ended.");
    for (service, metrics) in services {
        let closes = metrics
            .closes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for ((initiator, code), n) in closes {
            let code = code.map(|c| c.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "lapps_closes_total{{service=\"{}\",initiator=\"{}\",code=\"{code}\"}} {n}",
                escape(service),
                initiator.label()
            );
        }
    }
    counter(
        out,
        "lapps_lua_errors_total",
        "Errors raised by service callbacks (Lua or Rust).",
    );
    for (service, metrics) in services {
        let errors = metrics
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (callback, n) in errors {
            let _ = writeln!(
                out,
                "lapps_lua_errors_total{{service=\"{}\",callback=\"{callback}\"}} {n}",
                escape(service)
            );
        }
    }
    counter(
        out,
        "lapps_protocol_errors_total",
        "Server-generated LAppS errors (-32700, -32600, -32601, -32603).",
    );
    for (service, metrics) in services {
        let errors = metrics
            .protocol_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (code, n) in errors {
            let _ = writeln!(
                out,
                "lapps_protocol_errors_total{{service=\"{}\",code=\"{code}\"}} {n}",
                escape(service)
            );
        }
    }
}

/// Renders all of `/metrics`: the counters of [`Metrics::render`], then the gauges read from
/// the live server (each source locked once).
pub(crate) fn render_server(shared: &Shared) -> String {
    let mut out = shared.metrics.render();
    render_bcast(&mut out, &shared.channels);
    render_states(&mut out, shared);
    render_instances(&mut out, shared);
    gauge(
        &mut out,
        "lapps_mqr_queue_depth",
        "Messages waiting in the queue.",
    );
    for (queue, depth) in shared.queues.depths() {
        let _ = writeln!(
            out,
            "lapps_mqr_queue_depth{{queue=\"{}\"}} {depth}",
            escape(&queue)
        );
    }
    out
}

fn render_bcast(out: &mut String, channels: &Channels) {
    counter(
        out,
        "lapps_bcast_dropped_total",
        "Broadcast deliveries skipped because a subscriber's buffer was full.",
    );
    let _ = writeln!(
        out,
        "lapps_bcast_dropped_total {}",
        channels.dropped.load(Ordering::Relaxed)
    );
    let (channel_count, subscriptions) = channels.sizes();
    gauge(out, "lapps_bcast_channels", "Broadcast channels.");
    let _ = writeln!(out, "lapps_bcast_channels {channel_count}");
    gauge(
        out,
        "lapps_bcast_subscriptions",
        "Subscriptions over all broadcast channels.",
    );
    let _ = writeln!(out, "lapps_bcast_subscriptions {subscriptions}");
}

/// `lapps_service_state`, reactive services then standalone ones, in configuration order.
fn render_states(out: &mut String, shared: &Shared) {
    gauge(
        out,
        "lapps_service_state",
        "1 for the service's current state, 0 for the others.",
    );
    let states = shared
        .services
        .iter()
        .map(|s| (&*s.name, s.state()))
        .chain(shared.standalone.iter().map(|s| (&*s.name, s.state())));
    for (service, current) in states {
        let service = escape(service);
        for state in SERVICE_STATES {
            let _ = writeln!(
                out,
                "lapps_service_state{{service=\"{service}\",state=\"{}\"}} {}",
                state.as_str(),
                u8::from(state == current)
            );
        }
    }
}

/// The per-instance gauges of the running instances of reactive services.
fn render_instances(out: &mut String, shared: &Shared) {
    let loads: Vec<_> = shared
        .services
        .iter()
        .map(|s| (escape(&s.name), s.instance_loads()))
        .collect();
    gauge(
        out,
        "lapps_instance_connections",
        "Connections bound to the instance.",
    );
    for (service, instances) in &loads {
        for (index, connections, _) in instances {
            let _ = writeln!(
                out,
                "lapps_instance_connections{{service=\"{service}\",instance=\"{index}\"}} {connections}"
            );
        }
    }
    gauge(
        out,
        "lapps_instance_queue_depth",
        "Events waiting in the instance's queue.",
    );
    for (service, instances) in &loads {
        for (index, _, queued) in instances {
            let _ = writeln!(
                out,
                "lapps_instance_queue_depth{{service=\"{service}\",instance=\"{index}\"}} {queued}"
            );
        }
    }
}

fn counter(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
}

fn gauge(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Escapes a label value (Prometheus text format: backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::{Metrics, escape};

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("line\nnext"), r"line\nnext");
        assert_eq!(escape("plain-name_1"), "plain-name_1");
    }

    #[test]
    fn protocol_errors_are_counted_by_code() {
        let metrics = Metrics::new();
        let service = metrics.service("x");
        service.init_protocol_errors();
        service.record_protocol_error(-32700);
        service.record_protocol_error(-32700);
        service.record_protocol_error(-32603);
        assert_eq!(service.protocol_errors(-32700), 2);
        assert_eq!(service.protocol_errors(-32600), 0);
        let text = metrics.render();
        for line in [
            r#"lapps_protocol_errors_total{service="x",code="-32700"} 2"#,
            r#"lapps_protocol_errors_total{service="x",code="-32600"} 0"#,
            r#"lapps_protocol_errors_total{service="x",code="-32601"} 0"#,
            r#"lapps_protocol_errors_total{service="x",code="-32603"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
        assert_eq!(
            text.matches("# TYPE lapps_protocol_errors_total counter\n")
                .count(),
            1
        );
    }
}

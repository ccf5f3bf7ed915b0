//! Counters, always maintained, rendered in the Prometheus text format (version 0.0.4) for
//! `GET /metrics` (spec §8.2) and available to embedders through [`Metrics::render`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

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
}

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

    /// Renders every metric in the Prometheus text exposition format 0.0.4.
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

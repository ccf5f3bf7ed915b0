//! What a run reports: the JSON line of each mode, latency percentiles, the error log and the
//! progress bar.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::IsTerminal as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::args::Protocol;

/// The result of `lapps-load echo`.
#[derive(Clone, Debug, Serialize)]
pub struct EchoReport {
    /// Always `"echo"`.
    pub mode: &'static str,
    /// The URL as given.
    pub url: String,
    /// `"raw"` or `"lapps"`.
    pub protocol: Protocol,
    /// Connections asked for.
    pub connections: usize,
    /// Connections that opened (and, for `lapps`, logged in).
    pub open: usize,
    /// Payload size in bytes.
    pub size: usize,
    /// Text messages rather than binary.
    pub text: bool,
    /// Length of the measured period.
    pub seconds: f64,
    /// Round trips completed in the measured period.
    pub messages: u64,
    /// `messages / seconds`.
    pub msgs_per_sec: f64,
    /// Round-trip percentiles.
    #[serde(flatten)]
    pub latency: Latency,
    /// Connections opened per second in the connect phase.
    pub connect_per_sec: f64,
    /// Failed connections, mismatched echoes and protocol errors.
    pub errors: u64,
    /// The first few errors, for stderr; not part of the JSON line.
    #[serde(skip)]
    pub error_samples: Vec<String>,
}

/// The result of `lapps-load idle`.
#[derive(Clone, Debug, Serialize)]
pub struct IdleReport {
    /// Always `"idle"`.
    pub mode: &'static str,
    /// The URL as given.
    pub url: String,
    /// Connections asked for.
    pub connections: usize,
    /// Connections open (handshake complete).
    pub open: usize,
    /// Length of the connect phase.
    pub seconds: f64,
    /// `open / seconds`.
    pub connect_per_sec: f64,
    /// Connections that failed to open.
    pub errors: u64,
    /// The first few errors, for stderr; not part of the JSON line.
    #[serde(skip)]
    pub error_samples: Vec<String>,
}

/// The result of `lapps-load bcast`.
#[derive(Clone, Debug, Serialize)]
pub struct BcastReport {
    /// Always `"bcast"`.
    pub mode: &'static str,
    /// The URL as given.
    pub url: String,
    /// Subscriber connections asked for.
    pub connections: usize,
    /// Subscribers that opened and subscribed.
    pub open: usize,
    /// Padding bytes in each broadcast.
    pub size: usize,
    /// Broadcasts in flight at most.
    pub window: usize,
    /// Length of the measured period.
    pub seconds: f64,
    /// Broadcasts published in the measured period.
    pub broadcasts: u64,
    /// Notifications received by all subscribers from those broadcasts.
    pub deliveries: u64,
    /// `deliveries / seconds`.
    pub deliveries_per_sec: f64,
    /// Delivery latency percentiles: from publishing to a subscriber's receipt.
    #[serde(flatten)]
    pub latency: Latency,
    /// Subscribers opened (and subscribed) per second in the connect phase.
    pub connect_per_sec: f64,
    /// Failed connections, bad answers, lost or malformed notifications.
    pub errors: u64,
    /// The first few errors, for stderr; not part of the JSON line.
    #[serde(skip)]
    pub error_samples: Vec<String>,
}

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest value.
    pub max_us: u64,
}

impl Latency {
    /// Reads the percentiles of `histogram` (all zero when it is empty).
    pub fn from_histogram(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        Self {
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
        }
    }
}

/// Errors seen during a run: how many, and the text of the first few.
#[derive(Debug, Default)]
pub struct ErrorLog {
    count: Cell<u64>,
    samples: RefCell<Vec<String>>,
}

impl ErrorLog {
    /// Counts an error and keeps its text if it is among the first few.
    pub fn record(&self, error: impl fmt::Display) {
        self.count.set(self.count.get() + 1);
        let mut samples = self.samples.borrow_mut();
        if samples.len() < MAX_SAMPLES {
            samples.push(error.to_string());
        }
    }

    /// Returns how many errors were counted.
    pub fn count(&self) -> u64 {
        self.count.get()
    }

    /// Returns the text of the first few errors.
    pub fn samples(&self) -> Vec<String> {
        self.samples.borrow().clone()
    }
}

/// The progress bar on stderr, or nothing.
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Returns a progress display that shows nothing.
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// Returns a bar on stderr, hidden when `quiet` is set or stderr is not a terminal.
    pub fn stderr(quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        Self { bar }
    }

    /// Starts a stage that counts up to `len` items.
    pub fn count(&self, stage: &'static str, len: u64) {
        self.restart(stage, len, "{prefix:>8} [{bar:40}] {pos}/{len} {msg}");
    }

    /// Starts a stage that lasts `duration`; [`set_elapsed`](Self::set_elapsed) moves it.
    pub fn timed(&self, stage: &'static str, duration: Duration) {
        let len = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.restart(stage, len, "{prefix:>8} [{bar:40}] {msg}");
    }

    /// Sets the position of a counting stage.
    pub fn set(&self, position: u64) {
        self.bar.set_position(position);
    }

    /// Sets the position of a timed stage, and its message.
    pub fn set_elapsed(&self, elapsed: Duration, message: String) {
        self.bar
            .set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        self.bar.set_message(message);
    }

    /// Sets the message shown after the bar.
    pub fn message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn restart(&self, stage: &'static str, len: u64, template: &str) {
        if self.bar.is_hidden() {
            return;
        }
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_prefix(stage);
        self.bar.set_length(len);
        self.bar.set_position(0);
        self.bar.set_message("");
        self.bar.reset_elapsed();
    }
}

/// Returns a histogram of microseconds, 1 µs to one hour, 3 significant figures.
#[expect(
    clippy::expect_used,
    reason = "the bounds are constants that hdrhistogram accepts"
)]
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("1 µs to 1 h at 3 figures is valid")
}

/// Returns `count / seconds`, rounded to a tenth, and 0 for an empty period.
#[expect(
    clippy::cast_precision_loss,
    reason = "counts stay far below 2^52 in any run"
)]
pub fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        round(count as f64 / seconds, 10.0)
    } else {
        0.0
    }
}

/// Returns `duration` in seconds, rounded to the millisecond.
pub fn seconds(duration: Duration) -> f64 {
    round(duration.as_secs_f64(), 1000.0)
}

/// Returns the microseconds in `duration`, saturating.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn round(value: f64, per_unit: f64) -> f64 {
    (value * per_unit).round() / per_unit
}

/// Errors whose text is kept for stderr.
const MAX_SAMPLES: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_log_counts_all_and_keeps_the_first_few() {
        let log = ErrorLog::default();
        for i in 0..8 {
            log.record(format!("error {i}"));
        }
        assert_eq!(log.count(), 8);
        assert_eq!(log.samples().len(), MAX_SAMPLES);
        assert_eq!(log.samples()[0], "error 0");
    }

    #[test]
    fn latency_reads_percentiles() {
        let mut h = histogram();
        for us in 1..=100 {
            h.record(us).unwrap();
        }
        let latency = Latency::from_histogram(&h);
        assert_eq!(latency.p50_us, 50);
        assert_eq!(latency.p90_us, 90);
        assert_eq!(latency.p99_us, 99);
        assert_eq!(latency.max_us, 100);
        assert_eq!(Latency::from_histogram(&histogram()), Latency::default());
    }

    #[test]
    fn rates_are_rounded_and_safe_on_zero() {
        assert!((rate(10, 3.0) - 3.3).abs() < 1e-9);
        assert!(rate(10, 0.0).abs() < f64::EPSILON);
        assert!((seconds(Duration::from_micros(1_234_567)) - 1.235).abs() < 1e-9);
    }

    #[test]
    fn echo_report_serializes_the_documented_fields_in_order() {
        let report = EchoReport {
            mode: "echo",
            url: "ws://127.0.0.1:5083/echo".to_owned(),
            protocol: Protocol::Raw,
            connections: 100,
            open: 100,
            size: 64,
            text: false,
            seconds: 10.0,
            messages: 5,
            msgs_per_sec: 0.5,
            latency: Latency {
                p50_us: 1,
                p90_us: 2,
                p99_us: 3,
                max_us: 4,
            },
            connect_per_sec: 1000.0,
            errors: 0,
            error_samples: vec!["not serialized".to_owned()],
        };
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"mode":"echo","url":"ws://127.0.0.1:5083/echo","protocol":"raw","connections":100,"open":100,"size":64,"text":false,"seconds":10.0,"messages":5,"msgs_per_sec":0.5,"p50_us":1,"p90_us":2,"p99_us":3,"max_us":4,"connect_per_sec":1000.0,"errors":0}"#
        );
    }
}

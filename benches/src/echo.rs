//! `lapps-load echo`: closed-loop round trips, one message in flight per connection.
//!
//! Each connection is one task that sends a message, waits for the whole echo, checks it and
//! sends the next. The run has three phases, read by every task before each round trip:
//! warm-up (nothing recorded), measure (round trips that start and end in it are recorded),
//! done (tasks close their connection). With `--messages` the measure phase ends when that
//! many round trips, claimed one by one from a shared budget, are complete.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use lapps_proto::lapps::Value;
use lapps_proto::{Message, OpCode};
use tokio::task::{JoinSet, LocalSet};

use crate::BoxError;
use crate::args::{EchoArgs, Protocol};
use crate::client::{ClientError, Target, Ws, XorShift};
use crate::connect::{check_fd_limit, open_all};
use crate::lapps::{self, LOGIN};
use crate::report::{self, EchoReport, ErrorLog, Latency, Progress};

/// Runs the echo benchmark of `args`.
///
/// # Errors
///
/// Setup errors only (an invalid URL or CA file, too few file descriptors); connection
/// failures and wrong echoes are counted in the report's `errors`.
pub async fn run(args: &EchoArgs, progress: &Progress) -> Result<EchoReport, BoxError> {
    LocalSet::new().run_until(run_local(args, progress)).await
}

async fn run_local(args: &EchoArgs, progress: &Progress) -> Result<EchoReport, BoxError> {
    let connections = args.connections as usize;
    check_fd_limit(connections)?;
    let common = &args.common;
    let target =
        Rc::new(Target::resolve(&common.url, common.ca.as_deref(), common.sources.into()).await?);
    let errors = Rc::new(ErrorLog::default());
    let lapps = args.protocol == Protocol::Lapps;
    let reserve = args.size + READ_SLACK;
    let opened = open_all(
        &target,
        connections,
        common.concurrency as usize,
        &errors,
        progress,
        |index| {
            let target = Rc::clone(&target);
            async move {
                let mut ws = Ws::connect(&target, index, reserve).await?;
                let auth = if lapps {
                    Some(login(&mut ws).await?)
                } else {
                    None
                };
                Ok((ws, auth))
            }
        },
    )
    .await;
    let open = opened.items.len();
    let shared = Rc::new(Shared::new(args.messages, open));
    let mut tasks = JoinSet::new();
    for (index, (ws, auth)) in opened.items.into_iter().enumerate() {
        let payload = Payload::new(args, auth, index);
        let task = RoundTrips {
            ws,
            payload,
            shared: Rc::clone(&shared),
            errors: Rc::clone(&errors),
            peer: target.addr(),
            index,
        };
        tasks.spawn_local(task.run());
    }
    let measured = drive(args, &shared, &mut tasks, &errors, progress).await;
    progress.finish();
    let histogram = shared.histogram.borrow();
    let seconds = report::seconds(measured);
    Ok(EchoReport {
        mode: "echo",
        url: common.url.clone(),
        protocol: args.protocol,
        connections,
        open,
        size: args.size,
        text: args.text,
        seconds,
        messages: histogram.len(),
        msgs_per_sec: report::rate(histogram.len(), seconds),
        latency: Latency::from_histogram(&histogram),
        connect_per_sec: report::rate(open as u64, opened.elapsed.as_secs_f64()),
        errors: errors.count(),
        error_samples: errors.samples(),
    })
}

/// Runs the phases; returns the length of the measured one.
async fn drive(
    args: &EchoArgs,
    shared: &Shared,
    tasks: &mut JoinSet<()>,
    errors: &ErrorLog,
    progress: &Progress,
) -> Duration {
    let warmup = args.warmup();
    if !warmup.is_zero() {
        progress.timed("warmup", warmup);
        tick(shared, warmup, progress).await;
    }
    shared.phase.set(Phase::Measure);
    let start = Instant::now();
    if let Some(count) = args.messages {
        progress.count("measure", count);
        join_counted(shared, tasks, errors, progress).await;
        start.elapsed()
    } else {
        progress.timed("measure", args.duration);
        tick(shared, args.duration, progress).await;
        shared.phase.set(Phase::Done);
        let measured = start.elapsed();
        join_within(tasks, GRACE, errors).await;
        measured
    }
}

/// Waits `duration`, or until no connection is left, updating the progress bar.
async fn tick(shared: &Shared, duration: Duration, progress: &Progress) {
    let start = Instant::now();
    let done_before = shared.done.get();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration || shared.active.get() == 0 {
            return;
        }
        tokio::time::sleep(TICK.min(duration.saturating_sub(elapsed))).await;
        let elapsed = start.elapsed();
        let rate = report::rate(shared.done.get() - done_before, elapsed.as_secs_f64());
        progress.set_elapsed(
            elapsed,
            format!(
                "{:.1}/{:.1} s, {rate} msg/s",
                elapsed.as_secs_f64(),
                duration.as_secs_f64()
            ),
        );
    }
}

/// Waits for every task of a counted run; gives up on them if no round trip completes for
/// [`STALL`].
async fn join_counted(
    shared: &Shared,
    tasks: &mut JoinSet<()>,
    errors: &ErrorLog,
    progress: &Progress,
) {
    let mut last = (shared.done.get(), Instant::now());
    loop {
        tokio::select! {
            joined = tasks.join_next() => {
                if joined.is_none() {
                    return;
                }
            }
            () = tokio::time::sleep(TICK) => {
                let done = shared.done.get();
                progress.set(done);
                if done != last.0 {
                    last = (done, Instant::now());
                } else if last.1.elapsed() >= STALL {
                    stalled(tasks, STALL, errors);
                    return;
                }
            }
        }
    }
}

/// Waits up to `grace` for the tasks to end; the rest are counted as errors and stopped.
async fn join_within(tasks: &mut JoinSet<()>, grace: Duration, errors: &ErrorLog) {
    let joined =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if joined.is_err() {
        stalled(tasks, grace, errors);
    }
}

fn stalled(tasks: &mut JoinSet<()>, waited: Duration, errors: &ErrorLog) {
    for _ in 0..tasks.len() {
        errors.record(format!(
            "no echo within {} s: connection given up",
            waited.as_secs()
        ));
    }
    tasks.abort_all();
}

/// Logs in to `echo_lapps` and returns the `{authkey}` object its echo requires.
async fn login(ws: &mut Ws) -> Result<Value, ClientError> {
    ws.send(OpCode::Binary, &lapps::login_request(LOGIN.0, LOGIN.1))
        .await?;
    let reply = ws.next_message().await?;
    lapps::check_login(&reply)
}

/// The phase of the run.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Phase {
    Warmup,
    Measure,
    Done,
}

/// State shared by the tasks of one run (one thread: cells, no atomics).
struct Shared {
    phase: Cell<Phase>,
    /// Round trips left to claim in a counted run.
    budget: Cell<Option<u64>>,
    /// Round trips recorded so far.
    done: Cell<u64>,
    /// Tasks still running.
    active: Cell<usize>,
    /// Round-trip times of the measured phase, in microseconds. One for all connections:
    /// a histogram is about 140 KB.
    histogram: RefCell<Histogram<u64>>,
}

impl Shared {
    fn new(budget: Option<u64>, tasks: usize) -> Self {
        Self {
            phase: Cell::new(Phase::Warmup),
            budget: Cell::new(budget),
            done: Cell::new(0),
            active: Cell::new(tasks),
            histogram: RefCell::new(report::histogram()),
        }
    }

    /// Takes one round trip from the budget; false when it is spent.
    fn claim(&self) -> bool {
        match self.budget.get() {
            None => true,
            Some(0) => false,
            Some(left) => {
                self.budget.set(Some(left - 1));
                true
            }
        }
    }

    fn record(&self, elapsed: Duration) {
        self.histogram
            .borrow_mut()
            .saturating_record(report::micros(elapsed));
        self.done.set(self.done.get() + 1);
    }
}

/// One connection's loop.
struct RoundTrips {
    ws: Ws,
    payload: Payload,
    shared: Rc<Shared>,
    errors: Rc<ErrorLog>,
    peer: SocketAddr,
    index: usize,
}

impl RoundTrips {
    async fn run(mut self) {
        let result = self.round_trips().await;
        self.shared.active.set(self.shared.active.get() - 1);
        match result {
            Ok(()) => self.ws.close().await,
            Err(error) => self
                .errors
                .record(format!("{} connection {}: {error}", self.peer, self.index)),
        }
    }

    async fn round_trips(&mut self) -> Result<(), ClientError> {
        let mut seq = 0_u64;
        loop {
            let measured = match self.shared.phase.get() {
                Phase::Warmup => false,
                Phase::Measure if self.shared.claim() => true,
                // Done, or the budget of a counted run is spent.
                Phase::Measure | Phase::Done => return Ok(()),
            };
            seq += 1;
            let start = Instant::now();
            self.payload.round_trip(&mut self.ws, seq).await?;
            let elapsed = start.elapsed();
            if measured && self.shared.phase.get() == Phase::Measure {
                self.shared.record(elapsed);
            }
        }
    }
}

/// What a connection sends, and how it checks the echo.
enum Payload {
    /// The same message every time, echoed as it is.
    Raw { opcode: OpCode, data: Bytes },
    /// A LAppS echo request carrying the payload and a sequence number.
    Lapps {
        echo: lapps::Echo,
        /// The request being sent; reused.
        request: Vec<u8>,
    },
}

impl Payload {
    /// The payload of connection `index`: `size` pseudo-random bytes, or ASCII letters and
    /// digits for text.
    fn new(args: &EchoArgs, auth: Option<Value>, index: usize) -> Self {
        let mut random = XorShift::new(index as u64);
        let data: Vec<u8> = (0..args.size)
            .map(|_| {
                let byte = random.next_u64().to_le_bytes()[0];
                if args.text {
                    ALPHABET[usize::from(byte) % ALPHABET.len()]
                } else {
                    byte
                }
            })
            .collect();
        match args.protocol {
            Protocol::Raw => Self::Raw {
                opcode: if args.text {
                    OpCode::Text
                } else {
                    OpCode::Binary
                },
                data: Bytes::from(data),
            },
            Protocol::Lapps => Self::Lapps {
                echo: lapps::Echo::new(auth, &data, args.text),
                request: Vec::with_capacity(args.size + READ_SLACK),
            },
        }
    }

    /// Sends message `seq` and checks its echo.
    async fn round_trip(&mut self, ws: &mut Ws, seq: u64) -> Result<(), ClientError> {
        match self {
            Self::Raw { opcode, data } => {
                ws.send(*opcode, data).await?;
                let reply = ws.next_message().await?;
                check_raw(*opcode, data, &reply)
            }
            Self::Lapps { echo, request } => {
                echo.encode_request(seq, request);
                ws.send(OpCode::Binary, request).await?;
                let reply = ws.next_message().await?;
                echo.check_response(seq, &reply)
            }
        }
    }
}

/// Checks that `reply` is `data` with the same opcode.
fn check_raw(opcode: OpCode, data: &[u8], reply: &Message) -> Result<(), ClientError> {
    let same = match (opcode, reply) {
        (OpCode::Text, Message::Text(text)) => text.as_bytes() == data,
        (OpCode::Binary, Message::Binary(bytes)) => bytes.as_ref() == data,
        _ => false,
    };
    if same {
        return Ok(());
    }
    let (kind, len) = match reply {
        Message::Text(text) => ("text", text.len()),
        Message::Binary(bytes) => ("binary", bytes.len()),
        _ => ("control", 0),
    };
    let sent = if opcode == OpCode::Text {
        "text"
    } else {
        "binary"
    };
    Err(ClientError::Unexpected(format!(
        "wrong echo: sent {} bytes {sent}, got {len} bytes {kind}{}",
        data.len(),
        if len == data.len() && kind == sent {
            " with different content"
        } else {
            ""
        }
    )))
}

/// Room for the frame header (and, for LAppS, the document around the payload) in buffers.
const READ_SLACK: usize = 512;

/// How often the progress bar moves and stalls are checked.
const TICK: Duration = Duration::from_millis(200);

/// A counted run gives up when no round trip completes for this long.
const STALL: Duration = Duration::from_secs(10);

/// How long a timed run waits for the round trips in flight at its end.
const GRACE: Duration = Duration::from_secs(5);

/// The characters of text payloads.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_echo_check() {
        assert!(
            check_raw(
                OpCode::Binary,
                b"abc",
                &Message::Binary(Bytes::from_static(b"abc"))
            )
            .is_ok()
        );
        assert!(check_raw(OpCode::Text, b"abc", &Message::Text("abc".into())).is_ok());
        let wrong = check_raw(
            OpCode::Binary,
            b"abc",
            &Message::Binary(Bytes::from_static(b"abd")),
        );
        assert_eq!(
            wrong.unwrap_err().to_string(),
            "wrong echo: sent 3 bytes binary, got 3 bytes binary with different content"
        );
        assert!(check_raw(OpCode::Binary, b"abc", &Message::Text("abc".into())).is_err());
    }

    #[test]
    fn budget_is_claimed_exactly() {
        let shared = Shared::new(Some(3), 1);
        assert!(shared.claim() && shared.claim() && shared.claim());
        assert!(!shared.claim());
        let unlimited = Shared::new(None, 1);
        assert!((0..10).all(|_| unlimited.claim()));
    }
}

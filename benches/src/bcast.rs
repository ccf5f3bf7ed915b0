//! `lapps-load bcast`: broadcast throughput and delivery latency through the LAppS service
//! `benches/apps/bcast_bench`.
//!
//! `-c` subscriber connections each subscribe to the service's channel; then one publisher
//! connection publishes `[send_time_ns, seq, padding]`, keeping at most `--window`
//! broadcasts incomplete. A broadcast is complete when every subscriber has received it;
//! subscribers receive one sender's broadcasts in order, so broadcasts complete in sequence
//! order and `window` counters, indexed by `seq % window`, track the incomplete ones.
//!
//! A broadcast is measured if it was published in the measure phase; the measured period runs
//! from the first measured publish to the completion of the last. At the end the publisher
//! sends one more broadcast with the sequence number [`STOP_SEQ`], on which every subscriber
//! stops.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use lapps_proto::OpCode;
use tokio::sync::Notify;
use tokio::task::{JoinSet, LocalSet};

use crate::BoxError;
use crate::args::BcastArgs;
use crate::client::{ClientError, Target, Ws};
use crate::connect::{OPEN_TIMEOUT, check_fd_limit, open_all};
use crate::lapps;
use crate::report::{self, BcastReport, ErrorLog, Latency, Progress};

/// The sequence number of the last broadcast, which stops the subscribers: the largest
/// integer a Lua number holds exactly.
pub const STOP_SEQ: u64 = (1 << 53) - 1;

/// Runs the broadcast benchmark of `args`.
///
/// # Errors
///
/// Setup errors only (an invalid URL or CA file, too few file descriptors, a publisher
/// connection that cannot open); failed subscribers, bad answers and lost notifications are
/// counted in the report's `errors`.
pub async fn run(args: &BcastArgs, progress: &Progress) -> Result<BcastReport, BoxError> {
    LocalSet::new().run_until(run_local(args, progress)).await
}

async fn run_local(args: &BcastArgs, progress: &Progress) -> Result<BcastReport, BoxError> {
    let connections = args.connections as usize;
    check_fd_limit(connections + 1)?;
    let common = &args.common;
    let target =
        Rc::new(Target::resolve(&common.url, common.ca.as_deref(), common.sources.into()).await?);
    let errors = Rc::new(ErrorLog::default());
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
                ws.send(OpCode::Binary, &lapps::subscribe_request()).await?;
                lapps::check_true(&ws.next_message().await?, "subscribe")?;
                Ok(ws)
            }
        },
    )
    .await;
    let open = opened.items.len();
    let shared = Rc::new(Shared::new(args.window as usize, open));
    if open > 0 {
        broadcast(args, &target, &shared, &errors, opened.items, progress).await?;
    }
    progress.finish();
    let histogram = shared.histogram.borrow();
    let seconds = report::seconds(shared.measured());
    Ok(BcastReport {
        mode: "bcast",
        url: common.url.clone(),
        connections,
        open,
        size: args.size,
        window: args.window as usize,
        seconds,
        broadcasts: shared.measured_broadcasts(),
        deliveries: histogram.len(),
        deliveries_per_sec: report::rate(histogram.len(), seconds),
        latency: Latency::from_histogram(&histogram),
        connect_per_sec: report::rate(open as u64, opened.elapsed.as_secs_f64()),
        errors: errors.count(),
        error_samples: errors.samples(),
    })
}

/// Starts the subscribers' tasks and the publisher, runs the phases and waits for the end.
async fn broadcast(
    args: &BcastArgs,
    target: &Target,
    shared: &Rc<Shared>,
    errors: &Rc<ErrorLog>,
    subscribers: Vec<Ws>,
    progress: &Progress,
) -> Result<(), BoxError> {
    let index = args.connections as usize;
    let publisher = tokio::time::timeout(OPEN_TIMEOUT, Ws::connect(target, index, 0))
        .await
        .unwrap_or(Err(ClientError::Timeout(OPEN_TIMEOUT)))
        .map_err(|e| format!("{}: the publisher connection: {e}", target.addr()))?;
    let mut tasks = JoinSet::new();
    for (index, ws) in subscribers.into_iter().enumerate() {
        let subscriber = Subscriber {
            ws,
            shared: Rc::clone(shared),
            errors: Rc::clone(errors),
            peer: target.addr(),
            index,
            size: args.size,
        };
        tasks.spawn_local(subscriber.run());
    }
    let publisher = Publisher {
        ws: publisher,
        shared: Rc::clone(shared),
        errors: Rc::clone(errors),
        size: args.size,
        count: args.messages,
    };
    let publisher = tokio::task::spawn_local(publisher.run());
    drive(args, shared, &publisher, progress).await;
    let _ = publisher.await;
    join_within(&mut tasks, GRACE, errors).await;
    Ok(())
}

/// Runs the phases; the publisher ends the measurement by itself in a counted run.
async fn drive(
    args: &BcastArgs,
    shared: &Shared,
    publisher: &tokio::task::JoinHandle<()>,
    progress: &Progress,
) {
    let warmup = args.warmup();
    if !warmup.is_zero() {
        progress.timed("warmup", warmup);
        tick(shared, publisher, Some(warmup), progress).await;
    }
    shared.phase.set(Phase::Measure);
    if let Some(count) = args.messages {
        progress.count("measure", count);
        tick(shared, publisher, None, progress).await;
    } else {
        progress.timed("measure", args.duration);
        tick(shared, publisher, Some(args.duration), progress).await;
        shared.phase.set(Phase::Done);
    }
}

/// Waits `duration` (or, with `None`, until the publisher ends), moving the progress bar.
async fn tick(
    shared: &Shared,
    publisher: &tokio::task::JoinHandle<()>,
    duration: Option<Duration>,
    progress: &Progress,
) {
    let start = Instant::now();
    let delivered_before = shared.histogram.borrow().len();
    loop {
        let elapsed = start.elapsed();
        if publisher.is_finished() || duration.is_some_and(|d| elapsed >= d) {
            return;
        }
        let step = duration.map_or(TICK, |d| TICK.min(d.saturating_sub(elapsed)));
        tokio::time::sleep(step).await;
        let elapsed = start.elapsed();
        let delivered = shared.histogram.borrow().len() - delivered_before;
        let rate = report::rate(delivered, elapsed.as_secs_f64());
        if let Some(duration) = duration {
            progress.set_elapsed(
                elapsed,
                format!(
                    "{:.1}/{:.1} s, {rate} deliveries/s",
                    elapsed.as_secs_f64(),
                    duration.as_secs_f64()
                ),
            );
        } else {
            progress.set(shared.measured_broadcasts());
            progress.message(format!("{rate} deliveries/s"));
        }
    }
}

/// Waits up to `grace` for the subscribers to stop; the rest are counted as errors.
async fn join_within(tasks: &mut JoinSet<()>, grace: Duration, errors: &ErrorLog) {
    let joined =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if joined.is_err() {
        for _ in 0..tasks.len() {
            errors.record(format!(
                "a subscriber got no stop notification within {} s",
                grace.as_secs()
            ));
        }
        tasks.abort_all();
    }
}

/// The phase of the run, as the publisher reads it before each broadcast.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Phase {
    Warmup,
    Measure,
    Done,
}

/// State shared by the publisher and the subscribers (one thread: cells, no atomics).
struct Shared {
    start: Instant,
    phase: Cell<Phase>,
    /// Subscribers still receiving: deliveries that complete a broadcast.
    subscribers: Cell<usize>,
    /// Deliveries of each incomplete broadcast, at `seq % window`.
    slots: Box<[Cell<usize>]>,
    /// The sequence number of the next broadcast to publish.
    published: Cell<u64>,
    /// Broadcasts complete, which are the lowest sequence numbers.
    completed: Cell<u64>,
    /// Wakes the publisher when a broadcast completes.
    completion: Notify,
    /// The first measured sequence number, and the first after the measured ones.
    measured_seqs: Cell<(u64, u64)>,
    /// When the first measured broadcast was published and the last one completed.
    measured_times: Cell<(Option<Instant>, Option<Instant>)>,
    /// Delivery latencies of measured broadcasts, in microseconds.
    histogram: RefCell<Histogram<u64>>,
}

impl Shared {
    fn new(window: usize, subscribers: usize) -> Self {
        Self {
            start: Instant::now(),
            phase: Cell::new(Phase::Warmup),
            subscribers: Cell::new(subscribers),
            slots: (0..window.max(1)).map(|_| Cell::new(0)).collect(),
            published: Cell::new(0),
            completed: Cell::new(0),
            completion: Notify::new(),
            measured_seqs: Cell::new((u64::MAX, u64::MAX)),
            measured_times: Cell::new((None, None)),
            histogram: RefCell::new(report::histogram()),
        }
    }

    /// Nanoseconds since the start of the run: the clock of `send_time_ns`.
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn slot(&self, seq: u64) -> &Cell<usize> {
        // The remainder is below the slot count, a usize.
        let index = usize::try_from(seq % self.slots.len() as u64).unwrap_or(0);
        &self.slots[index]
    }

    /// Counts one subscriber's receipt of broadcast `seq`.
    fn deliver(&self, seq: u64) {
        let slot = self.slot(seq);
        slot.set(slot.get() + 1);
        self.complete_ready();
    }

    /// A subscriber stopped receiving: broadcasts need one delivery less to complete.
    fn leave(&self) {
        self.subscribers
            .set(self.subscribers.get().saturating_sub(1));
        self.complete_ready();
    }

    /// Marks complete, in order, every broadcast that every subscriber received.
    fn complete_ready(&self) {
        loop {
            let next = self.completed.get();
            if next >= self.published.get() {
                return;
            }
            let slot = self.slot(next);
            if slot.get() < self.subscribers.get() {
                return;
            }
            slot.set(0);
            self.completed.set(next + 1);
            self.completion.notify_one();
        }
    }

    fn is_measured(&self, seq: u64) -> bool {
        let (first, end) = self.measured_seqs.get();
        first <= seq && seq < end
    }

    fn measured_broadcasts(&self) -> u64 {
        match self.measured_seqs.get() {
            (u64::MAX, _) => 0,
            (first, u64::MAX) => self.completed.get().saturating_sub(first),
            (first, end) => end - first,
        }
    }

    fn measured(&self) -> Duration {
        match self.measured_times.get() {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        }
    }

    fn record(&self, latency_ns: u64) {
        self.histogram
            .borrow_mut()
            .saturating_record(latency_ns / 1000);
    }
}

/// The publisher connection.
struct Publisher {
    ws: Ws,
    shared: Rc<Shared>,
    errors: Rc<ErrorLog>,
    size: usize,
    count: Option<u64>,
}

impl Publisher {
    async fn run(mut self) {
        let result = self.publish_all().await;
        let shared = &self.shared;
        let (first, end) = shared.measured_seqs.get();
        if first != u64::MAX && end == u64::MAX {
            shared.measured_seqs.set((first, shared.published.get()));
        }
        if let Err(error) = result {
            self.errors.record(format!("publisher: {error}"));
            // The run is over; let the subscribers go.
            self.shared.phase.set(Phase::Done);
            return;
        }
        let (first_time, _) = shared.measured_times.get();
        shared
            .measured_times
            .set((first_time, first_time.map(|_| Instant::now())));
        let publish = lapps::Publish::new(0);
        let mut request = Vec::new();
        publish.encode(0, STOP_SEQ, &mut request);
        let stop = async {
            self.ws.send(OpCode::Binary, &request).await?;
            lapps::check_true(&self.ws.next_message().await?, "publish")
        };
        match stop.await {
            Ok(()) => self.ws.close().await,
            Err(error) => self.errors.record(format!("publisher: {error}")),
        }
    }

    /// Publishes until the run is done (or the count is reached), then waits until every
    /// broadcast is complete.
    async fn publish_all(&mut self) -> Result<(), ClientError> {
        let publish = lapps::Publish::new(self.size);
        let mut request = Vec::with_capacity(self.size + READ_SLACK);
        let window = self.shared.slots.len() as u64;
        loop {
            self.wait_for_completion(window).await?;
            let seq = self.shared.published.get();
            match self.shared.phase.get() {
                Phase::Done => break,
                Phase::Warmup => {}
                Phase::Measure => {
                    let (first, _) = self.shared.measured_seqs.get();
                    if first == u64::MAX {
                        self.shared.measured_seqs.set((seq, u64::MAX));
                        self.shared.measured_times.set((Some(Instant::now()), None));
                    } else if self.count.is_some_and(|count| seq - first >= count) {
                        break;
                    }
                }
            }
            let time_ns = self.shared.now_ns();
            publish.encode(time_ns, seq, &mut request);
            self.shared.published.set(seq + 1);
            self.ws.send(OpCode::Binary, &request).await?;
            lapps::check_true(&self.ws.next_message().await?, "publish")?;
        }
        let (first, _) = self.shared.measured_seqs.get();
        self.shared
            .measured_seqs
            .set((first, self.shared.published.get()));
        self.wait_for_completion(1).await
    }

    /// Waits until fewer than `window` broadcasts are incomplete.
    async fn wait_for_completion(&self, window: u64) -> Result<(), ClientError> {
        let shared = &self.shared;
        while shared.published.get() - shared.completed.get() >= window {
            let waited = tokio::time::timeout(STALL, shared.completion.notified()).await;
            if waited.is_err() && shared.published.get() - shared.completed.get() >= window {
                let seq = shared.completed.get();
                return Err(ClientError::Unexpected(format!(
                    "broadcast {seq} reached {} of {} subscribers within {} s",
                    shared.slot(seq).get(),
                    shared.subscribers.get(),
                    STALL.as_secs()
                )));
            }
        }
        Ok(())
    }
}

/// One subscriber connection.
struct Subscriber {
    ws: Ws,
    shared: Rc<Shared>,
    errors: Rc<ErrorLog>,
    peer: SocketAddr,
    index: usize,
    size: usize,
}

impl Subscriber {
    async fn run(mut self) {
        match self.receive_all().await {
            Ok(()) => self.ws.close().await,
            Err(error) => {
                self.errors
                    .record(format!("{} subscriber {}: {error}", self.peer, self.index));
                self.shared.leave();
            }
        }
    }

    /// Receives notifications until the stop broadcast.
    async fn receive_all(&mut self) -> Result<(), ClientError> {
        let mut next_seq = 0;
        loop {
            let message = self.ws.next_message().await?;
            let now_ns = self.shared.now_ns();
            let delivery = lapps::parse_delivery(&message)?;
            if delivery.seq == STOP_SEQ {
                return Ok(());
            }
            if delivery.seq < next_seq {
                self.errors.record(format!(
                    "{} subscriber {}: broadcast {} again, or out of order",
                    self.peer, self.index, delivery.seq
                ));
                continue;
            }
            // A subscriber whose buffer is full is skipped by the server: count the gap as
            // lost, and as received so that the publisher does not wait for it.
            for lost in next_seq..delivery.seq {
                self.errors.record(format!(
                    "{} subscriber {}: broadcast {lost} lost",
                    self.peer, self.index
                ));
                self.shared.deliver(lost);
            }
            next_seq = delivery.seq + 1;
            if delivery.padding != self.size {
                self.errors.record(format!(
                    "{} subscriber {}: broadcast {} has {} padding bytes, not {}",
                    self.peer, self.index, delivery.seq, delivery.padding, self.size
                ));
            }
            if self.shared.is_measured(delivery.seq) {
                self.shared.record(now_ns.saturating_sub(delivery.time_ns));
            }
            self.shared.deliver(delivery.seq);
        }
    }
}

/// Room for the frame header and the document around the padding in the read buffer.
const READ_SLACK: usize = 256;

/// How often the progress bar moves.
const TICK: Duration = Duration::from_millis(200);

/// The publisher gives up when no broadcast completes for this long.
const STALL: Duration = Duration::from_secs(10);

/// How long subscribers may take to see the stop broadcast.
const GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_complete_in_order_when_every_subscriber_got_them() {
        let shared = Shared::new(2, 3);
        shared.published.set(2);
        shared.deliver(0);
        shared.deliver(1);
        shared.deliver(0);
        assert_eq!(shared.completed.get(), 0);
        shared.deliver(0);
        assert_eq!(shared.completed.get(), 1);
        shared.deliver(1);
        shared.deliver(1);
        assert_eq!(shared.completed.get(), 2);
        // Slots are reused by seq % window.
        shared.published.set(3);
        shared.deliver(2);
        shared.leave();
        shared.leave();
        assert_eq!(shared.completed.get(), 3);
    }

    #[test]
    fn measured_window_is_by_sequence_number() {
        let shared = Shared::new(1, 1);
        assert!(!shared.is_measured(0));
        shared.measured_seqs.set((5, u64::MAX));
        assert!(!shared.is_measured(4));
        assert!(shared.is_measured(5) && shared.is_measured(1000));
        shared.measured_seqs.set((5, 10));
        assert!(shared.is_measured(9) && !shared.is_measured(10));
        assert_eq!(shared.measured_broadcasts(), 5);
    }
}

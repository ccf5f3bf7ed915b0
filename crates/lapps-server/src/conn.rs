//! An open connection's task: read, decode, hand messages to the bound instance, write what
//! was queued, and run the timers (keepalive, idle, stall, closing).
//!
//! One task per connection, on the worker thread of its instance. Output is corked: the
//! frames a batch of service sends queued leave in one write.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::BytesMut;
use lapps_proto::{CloseCode, Connection, Event, Message, State};
use tokio::time::{Instant, Sleep};

use crate::metrics::Initiator;
use crate::registry::ConnShared;
use crate::runtime::{ServiceRuntime, Shared};
use crate::service::{DataKind, Inbound, Protocol};
use crate::transport::Transport;

/// Reading stops for this turn after this many bytes, so one busy client cannot starve the
/// others on its worker.
const MAX_READ_BATCH: usize = 256 * 1024;

/// The most one read asks for once `read_size` has grown (see [`Driver::read`]).
const MAX_READ_SIZE: usize = 32 * 1024;

/// An open connection and everything its task needs.
#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) transport: Transport,
    pub(crate) codec: Connection,
    pub(crate) shared: Arc<ConnShared>,
    pub(crate) service: Arc<ServiceRuntime>,
    pub(crate) pipelined: BytesMut,
}

/// Runs an open connection until it ends, then tells everyone.
///
/// Not an `async fn`: the driver is built here, before the future, so that the task's state
/// holds it once rather than beside the `Open` it came from (design §2: the task's state is
/// most of an idle connection's memory).
pub(crate) fn run(open: Open, st: Arc<Shared>) -> impl Future<Output = ()> {
    let read_size = st.settings.input_buffer_size;
    let mut driver = Driver {
        transport: open.transport,
        codec: open.codec,
        shared: open.shared,
        service: open.service,
        st,
        last_rx: Instant::now(),
        ping_at: None,
        closing_since: None,
        paused: false,
        stalled_since: None,
        published_in_flight: 0,
        read_size,
        close_written: false,
        failed: false,
        ended: None,
    };
    driver.ping_at = driver.next_ping(driver.last_rx);
    // The pipelined bytes share the handshake buffer's allocation: copy them into the codec
    // and let that buffer go now, not when the connection ends (idle memory, spec design §2).
    let pipelined = open.pipelined;
    if !pipelined.is_empty() {
        driver.codec.recv_buffer().extend_from_slice(&pipelined);
        driver.process_input();
    }
    drop(pipelined);
    async move {
        let sleep = tokio::time::sleep_until(far_future());
        tokio::pin!(sleep);
        let abandoned = match driver.drive(sleep.as_mut()).await {
            Ok(abandoned) => abandoned,
            Err(error) => {
                tracing::debug!(conn = %driver.shared.id, %error, "connection transport failed");
                false
            }
        };
        driver.finish(abandoned, sleep.as_mut()).await;
    }
}

struct Driver {
    transport: Transport,
    codec: Connection,
    shared: Arc<ConnShared>,
    service: Arc<ServiceRuntime>,
    st: Arc<Shared>,
    /// When bytes last arrived (idle timeout and keepalive, spec §5.9).
    last_rx: Instant,
    ping_at: Option<Instant>,
    /// When this side's Close was queued (the closing timeout, spec §5.10).
    closing_since: Option<Instant>,
    /// Reading was paused at the last turn of the loop (spec §5.13, or an outbound backlog).
    paused: bool,
    /// The stall timer's start as of this turn (spec §5.12), read under the turn's lock.
    stalled_since: Option<std::time::Instant>,
    /// The unwritten output last published to senders (`Outbound::in_flight`).
    published_in_flight: usize,
    /// How much the next read asks for (see [`read`](Self::read)).
    read_size: usize,
    /// A Close is written to the transport: data frames are dropped from now on.
    close_written: bool,
    /// The peer broke the protocol; the Close goes out once earlier replies are queued.
    failed: bool,
    /// How the connection ended, as the metrics count it.
    ended: Option<(Initiator, Option<u16>)>,
}

impl Driver {
    /// Runs the connection until it ends; returns true if the closing timeout ran out, in
    /// which case the socket is dropped rather than flushed.
    ///
    /// Each turn of the loop moves queued output to the socket, then waits for whatever can
    /// happen next (input, room to write, the doorbell, a timer) in one hand-written
    /// poll that reports every source that is ready, so one busy source never starves another
    /// and a turn costs no futures built and dropped.
    async fn drive(&mut self, mut sleep: Pin<&mut Sleep>) -> io::Result<bool> {
        // The deadline the timer is set to. It is moved earlier at once and later only once it
        // fires (then `on_timer` finds nothing due and it is set again): every message moves
        // the idle deadline, and a timer reset per message would cost more than the odd
        // early wake-up.
        let mut armed = far_future();
        loop {
            self.pump_output()?;
            match self.transport.try_flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            // Control frames are queued whatever the limit (spec §5.12), so a peer that sends
            // pings and never reads the pongs would grow the queue without bound. While more
            // than max_outbound_buffer waits for the socket, the peer is not read either (TCP
            // pushes back on it), and the stall timer runs as for a refused send: a peer that
            // never reads ends with 1008 "outbound buffer full".
            let backlogged = self.transport.pending_len() > self.st.settings.max_outbound_buffer;
            self.account_in_flight(backlogged);
            let done = self.codec.is_closed() || (self.close_written && self.failed);
            if done && !self.transport.wants_write() {
                // The close handshake is over (or failed): the server closes first.
                return Ok(false);
            }
            // The shutdown rings every connection's doorbell after it sets the flag.
            if self.st.is_shutting_down() && self.codec.state() == State::Open && !self.failed {
                self.begin_close(CloseCode::GOING_AWAY, "server shutdown");
                continue;
            }
            let paused = self.shared.reading_paused() || backlogged;
            if paused || self.paused {
                // Spec §5.9: the idle timer is suspended while lapps is not reading, and starts
                // over on the turn when reading resumes (the last turn of a pause may be long
                // before the wake that ends it).
                self.last_rx = Instant::now();
            }
            self.paused = paused;
            let next = self.next_deadline();
            if next < armed {
                armed = next;
                sleep.as_mut().reset(armed);
            }
            let can_read = !paused && !self.failed;
            let wants_write = self.transport.wants_write();
            let ready = poll_fn(|cx| {
                // The doorbell first: polling it clears it, and a ring that comes while this
                // turn runs is kept for the next.
                let mut ready = Ready {
                    woken: self.shared.wake.poll(cx).is_ready(),
                    ..Ready::default()
                };
                if can_read && let Poll::Ready(result) = self.transport.poll_read_ready(cx) {
                    ready.readable = Some(result);
                }
                if wants_write && let Poll::Ready(result) = self.transport.poll_write_ready(cx) {
                    ready.writable = Some(result);
                }
                ready.timer = sleep.as_mut().poll(cx).is_ready();
                if ready.any() {
                    Poll::Ready(ready)
                } else {
                    Poll::Pending
                }
            })
            .await;
            if let Some(result) = ready.writable {
                result?;
            }
            if let Some(result) = ready.readable {
                result?;
                if self.read()? == 0 {
                    // The peer is done sending, but may still read: what the codec queued in
                    // answer to the last bytes (the reply to a Close that came with the end of
                    // the stream) goes out with the final flush.
                    self.pump_output()?;
                    return Ok(false);
                }
            }
            if ready.timer {
                if self.on_timer() {
                    return Ok(true);
                }
                // Fired: set it again at the next turn, whatever the deadline.
                armed = far_future();
                sleep.as_mut().reset(armed);
            }
        }
    }

    /// Reads what is available and processes it; returns 0 at end of stream.
    ///
    /// The first read of a turn asks for `read_size` bytes: `input_buffer_size` to begin
    /// with, doubled (up to [`MAX_READ_SIZE`]) after a read that filled it, halved after one
    /// that used under a quarter. Large messages take a few system calls, not one per
    /// `input_buffer_size` bytes. The receive buffer comes from the worker's pool and goes
    /// back to it once everything in it was decoded.
    fn read(&mut self) -> io::Result<usize> {
        let base = self.st.settings.input_buffer_size;
        let rx = self.codec.recv_buffer();
        if rx.capacity() == 0 {
            *rx = buffers::take();
        }
        let mut total = 0;
        let mut eof = false;
        while total < MAX_READ_BATCH {
            let want = self.read_size;
            match self.transport.try_read(self.codec.recv_buffer(), want) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    total += n;
                    if n >= want {
                        self.read_size = (want * 2).min(MAX_READ_SIZE.max(base));
                    } else if n < want / 4 {
                        self.read_size = (want / 2).max(base);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if total > 0 {
            self.last_rx = Instant::now();
            self.ping_at = self.next_ping(self.last_rx);
            self.process_input();
        }
        let rx = self.codec.recv_buffer();
        if rx.is_empty() {
            buffers::give(std::mem::take(rx));
        }
        self.codec.release_buffers();
        Ok(if eof { 0 } else { total.max(1) })
    }

    fn process_input(&mut self) {
        let result = self.codec.handle_received();
        while let Some(event) = self.codec.poll_event() {
            self.on_event(event);
        }
        if let Err(error) = result {
            tracing::debug!(conn = %self.shared.id, %error, "protocol violation");
            self.failed = true;
            self.record_end(Initiator::Server, Some(error.close_code().0));
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Message(message) => {
                let inbound = match message {
                    Message::Text(text) => Inbound {
                        kind: DataKind::Text,
                        data: text.into_bytes(),
                    },
                    Message::Binary(data) => Inbound {
                        kind: DataKind::Binary,
                        data,
                    },
                    _ => return,
                };
                if self.shared.is_closed() {
                    return;
                }
                if self.service.protocol == Protocol::LAppS && inbound.kind == DataKind::Text {
                    // Spec §4.1: the LAppS protocol is carried in binary frames only.
                    self.begin_close(
                        CloseCode::UNSUPPORTED_DATA,
                        "LAppS protocol requires binary frames",
                    );
                    return;
                }
                self.shared.metrics.record_received(inbound.data.len());
                self.shared.deliver(inbound);
            }
            Event::Ping(_) | Event::Pong(_) => {}
            Event::Closed(frame) => {
                if self.closing_since.is_none() {
                    self.record_end(Initiator::Client, frame.as_ref().map(|f| f.code.0));
                }
                // Our reply may wait behind queued data for a peer that no longer reads: the
                // closing timeout bounds that wait too, as for a Close we started (spec §5.10).
                self.closing_since.get_or_insert_with(Instant::now);
                self.shared.mark_closed();
            }
        }
    }

    /// Moves queued output into the transport: the service's frames, a close it asked for,
    /// then what the codec queued (pongs, Close frames).
    fn pump_output(&mut self) -> io::Result<()> {
        let close = {
            let mut out = self.shared.outbound();
            self.stalled_since = out.stalled_since;
            if self.close_written {
                out.frames.clear();
            } else if !out.frames.is_empty() {
                self.transport.queue_frames(&mut out.frames)?;
            }
            out.close.take()
        };
        if let Some((code, reason)) = close {
            self.begin_close(code, &reason);
        }
        if self.failed && self.close_written {
            return Ok(());
        }
        if self.failed && self.shared.pending() > 0 {
            // The Close of a violation waits until the instance has handled the messages that
            // came before it, so that their replies go out first (Autobahn 3.2, 5.15).
            return Ok(());
        }
        let data = self.codec.transmit_data();
        if !data.is_empty() {
            self.transport.queue(data)?;
            let len = data.len();
            self.codec.advance_transmit(len);
        }
        if self.codec.state() != State::Open {
            self.close_written = true;
            if self.failed {
                self.shared.mark_closed();
                self.closing_since.get_or_insert_with(Instant::now);
            }
        }
        Ok(())
    }

    /// Starts a close from this side: the handler goes stale and `on_disconnect` is queued.
    fn begin_close(&mut self, code: CloseCode, reason: &str) {
        if self.codec.close(code, reason).is_ok() {
            self.closing_since = Some(Instant::now());
            self.record_end(Initiator::Server, Some(code.0));
        }
        self.shared.mark_closed();
    }

    /// Publishes how much output is still unwritten, starts the stall timer while
    /// `backlogged`, ends a stall once the output drained, and keeps the stall's start for
    /// [`next_deadline`](Self::next_deadline). Takes the lock only when one of these changed.
    fn account_in_flight(&mut self, backlogged: bool) {
        let pending = self.transport.pending_len();
        if pending == self.published_in_flight && !backlogged && self.stalled_since.is_none() {
            // Nothing to publish, no stall to start or end (a stall a sender started since
            // `pump_output` looked comes with queued frames, hence a wake and another turn).
            return;
        }
        self.published_in_flight = pending;
        let mut out = self.shared.outbound();
        out.in_flight = pending;
        if pending == 0 && out.frames.is_empty() {
            out.stalled_since = None;
        } else if backlogged {
            out.stalled_since
                .get_or_insert_with(std::time::Instant::now);
        }
        self.stalled_since = out.stalled_since;
    }

    /// Handles whichever timer expired; returns true if the connection must be dropped.
    fn on_timer(&mut self) -> bool {
        let now = Instant::now();
        let settings = &self.st.settings;
        if let Some(since) = self.closing_since
            && now >= since + settings.handshake_timeout
        {
            // Spec §5.10: no Close came back in time.
            return true;
        }
        if self.codec.state() != State::Open {
            return false;
        }
        let idle = settings.idle_timeout;
        if !idle.is_zero() {
            let stalled = self.shared.outbound().stalled_since;
            if stalled.is_some_and(|since| now >= Instant::from_std(since) + idle) {
                // Spec §5.12: undelivered data is discarded before the 1008.
                self.shared.outbound().frames.clear();
                self.begin_close(CloseCode::POLICY_VIOLATION, "outbound buffer full");
                return false;
            }
            // While reading is paused the timer is suspended (spec §5.9): the loop restarts it.
            if now >= self.last_rx + idle && !self.paused {
                self.begin_close(CloseCode::GOING_AWAY, "idle timeout");
                return false;
            }
        }
        if self.ping_at.is_some_and(|at| now >= at) {
            let _ = self.codec.send(Message::Ping(bytes::Bytes::new()));
            self.ping_at = self.ping_at.map(|at| at + settings.ping_interval);
        }
        false
    }

    fn next_ping(&self, from: Instant) -> Option<Instant> {
        let interval = self.st.settings.ping_interval;
        (!interval.is_zero()).then(|| from + interval)
    }

    fn next_deadline(&self) -> Instant {
        let settings = &self.st.settings;
        let mut next = far_future();
        if let Some(since) = self.closing_since {
            next = next.min(since + settings.handshake_timeout);
        }
        if self.codec.state() == State::Open {
            if let Some(at) = self.ping_at {
                next = next.min(at);
            }
            if !settings.idle_timeout.is_zero() {
                next = next.min(self.last_rx + settings.idle_timeout);
                if let Some(since) = self.stalled_since {
                    next = next.min(Instant::from_std(since) + settings.idle_timeout);
                }
            }
        }
        next
    }

    fn record_end(&mut self, initiator: Initiator, code: Option<u16>) {
        self.ended.get_or_insert((initiator, code));
    }

    /// The connection is over: tell the instance (once), the registry and the counters, and
    /// close the socket (`abandoned`: without flushing it).
    ///
    /// Borrows the driver and reuses the connection's timer for the grace period, so its
    /// future is a few words: by value, with its own `timeout`, it was the largest state of
    /// the task (1,312 bytes) and so set the size of every idle connection's task.
    async fn finish(&mut self, abandoned: bool, mut sleep: Pin<&mut Sleep>) {
        self.shared.mark_closed();
        let (initiator, code) = self.ended.unwrap_or((Initiator::Transport, None));
        self.shared.metrics.record_close(initiator, code);
        self.shared
            .metrics
            .connections_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.st.registry.remove(self.shared.id);
        self.st.closed_one();
        // Spec §5.10: once the closing timeout has run out, the TCP connection is closed, not
        // flushed. Otherwise the last bytes (a Close reply, close_notify) get as long again to
        // leave. Unbounded, a peer that never reads would hold this task, its buffers and the
        // server's shutdown (which waits for every task) forever.
        if !abandoned {
            let grace = self.st.settings.handshake_timeout;
            sleep.as_mut().reset(Instant::now() + grace);
            let transport = &mut self.transport;
            transport.start_shutdown();
            poll_fn(|cx| {
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                transport.poll_shutdown(cx).map(|_| ())
            })
            .await;
        }
    }
}

/// What one wait of [`Driver::drive`] found ready.
#[derive(Default)]
struct Ready {
    woken: bool,
    readable: Option<io::Result<()>>,
    writable: Option<io::Result<()>>,
    timer: bool,
}

impl Ready {
    fn any(&self) -> bool {
        self.woken || self.readable.is_some() || self.writable.is_some() || self.timer
    }
}

/// The worker's spare receive buffers. A connection holds one only while it has undecoded
/// input (design §2: idle connections hold no buffers), and a busy worker does not allocate
/// one per read.
mod buffers {
    use std::cell::RefCell;

    use bytes::BytesMut;

    /// Spare buffers kept per worker thread.
    const KEEP: usize = 64;
    /// Larger buffers (grown for a large message) go back to the allocator.
    const MAX_KEPT_CAPACITY: usize = 64 * 1024;

    thread_local! {
        static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    }

    /// A spare buffer, or an empty one (the read reserves what it needs).
    pub(super) fn take() -> BytesMut {
        SPARE.with_borrow_mut(Vec::pop).unwrap_or_default()
    }

    /// Keeps an empty buffer for the next read on this worker. A buffer that still backs a
    /// message being handled is kept too: once that message is dropped, the next `reserve`
    /// reuses the whole allocation.
    pub(super) fn give(buffer: BytesMut) {
        debug_assert!(buffer.is_empty());
        if buffer.capacity() == 0 || buffer.capacity() > MAX_KEPT_CAPACITY {
            return;
        }
        SPARE.with_borrow_mut(|spare| {
            if spare.len() < KEEP {
                spare.push(buffer);
            }
        });
    }
}

/// A deadline that never comes: about thirty years ahead.
fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400 * 365 * 30)
}

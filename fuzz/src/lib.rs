//! The driver shared by the `connection_server` and `connection_client` fuzz targets.
//!
//! The input is a config byte followed by a script of operations (see [`parse_ops`]): bytes
//! from the peer, and the local side's own sends and closes. The script runs twice, once with
//! each input chunk as given and once with every chunk fed a byte at a time; both runs check
//! the invariants below after every operation, and must produce the same transcript.
//!
//! Invariants:
//! - once `handle_input` fails, the state is `Closing`, and all later input is accepted and
//!   yields no event and no output;
//! - a `Closed` connection takes input without events or output;
//! - every `Event::Message` is text or binary, and text is valid UTF-8; `Closed` is the last
//!   event and comes with `State::Closed`;
//! - every output byte is accepted by a peer `Connection` of the other role (so server output
//!   is unmasked, client output masked, and both are valid RFC 6455); the peer receives the
//!   data messages sent, in order, and nothing after a Close; the Close it receives carries
//!   the code of the failure, of `close`, or the echo of the code that was received.

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use bytes::Bytes;
use lapps_proto::close::{CloseCode, CloseFrame};
use lapps_proto::config::{Config, Role};
use lapps_proto::error::{ProtocolError, SendError};
use lapps_proto::header::FrameHeader;
use lapps_proto::{Connection, Event, Message, OpCode, State, Status};

/// Runs the script in `data` against a connection playing `role`.
///
/// # Panics
///
/// When the connection breaks one of the invariants in the crate docs.
pub fn connection(role: Role, data: &[u8]) {
    let Some((&cfg, script)) = data.split_first() else {
        return;
    };
    let config = config(cfg);
    let ops = parse_ops(script);
    let as_given = run(role, config, &ops, false);
    let bytewise = run(role, config, &ops, true);
    assert_eq!(
        as_given, bytewise,
        "the same script fed byte by byte differs"
    );
}

/// One step of the script.
#[derive(Debug)]
pub enum Op<'a> {
    /// `handle_input` with these bytes.
    Input(&'a [u8]),
    /// The bytes appended to `recv_buffer`, then `handle_received`.
    Received(&'a [u8]),
    /// `send` this message.
    Send(Message),
    /// `close` with this code and reason.
    Close(CloseCode, String),
    /// `poll_transmit`.
    Transmit,
    /// `poll_transmit_bytes`.
    TransmitBytes,
    /// `transmit_data`, then `advance_transmit` by this many bytes: a partial write.
    TransmitSome(usize),
    /// `release_buffers`.
    ReleaseBuffers,
}

/// Decodes a script. Each operation starts with a tag byte:
///
/// | tag | operation |
/// | --- | --- |
/// | `0x00..=0xDF` | input of the next `tag + 1` bytes |
/// | `0xE0` | input of all remaining bytes |
/// | `0xE1`–`0xE4` | send text (lossy UTF-8), binary, ping, pong of `n` bytes (next byte `n`) |
/// | `0xE5` | `close`: a big-endian code, then `n` and a reason of `n` bytes (lossy UTF-8) |
/// | `0xE6` | send `Message::Close(None)` |
/// | `0xE7` | `poll_transmit` |
/// | `0xE8` | `poll_transmit_bytes` |
/// | `0xE9` | a partial write of `n` bytes (next byte `n`) |
/// | `0xEA` | `release_buffers` |
/// | `0xEB..=0xEF` | nothing |
/// | `0xF0..=0xFF` | `recv_buffer` + `handle_received` with the next `tag - 0xEF` bytes |
///
/// After the script all output is taken, with `poll_transmit`.
pub fn parse_ops(mut script: &[u8]) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    while let Some((&tag, rest)) = script.split_first() {
        script = rest;
        let op = match tag {
            0x00..=0xDF => Op::Input(take(&mut script, usize::from(tag) + 1)),
            0xE0 => Op::Input(take(&mut script, usize::MAX)),
            0xE1..=0xE4 => {
                let n = take_byte(&mut script);
                let payload = take(&mut script, usize::from(n));
                Op::Send(match tag {
                    0xE1 => Message::from(String::from_utf8_lossy(payload).into_owned()),
                    0xE2 => Message::Binary(Bytes::copy_from_slice(payload)),
                    0xE3 => Message::Ping(Bytes::copy_from_slice(payload)),
                    _ => Message::Pong(Bytes::copy_from_slice(payload)),
                })
            }
            0xE5 => {
                let code = u16::from_be_bytes([take_byte(&mut script), take_byte(&mut script)]);
                let n = take_byte(&mut script);
                let reason = String::from_utf8_lossy(take(&mut script, usize::from(n)));
                Op::Close(CloseCode(code), reason.into_owned())
            }
            0xE6 => Op::Send(Message::Close(None)),
            0xE7 => Op::Transmit,
            0xE8 => Op::TransmitBytes,
            0xE9 => Op::TransmitSome(usize::from(take_byte(&mut script))),
            0xEA => Op::ReleaseBuffers,
            0xEB..=0xEF => continue,
            0xF0..=0xFF => Op::Received(take(&mut script, usize::from(tag - 0xEF))),
        };
        ops.push(op);
    }
    ops
}

/// Decodes the config byte: bit 0 turns `auto_pong` off, bits 1–2 pick `fragment_size`, bits
/// 3–4 `max_frame_size`, bits 5–6 `max_message_size`, bit 7 sets `accept_unmasked`.
pub fn config(cfg: u8) -> Config {
    let fragment = [
        None,
        NonZeroUsize::new(1),
        NonZeroUsize::new(3),
        NonZeroUsize::new(125),
    ];
    let sizes = [16 << 20, 0, 125, 1000];
    Config::default()
        .auto_pong(cfg & 1 == 0)
        .fragment_size(fragment[usize::from((cfg >> 1) & 3)])
        .max_frame_size(sizes[usize::from((cfg >> 3) & 3)])
        .max_message_size(sizes[usize::from((cfg >> 5) & 3)])
        .accept_unmasked(cfg & 0x80 != 0)
}

/// What one operation did.
#[derive(Debug, PartialEq)]
struct Step {
    result: Result<(), Outcome>,
    events: Vec<Event>,
    output: Vec<u8>,
    state: State,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Protocol(ProtocolError),
    Send(SendError),
}

fn run(role: Role, config: Config, ops: &[Op<'_>], bytewise: bool) -> Vec<Step> {
    let mut conn = match role {
        Role::Server => Connection::server(config),
        Role::Client => Connection::client(config, counter_masks()),
    };
    let mut check = Checker::new(role);
    let mut transcript = Vec::new();
    for op in ops.iter().chain([&Op::Transmit]) {
        let before = conn.state();
        let queued = conn.transmit_len();
        let mut output = Vec::new();
        let result = match op {
            Op::Input(bytes) => feed(&mut conn, bytes, bytewise, false),
            Op::Received(bytes) => feed(&mut conn, bytes, bytewise, true),
            Op::Send(message) => {
                let result = conn.send(message.clone());
                check.on_send(before, message, result);
                result.map_err(Outcome::Send)
            }
            Op::Close(code, reason) => {
                let result = conn.close(*code, reason);
                let message = Message::Close(Some(CloseFrame::new(*code, "")));
                check.on_send(before, &message, result);
                result.map_err(Outcome::Send)
            }
            Op::Transmit => {
                assert_eq!(conn.poll_transmit(&mut output), !output.is_empty());
                Ok(())
            }
            Op::TransmitBytes => {
                if let Some(bytes) = conn.poll_transmit_bytes() {
                    assert!(!bytes.is_empty());
                    output.extend_from_slice(&bytes);
                }
                Ok(())
            }
            Op::TransmitSome(n) => {
                let data = conn.transmit_data();
                output.extend_from_slice(&data[..data.len().min(*n)]);
                let left = data.len() - output.len();
                conn.advance_transmit(*n);
                assert_eq!(conn.transmit_len(), left);
                Ok(())
            }
            Op::ReleaseBuffers => {
                conn.release_buffers();
                assert_eq!(conn.transmit_len(), queued);
                Ok(())
            }
        };
        let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
        let step = Step {
            result,
            events,
            output,
            state: conn.state(),
        };
        match op {
            Op::Input(_) | Op::Received(_) => check.on_input(before, queued, &step, &conn),
            Op::Transmit | Op::TransmitBytes | Op::TransmitSome(_) => {
                check.on_output(&step.output);
            }
            Op::Send(_) | Op::Close(..) | Op::ReleaseBuffers => {}
        }
        transcript.push(step);
    }
    check.finish(conn.state());
    transcript
}

/// Feeds `bytes` whole or one byte at a time; returns the first error.
fn feed(
    conn: &mut Connection,
    bytes: &[u8],
    bytewise: bool,
    received: bool,
) -> Result<(), Outcome> {
    let mut input = |chunk: &[u8]| {
        if received {
            conn.recv_buffer().extend_from_slice(chunk);
            conn.handle_received()
        } else {
            conn.handle_input(chunk)
        }
    };
    if !bytewise || bytes.is_empty() {
        return input(bytes).map_err(Outcome::Protocol);
    }
    let mut first = Ok(());
    for byte in bytes {
        let result = input(std::slice::from_ref(byte));
        if first.is_ok() {
            first = result;
        } else {
            assert_eq!(result, Ok(()), "input after a failure must be discarded");
        }
    }
    first.map_err(Outcome::Protocol)
}

/// Tracks what the connection has done, and a peer that receives its output.
struct Checker {
    failed: Option<ProtocolError>,
    /// A failure's Close that no output call has queued yet.
    failure_close_pending: bool,
    closed_event: bool,
    peer: Connection,
    /// Data messages sent and not yet received by the peer.
    in_flight: VecDeque<Message>,
    /// The code of the Close the peer must receive: `Some(None)` for an empty Close.
    expected_close: Option<Option<CloseCode>>,
    peer_got_close: bool,
    /// Output not yet parsed into whole frames (writes may end mid-frame).
    unparsed: Vec<u8>,
    /// A Close frame has been written: from now on only Pongs may follow.
    close_written: bool,
}

impl Checker {
    fn new(role: Role) -> Self {
        let peer_config = Config::default().auto_pong(false);
        let peer = match role {
            Role::Server => Connection::client(peer_config, counter_masks()),
            Role::Client => Connection::server(peer_config),
        };
        Self {
            failed: None,
            failure_close_pending: false,
            closed_event: false,
            peer,
            in_flight: VecDeque::new(),
            expected_close: None,
            peer_got_close: false,
            unparsed: Vec::new(),
            close_written: false,
        }
    }

    fn on_send(&mut self, before: State, message: &Message, result: Result<(), SendError>) {
        // Until a failure's Close is queued, replies to earlier messages may still be sent.
        if before != State::Open && !self.failure_close_pending {
            assert_eq!(
                result,
                Err(SendError::Closed),
                "{message:?} sent in {before:?}"
            );
            return;
        }
        if result.is_err() {
            return;
        }
        match message {
            Message::Text(_) | Message::Binary(_) => self.in_flight.push_back(message.clone()),
            Message::Close(frame) => {
                assert!(self.expected_close.is_none(), "a second Close was accepted");
                self.expected_close = Some(frame.as_ref().map(|f| f.code));
            }
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }

    fn on_input(&mut self, before: State, queued: usize, step: &Step, conn: &Connection) {
        if self.failed.is_some() || before == State::Closed {
            assert_eq!(step.result, Ok(()), "input after a failure or after Closed");
            assert!(
                step.events.is_empty(),
                "events after a failure or after Closed"
            );
            assert_eq!(step.state, before);
            assert_eq!(
                conn.transmit_len(),
                queued,
                "output after a failure or after Closed"
            );
            return;
        }
        for event in &step.events {
            assert!(!self.closed_event, "an event after Closed: {event:?}");
            match event {
                Event::Message(Message::Text(text)) => {
                    assert!(std::str::from_utf8(text.as_bytes()).is_ok());
                }
                Event::Message(Message::Binary(_)) | Event::Ping(_) | Event::Pong(_) => {}
                Event::Message(other) => panic!("a non-data message event: {other:?}"),
                Event::Closed(frame) => {
                    self.closed_event = true;
                    assert_eq!(step.state, State::Closed);
                    if before == State::Open {
                        let echo = frame.as_ref().map_or(CloseCode::NORMAL, |f| f.code);
                        self.expected_close = Some(Some(echo));
                    }
                }
            }
        }
        if let Err(Outcome::Protocol(error)) = step.result {
            assert!(!self.closed_event);
            assert_eq!(step.state, State::Closing, "state after {error:?}");
            self.failed = Some(error);
            if before == State::Open {
                self.expected_close = Some(Some(error.close_code()));
                self.failure_close_pending = true;
            }
        }
        if before == State::Open && step.state != State::Open {
            assert!(self.expected_close.is_some());
        }
        if step.state == State::Closed {
            assert!(self.closed_event, "Closed without a Closed event");
        }
    }

    /// Follows the output frame by frame, across writes that end mid-frame: RFC 6455 §5.5.2
    /// lets an endpoint answer Pings after its own Close, so Pongs, and only Pongs, may follow
    /// a Close.
    fn check_frames_after_close(&mut self, output: &[u8]) {
        self.unparsed.extend_from_slice(output);
        let mut at = 0;
        while let Ok(Status::Complete((header, len))) = FrameHeader::parse(&self.unparsed[at..]) {
            let end = usize::try_from(header.payload_len)
                .ok()
                .and_then(|n| n.checked_add(at + len))
                .filter(|end| *end <= self.unparsed.len());
            let Some(end) = end else { break };
            if self.close_written {
                assert_eq!(
                    header.opcode,
                    OpCode::Pong,
                    "a frame other than a Pong after a Close: {:x?}",
                    &self.unparsed[at..end]
                );
            }
            self.close_written |= header.opcode == OpCode::Close;
            at = end;
        }
        self.unparsed.drain(..at);
    }

    fn on_output(&mut self, output: &[u8]) {
        // Every output method queues a pending failure's Close first.
        self.failure_close_pending = false;
        if output.is_empty() {
            return;
        }
        self.check_frames_after_close(output);
        if self.peer_got_close {
            return;
        }
        if let Err(error) = self.peer.handle_input(output) {
            panic!("the peer rejects the output with {error:?}: {output:x?}");
        }
        while let Some(event) = self.peer.poll_event() {
            match event {
                Event::Message(message) => {
                    assert_eq!(Some(message), self.in_flight.pop_front());
                }
                Event::Closed(frame) => {
                    let expected = self.expected_close.expect("a Close is expected");
                    assert_eq!(frame.map(|f| f.code), expected);
                    self.peer_got_close = true;
                }
                Event::Ping(_) | Event::Pong(_) => {}
            }
        }
    }

    fn finish(&self, state: State) {
        assert!(
            self.in_flight.is_empty(),
            "messages never sent: {:?}",
            self.in_flight
        );
        assert_eq!(self.peer_got_close, state != State::Open);
    }
}

/// Deterministic mask keys, so that both runs of a script produce the same bytes.
fn counter_masks() -> impl FnMut() -> [u8; 4] + Send {
    let mut counter = 0u32;
    move || {
        counter = counter.wrapping_add(0x9E37_79B9);
        counter.to_be_bytes()
    }
}

/// Splits off up to `n` bytes from the front of `script`.
fn take<'a>(script: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = script.split_at(n.min(script.len()));
    *script = tail;
    head
}

/// Takes one byte from the front of `script`, or 0 at its end.
fn take_byte(script: &mut &[u8]) -> u8 {
    take(script, 1).first().copied().unwrap_or(0)
}

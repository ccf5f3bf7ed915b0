//! The connection state machine: messages, control frames and the close handshake.

use std::collections::VecDeque;
use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame, MAX_CLOSE_REASON};
use crate::config::{Config, Role};
use crate::error::{ProtocolError, SendError};
use crate::extension::Extension;
use crate::frame::{FrameDecoder, encode_frame, encode_message};
use crate::header::{FrameHeader, MAX_CONTROL_PAYLOAD};
use crate::message::{Message, Utf8Bytes};
use crate::opcode::OpCode;
use crate::utf8::Utf8Validator;

mod receive;
#[cfg(test)]
mod tests;

/// Where a connection is in its life (RFC 6455 §7).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// This side sent a Close (or failed the connection) and waits for the peer's Close.
    /// Received data frames are discarded.
    Closing,
    /// The close handshake is complete: flush [`Connection::poll_transmit`], then close the
    /// transport (a server closes first, RFC 6455 §7.1.1).
    Closed,
}

/// What a [`Connection`] reports from its input.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Event {
    /// A complete data message: always [`Message::Text`] or [`Message::Binary`].
    Message(Message),
    /// A Ping arrived. With [`Config::auto_pong`] the Pong is already queued.
    Ping(Bytes),
    /// A Pong arrived.
    Pong(Bytes),
    /// The peer's Close arrived; the connection is now [`State::Closed`]. If this side had not
    /// sent a Close yet, the reply is queued: the same code without a reason, or 1000 for an
    /// empty Close (RFC 6455 §5.5.1).
    Closed(Option<CloseFrame>),
}

/// Supplies the masking keys of the client role, one per frame.
///
/// RFC 6455 §5.3 wants each key freshly chosen from a strong source of entropy. The codec has
/// no randomness of its own, so the caller provides it; any `FnMut() -> [u8; 4] + Send`
/// closure is a `MaskSource`.
pub trait MaskSource: Send {
    /// Returns the key for the next frame.
    fn next_mask(&mut self) -> [u8; 4];
}

impl<F: FnMut() -> [u8; 4] + Send> MaskSource for F {
    fn next_mask(&mut self) -> [u8; 4] {
        self()
    }
}

/// A WebSocket connection after the opening handshake, as a sans-IO state machine.
///
/// The methods fall into four groups, as in quinn-proto:
///
/// - getters: [`role`](Self::role), [`state`](Self::state), [`is_closed`](Self::is_closed),
///   [`transmit_len`](Self::transmit_len);
/// - input: [`handle_input`](Self::handle_input), or the copy-free pair
///   [`recv_buffer`](Self::recv_buffer) and [`handle_received`](Self::handle_received);
/// - commands: [`send`](Self::send), [`close`](Self::close);
/// - output: [`poll_event`](Self::poll_event) for what arrived, and
///   [`poll_transmit`](Self::poll_transmit) (or [`transmit_data`](Self::transmit_data) with
///   [`advance_transmit`](Self::advance_transmit)) for the bytes to write.
///
/// When the peer breaks the protocol, the input method returns the [`ProtocolError`] and the
/// state becomes [`State::Closing`]. Events decoded before the violation are still delivered,
/// and replies to them may still be sent: the matching Close (1002, 1007 or 1009) goes out
/// behind them, with the next call to an output method. Flush the output, then drop the
/// transport. Nothing is allocated until
/// it is needed, so an idle connection costs only the size of this struct.
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    /// Received bytes not yet decoded.
    rx: BytesMut,
    decoder: FrameDecoder,
    /// The data message being received.
    incoming: Option<Incoming>,
    /// UTF-8 state of the text message being received.
    utf8: Utf8Validator,
    /// Payload bytes of the pending frame already UTF-8 checked.
    checked: usize,
    events: VecDeque<Event>,
    /// Encoded frames waiting to be written.
    tx: BytesMut,
    masks: Option<Box<dyn MaskSource>>,
    extension: Option<Box<dyn Extension>>,
    /// The peer broke the protocol; all further input is discarded.
    failed: bool,
    /// The violation whose Close is queued at the next output call, behind the replies to
    /// the events decoded before it.
    pending_close: Option<ProtocolError>,
}

/// A data message being reassembled.
#[derive(Debug)]
struct Incoming {
    opcode: OpCode,
    /// RSV bits of the first frame: nonzero means an extension transforms the message.
    rsv: u8,
    /// The fragments so far, concatenated.
    data: BytesMut,
}

impl Connection {
    /// Creates the server end of a connection.
    pub fn server(config: Config) -> Self {
        Self::new(Role::Server, config, None)
    }

    /// Creates the client end of a connection; `masks` supplies a masking key per frame.
    pub fn client(config: Config, masks: impl MaskSource + 'static) -> Self {
        Self::new(Role::Client, config, Some(Box::new(masks)))
    }

    fn new(role: Role, config: Config, masks: Option<Box<dyn MaskSource>>) -> Self {
        let mut decoder = FrameDecoder::new(role, config.max_frame_size);
        decoder.set_accept_unmasked(config.accept_unmasked);
        Self {
            role,
            config,
            state: State::Open,
            rx: BytesMut::new(),
            decoder,
            incoming: None,
            utf8: Utf8Validator::new(),
            checked: 0,
            events: VecDeque::new(),
            tx: BytesMut::new(),
            masks,
            extension: None,
            failed: false,
            pending_close: None,
        }
    }

    /// Installs a negotiated extension (RFC 6455 §9). Call it before any frame is exchanged.
    pub fn set_extension(&mut self, extension: Box<dyn Extension>) {
        self.decoder.set_allowed_rsv(extension.rsv_bits());
        self.extension = Some(extension);
    }

    /// Appends received bytes and processes them.
    ///
    /// # Errors
    ///
    /// The [`ProtocolError`] the peer committed. The Close that reports it is queued; flush
    /// the output and drop the transport.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        if self.discards_input() {
            return Ok(());
        }
        self.process_slice(data)
    }

    /// Returns the receive buffer, so that a caller can read from its transport straight into
    /// it (for example with tokio's `read_buf`); then call
    /// [`handle_received`](Self::handle_received).
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        &mut self.rx
    }

    /// Processes the bytes appended to [`recv_buffer`](Self::recv_buffer).
    ///
    /// # Errors
    ///
    /// As [`handle_input`](Self::handle_input).
    pub fn handle_received(&mut self) -> Result<(), ProtocolError> {
        if self.discards_input() {
            self.rx.clear();
            return Ok(());
        }
        self.process_input()
    }

    /// Queues a message.
    ///
    /// Text and binary messages become one frame, or several with
    /// [`Config::fragment_size`]. [`Message::Close`] is the same as [`close`](Self::close)
    /// (with `None`, a Close with no payload).
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] once a Close was sent or received;
    /// [`SendError::ControlFrameTooLong`] for a ping or pong over 125 bytes; the errors of
    /// [`close`](Self::close); [`SendError::Extension`].
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        // While a failure's Close is pending, replies may still go out, but no other Close.
        let may_send = match message {
            Message::Close(_) => self.state == State::Open,
            _ => self.state == State::Open || self.pending_close.is_some(),
        };
        if !may_send {
            return Err(SendError::Closed);
        }
        match message {
            Message::Text(text) => self.send_data(OpCode::Text, text.into_bytes()),
            Message::Binary(data) => self.send_data(OpCode::Binary, data),
            Message::Ping(data) => self.send_control(OpCode::Ping, &data),
            Message::Pong(data) => self.send_control(OpCode::Pong, &data),
            Message::Close(Some(frame)) => self.close(frame.code, frame.reason.as_str()),
            Message::Close(None) => {
                self.queue_frame(true, 0, OpCode::Close, &[]);
                self.enter_closing();
                Ok(())
            }
        }
    }

    /// Starts the close handshake with `code` and `reason` (RFC 6455 §7.1.2).
    ///
    /// The Close is queued after everything already queued. The state becomes
    /// [`State::Closing`]; received data is discarded until the peer's Close arrives.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] if a Close was already sent or received;
    /// [`SendError::InvalidCloseCode`] for a code outside 1000–1003, 1007–1014 and
    /// 3000–4999; [`SendError::CloseReasonTooLong`] for a reason over 123 bytes.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        // RFC 6455 §7.4.1: 1005 and 1006 (and the other reserved codes) MUST NOT be sent.
        if !code.is_valid() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_CLOSE_REASON {
            return Err(SendError::CloseReasonTooLong);
        }
        self.queue_close(code, reason.as_bytes());
        self.enter_closing();
        Ok(())
    }

    /// Returns the next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves every queued output byte to the end of `dst`; returns true if there were any.
    pub fn poll_transmit(&mut self, dst: &mut Vec<u8>) -> bool {
        self.queue_pending_close();
        if self.tx.is_empty() {
            return false;
        }
        dst.extend_from_slice(&self.tx);
        self.tx.clear();
        true
    }

    /// Takes every queued output byte without copying; `None` if there are none.
    pub fn poll_transmit_bytes(&mut self) -> Option<Bytes> {
        self.queue_pending_close();
        if self.tx.is_empty() {
            None
        } else {
            Some(self.tx.split().freeze())
        }
    }

    /// Returns the queued output bytes, for a caller that writes what it can and then calls
    /// [`advance_transmit`](Self::advance_transmit).
    pub fn transmit_data(&mut self) -> &[u8] {
        self.queue_pending_close();
        &self.tx
    }

    /// Drops the first `n` queued output bytes (at most all of them), once they are written.
    pub fn advance_transmit(&mut self, n: usize) {
        let n = n.min(self.tx.len());
        if n == self.tx.len() {
            self.tx.clear();
        } else {
            bytes::Buf::advance(&mut self.tx, n);
        }
    }

    /// Frees the receive and transmit buffers and the event queue if they are empty, so that
    /// an idle connection holds no memory beyond this struct.
    ///
    /// The event queue keeps the capacity of its busiest moment otherwise: 4 events (192
    /// bytes) once one message has arrived, for as long as the connection lives.
    pub fn release_buffers(&mut self) {
        if self.rx.is_empty() && self.decoder.pending_header().is_none() {
            self.rx = BytesMut::new();
        }
        if self.tx.is_empty() {
            self.tx = BytesMut::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
    }

    /// Returns this end's role.
    pub const fn role(&self) -> Role {
        self.role
    }

    /// Returns the connection state.
    pub const fn state(&self) -> State {
        self.state
    }

    /// Returns true once the close handshake is complete.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Returns the number of output bytes queued and not yet taken, including the Close of a
    /// failure that the next output call queues.
    pub fn transmit_len(&self) -> usize {
        let pending = self.pending_close.map_or(0, |error| {
            // Header, code and reason, as `queue_close` writes them.
            4 + error.to_string().len().min(MAX_CLOSE_REASON)
        });
        self.tx.len() + pending
    }

    /// Returns the configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// Moves to [`State::Closing`] after this side's Close: a message being received is
    /// dropped, and data frames are discarded from now on (RFC 6455 §5.5.1).
    fn enter_closing(&mut self) {
        self.state = State::Closing;
        self.incoming = None;
        self.utf8.reset();
    }

    /// Queues the Close of a protocol failure, behind whatever the caller sent since.
    fn queue_pending_close(&mut self) {
        if let Some(error) = self.pending_close.take() {
            let reason = error.to_string();
            self.queue_close(error.close_code(), reason.as_bytes());
        }
    }

    fn discards_input(&self) -> bool {
        self.failed || self.state == State::Closed
    }

    fn send_data(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), SendError> {
        let (rsv, payload) = match &mut self.extension {
            Some(extension) => extension.encode_message(opcode, payload)?,
            None => (0, payload),
        };
        // RFC 6455 §5.3: a client masks every frame with a fresh key; a server never masks.
        let mut next = self.masks.as_mut().map(|m| move || m.next_mask());
        let masks = next.as_mut().map(|f| f as &mut dyn FnMut() -> [u8; 4]);
        encode_message(
            opcode,
            rsv,
            &payload,
            self.config.fragment_size,
            masks,
            &mut self.tx,
        );
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        // RFC 6455 §5.5: all control frames MUST have a payload length of 125 bytes or less.
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlFrameTooLong);
        }
        self.queue_frame(true, 0, opcode, payload);
        Ok(())
    }

    fn queue_close(&mut self, code: CloseCode, reason: &[u8]) {
        let mut payload = [0; MAX_CONTROL_PAYLOAD];
        payload[..2].copy_from_slice(&code.0.to_be_bytes());
        let len = reason.len().min(MAX_CLOSE_REASON);
        payload[2..2 + len].copy_from_slice(&reason[..len]);
        self.queue_frame(true, 0, OpCode::Close, &payload[..2 + len]);
    }

    fn queue_frame(&mut self, fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) {
        // RFC 6455 §5.3: a client masks every frame with a fresh key; a server never masks.
        let mask = self.masks.as_mut().map(|m| m.next_mask());
        encode_frame(fin, rsv, opcode, payload, mask, &mut self.tx);
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered_in", &self.rx.len())
            .field("buffered_out", &self.tx.len())
            .field("events", &self.events.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Returns true if a frame with this header continues or starts a text message that no
/// extension transforms, so its payload can be UTF-8 checked as it arrives.
fn is_plain_text(header: &FrameHeader, incoming: Option<&Incoming>) -> bool {
    match header.opcode {
        OpCode::Text => header.rsv == 0,
        OpCode::Continuation => incoming.is_some_and(|m| m.opcode == OpCode::Text && m.rsv == 0),
        _ => false,
    }
}

/// Builds a text message from bytes that passed validation.
fn text(payload: Bytes) -> Message {
    Message::Text(Utf8Bytes::from_validated(payload))
}

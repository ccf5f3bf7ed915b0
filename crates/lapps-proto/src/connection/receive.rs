//! The receive path: frames to messages, control frames, and failing the connection.

use bytes::{Bytes, BytesMut};

use super::{Connection, Event, Incoming, State, is_plain_text, text};
use crate::close::{CloseCode, CloseFrame};
use crate::error::ProtocolError;
use crate::frame::Frame;
use crate::header::FrameHeader;
use crate::message::Message;
use crate::opcode::OpCode;
use crate::utf8;

/// The size of the pieces in which [`Connection::handle_input`] copies its input into the
/// receive buffer, decoding after each. Pieces of 4 to 32 KiB measured the same.
const INPUT_PIECE: usize = 16 << 10;

impl Connection {
    /// Decodes every complete frame in the receive buffer, then checks the payload of a
    /// partial one so that invalid text fails before its frame ends.
    pub(super) fn process_input(&mut self) -> Result<(), ProtocolError> {
        match self.decode_all() {
            Ok(()) => Ok(()),
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Appends `data` to the receive buffer and processes it, as `process_input` after one
    /// `extend_from_slice` would, but a piece of [`INPUT_PIECE`] bytes at a time: each piece
    /// is decoded, and so unmasked, right after it is copied, while it is still in cache,
    /// instead of after all of a read (often 64 KiB or more) was copied. 16 KiB messages
    /// decode about 8 % faster so (docs/performance.md, "decode").
    pub(super) fn process_slice(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        match self.decode_slice(data) {
            Ok(()) => Ok(()),
            Err(error) => Err(self.fail(error)),
        }
    }

    fn decode_slice(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        // One reservation for all of it, as one `extend_from_slice` would make: the frames
        // split off between pieces leave the rest of the capacity with `rx`.
        self.rx.reserve(data.len());
        let mut rest = data;
        loop {
            let (piece, tail) = rest.split_at(rest.len().min(INPUT_PIECE));
            self.rx.extend_from_slice(piece);
            if !self.decode_frames()? {
                return Ok(());
            }
            rest = tail;
            if rest.is_empty() {
                return self.check_partial();
            }
        }
    }

    fn decode_all(&mut self) -> Result<(), ProtocolError> {
        if self.decode_frames()? {
            self.check_partial()
        } else {
            Ok(())
        }
    }

    /// Decodes and handles every complete frame in the receive buffer. Returns false if the
    /// connection now discards its input (the buffer is then cleared).
    fn decode_frames(&mut self) -> Result<bool, ProtocolError> {
        while !self.discards_input() {
            let Some(frame) = self.decoder.decode(&mut self.rx)? else {
                return Ok(true);
            };
            self.on_frame(frame)?;
        }
        self.rx.clear();
        Ok(false)
    }

    /// Checks the frame still arriving: its place in the message sequence, the message size
    /// and, for text, the UTF-8 received so far (RFC 6455 §8.1: fail fast).
    fn check_partial(&mut self) -> Result<(), ProtocolError> {
        let Some((header, seen)) = self.decoder.pending_payload(&self.rx) else {
            return Ok(());
        };
        let header = *header;
        if self.state != State::Open && !header.opcode.is_control() {
            // Data after this side's Close is discarded, whatever its sequence.
            return Ok(());
        }
        self.check_sequence(&header)?;
        if self.state == State::Open
            && is_plain_text(&header, self.incoming.as_ref())
            && seen.len() > self.checked
        {
            self.utf8
                .feed(&seen[self.checked..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            self.checked = seen.len();
        }
        Ok(())
    }

    /// Applies the rules that depend on the message in progress (RFC 6455 §5.4) and the
    /// message size limit, from the header alone.
    fn check_sequence(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        let so_far = match (header.opcode, &self.incoming) {
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation);
            }
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(incoming)) => incoming.data.len() as u64,
            (OpCode::Text | OpCode::Binary, None) => 0,
            _ => return check_control_rsv(header),
        };
        // RFC 6455 §5.2 with RFC 7692's use of it: only the first frame of a message carries
        // an extension's RSV bits.
        if header.opcode == OpCode::Continuation && header.rsv != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let limit = self.config.max_message_size as u64;
        if so_far + header.payload_len > limit {
            return Err(ProtocolError::MessageTooLarge { limit });
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), ProtocolError> {
        let header = FrameHeader {
            fin: frame.fin,
            rsv: frame.rsv,
            opcode: frame.opcode,
            mask: None,
            payload_len: frame.payload.len() as u64,
        };
        let checked = std::mem::take(&mut self.checked);
        if self.state != State::Open && !frame.opcode.is_control() {
            // RFC 6455 §5.5.1: after sending a Close, data is discarded, whatever its sequence.
            return Ok(());
        }
        self.check_sequence(&header)?;
        match frame.opcode {
            OpCode::Ping => self.on_ping(frame.payload),
            OpCode::Pong => self.events.push_back(Event::Pong(frame.payload)),
            OpCode::Close => self.on_close(&frame.payload)?,
            OpCode::Text | OpCode::Binary => self.on_first_frame(frame, checked)?,
            _ => self.on_continuation(&frame, checked)?,
        }
        Ok(())
    }

    fn on_first_frame(&mut self, frame: Frame, checked: usize) -> Result<(), ProtocolError> {
        let plain_text = frame.opcode == OpCode::Text && frame.rsv == 0;
        if plain_text {
            self.check_utf8(&frame.payload, checked, frame.fin)?;
        }
        if frame.fin {
            return self.deliver(frame.opcode, frame.rsv, frame.payload);
        }
        // Only fragmented messages are copied: into one buffer, fragment after fragment.
        self.incoming = Some(Incoming {
            opcode: frame.opcode,
            rsv: frame.rsv,
            data: BytesMut::from(&frame.payload[..]),
        });
        Ok(())
    }

    fn on_continuation(&mut self, frame: &Frame, checked: usize) -> Result<(), ProtocolError> {
        let Some(incoming) = self.incoming.as_mut() else {
            return Err(ProtocolError::UnexpectedContinuation);
        };
        incoming.data.extend_from_slice(&frame.payload);
        let plain_text = incoming.opcode == OpCode::Text && incoming.rsv == 0;
        if plain_text {
            self.check_utf8(&frame.payload, checked, frame.fin)?;
        }
        if !frame.fin {
            return Ok(());
        }
        let Some(incoming) = self.incoming.take() else {
            return Err(ProtocolError::UnexpectedContinuation);
        };
        self.deliver(incoming.opcode, incoming.rsv, incoming.data.freeze())
    }

    /// Checks the unchecked part of a text frame's payload; at the end of the message, also
    /// that no code point is left open.
    fn check_utf8(
        &mut self,
        payload: &[u8],
        checked: usize,
        fin: bool,
    ) -> Result<(), ProtocolError> {
        let rest = payload.get(checked..).unwrap_or_default();
        let result = if fin && self.utf8.is_complete() && checked == 0 && self.incoming.is_none() {
            // The common case, a whole text message in one frame: one bulk pass.
            if utf8::is_valid(rest) {
                Ok(())
            } else {
                Err(utf8::InvalidUtf8)
            }
        } else {
            self.utf8
                .feed(rest)
                .and_then(|()| if fin { self.utf8.finish() } else { Ok(()) })
        };
        result.map_err(|_| ProtocolError::InvalidUtf8)
    }

    #[inline]
    fn deliver(&mut self, opcode: OpCode, rsv: u8, payload: Bytes) -> Result<(), ProtocolError> {
        let payload = match (rsv, &mut self.extension) {
            (0, _) | (_, None) => payload,
            (_, Some(extension)) => {
                let max = self.config.max_message_size;
                let decoded = extension.decode_message(rsv, opcode, payload, max)?;
                if decoded.len() > max {
                    return Err(ProtocolError::MessageTooLarge { limit: max as u64 });
                }
                if opcode == OpCode::Text && !utf8::is_valid(&decoded) {
                    return Err(ProtocolError::InvalidUtf8);
                }
                decoded
            }
        };
        // Built by `resize_with`'s closure, after the queue has made room, the event is
        // written straight into its slot. `push_back(Event::Message(..))` builds it on the
        // stack first, with 8-byte stores, and copies it with 16-byte loads that the CPU
        // cannot forward from those stores: a stall of about 15 % of a 64-byte message's
        // decode (docs/performance.md, "decode").
        let mut payload = Some(payload);
        let len = self.events.len();
        self.events.resize_with(len + 1, || {
            let payload = payload.take().unwrap_or_default();
            Event::Message(if opcode == OpCode::Text {
                text(payload)
            } else {
                Message::Binary(payload)
            })
        });
        Ok(())
    }

    fn on_ping(&mut self, payload: Bytes) {
        // RFC 6455 §5.5.2: a Ping is answered with a Pong carrying the same data, unless a
        // Close was already received (then the state is Closed and input is discarded). A
        // Close this side sent does not exempt it: the Pong follows that Close.
        if self.config.auto_pong {
            self.queue_frame(true, 0, OpCode::Pong, &payload);
        }
        self.events.push_back(Event::Ping(payload));
    }

    fn on_close(&mut self, payload: &Bytes) -> Result<(), ProtocolError> {
        let frame = CloseFrame::parse(payload)?;
        if self.state == State::Open {
            // RFC 6455 §5.5.1: reply with a Close, typically echoing the status code.
            let code = frame.as_ref().map_or(CloseCode::NORMAL, |f| f.code);
            self.queue_close(code, &[]);
        }
        self.state = State::Closed;
        self.incoming = None;
        self.events.push_back(Event::Closed(frame));
        Ok(())
    }

    /// Fails the connection (RFC 6455 §7.1.7): arranges the Close that reports `error` unless
    /// a Close was already sent, and discards all further input. The Close is queued by the
    /// next output call, so that replies to the messages received before the violation go
    /// out first (Autobahn 3.2, 4.1.3, 5.15: the echo of a valid message that precedes a
    /// violation is expected).
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        if self.state == State::Open {
            self.pending_close = Some(error);
            self.state = State::Closing;
        }
        self.failed = true;
        self.incoming = None;
        self.rx.clear();
        error
    }
}

fn check_control_rsv(header: &FrameHeader) -> Result<(), ProtocolError> {
    // Extensions define RSV bits for data frames only.
    if header.rsv == 0 {
        Ok(())
    } else {
        Err(ProtocolError::ReservedBits)
    }
}

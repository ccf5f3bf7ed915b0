//! Frames and the incremental frame decoder.

use std::num::NonZeroUsize;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Status;
use crate::config::Role;
use crate::error::ProtocolError;
use crate::header::{FrameHeader, MAX_HEADER_LEN};
use crate::mask::{apply_mask, apply_mask_at};
use crate::opcode::OpCode;

/// A decoded frame with its payload unmasked.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Frame {
    /// FIN: the final frame of a message.
    pub fin: bool,
    /// The RSV bits, RSV1 as `0b100` down to RSV3 as `0b001`.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The payload, unmasked.
    pub payload: Bytes,
}

impl Frame {
    /// Creates a final frame with no RSV bits.
    pub fn new(opcode: OpCode, payload: impl Into<Bytes>) -> Self {
        Self {
            fin: true,
            rsv: 0,
            opcode,
            payload: payload.into(),
        }
    }

    /// Appends the encoded frame to `dst`, masked with `mask` if one is given.
    pub fn encode<B: BufMut + AsMut<[u8]>>(&self, mask: Option<[u8; 4]>, dst: &mut B) {
        encode_frame(self.fin, self.rsv, self.opcode, &self.payload, mask, dst);
    }
}

/// Appends one encoded frame to `dst`.
///
/// With a `mask` the payload is masked as it is written (the client role, RFC 6455 §5.3);
/// without one it is copied as is (the server role).
pub fn encode_frame<B: BufMut + AsMut<[u8]>>(
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    dst: &mut B,
) {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut buf = [0; MAX_HEADER_LEN];
    let len = header.encode(&mut buf);
    dst.put_slice(&buf[..len]);
    let start = dst.as_mut().len();
    dst.put_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut dst.as_mut()[start..], key);
    }
}

/// Appends one data message to `dst` as one frame, or as several with `fragment_size`.
///
/// With `fragment_size` set to `s`, a payload of `L` bytes is split as LAppS splits it: one
/// frame if `L < 2s`, otherwise `n = L / s` frames, `n - 1` of `s` bytes and a last one with
/// the remaining `s..2s` bytes. Only the first frame carries `opcode` and `rsv`; the others are
/// continuations. `masks` supplies a key per frame (the client role); `None` writes unmasked
/// frames (the server role).
pub fn encode_message<B: BufMut + AsMut<[u8]>>(
    opcode: OpCode,
    rsv: u8,
    payload: &[u8],
    fragment_size: Option<NonZeroUsize>,
    mut masks: Option<&mut dyn FnMut() -> [u8; 4]>,
    dst: &mut B,
) {
    let mut mask = || masks.as_mut().map(|next| next());
    let size = fragment_size.map_or(usize::MAX, NonZeroUsize::get);
    let count = payload.len() / size;
    if count < 2 {
        encode_frame(true, rsv, opcode, payload, mask(), dst);
        return;
    }
    let last = (count - 1) * size;
    let mut chunks = payload[..last].chunks(size);
    if let Some(first) = chunks.next() {
        encode_frame(false, rsv, opcode, first, mask(), dst);
    }
    for chunk in chunks {
        encode_frame(false, 0, OpCode::Continuation, chunk, mask(), dst);
    }
    encode_frame(true, 0, OpCode::Continuation, &payload[last..], mask(), dst);
}

/// The most room [`FrameDecoder::decode`] reserves in the buffer for a large frame's payload
/// ahead of the bytes received, unless more than this of the frame has already arrived.
pub const RESERVE_AHEAD: usize = 256 << 10;

/// An incremental frame decoder: bytes in a [`BytesMut`], frames out.
///
/// It checks every per-frame rule that does not depend on the message in progress: those of
/// [`FrameHeader::parse`], RSV bits against the negotiated ones, masking for its role and
/// `max_frame_size`, all from the header, before the payload is buffered. It unmasks payload
/// bytes in place as they arrive, so [`pending_payload`](Self::pending_payload) can show a
/// frame's payload before the frame is complete. A complete frame's payload is split off the
/// buffer without copying.
///
/// For a frame longer than [`RESERVE_AHEAD`] (256 KiB) it reserves room in the buffer for the
/// rest of the payload, so that the buffer does not grow (and copy what it holds) read by
/// read, but never more than `RESERVE_AHEAD` or than the part of the frame already received,
/// whichever is larger. So a header announcing a large frame makes the buffer reserve at most
/// 256 KiB beyond the bytes actually sent, and as the frame arrives the room reserved ahead
/// stays within the larger of 256 KiB and what the peer has sent of it. (`BytesMut` may round
/// a new allocation up to twice its previous one; docs/performance.md, "decode", states the
/// resulting bound on the buffer's capacity.)
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    role: Role,
    accept_unmasked: bool,
    allowed_rsv: u8,
    max_frame_size: u64,
    pending: Option<Pending>,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    header: FrameHeader,
    header_len: usize,
    /// Payload bytes already unmasked in the buffer.
    unmasked: usize,
}

impl FrameDecoder {
    /// Creates a decoder for `role` that refuses frames larger than `max_frame_size` bytes.
    pub fn new(role: Role, max_frame_size: usize) -> Self {
        Self {
            role,
            accept_unmasked: false,
            allowed_rsv: 0,
            max_frame_size: max_frame_size as u64,
            pending: None,
        }
    }

    /// Sets the RSV bits that a negotiated extension defines; frames with any other RSV bit
    /// set are refused (RFC 6455 §5.2).
    pub fn set_allowed_rsv(&mut self, rsv: u8) {
        self.allowed_rsv = rsv & 0b111;
    }

    /// Server role: accept unmasked frames.
    pub fn set_accept_unmasked(&mut self, accept: bool) {
        self.accept_unmasked = accept;
    }

    /// Decodes the next frame from the front of `src`, removing it.
    ///
    /// Returns `Ok(None)` when `src` does not yet hold a whole frame. Payload bytes already in
    /// `src` are unmasked even then; call again when more bytes have been appended.
    ///
    /// # Errors
    ///
    /// Any [`ProtocolError`] the frame header shows. The decoder is then in an unspecified
    /// state and must not be used again.
    #[inline]
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let mut pending = match self.pending {
            Some(pending) => pending,
            None => match FrameHeader::parse(src)? {
                Status::Partial => return Ok(None),
                Status::Complete((header, header_len)) => {
                    self.check(&header)?;
                    Pending {
                        header,
                        header_len,
                        unmasked: 0,
                    }
                }
            },
        };
        // `check` bounded the length by max_frame_size, which came from a usize.
        let len = usize::try_from(pending.header.payload_len).unwrap_or(usize::MAX);
        let available = (src.len() - pending.header_len).min(len);
        if let Some(key) = pending.header.mask {
            let start = pending.header_len + pending.unmasked;
            let end = pending.header_len + available;
            apply_mask_at(&mut src[start..end], key, pending.unmasked);
        }
        pending.unmasked = available;
        if available < len {
            if len > RESERVE_AHEAD {
                // A large frame: room for the rest of it, so that the buffer does not grow
                // read by read, copying what it holds each time it runs out of room. Never
                // more than `RESERVE_AHEAD` or than what already arrived of the frame: the
                // announced length alone must not make a connection allocate.
                src.reserve((len - available).min(available.max(RESERVE_AHEAD)));
            }
            self.pending = Some(pending);
            return Ok(None);
        }
        self.pending = None;
        let mut payload = src.split_to(pending.header_len + len).freeze();
        payload.advance(pending.header_len);
        Ok(Some(Frame {
            fin: pending.header.fin,
            rsv: pending.header.rsv,
            opcode: pending.header.opcode,
            payload,
        }))
    }

    /// Returns the header of the frame being received and its payload unmasked so far, if a
    /// frame is incomplete in `src`.
    pub fn pending_payload<'a>(&self, src: &'a [u8]) -> Option<(&FrameHeader, &'a [u8])> {
        let pending = self.pending.as_ref()?;
        let start = pending.header_len;
        Some((&pending.header, src.get(start..start + pending.unmasked)?))
    }

    /// Returns the header of the frame being received, if one is incomplete.
    pub fn pending_header(&self) -> Option<&FrameHeader> {
        self.pending.as_ref().map(|p| &p.header)
    }

    fn check(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        // RFC 6455 §5.2: a nonzero RSV value with no extension defining it MUST fail the
        // connection.
        if header.rsv & !self.allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        match (self.role, header.mask.is_some()) {
            // RFC 6455 §5.1: the server MUST close the connection upon receiving an unmasked
            // frame.
            (Role::Server, false) if !self.accept_unmasked => {
                return Err(ProtocolError::UnmaskedFrame);
            }
            // RFC 6455 §5.1: the client MUST close the connection if it detects a masked frame.
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if header.payload_len > self.max_frame_size {
            return Err(ProtocolError::FrameTooLarge {
                limit: self.max_frame_size,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::{Frame, FrameDecoder, encode_frame};
    use crate::config::Role;
    use crate::error::ProtocolError;
    use crate::opcode::OpCode;

    #[test]
    fn decodes_a_masked_frame_fed_byte_by_byte() {
        let mut wire = Vec::new();
        encode_frame(
            true,
            0,
            OpCode::Binary,
            b"abcdefghij",
            Some([7, 1, 9, 3]),
            &mut wire,
        );
        let mut decoder = FrameDecoder::new(Role::Server, 1024);
        let mut buf = BytesMut::new();
        for (i, byte) in wire.iter().enumerate() {
            buf.extend_from_slice(&[*byte]);
            let frame = decoder.decode(&mut buf).unwrap();
            if i + 1 < wire.len() {
                assert_eq!(frame, None);
                if let Some((_, seen)) = decoder.pending_payload(&buf) {
                    assert_eq!(seen, &b"abcdefghij"[..seen.len()]);
                }
            } else {
                assert_eq!(frame, Some(Frame::new(OpCode::Binary, &b"abcdefghij"[..])));
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn enforces_role_rsv_and_size_from_the_header() {
        let mut wire = Vec::new();
        encode_frame(true, 0, OpCode::Text, b"hi", None, &mut wire);
        let mut server = FrameDecoder::new(Role::Server, 1024);
        assert_eq!(
            server.decode(&mut BytesMut::from(&wire[..])),
            Err(ProtocolError::UnmaskedFrame)
        );
        let mut masked = Vec::new();
        encode_frame(
            true,
            0b100,
            OpCode::Text,
            b"hi",
            Some([1, 1, 1, 1]),
            &mut masked,
        );
        let mut client = FrameDecoder::new(Role::Client, 1024);
        assert_eq!(
            client.decode(&mut BytesMut::from(&masked[..])),
            Err(ProtocolError::ReservedBits)
        );
        let mut server = FrameDecoder::new(Role::Server, 1024);
        server.set_allowed_rsv(0b100);
        assert!(
            server
                .decode(&mut BytesMut::from(&masked[..]))
                .unwrap()
                .is_some()
        );
        // Only the header of an oversized frame is needed to refuse it.
        let mut server = FrameDecoder::new(Role::Server, 1);
        server.set_allowed_rsv(0b100);
        assert_eq!(
            server.decode(&mut BytesMut::from(&masked[..6])),
            Err(ProtocolError::FrameTooLarge { limit: 1 })
        );
    }
}

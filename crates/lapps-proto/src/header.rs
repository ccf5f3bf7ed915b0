//! Frame headers (RFC 6455 §5.2), parsed httparse-style with no allocation.

use crate::Status;
use crate::error::ProtocolError;
use crate::opcode::OpCode;

/// The RSV1 bit in [`FrameHeader::rsv`].
pub const RSV1: u8 = 0b100;
/// The RSV2 bit in [`FrameHeader::rsv`].
pub const RSV2: u8 = 0b010;
/// The RSV3 bit in [`FrameHeader::rsv`].
pub const RSV3: u8 = 0b001;

/// The longest encoded header: 2 bytes, an 8-byte extended length and a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FrameHeader {
    /// FIN: this is the final frame of a message.
    pub fin: bool,
    /// The three RSV bits, RSV1 as `0b100` down to RSV3 as `0b001`.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the front of `buf`.
    ///
    /// On success the `usize` is the header length; the payload follows it. Besides the
    /// framing itself, the checks that need no context are made here: reserved opcodes,
    /// fragmented or oversized control frames and the 64-bit length's top bit. RSV bits and
    /// masking depend on the connection and are left to the caller.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::ReservedOpcode`], [`ProtocolError::FragmentedControlFrame`],
    /// [`ProtocolError::ControlFrameTooLong`] or [`ProtocolError::PayloadLengthMsb`].
    pub fn parse(buf: &[u8]) -> Result<Status<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(Status::Partial);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0b111;
        let opcode = OpCode::from_u8(b0);
        // RFC 6455 §5.2: receiving a reserved opcode MUST fail the connection.
        if let OpCode::Reserved(bits) = opcode {
            return Err(ProtocolError::ReservedOpcode(bits));
        }
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut len) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(&[hi, lo]) => (u64::from(u16::from_be_bytes([hi, lo])), 4),
                _ => return Ok(Status::Partial),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(bytes) => {
                    let n = u64::from_be_bytes(bytes);
                    // RFC 6455 §5.2: the most significant bit MUST be 0.
                    if n >> 63 != 0 {
                        return Err(ProtocolError::PayloadLengthMsb);
                    }
                    (n, 10)
                }
                None => return Ok(Status::Partial),
            },
            n => (u64::from(n), 2),
        };
        if opcode.is_control() {
            // RFC 6455 §5.5: control frames MUST NOT be fragmented.
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            // RFC 6455 §5.5: control frames MUST have a payload length of 125 bytes or less.
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong);
            }
        }
        let mask = if masked {
            match buf
                .get(len..len + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
            {
                Some(key) => {
                    len += 4;
                    Some(key)
                }
                None => return Ok(Status::Partial),
            }
        } else {
            None
        };
        Ok(Status::Complete((
            Self {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            len,
        )))
    }

    /// Returns the length of the encoded header.
    pub const fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        if self.mask.is_some() { len + 4 } else { len }
    }

    /// Encodes the header into `dst` and returns its length.
    ///
    /// The payload length uses the shortest form (RFC 6455 §5.2: the minimal number of bytes
    /// MUST be used).
    #[expect(
        clippy::cast_possible_truncation,
        reason = "each match arm's range fits the type it casts to"
    )]
    pub fn encode(&self, dst: &mut [u8; MAX_HEADER_LEN]) -> usize {
        dst[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut len = match self.payload_len {
            n @ 0..=125 => {
                dst[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xFFFF => {
                dst[1] = mask_bit | 0x7E;
                dst[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                dst[1] = mask_bit | 0x7F;
                dst[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            dst[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::{FrameHeader, MAX_HEADER_LEN};
    use crate::Status;
    use crate::error::ProtocolError;
    use crate::opcode::OpCode;

    fn parse(bytes: &[u8]) -> Result<Status<(FrameHeader, usize)>, ProtocolError> {
        FrameHeader::parse(bytes)
    }

    #[test]
    fn parses_each_length_form() {
        let Status::Complete((h, n)) = parse(&[0x81, 0x05]).unwrap() else {
            panic!()
        };
        assert_eq!(
            (h.payload_len, n, h.opcode, h.fin),
            (5, 2, OpCode::Text, true)
        );
        let Status::Complete((h, n)) = parse(&[0x82, 0x7E, 0x01, 0x00]).unwrap() else {
            panic!()
        };
        assert_eq!((h.payload_len, n), (256, 4));
        let Status::Complete((h, n)) = parse(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap() else {
            panic!()
        };
        assert_eq!((h.payload_len, n), (65536, 10));
        let Status::Complete((h, n)) = parse(&[0x01, 0x83, 1, 2, 3, 4]).unwrap() else {
            panic!()
        };
        assert_eq!(
            (h.fin, h.mask, h.payload_len, n),
            (false, Some([1, 2, 3, 4]), 3, 6)
        );
    }

    #[test]
    fn every_prefix_of_a_header_is_partial() {
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 9, 8, 7, 6];
        for end in 0..full.len() {
            assert_eq!(parse(&full[..end]), Ok(Status::Partial), "prefix {end}");
        }
        assert!(matches!(parse(&full), Ok(Status::Complete((_, 14)))));
    }

    #[test]
    fn rejects_context_free_violations() {
        assert_eq!(parse(&[0x83, 0x00]), Err(ProtocolError::ReservedOpcode(3)));
        assert_eq!(
            parse(&[0x8B, 0x00]),
            Err(ProtocolError::ReservedOpcode(0xB))
        );
        assert_eq!(
            parse(&[0x09, 0x00]),
            Err(ProtocolError::FragmentedControlFrame)
        );
        assert_eq!(
            parse(&[0x89, 0x7E, 0, 126]),
            Err(ProtocolError::ControlFrameTooLong)
        );
        assert_eq!(
            parse(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::PayloadLengthMsb)
        );
    }

    #[test]
    fn encode_round_trips_and_is_minimal() {
        for (len, expected) in [(0u64, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let header = FrameHeader {
                    fin: len % 2 == 0,
                    rsv: 0b101,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                };
                let mut buf = [0; MAX_HEADER_LEN];
                let n = header.encode(&mut buf);
                let with_mask = expected + if mask.is_some() { 4 } else { 0 };
                assert_eq!((n, header.encoded_len()), (with_mask, with_mask));
                assert_eq!(parse(&buf[..n]), Ok(Status::Complete((header, n))));
            }
        }
    }
}

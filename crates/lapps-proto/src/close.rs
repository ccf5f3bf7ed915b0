//! Close codes and Close frame payloads (RFC 6455 §5.5.1, §7.4).

use bytes::{BufMut, Bytes};

use crate::error::ProtocolError;
use crate::message::Utf8Bytes;
use crate::utf8;

/// A close status code (RFC 6455 §7.4).
///
/// The constants follow RFC order. Any `u16` can be represented, so that a received code can
/// always be reported; [`CloseCode::is_valid`] says whether it may appear on the wire.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, idle timeout).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: a protocol error.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no status code was present. Reserved: never sent in a Close frame.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection closed without a Close frame. Reserved: never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a policy violation.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: an unexpected condition in the server.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: bad gateway (IANA registry).
    pub const BAD_GATEWAY: Self = Self(1014);

    /// Returns true if the code may be sent or received in a Close frame.
    ///
    /// RFC 6455 §7.4.1–§7.4.2 and the IANA registry: 1000–1003, 1007–1014 and the
    /// application ranges 3000–4999. 1004–1006 and 1015 are reserved and never appear on the
    /// wire; 0–999 are unused; 1016–2999 are reserved for future extensions of the RFC.
    pub const fn is_valid(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

/// The payload of a Close frame that carries a status code.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason: UTF-8, at most [`MAX_CLOSE_REASON`] bytes.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// Creates a close frame payload with `code` and `reason`.
    pub fn new(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// Parses a received Close payload: `Ok(None)` for an empty payload.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::InvalidCloseLength`] for a 1-byte payload,
    /// [`ProtocolError::InvalidCloseCode`] for a code that may not appear on the wire and
    /// [`ProtocolError::InvalidCloseReason`] for a reason that is not UTF-8.
    pub fn parse(payload: &Bytes) -> Result<Option<Self>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            // RFC 6455 §5.5.1: if there is a body, its first two bytes MUST be a status code.
            1 => Err(ProtocolError::InvalidCloseLength),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                // RFC 6455 §7.4: an endpoint MUST NOT accept codes outside the defined ranges.
                if !code.is_valid() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = payload.slice(2..);
                // RFC 6455 §5.5.1: the body after the code is UTF-8 encoded data.
                if !utf8::is_valid(&reason) {
                    return Err(ProtocolError::InvalidCloseReason);
                }
                Ok(Some(Self {
                    code,
                    reason: Utf8Bytes::from_validated(reason),
                }))
            }
        }
    }

    /// Returns the length of the encoded payload.
    pub fn encoded_len(&self) -> usize {
        2 + self.reason.len()
    }

    /// Appends the encoded payload (code, then reason) to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.code.0);
        dst.put_slice(self.reason.as_bytes());
    }
}

/// The longest close reason in bytes: a control frame payload is at most 125 bytes (RFC 6455
/// §5.5), two of which hold the code.
pub const MAX_CLOSE_REASON: usize = 123;

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{CloseCode, CloseFrame};
    use crate::error::ProtocolError;

    #[test]
    fn valid_codes_match_the_rfc_and_iana_ranges() {
        let valid: Vec<u16> = (0..=5000).filter(|c| CloseCode(*c).is_valid()).collect();
        let mut expected: Vec<u16> = (1000..=1003).chain(1007..=1014).collect();
        expected.extend(3000..=4999);
        assert_eq!(valid, expected);
    }

    #[test]
    fn parses_each_payload_shape() {
        assert_eq!(CloseFrame::parse(&Bytes::new()), Ok(None));
        assert_eq!(
            CloseFrame::parse(&Bytes::from_static(&[0x03])),
            Err(ProtocolError::InvalidCloseLength)
        );
        assert_eq!(
            CloseFrame::parse(&Bytes::from_static(&[0x03, 0xed])),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            CloseFrame::parse(&Bytes::from_static(&[0x03, 0xe8, 0xff])),
            Err(ProtocolError::InvalidCloseReason)
        );
        let frame = CloseFrame::parse(&Bytes::from_static(b"\x0f\xa0bye"))
            .unwrap()
            .unwrap();
        assert_eq!(frame.code, CloseCode(4000));
        assert_eq!(frame.reason.as_str(), "bye");
        let mut out = Vec::new();
        frame.encode(&mut out);
        assert_eq!(out, b"\x0f\xa0bye");
    }
}

//! Errors: protocol violations by the peer and refused sends.

use crate::close::CloseCode;

/// A violation of RFC 6455 by the peer.
///
/// Each variant is named after the rule it breaks and knows the close code that reports it
/// ([`ProtocolError::close_code`]). The type is small and `Copy` so that `Result`s stay cheap on
/// the hot path.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An RSV bit was set that no negotiated extension defines (RFC 6455 §5.2).
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    /// The opcode is one RFC 6455 reserves (3–7, 11–15).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A client frame arrived unmasked (RFC 6455 §5.1).
    #[error("client frame is not masked")]
    UnmaskedFrame,
    /// A server frame arrived masked (RFC 6455 §5.1).
    #[error("server frame is masked")]
    MaskedFrame,
    /// A control frame had FIN clear (RFC 6455 §5.5).
    #[error("control frame is fragmented")]
    FragmentedControlFrame,
    /// A control frame carried more than 125 bytes (RFC 6455 §5.5).
    #[error("control frame payload exceeds 125 bytes")]
    ControlFrameTooLong,
    /// A continuation frame arrived with no fragmented message in progress (RFC 6455 §5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame arrived while a fragmented message was in progress
    /// (RFC 6455 §5.4).
    #[error("new data frame while a fragmented message is in progress")]
    ExpectedContinuation,
    /// A 64-bit payload length had its most significant bit set (RFC 6455 §5.2).
    #[error("64-bit payload length with the most significant bit set")]
    PayloadLengthMsb,
    /// A frame's payload length exceeds `max_frame_size`.
    #[error("frame payload exceeds max_frame_size ({limit} bytes)")]
    FrameTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// A message's accumulated length exceeds `max_message_size`.
    #[error("message exceeds max_message_size ({limit} bytes)")]
    MessageTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// A text message was not valid UTF-8 (RFC 6455 §8.1).
    #[error("invalid UTF-8 in text message")]
    InvalidUtf8,
    /// A Close frame had a 1-byte payload (RFC 6455 §5.5.1).
    #[error("close frame with a 1-byte payload")]
    InvalidCloseLength,
    /// A Close frame carried a code that may not appear on the wire (RFC 6455 §7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A Close frame's reason was not valid UTF-8 (RFC 6455 §5.5.1).
    #[error("invalid UTF-8 in close reason")]
    InvalidCloseReason,
    /// A negotiated extension rejected an inbound message; the code is the extension's.
    #[error("extension rejected the message")]
    Extension(CloseCode),
}

impl ProtocolError {
    /// Returns the close code that reports this violation to the peer.
    pub const fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCloseReason => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::Extension(code) => *code,
            Self::ReservedBits
            | Self::ReservedOpcode(_)
            | Self::UnmaskedFrame
            | Self::MaskedFrame
            | Self::FragmentedControlFrame
            | Self::ControlFrameTooLong
            | Self::UnexpectedContinuation
            | Self::ExpectedContinuation
            | Self::PayloadLengthMsb
            | Self::InvalidCloseLength
            | Self::InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// Why a [`Connection`](crate::Connection) refused to queue an outbound message.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// A Close frame was already sent or received: nothing more may be sent (RFC 6455 §5.5.1).
    #[error("connection is closing or closed")]
    Closed,
    /// A ping or pong payload exceeds 125 bytes (RFC 6455 §5.5).
    #[error("control frame payload exceeds 125 bytes")]
    ControlFrameTooLong,
    /// The close code may not be sent (RFC 6455 §7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// The close reason exceeds 123 bytes (RFC 6455 §5.5).
    #[error("close reason exceeds 123 bytes")]
    CloseReasonTooLong,
    /// A negotiated extension failed to encode the message.
    #[error("extension failed to encode the message")]
    Extension,
}

#[cfg(test)]
mod tests {
    use super::{ProtocolError, SendError};
    use crate::close::CloseCode;

    #[test]
    fn errors_stay_small() {
        assert!(size_of::<ProtocolError>() <= 16);
        assert!(size_of::<SendError>() <= 8);
    }

    #[test]
    fn maps_each_violation_to_its_close_code() {
        assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode(1007));
        assert_eq!(
            ProtocolError::InvalidCloseReason.close_code(),
            CloseCode(1007)
        );
        assert_eq!(
            ProtocolError::MessageTooLarge { limit: 1 }.close_code(),
            CloseCode(1009)
        );
        assert_eq!(
            ProtocolError::FrameTooLarge { limit: 1 }.close_code(),
            CloseCode(1009)
        );
        assert_eq!(
            ProtocolError::ReservedOpcode(3).close_code(),
            CloseCode(1002)
        );
        assert_eq!(ProtocolError::ReservedBits.close_code(), CloseCode(1002));
        assert_eq!(
            ProtocolError::Extension(CloseCode(1010)).close_code(),
            CloseCode(1010)
        );
    }
}

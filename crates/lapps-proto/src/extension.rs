//! The seam for WebSocket extensions (RFC 6455 §9) such as permessage-deflate (RFC 7692).

use std::fmt;

use bytes::Bytes;

use crate::error::{ProtocolError, SendError};
use crate::opcode::OpCode;

/// A negotiated extension that transforms whole data messages and owns some RSV bits.
///
/// A [`Connection`](crate::Connection) with an extension accepts the extension's RSV bits on
/// the first frame of a data message, reassembles the message, and hands it to
/// [`decode_message`](Self::decode_message) before delivering it; UTF-8 is checked on the
/// result. Outbound, [`encode_message`](Self::encode_message) runs before framing and its RSV
/// bits go on the first frame. Control frames and continuation frames never carry RSV bits.
/// Negotiating the extension (the `Sec-WebSocket-Extensions` headers) is the caller's part.
pub trait Extension: Send + fmt::Debug {
    /// Returns the RSV bits this extension defines, RSV1 as `0b100` down to RSV3 as `0b001`.
    fn rsv_bits(&self) -> u8;

    /// Transforms a received message whose first frame carried the RSV bits `rsv`.
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] that fails the connection; [`ProtocolError::MessageTooLarge`] if the
    /// result would exceed `max_message_size` bytes.
    fn decode_message(
        &mut self,
        rsv: u8,
        opcode: OpCode,
        payload: Bytes,
        max_message_size: usize,
    ) -> Result<Bytes, ProtocolError>;

    /// Transforms an outbound message; returns the RSV bits for its first frame and the
    /// payload to frame.
    ///
    /// # Errors
    ///
    /// [`SendError::Extension`] if the message cannot be encoded.
    fn encode_message(&mut self, opcode: OpCode, payload: Bytes) -> Result<(u8, Bytes), SendError>;
}

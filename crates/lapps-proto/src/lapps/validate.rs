//! Message validation: inbound classification (spec §4.4, §4.5) and the outbound rules of
//! `ws:send` and `bcast:send` (spec §4.6).

use super::{Value, cbor};

/// The kind of a valid inbound message, as `onMessage` receives it (spec §4.4).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum MsgType {
    /// 1: a client notification (has `cid`) without params.
    NotificationWithoutParams = 1,
    /// 2: a client notification with a non-empty `params` array.
    NotificationWithParams = 2,
    /// 3: a request (no `cid`) without params.
    RequestWithoutParams = 3,
    /// 4: a request with a non-empty `params` array.
    RequestWithParams = 4,
}

impl MsgType {
    /// True for requests (types 3 and 4), which are answered on `cid` 0.
    pub const fn is_request(self) -> bool {
        matches!(self, Self::RequestWithoutParams | Self::RequestWithParams)
    }
}

/// Why an inbound binary message is refused (spec §4.5 checks 2–9); the connection stays
/// open and [`InboundError::response`] is sent on `cid` 0.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum InboundError {
    /// Check 2: not one well-formed CBOR item (−32700 "Parse error").
    #[error("parse error: {0}")]
    Parse(#[from] cbor::DecodeError),
    /// Checks 3–8 (−32600 "Invalid Request"), with the detail for `error.data`, for example
    /// `missing member: method`.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Check 9: a reserved `_` method (−32601 "Method not found").
    #[error("method not found: {0}")]
    MethodNotFound(String),
}

impl InboundError {
    /// The JSON-RPC error code: −32700, −32600 or −32601.
    pub const fn code(&self) -> i64 {
        match self {
            Self::Parse(_) => -32700,
            Self::Invalid(_) => -32600,
            Self::MethodNotFound(_) => -32601,
        }
    }

    /// The error response to send on `cid` 0 (spec §4.3), with the detail in `error.data`
    /// for −32700 and −32600.
    pub fn response(&self) -> Value {
        todo!("issue 4: error responses")
    }
}

/// Why an outbound message is refused; the text is the `<detail>` of spec §4.6, for example
/// `status 0 requires cid 0`.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct OutboundError(pub String);

/// Decodes and classifies an inbound binary message (spec §4.5 checks 2–9, in order).
///
/// # Errors
///
/// The first failed check, as an [`InboundError`].
pub fn inbound(payload: &[u8]) -> Result<(MsgType, Value), InboundError> {
    let _ = payload;
    todo!("issue 4: inbound validation")
}

/// Checks a message for `ws:send` in the LAppS form (spec §4.6).
///
/// # Errors
///
/// The first rule the message breaks.
pub fn outbound(message: &Value) -> Result<(), OutboundError> {
    let _ = message;
    todo!("issue 4: outbound validation")
}

/// Checks a message for `bcast:send`: the `cid` ≥ 1 rule only (spec §3.9, §4.6).
///
/// # Errors
///
/// The first rule the message breaks.
pub fn broadcast(message: &Value) -> Result<(), OutboundError> {
    let _ = message;
    todo!("issue 4: broadcast validation")
}

/// The −32603 "Internal error" response sent when a request handler raised (spec §3.4); it
/// carries no detail.
pub fn internal_error() -> Value {
    todo!("issue 4: error responses")
}

//! Message validation: inbound classification (spec §4.4, §4.5) and the outbound rules of
//! `ws:send` and `bcast:send` (spec §4.6).
//!
//! Wherever a rule asks for an integer (`lapps`, `cid`, `status`, `error.code`), a float with
//! an integral value counts as that integer: `1.0` is 1. JavaScript CBOR encoders may send
//! any number as a float, and LAppS itself encodes every Lua number as one (spec §4.8). A
//! float with a fraction, NaN or ±Inf is not an integer.
//!
//! The details (the texts of [`InboundError::Invalid`] and [`OutboundError`]) are fixed
//! strings, listed in `docs/lapps-protocol.md`.

use super::{Number, Object, Value, cbor};

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
    ///
    /// | error | `error.code` | `error.message` | `error.data` |
    /// | --- | --- | --- | --- |
    /// | [`Parse`](Self::Parse) | −32700 | `Parse error` | the decoder's detail |
    /// | [`Invalid`](Self::Invalid) | −32600 | `Invalid Request` | the detail |
    /// | [`MethodNotFound`](Self::MethodNotFound) | −32601 | `Method not found` | absent |
    pub fn response(&self) -> Value {
        match self {
            Self::Parse(error) => error_response(self.code(), "Parse error", Some(&error.0)),
            Self::Invalid(detail) => error_response(self.code(), "Invalid Request", Some(detail)),
            Self::MethodNotFound(_) => error_response(self.code(), "Method not found", None),
        }
    }
}

/// Why an outbound message is refused; the text is the `<detail>` of spec §4.6, for example
/// `status 0 requires cid 0`.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct OutboundError(pub String);

/// Decodes and classifies an inbound binary message (spec §4.5 checks 2–9, in order).
///
/// | check | failure | detail |
/// | --- | --- | --- |
/// | 2 | [`InboundError::Parse`] | the [`cbor::DecodeError`] |
/// | 3 | [`InboundError::Invalid`] | `message must be a map` |
/// | 4 | [`InboundError::Invalid`] | `missing member: lapps`, `lapps must be 1` |
/// | 5 | [`InboundError::Invalid`] | `missing member: method`, `method must be a non-empty string` |
/// | 6 | [`InboundError::Invalid`] | `method must not contain '.'` |
/// | 7 | [`InboundError::Invalid`] | `params must be an array` |
/// | 8 | [`InboundError::Invalid`] | `cid must be an integer >= 1` |
/// | 9 | [`InboundError::MethodNotFound`] | the method's name (not sent) |
///
/// A valid message comes back as decoded, with its [`MsgType`]: it has a `cid` or not, and
/// a non-empty `params` array or not (an empty one counts as none).
///
/// # Errors
///
/// The first failed check, as an [`InboundError`].
pub fn inbound(payload: &[u8]) -> Result<(MsgType, Value), InboundError> {
    // Check 2: one well-formed CBOR item within the limits.
    let message = cbor::decode(payload)?;
    // Check 3: a map.
    let Value::Object(members) = &message else {
        return Err(invalid("message must be a map"));
    };
    // Check 4: `lapps` is numeric and equal to 1.
    match members.get("lapps") {
        None => return Err(invalid("missing member: lapps")),
        Some(lapps) if integer(lapps) == Some(1) => {}
        Some(_) => return Err(invalid("lapps must be 1")),
    }
    // Checks 5 and 6: `method` is a non-empty string without '.'.
    let method = match members.get("method") {
        None => return Err(invalid("missing member: method")),
        Some(Value::String(method)) if !method.is_empty() => method,
        Some(_) => return Err(invalid("method must be a non-empty string")),
    };
    if method.contains('.') {
        return Err(invalid("method must not contain '.'"));
    }
    // Check 7: `params`, if present, is an array.
    let with_params = match members.get("params") {
        None => false,
        Some(Value::Array(params)) => !params.is_empty(),
        Some(_) => return Err(invalid("params must be an array")),
    };
    // Check 8: `cid`, if present, is an integer >= 1.
    let notification = match members.get("cid") {
        None => false,
        Some(cid) if integer(cid).is_some_and(|cid| cid >= 1) => true,
        Some(_) => return Err(invalid("cid must be an integer >= 1")),
    };
    // Check 9: `_` methods are reserved, and lapps implements none of them.
    if method.starts_with('_') {
        return Err(InboundError::MethodNotFound(method.clone()));
    }
    let kind = match (notification, with_params) {
        (true, false) => MsgType::NotificationWithoutParams,
        (true, true) => MsgType::NotificationWithParams,
        (false, false) => MsgType::RequestWithoutParams,
        (false, true) => MsgType::RequestWithParams,
    };
    Ok((kind, message))
}

/// Checks a message for `ws:send` in the LAppS form (spec §4.6).
///
/// The rules, in the order they are checked, with the detail of each:
///
/// | rule | detail |
/// | --- | --- |
/// | the message is an object | `message must be an object` |
/// | `cid` is present and an integer ≥ 0 | `cid must be an integer >= 0` |
/// | on `cid` 0, `status` is 0 or 1 | `cid 0 requires status 0 or 1` |
/// | `status` 1 on `cid` 0 has an array `result` | `status 1 with cid 0 requires a result array` |
/// | `status` 0 is only on `cid` 0 | `status 0 requires cid 0` |
/// | `status` 0 has an object `error` with an integer `code` and a string `message` | `error must be an object with an integer code and a string message` |
/// | on `cid` ≥ 1, `message` is an array | `cid >= 1 requires a message array` |
/// | on `cid` ≥ 1, `status` is absent or 1 | `status must be 1 on cid >= 1` |
///
/// Other members are allowed.
///
/// # Errors
///
/// The first rule the message breaks.
pub fn outbound(message: &Value) -> Result<(), OutboundError> {
    outbound_rules(object(message)?).map(drop)
}

/// [`outbound`] on a message already encoded: the verdict `outbound` gives the decoded
/// message, read from the CBOR without building a document, and the message's `cid`.
///
/// For `ws:send` in the LAppS form, which encodes first. For every payload [`cbor::decode`]
/// accepts, such as what [`cbor::encode`] writes, the verdict is exactly
/// `outbound(&cbor::decode(payload)?)`: duplicate members count the last, tags are ignored.
/// Other input gets an error, or a verdict on the members that could be read; it never
/// panics, and nesting is refused beyond [`cbor::MAX_DEPTH`] levels.
///
/// # Errors
///
/// The first rule the message breaks.
pub fn outbound_encoded(payload: &[u8]) -> Result<u64, OutboundError> {
    let members = Encoded::read(payload)?;
    let cid = outbound_rules(&members)?;
    // `outbound_rules` found an integer >= 0, which [`integer`] keeps below 2^64.
    Ok(u64::try_from(cid).unwrap_or(u64::MAX))
}

/// The members of an encoded message that the outbound rules look at: each the CBOR of its
/// value, `None` if absent. The message is an object; its other members do not matter.
#[derive(Clone, Copy, Debug, Default)]
pub struct EncodedMembers<'a> {
    /// `cid`.
    pub cid: Option<&'a [u8]>,
    /// `error`.
    pub error: Option<&'a [u8]>,
    /// `message`.
    pub message: Option<&'a [u8]>,
    /// `result`.
    pub result: Option<&'a [u8]>,
    /// `status`.
    pub status: Option<&'a [u8]>,
}

/// [`outbound_encoded`] for an object whose members the caller encoded one by one: only the
/// heads of `result` and `message` are read, and `error` only if present. The verdict and the
/// `cid` are those of `outbound_encoded` on the whole object, for member values that
/// [`cbor::decode`] accepts.
///
/// # Errors
///
/// The first rule the message breaks.
pub fn outbound_members(members: &EncodedMembers<'_>) -> Result<u64, OutboundError> {
    let parse = |error: cbor::DecodeError| OutboundError(error.0);
    let integer = |value: Option<&[u8]>| match value {
        None => Ok(Integer::Absent),
        Some(value) => read_integer(&mut cbor::Reader::new(value)),
    };
    let is_array = |value: Option<&[u8]>| match value {
        None => Ok(false),
        Some(value) => cbor::Reader::new(value).head_is_array(),
    };
    let read = Encoded {
        cid: integer(members.cid).map_err(parse)?,
        status: integer(members.status).map_err(parse)?,
        result_is_array: is_array(members.result).map_err(parse)?,
        message_is_array: is_array(members.message).map_err(parse)?,
        error_is_object: match members.error {
            None => false,
            Some(error) => cbor::Reader::new(error).is_error_object().map_err(parse)?,
        },
    };
    let cid = outbound_rules(&read)?;
    // As in `outbound_encoded`: an integer >= 0 below 2^64.
    Ok(u64::try_from(cid).unwrap_or(u64::MAX))
}

/// Checks a message for `bcast:send`: the `cid` ≥ 1 rule only (spec §3.9, §4.6).
///
/// The message must be an object (`message must be an object`) with an integer `cid` ≥ 1
/// (`cid must be an integer >= 1`), then the last two rules of [`outbound`] apply.
///
/// # Errors
///
/// The first rule the message breaks.
pub fn broadcast(message: &Value) -> Result<(), OutboundError> {
    broadcast_rules(object(message)?)
}

/// [`broadcast`] on a message already encoded, as [`outbound_encoded`] is [`outbound`].
///
/// # Errors
///
/// The first rule the message breaks.
pub fn broadcast_encoded(payload: &[u8]) -> Result<(), OutboundError> {
    broadcast_rules(&Encoded::read(payload)?)
}

/// The −32603 "Internal error" response sent when a request handler raised (spec §3.4); it
/// carries no detail.
pub fn internal_error() -> Value {
    // Spec §4.5: −32603 MUST NOT carry error details.
    error_response(-32603, "Internal error", None)
}

/// `{cid: 0, status: 0, error: {code, message, data?}}` (spec §4.3).
fn error_response(code: i64, message: &str, data: Option<&str>) -> Value {
    let mut error = Object::new();
    error.insert("code".to_owned(), Value::from(code));
    error.insert("message".to_owned(), Value::from(message));
    if let Some(data) = data {
        error.insert("data".to_owned(), Value::from(data));
    }
    let mut response = Object::new();
    response.insert("cid".to_owned(), Value::from(0));
    response.insert("status".to_owned(), Value::from(0));
    response.insert("error".to_owned(), Value::Object(error));
    Value::Object(response)
}

/// The −32600 error with `detail`.
fn invalid(detail: &str) -> InboundError {
    InboundError::Invalid(detail.to_owned())
}

/// The outbound error with `detail`.
fn refused(detail: &str) -> OutboundError {
    OutboundError(detail.to_owned())
}

/// The members of an outbound message, which must be an object.
fn object(message: &Value) -> Result<&Object, OutboundError> {
    match message {
        Value::Object(members) => Ok(members),
        _ => Err(refused("message must be an object")),
    }
}

/// What the outbound rules ask of a message's members: the members of an [`Object`], or
/// what [`Encoded::read`] noted while reading an encoded one. One set of rules serves both.
trait Members {
    /// The member as an integer.
    fn integer(&self, key: Key) -> Integer;
    /// Whether the member is present and an array.
    fn is_array(&self, key: Key) -> bool;
    /// Whether `error` is an object with an integer `code` and a string `message`.
    fn is_error_object(&self) -> bool;
}

/// A member that should be an integer.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
enum Integer {
    /// The member is absent.
    #[default]
    Absent,
    /// An integer, or a float with an integral value in [−2^63, 2^64).
    Is(i128),
    /// Any other value.
    Not,
}

impl Integer {
    fn of(value: Option<&Value>) -> Self {
        match value {
            None => Self::Absent,
            Some(value) => integer(value).map_or(Self::Not, Self::Is),
        }
    }
}

/// The members the outbound rules look at.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Key {
    Cid,
    Status,
    Result,
    Message,
}

impl Key {
    const fn name(self) -> &'static str {
        match self {
            Self::Cid => "cid",
            Self::Status => "status",
            Self::Result => "result",
            Self::Message => "message",
        }
    }
}

/// The rules of [`outbound`] after the object check; returns the `cid`.
fn outbound_rules(members: &impl Members) -> Result<i128, OutboundError> {
    let cid = match members.integer(Key::Cid) {
        Integer::Is(cid) if cid >= 0 => cid,
        _ => return Err(refused("cid must be an integer >= 0")),
    };
    let status = members.integer(Key::Status);
    if cid == 0 {
        match status {
            Integer::Is(0 | 1) => {}
            _ => return Err(refused("cid 0 requires status 0 or 1")),
        }
    }
    if cid == 0 && status == Integer::Is(1) && !members.is_array(Key::Result) {
        return Err(refused("status 1 with cid 0 requires a result array"));
    }
    if status == Integer::Is(0) {
        if cid != 0 {
            return Err(refused("status 0 requires cid 0"));
        }
        if !members.is_error_object() {
            return Err(refused(
                "error must be an object with an integer code and a string message",
            ));
        }
    }
    if cid >= 1 {
        notification(members)?;
    }
    Ok(cid)
}

/// The rules of [`broadcast`] after the object check.
fn broadcast_rules(members: &impl Members) -> Result<(), OutboundError> {
    match members.integer(Key::Cid) {
        Integer::Is(cid) if cid >= 1 => notification(members),
        _ => Err(refused("cid must be an integer >= 1")),
    }
}

/// The rules for an OON, a message on `cid` >= 1: an array `message`, and `status` absent
/// or 1 (spec §4.6, §3.9).
fn notification(members: &impl Members) -> Result<(), OutboundError> {
    if !members.is_array(Key::Message) {
        return Err(refused("cid >= 1 requires a message array"));
    }
    match members.integer(Key::Status) {
        Integer::Absent | Integer::Is(1) => Ok(()),
        Integer::Is(_) | Integer::Not => Err(refused("status must be 1 on cid >= 1")),
    }
}

impl Members for Object {
    fn integer(&self, key: Key) -> Integer {
        Integer::of(self.get(key.name()))
    }

    fn is_array(&self, key: Key) -> bool {
        matches!(self.get(key.name()), Some(Value::Array(_)))
    }

    fn is_error_object(&self) -> bool {
        self.get("error").is_some_and(|error| {
            error.get("code").and_then(integer).is_some()
                && matches!(error.get("message"), Some(Value::String(_)))
        })
    }
}

/// What the outbound rules need of an encoded message, noted in one pass over its CBOR.
#[derive(Debug, Default)]
struct Encoded {
    cid: Integer,
    status: Integer,
    result_is_array: bool,
    message_is_array: bool,
    error_is_object: bool,
}

impl Encoded {
    /// Reads the top-level map of `payload`, noting the members the rules look at; the last
    /// of duplicate members counts, as in [`cbor::decode`].
    fn read(payload: &[u8]) -> Result<Self, OutboundError> {
        let parse = |error: cbor::DecodeError| OutboundError(error.0);
        let mut reader = cbor::Reader::new(payload);
        let Some(len) = reader.map_head().map_err(parse)? else {
            return Err(refused("message must be an object"));
        };
        let mut members = Self::default();
        let mut count = 0;
        while reader.has_member(len, count) {
            count += 1;
            match &*reader.member_name().map_err(parse)? {
                b"cid" => members.cid = read_integer(&mut reader).map_err(parse)?,
                b"status" => members.status = read_integer(&mut reader).map_err(parse)?,
                b"result" => members.result_is_array = reader.is_array().map_err(parse)?,
                b"message" => members.message_is_array = reader.is_array().map_err(parse)?,
                b"error" => members.error_is_object = reader.is_error_object().map_err(parse)?,
                _ => reader.skip().map_err(parse)?,
            }
        }
        Ok(members)
    }
}

/// Reads a member that should be an integer.
fn read_integer(reader: &mut cbor::Reader<'_>) -> Result<Integer, cbor::DecodeError> {
    Ok(reader.integer()?.map_or(Integer::Not, Integer::Is))
}

impl Members for Encoded {
    fn integer(&self, key: Key) -> Integer {
        match key {
            Key::Cid => self.cid,
            Key::Status => self.status,
            Key::Result | Key::Message => Integer::Absent,
        }
    }

    fn is_array(&self, key: Key) -> bool {
        match key {
            Key::Result => self.result_is_array,
            Key::Message => self.message_is_array,
            Key::Cid | Key::Status => false,
        }
    }

    fn is_error_object(&self) -> bool {
        self.error_is_object
    }
}

/// The value of an integer, or of a float with an integral value in [−2^63, 2^64); `None`
/// for anything else.
fn integer(value: &Value) -> Option<i128> {
    let Value::Number(n) = value else {
        return None;
    };
    number_integer(*n)
}

/// The value of an integer number, or of a float with an integral value in [−2^63, 2^64).
pub(crate) fn number_integer(n: Number) -> Option<i128> {
    let n = match n {
        Number::Float(f) => Number::from_f64(f),
        integer => integer,
    };
    match n {
        Number::Int(i) => Some(i.into()),
        Number::UInt(u) => Some(u.into()),
        Number::Float(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_include_integral_floats_only() {
        assert_eq!(integer(&Value::from(-3)), Some(-3));
        assert_eq!(
            integer(&Value::Number(Number::UInt(u64::MAX))),
            Some(u64::MAX.into())
        );
        assert_eq!(integer(&Value::Number(Number::Float(1.0))), Some(1));
        assert_eq!(integer(&Value::Number(Number::Float(-0.0))), Some(0));
        assert_eq!(integer(&Value::Number(Number::Float(1.5))), None);
        assert_eq!(integer(&Value::Number(Number::Float(1e20))), None);
        assert_eq!(integer(&Value::Number(Number::Float(f64::INFINITY))), None);
        assert_eq!(integer(&Value::Number(Number::Float(f64::NAN))), None);
        assert_eq!(integer(&Value::from("1")), None);
        assert_eq!(integer(&Value::Bool(true)), None);
    }

    #[test]
    fn error_responses_carry_data_only_when_given() {
        let mut error = Object::new();
        error.insert("code".to_owned(), Value::from(-32603));
        error.insert("message".to_owned(), Value::from("Internal error"));
        let mut expected = Object::new();
        expected.insert("cid".to_owned(), Value::from(0));
        expected.insert("status".to_owned(), Value::from(0));
        expected.insert("error".to_owned(), Value::Object(error.clone()));
        assert_eq!(internal_error(), Value::Object(expected.clone()));

        error.insert("data".to_owned(), Value::from("detail"));
        expected.insert("error".to_owned(), Value::Object(error));
        assert_eq!(
            error_response(-32603, "Internal error", Some("detail")),
            Value::Object(expected)
        );
    }

    #[test]
    fn only_message_types_3_and_4_are_requests() {
        assert!(!MsgType::NotificationWithoutParams.is_request());
        assert!(!MsgType::NotificationWithParams.is_request());
        assert!(MsgType::RequestWithoutParams.is_request());
        assert!(MsgType::RequestWithParams.is_request());
        assert_eq!(MsgType::RequestWithParams as i32, 4);
    }
}

//! The LAppS-protocol messages of the benchmarks, encoded and checked without building
//! documents on the hot path.
//!
//! lapps (like LAppS) writes CBOR canonically: map members in key order, shortest integer
//! forms, definite lengths. So the response to a request is known byte for byte in advance,
//! and a reply is checked with a comparison; only a reply that differs is decoded with
//! [`cbor::decode`], to tell an equivalent encoding from a wrong answer.
//!
//! | exchange | request | answer |
//! | --- | --- | --- |
//! | login (echo_lapps) | `{lapps: 1, method: "login", params: [{user, password}]}` | `{cid: 0, status: 1, result: [{authkey}]}` |
//! | echo | `{lapps: 1, method: "echo", params: [{authkey}, payload, seq]}` | `{cid: 0, status: 1, result: [{authkey}, payload, seq]}` |
//! | subscribe (bcast_bench) | `{lapps: 1, method: "subscribe"}` | `{cid: 0, status: 1, result: [true]}` |
//! | publish (bcast_bench) | `{lapps: 1, method: "publish", params: [time_ns, seq, padding]}` | `{cid: 0, status: 1, result: [true]}`, and to every subscriber `{cid: 7, message: [time_ns, seq, padding]}` |

use lapps_proto::Message;
use lapps_proto::lapps::cbor::{ARRAY, BYTES, MAP, TEXT, UNSIGNED as UINT};
use lapps_proto::lapps::{Number, Object, Value, cbor};

use crate::client::ClientError;

/// The credentials `lapps-load` logs in to `echo_lapps` with (an account of the example).
pub const LOGIN: (&str, &str) = ("admin", "admin");

/// The channel (`cid`) of the notifications `bcast_bench` broadcasts.
pub const BCAST_CID: i64 = 7;

/// Returns the login request of `echo_lapps`.
pub fn login_request(user: &str, password: &str) -> Vec<u8> {
    let credentials = object([("password", password.into()), ("user", user.into())]);
    cbor::to_vec(&request("login", Some(vec![credentials])))
}

/// Checks the answer to a login and returns the `{authkey}` object to pass in every echo.
///
/// # Errors
///
/// The reply is not a success response with a non-empty `result`.
pub fn check_login(reply: &Message) -> Result<Value, ClientError> {
    let value = decode_binary(reply)?;
    match result(&value).and_then(|items| items.first()) {
        Some(auth) => Ok(auth.clone()),
        None => Err(unexpected("login", &value)),
    }
}

/// Returns the subscribe request of `bcast_bench`.
pub fn subscribe_request() -> Vec<u8> {
    cbor::to_vec(&request("subscribe", None))
}

/// Checks a `{cid: 0, status: 1, result: [true]}` answer (subscribe, publish).
///
/// # Errors
///
/// Any other reply.
pub fn check_true(reply: &Message, what: &str) -> Result<(), ClientError> {
    let expected = success(vec![Value::Bool(true)]);
    check_against(reply, &cbor::to_vec(&expected), &expected, what)
}

/// The echo requests of one connection and their expected responses.
#[derive(Clone, Debug)]
pub struct Echo {
    /// The request up to the sequence number: `{lapps, method, params: [auth, payload,`.
    request_prefix: Vec<u8>,
    /// The response up to the sequence number: `{cid: 0, result: [auth, payload,`.
    response_prefix: Vec<u8>,
    /// `params` without the sequence number, for the slow check.
    params: Vec<Value>,
}

impl Echo {
    /// Prepares the requests that echo `payload` (text if `text`, else binary) with the
    /// `auth` object of the login (`None` for a service without login).
    pub fn new(auth: Option<Value>, payload: &[u8], text: bool) -> Self {
        let payload_value = if text {
            Value::String(String::from_utf8_lossy(payload).into_owned())
        } else {
            Value::Binary(payload.to_vec())
        };
        let params: Vec<Value> = auth.into_iter().chain([payload_value]).collect();
        let count = params.len() as u64 + 1;
        let mut request_prefix = Vec::with_capacity(payload.len() + 64);
        cbor::encode_head(&mut request_prefix, MAP, 3);
        cbor::encode_text("lapps", &mut request_prefix);
        cbor::encode_head(&mut request_prefix, UINT, 1);
        cbor::encode_text("method", &mut request_prefix);
        cbor::encode_text("echo", &mut request_prefix);
        cbor::encode_text("params", &mut request_prefix);
        cbor::encode_head(&mut request_prefix, ARRAY, count);
        let mut response_prefix = Vec::with_capacity(payload.len() + 64);
        cbor::encode_head(&mut response_prefix, MAP, 3);
        cbor::encode_text("cid", &mut response_prefix);
        cbor::encode_head(&mut response_prefix, UINT, 0);
        cbor::encode_text("result", &mut response_prefix);
        cbor::encode_head(&mut response_prefix, ARRAY, count);
        for param in &params {
            cbor::encode(param, &mut request_prefix);
            cbor::encode(param, &mut response_prefix);
        }
        Self {
            request_prefix,
            response_prefix,
            params,
        }
    }

    /// Writes request `seq` into `out` (cleared first).
    pub fn encode_request(&self, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.request_prefix);
        cbor::encode_head(out, UINT, seq);
    }

    /// Checks that `reply` is the response to request `seq`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unexpected`] describing the reply.
    pub fn check_response(&self, seq: u64, reply: &Message) -> Result<(), ClientError> {
        if let Message::Binary(bytes) = reply
            && let Some(rest) = bytes.strip_prefix(self.response_prefix.as_slice())
            && let Some(number) = rest.strip_suffix(STATUS_1)
        {
            let mut reader = Reader(number);
            if reader.uint() == Some(seq) && reader.0.is_empty() {
                return Ok(());
            }
        }
        let mut params = self.params.clone();
        params.push(uint(seq));
        let expected = success(params);
        check_value(reply, &expected, "echo")
    }
}

/// The publish requests of `bcast_bench`.
#[derive(Clone, Debug)]
pub struct Publish {
    /// `{lapps: 1, method: "publish", params: [` (three elements follow).
    prefix: Vec<u8>,
    /// The byte string header and the padding.
    padding: Vec<u8>,
}

impl Publish {
    /// Prepares requests with `size` bytes of padding.
    pub fn new(size: usize) -> Self {
        let mut prefix = Vec::with_capacity(32);
        cbor::encode_head(&mut prefix, MAP, 3);
        cbor::encode_text("lapps", &mut prefix);
        cbor::encode_head(&mut prefix, UINT, 1);
        cbor::encode_text("method", &mut prefix);
        cbor::encode_text("publish", &mut prefix);
        cbor::encode_text("params", &mut prefix);
        cbor::encode_head(&mut prefix, ARRAY, 3);
        let mut padding = Vec::with_capacity(size + 9);
        cbor::encode_head(&mut padding, BYTES, size as u64);
        padding.extend(b"abcdefghijklmnopqrstuvwxyz".iter().cycle().take(size));
        Self { prefix, padding }
    }

    /// Writes the request for broadcast `seq` sent at `time_ns` into `out` (cleared first).
    pub fn encode(&self, time_ns: u64, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.prefix);
        cbor::encode_head(out, UINT, time_ns);
        cbor::encode_head(out, UINT, seq);
        out.extend_from_slice(&self.padding);
    }
}

/// A broadcast notification as a subscriber received it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Delivery {
    /// When it was published, in nanoseconds since the start of the run.
    pub time_ns: u64,
    /// Its sequence number.
    pub seq: u64,
    /// The length of its padding.
    pub padding: usize,
}

/// Reads a `{cid: 7, message: [time_ns, seq, padding]}` notification.
///
/// # Errors
///
/// Anything else.
pub fn parse_delivery(reply: &Message) -> Result<Delivery, ClientError> {
    let Message::Binary(bytes) = reply else {
        return Err(ClientError::Unexpected(
            "a LAppS notification must be a binary message".to_owned(),
        ));
    };
    if let Some(delivery) = parse_delivery_fast(bytes) {
        return Ok(delivery);
    }
    let value = decode_binary(reply)?;
    let cid = value.get("cid").and_then(Value::as_i64);
    let status = value.get("status").map(Value::as_i64);
    let message = match value.get("message") {
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    match (cid, status, message) {
        (Some(BCAST_CID), None | Some(Some(1)), [time, seq, Value::Binary(padding)]) => {
            match (as_u64(time), as_u64(seq)) {
                (Some(time_ns), Some(seq)) => Ok(Delivery {
                    time_ns,
                    seq,
                    padding: padding.len(),
                }),
                _ => Err(unexpected("notification", &value)),
            }
        }
        _ => Err(unexpected("notification", &value)),
    }
}

/// Parses the canonical form, `{cid: 7, message: [uint, uint, bytes]}`, byte by byte.
fn parse_delivery_fast(bytes: &[u8]) -> Option<Delivery> {
    let mut reader = Reader(bytes);
    (reader.head()? == (MAP, 2)).then_some(())?;
    reader.text("cid")?;
    (reader.head()? == (UINT, 7)).then_some(())?;
    reader.text("message")?;
    (reader.head()? == (ARRAY, 3)).then_some(())?;
    let time_ns = reader.uint()?;
    let seq = reader.uint()?;
    let (major, len) = reader.head()?;
    (major == BYTES && reader.0.len() as u64 == len).then_some(Delivery {
        time_ns,
        seq,
        padding: reader.0.len(),
    })
}

/// Checks `reply` against the expected encoding, else semantically.
fn check_against(
    reply: &Message,
    encoded: &[u8],
    expected: &Value,
    what: &str,
) -> Result<(), ClientError> {
    match reply {
        Message::Binary(bytes) if bytes.as_ref() == encoded => Ok(()),
        _ => check_value(reply, expected, what),
    }
}

/// Decodes `reply` and compares it with `expected`.
fn check_value(reply: &Message, expected: &Value, what: &str) -> Result<(), ClientError> {
    let value = decode_binary(reply)?;
    if value == *expected {
        Ok(())
    } else {
        Err(unexpected(what, &value))
    }
}

fn decode_binary(reply: &Message) -> Result<Value, ClientError> {
    match reply {
        Message::Binary(bytes) => cbor::decode(bytes)
            .map_err(|e| ClientError::Unexpected(format!("undecodable LAppS answer: {e}"))),
        Message::Text(_) => Err(ClientError::Unexpected(
            "a text message where a LAppS answer (binary) was expected".to_owned(),
        )),
        other => Err(ClientError::Unexpected(format!("unexpected {other:?}"))),
    }
}

/// Describes a wrong answer: the error of an error response, or the document.
fn unexpected(what: &str, value: &Value) -> ClientError {
    if let Some(Value::Object(error)) = value.get("error") {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = match error.get("message") {
            Some(Value::String(m)) => m.as_str(),
            _ => "",
        };
        return ClientError::Unexpected(format!("{what}: error {code} {message:?}"));
    }
    let mut text = format!("{value:?}");
    if text.len() > MAX_DESCRIPTION {
        let cut = (0..=MAX_DESCRIPTION)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    ClientError::Unexpected(format!("{what}: unexpected answer {text}"))
}

/// `result` of a success response (`cid` 0, `status` 1), if `value` is one.
fn result(value: &Value) -> Option<&[Value]> {
    let ok = value.get("cid").and_then(Value::as_i64) == Some(0)
        && value.get("status").and_then(Value::as_i64) == Some(1);
    match value.get("result") {
        Some(Value::Array(items)) if ok => Some(items),
        _ => None,
    }
}

fn request(method: &str, params: Option<Vec<Value>>) -> Value {
    let mut members = Object::new();
    members.insert("lapps".to_owned(), Value::from(1));
    members.insert("method".to_owned(), method.into());
    if let Some(params) = params {
        members.insert("params".to_owned(), Value::Array(params));
    }
    Value::Object(members)
}

fn success(result: Vec<Value>) -> Value {
    object([
        ("cid", Value::from(0)),
        ("result", Value::Array(result)),
        ("status", Value::from(1)),
    ])
}

fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn uint(n: u64) -> Value {
    Value::Number(Number::from_u64(n))
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(Number::Int(n)) => u64::try_from(*n).ok(),
        Value::Number(Number::UInt(n)) => Some(*n),
        _ => None,
    }
}

/// Reads CBOR heads off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    /// Reads a head with a definite argument: `(major type, argument)`, the major type in
    /// its place in the initial byte, as `cbor`'s constants have it.
    fn head(&mut self) -> Option<(u8, u64)> {
        let (&first, rest) = self.0.split_first()?;
        let extra = match first & 0x1f {
            n @ 0..24 => {
                self.0 = rest;
                return Some((first & 0xe0, u64::from(n)));
            }
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return None,
        };
        let (bytes, rest) = rest.split_at_checked(extra)?;
        self.0 = rest;
        let argument = bytes.iter().fold(0, |n, &b| (n << 8) | u64::from(b));
        Some((first & 0xe0, argument))
    }

    fn uint(&mut self) -> Option<u64> {
        match self.head()? {
            (UINT, n) => Some(n),
            _ => None,
        }
    }

    fn text(&mut self, expected: &str) -> Option<()> {
        let (major, len) = self.head()?;
        let len = usize::try_from(len).ok()?;
        let (text, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        (major == TEXT && text == expected.as_bytes()).then_some(())
    }
}

/// The end of every success response: `"status": 1`.
const STATUS_1: &[u8] = b"\x66status\x01";

/// The longest document shown in an error.
const MAX_DESCRIPTION: usize = 200;

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn binary(bytes: Vec<u8>) -> Message {
        Message::Binary(Bytes::from(bytes))
    }

    fn auth() -> Value {
        object([("authkey", Value::from(123_456_789_012))])
    }

    #[test]
    fn echo_request_is_the_canonical_cbor_document() {
        for (payload, text) in [(&b"hello"[..], true), (&[0, 1, 255][..], false)] {
            let echo = Echo::new(Some(auth()), payload, text);
            for seq in [0, 23, 24, 255, 256, 65_536, u64::from(u32::MAX) + 1] {
                let mut out = Vec::new();
                echo.encode_request(seq, &mut out);
                let payload_value = if text {
                    Value::from(std::str::from_utf8(payload).unwrap())
                } else {
                    Value::Binary(payload.to_vec())
                };
                let expected = request("echo", Some(vec![auth(), payload_value, uint(seq)]));
                assert_eq!(out, cbor::to_vec(&expected), "seq {seq}");
                assert_eq!(cbor::decode(&out).unwrap(), expected);
            }
        }
    }

    #[test]
    fn echo_accepts_the_matching_response_only() {
        let payload = vec![7_u8; 100];
        let echo = Echo::new(Some(auth()), &payload, false);
        let response = |seq: u64, payload: Vec<u8>| {
            cbor::to_vec(&success(vec![auth(), Value::Binary(payload), uint(seq)]))
        };
        assert!(
            echo.check_response(42, &binary(response(42, payload.clone())))
                .is_ok()
        );
        // The wrong sequence number, the wrong payload, text instead of binary.
        assert!(
            echo.check_response(42, &binary(response(41, payload)))
                .is_err()
        );
        assert!(
            echo.check_response(42, &binary(response(42, vec![8; 100])))
                .is_err()
        );
        assert!(echo.check_response(42, &Message::Text("x".into())).is_err());
        // An error response is described.
        let error = object([
            ("cid", Value::from(0)),
            (
                "error",
                object([
                    ("code", Value::from(-32000)),
                    ("message", "Not authorized".into()),
                ]),
            ),
            ("status", Value::from(0)),
        ]);
        let described = echo
            .check_response(1, &binary(cbor::to_vec(&error)))
            .unwrap_err();
        assert_eq!(
            described.to_string(),
            r#"echo: error -32000 "Not authorized""#
        );
    }

    #[test]
    fn echo_accepts_an_equivalent_non_canonical_response() {
        let echo = Echo::new(None, b"ab", true);
        // `{"status": 1, "cid": 0, "result": ["ab", 5]}` with members out of order.
        let mut reply = vec![0xa3];
        cbor::encode_text("status", &mut reply);
        reply.push(0x01);
        cbor::encode_text("cid", &mut reply);
        reply.push(0x00);
        cbor::encode_text("result", &mut reply);
        reply.push(0x82);
        cbor::encode_text("ab", &mut reply);
        reply.push(0x05);
        assert!(echo.check_response(5, &binary(reply)).is_ok());
    }

    #[test]
    fn login_returns_the_auth_object() {
        let request = cbor::decode(&login_request("admin", "admin")).unwrap();
        assert_eq!(
            request,
            self::request(
                "login",
                Some(vec![object([
                    ("password", "admin".into()),
                    ("user", "admin".into())
                ])])
            )
        );
        let reply = binary(cbor::to_vec(&success(vec![auth()])));
        assert_eq!(check_login(&reply).unwrap(), auth());
        let refused = binary(cbor::to_vec(&success(vec![])));
        assert!(check_login(&refused).is_err());
    }

    #[test]
    fn subscribe_and_true_answers() {
        assert_eq!(
            cbor::decode(&subscribe_request()).unwrap(),
            request("subscribe", None)
        );
        let ok = binary(cbor::to_vec(&success(vec![Value::Bool(true)])));
        assert!(check_true(&ok, "subscribe").is_ok());
        let no = binary(cbor::to_vec(&success(vec![Value::Bool(false)])));
        assert!(check_true(&no, "subscribe").is_err());
    }

    #[test]
    fn publish_and_delivery_round_trip() {
        let publish = Publish::new(300);
        let mut out = Vec::new();
        publish.encode(1_234_567_890_123, 99, &mut out);
        let Value::Object(request) = cbor::decode(&out).unwrap() else {
            panic!("not an object");
        };
        assert_eq!(request.get("method"), Some(&Value::from("publish")));
        let Some(Value::Array(params)) = request.get("params") else {
            panic!("no params");
        };
        // The notification bcast_bench sends: {cid: 7, message: params}.
        let oon = object([
            ("cid", Value::from(7)),
            ("message", Value::Array(params.clone())),
        ]);
        let expected = Delivery {
            time_ns: 1_234_567_890_123,
            seq: 99,
            padding: 300,
        };
        assert_eq!(
            parse_delivery(&binary(cbor::to_vec(&oon))).unwrap(),
            expected
        );
        assert_eq!(parse_delivery_fast(&cbor::to_vec(&oon)), Some(expected));
        // With status 1 the slow path reads it.
        let with_status = object([
            ("cid", Value::from(7)),
            ("message", Value::Array(params.clone())),
            ("status", Value::from(1)),
        ]);
        assert_eq!(
            parse_delivery(&binary(cbor::to_vec(&with_status))).unwrap(),
            expected
        );
        // Another channel, or a truncated message, is an error.
        let other = object([
            ("cid", Value::from(5)),
            ("message", Value::Array(params.clone())),
        ]);
        assert!(parse_delivery(&binary(cbor::to_vec(&other))).is_err());
        let mut truncated = cbor::to_vec(&oon);
        truncated.pop();
        assert!(parse_delivery(&binary(truncated)).is_err());
    }

    #[test]
    fn heads_use_the_shortest_form() {
        for (n, len) in [
            (0, 1),
            (23, 1),
            (24, 2),
            (255, 2),
            (256, 3),
            (65_535, 3),
            (65_536, 5),
        ] {
            let mut out = Vec::new();
            cbor::encode_head(&mut out, UINT, n);
            assert_eq!(out.len(), len, "{n}");
            assert_eq!(cbor::decode(&out).unwrap(), uint(n));
            assert_eq!(Reader(&out).uint(), Some(n));
        }
        let mut out = Vec::new();
        cbor::encode_head(&mut out, UINT, u64::MAX);
        assert_eq!(cbor::decode(&out).unwrap(), uint(u64::MAX));
        assert_eq!(Reader(&out).uint(), Some(u64::MAX));
    }
}

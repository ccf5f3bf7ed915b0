//! The LAppS application protocol (spec §4): documents, their CBOR and JSON forms, and the
//! validation of every message in both directions.
//!
//! Enabled by the `lapps` feature. Like the rest of the crate it does no IO: bytes in,
//! [`Value`]s and verdicts out.
//!
//! * [`Value`] is the document model shared by the server, Rust-native services and Lua's
//!   `nljson`: JSON plus a `binary` kind for CBOR byte strings (spec §4.8). Objects keep their
//!   members ordered by key in byte order, the order LAppS uses.
//! * [`cbor`] decodes exactly one CBOR item with the limits of spec §4.5 and encodes with the
//!   shortest integer forms (spec §4.8).
//! * [`json`] is the text form used by `nljson.encode` and `nljson.decode` (spec §3.10).
//! * [`validate`] classifies inbound messages ([`MsgType`]) and checks outbound ones.

use std::collections::BTreeMap;

pub mod cbor;
pub mod json;
pub mod validate;

pub use validate::{InboundError, MsgType, OutboundError};

/// An object: members ordered by key in byte order.
pub type Object = BTreeMap<String, Value>;

/// A LAppS document: a JSON value, or a `binary` byte string (spec §4.8).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// JSON `null` (CBOR null and undefined).
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer or a float.
    Number(Number),
    /// A UTF-8 string (a CBOR text string).
    String(String),
    /// A CBOR byte string (lapps extension): a Lua string, re-encoded as a byte string.
    Binary(Vec<u8>),
    /// An array.
    Array(Vec<Self>),
    /// An object.
    Object(Object),
}

/// A number as documents keep it: integers keep their full 64-bit value (spec §3.10).
///
/// Integers that fit an `i64` are always [`Int`](Self::Int); [`UInt`](Self::UInt) holds only
/// values above `i64::MAX`. Constructors in this module keep that canonical form, so equal
/// numbers compare equal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An integer in `i64` range.
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    /// A float.
    Float(f64),
}

impl Number {
    /// The canonical number for an unsigned integer.
    pub fn from_u64(n: u64) -> Self {
        i64::try_from(n).map_or(Self::UInt(n), Self::Int)
    }

    /// The number a Lua number becomes (spec §3.10): an integer if `f` is integral and within
    /// [−2^63, 2^64), otherwise a float.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "range-checked just before each cast"
    )]
    pub fn from_f64(f: f64) -> Self {
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        const TWO_64: f64 = 18_446_744_073_709_551_616.0;
        if f.fract() != 0.0 || !f.is_finite() {
            Self::Float(f)
        } else if (-TWO_63..TWO_63).contains(&f) {
            Self::Int(f as i64)
        } else if (TWO_63..TWO_64).contains(&f) {
            Self::UInt(f as u64)
        } else {
            Self::Float(f)
        }
    }

    /// The number as a Lua number (a double); integers above 2^53 lose precision.
    #[expect(
        clippy::cast_precision_loss,
        reason = "Lua numbers are doubles (spec §3.10)"
    )]
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Int(n) => n as f64,
            Self::UInt(n) => n as f64,
            Self::Float(f) => f,
        }
    }

    /// The integer value, if this is an integer that fits an `i64`.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Self::Int(n) => Some(n),
            Self::UInt(_) | Self::Float(_) => None,
        }
    }
}

impl Value {
    /// The `nljson.typename` of the value: `"null"`, `"object"`, `"array"`, `"string"`,
    /// `"boolean"`, `"number"` or `"binary"`.
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "boolean",
            Self::Number(_) => "number",
            Self::String(_) => "string",
            Self::Binary(_) => "binary",
            Self::Array(_) => "array",
            Self::Object(_) => "object",
        }
    }

    /// The member `key` of an object; `None` for other values or an absent member.
    pub fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Object(members) => members.get(key),
            _ => None,
        }
    }

    /// The value as an integer, if it is an integer number that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Number(n) => n.as_i64(),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Number(Number::Int(n))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<Vec<Self>> for Value {
    fn from(items: Vec<Self>) -> Self {
        Self::Array(items)
    }
}

impl From<Object> for Value {
    fn from(members: Object) -> Self {
        Self::Object(members)
    }
}

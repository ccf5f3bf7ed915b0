//! CBOR (RFC 8949) to and from [`Value`], with the mapping of spec §4.8.

use super::Value;

/// The deepest nesting accepted on input (spec §4.5 check 2).
pub const MAX_DEPTH: usize = 128;

/// Why a payload is not one acceptable CBOR item: the −32700 "Parse error" of spec §4.5.
///
/// The text is the short human-readable detail that goes in `error.data`.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// Decodes exactly one CBOR item filling `bytes`.
///
/// # Errors
///
/// Malformed or truncated input, trailing bytes, a map key that is not a text string, a
/// text string that is not UTF-8, nesting deeper than [`MAX_DEPTH`], or a simple value
/// other than true, false, null and undefined.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let _ = bytes;
    todo!("issue 4: CBOR decoding")
}

/// Encodes `value`, appending to `out`: shortest integer forms, float64 for non-integral
/// numbers (or a shorter float when lossless), members in key order, `binary` as a byte
/// string.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    let _ = (value, out);
    todo!("issue 4: CBOR encoding")
}

/// Encodes `value` into a new vector.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

//! JSON text to and from [`Value`], as `nljson` reads and writes it (spec §3.10).

use super::Value;

/// A JSON parse failure, with its position.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Why a value has no JSON text: it holds a `binary` value.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("a binary value has no JSON form")]
pub struct BinaryInJson;

/// Parses JSON text. Objects with duplicate keys keep the last.
///
/// # Errors
///
/// A [`ParseError`] with the position of the first problem.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    let _ = text;
    todo!("issue 4: JSON parsing")
}

/// Writes compact JSON: no insignificant whitespace, non-ASCII kept as UTF-8, control
/// characters escaped, integral numbers without a fraction, other numbers in the shortest
/// form that round-trips, NaN and ±Inf as `null`.
///
/// # Errors
///
/// [`BinaryInJson`] if the value holds a `binary` value.
pub fn to_string(value: &Value) -> Result<String, BinaryInJson> {
    let _ = value;
    todo!("issue 4: JSON output")
}

/// Like [`to_string`], with newlines and `indent` spaces per level; `indent` 0 is compact.
///
/// # Errors
///
/// [`BinaryInJson`] if the value holds a `binary` value.
pub fn to_string_pretty(value: &Value, indent: usize) -> Result<String, BinaryInJson> {
    let _ = (value, indent);
    todo!("issue 4: JSON output")
}

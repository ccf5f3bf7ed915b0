//! JSON text to and from [`Value`], as `nljson` reads and writes it (spec §3.10).
//!
//! Both directions go through `serde_json`, with a visitor and a serializer of this module's
//! own, so objects land straight in [`Object`] (key order) whatever features other crates
//! turn on in `serde_json`.
//!
//! * Input: integers keep their full 64-bit value (`Int`, or `UInt` above `i64::MAX`); other
//!   numbers, `-0` and integers beyond 64 bits are `Float`. A duplicate key: the last wins.
//!   `serde_json` limits nesting to 127 levels of arrays and objects (its recursion limit),
//!   so deep input fails with "recursion limit exceeded" instead of exhausting the stack.
//!   Floats are read with `serde_json`'s default precision, which can be one unit in the last
//!   place off for some long decimal forms; its `float_roundtrip` feature makes the reading
//!   exact.
//! * Output: `Int` and `UInt` are written as integers, and so is a `Float` with an integral
//!   value in [−2^63, 2^64) (`2.0` is written `2`, and `-0.0` is written `0`). Other finite
//!   floats use the shortest text that reads back to the same double (`0.1`, `1e+300`), and
//!   NaN and ±Inf are written `null`. Strings keep non-ASCII characters as UTF-8 and escape
//!   `"`, `\` and the control characters U+0000 to U+001F.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, Serializer};
use serde_json::ser::PrettyFormatter;

use super::{Number, Object, Value};

/// A JSON parse failure, with its position.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (0 when the text ends right at the start of a line, as an empty text
    /// does).
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
    serde_json::from_str::<Parsed>(text)
        .map(|parsed| parsed.0)
        .map_err(|error| {
            let (line, column) = (error.line(), error.column());
            // serde_json's text ends with the position; the position is kept apart here.
            let full = error.to_string();
            let suffix = format!(" at line {line} column {column}");
            let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
            ParseError {
                message,
                line,
                column,
            }
        })
}

/// Writes compact JSON: no insignificant whitespace, non-ASCII kept as UTF-8, control
/// characters escaped, integral numbers without a fraction, other numbers in the shortest
/// form that round-trips, NaN and ±Inf as `null`.
///
/// # Errors
///
/// [`BinaryInJson`] if the value holds a `binary` value.
pub fn to_string(value: &Value) -> Result<String, BinaryInJson> {
    // The only error the serializer can meet is a binary value: it writes into memory.
    serde_json::to_string(&Json(value)).map_err(|_| BinaryInJson)
}

/// Like [`to_string`], with newlines and `indent` spaces per level; `indent` 0 is compact.
///
/// # Errors
///
/// [`BinaryInJson`] if the value holds a `binary` value.
pub fn to_string_pretty(value: &Value, indent: usize) -> Result<String, BinaryInJson> {
    if indent == 0 {
        return to_string(value);
    }
    let spaces = vec![b' '; indent];
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, PrettyFormatter::with_indent(&spaces));
    Json(value)
        .serialize(&mut serializer)
        .map_err(|_| BinaryInJson)?;
    // serde_json writes UTF-8 only; the lossy path is never taken.
    Ok(String::from_utf8(out)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
}

/// A value as `serde_json` deserializes it through [`ValueVisitor`].
struct Parsed(Value);

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(Parsed)
    }
}

/// Builds a [`Value`] from what `serde_json` reads.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(Number::Int(n)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(Number::from_u64(n)))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Number(Number::Float(f)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Parsed(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Object::new();
        while let Some((key, Parsed(member))) = map.next_entry::<String, Parsed>()? {
            // A duplicate key: the last one wins.
            members.insert(key, member);
        }
        Ok(Value::Object(members))
    }
}

/// A value as `serde_json` serializes it, by the output rules of spec §3.10.
struct Json<'a>(&'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => serialize_number(*n, serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Binary(_) => Err(ser::Error::custom(BinaryInJson)),
            Value::Array(items) => serializer.collect_seq(items.iter().map(Json)),
            Value::Object(members) => {
                serializer.collect_map(members.iter().map(|(key, member)| (key, Json(member))))
            }
        }
    }
}

/// Writes a number: integral values as integers, NaN and ±Inf as `null`.
fn serialize_number<S: Serializer>(n: Number, serializer: S) -> Result<S::Ok, S::Error> {
    let n = match n {
        Number::Float(f) => Number::from_f64(f),
        integer => integer,
    };
    match n {
        Number::Int(i) => serializer.serialize_i64(i),
        Number::UInt(u) => serializer.serialize_u64(u),
        Number::Float(f) if f.is_finite() => serializer.serialize_f64(f),
        Number::Float(_) => serializer.serialize_unit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_keep_the_message_apart_from_the_position() {
        assert_eq!(
            parse("{\n  \"a\" 1}"),
            Err(ParseError {
                message: "expected `:`".to_owned(),
                line: 2,
                column: 7,
            })
        );
        let error = parse("[1,]").err();
        assert_eq!(
            error.as_ref().map(ToString::to_string).as_deref(),
            Some("trailing comma at line 1 column 4")
        );
    }

    #[test]
    fn numbers_keep_their_kind() {
        assert_eq!(parse("-5"), Ok(Value::from(-5)));
        assert_eq!(parse("5"), Ok(Value::from(5)));
        assert_eq!(parse("5.0"), Ok(Value::Number(Number::Float(5.0))));
        assert_eq!(parse("5e0"), Ok(Value::Number(Number::Float(5.0))));
    }

    #[test]
    fn duplicate_keys_keep_the_last() {
        let mut expected = Object::new();
        expected.insert("a".to_owned(), Value::from(2));
        expected.insert("b".to_owned(), Value::Null);
        assert_eq!(
            parse(r#"{"b":null,"a":1,"a":2}"#),
            Ok(Value::Object(expected))
        );
    }

    #[test]
    fn integral_floats_are_written_as_integers() {
        let text = |f: f64| to_string(&Value::Number(Number::Float(f)));
        assert_eq!(text(2.0).as_deref(), Ok("2"));
        assert_eq!(text(-0.0).as_deref(), Ok("0"));
        assert_eq!(
            text(-9_223_372_036_854_775_808.0).as_deref(),
            Ok("-9223372036854775808")
        );
        assert_eq!(
            text(9_223_372_036_854_775_808.0).as_deref(),
            Ok("9223372036854775808")
        );
        // 2^64 is beyond both integer kinds: a float, in exponent form.
        assert_eq!(
            text(18_446_744_073_709_551_616.0).as_deref(),
            Ok("1.8446744073709552e+19")
        );
        assert_eq!(text(0.5).as_deref(), Ok("0.5"));
        assert_eq!(text(f64::NAN).as_deref(), Ok("null"));
        assert_eq!(text(f64::NEG_INFINITY).as_deref(), Ok("null"));
    }

    #[test]
    fn indent_zero_is_compact() {
        let value = Value::from(vec![Value::from(1), Value::from(vec![])]);
        assert_eq!(to_string_pretty(&value, 0).as_deref(), Ok("[1,[]]"));
        assert_eq!(to_string_pretty(&value, 1).as_deref(), Ok("[\n 1,\n []\n]"));
    }

    #[test]
    fn binary_anywhere_is_refused() {
        let value = Value::from(vec![Value::Null, Value::from(vec![Value::Binary(vec![1])])]);
        assert_eq!(to_string(&value), Err(BinaryInJson));
        assert_eq!(to_string_pretty(&value, 2), Err(BinaryInJson));
    }
}

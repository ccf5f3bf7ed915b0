//! CBOR (RFC 8949) to and from [`Value`], with the mapping of spec §4.8.
//!
//! Headers are read and written by `ciborium-ll`; this module applies the LAppS rules on top:
//! one item and nothing after it, at most [`MAX_DEPTH`] levels of arrays and maps, text map
//! keys, valid UTF-8, and the value mapping below.
//!
//! | CBOR | [`Value`] |
//! | --- | --- |
//! | unsigned integer | [`Number::from_u64`]: `Int`, or `UInt` above `i64::MAX` |
//! | negative integer ≥ −2^63 | `Int` |
//! | negative integer < −2^63 | `Float` (the nearest double: a document has no wider integer) |
//! | float16, float32, float64 | `Float`, even when integral |
//! | text string (definite or chunked) | `String` (each chunk valid UTF-8, RFC 8949 §3.2.3) |
//! | byte string (definite or chunked) | `Binary` |
//! | array, map (definite or indefinite) | `Array`, `Object` (a duplicate key: the last wins) |
//! | true, false, null, undefined | `Bool`, `Null` |
//! | tag | its content (a bignum, tag 2 or 3, gives `Binary`) |
//!
//! Encoding writes definite lengths only, integers in their shortest form, and a float that
//! holds an integral value within [−2^63, 2^64) as that integer (as Lua does, spec §4.8). Any
//! other float is written in the shortest of float16, float32 and float64 that keeps its exact
//! bits (RFC 8949 §4.2.2 "preferred serialization"; spec §4.8 allows it), so `0.5` takes three
//! bytes and `0.1` nine.

use ciborium_ll::{Decoder, Encoder, Header, simple};

use super::{Number, Value};

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
/// Arrays and maps count as one level each; the item itself may be a scalar (depth 0) or up to
/// [`MAX_DEPTH`] containers deep. Deeper input is refused when its 129th level is met, so the
/// decoder's recursion never exceeds that bound whatever the input. Length headers are checked
/// against the bytes that remain before anything is allocated.
///
/// # Errors
///
/// Malformed or truncated input, trailing bytes, a map key that is not a text string, a
/// text string that is not UTF-8, nesting deeper than [`MAX_DEPTH`], or a simple value
/// other than true, false, null and undefined.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = Reader {
        decoder: Decoder::from(bytes),
        len: bytes.len(),
    };
    let value = reader.item(0)?;
    if reader.remaining() != 0 {
        return Err(DecodeError::new("trailing bytes after the CBOR item"));
    }
    Ok(value)
}

/// Encodes `value`, appending to `out`: shortest integer forms, float64 for non-integral
/// numbers (or a shorter float when lossless), members in key order, `binary` as a byte
/// string.
///
/// A float with an integral value in [−2^63, 2^64) is written as that integer, and other
/// floats (NaN and ±Inf included) in the shortest of float16, float32 and float64 that keeps
/// their exact value. Lengths are always definite.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => push(out, Header::Simple(simple::NULL)),
        Value::Bool(false) => push(out, Header::Simple(simple::FALSE)),
        Value::Bool(true) => push(out, Header::Simple(simple::TRUE)),
        Value::Number(n) => push(out, number_header(*n)),
        Value::String(text) => {
            push(out, Header::Text(Some(text.len())));
            out.extend_from_slice(text.as_bytes());
        }
        Value::Binary(bytes) => {
            push(out, Header::Bytes(Some(bytes.len())));
            out.extend_from_slice(bytes);
        }
        Value::Array(items) => {
            push(out, Header::Array(Some(items.len())));
            for item in items {
                encode(item, out);
            }
        }
        Value::Object(members) => {
            push(out, Header::Map(Some(members.len())));
            for (key, member) in members {
                push(out, Header::Text(Some(key.len())));
                out.extend_from_slice(key.as_bytes());
                encode(member, out);
            }
        }
    }
}

/// Encodes `value` into a new vector.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

impl DecodeError {
    fn new(detail: &str) -> Self {
        Self(detail.to_owned())
    }
}

/// The decoding state: the `ciborium-ll` pull decoder over the whole input.
struct Reader<'a> {
    decoder: Decoder<&'a [u8]>,
    /// The input's length, to know what remains.
    len: usize,
}

impl Reader<'_> {
    /// Reads the next item; `depth` is the number of arrays and maps around it.
    fn item(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let header = self.header()?;
        self.item_from(header, depth)
    }

    /// Reads the item whose first header has just been pulled.
    fn item_from(&mut self, mut header: Header, depth: usize) -> Result<Value, DecodeError> {
        loop {
            return Ok(match header {
                // Spec §4.8: a tag is ignored and its content used. Tags are followed in this
                // loop, not by recursion, so a long run of them costs no stack.
                Header::Tag(_) => {
                    header = self.header()?;
                    continue;
                }
                Header::Positive(n) => Value::Number(Number::from_u64(n)),
                Header::Negative(n) => Value::Number(negative(n)),
                Header::Float(f) => Value::Number(Number::Float(f)),
                Header::Simple(simple::FALSE) => Value::Bool(false),
                Header::Simple(simple::TRUE) => Value::Bool(true),
                Header::Simple(simple::NULL | simple::UNDEFINED) => Value::Null,
                Header::Simple(other) => {
                    return Err(DecodeError(format!("unsupported simple value {other}")));
                }
                Header::Break => return Err(DecodeError::new("unexpected break code")),
                Header::Bytes(len) => Value::Binary(self.string(len, Kind::Bytes)?),
                Header::Text(len) => Value::String(self.text(len)?),
                Header::Array(len) => Value::Array(self.array(len, enter(depth)?)?),
                Header::Map(len) => Value::Object(self.map(len, enter(depth)?)?),
            });
        }
    }

    /// Reads the elements of an array whose own level is `depth`.
    fn array(&mut self, len: Option<usize>, depth: usize) -> Result<Vec<Value>, DecodeError> {
        let Some(len) = len else {
            let mut items = Vec::new();
            loop {
                match self.header()? {
                    Header::Break => return Ok(items),
                    header => items.push(self.item_from(header, depth)?),
                }
            }
        };
        // Each element takes at least one byte: a longer announced length is truncated input,
        // and checking it first keeps the allocation below within what the input can fill.
        if len > self.remaining() {
            return Err(DecodeError::new(UNEXPECTED_END));
        }
        let mut items = Vec::with_capacity(len.min(PREALLOCATE_MAX));
        for _ in 0..len {
            items.push(self.item(depth)?);
        }
        Ok(items)
    }

    /// Reads the members of a map whose own level is `depth`.
    fn map(&mut self, len: Option<usize>, depth: usize) -> Result<super::Object, DecodeError> {
        let mut members = super::Object::new();
        if let Some(len) = len {
            // Each member takes at least two bytes.
            if len > self.remaining() / 2 {
                return Err(DecodeError::new(UNEXPECTED_END));
            }
            for _ in 0..len {
                let header = self.header()?;
                let key = self.key(header)?;
                // Spec §4.8: a duplicate key, the last one wins.
                members.insert(key, self.item(depth)?);
            }
        } else {
            loop {
                let header = self.header()?;
                if header == Header::Break {
                    return Ok(members);
                }
                let key = self.key(header)?;
                members.insert(key, self.item(depth)?);
            }
        }
        Ok(members)
    }

    /// Reads a map key whose first header has just been pulled: a text string, maybe tagged.
    fn key(&mut self, mut header: Header) -> Result<String, DecodeError> {
        loop {
            match header {
                Header::Tag(_) => header = self.header()?,
                Header::Text(len) => return self.text(len),
                // Spec §4.5 check 2: only text-string map keys.
                _ => return Err(DecodeError::new("map key is not a text string")),
            }
        }
    }

    /// Reads a text string after its header.
    fn text(&mut self, len: Option<usize>) -> Result<String, DecodeError> {
        let bytes = self.string(len, Kind::Text)?;
        String::from_utf8(bytes).map_err(|_| DecodeError::new(INVALID_UTF8))
    }

    /// Reads the content of a byte or text string after its header: one definite-length
    /// string, or the chunks of an indefinite-length one up to its break.
    fn string(&mut self, len: Option<usize>, kind: Kind) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        if let Some(len) = len {
            self.read(len, &mut out)?;
            return Ok(out);
        }
        loop {
            let start = out.len();
            match (self.header()?, kind) {
                (Header::Break, _) => return Ok(out),
                (Header::Bytes(Some(len)), Kind::Bytes) | (Header::Text(Some(len)), Kind::Text) => {
                    self.read(len, &mut out)?;
                }
                // RFC 8949 §3.2.3: chunks are definite-length strings of the same major type.
                _ => {
                    return Err(DecodeError::new(
                        "chunk of an indefinite-length string is not a definite-length string \
                         of the same type",
                    ));
                }
            }
            // RFC 8949 §3.2.3: a character may not be split between chunks, so each chunk of
            // a text string is valid UTF-8 on its own.
            if kind == Kind::Text && std::str::from_utf8(&out[start..]).is_err() {
                return Err(DecodeError::new(INVALID_UTF8));
            }
        }
    }

    /// Appends the next `len` bytes of input to `out`.
    fn read(&mut self, len: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        // Checked before allocating, so a huge length header on a short input costs nothing.
        if len > self.remaining() {
            return Err(DecodeError::new(UNEXPECTED_END));
        }
        let start = out.len();
        out.resize(start + len, 0);
        // `ciborium-ll` reads a string's content through its segment API; a definite length
        // is one segment, and one buffer of exactly its length takes it in one pull.
        let mut segments = self.decoder.bytes(Some(len));
        if let Some(mut segment) = segments.pull().map_err(cbor_error)? {
            let mut filled = start;
            while filled < out.len() {
                match segment.pull(&mut out[filled..]).map_err(cbor_error)? {
                    Some(chunk) if !chunk.is_empty() => filled += chunk.len(),
                    _ => return Err(DecodeError::new(UNEXPECTED_END)),
                }
            }
        }
        Ok(())
    }

    /// Pulls the next header.
    fn header(&mut self) -> Result<Header, DecodeError> {
        let start = self.decoder.offset();
        let header = self.decoder.pull().map_err(cbor_error)?;
        // RFC 8949 §3.3: a simple value below 32 in the two-byte form is not well-formed.
        if matches!(header, Header::Simple(n) if n < 32) && self.decoder.offset() - start == 2 {
            return Err(DecodeError(format!("malformed CBOR at byte {start}")));
        }
        Ok(header)
    }

    /// The number of input bytes not yet read.
    fn remaining(&mut self) -> usize {
        self.len - self.decoder.offset()
    }
}

/// The detail for a `ciborium-ll` error. The reader's error type depends on `ciborium-io`'s
/// features (see [`push`]), hence `E`; reading from a slice fails only when it runs out.
#[expect(clippy::needless_pass_by_value, reason = "the shape `map_err` takes")]
fn cbor_error<E>(error: ciborium_ll::Error<E>) -> DecodeError {
    match error {
        ciborium_ll::Error::Io(_) => DecodeError::new(UNEXPECTED_END),
        ciborium_ll::Error::Syntax(at) => DecodeError(format!("malformed CBOR at byte {at}")),
    }
}

/// Whether a string's chunks are bytes or text.
#[derive(Clone, Copy, Eq, PartialEq)]
enum Kind {
    Bytes,
    Text,
}

/// The level of a container found inside `depth` others, if it is within [`MAX_DEPTH`].
fn enter(depth: usize) -> Result<usize, DecodeError> {
    if depth >= MAX_DEPTH {
        // Spec §4.5 check 2: nesting ≤ 128 levels. Refused here, before recursing further.
        return Err(DecodeError(format!(
            "nesting deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

/// The value of CBOR negative integer `n`, which stands for −1 − n.
fn negative(n: u64) -> Number {
    match i64::try_from(n) {
        // −1 − n ≥ −1 − i64::MAX = i64::MIN: no overflow.
        Ok(n) => Number::Int(-1 - n),
        // Below i64::MIN a document has no integer: the nearest double.
        #[expect(clippy::cast_precision_loss, reason = "documented: the nearest double")]
        Err(_) => Number::Float(-1.0 - n as f64),
    }
}

/// Appends one header as `ciborium-ll` writes it.
///
/// The encoder writes into a slice on the stack: `&mut [u8]` is the one writer that
/// `ciborium-io` supports whether or not its `std` feature is on (a build of this crate alone
/// leaves it off; a build with dev-dependencies turns it on).
fn push(out: &mut Vec<u8>, header: Header) {
    let mut buf = [0_u8; MAX_HEADER];
    let mut rest: &mut [u8] = &mut buf;
    // A header takes at most `MAX_HEADER` bytes, so writing it cannot run out of room.
    let _ = Encoder::from(&mut rest).push(header);
    let written = MAX_HEADER - rest.len();
    out.extend_from_slice(&buf[..written]);
}

/// The header of a number: an integer in its shortest form, or a float (which `ciborium-ll`
/// writes in the shortest width that keeps its bits).
fn number_header(n: Number) -> Header {
    let n = match n {
        Number::Float(f) => Number::from_f64(f),
        integer => integer,
    };
    match n {
        Number::Int(i) if i >= 0 => Header::Positive(i.unsigned_abs()),
        // CBOR stores −1 − i, which is !i: non-negative when i is negative.
        Number::Int(i) => Header::Negative((!i).unsigned_abs()),
        Number::UInt(u) => Header::Positive(u),
        Number::Float(f) => Header::Float(f),
    }
}

/// The detail for input that stops inside an item.
const UNEXPECTED_END: &str = "unexpected end of input";

/// The detail for a text string that is not UTF-8.
const INVALID_UTF8: &str = "invalid UTF-8 in text string";

/// The longest CBOR header: the initial byte and an 8-byte argument.
const MAX_HEADER: usize = 9;

/// The most array slots reserved up front; longer arrays grow as their elements arrive.
const PREALLOCATE_MAX: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8]) -> String {
        match decode(bytes) {
            Ok(value) => panic!("{bytes:02x?} decoded to {value:?}"),
            Err(DecodeError(detail)) => detail,
        }
    }

    #[test]
    fn negative_integers_map_to_int_down_to_i64_min_then_to_float() {
        assert_eq!(negative(0), Number::Int(-1));
        assert_eq!(negative(999), Number::Int(-1000));
        assert_eq!(negative(i64::MAX.unsigned_abs()), Number::Int(i64::MIN));
        assert_eq!(
            negative(i64::MAX.unsigned_abs() + 1),
            Number::Float(-9_223_372_036_854_775_809.0)
        );
        assert_eq!(
            negative(u64::MAX),
            Number::Float(-18_446_744_073_709_551_616.0)
        );
    }

    #[test]
    fn number_headers_use_integers_for_integral_values() {
        assert_eq!(number_header(Number::Int(0)), Header::Positive(0));
        assert_eq!(number_header(Number::Int(-1)), Header::Negative(0));
        assert_eq!(
            number_header(Number::Int(i64::MIN)),
            Header::Negative(i64::MAX.unsigned_abs())
        );
        assert_eq!(
            number_header(Number::UInt(u64::MAX)),
            Header::Positive(u64::MAX)
        );
        assert_eq!(number_header(Number::Float(5.0)), Header::Positive(5));
        assert_eq!(number_header(Number::Float(-2.0)), Header::Negative(1));
        assert_eq!(number_header(Number::Float(-0.0)), Header::Positive(0));
        assert_eq!(number_header(Number::Float(0.5)), Header::Float(0.5));
        assert_eq!(number_header(Number::Float(1e20)), Header::Float(1e20));
    }

    #[test]
    fn enter_allows_levels_up_to_the_maximum() {
        assert_eq!(enter(0), Ok(1));
        assert_eq!(enter(MAX_DEPTH - 1), Ok(MAX_DEPTH));
        assert_eq!(
            enter(MAX_DEPTH),
            Err(DecodeError("nesting deeper than 128 levels".to_owned()))
        );
    }

    #[test]
    fn simple_values_in_the_two_byte_form_below_32_are_malformed() {
        // RFC 8949 §3.3: 0xf8 0x14 would be `false`, but is not well-formed.
        assert_eq!(err(&[0xf8, 0x14]), "malformed CBOR at byte 0");
        assert_eq!(err(&[0x81, 0xf8, 0x1f]), "malformed CBOR at byte 1");
        assert_eq!(err(&[0xf8, 0x20]), "unsupported simple value 32");
        assert_eq!(err(&[0xf0]), "unsupported simple value 16");
    }

    #[test]
    fn reserved_additional_information_is_malformed() {
        assert_eq!(err(&[0x1c]), "malformed CBOR at byte 0");
        assert_eq!(err(&[0x82, 0x01, 0xfd]), "malformed CBOR at byte 2");
        // An indefinite length on an integer or a tag.
        assert_eq!(err(&[0x1f]), "malformed CBOR at byte 0");
        assert_eq!(err(&[0xdf, 0x01]), "malformed CBOR at byte 0");
    }

    #[test]
    fn a_stray_break_is_refused() {
        assert_eq!(err(&[0xff]), "unexpected break code");
        assert_eq!(err(&[0x81, 0xff]), "unexpected break code");
        // A break where a map's value is due.
        assert_eq!(err(&[0xbf, 0x61, 0x61, 0xff]), "unexpected break code");
    }

    #[test]
    fn chunks_must_be_definite_strings_of_the_same_type() {
        let detail = "chunk of an indefinite-length string is not a definite-length string of \
                      the same type";
        // A text chunk inside a byte string, a byte chunk inside a text string.
        assert_eq!(err(&[0x5f, 0x61, 0x61, 0xff]), detail);
        assert_eq!(err(&[0x7f, 0x41, 0x61, 0xff]), detail);
        // A nested indefinite chunk, and an integer.
        assert_eq!(err(&[0x5f, 0x5f, 0xff, 0xff]), detail);
        assert_eq!(err(&[0x7f, 0x01, 0xff]), detail);
        // Unterminated.
        assert_eq!(err(&[0x7f, 0x61, 0x61]), UNEXPECTED_END);
    }

    #[test]
    fn a_character_split_between_text_chunks_is_invalid() {
        // "ü" is c3 bc; each chunk must be valid UTF-8 on its own (RFC 8949 §3.2.3).
        assert_eq!(err(&[0x7f, 0x61, 0xc3, 0x61, 0xbc, 0xff]), INVALID_UTF8);
        assert_eq!(
            decode(&[0x7f, 0x62, 0xc3, 0xbc, 0x60, 0xff]),
            Ok(Value::from("ü"))
        );
    }

    #[test]
    fn tagged_map_keys_are_read_as_their_text() {
        // {1("a"): 1}
        let mut expected = crate::lapps::Object::new();
        expected.insert("a".to_owned(), Value::from(1));
        assert_eq!(
            decode(&[0xa1, 0xc1, 0x61, 0x61, 0x01]),
            Ok(Value::Object(expected))
        );
        // {1(2): 1}
        assert_eq!(
            err(&[0xa1, 0xc1, 0x02, 0x01]),
            "map key is not a text string"
        );
    }

    #[test]
    fn a_run_of_tags_is_followed_without_recursion() {
        let mut bytes = vec![0xc6; 200_000];
        bytes.push(0x07);
        assert_eq!(decode(&bytes), Ok(Value::from(7)));
    }

    #[test]
    fn arrays_longer_than_the_reservation_cap_decode() -> Result<(), DecodeError> {
        // 2000 one-byte elements: the announced length fits the input.
        let mut bytes = vec![0x99, 0x07, 0xd0];
        bytes.extend(std::iter::repeat_n(0x00, 2000));
        assert_eq!(decode(&bytes)?, Value::Array(vec![Value::from(0); 2000]));
        Ok(())
    }
}

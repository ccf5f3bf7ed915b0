//! CBOR (RFC 8949) to and from [`Value`], with the mapping of spec §4.8.
//!
//! The decoder reads the input slice directly, with the LAppS rules: one item and nothing after
//! it, at most [`MAX_DEPTH`] levels of arrays and maps, text map keys, valid UTF-8, and the
//! value mapping below. It replaced a decoder built on `ciborium-ll`'s pull parser, which cost
//! twice as much per message (issue 5); `tests/cbor_differential.rs` checks that both give the
//! same value or the same error detail for any input. The encoder writes heads itself too; only
//! non-integral floats go through `ciborium-ll`, which picks their shortest lossless width.
//! [`encode_head`], [`encode_text`], [`encode_bytes`] and [`encode_number`] are the pieces, for
//! callers that encode documents they hold in another form.
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

use std::borrow::Cow;

use ciborium_ll::Encoder;

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
    let mut reader = Reader::new(bytes);
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
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => encode_number(*n, out),
        Value::String(text) => encode_text(text, out),
        Value::Binary(bytes) => encode_bytes(bytes, out),
        Value::Array(items) => {
            encode_head(out, ARRAY, items.len() as u64);
            for item in items {
                encode(item, out);
            }
        }
        Value::Object(members) => {
            encode_head(out, MAP, members.len() as u64);
            for (key, member) in members {
                encode_text(key, out);
                encode(member, out);
            }
        }
    }
}

/// Encodes `value` into a new vector of exactly its encoded length.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(value));
    encode(value, &mut out);
    out
}

/// The number of bytes [`encode`] writes for `value`.
pub fn encoded_len(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::Number(n) => number_len(*n),
        Value::String(text) => head_len(text.len() as u64) + text.len(),
        Value::Binary(bytes) => head_len(bytes.len() as u64) + bytes.len(),
        Value::Array(items) => {
            head_len(items.len() as u64) + items.iter().map(encoded_len).sum::<usize>()
        }
        Value::Object(members) => {
            head_len(members.len() as u64)
                + members
                    .iter()
                    .map(|(key, member)| {
                        head_len(key.len() as u64) + key.len() + encoded_len(member)
                    })
                    .sum::<usize>()
        }
    }
}

/// Appends the head of a data item: major type `major` (the top three bits of the initial
/// byte) with argument `arg` in its shortest form (RFC 8949 §3, §4.2.1).
pub fn encode_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    if let Ok(small @ 0..24) = u8::try_from(arg) {
        out.push(major | small);
    } else if let Ok(arg) = u8::try_from(arg) {
        out.extend_from_slice(&[major | ARG_1, arg]);
    } else if let Ok(arg) = u16::try_from(arg) {
        let [a, b] = arg.to_be_bytes();
        out.extend_from_slice(&[major | ARG_2, a, b]);
    } else if let Ok(arg) = u32::try_from(arg) {
        let [a, b, c, d] = arg.to_be_bytes();
        out.extend_from_slice(&[major | ARG_4, a, b, c, d]);
    } else {
        out.push(major | ARG_8);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Appends a text string.
pub fn encode_text(text: &str, out: &mut Vec<u8>) {
    encode_head(out, TEXT, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Appends a byte string.
pub fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    encode_head(out, BYTES, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a number: an integer in its shortest form, a float with an integral value in
/// [−2^63, 2^64) as that integer, any other float in the shortest lossless width.
pub fn encode_number(n: Number, out: &mut Vec<u8>) {
    let n = match n {
        Number::Float(f) => Number::from_f64(f),
        integer => integer,
    };
    match n {
        Number::Int(i) if i >= 0 => encode_head(out, UNSIGNED, i.unsigned_abs()),
        // CBOR stores −1 − i, which is !i: non-negative when i is negative.
        Number::Int(i) => encode_head(out, NEGATIVE, (!i).unsigned_abs()),
        Number::UInt(u) => encode_head(out, UNSIGNED, u),
        Number::Float(f) => push(out, ciborium_ll::Header::Float(f)),
    }
}

/// The major types, as the top three bits of an initial byte (RFC 8949 §3.1).
pub const UNSIGNED: u8 = 0 << 5;
/// Major type 1, a negative integer.
pub const NEGATIVE: u8 = 1 << 5;
/// Major type 2, a byte string.
pub const BYTES: u8 = 2 << 5;
/// Major type 3, a text string.
pub const TEXT: u8 = 3 << 5;
/// Major type 4, an array.
pub const ARRAY: u8 = 4 << 5;
/// Major type 5, a map.
pub const MAP: u8 = 5 << 5;
/// The simple value `false`.
pub const FALSE: u8 = 0xf4;
/// The simple value `true`.
pub const TRUE: u8 = 0xf5;
/// The simple value `null`.
pub const NULL: u8 = 0xf6;

impl DecodeError {
    fn new(detail: &str) -> Self {
        Self(detail.to_owned())
    }
}

/// One decoded head: what `ciborium-ll` calls a header, with the same meaning.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Header {
    Positive(u64),
    Negative(u64),
    Float(f64),
    Simple(u8),
    Tag,
    Break,
    Bytes(Option<usize>),
    Text(Option<usize>),
    Array(Option<usize>),
    Map(Option<usize>),
}

/// The length of a map: `None` if indefinite.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MapLen(Option<usize>);

/// The decoding state: the input and the position of the next byte to read.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub(crate) const fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    /// Reads the head of a map, tags ignored: `Some` with its length, or `None` after the
    /// head of any other item.
    pub(crate) fn map_head(&mut self) -> Result<Option<MapLen>, DecodeError> {
        Ok(match self.untagged()? {
            Header::Map(len) => Some(MapLen(len)),
            _ => None,
        })
    }

    /// Whether another member follows in a map of length `len` of which `count` were read;
    /// an indefinite map's break is consumed.
    pub(crate) fn has_member(&mut self, len: MapLen, count: usize) -> bool {
        match len.0 {
            Some(len) => count < len,
            None if self.input.get(self.pos) == Some(&BREAK) => {
                self.pos += 1;
                false
            }
            None => true,
        }
    }

    /// Reads a map key: a text string, tags ignored; borrowed unless it came in chunks.
    pub(crate) fn member_name(&mut self) -> Result<Cow<'a, [u8]>, DecodeError> {
        match self.untagged()? {
            Header::Text(Some(len)) => self.take(len).map(Cow::Borrowed),
            Header::Text(None) => self.text(None).map(|key| Cow::Owned(key.into_bytes())),
            _ => Err(DecodeError::new("map key is not a text string")),
        }
    }

    /// Reads an item: its value as an integer if it is a number with an integral value
    /// within [−2^63, 2^64), `None` for any other item.
    pub(crate) fn integer(&mut self) -> Result<Option<i128>, DecodeError> {
        let number = match self.untagged()? {
            Header::Positive(n) => Number::from_u64(n),
            Header::Negative(n) => negative(n),
            Header::Float(f) => Number::Float(f),
            other => {
                self.skip_from(other, 0)?;
                return Ok(None);
            }
        };
        Ok(super::validate::number_integer(number))
    }

    /// Reads an item; whether it is an array.
    pub(crate) fn is_array(&mut self) -> Result<bool, DecodeError> {
        let header = self.untagged()?;
        self.skip_from(header, 0)?;
        Ok(matches!(header, Header::Array(_)))
    }

    /// Reads the head of an item, tags ignored; whether it is an array. The rest of the item
    /// is not read.
    pub(crate) fn head_is_array(&mut self) -> Result<bool, DecodeError> {
        Ok(matches!(self.untagged()?, Header::Array(_)))
    }

    /// Reads an item; whether it is an error object: a map with an integer `code` and a text
    /// `message` (the last of duplicate members counts).
    pub(crate) fn is_error_object(&mut self) -> Result<bool, DecodeError> {
        let header = self.untagged()?;
        let Header::Map(len) = header else {
            self.skip_from(header, 0)?;
            return Ok(false);
        };
        let (mut code, mut message) = (None, false);
        let mut count = 0;
        while self.has_member(MapLen(len), count) {
            count += 1;
            match &*self.member_name()? {
                b"code" => code = self.integer()?,
                b"message" => {
                    let header = self.untagged()?;
                    self.skip_from(header, 1)?;
                    message = matches!(header, Header::Text(_));
                }
                _ => self.skip_from_next(1)?,
            }
        }
        Ok(code.is_some() && message)
    }

    /// Reads an item and ignores it.
    pub(crate) fn skip(&mut self) -> Result<(), DecodeError> {
        self.skip_from_next(0)
    }

    /// The number of input bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// Reads an item inside `depth` arrays and maps and ignores it.
    fn skip_from_next(&mut self, depth: usize) -> Result<(), DecodeError> {
        let header = self.header()?;
        self.skip_from(header, depth)
    }

    /// Ignores the rest of the item whose first header has just been read, inside `depth`
    /// arrays and maps; nesting is limited as in [`decode`].
    fn skip_from(&mut self, mut header: Header, depth: usize) -> Result<(), DecodeError> {
        loop {
            match header {
                Header::Tag => header = self.header()?,
                Header::Bytes(Some(len)) | Header::Text(Some(len)) => {
                    self.take(len)?;
                    return Ok(());
                }
                Header::Bytes(None) => return self.string(None, Kind::Bytes).map(drop),
                Header::Text(None) => return self.string(None, Kind::Text).map(drop),
                Header::Array(len) | Header::Map(len) => {
                    let depth = enter(depth)?;
                    let per_entry = if matches!(header, Header::Map(_)) {
                        2
                    } else {
                        1
                    };
                    if let Some(len) = len {
                        for _ in 0..len.saturating_mul(per_entry) {
                            self.skip_from_next(depth)?;
                        }
                    } else {
                        loop {
                            match self.header()? {
                                Header::Break => break,
                                first => self.skip_from(first, depth)?,
                            }
                            if per_entry == 2 {
                                self.skip_from_next(depth)?;
                            }
                        }
                    }
                    return Ok(());
                }
                Header::Break => return Err(DecodeError::new("unexpected break code")),
                Header::Positive(_)
                | Header::Negative(_)
                | Header::Float(_)
                | Header::Simple(_) => {
                    return Ok(());
                }
            }
        }
    }

    /// Reads a header, following tags to the item they mark.
    fn untagged(&mut self) -> Result<Header, DecodeError> {
        loop {
            match self.header()? {
                Header::Tag => {}
                header => return Ok(header),
            }
        }
    }

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
                Header::Tag => {
                    header = self.header()?;
                    continue;
                }
                Header::Positive(n) => Value::Number(Number::from_u64(n)),
                Header::Negative(n) => Value::Number(negative(n)),
                Header::Float(f) => Value::Number(Number::Float(f)),
                Header::Simple(SIMPLE_FALSE) => Value::Bool(false),
                Header::Simple(SIMPLE_TRUE) => Value::Bool(true),
                Header::Simple(SIMPLE_NULL | SIMPLE_UNDEFINED) => Value::Null,
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
                Header::Tag => header = self.header()?,
                Header::Text(len) => return self.text(len),
                // Spec §4.5 check 2: only text-string map keys.
                _ => return Err(DecodeError::new("map key is not a text string")),
            }
        }
    }

    /// Reads a text string after its header.
    fn text(&mut self, len: Option<usize>) -> Result<String, DecodeError> {
        if let Some(len) = len {
            // The common case: one definite string, checked and copied straight from the input.
            let bytes = self.take(len)?;
            return match utf8(bytes) {
                Some(text) => Ok(text.to_owned()),
                None => Err(DecodeError::new(INVALID_UTF8)),
            };
        }
        let bytes = self.string(None, Kind::Text)?;
        // Each chunk was checked, so the whole is valid too.
        String::from_utf8(bytes).map_err(|_| DecodeError::new(INVALID_UTF8))
    }

    /// Reads the content of a byte or text string after its header: one definite-length
    /// string, or the chunks of an indefinite-length one up to its break.
    fn string(&mut self, len: Option<usize>, kind: Kind) -> Result<Vec<u8>, DecodeError> {
        if let Some(len) = len {
            return Ok(self.take(len)?.to_vec());
        }
        let mut out = Vec::new();
        loop {
            let chunk = match (self.header()?, kind) {
                (Header::Break, _) => return Ok(out),
                (Header::Bytes(Some(len)), Kind::Bytes) | (Header::Text(Some(len)), Kind::Text) => {
                    self.take(len)?
                }
                // RFC 8949 §3.2.3: chunks are definite-length strings of the same major type.
                _ => {
                    return Err(DecodeError::new(
                        "chunk of an indefinite-length string is not a definite-length string \
                         of the same type",
                    ));
                }
            };
            // RFC 8949 §3.2.3: a character may not be split between chunks, so each chunk of
            // a text string is valid UTF-8 on its own.
            if kind == Kind::Text && utf8(chunk).is_none() {
                return Err(DecodeError::new(INVALID_UTF8));
            }
            out.extend_from_slice(chunk);
        }
    }

    /// The next `len` bytes of input.
    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        // Checked before anything is allocated, so a huge length header on a short input
        // costs nothing.
        if len > self.remaining() {
            return Err(DecodeError::new(UNEXPECTED_END));
        }
        let input: &'a [u8] = self.input;
        let bytes = &input[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    /// Pulls the next header (RFC 8949 §3): the initial byte, then an argument of 0, 1, 2, 4
    /// or 8 bytes.
    fn header(&mut self) -> Result<Header, DecodeError> {
        let start = self.pos;
        let Some(&initial) = self.input.get(start) else {
            return Err(DecodeError::new(UNEXPECTED_END));
        };
        let (major, minor) = (initial >> 5, initial & 0x1f);
        let arg = match minor {
            0..=23 => {
                self.pos = start + 1;
                Some(u64::from(minor))
            }
            24..=27 => {
                let rest = &self.input[start + 1..];
                // One fixed-size read per width: the compiler then loads the bytes directly.
                let (arg, size) = match minor {
                    24 => rest.first().map(|b| (u64::from(*b), 1)),
                    25 => rest
                        .first_chunk()
                        .map(|b| (u64::from(u16::from_be_bytes(*b)), 2)),
                    26 => rest
                        .first_chunk()
                        .map(|b| (u64::from(u32::from_be_bytes(*b)), 4)),
                    _ => rest.first_chunk().map(|b| (u64::from_be_bytes(*b), 8)),
                }
                .ok_or_else(|| DecodeError::new(UNEXPECTED_END))?;
                self.pos = start + 1 + size;
                Some(arg)
            }
            // RFC 8949 §3.2: the indefinite length (31), allowed on strings, arrays and maps
            // and, on major type 7, the break code.
            31 => {
                self.pos = start + 1;
                None
            }
            // RFC 8949 §3: additional information 28–30 is reserved and not well-formed.
            _ => return Err(malformed(start)),
        };
        let len = |arg: Option<u64>| match arg {
            None => Ok(None),
            Some(n) => usize::try_from(n).map(Some).map_err(|_| malformed(start)),
        };
        Ok(match (major, arg) {
            (0, Some(n)) => Header::Positive(n),
            (1, Some(n)) => Header::Negative(n),
            (2, arg) => Header::Bytes(len(arg)?),
            (3, arg) => Header::Text(len(arg)?),
            (4, arg) => Header::Array(len(arg)?),
            (5, arg) => Header::Map(len(arg)?),
            (6, Some(_)) => Header::Tag,
            (7, None) => Header::Break,
            #[expect(clippy::cast_possible_truncation, reason = "at most 23, or one byte")]
            (7, Some(n)) => match minor {
                // RFC 8949 §3.3: a simple value below 32 in the two-byte form is not
                // well-formed.
                24 if n < 32 => return Err(malformed(start)),
                0..=24 => Header::Simple(n as u8),
                25 => Header::Float(f16_to_f64(n as u16)),
                26 => Header::Float(f64::from(f32::from_bits(n as u32))),
                _ => Header::Float(f64::from_bits(n)),
            },
            // An indefinite length on an integer or a tag.
            _ => return Err(malformed(start)),
        })
    }
}

/// Whether a string's chunks are bytes or text.
#[derive(Clone, Copy, Eq, PartialEq)]
enum Kind {
    Bytes,
    Text,
}

/// `bytes` as text, if valid UTF-8: std's check for short strings, SIMD for long ones.
fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.len() < SIMD_UTF8_MIN {
        std::str::from_utf8(bytes).ok()
    } else {
        simdutf8::basic::from_utf8(bytes).ok()
    }
}

/// The detail for a header that is not well-formed, at byte `at`.
fn malformed(at: usize) -> DecodeError {
    DecodeError(format!("malformed CBOR at byte {at}"))
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

/// The value of an IEEE 754 half-precision float, exactly; a NaN keeps its sign and payload
/// and is made quiet, as the `half` crate (which `ciborium-ll` uses) converts it.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = u64::from(bits & 0x8000) << 48;
    let exponent = (bits >> 10) & 0x1f;
    let mantissa = u64::from(bits & 0x03ff);
    match (exponent, mantissa) {
        (0, 0) => f64::from_bits(sign),
        // Subnormal: mantissa × 2^−24, exact in a double.
        (0, m) => {
            #[expect(clippy::cast_precision_loss, reason = "at most 10 bits")]
            let magnitude = m as f64 * f64::from_bits(0x3e70_0000_0000_0000);
            f64::from_bits(sign | magnitude.to_bits())
        }
        (0x1f, 0) => f64::from_bits(sign | 0x7ff0_0000_0000_0000),
        (0x1f, m) => f64::from_bits(sign | 0x7ff8_0000_0000_0000 | (m << 42)),
        // Normal: rebias the exponent from 15 to 1023 and widen the mantissa.
        (e, m) => f64::from_bits(sign | ((u64::from(e) + 1008) << 52) | (m << 42)),
    }
}

/// Appends one header as `ciborium-ll` writes it: only floats, whose shortest lossless width
/// it picks.
///
/// The encoder writes into a slice on the stack: `&mut [u8]` is the one writer that
/// `ciborium-io` supports whether or not its `std` feature is on (a build of this crate alone
/// leaves it off; a build with dev-dependencies turns it on).
fn push(out: &mut Vec<u8>, header: ciborium_ll::Header) {
    let mut buf = [0_u8; MAX_HEADER];
    let mut rest: &mut [u8] = &mut buf;
    // A header takes at most `MAX_HEADER` bytes, so writing it cannot run out of room.
    let _ = Encoder::from(&mut rest).push(header);
    let written = MAX_HEADER - rest.len();
    out.extend_from_slice(&buf[..written]);
}

/// The encoded length of a number.
fn number_len(n: Number) -> usize {
    let n = match n {
        Number::Float(f) => Number::from_f64(f),
        integer => integer,
    };
    match n {
        Number::Int(i) if i >= 0 => head_len(i.unsigned_abs()),
        Number::Int(i) => head_len((!i).unsigned_abs()),
        Number::UInt(u) => head_len(u),
        Number::Float(f) => {
            let mut out = Vec::new();
            push(&mut out, ciborium_ll::Header::Float(f));
            out.len()
        }
    }
}

/// The length of a head with argument `arg`.
fn head_len(arg: u64) -> usize {
    match arg {
        0..24 => 1,
        24..0x100 => 2,
        0x100..0x1_0000 => 3,
        0x1_0000..0x1_0000_0000 => 5,
        _ => 9,
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

/// The additional information announcing a 1-, 2-, 4- or 8-byte argument (RFC 8949 §3).
const ARG_1: u8 = 0x18;
const ARG_2: u8 = 0x19;
const ARG_4: u8 = 0x1a;
const ARG_8: u8 = 0x1b;

/// From this length on, text is checked with simdutf8, which is slower to start.
const SIMD_UTF8_MIN: usize = 64;

/// The break code that ends an indefinite-length item.
const BREAK: u8 = 0xff;

/// The simple values a document has (RFC 8949 §3.3).
const SIMPLE_FALSE: u8 = 20;
const SIMPLE_TRUE: u8 = 21;
const SIMPLE_NULL: u8 = 22;
const SIMPLE_UNDEFINED: u8 = 23;

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

    fn number(n: Number) -> Vec<u8> {
        let mut out = Vec::new();
        encode_number(n, &mut out);
        assert_eq!(out.len(), number_len(n), "{n:?}");
        out
    }

    #[test]
    fn numbers_use_integers_for_integral_values() {
        assert_eq!(number(Number::Int(0)), [0x00]);
        assert_eq!(number(Number::Int(-1)), [0x20]);
        assert_eq!(
            number(Number::Int(i64::MIN)),
            [0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            number(Number::UInt(u64::MAX)),
            [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(number(Number::Float(5.0)), [0x05]);
        assert_eq!(number(Number::Float(-2.0)), [0x21]);
        assert_eq!(number(Number::Float(-0.0)), [0x00]);
        assert_eq!(number(Number::Float(0.5)), [0xf9, 0x38, 0x00]);
        let mut big = vec![0xfb];
        big.extend_from_slice(&1e20_f64.to_be_bytes());
        assert_eq!(number(Number::Float(1e20)), big);
        assert_eq!(
            number(Number::Float(65_504.5)),
            [0xfa, 0x47, 0x7f, 0xe0, 0x80]
        );
    }

    #[test]
    fn heads_take_their_shortest_form() {
        for (arg, expected) in [
            (0, &[0x80][..]),
            (23, &[0x97]),
            (24, &[0x98, 24]),
            (255, &[0x98, 0xff]),
            (256, &[0x99, 0x01, 0x00]),
            (65_535, &[0x99, 0xff, 0xff]),
            (65_536, &[0x9a, 0x00, 0x01, 0x00, 0x00]),
            (u64::from(u32::MAX), &[0x9a, 0xff, 0xff, 0xff, 0xff]),
            (1 << 32, &[0x9b, 0, 0, 0, 1, 0, 0, 0, 0]),
        ] {
            let mut out = Vec::new();
            encode_head(&mut out, ARRAY, arg);
            assert_eq!(out, expected, "{arg}");
            assert_eq!(head_len(arg), expected.len(), "{arg}");
        }
    }

    #[test]
    fn every_half_float_decodes_as_ciborium_decodes_it() {
        for bits in 0..=u16::MAX {
            let [a, b] = bits.to_be_bytes();
            let input = [0xf9, a, b];
            let mut decoder = ciborium_ll::Decoder::from(&input[..]);
            let Ok(ciborium_ll::Header::Float(expected)) = decoder.pull() else {
                panic!("ciborium did not decode {bits:#06x}");
            };
            assert_eq!(
                f16_to_f64(bits).to_bits(),
                expected.to_bits(),
                "{bits:#06x}"
            );
        }
    }

    #[test]
    fn encoded_len_is_the_length_encode_writes() {
        let mut object = crate::lapps::Object::new();
        object.insert("key".to_owned(), Value::Binary(vec![7; 300]));
        object.insert("n".to_owned(), Value::Number(Number::Float(0.1)));
        let value = Value::Array(vec![
            Value::Null,
            Value::Bool(true),
            Value::from(-70_000),
            Value::from("text"),
            Value::Object(object),
            Value::Array(vec![Value::from(1); 30]),
        ]);
        let mut out = Vec::new();
        encode(&value, &mut out);
        assert_eq!(encoded_len(&value), out.len());
        assert_eq!(to_vec(&value), out);
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

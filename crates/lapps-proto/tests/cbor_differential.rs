//! The CBOR decoder against the one it replaced (issue 5): the same value or the same error
//! detail for any input, so the faster decoder accepts and refuses exactly what the previous,
//! `ciborium-ll`-based one did (spec §4.5 check 2).
//!
//! [`reference`] is that decoder, kept here unchanged but for its entry point. Inputs are
//! encodings of arbitrary documents, cut, spliced and with bytes changed, and byte strings
//! drawn mostly from CBOR's interesting initial bytes.

use lapps_proto::lapps::{Number, Value, cbor};
use proptest::prelude::*;

mod reference {
    use ciborium_ll::{Decoder, Header, simple};
    use lapps_proto::lapps::cbor::{DecodeError, MAX_DEPTH};
    use lapps_proto::lapps::{Number, Object, Value};

    pub(crate) fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut reader = Reader {
            decoder: Decoder::from(bytes),
            len: bytes.len(),
        };
        let value = reader.item(0)?;
        if reader.remaining() != 0 {
            return Err(new("trailing bytes after the CBOR item"));
        }
        Ok(value)
    }

    fn new(detail: &str) -> DecodeError {
        DecodeError(detail.to_owned())
    }

    struct Reader<'a> {
        decoder: Decoder<&'a [u8]>,
        len: usize,
    }

    impl Reader<'_> {
        fn item(&mut self, depth: usize) -> Result<Value, DecodeError> {
            let header = self.header()?;
            self.item_from(header, depth)
        }

        fn item_from(&mut self, mut header: Header, depth: usize) -> Result<Value, DecodeError> {
            loop {
                return Ok(match header {
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
                    Header::Break => return Err(new("unexpected break code")),
                    Header::Bytes(len) => Value::Binary(self.string(len, Kind::Bytes)?),
                    Header::Text(len) => Value::String(self.text(len)?),
                    Header::Array(len) => Value::Array(self.array(len, enter(depth)?)?),
                    Header::Map(len) => Value::Object(self.map(len, enter(depth)?)?),
                });
            }
        }

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
            if len > self.remaining() {
                return Err(new(UNEXPECTED_END));
            }
            let mut items = Vec::with_capacity(len.min(1024));
            for _ in 0..len {
                items.push(self.item(depth)?);
            }
            Ok(items)
        }

        fn map(&mut self, len: Option<usize>, depth: usize) -> Result<Object, DecodeError> {
            let mut members = Object::new();
            if let Some(len) = len {
                if len > self.remaining() / 2 {
                    return Err(new(UNEXPECTED_END));
                }
                for _ in 0..len {
                    let header = self.header()?;
                    let key = self.key(header)?;
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

        fn key(&mut self, mut header: Header) -> Result<String, DecodeError> {
            loop {
                match header {
                    Header::Tag(_) => header = self.header()?,
                    Header::Text(len) => return self.text(len),
                    _ => return Err(new("map key is not a text string")),
                }
            }
        }

        fn text(&mut self, len: Option<usize>) -> Result<String, DecodeError> {
            let bytes = self.string(len, Kind::Text)?;
            String::from_utf8(bytes).map_err(|_| new(INVALID_UTF8))
        }

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
                    (Header::Bytes(Some(len)), Kind::Bytes)
                    | (Header::Text(Some(len)), Kind::Text) => {
                        self.read(len, &mut out)?;
                    }
                    _ => {
                        return Err(new(
                            "chunk of an indefinite-length string is not a definite-length \
                             string of the same type",
                        ));
                    }
                }
                if kind == Kind::Text && std::str::from_utf8(&out[start..]).is_err() {
                    return Err(new(INVALID_UTF8));
                }
            }
        }

        fn read(&mut self, len: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
            if len > self.remaining() {
                return Err(new(UNEXPECTED_END));
            }
            let start = out.len();
            out.resize(start + len, 0);
            let mut segments = self.decoder.bytes(Some(len));
            if let Some(mut segment) = segments.pull().map_err(cbor_error)? {
                let mut filled = start;
                while filled < out.len() {
                    match segment.pull(&mut out[filled..]).map_err(cbor_error)? {
                        Some(chunk) if !chunk.is_empty() => filled += chunk.len(),
                        _ => return Err(new(UNEXPECTED_END)),
                    }
                }
            }
            Ok(())
        }

        fn header(&mut self) -> Result<Header, DecodeError> {
            let start = self.decoder.offset();
            let header = self.decoder.pull().map_err(cbor_error)?;
            if matches!(header, Header::Simple(n) if n < 32) && self.decoder.offset() - start == 2 {
                return Err(DecodeError(format!("malformed CBOR at byte {start}")));
            }
            Ok(header)
        }

        fn remaining(&mut self) -> usize {
            self.len - self.decoder.offset()
        }
    }

    #[expect(clippy::needless_pass_by_value, reason = "the shape `map_err` takes")]
    fn cbor_error<E>(error: ciborium_ll::Error<E>) -> DecodeError {
        match error {
            ciborium_ll::Error::Io(_) => new(UNEXPECTED_END),
            ciborium_ll::Error::Syntax(at) => DecodeError(format!("malformed CBOR at byte {at}")),
        }
    }

    #[derive(Clone, Copy, Eq, PartialEq)]
    enum Kind {
        Bytes,
        Text,
    }

    fn enter(depth: usize) -> Result<usize, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError(format!(
                "nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(depth + 1)
    }

    fn negative(n: u64) -> Number {
        match i64::try_from(n) {
            Ok(n) => Number::Int(-1 - n),
            #[expect(clippy::cast_precision_loss, reason = "the nearest double")]
            Err(_) => Number::Float(-1.0 - n as f64),
        }
    }

    const UNEXPECTED_END: &str = "unexpected end of input";
    const INVALID_UTF8: &str = "invalid UTF-8 in text string";
}

/// The outcome of a decode, comparable also for NaN (which `Debug` prints as `NaN`).
fn outcome(result: &Result<Value, cbor::DecodeError>) -> String {
    format!("{result:?}")
}

fn value_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(Number::Int(n))),
        any::<f64>().prop_map(|f| Value::Number(Number::Float(f))),
        any::<String>().prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Binary),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,6}", inner, 0..6).prop_map(Value::Object),
        ]
    })
}

/// A byte, mostly one CBOR gives a meaning to: heads of every major type with each kind of
/// argument, the simple values and floats, reserved and indefinite forms, tags, UTF-8 lead
/// and continuation bytes.
fn cbor_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(vec![
            0x00, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x20, 0x38, 0x3b, 0x3f, 0x40, 0x41,
            0x58, 0x5f, 0x60, 0x61, 0x62, 0x78, 0x7f, 0x80, 0x81, 0x82, 0x98, 0x9f, 0xa0, 0xa1,
            0xa2, 0xb8, 0xbf, 0xc0, 0xc2, 0xd8, 0xdf, 0xe0, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
            0xf9, 0xfa, 0xfb, 0xfc, 0xfe, 0xff, 0x61, 0xc3, 0xbc, 0xe2, 0x82, 0xac, 0x80, 0xbf,
        ]),
        any::<u8>(),
    ]
}

/// An edit of an encoding: cut it, change a byte, insert or remove one.
#[derive(Clone, Debug)]
enum Edit {
    Truncate(usize),
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), cbor_byte()).prop_map(|(at, b)| Edit::Set(at, b)),
        (any::<usize>(), cbor_byte()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Remove),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let len = bytes.len();
    match *edit {
        Edit::Truncate(at) => bytes.truncate(at % (len + 1)),
        Edit::Set(at, b) if len > 0 => bytes[at % len] = b,
        Edit::Insert(at, b) => bytes.insert(at % (len + 1), b),
        Edit::Remove(at) if len > 0 => {
            bytes.remove(at % len);
        }
        Edit::Set(..) | Edit::Remove(_) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn edited_encodings_decode_as_before(
        value in value_strategy(),
        edits in prop::collection::vec(edit(), 0..4),
    ) {
        let mut bytes = cbor::to_vec(&value);
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        prop_assert_eq!(outcome(&cbor::decode(&bytes)), outcome(&reference::decode(&bytes)));
    }

    #[test]
    fn byte_soup_decodes_as_before(bytes in prop::collection::vec(cbor_byte(), 0..48)) {
        prop_assert_eq!(outcome(&cbor::decode(&bytes)), outcome(&reference::decode(&bytes)));
    }
}

#[test]
fn every_two_byte_input_decodes_as_before() {
    for first in 0..=u8::MAX {
        for second in 0..=u8::MAX {
            let bytes = [first, second];
            assert_eq!(
                outcome(&cbor::decode(&bytes)),
                outcome(&reference::decode(&bytes)),
                "{bytes:02x?}"
            );
            assert_eq!(
                outcome(&cbor::decode(&bytes[..1])),
                outcome(&reference::decode(&bytes[..1])),
                "{:02x?}",
                &bytes[..1]
            );
        }
    }
}

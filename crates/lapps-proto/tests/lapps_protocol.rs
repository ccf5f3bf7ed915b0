//! The LAppS protocol layer (spec §4) through the public API: CBOR byte for byte against the
//! RFC 8949 Appendix A vectors, the limits, JSON text, every inbound check with its exact
//! response, every outbound rule, and the example exchange of spec §4.9.

use std::error::Error;
use std::fmt::Write as _;

use lapps_proto::lapps::cbor::{self, DecodeError, MAX_DEPTH};
use lapps_proto::lapps::json::{self, BinaryInJson, ParseError};
use lapps_proto::lapps::validate::{self, InboundError, MsgType, OutboundError};
use lapps_proto::lapps::{Number, Object, Value};
use proptest::prelude::*;

type TestResult = Result<(), Box<dyn Error>>;

/// The bytes a hex string spells.
fn hex(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0, "odd hex {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or_else(|e| panic!("{text}: {e}")))
        .collect()
}

/// The lowercase hex of bytes.
fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn int(n: i64) -> Value {
    Value::from(n)
}

fn uint(n: u64) -> Value {
    Value::Number(Number::UInt(n))
}

fn float(f: f64) -> Value {
    Value::Number(Number::Float(f))
}

fn text(s: &str) -> Value {
    Value::from(s)
}

fn arr<const N: usize>(items: [Value; N]) -> Value {
    Value::Array(items.into())
}

fn obj<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// The error response of spec §4.3.
fn error_response(code: i64, message: &str, data: Option<&str>) -> Value {
    let mut error = Object::new();
    error.insert("code".to_owned(), int(code));
    error.insert("message".to_owned(), text(message));
    if let Some(data) = data {
        error.insert("data".to_owned(), text(data));
    }
    obj([
        ("cid", int(0)),
        ("status", int(0)),
        ("error", Value::Object(error)),
    ])
}

fn decode_error(bytes: &[u8]) -> String {
    match cbor::decode(bytes) {
        Ok(value) => panic!("{} decoded to {value:?}", to_hex(bytes)),
        Err(DecodeError(detail)) => detail,
    }
}

/// 1 to 25, the array of RFC 8949 Appendix A.
fn one_to_25() -> Value {
    Value::Array((1..=25).map(int).collect())
}

/// Values whose CBOR encoding is exactly the bytes given, both ways (RFC 8949 Appendix A).
fn canonical_vectors() -> Vec<(&'static str, Value)> {
    vec![
        ("00", int(0)),
        ("01", int(1)),
        ("0a", int(10)),
        ("17", int(23)),
        ("1818", int(24)),
        ("1819", int(25)),
        ("1864", int(100)),
        ("1903e8", int(1000)),
        ("1a000f4240", int(1_000_000)),
        ("1b000000e8d4a51000", int(1_000_000_000_000)),
        ("1b7fffffffffffffff", int(i64::MAX)),
        ("1b8000000000000000", uint(1 << 63)),
        ("1bffffffffffffffff", uint(u64::MAX)),
        ("20", int(-1)),
        ("29", int(-10)),
        ("3863", int(-100)),
        ("3903e7", int(-1000)),
        ("3b7fffffffffffffff", int(i64::MIN)),
        ("fb3ff199999999999a", float(1.1)),
        ("f93e00", float(1.5)),
        ("fbc010666666666666", float(-4.1)),
        ("f90001", float(5.960_464_477_539_063e-8)),
        ("f90400", float(0.000_061_035_156_25)),
        ("fa7f7fffff", float(3.402_823_466_385_288_6e38)),
        ("fb7e37e43c8800759c", float(1.0e300)),
        ("f97c00", float(f64::INFINITY)),
        ("f9fc00", float(f64::NEG_INFINITY)),
        ("f4", Value::Bool(false)),
        ("f5", Value::Bool(true)),
        ("f6", Value::Null),
        ("40", Value::Binary(vec![])),
        ("4401020304", Value::Binary(vec![1, 2, 3, 4])),
        ("60", text("")),
        ("6161", text("a")),
        ("6449455446", text("IETF")),
        ("62225c", text("\"\\")),
        ("62c3bc", text("\u{fc}")),
        ("63e6b0b4", text("\u{6c34}")),
        ("64f0908591", text("\u{10151}")),
        ("80", arr([])),
        ("83010203", arr([int(1), int(2), int(3)])),
        (
            "8301820203820405",
            arr([int(1), arr([int(2), int(3)]), arr([int(4), int(5)])]),
        ),
        (
            "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
            one_to_25(),
        ),
        ("a0", obj([])),
        (
            "a26161016162820203",
            obj([("a", int(1)), ("b", arr([int(2), int(3)]))]),
        ),
        (
            "826161a161626163",
            arr([text("a"), obj([("b", text("c"))])]),
        ),
        (
            "a56161614161626142616361436164614461656145",
            obj([
                ("a", text("A")),
                ("b", text("B")),
                ("c", text("C")),
                ("d", text("D")),
                ("e", text("E")),
            ]),
        ),
    ]
}

#[test]
fn rfc_8949_vectors_encode_and_decode_byte_for_byte() {
    for (bytes, value) in canonical_vectors() {
        assert_eq!(to_hex(&cbor::to_vec(&value)), bytes, "encoding {value:?}");
        assert_eq!(cbor::decode(&hex(bytes)), Ok(value), "decoding {bytes}");
    }
}

#[test]
fn encode_appends_to_the_buffer() {
    let mut out = vec![0xaa];
    cbor::encode(&arr([int(1), text("a")]), &mut out);
    assert_eq!(out, hex("aa82016161"));
}

/// Input that decodes to a value whose encoding is another, shorter or definite, form.
#[test]
fn other_forms_decode_to_the_same_values_and_reencode_canonically() {
    let cases = [
        // Floats: kept as floats on input, integral ones written back as integers.
        ("f90000", float(0.0), "00"),
        ("f98000", float(-0.0), "00"),
        ("f93c00", float(1.0), "01"),
        ("f97bff", float(65504.0), "19ffe0"),
        ("fa47c35000", float(100_000.0), "1a000186a0"),
        ("f9c400", float(-4.0), "23"),
        ("fa7f800000", float(f64::INFINITY), "f97c00"),
        ("fb7ff0000000000000", float(f64::INFINITY), "f97c00"),
        ("fbfff0000000000000", float(f64::NEG_INFINITY), "f9fc00"),
        // Below −2^63 a negative integer becomes the nearest float.
        (
            "3bffffffffffffffff",
            float(-18_446_744_073_709_551_616.0),
            "fadf800000",
        ),
        // −2^63 − 1 rounds to −2^63, which is written back as i64::MIN.
        (
            "3b8000000000000000",
            float(-9_223_372_036_854_775_808.0),
            "3b7fffffffffffffff",
        ),
        // Integers in longer forms than needed.
        ("1800", int(0), "00"),
        ("1b0000000000000001", int(1), "01"),
        // undefined is null.
        ("f7", Value::Null, "f6"),
        // Tags are ignored: bignums give their byte string.
        (
            "c249010000000000000000",
            Value::Binary(hex("010000000000000000")),
            "49010000000000000000",
        ),
        (
            "c349010000000000000000",
            Value::Binary(hex("010000000000000000")),
            "49010000000000000000",
        ),
        (
            "c074323031332d30332d32315432303a30343a30305a",
            text("2013-03-21T20:04:00Z"),
            "74323031332d30332d32315432303a30343a30305a",
        ),
        ("c11a514b67b0", int(1_363_896_240), "1a514b67b0"),
        (
            "c1fb41d452d9ec200000",
            float(1_363_896_240.5),
            "fb41d452d9ec200000",
        ),
        (
            "d74401020304",
            Value::Binary(vec![1, 2, 3, 4]),
            "4401020304",
        ),
        (
            "d818456449455446",
            Value::Binary(b"dIETF".to_vec()),
            "456449455446",
        ),
        (
            "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
            text("http://www.example.com"),
            "76687474703a2f2f7777772e6578616d706c652e636f6d",
        ),
    ];
    check_reencoding(&cases);
}

#[test]
fn indefinite_lengths_decode_and_reencode_definite() {
    let cases = [
        // RFC 8949 Appendix A.
        (
            "5f42010243030405ff",
            Value::Binary(vec![1, 2, 3, 4, 5]),
            "450102030405",
        ),
        ("5fff", Value::Binary(vec![]), "40"),
        (
            "7f657374726561646d696e67ff",
            text("streaming"),
            "6973747265616d696e67",
        ),
        ("7f6060ff", text(""), "60"),
        ("9fff", arr([]), "80"),
        (
            "9f018202039f0405ffff",
            arr([int(1), arr([int(2), int(3)]), arr([int(4), int(5)])]),
            "8301820203820405",
        ),
        (
            "9f01820203820405ff",
            arr([int(1), arr([int(2), int(3)]), arr([int(4), int(5)])]),
            "8301820203820405",
        ),
        (
            "83018202039f0405ff",
            arr([int(1), arr([int(2), int(3)]), arr([int(4), int(5)])]),
            "8301820203820405",
        ),
        (
            "83019f0203ff820405",
            arr([int(1), arr([int(2), int(3)]), arr([int(4), int(5)])]),
            "8301820203820405",
        ),
        (
            "9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff",
            one_to_25(),
            "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
        ),
        (
            "bf61610161629f0203ffff",
            obj([("a", int(1)), ("b", arr([int(2), int(3)]))]),
            "a26161016162820203",
        ),
        (
            "826161bf61626163ff",
            arr([text("a"), obj([("b", text("c"))])]),
            "826161a161626163",
        ),
        // Members come out in key order.
        (
            "bf6346756ef563416d7421ff",
            obj([("Fun", Value::Bool(true)), ("Amt", int(-2))]),
            "a263416d74216346756ef5",
        ),
        // A duplicate key: the last one wins.
        ("a2616101616102", obj([("a", int(2))]), "a1616102"),
    ];
    check_reencoding(&cases);
}

/// Each input decodes to its value, and the value encodes to the output.
fn check_reencoding(cases: &[(&str, Value, &str)]) {
    for (input, value, output) in cases {
        assert_eq!(
            cbor::decode(&hex(input)).as_ref(),
            Ok(value),
            "decoding {input}"
        );
        assert_eq!(to_hex(&cbor::to_vec(value)), *output, "re-encoding {input}");
    }
}

#[test]
fn nan_decodes_from_every_width_and_encodes_as_half() -> TestResult {
    for input in ["f97e00", "fa7fc00000", "fb7ff8000000000000"] {
        let Value::Number(Number::Float(f)) = cbor::decode(&hex(input))? else {
            panic!("{input} is not a float");
        };
        assert!(f.is_nan(), "{input}");
    }
    assert_eq!(to_hex(&cbor::to_vec(&float(f64::NAN))), "f97e00");
    Ok(())
}

#[test]
fn non_integral_floats_take_the_shortest_lossless_width() {
    // float16, float32, float64.
    assert_eq!(to_hex(&cbor::to_vec(&float(0.5))), "f93800");
    assert_eq!(to_hex(&cbor::to_vec(&float(0.1))), "fb3fb999999999999a");
    assert_eq!(to_hex(&cbor::to_vec(&float(0.1_f32.into()))), "fa3dcccccd");
    // Integral but beyond 2^64: a float.
    assert_eq!(to_hex(&cbor::to_vec(&float(1e20))), "fb4415af1d78b58c40");
    assert_eq!(
        to_hex(&cbor::to_vec(&float(1_180_591_620_717_411_303_424.0))),
        "fa62800000"
    );
}

#[test]
fn malformed_cbor_is_refused_with_its_detail() {
    let cases = [
        ("", "unexpected end of input"),
        ("0000", "trailing bytes after the CBOR item"),
        ("80ff", "trailing bytes after the CBOR item"),
        ("ff00", "unexpected break code"),
        ("a201020304", "map key is not a text string"),
        ("a14161616101", "map key is not a text string"),
        ("f0", "unsupported simple value 16"),
        ("f8ff", "unsupported simple value 255"),
        ("62c328", "invalid UTF-8 in text string"),
        ("61ff", "invalid UTF-8 in text string"),
        ("1a0001", "unexpected end of input"),
        ("8301", "unexpected end of input"),
        ("6449", "unexpected end of input"),
        ("9f01", "unexpected end of input"),
        ("bf6161", "unexpected end of input"),
        ("a16161", "unexpected end of input"),
        ("c1", "unexpected end of input"),
        ("1c", "malformed CBOR at byte 0"),
    ];
    for (input, detail) in cases {
        assert_eq!(decode_error(&hex(input)), detail, "{input}");
    }
}

#[test]
fn huge_length_headers_on_short_input_are_refused_before_allocating() {
    // Were any of these lengths reserved up front, the test would abort on allocation.
    let cases = [
        "5bffffffffffffffff00",
        "5b4000000000000000",
        "7b7fffffffffffffff61",
        "9bffffffffffffffff00",
        "9b0fffffffffffffff0000",
        "bbffffffffffffffff6161",
        "bb0fffffffffffffff6161",
        "5f5b4000000000000000ff",
        "7f7b40000000000000006161ff",
        "5a00ffffff00",
    ];
    for input in cases {
        assert_eq!(
            decode_error(&hex(input)),
            "unexpected end of input",
            "{input}"
        );
    }
}

/// `depth` nested containers: arrays (`0x81 … 0x80`) or maps (`{"a": … {}}`).
fn nested(depth: usize, map: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..depth.saturating_sub(1) {
        if map {
            bytes.extend_from_slice(&[0xa1, 0x61, 0x61]);
        } else {
            bytes.push(0x81);
        }
    }
    bytes.push(if map { 0xa0 } else { 0x80 });
    bytes
}

#[test]
fn nesting_up_to_128_levels_is_accepted() -> TestResult {
    assert_eq!(MAX_DEPTH, 128);
    let mut arrays = arr([]);
    let mut maps = obj([]);
    for _ in 1..MAX_DEPTH {
        arrays = arr([arrays]);
        maps = obj([("a", maps)]);
    }
    assert_eq!(cbor::decode(&nested(128, false))?, arrays);
    assert_eq!(cbor::decode(&nested(128, true))?, maps);
    assert_eq!(cbor::to_vec(&arrays), nested(128, false));
    // Arrays and maps both count: 64 of each.
    let mut mixed = Vec::new();
    for _ in 0..64 {
        mixed.extend_from_slice(&[0x81, 0xa1, 0x61, 0x61]);
    }
    mixed.push(0x00);
    cbor::decode(&mixed)?;
    // Tags do not count.
    let mut tagged = Vec::new();
    for _ in 0..127 {
        tagged.extend_from_slice(&[0xc6, 0x81]);
    }
    tagged.extend_from_slice(&[0xc6, 0x80]);
    assert_eq!(cbor::decode(&tagged)?, arrays);
    Ok(())
}

#[test]
fn nesting_deeper_than_128_levels_is_refused() {
    let detail = "nesting deeper than 128 levels";
    assert_eq!(decode_error(&nested(129, false)), detail);
    assert_eq!(decode_error(&nested(129, true)), detail);
    let mut mixed = vec![0x81];
    for _ in 0..64 {
        mixed.extend_from_slice(&[0x81, 0xa1, 0x61, 0x61]);
    }
    mixed.push(0x00);
    assert_eq!(decode_error(&mixed), detail);
    // Indefinite-length containers count the same.
    assert_eq!(decode_error(&[0x9f; 129]), detail);
    assert_eq!(decode_error(&[0xbf, 0x61, 0x61].repeat(129)), detail);
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    // Recursing once per level would overflow the test thread's stack long before 100000.
    let detail = "nesting deeper than 128 levels";
    assert_eq!(decode_error(&nested(100_000, false)), detail);
    assert_eq!(decode_error(&vec![0x9f; 100_000]), detail);
    assert_eq!(decode_error(&[0xa1, 0x61, 0x61].repeat(100_000)), detail);
    // Unterminated, so the depth is what stops it, not the end of input.
    assert_eq!(decode_error(&vec![0x81; 100_000]), detail);
}

#[test]
fn deep_nesting_is_a_parse_error_response() {
    let error = validate::inbound(&nested(129, false)).err();
    assert_eq!(
        error.map(|e| e.response()),
        Some(error_response(
            -32700,
            "Parse error",
            Some("nesting deeper than 128 levels")
        ))
    );
}

/// Finite or infinite floats that stay floats through an encoding: not NaN (NaN != NaN), and
/// not integral within [−2^63, 2^64), which is written as an integer.
fn float_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        -1e6..1e6_f64,
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.1),
        Just(1e300),
    ]
    .prop_filter("a float that stays a float", |f| {
        !f.is_nan() && matches!(Number::from_f64(*f), Number::Float(_))
    })
}

fn number_strategy(floats: bool) -> BoxedStrategy<Number> {
    let integers = prop_oneof![
        any::<i64>().prop_map(Number::Int),
        ((1_u64 << 63)..=u64::MAX).prop_map(Number::UInt),
        (-30_i64..30).prop_map(Number::Int),
    ];
    if floats {
        prop_oneof![integers, float_strategy().prop_map(Number::Float)].boxed()
    } else {
        integers.boxed()
    }
}

/// Any document; `json` leaves out what JSON text cannot carry or keep exactly (binary,
/// floats).
fn value_strategy(json: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number_strategy(!json).prop_map(Value::Number),
        any::<String>().prop_map(Value::String),
        "[\\x00-\\x7f]{0,12}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(move |bytes| {
            if json {
                Value::Null
            } else {
                Value::Binary(bytes)
            }
        }),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8).prop_map(Value::Object),
        ]
    })
}

proptest! {
    #[test]
    fn cbor_round_trips_any_document(value in value_strategy(false)) {
        let bytes = cbor::to_vec(&value);
        prop_assert_eq!(cbor::decode(&bytes), Ok(value));
        // The encoding is canonical: encoding again gives the same bytes.
        prop_assert_eq!(cbor::to_vec(&cbor::decode(&bytes).unwrap()), bytes);
    }

    #[test]
    fn json_round_trips_documents_without_floats_or_binary(value in value_strategy(true)) {
        let compact = json::to_string(&value).unwrap();
        prop_assert_eq!(json::parse(&compact), Ok(value.clone()));
        for indent in [1, 2, 4] {
            let pretty = json::to_string_pretty(&value, indent).unwrap();
            prop_assert_eq!(json::parse(&pretty), Ok(value.clone()));
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(value) = cbor::decode(&bytes) {
            // Whatever decodes re-encodes into something that decodes to an equal value,
            // NaN aside.
            let again = cbor::decode(&cbor::to_vec(&value));
            prop_assert!(again.is_ok());
        }
    }
}

// --- Inbound validation (spec §4.4, §4.5) ---

fn inbound(message: &Value) -> Result<(MsgType, Value), InboundError> {
    validate::inbound(&cbor::to_vec(message))
}

/// The error response an inbound message gets, or `None` if it is valid.
fn inbound_response(message: &Value) -> Option<Value> {
    inbound(message).err().map(|error| error.response())
}

fn invalid_request(detail: &str) -> Value {
    error_response(-32600, "Invalid Request", Some(detail))
}

#[test]
fn check_2_malformed_cbor_is_a_parse_error() {
    let cases = [
        (hex("ff00"), "unexpected break code"),
        (hex("a0a0"), "trailing bytes after the CBOR item"),
        (hex("a101616101"), "map key is not a text string"),
        (hex("a1616162c328"), "invalid UTF-8 in text string"),
        (vec![], "unexpected end of input"),
    ];
    for (bytes, detail) in cases {
        let error = validate::inbound(&bytes).err();
        assert_eq!(
            error.as_ref().map(InboundError::code),
            Some(-32700),
            "{bytes:02x?}"
        );
        assert_eq!(
            error.map(|e| e.response()),
            Some(error_response(-32700, "Parse error", Some(detail)))
        );
    }
}

#[test]
fn check_3_the_item_must_be_a_map() {
    for message in [
        arr([]),
        text("x"),
        int(1),
        Value::Null,
        Value::Binary(vec![0xa0]),
    ] {
        assert_eq!(
            inbound_response(&message),
            Some(invalid_request("message must be a map")),
            "{message:?}"
        );
    }
}

#[test]
fn check_4_lapps_must_be_numeric_1() {
    assert_eq!(
        inbound_response(&obj([("method", text("m"))])),
        Some(invalid_request("missing member: lapps"))
    );
    for lapps in [
        int(2),
        int(0),
        float(1.5),
        text("1"),
        Value::Bool(true),
        Value::Null,
        arr([int(1)]),
    ] {
        assert_eq!(
            inbound_response(&obj([("lapps", lapps.clone()), ("method", text("m"))])),
            Some(invalid_request("lapps must be 1")),
            "{lapps:?}"
        );
    }
    // The float 1.0 is 1, in any width: {"lapps": 1.0, "method": "m"}.
    for one in ["f93c00", "fa3f800000", "fb3ff0000000000000"] {
        let bytes = hex(&format!("a2656c61707073{one}666d6574686f64616d"));
        assert_eq!(
            validate::inbound(&bytes),
            Ok((
                MsgType::RequestWithoutParams,
                obj([("lapps", float(1.0)), ("method", text("m"))])
            )),
            "{one}"
        );
    }
}

#[test]
fn check_5_method_must_be_a_non_empty_string() {
    assert_eq!(
        inbound_response(&obj([("lapps", int(1))])),
        Some(invalid_request("missing member: method"))
    );
    for method in [text(""), int(5), Value::Null, arr([text("m")])] {
        assert_eq!(
            inbound_response(&obj([("lapps", int(1)), ("method", method.clone())])),
            Some(invalid_request("method must be a non-empty string")),
            "{method:?}"
        );
    }
}

#[test]
fn check_6_method_must_not_contain_a_dot() {
    for method in ["a.b", ".", "login.", "_x.y"] {
        assert_eq!(
            inbound_response(&obj([("lapps", int(1)), ("method", text(method))])),
            Some(invalid_request("method must not contain '.'")),
            "{method}"
        );
    }
}

#[test]
fn check_7_params_must_be_an_array() {
    for params in [obj([]), Value::Null, int(1), text("[]")] {
        assert_eq!(
            inbound_response(&obj([
                ("lapps", int(1)),
                ("method", text("m")),
                ("params", params.clone())
            ])),
            Some(invalid_request("params must be an array")),
            "{params:?}"
        );
    }
}

#[test]
fn check_8_cid_must_be_an_integer_of_at_least_1() {
    for cid in [
        int(0),
        int(-1),
        float(0.0),
        float(1.5),
        float(f64::INFINITY),
        text("5"),
        Value::Null,
    ] {
        assert_eq!(
            inbound_response(&obj([
                ("lapps", int(1)),
                ("method", text("m")),
                ("cid", cid.clone())
            ])),
            Some(invalid_request("cid must be an integer >= 1")),
            "{cid:?}"
        );
    }
    // {"cid": 0.0, "lapps": 1, "method": "m"}: a float zero is still 0.
    assert_eq!(
        validate::inbound(&hex("a363636964f90000656c6170707301666d6574686f64616d"))
            .err()
            .map(|e| e.response()),
        Some(invalid_request("cid must be an integer >= 1"))
    );
    // {"cid": 5.0, "lapps": 1, "method": "m"}: an integral float counts.
    assert_eq!(
        validate::inbound(&hex("a363636964f94500656c6170707301666d6574686f64616d")),
        Ok((
            MsgType::NotificationWithoutParams,
            obj([
                ("cid", float(5.0)),
                ("lapps", int(1)),
                ("method", text("m"))
            ])
        ))
    );
    // Integers above i64::MAX count too.
    for cid in [int(1), uint(u64::MAX)] {
        let message = obj([
            ("lapps", int(1)),
            ("method", text("m")),
            ("cid", cid.clone()),
        ]);
        assert_eq!(
            inbound(&message),
            Ok((MsgType::NotificationWithoutParams, message)),
            "{cid:?}"
        );
    }
}

#[test]
fn check_9_reserved_methods_are_not_found_without_data() {
    let error = inbound(&obj([("lapps", int(1)), ("method", text("_stats"))])).err();
    assert_eq!(
        error,
        Some(InboundError::MethodNotFound("_stats".to_owned()))
    );
    assert_eq!(
        error.as_ref().map(ToString::to_string).as_deref(),
        Some("method not found: _stats")
    );
    assert_eq!(error.as_ref().map(InboundError::code), Some(-32601));
    assert_eq!(
        error.map(|e| e.response()),
        Some(error_response(-32601, "Method not found", None))
    );
    // Notifications too: their kind is unknown until they validate.
    assert_eq!(
        inbound_response(&obj([
            ("lapps", int(1)),
            ("method", text("_")),
            ("cid", int(3)),
            ("params", arr([int(1)]))
        ])),
        Some(error_response(-32601, "Method not found", None))
    );
}

#[test]
fn the_first_failed_check_decides() {
    // lapps (4) before method (5).
    assert_eq!(
        inbound_response(&obj([("lapps", int(2))])),
        Some(invalid_request("lapps must be 1"))
    );
    // method (5) before params (7) and cid (8).
    assert_eq!(
        inbound_response(&obj([
            ("lapps", int(1)),
            ("params", int(1)),
            ("cid", int(0))
        ])),
        Some(invalid_request("missing member: method"))
    );
    // The dot (6) before params (7).
    assert_eq!(
        inbound_response(&obj([
            ("lapps", int(1)),
            ("method", text("a.b")),
            ("params", int(1))
        ])),
        Some(invalid_request("method must not contain '.'"))
    );
    // params (7) before cid (8).
    assert_eq!(
        inbound_response(&obj([
            ("lapps", int(1)),
            ("method", text("m")),
            ("params", int(1)),
            ("cid", int(0))
        ])),
        Some(invalid_request("params must be an array"))
    );
    // params (7) and cid (8) before the reserved method (9).
    assert_eq!(
        inbound_response(&obj([
            ("lapps", int(1)),
            ("method", text("_m")),
            ("params", int(1))
        ])),
        Some(invalid_request("params must be an array"))
    );
    assert_eq!(
        inbound_response(&obj([
            ("lapps", int(1)),
            ("method", text("_m")),
            ("cid", int(0))
        ])),
        Some(invalid_request("cid must be an integer >= 1"))
    );
}

#[test]
fn valid_messages_are_classified_by_cid_and_params() {
    let cases = [
        (obj([]), MsgType::RequestWithoutParams, 3),
        (obj([("params", arr([]))]), MsgType::RequestWithoutParams, 3),
        (
            obj([("params", arr([int(1)]))]),
            MsgType::RequestWithParams,
            4,
        ),
        (
            obj([("cid", int(7))]),
            MsgType::NotificationWithoutParams,
            1,
        ),
        (
            obj([("cid", int(7)), ("params", arr([]))]),
            MsgType::NotificationWithoutParams,
            1,
        ),
        (
            obj([("cid", int(7)), ("params", arr([Value::Null]))]),
            MsgType::NotificationWithParams,
            2,
        ),
    ];
    for (extra, kind, number) in cases {
        let Value::Object(mut members) = extra else {
            unreachable!()
        };
        members.insert("lapps".to_owned(), int(1));
        members.insert("method".to_owned(), text("echo"));
        // Extra members are ignored (spec §4.3).
        members.insert("id".to_owned(), text("ignored"));
        let message = Value::Object(members);
        assert_eq!(inbound(&message), Ok((kind, message.clone())));
        assert_eq!(kind as i32, number);
    }
}

#[test]
fn inbound_errors_read_as_their_detail() {
    assert_eq!(
        InboundError::Parse(DecodeError("unexpected end of input".to_owned())).to_string(),
        "parse error: unexpected end of input"
    );
    assert_eq!(
        InboundError::Invalid("lapps must be 1".to_owned()).to_string(),
        "invalid request: lapps must be 1"
    );
    assert_eq!(
        InboundError::Invalid("lapps must be 1".to_owned()).code(),
        -32600
    );
}

#[test]
fn internal_error_carries_no_data() {
    assert_eq!(
        validate::internal_error(),
        error_response(-32603, "Internal error", None)
    );
    assert_eq!(
        to_hex(&cbor::to_vec(&validate::internal_error())),
        "a36363696400656572726f72a264636f6465397f5a676d657373616765\
         6e496e7465726e616c206572726f726673746174757300"
    );
}

// --- Outbound validation (spec §4.6, §3.9) ---

/// The detail of `validate::outbound`, checked to be that of `validate::outbound_encoded`.
fn outbound_detail(message: &Value) -> Option<String> {
    let detail = validate::outbound(message)
        .err()
        .map(|OutboundError(detail)| detail);
    let encoded = validate::outbound_encoded(&cbor::to_vec(message));
    assert_eq!(
        encoded.as_ref().err().map(|error| error.0.clone()),
        detail,
        "{message:?}"
    );
    detail
}

/// The detail of `validate::broadcast`, checked to be that of `validate::broadcast_encoded`.
fn broadcast_detail(message: &Value) -> Option<String> {
    let detail = validate::broadcast(message)
        .err()
        .map(|OutboundError(detail)| detail);
    let encoded = validate::broadcast_encoded(&cbor::to_vec(message));
    assert_eq!(encoded.err().map(|error| error.0), detail, "{message:?}");
    detail
}

#[test]
fn outbound_shape_must_be_an_object() {
    for message in [arr([]), text("x"), Value::Null, int(0)] {
        assert_eq!(
            outbound_detail(&message).as_deref(),
            Some("message must be an object")
        );
        assert_eq!(
            broadcast_detail(&message).as_deref(),
            Some("message must be an object")
        );
    }
}

#[test]
fn outbound_cid_must_be_a_non_negative_integer() {
    for cid in [
        None,
        Some(int(-1)),
        Some(float(0.5)),
        Some(text("0")),
        Some(Value::Null),
    ] {
        let mut members = Object::new();
        members.insert("status".to_owned(), int(1));
        members.insert("result".to_owned(), arr([]));
        if let Some(cid) = cid {
            members.insert("cid".to_owned(), cid);
        }
        assert_eq!(
            outbound_detail(&Value::Object(members)).as_deref(),
            Some("cid must be an integer >= 0")
        );
    }
    // An integral float is the integer.
    assert_eq!(
        outbound_detail(&obj([
            ("cid", float(0.0)),
            ("status", int(1)),
            ("result", arr([]))
        ])),
        None
    );
}

#[test]
fn outbound_cid_0_requires_status_0_or_1() {
    for status in [
        None,
        Some(int(2)),
        Some(int(-1)),
        Some(text("1")),
        Some(float(0.5)),
    ] {
        let mut members = Object::new();
        members.insert("cid".to_owned(), int(0));
        members.insert("result".to_owned(), arr([]));
        if let Some(status) = status {
            members.insert("status".to_owned(), status);
        }
        assert_eq!(
            outbound_detail(&Value::Object(members)).as_deref(),
            Some("cid 0 requires status 0 or 1")
        );
    }
}

#[test]
fn outbound_success_responses_require_a_result_array() {
    for result in [None, Some(Value::Null), Some(obj([])), Some(int(1))] {
        let mut members = Object::new();
        members.insert("cid".to_owned(), int(0));
        members.insert("status".to_owned(), int(1));
        if let Some(result) = result {
            members.insert("result".to_owned(), result);
        }
        assert_eq!(
            outbound_detail(&Value::Object(members)).as_deref(),
            Some("status 1 with cid 0 requires a result array")
        );
    }
    assert_eq!(
        outbound_detail(&obj([
            ("cid", int(0)),
            ("status", float(1.0)),
            ("result", arr([]))
        ])),
        None
    );
    assert_eq!(
        outbound_detail(&obj([
            ("cid", int(0)),
            ("status", int(1)),
            ("result", arr([int(1), obj([])])),
            ("extra", text("allowed"))
        ])),
        None
    );
}

#[test]
fn outbound_errors_belong_to_cid_0_with_a_code_and_a_message() {
    let good_error = obj([("code", int(-32602)), ("message", text("Invalid params"))]);
    assert_eq!(
        outbound_detail(&obj([
            ("cid", int(5)),
            ("status", int(0)),
            ("error", good_error.clone()),
            ("message", arr([]))
        ]))
        .as_deref(),
        Some("status 0 requires cid 0")
    );
    let detail = Some("error must be an object with an integer code and a string message");
    let bad_errors = [
        None,
        Some(arr([])),
        Some(text("oops")),
        Some(obj([("message", text("m"))])),
        Some(obj([("code", int(1))])),
        Some(obj([("code", text("1")), ("message", text("m"))])),
        Some(obj([("code", float(1.5)), ("message", text("m"))])),
        Some(obj([("code", int(1)), ("message", int(2))])),
    ];
    for error in bad_errors {
        let mut members = Object::new();
        members.insert("cid".to_owned(), int(0));
        members.insert("status".to_owned(), int(0));
        if let Some(error) = error {
            members.insert("error".to_owned(), error);
        }
        assert_eq!(outbound_detail(&Value::Object(members)).as_deref(), detail);
    }
    for error in [
        good_error,
        obj([("code", int(10)), ("message", text("authentication error"))]),
        obj([
            ("code", float(20.0)),
            ("message", text("")),
            ("data", arr([])),
        ]),
    ] {
        assert_eq!(
            outbound_detail(&obj([
                ("cid", int(0)),
                ("status", int(0)),
                ("error", error)
            ])),
            None
        );
    }
}

#[test]
fn outbound_notifications_require_a_message_array_and_status_1_if_any() {
    for message in [None, Some(obj([])), Some(Value::Null), Some(text("hi"))] {
        let mut members = Object::new();
        members.insert("cid".to_owned(), int(5));
        if let Some(message) = message {
            members.insert("message".to_owned(), message);
        }
        let members = Value::Object(members);
        assert_eq!(
            outbound_detail(&members).as_deref(),
            Some("cid >= 1 requires a message array")
        );
        assert_eq!(
            broadcast_detail(&members).as_deref(),
            Some("cid >= 1 requires a message array")
        );
    }
    for status in [int(2), text("1"), Value::Null, float(1.5)] {
        let message = obj([("cid", int(5)), ("message", arr([])), ("status", status)]);
        assert_eq!(
            outbound_detail(&message).as_deref(),
            Some("status must be 1 on cid >= 1")
        );
        assert_eq!(
            broadcast_detail(&message).as_deref(),
            Some("status must be 1 on cid >= 1")
        );
    }
    for message in [
        obj([("cid", int(5)), ("message", arr([]))]),
        obj([
            ("cid", int(1)),
            ("message", arr([text("x")])),
            ("status", int(1)),
        ]),
        obj([
            ("cid", uint(u64::MAX)),
            ("message", arr([])),
            ("status", float(1.0)),
        ]),
    ] {
        assert_eq!(outbound_detail(&message), None);
        assert_eq!(broadcast_detail(&message), None);
    }
}

#[test]
fn broadcasts_apply_only_the_notification_rule() {
    for cid in [
        None,
        Some(int(0)),
        Some(int(-1)),
        Some(float(2.5)),
        Some(text("1")),
    ] {
        let mut members = Object::new();
        members.insert("message".to_owned(), arr([]));
        if let Some(cid) = cid {
            members.insert("cid".to_owned(), cid);
        }
        assert_eq!(
            broadcast_detail(&Value::Object(members)).as_deref(),
            Some("cid must be an integer >= 1")
        );
    }
    // A CCH response is valid for ws:send, not for bcast:send.
    let response = obj([("cid", int(0)), ("status", int(1)), ("result", arr([]))]);
    assert_eq!(outbound_detail(&response), None);
    assert_eq!(
        broadcast_detail(&response).as_deref(),
        Some("cid must be an integer >= 1")
    );
    // status 0 on a channel: the notification rule, for a broadcast.
    assert_eq!(
        broadcast_detail(&obj([
            ("cid", int(3)),
            ("status", int(0)),
            ("message", arr([]))
        ]))
        .as_deref(),
        Some("status must be 1 on cid >= 1")
    );
}

#[test]
fn outbound_errors_display_their_detail() {
    assert_eq!(
        validate::outbound(&arr([]))
            .err()
            .map(|e| e.to_string())
            .as_deref(),
        Some("message must be an object")
    );
}

// --- The example exchange of spec §4.9 ---

#[test]
fn spec_example_exchange() -> TestResult {
    // 1. A login request, msg_type 4.
    let login = obj([
        ("lapps", int(1)),
        ("method", text("login")),
        (
            "params",
            arr([obj([("user", text("admin")), ("password", text("admin"))])]),
        ),
    ]);
    let login_bytes = hex(
        "a3656c6170707301666d6574686f64656c6f67696e66706172616d7381a2687061737377\
         6f72646561646d696e64757365726561646d696e",
    );
    assert_eq!(cbor::to_vec(&login), login_bytes);
    let (kind, request) = validate::inbound(&login_bytes)?;
    assert_eq!(kind, MsgType::RequestWithParams);
    assert_eq!(request, login);

    // 2. The success response.
    let response = obj([
        ("cid", int(0)),
        ("status", int(1)),
        ("result", arr([obj([("authkey", text("4f1c"))])])),
    ]);
    validate::outbound(&response)?;
    assert_eq!(
        to_hex(&cbor::to_vec(&response)),
        "a3636369640066726573756c7481a167617574686b657964346631636673746174757301"
    );

    // 3. A subscribe CN on channel 5, msg_type 2, not answered.
    let subscribe = hex(
        "a46363696405656c6170707301666d6574686f646973756273637269626566706172616d\
         7381a167617574686b65796434663163",
    );
    let (kind, notification) = validate::inbound(&subscribe)?;
    assert_eq!(kind, MsgType::NotificationWithParams);
    assert!(!kind.is_request());
    assert_eq!(notification.get("cid"), Some(&int(5)));

    // 4. OONs on channel 5.
    let oon = obj([
        ("cid", int(5)),
        (
            "message",
            arr([text("Server time: Tue Jan  5 10:00:00 2021")]),
        ),
    ]);
    validate::outbound(&oon)?;
    validate::broadcast(&oon)?;
    assert_eq!(
        to_hex(&cbor::to_vec(&oon)),
        "a26363696405676d6573736167658178255365727665722074696d653a20547565204a61\
         6e2020352031303a30303a30302032303231"
    );

    // 5. A reserved method.
    let stats = hex("a2656c6170707301666d6574686f64665f7374617473");
    let error = validate::inbound(&stats).err().ok_or("_stats validated")?;
    assert_eq!(
        error.response(),
        obj([
            ("cid", int(0)),
            ("status", int(0)),
            (
                "error",
                obj([("code", int(-32601)), ("message", text("Method not found"))])
            ),
        ])
    );
    assert_eq!(
        to_hex(&cbor::to_vec(&error.response())),
        "a36363696400656572726f72a264636f6465397f58676d657373616765704d6574686f64\
         206e6f7420666f756e646673746174757300"
    );

    // 6. Garbage: −32700 on cid 0.
    let error = validate::inbound(&[0xff, 0x00])
        .err()
        .ok_or("garbage validated")?;
    assert_eq!(
        to_hex(&cbor::to_vec(&error.response())),
        "a36363696400656572726f72a364636f6465397fbb646461746175756e65787065637465\
         6420627265616b20636f6465676d6573736167656b5061727365206572726f726673746174\
         757300"
    );
    Ok(())
}

// --- JSON text (spec §3.10) ---

#[test]
fn json_escapes_are_read_and_written() {
    assert_eq!(
        json::parse(r#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\ud83d\ude00""#),
        Ok(text("a\"b\\c/d\u{8}\u{c}\n\r\tA\u{e9}\u{1f600}"))
    );
    assert_eq!(
        json::to_string(&text("a\"b\\c/\u{8}\u{c}\n\r\t\u{0}\u{1}\u{1f}\u{7f}é😀")).as_deref(),
        Ok("\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\u{7f}é😀\"")
    );
}

#[test]
fn json_objects_come_out_in_key_byte_order() {
    let value = json::parse(r#"{"b":1,"a":2,"é":3,"B":4,"z":{"y":[],"x":{}}}"#);
    assert_eq!(
        value.as_ref().map(json::to_string),
        Ok(Ok(
            r#"{"B":4,"a":2,"b":1,"z":{"x":{},"y":[]},"é":3}"#.to_owned()
        ))
    );
}

#[test]
fn json_integers_keep_64_bits() {
    let cases = [
        ("9223372036854775807", int(i64::MAX), "9223372036854775807"),
        (
            "-9223372036854775808",
            int(i64::MIN),
            "-9223372036854775808",
        ),
        ("9223372036854775808", uint(1 << 63), "9223372036854775808"),
        (
            "18446744073709551615",
            uint(u64::MAX),
            "18446744073709551615",
        ),
        ("-0", float(-0.0), "0"),
    ];
    for (input, value, output) in cases {
        assert_eq!(json::parse(input), Ok(value.clone()), "{input}");
        assert_eq!(json::to_string(&value).as_deref(), Ok(output), "{input}");
    }
    // Beyond 64 bits: floats.
    assert_eq!(
        json::parse("18446744073709551616"),
        Ok(float(18_446_744_073_709_551_616.0))
    );
    assert_eq!(
        json::parse("-9223372036854775809"),
        Ok(float(-9_223_372_036_854_775_809.0))
    );
    assert_eq!(
        json::to_string(&float(-9_223_372_036_854_775_809.0)).as_deref(),
        Ok("-9223372036854775808")
    );
}

#[test]
fn json_floats_use_the_shortest_round_trip_form() {
    let cases = [
        ("0.1", 0.1, "0.1"),
        ("1e300", 1e300, "1e+300"),
        ("-1.5e-7", -1.5e-7, "-1.5e-7"),
        ("123456.789", 123_456.789, "123456.789"),
        ("1.0", 1.0, "1"),
        ("2.5E3", 2500.0, "2500"),
        ("1e20", 1e20, "1e+20"),
        ("5e-324", 5e-324, "5e-324"),
    ];
    for (input, f, output) in cases {
        assert_eq!(json::parse(input), Ok(float(f)), "{input}");
        assert_eq!(json::to_string(&float(f)).as_deref(), Ok(output), "{input}");
    }
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(json::to_string(&float(f)).as_deref(), Ok("null"));
        assert_eq!(
            json::to_string(&arr([float(f), int(1)])).as_deref(),
            Ok("[null,1]")
        );
    }
}

fn sample_document() -> Value {
    obj([
        ("name", text("lapps")),
        ("list", arr([int(1), float(0.5), Value::Null])),
        ("empty", obj([])),
        ("none", arr([])),
        ("nested", obj([("ok", Value::Bool(true))])),
    ])
}

#[test]
fn json_compact_output() {
    assert_eq!(
        json::to_string(&sample_document()).as_deref(),
        Ok(r#"{"empty":{},"list":[1,0.5,null],"name":"lapps","nested":{"ok":true},"none":[]}"#)
    );
    assert_eq!(
        json::to_string_pretty(&sample_document(), 0),
        json::to_string(&sample_document())
    );
}

#[test]
fn json_pretty_output_with_indent_2_and_4() {
    assert_eq!(
        json::to_string_pretty(&sample_document(), 2).as_deref(),
        Ok(concat!(
            "{\n",
            "  \"empty\": {},\n",
            "  \"list\": [\n",
            "    1,\n",
            "    0.5,\n",
            "    null\n",
            "  ],\n",
            "  \"name\": \"lapps\",\n",
            "  \"nested\": {\n",
            "    \"ok\": true\n",
            "  },\n",
            "  \"none\": []\n",
            "}",
        ))
    );
    assert_eq!(
        json::to_string_pretty(&sample_document(), 4).as_deref(),
        Ok(concat!(
            "{\n",
            "    \"empty\": {},\n",
            "    \"list\": [\n",
            "        1,\n",
            "        0.5,\n",
            "        null\n",
            "    ],\n",
            "    \"name\": \"lapps\",\n",
            "    \"nested\": {\n",
            "        \"ok\": true\n",
            "    },\n",
            "    \"none\": []\n",
            "}",
        ))
    );
    assert_eq!(json::to_string_pretty(&int(5), 4).as_deref(), Ok("5"));
}

#[test]
fn json_refuses_binary_values() {
    assert_eq!(json::to_string(&Value::Binary(vec![])), Err(BinaryInJson));
    assert_eq!(
        json::to_string_pretty(&obj([("b", Value::Binary(vec![1]))]), 2),
        Err(BinaryInJson)
    );
    assert_eq!(BinaryInJson.to_string(), "a binary value has no JSON form");
}

#[test]
fn json_parse_errors_carry_their_position() {
    let cases = [
        ("", "EOF while parsing a value", 1, 0),
        ("1 2", "trailing characters", 1, 3),
        ("[1", "EOF while parsing a list", 1, 2),
        ("{\"a\":1,}", "trailing comma", 1, 8),
        ("{\n  \"a\" 1}", "expected `:`", 2, 7),
        ("\"\\x\"", "invalid escape", 1, 3),
        ("[1e999]", "number out of range", 1, 6),
    ];
    for (input, message, line, column) in cases {
        assert_eq!(
            json::parse(input),
            Err(ParseError {
                message: message.to_owned(),
                line,
                column
            }),
            "{input:?}"
        );
    }
    assert_eq!(
        json::parse("tru").err().map(|e| e.to_string()).as_deref(),
        Some("EOF while parsing a value at line 1 column 3")
    );
}

#[test]
fn json_nesting_is_limited_to_127_levels() {
    let depth = |n: usize| "[".repeat(n) + &"]".repeat(n);
    assert!(json::parse(&depth(127)).is_ok());
    assert_eq!(
        json::parse(&depth(128)),
        Err(ParseError {
            message: "recursion limit exceeded".to_owned(),
            line: 1,
            column: 128
        })
    );
    // No stack overflow on deep input.
    assert_eq!(
        json::parse(&depth(100_000)).map_err(|e| e.message),
        Err("recursion limit exceeded".to_owned())
    );
}

#[test]
fn cbor_and_json_agree_on_documents() -> TestResult {
    let text_form = r#"{"cid":0,"result":[{"authkey":"4f1c","n":-1000,"x":1.1}],"status":1}"#;
    let value = json::parse(text_form)?;
    assert_eq!(cbor::decode(&cbor::to_vec(&value))?, value);
    assert_eq!(json::to_string(&value)?, text_form);
    Ok(())
}

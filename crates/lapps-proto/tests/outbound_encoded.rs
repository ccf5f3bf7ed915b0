//! `validate::outbound_encoded` and `validate::broadcast_encoded` against the rules on the
//! decoded document (issue 5): the same verdict, and the message's `cid`, for any message,
//! also encoded in the forms `cbor::encode` never writes (duplicate members, tags,
//! indefinite lengths, floats); and `validate::outbound_members` against
//! `outbound_encoded`.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a failed test"
)]

use lapps_proto::lapps::validate::{self, EncodedMembers, OutboundError};
use lapps_proto::lapps::{Number, Object, Value, cbor};
use proptest::prelude::*;

/// Hex to bytes.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Both verdicts on `payload`, checked equal; the encoded one with its `cid`.
fn verdicts(payload: &[u8]) -> (Result<u64, OutboundError>, Result<(), OutboundError>) {
    let decoded = cbor::decode(payload).expect("a well-formed payload");
    let outbound = validate::outbound_encoded(payload);
    assert_eq!(
        outbound.clone().map(drop),
        validate::outbound(&decoded),
        "{decoded:?}"
    );
    if let Ok(cid) = outbound {
        assert_eq!(decoded.get("cid").and_then(integer), Some(i128::from(cid)));
    }
    let broadcast = validate::broadcast_encoded(payload);
    assert_eq!(broadcast, validate::broadcast(&decoded), "{decoded:?}");
    (outbound, broadcast)
}

fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(Number::Int(i)) => Some((*i).into()),
        Value::Number(Number::UInt(u)) => Some((*u).into()),
        Value::Number(Number::Float(f)) => match Number::from_f64(*f) {
            Number::Int(i) => Some(i.into()),
            Number::UInt(u) => Some(u.into()),
            Number::Float(_) => None,
        },
        _ => None,
    }
}

#[test]
fn the_last_of_duplicate_members_counts() {
    // {cid: 5, cid: 0, status: 1, result: []}: cid 0.
    let (outbound, _) = verdicts(&hex(
        "a4 63636964 05 63636964 00 66737461747573 01 66726573756c74 80",
    ));
    assert_eq!(outbound, Ok(0));
    // {cid: 0, status: 1, result: [], result: 1}
    let (outbound, _) = verdicts(&hex(
        "a4 63636964 00 66737461747573 01 66726573756c74 80 66726573756c74 01",
    ));
    assert_eq!(
        outbound.unwrap_err().0,
        "status 1 with cid 0 requires a result array"
    );
    // An error object whose second `code` is not an integer.
    let (outbound, _) = verdicts(&hex(
        "a3 63636964 00 66737461747573 00 656572726f72 a3 64636f6465 01 676d657373616765 6178 64636f6465 6178",
    ));
    assert_eq!(
        outbound.unwrap_err().0,
        "error must be an object with an integer code and a string message"
    );
}

#[test]
fn tags_indefinite_lengths_and_floats_are_read_as_decode_reads_them() {
    // 55({_ cid: 1.0, "mess" "age": [_ 1], status: 1(1)}) with a tagged key.
    let (outbound, broadcast) = verdicts(&hex(
        "d8 37 bf 63636964 f9 3c00 7f 646d657373 63616765 ff 9f 01 ff c1 66737461747573 c1 01 ff",
    ));
    assert_eq!(outbound, Ok(1));
    assert_eq!(broadcast, Ok(()));
    // An error object in an indefinite map, with an indefinite text message.
    let (outbound, _) = verdicts(&hex(
        "a3 63636964 00 66737461747573 00 656572726f72 bf 64636f6465 fa 41200000 676d657373616765 7f 6178 ff ff",
    ));
    assert_eq!(outbound, Ok(0));
    // cid 2^64 − 1, and cid 2^64 as a float (not an integer).
    let (outbound, _) = verdicts(&hex("a2 63636964 1b ffffffffffffffff 676d657373616765 80"));
    assert_eq!(outbound, Ok(u64::MAX));
    let (outbound, _) = verdicts(&hex("a2 63636964 fa 5f800000 676d657373616765 80"));
    assert_eq!(outbound.unwrap_err().0, "cid must be an integer >= 0");
}

#[test]
fn non_maps_are_not_objects() {
    for payload in ["80", "01", "f6", "c1 a0 00"] {
        let payload = hex(payload);
        let outbound = validate::outbound_encoded(&payload);
        if let Ok(decoded) = cbor::decode(&payload) {
            assert_eq!(outbound.map(drop), validate::outbound(&decoded));
        } else {
            assert!(outbound.is_err());
        }
    }
}

#[test]
fn malformed_or_deep_payloads_are_refused_without_panicking() {
    for payload in [
        "",
        "a1",
        "a1 63636964",
        "a1 01 01",
        "a2 63636964 00 ff",
        "bf 63636964 00",
    ] {
        assert!(
            validate::outbound_encoded(&hex(payload)).is_err(),
            "{payload}"
        );
    }
    let mut deep = hex("a1 63786464");
    deep.extend(std::iter::repeat_n(0x81, 100_000));
    deep.push(0x00);
    assert_eq!(
        validate::outbound_encoded(&deep).unwrap_err().0,
        "nesting deeper than 128 levels"
    );
}

/// A value for one of the members the rules look at.
fn member_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3_i64..8).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ((1_u64 << 63)..=u64::MAX).prop_map(|u| Value::Number(Number::UInt(u))),
        prop_oneof![
            Just(0.0),
            Just(1.0),
            Just(5.0),
            Just(0.5),
            Just(-1.0),
            Just(1e20),
            Just(f64::NAN)
        ]
        .prop_map(|f| Value::Number(Number::Float(f))),
        "[a-z]{0,4}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(Value::Binary),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("code".to_owned()),
                    Just("message".to_owned()),
                    "[a-z]{1,3}"
                ],
                inner,
                0..4
            )
            .prop_map(Value::Object),
        ]
    })
}

/// A message-like object: mostly the members the rules look at.
fn message() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        Just("cid".to_owned()),
        Just("status".to_owned()),
        Just("result".to_owned()),
        Just("message".to_owned()),
        Just("error".to_owned()),
        "[a-z]{1,6}",
    ];
    prop_oneof![
        prop::collection::btree_map(name, member_value(), 0..6).prop_map(Value::Object),
        member_value(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn encoded_verdicts_are_the_verdicts_on_the_document(message in message()) {
        let _ = verdicts(&cbor::to_vec(&message));
    }

    #[test]
    fn member_verdicts_are_the_verdicts_on_the_object(message in message()) {
        if let Value::Object(object) = &message {
            let encoded = |name: &str| object.get(name).map(cbor::to_vec);
            let (cid, error, msg, result, status) = (
                encoded("cid"),
                encoded("error"),
                encoded("message"),
                encoded("result"),
                encoded("status"),
            );
            let members = EncodedMembers {
                cid: cid.as_deref(),
                error: error.as_deref(),
                message: msg.as_deref(),
                result: result.as_deref(),
                status: status.as_deref(),
            };
            prop_assert_eq!(
                validate::outbound_members(&members),
                validate::outbound_encoded(&cbor::to_vec(&message))
            );
        }
    }

    #[test]
    fn valid_shapes_pass_both_ways(cid in 0_i64..4, status in 0_i64..2, code in any::<i64>()) {
        let mut members = Object::new();
        members.insert("cid".to_owned(), Value::from(cid));
        members.insert("status".to_owned(), Value::from(status));
        members.insert("result".to_owned(), Value::Array(vec![]));
        members.insert("message".to_owned(), Value::Array(vec![]));
        let mut error = Object::new();
        error.insert("code".to_owned(), Value::from(code));
        error.insert("message".to_owned(), Value::from("m"));
        members.insert("error".to_owned(), Value::Object(error));
        let (outbound, _) = verdicts(&cbor::to_vec(&Value::Object(members)));
        prop_assert!(outbound.is_ok() || status == 0);
    }
}

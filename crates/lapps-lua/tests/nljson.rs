//! `nljson` (spec §3.10): every function, the userdata rules, references and conversions,
//! driven from Lua with exact results.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]
#![allow(clippy::float_cmp, reason = "the numbers compared are exact")]
#![allow(
    clippy::type_complexity,
    reason = "the results of a Lua chunk, as one tuple"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use lapps_lua::modules::nljson;
use lapps_lua::mqr::Queues;
use lapps_lua::{
    InstanceEnv, Kind, LuaInstance, NoConnections, Number, ServiceSpec, StopSignal, Value,
};
use mlua::{FromLuaMulti, Lua};

/// The VM of a service instance, with every library (`debug` too, which `nljson` uses to
/// keep references) and the global `nljson`.
fn vm() -> Lua {
    let spec = ServiceSpec {
        name: "test".to_owned(),
        kind: Kind::Raw,
        apps_dir: PathBuf::new(),
        others: Vec::new(),
        preload: Vec::new(),
        lua_path: None,
        lua_cpath: None,
        source: Some(Arc::from("return { onMessage = function() end }")),
    };
    let instance = LuaInstance::load(&spec, env()).unwrap();
    with_hex(instance.lua().clone())
}

/// A VM with the safe libraries only (no `debug`) and the global `nljson`.
fn plain_vm() -> Lua {
    let lua = Lua::new();
    let table = nljson::install(&lua, &Rc::new(env())).unwrap();
    lua.globals().set("nljson", table).unwrap();
    with_hex(lua)
}

fn env() -> InstanceEnv {
    InstanceEnv {
        service: Arc::from("test"),
        index: 0,
        instance_id: 1,
        stop: StopSignal::new(),
        host: Rc::new(NoConnections),
        queues: Arc::new(Queues::new()),
    }
}

/// Adds `hex`, to compare CBOR exactly.
fn with_hex(lua: Lua) -> Lua {
    // Bytes as hex pairs, to compare CBOR exactly.
    lua.load(
        r#"function hex(s)
             return (s:gsub(".", function(c) return string.format(" %02x", c:byte()) end):sub(2))
           end"#,
    )
    .exec()
    .unwrap();
    lua
}

/// Runs `code` in a fresh VM and returns its results.
fn eval<T: FromLuaMulti>(code: &str) -> T {
    eval_in(&vm(), code)
}

fn eval_in<T: FromLuaMulti>(lua: &Lua, code: &str) -> T {
    lua.load(code).eval().unwrap()
}

/// Runs `code` under `pcall` in a fresh VM and returns what it raised as
/// `"<type>: <tostring>"`, so the type of the error value is checked too.
fn raised(code: &str) -> String {
    raised_in(&vm(), code)
}

fn raised_in(lua: &Lua, code: &str) -> String {
    let chunk = format!(
        "local ok, e = pcall(function() {code} end)\n\
         if ok then return 'no error' end\n\
         return type(e) .. ': ' .. tostring(e)"
    );
    lua.load(chunk).eval().unwrap()
}

// --- decode, decode_file ------------------------------------------------------------------

#[test]
fn decode_reads_members_and_elements() {
    let (method, authkey, same, missing): (String, f64, String, Option<String>) = eval(
        r#"local d = nljson.decode('{"method":"login","params":[{"authkey":42}]}')
           return d.method, d.params[1].authkey, d["method"], d.missing"#,
    );
    assert_eq!(
        (method.as_str(), authkey, same.as_str(), missing),
        ("login", 42.0, "login", None)
    );
}

#[test]
fn decode_of_a_scalar_is_a_document() {
    let (text, kind, len, lua_type): (String, String, i64, String) = eval(
        r#"local d = nljson.decode("5")
           return tostring(d), nljson.typename(d), #d, type(d)"#,
    );
    assert_eq!(
        (text.as_str(), kind.as_str(), len, lua_type.as_str()),
        ("5", "number", 0, "userdata")
    );
    let text: String = eval(r#"return tostring(nljson.decode('"hi"'))"#);
    assert_eq!(text, r#""hi""#);
}

#[test]
fn decode_raises_with_the_position() {
    assert_eq!(
        raised(r#"nljson.decode("{\n  x")"#),
        "string: nljson.decode: key must be a string at line 2 column 3"
    );
    assert_eq!(
        raised(r#"nljson.decode("[1,")"#),
        "string: nljson.decode: EOF while parsing a value at line 1 column 3"
    );
}

#[test]
fn decode_reports_invalid_utf8_at_its_position() {
    assert_eq!(
        raised(r#"nljson.decode('[\n "\255"]')"#),
        "string: nljson.decode: invalid UTF-8 at line 2 column 3"
    );
}

#[test]
fn decode_usage() {
    for call in [
        "nljson.decode(5)",
        "nljson.decode()",
        "nljson.decode('1', '2')",
    ] {
        assert_eq!(
            raised(call),
            "string: usage: nljson.decode(json_string)",
            "{call}"
        );
    }
}

#[test]
fn decode_file_reads_a_file() {
    let path = std::env::temp_dir().join(format!("nljson-test-{}.json", std::process::id()));
    std::fs::write(&path, br#"{"list": [1, 2, 3]}"#).unwrap();
    let lua = vm();
    lua.globals().set("path", path.to_str().unwrap()).unwrap();
    let (len, third): (i64, f64) = eval_in(
        &lua,
        "local d = nljson.decode_file(path) return #d.list, d.list[3]",
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!((len, third), (3, 3.0));
}

#[test]
fn decode_file_raises_for_a_missing_file() {
    let message = raised("nljson.decode_file('/nonexistent/lapps.json')");
    assert!(
        message.starts_with("string: nljson.decode_file: /nonexistent/lapps.json: "),
        "{message}"
    );
    assert_eq!(
        raised("nljson.decode_file()"),
        "string: usage: nljson.decode_file(path)"
    );
}

// --- encode, encode_pretty ------------------------------------------------------------------

#[test]
fn encode_is_compact_json_in_key_order() {
    let text: String = eval(r#"return nljson.encode({c = "x", a = 1, b = {true, false, 1.5}})"#);
    assert_eq!(text, r#"{"a":1,"b":[true,false,1.5],"c":"x"}"#);
}

#[test]
fn encode_of_documents_references_and_scalars() {
    let (doc, reference, null, number): (String, String, String, String) = eval(
        r#"local d = nljson.decode('{"a": {"b": [1, null]}}')
           return nljson.encode(d), nljson.encode(d.a), nljson.encode(nil), nljson.encode(2)"#,
    );
    assert_eq!(
        (
            doc.as_str(),
            reference.as_str(),
            null.as_str(),
            number.as_str()
        ),
        (r#"{"a":{"b":[1,null]}}"#, r#"{"b":[1,null]}"#, "null", "2")
    );
}

#[test]
fn encode_raises_on_binary() {
    assert_eq!(
        raised(r#"nljson.encode({b = "\255"})"#),
        "string: nljson.encode: a binary value has no JSON form"
    );
    assert_eq!(
        raised(r#"local d = nljson.decode("{}") d.b = "\255" return tostring(d)"#),
        "string: nljson: a binary value has no JSON form"
    );
}

#[test]
fn encode_pretty_indents() {
    let (default, four, zero): (String, String, String) = eval(
        r"local t = {a = {1}, b = {}}
           return nljson.encode_pretty(t), nljson.encode_pretty(t, 4), nljson.encode_pretty(t, 0)",
    );
    assert_eq!(default, "{\n  \"a\": [\n    1\n  ],\n  \"b\": []\n}");
    assert_eq!(four, "{\n    \"a\": [\n        1\n    ],\n    \"b\": []\n}");
    assert_eq!(zero, r#"{"a":[1],"b":[]}"#);
}

#[test]
fn encode_pretty_usage() {
    for call in [
        "nljson.encode_pretty({}, -1)",
        "nljson.encode_pretty({}, 65)",
        "nljson.encode_pretty({}, 1.5)",
        "nljson.encode_pretty({}, '2')",
        "nljson.encode_pretty()",
    ] {
        assert_eq!(
            raised(call),
            "string: usage: nljson.encode_pretty(value [, indent]) with indent from 0 to 64",
            "{call}"
        );
    }
}

// --- to_cbor, from_cbor -------------------------------------------------------------------

#[test]
fn to_cbor_writes_integral_numbers_as_integers() {
    let (cid, mixed): (String, String) =
        eval("return hex(nljson.to_cbor({cid = 5})), hex(nljson.to_cbor({-1, 1.5}))");
    assert_eq!(cid, "a1 63 63 69 64 05");
    assert_eq!(mixed, "82 20 f9 3e 00");
}

#[test]
fn binary_round_trips_through_cbor() {
    let (bytes, kind, back, again): (String, String, String, String) = eval(
        r#"local bytes = nljson.to_cbor({b = "\255\0\1"})
           local d = nljson.from_cbor(bytes)
           return hex(bytes), nljson.typename(d.b), hex(d.b), hex(nljson.to_cbor(d))"#,
    );
    assert_eq!(bytes, "a1 61 62 43 ff 00 01");
    assert_eq!(kind, "binary");
    assert_eq!(back, "ff 00 01");
    assert_eq!(again, "a1 61 62 43 ff 00 01");
}

#[test]
fn integers_keep_64_bits_inside_a_document() {
    let (read, bytes): (f64, String) = eval(
        r#"local d = nljson.decode("[9007199254740993]")
           return d[1], hex(nljson.to_cbor(d))"#,
    );
    assert_eq!(read, 9_007_199_254_740_992.0);
    assert_eq!(bytes, "81 1b 00 20 00 00 00 00 00 01");
}

#[test]
fn from_cbor_raises_on_malformed_input() {
    for input in [r#""\1\2""#, r#""\161\1\1""#, r#""\129""#, "''"] {
        let message = raised(&format!("nljson.from_cbor({input})"));
        assert!(
            message.starts_with("string: nljson.from_cbor: "),
            "{input}: {message}"
        );
    }
    assert_eq!(
        raised("nljson.from_cbor({})"),
        "string: usage: nljson.from_cbor(bytes)"
    );
}

// --- find -----------------------------------------------------------------------------------

#[test]
fn find_reads_members_of_objects_only() {
    let (member, absent, of_array, of_scalar, of_table): (
        f64,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        String,
    ) = eval(
        r#"local d = nljson.decode('{"a": 1, "l": [1]}')
           return nljson.find(d, "a"), nljson.find(d, "b"), nljson.find(d.l, "1"),
                  nljson.find(nljson.decode("3"), "a"), nljson.find({x = "y"}, "x")"#,
    );
    assert_eq!(
        (member, absent, of_array, of_scalar, of_table.as_str()),
        (1.0, None, None, None, "y")
    );
}

#[test]
fn find_returns_references() {
    let text: String = eval(
        r#"local d = nljson.decode('{"a": {"b": 1}}')
           local r = nljson.find(d, "a")
           r.c = 2
           return tostring(d)"#,
    );
    assert_eq!(text, r#"{"a":{"b":1,"c":2}}"#);
}

#[test]
fn find_usage() {
    for call in [
        "nljson.find(nljson.decode('{}'), 1)",
        "nljson.find(nljson.decode('{}'))",
        "nljson.find()",
    ] {
        assert_eq!(
            raised(call),
            "string: usage: nljson.find(obj, key)",
            "{call}"
        );
    }
    assert_eq!(
        raised("nljson.find(print, 'a')"),
        "string: usage: nljson.find(obj, key): got a function"
    );
}

// --- foreach, traverse ----------------------------------------------------------------------

#[test]
fn foreach_visits_members_in_key_order() {
    let seen: String = eval(
        r#"local d = nljson.decode('{"b": 2, "a": {"x": 1}, "c": null}')
           local seen = {}
           nljson.foreach(d, function(k, v) seen[#seen + 1] = k .. "=" .. nljson.typename(v) end)
           return table.concat(seen, ",")"#,
    );
    assert_eq!(seen, "a=object,b=number,c=null");
}

#[test]
fn foreach_gives_arrays_1_based_indexes() {
    let seen: String = eval(
        r#"local seen = {}
           nljson.foreach(nljson.decode('[10, "x", true]'),
                          function(i, v) seen[#seen + 1] = i .. "=" .. tostring(v) end)
           nljson.foreach({5, 6}, function(i, v) seen[#seen + 1] = i .. "=" .. v end)
           nljson.foreach(nljson.decode("7"), function() seen[#seen + 1] = "scalar" end)
           nljson.foreach("s", function() seen[#seen + 1] = "scalar" end)
           return table.concat(seen, ",")"#,
    );
    assert_eq!(seen, "1=10,2=x,3=true,1=5,2=6");
}

#[test]
fn foreach_propagates_the_callback_error_unchanged() {
    let (is_table, code): (bool, i64) = eval(
        r#"local ok, e = pcall(nljson.foreach, {1}, function() error({code = 7}) end)
           return type(e) == "table", e.code"#,
    );
    assert_eq!((is_table, code), (true, 7));
    let message = raised(r#"nljson.foreach({1}, function() error("boom", 0) end)"#);
    assert_eq!(message, "string: boom");
}

#[test]
fn foreach_survives_changes_made_by_the_callback() {
    let (seen, text): (String, String) = eval(
        r#"local d = nljson.decode('{"a": 1, "b": 2, "c": 3}')
           local seen = {}
           nljson.foreach(d, function(k)
             seen[#seen + 1] = k
             if k == "a" then nljson.erase(d, "b"); d.d = 4 end
           end)
           return table.concat(seen, ","), tostring(d)"#,
    );
    assert_eq!(seen, "a,c,d");
    assert_eq!(text, r#"{"a":1,"c":3,"d":4}"#);
}

#[test]
fn foreach_usage() {
    assert_eq!(
        raised("nljson.foreach({})"),
        "string: usage: nljson.foreach(value, fn)"
    );
    assert_eq!(
        raised("nljson.foreach({}, 1)"),
        "string: usage: nljson.foreach(value, fn)"
    );
}

#[test]
fn traverse_visits_descendants_before_their_entry() {
    let seen: String = eval(
        r#"local d = nljson.decode('{"a": {"x": 1, "y": [10, [20, 30]]}, "b": 2}')
           local seen = {}
           nljson.traverse(d, function(k, v)
             local shown = type(v) == "userdata" and nljson.typename(v) or tostring(v)
             seen[#seen + 1] = k .. "=" .. shown
           end)
           return table.concat(seen, ",")"#,
    );
    assert_eq!(seen, "x=1,1=10,1=20,2=30,2=array,y=array,a=object,b=2");
}

#[test]
fn traverse_of_scalars_and_tables() {
    let seen: String = eval(
        r#"local seen = {}
           local function note(k, v) seen[#seen + 1] = k .. "=" .. tostring(v) end
           nljson.traverse(nljson.decode("null"), note)
           nljson.traverse({{7}, 8}, function(k, v)
             seen[#seen + 1] = k .. "=" .. (type(v) == "userdata" and "ref" or tostring(v))
           end)
           return table.concat(seen, ",")"#,
    );
    assert_eq!(seen, "1=7,1=ref,2=8");
    assert_eq!(
        raised("nljson.traverse({}, {})"),
        "string: usage: nljson.traverse(value, fn)"
    );
}

// --- erase, empty, typename -----------------------------------------------------------------

#[test]
fn erase_removes_members() {
    let (removed, absent, text): (bool, bool, String) = eval(
        r#"local d = nljson.decode('{"a": 1, "b": 2}')
           return nljson.erase(d, "a"), nljson.erase(d, "zz"), tostring(d)"#,
    );
    assert_eq!(
        (removed, absent, text.as_str()),
        (true, false, r#"{"b":2}"#)
    );
}

#[test]
fn erase_on_arrays_is_1_based_and_shifts() {
    let (first, text, past_end, zero, fraction, by_name, after): (
        bool,
        String,
        bool,
        bool,
        bool,
        bool,
        String,
    ) = eval(
        r#"local d = nljson.decode('[10, 20, 30]')
           local first = nljson.erase(d, 1)
           local text = tostring(d)
           return first, text, nljson.erase(d, 3), nljson.erase(d, 0), nljson.erase(d, 1.5),
                  nljson.erase(d, "1"), tostring(d)"#,
    );
    assert_eq!(
        (
            first,
            text.as_str(),
            past_end,
            zero,
            fraction,
            by_name,
            after.as_str()
        ),
        (true, "[20,30]", false, false, false, false, "[20,30]")
    );
}

#[test]
fn erase_on_a_mismatched_type_is_false() {
    let (index_on_object, name_on_scalar, on_table): (bool, bool, bool) = eval(
        r#"return nljson.erase(nljson.decode('{"1": 1}'), 1),
                  nljson.erase(nljson.decode('"a"'), "a"), nljson.erase({5}, 1)"#,
    );
    assert_eq!(
        (index_on_object, name_on_scalar, on_table),
        (false, false, true)
    );
    assert_eq!(
        raised("nljson.erase(nljson.decode('[1]'), true)"),
        "string: usage: nljson.erase(value, key_or_index)"
    );
}

#[test]
fn empty_is_true_only_for_empty_containers() {
    let results: (bool, bool, bool, bool, bool, bool, bool) = eval(
        r#"return nljson.empty(nljson.decode("{}")), nljson.empty(nljson.decode("[]")),
                  nljson.empty({}), nljson.empty(nljson.decode("[0]")),
                  nljson.empty(nljson.decode("null")), nljson.empty(""), nljson.empty({a = 1})"#,
    );
    assert_eq!(results, (true, true, true, false, false, false, false));
}

#[test]
fn typename_of_each_kind() {
    let names: String = eval(
        r#"local d = nljson.from_cbor("\166\97\97\246\97\98\161\97\120\1\97\99\130\1\2\97\100\97\115\97\101\245\97\102\65\255")
           local out = {}
           for _, k in ipairs({"a", "b", "c", "d", "e", "f"}) do
             out[#out + 1] = nljson.typename(k == "b" and d.b or k == "c" and d.c or nljson.find(d, k))
           end
           out[#out + 1] = nljson.typename(d)
           return table.concat(out, ",")"#,
    );
    assert_eq!(names, "null,object,array,string,boolean,binary,object");
    let lua_names: String = eval(
        r#"return table.concat({nljson.typename(nil), nljson.typename({}), nljson.typename({a = 1}),
                                nljson.typename("s"), nljson.typename(false), nljson.typename(1),
                                nljson.typename("\255")}, ",")"#,
    );
    assert_eq!(lua_names, "null,array,object,string,boolean,number,binary");
    assert_eq!(
        raised("nljson.typename()"),
        "string: usage: nljson.typename(value)"
    );
}

// --- userdata: reading ----------------------------------------------------------------------

#[test]
fn reading_gives_native_values_and_nil() {
    let values: (
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        bool,
        f64,
        String,
        Option<f64>,
        Option<f64>,
    ) = eval(
        r#"local d = nljson.decode('{"n": null, "t": true, "f": 1.5, "s": "x", "l": [1]}')
           return d.n, d.absent, d.l[2], d.l[0], d.t, d.f, d.s, d.l["1"], d[1]"#,
    );
    assert_eq!(
        values,
        (
            None,
            None,
            None,
            None,
            true,
            1.5,
            "x".to_owned(),
            None,
            None
        )
    );
}

#[test]
fn nested_containers_are_references() {
    let (kind, len, text): (String, i64, String) = eval(
        r#"local d = nljson.decode('{"a": {"b": [1, 2, 3]}}')
           local r = d.a.b
           return type(r), #r, tostring(d.a)"#,
    );
    assert_eq!(
        (kind.as_str(), len, text.as_str()),
        ("userdata", 3, r#"{"b":[1,2,3]}"#)
    );
}

#[test]
fn tostring_and_length() {
    let (text, object_len, array_len, scalar_len): (String, i64, i64, i64) = eval(
        r#"local d = nljson.decode(' { "b" : [ 1 , 2 ] , "a" : "é\\u0001" } ')
           return tostring(d), #d, #d.b, #nljson.decode('"abc"')"#,
    );
    assert_eq!(text, "{\"a\":\"é\\u0001\",\"b\":[1,2]}");
    assert_eq!((object_len, array_len, scalar_len), (2, 2, 0));
}

// --- userdata: writing ----------------------------------------------------------------------

#[test]
fn writing_scalars_and_nil() {
    let text: String = eval(
        r#"local d = nljson.decode("{}")
           d.b = true; d["n"] = 3; d.f = 0.25; d.s = "str"; d.z = nil; d.big = 2^63
           return tostring(d)"#,
    );
    assert_eq!(
        text,
        r#"{"b":true,"big":9223372036854775808,"f":0.25,"n":3,"s":"str","z":null}"#
    );
}

#[test]
fn writing_tables_documents_and_references_copies_them() {
    let (a, b): (String, String) = eval(
        r#"local a = nljson.decode("{}")
           local b = nljson.decode('{"x": {"y": 1}}')
           local t = {1, 2}
           a.doc = b; a.ref = b.x; a.tab = t
           b.x.y = 2; t[1] = 9; a.self = a
           return tostring(a), tostring(b)"#,
    );
    assert_eq!(
        a,
        r#"{"doc":{"x":{"y":1}},"ref":{"y":1},"self":{"doc":{"x":{"y":1}},"ref":{"y":1},"tab":[1,2]},"tab":[1,2]}"#
    );
    assert_eq!(b, r#"{"x":{"y":2}}"#);
}

#[test]
fn writing_through_a_reference_changes_the_document() {
    let text: String = eval(
        r#"local d = nljson.decode('{"a": {"l": [1]}}')
           local l = d.a.l
           l[2] = "two"; d.a.k = false
           return tostring(d)"#,
    );
    assert_eq!(text, r#"{"a":{"k":false,"l":[1,"two"]}}"#);
}

#[test]
fn writing_past_the_end_appends_or_pads() {
    let text: String = eval(
        r#"local d = nljson.decode("[1]")
           d[#d + 1] = 2; d[5] = 5; d[1] = "one"
           return tostring(d)"#,
    );
    assert_eq!(text, r#"["one",2,null,null,5]"#);
}

#[test]
fn a_null_document_becomes_an_object_or_an_array() {
    let (object, array): (String, String) = eval(
        r#"local o = nljson.decode("null"); o.a = 1
           local a = nljson.decode("null"); a[2] = "x"
           return tostring(o), tostring(a)"#,
    );
    assert_eq!(
        (object.as_str(), array.as_str()),
        (r#"{"a":1}"#, r#"[null,"x"]"#)
    );
}

#[test]
fn writing_a_key_of_the_wrong_kind_raises() {
    assert_eq!(
        raised(r#"local d = nljson.decode("[]"); d.x = 1"#),
        r#"string: nljson: cannot set member "x" of an array"#
    );
    assert_eq!(
        raised(r#"local d = nljson.decode("{}"); d[1] = 1"#),
        "string: nljson: cannot set index 1 of an object"
    );
    assert_eq!(
        raised(r#"local d = nljson.decode("5"); d.x = 1"#),
        "string: nljson: cannot set a member or index of a number"
    );
    assert_eq!(
        raised(r#"local d = nljson.decode("[]"); d[0] = 1"#),
        "string: nljson: an array index must be an integer from 1, got 0"
    );
    assert_eq!(
        raised(r#"local d = nljson.decode("[]"); d[1.5] = 1"#),
        "string: nljson: an array index must be an integer from 1, got 1.5"
    );
    assert_eq!(
        raised(r#"local d = nljson.decode("{}"); d[true] = 1"#),
        "string: nljson: a key must be a string or an integer, got a boolean"
    );
    assert_eq!(
        raised(r#"local d = nljson.decode("{}"); d.f = print"#),
        "string: nljson: a function has no JSON form"
    );
}

#[test]
fn padding_is_bounded() {
    assert_eq!(
        raised(r#"local d = nljson.decode("[]"); d[2^21] = 1"#),
        "string: nljson: index 2097152 would pad an array of 0 elements with more than 1048576 nulls"
    );
    assert_eq!(
        raised(r"nljson.encode({[2^21] = 1})"),
        "string: nljson.encode: a table with 1 integer keys up to 2097152 has more than 1048576 gaps"
    );
}

// --- references -----------------------------------------------------------------------------

#[test]
fn references_to_erased_nodes_raise() {
    for (erase, use_, context) in [
        (r#"nljson.erase(d, "a")"#, "return r.b", "nljson"),
        (
            r#"nljson.erase(d, "a")"#,
            "return tostring(inner)",
            "nljson",
        ),
        (r#"nljson.erase(d, "a")"#, "inner[1] = 2", "nljson"),
        (r#"nljson.erase(d, "a")"#, "return #r", "nljson"),
        (r"d.a = 5", "return nljson.encode(r)", "nljson.encode"),
        (
            r"d.a = {}",
            "return nljson.typename(inner)",
            "nljson.typename",
        ),
        (r"d.a = d.a", "return nljson.find(r, 'b')", "nljson.find"),
        (
            r#"nljson.erase(d, "a")"#,
            "nljson.foreach(r, print)",
            "nljson.foreach",
        ),
        (
            "",
            "nljson.traverse(d, function(k) if k == 1 then d.a = 1 end end)",
            "nljson.traverse",
        ),
        (
            r#"nljson.erase(d, "a")"#,
            "local x = {}; x.r = r; return nljson.to_cbor(x)",
            "nljson.to_cbor",
        ),
        (
            r#"nljson.erase(d, "a")"#,
            "local x = nljson.decode('{}'); x.r = r",
            "nljson",
        ),
    ] {
        let code = format!(
            r#"local d = nljson.decode('{{"a": {{"b": [1]}}}}')
               local r = d.a
               inner = r.b
               {erase}
               {use_}"#
        );
        assert_eq!(
            raised(&code),
            format!("string: {context}: the node this reference addresses was erased or replaced"),
            "{erase}; {use_}"
        );
    }
}

/// What the checks of references below run: a read and its checks, on a VM with `debug`
/// (where `__index` keeps the references it gives) and on one without.
const KEPT_REFERENCES: &str = r#"
    local d = nljson.decode('{"a": {"b": {"c": 1}}, "list": [{"n": 1}, {"n": 2}], "p": {"k": {"v": 1}}}')
    -- Read twice: the same node, whatever the reference.
    local a1, a2 = d.a, d.a
    assert(a1.b.c == 1 and a2.b.c == 1)
    a1.b.c = 2
    assert(a2.b.c == 2 and d.a.b.c == 2)
    -- Replaced: old references raise, new reads see the new node.
    local old_b = d.a.b
    d.a = {b = {c = 3}}
    assert(d.a.b.c == 3)
    assert(not pcall(function() return old_b.c end))
    assert(not pcall(function() return a1.b end))
    -- Erased from an array: later elements move down, and reads follow.
    local first = d.list[1]
    nljson.erase(d.list, 1)
    assert(d.list[1].n == 2 and d.list[2] == nil)
    assert(not pcall(function() return first.n end))
    -- Changed through another reference to the same node (from foreach).
    local p, k = d.p, d.p.k
    nljson.foreach(d, function(key, v) if key == "p" then v.k = {v = 9} end end)
    assert(p.k.v == 9 and d.p.k.v == 9)
    assert(not pcall(function() return k.v end))
    -- Erased member, then read: absent.
    nljson.erase(d, "p")
    assert(d.p == nil and not pcall(function() return p.k end))
    -- Keys of every kind.
    assert(d[1] == nil and d[true] == nil and d[0/0] == nil and d.list["1"] == nil)
    return tostring(d)
"#;

#[test]
fn references_stay_right_when_nodes_change() {
    for lua in [vm(), plain_vm()] {
        let text: String = eval_in(&lua, KEPT_REFERENCES);
        assert_eq!(text, r#"{"a":{"b":{"c":3}},"list":[{"n":2}]}"#);
    }
}

#[test]
fn decoded_documents_keep_their_depth_limit_whether_read_or_not() {
    // 128 nested arrays decode; inside a table they are 129 levels deep. The answers are the
    // same before and after reading into the document (which turns levels into nodes).
    let results: (bool, String, bool, bool, String, bool) = eval(
        r#"local deep = nljson.from_cbor(string.rep("\129", 127) .. "\128")
           local ok = pcall(nljson.to_cbor, deep)
           local _, before = pcall(nljson.to_cbor, {deep})
           local copied = pcall(function() local d = nljson.decode("{}"); d.x = deep end)
           local r = deep[1][1][1]
           local still = pcall(nljson.to_cbor, deep)
           local _, after = pcall(nljson.to_cbor, {deep})
           local copied_after = pcall(function() local d = nljson.decode("{}"); d.x = deep end)
           return ok, before, copied, still, after, copied_after"#,
    );
    let too_deep = "arrays and objects nested deeper than 128 levels";
    assert_eq!(
        results,
        (
            true,
            format!("nljson.to_cbor: {too_deep}"),
            true,
            true,
            format!("nljson.to_cbor: {too_deep}"),
            true,
        )
    );
}

#[test]
fn references_survive_shifts_in_their_array() {
    let text: String = eval(
        r#"local d = nljson.decode('[{"n": 1}, {"n": 2}]')
           local second = d[2]
           nljson.erase(d, 1)
           second.m = true
           return tostring(d)"#,
    );
    assert_eq!(text, r#"[{"m":true,"n":2}]"#);
}

#[test]
fn a_reference_keeps_its_document_alive() {
    let (collected, text, element): (bool, String, f64) = eval(
        r#"local weak = setmetatable({}, {__mode = "v"})
           local r
           do
             local d = nljson.decode('{"a": {"b": [1, 2]}}')
             weak[1] = d
             r = d.a
           end
           collectgarbage(); collectgarbage()
           return weak[1] == nil, tostring(r), r.b[2]"#,
    );
    assert_eq!(
        (collected, text.as_str(), element),
        (true, r#"{"b":[1,2]}"#, 2.0)
    );
}

#[test]
fn a_document_outlives_its_references() {
    let text: String = eval(
        r#"local d = nljson.decode('{"a": {"b": 1}}')
           do local r = d.a; r.c = 2 end
           collectgarbage(); collectgarbage()
           return tostring(d)"#,
    );
    assert_eq!(text, r#"{"a":{"b":1,"c":2}}"#);
}

#[test]
fn very_deep_documents_raise_instead_of_overflowing() {
    let (message, depth): (String, i64) = eval(
        r#"local d = nljson.decode("[]")
           local r = d
           for i = 1, 200000 do r[1] = {}; r = r[1] end
           local ok, e = pcall(tostring, d)
           local depth = 0
           r = d
           while r ~= nil and depth < 5 do r = r[1]; depth = depth + 1 end
           d = nil; r = nil
           collectgarbage(); collectgarbage()
           return e, depth"#,
    );
    assert_eq!(
        message,
        "nljson: arrays and objects nested deeper than 128 levels"
    );
    assert_eq!(depth, 5);
}

#[test]
fn nesting_is_limited_to_what_cbor_input_accepts() {
    let (deepest, from_cbor): (String, i64) = eval(
        r#"local t = {}
           for i = 1, 127 do t = {t} end
           local bytes = nljson.to_cbor(t)
           local d = nljson.from_cbor(bytes)
           local copy = nljson.decode("{}")
           copy.x = d
           return nljson.encode(d):sub(1, 3), #nljson.to_cbor(d)"#,
    );
    assert_eq!((deepest.as_str(), from_cbor), ("[[[", 128));
    assert_eq!(
        raised("local t = {} for i = 1, 128 do t = {t} end return nljson.encode(t)"),
        "string: nljson.encode: tables nested deeper than 128 levels have no JSON form"
    );
    // Assignments may build deeper documents; converting them out raises.
    for source in ["t", "nljson.from_cbor(nljson.to_cbor(t))"] {
        assert_eq!(
            raised(&format!(
                r#"local t = {{}} for i = 1, 127 do t = {{t}} end
                   local d = nljson.decode("[]")
                   d[1] = {source}
                   return tostring(d)"#
            )),
            "string: nljson: arrays and objects nested deeper than 128 levels",
            "{source}"
        );
    }
}

// --- Lua values into JSON ------------------------------------------------------------------

#[test]
fn tables_with_integer_keys_are_arrays_with_gaps_as_null() {
    let (gaps, sparse, empty): (String, String, String) = eval(
        r#"return nljson.encode({1, nil, 3}), nljson.encode({[2] = "b", [4] = "d"}),
                  nljson.encode({})"#,
    );
    assert_eq!(
        (gaps.as_str(), sparse.as_str(), empty.as_str()),
        ("[1,null,3]", r#"[null,"b",null,"d"]"#, "[]")
    );
}

#[test]
fn other_tables_are_objects_with_keys_as_tostring() {
    let (mixed, odd): (String, String) = eval(
        r#"return nljson.encode({1, 2, x = 3}),
                  nljson.encode({[1.5] = "a", [true] = "b", [-1] = "c", [0] = "d"})"#,
    );
    assert_eq!(mixed, r#"{"1":1,"2":2,"x":3}"#);
    assert_eq!(odd, r#"{"-1":"c","0":"d","1.5":"a","true":"b"}"#);
}

#[test]
fn cyclic_tables_raise_and_shared_ones_do_not() {
    assert_eq!(
        raised("local t = {}; t.self = t; nljson.encode(t)"),
        "string: nljson.encode: a cyclic table has no JSON form"
    );
    assert_eq!(
        raised("local t = {{}}; t[1][1] = t; return nljson.to_cbor(t)"),
        "string: nljson.to_cbor: a cyclic table has no JSON form"
    );
    let text: String = eval("local s = {1}; return nljson.encode({a = s, b = s})");
    assert_eq!(text, r#"{"a":[1],"b":[1]}"#);
}

#[test]
fn functions_threads_and_foreign_userdata_raise() {
    assert_eq!(
        raised("nljson.encode({f = print})"),
        "string: nljson.encode: a function has no JSON form"
    );
    assert_eq!(
        raised("nljson.encode({co = coroutine.create(print)})"),
        "string: nljson.encode: a thread has no JSON form"
    );
    assert_eq!(
        raised("nljson.encode({[print] = 1})"),
        "string: nljson.encode: a table key of type function has no JSON form"
    );
    assert_eq!(
        raised("nljson.encode(print)"),
        "string: usage: nljson.encode(value): got a function"
    );
    let lua = vm();
    let foreign = lua.create_any_userdata(17_u8).unwrap();
    lua.globals().set("foreign", foreign).unwrap();
    assert_eq!(
        raised_in(&lua, "nljson.encode({u = foreign})"),
        "string: nljson.encode: a userdata that is not an nljson value has no JSON form"
    );
    assert_eq!(
        raised_in(&lua, "nljson.encode(foreign)"),
        "string: usage: nljson.encode(value)"
    );
}

#[test]
fn error_objects_of_host_functions_become_their_message() {
    let lua = vm();
    let fails = lua
        .create_function(|_, ()| Err::<(), _>(mlua::Error::runtime("boom")))
        .unwrap();
    lua.globals().set("fails", fails).unwrap();
    let text: String = eval_in(
        &lua,
        "local ok, e = pcall(fails) return nljson.encode({error = e})",
    );
    assert_eq!(text, r#"{"error":"boom"}"#);
}

// --- the Rust API ---------------------------------------------------------------------------

#[test]
fn to_value_follows_the_number_and_string_rules() {
    let lua = vm();
    let value: mlua::Value = eval_in(
        &lua,
        r#"return {5, 1.5, 2^63, -2^63, 2^64, "é", "\255", true}"#,
    );
    let converted = nljson::to_value(&lua, &value).unwrap();
    assert_eq!(
        converted,
        Value::Array(vec![
            Value::Number(Number::Int(5)),
            Value::Number(Number::Float(1.5)),
            Value::Number(Number::UInt(1 << 63)),
            Value::Number(Number::Int(i64::MIN)),
            Value::Number(Number::Float(18_446_744_073_709_551_616.0)),
            Value::String("é".to_owned()),
            Value::Binary(vec![0xff]),
            Value::Bool(true),
        ])
    );
}

#[test]
fn to_value_copies_documents_and_reports_bare_messages() {
    let lua = vm();
    let (doc, reference, cyclic): (mlua::Value, mlua::Value, mlua::Value) = eval_in(
        &lua,
        r#"local d = nljson.decode('{"a": {"b": null}}')
           local t = {}; t[1] = t
           return d, d.a, t"#,
    );
    let object = |key: &str, value: Value| Value::Object(BTreeMap::from([(key.to_owned(), value)]));
    assert_eq!(
        nljson::to_value(&lua, &doc).unwrap(),
        object("a", object("b", Value::Null))
    );
    assert_eq!(
        nljson::to_value(&lua, &reference).unwrap(),
        object("b", Value::Null)
    );
    assert_eq!(
        nljson::to_value(&lua, &cyclic).unwrap_err().to_string(),
        "a cyclic table has no JSON form"
    );
}

#[test]
fn document_wraps_a_value_for_lua() {
    let lua = vm();
    let value = Value::Object(BTreeMap::from([
        ("method".to_owned(), Value::from("echo")),
        (
            "params".to_owned(),
            Value::Array(vec![Value::from(7), Value::Binary(vec![0, 1])]),
        ),
    ]));
    let doc = nljson::document(&lua, value).unwrap();
    assert!(nljson::is_nljson(&mlua::Value::UserData(doc.clone())));
    lua.globals().set("request", doc).unwrap();
    let (method, first, second, count): (String, f64, mlua::LuaString, i64) = eval_in(
        &lua,
        "return request.method, request.params[1], request.params[2], #request.params",
    );
    assert_eq!((method.as_str(), first, count), ("echo", 7.0, 2));
    assert_eq!(&*second.as_bytes(), b"\x00\x01");
}

#[test]
fn to_lua_gives_native_scalars_and_documents_for_containers() {
    let lua = vm();
    assert_eq!(nljson::to_lua(&lua, Value::Null).unwrap(), mlua::Value::Nil);
    assert_eq!(
        nljson::to_lua(&lua, Value::from(3)).unwrap(),
        mlua::Value::Number(3.0)
    );
    let array = nljson::to_lua(&lua, Value::Array(vec![Value::from(true)])).unwrap();
    assert!(nljson::is_nljson(&array));
    assert!(!nljson::is_nljson(&mlua::Value::Boolean(true)));
    lua.globals().set("a", array).unwrap();
    let text: String = eval_in(&lua, "return tostring(a)");
    assert_eq!(text, "[true]");
}

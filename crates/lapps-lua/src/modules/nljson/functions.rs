//! The functions of the `nljson` table (spec §3.10, "Functions").

use std::rc::Rc;

use lapps_proto::lapps::{cbor, json};
use mlua::{AnyUserData, Either, Function, Lua, MultiValue, Table};

use super::convert::{array_index, lua_to_value, lua_type_name, node_to_lua};
use super::handle::{Handle, Subject, step};
use super::tree::{Body, Tree, discard};
use super::{MAX_INDENT, Wrapper, document, fail, json_text, raising, raising_as};
use crate::Value;

/// Builds the table with every function of spec §3.10.
pub(super) fn table(lua: &Lua) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.raw_set("decode", raising(lua, "nljson.decode", decode)?)?;
    table.raw_set(
        "decode_file",
        raising(lua, "nljson.decode_file", decode_file)?,
    )?;
    table.raw_set("encode", raising(lua, "nljson.encode", encode)?)?;
    table.raw_set(
        "encode_pretty",
        raising(lua, "nljson.encode_pretty", encode_pretty)?,
    )?;
    table.raw_set("to_cbor", raising(lua, "nljson.to_cbor", to_cbor)?)?;
    table.raw_set("from_cbor", raising(lua, "nljson.from_cbor", from_cbor)?)?;
    table.raw_set("find", raising(lua, "nljson.find", find)?)?;
    table.raw_set(
        "erase",
        raising_as(lua, Wrapper::Mutating, "nljson.erase", erase)?,
    )?;
    table.raw_set("empty", raising(lua, "nljson.empty", empty)?)?;
    table.raw_set("typename", typename_function(lua)?)?;
    let (foreach, traverse) = iterators(lua)?;
    table.raw_set("foreach", foreach)?;
    table.raw_set("traverse", traverse)?;
    Ok(table)
}

/// `nljson.decode(json_string)`.
fn decode(lua: &Lua, args: MultiValue) -> mlua::Result<AnyUserData> {
    const USAGE: &str = "usage: nljson.decode(json_string)";
    let [text] = arguments(args, 1, USAGE)?;
    let mlua::Value::String(text) = text else {
        return Err(fail(USAGE));
    };
    document(lua, parse(&text.as_bytes())?)
}

/// `nljson.decode_file(path)`.
fn decode_file(lua: &Lua, args: MultiValue) -> mlua::Result<AnyUserData> {
    const USAGE: &str = "usage: nljson.decode_file(path)";
    let [path] = arguments(args, 1, USAGE)?;
    let mlua::Value::String(path) = path else {
        return Err(fail(USAGE));
    };
    let path = path.to_string_lossy();
    let value = std::fs::read(&path)
        .map_err(|error| fail(error.to_string()))
        .and_then(|bytes| parse(&bytes))
        .map_err(|error| fail(format!("{path}: {error}")))?;
    document(lua, value)
}

/// `nljson.encode(value)`.
fn encode(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    const USAGE: &str = "usage: nljson.encode(value)";
    let [value] = arguments(args, 1, USAGE)?;
    let value = value_of(lua, &value, USAGE)?;
    json_text(&value, None)
}

/// `nljson.encode_pretty(value [, indent])`.
fn encode_pretty(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    const USAGE: &str = "usage: nljson.encode_pretty(value [, indent]) with indent from 0 to 64";
    let [value, indent] = arguments(args, 1, USAGE)?;
    let indent = match indent {
        mlua::Value::Nil => Some(2),
        mlua::Value::Integer(n) => usize::try_from(n).ok(),
        mlua::Value::Number(f) => small_whole_number(f),
        _ => None,
    }
    .filter(|indent| *indent <= MAX_INDENT)
    .ok_or_else(|| fail(USAGE))?;
    let value = value_of(lua, &value, USAGE)?;
    json_text(&value, Some(indent))
}

/// `nljson.to_cbor(value)`.
fn to_cbor(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::LuaString> {
    const USAGE: &str = "usage: nljson.to_cbor(value)";
    let [value] = arguments(args, 1, USAGE)?;
    let value = value_of(lua, &value, USAGE)?;
    lua.create_string(cbor::to_vec(&value))
}

/// `nljson.from_cbor(bytes)`.
fn from_cbor(lua: &Lua, args: MultiValue) -> mlua::Result<AnyUserData> {
    const USAGE: &str = "usage: nljson.from_cbor(bytes)";
    let [bytes] = arguments(args, 1, USAGE)?;
    let mlua::Value::String(bytes) = bytes else {
        return Err(fail(USAGE));
    };
    let value = cbor::decode(&bytes.as_bytes()).map_err(|error| fail(error.to_string()))?;
    document(lua, value)
}

/// `nljson.find(obj, key)`: the member, or `nil` if absent or `obj` is not an object.
fn find(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::Value> {
    const USAGE: &str = "usage: nljson.find(obj, key)";
    let [obj, key] = arguments(args, 2, USAGE)?;
    let mlua::Value::String(key) = key else {
        return Err(fail(USAGE));
    };
    let tree = subject(lua, &obj, USAGE)?;
    let body = tree.borrow()?;
    let member = match (&*body, key.to_str()) {
        (Body::Object(members), Ok(key)) => members.get(&*key),
        _ => None,
    };
    member.map_or(Ok(mlua::Value::Nil), |member| node_to_lua(lua, member))
}

/// `nljson.erase(value, key_or_index)`: removes a member or a 1-based element.
fn erase(lua: &Lua, args: MultiValue) -> mlua::Result<bool> {
    const USAGE: &str = "usage: nljson.erase(value, key_or_index)";
    let [value, key] = arguments(args, 2, USAGE)?;
    let tree = subject(lua, &value, USAGE)?;
    let removed = match &key {
        mlua::Value::String(name) => match name.to_str() {
            Ok(name) => tree.remove_member(&name)?,
            Err(_) => None,
        },
        mlua::Value::Integer(_) | mlua::Value::Number(_) => match array_index(&key) {
            Some(index) => tree.remove_element(index)?,
            None => None,
        },
        _ => return Err(fail(USAGE)),
    };
    Ok(removed.map(discard).is_some())
}

/// `nljson.empty(value)`: true only for an empty array or object.
fn empty(lua: &Lua, args: MultiValue) -> mlua::Result<bool> {
    const USAGE: &str = "usage: nljson.empty(value)";
    let [value] = arguments(args, 1, USAGE)?;
    let tree = subject(lua, &value, USAGE)?;
    Ok(match &*tree.borrow()? {
        Body::Scalar(_) => false,
        Body::Array(items) => items.is_empty(),
        Body::Object(members) => members.is_empty(),
    })
}

/// `nljson.typename(value)`.
fn typename(lua: &Lua, args: MultiValue) -> mlua::Result<&'static str> {
    const USAGE: &str = "usage: nljson.typename(value)";
    let [value] = arguments(args, 1, USAGE)?;
    Ok(subject(lua, &value, USAGE)?.type_name())
}

/// `nljson.typename`, whose argument is most often a document or reference: a Lua wrapper
/// passes a lone userdata to a function that borrows it from the stack as a [`Subject`]
/// (cheap for a handle, dear for a value of another type), anything else to [`typename`].
fn typename_function(lua: &Lua) -> mlua::Result<Function> {
    let any = raising(lua, "nljson.typename", typename)?;
    let userdata = raising(lua, "nljson.typename", |lua, value: Subject| {
        const USAGE: &str = "usage: nljson.typename(value)";
        match value {
            Either::Left(handle) => Ok(handle.live()?.type_name()),
            Either::Right(value) => Ok(subject(lua, &value, USAGE)?.type_name()),
        }
    })?;
    lua.load(TYPENAME).set_name("=nljson").call((any, userdata))
}

/// `nljson.foreach` and `nljson.traverse`, written in Lua over [`step`]: an error raised by
/// the callback then propagates unchanged (a table stays a table), and no Rust frame or
/// borrow is live while the callback runs.
fn iterators(lua: &Lua) -> mlua::Result<(Function, Function)> {
    let step = lua.create_function(step)?;
    let foreach = raising(lua, "nljson.foreach", |lua, args| {
        prepare(lua, args, "usage: nljson.foreach(value, fn)")
    })?;
    let traverse = raising(lua, "nljson.traverse", |lua, args| {
        prepare(lua, args, "usage: nljson.traverse(value, fn)")
    })?;
    lua.load(ITERATORS)
        .set_name("=nljson")
        .call((step, foreach, traverse))
}

/// Checks the arguments of `foreach` or `traverse`; returns the container to walk, or `nil`
/// for a scalar.
fn prepare(lua: &Lua, args: MultiValue, usage: &str) -> mlua::Result<Option<AnyUserData>> {
    let [value, callback] = arguments(args, 2, usage)?;
    if !matches!(callback, mlua::Value::Function(_)) {
        return Err(fail(usage));
    }
    let tree = subject(lua, &value, usage)?;
    let scalar = matches!(&*tree.borrow()?, Body::Scalar(_));
    if scalar {
        Ok(None)
    } else {
        Handle::create(lua, tree).map(Some)
    }
}

/// Exactly `N` arguments, or at least `required` with the rest `nil`.
fn arguments<const N: usize>(
    args: MultiValue,
    required: usize,
    usage: &str,
) -> mlua::Result<[mlua::Value; N]> {
    if args.len() < required || args.len() > N {
        return Err(fail(usage));
    }
    let mut values = args.into_iter();
    Ok(std::array::from_fn(|_| values.next().unwrap_or_default()))
}

/// The document value of an argument: a document or reference (copied out), or a table or
/// scalar converted by the rules of spec §3.10.
fn value_of(lua: &Lua, value: &mlua::Value, usage: &str) -> mlua::Result<Value> {
    match value {
        mlua::Value::UserData(data) => match Handle::tree_of(data) {
            Some(tree) => tree.to_value(0),
            None => Err(fail(usage)),
        },
        other => convertible(other, usage).and_then(|()| lua_to_value(lua, other)),
    }
}

/// The tree an argument addresses: a document or reference itself, or a temporary document
/// converted from a table or scalar (changes to it are not seen by the caller).
fn subject(lua: &Lua, value: &mlua::Value, usage: &str) -> mlua::Result<Rc<Tree>> {
    if let mlua::Value::UserData(data) = value {
        let tree = Handle::tree_of(data).ok_or_else(|| fail(usage))?;
        tree.check()?;
        return Ok(tree);
    }
    value_of(lua, value, usage).map(Tree::root)
}

/// Refuses, with the usage message, an argument that can never be a document.
fn convertible(value: &mlua::Value, usage: &str) -> mlua::Result<()> {
    match value {
        mlua::Value::Nil
        | mlua::Value::Boolean(_)
        | mlua::Value::Integer(_)
        | mlua::Value::Number(_)
        | mlua::Value::String(_)
        | mlua::Value::Table(_)
        | mlua::Value::Error(_) => Ok(()),
        other => Err(fail(format!("{usage}: got a {}", lua_type_name(other)))),
    }
}

/// A float that is a whole number from 0 to 2^32 (Lua 5.4 floats such as `2.0`).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "range-checked before the cast"
)]
fn small_whole_number(f: f64) -> Option<usize> {
    (f.fract() == 0.0 && (0.0..=4_294_967_296.0).contains(&f)).then_some(f as usize)
}

/// Parses JSON text; an invalid UTF-8 sequence is reported at its position too.
fn parse(bytes: &[u8]) -> mlua::Result<Value> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let valid = bytes.get(..error.valid_up_to()).unwrap_or_default();
        let line = valid.split(|b| *b == b'\n').count();
        let last_line = valid.rsplit(|b| *b == b'\n').next().unwrap_or_default();
        let column = String::from_utf8_lossy(last_line).chars().count() + 1;
        fail(format!("invalid UTF-8 at line {line} column {column}"))
    })?;
    json::parse(text).map_err(|error| fail(error.to_string()))
}

/// The wrapper of [`typename_function`].
const TYPENAME: &str = r"
local any, userdata = ...
local select, type = select, type
return function(...)
  if select('#', ...) == 1 and type((...)) == 'userdata' then
    return userdata(...)
  end
  return any(...)
end
";

/// `foreach` and `traverse` over `step(node, previous_key)`; see [`iterators`].
const ITERATORS: &str = r#"
local step, prepare_foreach, prepare_traverse = ...
local error, type = error, type

local function foreach(...)
  local node = prepare_foreach(...)
  if node == nil then return end
  local _, fn = ...
  local key
  while true do
    local ok, k, v = step(node, key)
    if not ok then error("nljson.foreach: " .. k, 0) end
    if k == nil then return end
    fn(k, v)
    key = k
  end
end

-- Depth first: an entry's descendants before the entry itself.
local function walk(node, fn)
  local key
  while true do
    local ok, k, v = step(node, key)
    if not ok then error("nljson.traverse: " .. k, 0) end
    if k == nil then return end
    if type(v) == "userdata" then walk(v, fn) end
    fn(k, v)
    key = k
  end
end

local function traverse(...)
  local node = prepare_traverse(...)
  if node == nil then return end
  local _, fn = ...
  walk(node, fn)
end

return foreach, traverse
"#;

//! `nljson`: JSON/CBOR documents as userdata (spec §3.10).
//!
//! # Design
//!
//! A document is a tree whose arrays and objects are reference-counted nodes (`tree.rs`).
//! The userdata Lua holds (`handle.rs`) owns an `Rc` on one node: the root for a document,
//! a nested array or object for a *reference*. Documents and references are the same type
//! and behave the same everywhere. A reference keeps its node alive whatever the order of
//! garbage collection; when a node is erased or replaced it is detached, and a reference to
//! it (or to anything under it) raises on use. Reading a scalar copies only that scalar;
//! a decoded [`Value`] is moved into the tree once, without copying its strings.
//!
//! # Choices
//!
//! * Every function that returns a document (`decode`, `from_cbor`, [`document`]) returns
//!   userdata, also when the top-level value is a scalar: `nljson.decode("5")` is a document
//!   whose `tostring` is `5`, whose `typename` is `"number"` and whose `#` is 0. Assigning a
//!   key or an index to a document holding `null` turns it into an object or an array.
//! * Errors are raised as plain Lua strings with no position prefix, as LAppS's C functions
//!   raise them, not as mlua error objects: scripts can concatenate and send them. Usage
//!   errors read `usage: nljson.find(obj, key)`; others name where they happened,
//!   `nljson.decode: … at line 1 column 3` for a function and `nljson: …` for indexing,
//!   assignment, `#` and `tostring`. An error raised by a `foreach` or `traverse` callback
//!   propagates unchanged.
//! * A table, or a scalar, passed where a document is expected is converted into a temporary
//!   document: `nljson.erase(t, 1)` on a Lua table answers, but does not change `t`.
//! * Limits, so that a script bug raises instead of exhausting memory or the stack:
//!   converting or copying arrays and objects (or tables) nested deeper than [`MAX_DEPTH`]
//!   levels raises (assignments can still build a deeper document, and encoding it then
//!   raises); an assignment or a table may not pad an array with more than [`MAX_PADDING`]
//!   nulls; `encode_pretty` indents by at most [`MAX_INDENT`] spaces. Freeing and detaching
//!   walk the tree with an explicit stack, so no depth can overflow the stack there.
//! * An mlua error object (what `pcall` returns for errors of other host modules) converts to
//!   its message, so it can be sent like the string errors of `nljson`.

#![forbid(unsafe_code)]

use std::ops::Range;
use std::rc::Rc;

use lapps_proto::lapps::{cbor, json};
use mlua::{AnyUserData, Either, FromLuaMulti, Function, IntoLua, Lua, Table};

use crate::Value;
use crate::env::InstanceEnv;

mod convert;
mod encode;
mod functions;
mod handle;
mod tree;

pub(crate) use handle::Subject;

/// A failure of `nljson`: misuse or malformed input. Lua sees the message as a plain string.
///
/// Other modules get it from [`to_value`] inside an [`mlua::Error`]; its `to_string()` is
/// the message alone, for example `a cyclic table has no JSON form`.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

/// Builds the `nljson` table.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua, env: &Rc<InstanceEnv>) -> mlua::Result<Table> {
    let _ = env;
    functions::table(lua)
}

/// Converts a Lua value into a document value by the rules of spec §3.10: an `nljson`
/// document or reference (deep copy), a table, or a scalar.
///
/// # Errors
///
/// A Lua error for functions, threads, foreign userdata and cyclic tables, a table key that
/// is neither a string, a number nor a boolean, a reference whose node was erased or
/// replaced, and the limits of this module. Its `to_string()` is the bare message.
pub fn to_value(lua: &Lua, value: &mlua::Value) -> mlua::Result<Value> {
    convert::lua_to_value(lua, value)
}

/// Appends to `out` the CBOR encoding of what [`to_value`] converts `value` into, without
/// building that document, and returns true. Returns false, with `out` in any state, where
/// [`to_value`] has to decide: it then gives the error, or (for a table with two keys of one
/// member name, such as `1` and `"1"`) the document.
pub fn encode_cbor(lua: &Lua, value: &mlua::Value, out: &mut Vec<u8>) -> bool {
    encode::lua_to_cbor(lua, value, out)
}

/// Appends to `out` the CBOR encoding of what [`to_value`] converts a table with these
/// members into, and returns true (see [`encode_cbor`]). `members` are in name order; a
/// `nil` one is absent. `values` (one per member) gets where each present member's value
/// was written in `out`.
pub(crate) fn encode_members(
    lua: &Lua,
    members: &[(&str, Subject)],
    out: &mut Vec<u8>,
    values: &mut [Option<Range<usize>>],
) -> bool {
    encode::members_to_cbor(lua, members, out, values)
}

/// Wraps `value` in a new, independent `nljson` document.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate it.
pub fn document(lua: &Lua, value: Value) -> mlua::Result<AnyUserData> {
    handle::Handle::create(lua, tree::Tree::root(value))
}

/// Converts `value` into what a script reads from a document (spec §3.10): `nil` for null,
/// a native boolean, number or string (binary too), and a new independent document for an
/// array or object.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the value.
pub fn to_lua(lua: &Lua, value: Value) -> mlua::Result<mlua::Value> {
    convert::node_to_lua(lua, &tree::Node::from_value(value))
}

/// True if `value` is an `nljson` document or reference.
pub fn is_nljson(value: &mlua::Value) -> bool {
    matches!(value, mlua::Value::UserData(data) if data.is::<handle::Handle>())
}

/// An `nljson` error, for the callers in this module.
fn fail(message: impl Into<String>) -> mlua::Error {
    mlua::Error::external(Error(message.into()))
}

/// Makes a Lua function of `f` that raises its errors as plain strings (see the module
/// docs), `context: message`, or the message alone for a usage error. `f` runs in a raw
/// function returning `true, result` or `false, message`; a small Lua wrapper turns the
/// second into `error(message, 0)`.
///
/// `A` must take any arguments without failing (a [`MultiValue`](mlua::MultiValue), or
/// `mlua::Value`s), so that misuse reaches `f` and raises as a plain string. Arguments and
/// results cross as tuples, which mlua moves over the stack without the allocation a
/// `MultiValue` costs.
fn raising<A, R, F>(lua: &Lua, context: &'static str, f: F) -> mlua::Result<Function>
where
    A: FromLuaMulti,
    R: IntoLua,
    F: Fn(&Lua, A) -> mlua::Result<R> + 'static,
{
    raising_as(lua, Wrapper::Plain, context, f)
}

/// The Lua wrapper [`raising_as`] puts around a raw function.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Wrapper {
    /// Raises the error; nothing else.
    Plain,
    /// For `__index`: keeps the references it returns in the handle's environment table, and
    /// gives them again while no document has changed (see [`WRAPPERS`]).
    Index,
    /// For what changes a document (`__newindex`, `erase`): forgets every kept reference.
    Mutating,
}

/// [`raising`] with the given wrapper.
fn raising_as<A, R, F>(
    lua: &Lua,
    wrapper: Wrapper,
    context: &'static str,
    f: F,
) -> mlua::Result<Function>
where
    A: FromLuaMulti,
    R: IntoLua,
    F: Fn(&Lua, A) -> mlua::Result<R> + 'static,
{
    let raw = lua.create_function(move |lua, args: A| {
        Ok(match f(lua, args) {
            Ok(result) => (true, Either::Left(result)),
            Err(error) => (false, Either::Right(in_context(context, &error))),
        })
    })?;
    let wrappers =
        if let Some(wrappers) = lua.named_registry_value::<Option<Table>>(WRAPPERS_KEY)? {
            wrappers
        } else {
            let wrappers: Table = lua.load(WRAPPERS).set_name("=nljson").eval()?;
            lua.set_named_registry_value(WRAPPERS_KEY, &wrappers)?;
            wrappers
        };
    let name = match wrapper {
        Wrapper::Plain => "plain",
        Wrapper::Index => "index",
        Wrapper::Mutating => "mutating",
    };
    wrappers.get::<Function>(name)?.call(raw)
}

/// An error message as Lua sees it: `context: message`, or a usage message alone.
fn in_context(context: &str, error: &mlua::Error) -> String {
    let message = error.to_string();
    if message.starts_with("usage:") {
        message
    } else {
        format!("{context}: {message}")
    }
}

/// JSON text of `value`, compact or indented.
fn json_text(value: &Value, indent: Option<usize>) -> mlua::Result<String> {
    match indent {
        None => json::to_string(value),
        Some(indent) => json::to_string_pretty(value, indent),
    }
    .map_err(|error| fail(error.to_string()))
}

/// The deepest nesting of arrays and objects (or tables) `nljson` converts or copies: the
/// limit of inbound CBOR (spec §4.5), so whatever `nljson` writes, lapps reads back. Deeper
/// input cannot come from `decode` or `from_cbor`; only assignments can build it, and then
/// encoding it raises.
pub const MAX_DEPTH: usize = cbor::MAX_DEPTH;

/// The most nulls one assignment or one table conversion may add to pad an array.
pub const MAX_PADDING: usize = 1 << 20;

/// The largest `indent` of `nljson.encode_pretty`.
pub const MAX_INDENT: usize = 64;

/// Where [`raising_as`] keeps its wrapper factories in the Lua registry.
const WRAPPERS_KEY: &str = "lapps.nljson.wrappers";

/// The wrapper factories of [`raising_as`], for single-result functions only, which every
/// raising function of this module is.
///
/// `index` keeps the references (userdata) `__index` returns in the environment table mlua
/// gives every userdata, keyed as they were asked for, and answers from it while no document
/// has changed since: a script that reads `request.params` twice gets the same reference
/// without a second call into Rust and a second userdata. Any change (`mutating`: every
/// assignment and `nljson.erase`) starts a new generation, and an environment marked with an
/// older one (no mark is generation 0) is replaced before it keeps anything again, so a
/// reference whose node was replaced or erased is never given again. Scalars are not kept. Without the `debug`
/// library (which reads and replaces environments) `index` is `plain`.
const WRAPPERS: &str = r"
local error, type, rawget, rawset = error, type, rawget, rawset
local getfenv, setfenv
if type(debug) == 'table' then getfenv, setfenv = debug.getfenv, debug.setfenv end
local generation = 0

local function plain(raw)
  return function(...)
    local ok, result = raw(...)
    if ok then return result end
    error(result, 0)
  end
end

local function mutating(raw)
  return function(...)
    generation = generation + 1
    local ok, result = raw(...)
    if ok then return result end
    error(result, 0)
  end
end

local function index(raw)
  if type(getfenv) ~= 'function' or type(setfenv) ~= 'function' then return plain(raw) end
  return function(handle, key)
    if type(handle) ~= 'userdata' then
      local ok, result = raw(handle, key)
      if ok then return result end
      error(result, 0)
    end
    local kept = getfenv(handle)
    -- No mark is generation 0: a VM whose documents never change writes no marks.
    local mark = rawget(kept, kept) or 0
    if mark == generation then
      local reference = rawget(kept, key)
      if reference ~= nil then return reference end
    end
    local ok, result = raw(handle, key)
    if not ok then error(result, 0) end
    if type(result) == 'userdata' then
      if mark ~= generation then
        kept = {}
        rawset(kept, kept, generation)
        setfenv(handle, kept)
      end
      rawset(kept, key, result)
    end
    return result
  end
end

return { plain = plain, mutating = mutating, index = index }
";

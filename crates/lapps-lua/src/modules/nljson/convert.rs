//! Lua values to document values and back (spec §3.10, "Converting Lua values into JSON" and
//! "Values returned to Lua").

use std::collections::BTreeMap;
use std::ffi::c_void;

use mlua::{Either, Lua, Table};

use super::handle::Handle;
use super::tree::{Key, Node};
use super::{MAX_DEPTH, MAX_PADDING, fail};
use crate::{Number, Value};

/// Converts a Lua value into a document value; see [`super::to_value`].
pub(crate) fn lua_to_value(lua: &Lua, value: &mlua::Value) -> mlua::Result<Value> {
    Converter {
        lua,
        path: Vec::new(),
    }
    .value(value)
}

/// Converts a Lua value into a node to store in a document: documents and references are
/// deep-copied without going through [`Value`].
pub(crate) fn lua_to_node(lua: &Lua, value: &mlua::Value) -> mlua::Result<Node> {
    if let mlua::Value::UserData(data) = value
        && let Some(tree) = Handle::tree_of(data)
    {
        return tree.to_node();
    }
    lua_to_value(lua, value).map(Node::from_value)
}

/// A node as Lua reads it: null is `nil`, scalars are native, binary is a string, and an
/// array or object is a new reference to it.
pub(crate) fn node_to_lua(lua: &Lua, node: &Node) -> mlua::Result<mlua::Value> {
    Ok(match node {
        Node::Null => mlua::Value::Nil,
        Node::Bool(b) => mlua::Value::Boolean(*b),
        Node::Number(n) => mlua::Value::Number(n.as_f64()),
        Node::String(s) => mlua::Value::String(lua.create_string(s)?),
        Node::Binary(b) => mlua::Value::String(lua.create_string(b)?),
        Node::Tree(tree) => mlua::Value::UserData(Handle::create(lua, tree.clone())?),
    })
}

/// [`node_to_lua`] for a result mlua pushes itself: a string as a Rust `String`, which
/// mlua pushes onto the stack directly, rather than as a Lua string it keeps a reference to.
pub(crate) fn node_to_result(lua: &Lua, node: &Node) -> mlua::Result<Either<String, mlua::Value>> {
    match node {
        Node::String(s) => Ok(Either::Left(s.clone())),
        node => node_to_lua(lua, node).map(Either::Right),
    }
}

/// The key of an assignment: a UTF-8 string names a member, a positive integer an element.
pub(crate) fn assignment_key(key: &mlua::Value) -> mlua::Result<Key> {
    match key {
        mlua::Value::String(s) => s
            .to_str()
            .map(|name| Key::Member(name.to_owned()))
            .map_err(|_| fail("a member name must be UTF-8")),
        mlua::Value::Integer(_) | mlua::Value::Number(_) => {
            array_index(key).map(Key::Index).ok_or_else(|| {
                fail(format!(
                    "an array index must be an integer from 1, got {}",
                    number_text(key)
                ))
            })
        }
        other => Err(fail(format!(
            "a key must be a string or an integer, got a {}",
            lua_type_name(other)
        ))),
    }
}

/// A Lua number that is an integer from 1 as a 0-based index; saturates far beyond any
/// array, so such an index reads as absent and fails the padding limit when written.
pub(crate) fn array_index(key: &mlua::Value) -> Option<usize> {
    match *key {
        mlua::Value::Integer(i) if i >= 1 => Some(usize::try_from(i - 1).unwrap_or(usize::MAX)),
        mlua::Value::Number(f) if f >= 1.0 && f.fract() == 0.0 => Some(float_index(f)),
        _ => None,
    }
}

/// The Lua type name used in messages (`cdata` is LuaJIT's only type mlua does not know).
pub(crate) fn lua_type_name(value: &mlua::Value) -> &'static str {
    match value {
        mlua::Value::LightUserData(_) => "light userdata",
        mlua::Value::Integer(_) => "number",
        mlua::Value::Error(_) => "error",
        mlua::Value::Other(_) => "cdata",
        other => other.type_name(),
    }
}

/// Converts one Lua value, remembering the tables on the current path to refuse cycles.
struct Converter<'lua> {
    lua: &'lua Lua,
    /// The tables being converted, outermost first: a table met again is a cycle. A table
    /// met twice on different paths is just copied twice.
    path: Vec<*const c_void>,
}

impl Converter<'_> {
    fn value(&mut self, value: &mlua::Value) -> mlua::Result<Value> {
        Ok(match value {
            mlua::Value::Nil => Value::Null,
            mlua::Value::Boolean(b) => Value::Bool(*b),
            mlua::Value::Integer(i) => Value::Number(Number::Int(*i)),
            mlua::Value::Number(f) => Value::Number(Number::from_f64(*f)),
            mlua::Value::String(s) => {
                let bytes = s.as_bytes();
                match std::str::from_utf8(&bytes) {
                    Ok(text) => Value::String(text.to_owned()),
                    Err(_) => Value::Binary(bytes.to_vec()),
                }
            }
            mlua::Value::Table(table) => self.table(table)?,
            mlua::Value::UserData(data) => match Handle::tree_of(data) {
                Some(tree) => tree.to_value(self.path.len())?,
                None => {
                    return Err(fail(
                        "a userdata that is not an nljson value has no JSON form",
                    ));
                }
            },
            // An error object caught by `pcall` from a host function: its message.
            mlua::Value::Error(error) => Value::String(error_message(error)),
            other => {
                return Err(fail(format!("a {} has no JSON form", lua_type_name(other))));
            }
        })
    }

    fn table(&mut self, table: &Table) -> mlua::Result<Value> {
        let pointer = table.to_pointer();
        if self.path.contains(&pointer) {
            return Err(fail("a cyclic table has no JSON form"));
        }
        if self.path.len() >= MAX_DEPTH {
            return Err(fail(format!(
                "tables nested deeper than {MAX_DEPTH} levels have no JSON form"
            )));
        }
        // Collect first, so the nested conversions do not pile up on the Lua stack of this
        // traversal.
        let mut entries = Vec::new();
        let mut array = true;
        let mut length = 0;
        table.for_each(|key: mlua::Value, value: mlua::Value| {
            if array {
                match array_index(&key) {
                    Some(index) => length = length.max(index.saturating_add(1)),
                    None => array = false,
                }
            }
            entries.push((key, value));
            Ok(())
        })?;
        self.path.push(pointer);
        let converted = if array {
            self.array(&entries, length)
        } else {
            self.object(&entries)
        };
        self.path.pop();
        converted
    }

    /// Every key is a positive integer: an array as long as the largest, gaps as null.
    fn array(
        &mut self,
        entries: &[(mlua::Value, mlua::Value)],
        length: usize,
    ) -> mlua::Result<Value> {
        if length - entries.len() > MAX_PADDING {
            return Err(fail(format!(
                "a table with {} integer keys up to {length} has more than {MAX_PADDING} gaps",
                entries.len()
            )));
        }
        let mut items = vec![Value::Null; length];
        for (key, value) in entries {
            if let Some(slot) = array_index(key).and_then(|index| items.get_mut(index)) {
                *slot = self.value(value)?;
            }
        }
        Ok(Value::Array(items))
    }

    /// Any other table: an object, number and boolean keys in their `tostring` form.
    fn object(&mut self, entries: &[(mlua::Value, mlua::Value)]) -> mlua::Result<Value> {
        let mut members = BTreeMap::new();
        for (key, value) in entries {
            members.insert(self.member_name(key)?, self.value(value)?);
        }
        Ok(Value::Object(members))
    }

    fn member_name(&self, key: &mlua::Value) -> mlua::Result<String> {
        match key {
            mlua::Value::String(s) => s
                .to_str()
                .map(|name| name.to_owned())
                .map_err(|_| fail("a table key that is not UTF-8 has no JSON form")),
            mlua::Value::Boolean(b) => Ok(b.to_string()),
            // Lua's own `tostring`, so `{[1.5] = x}` gives the member "1.5" as in Lua.
            mlua::Value::Integer(_) | mlua::Value::Number(_) => Ok(self
                .lua
                .coerce_string(key.clone())?
                .map(|text| text.to_string_lossy())
                .unwrap_or_default()),
            other => Err(fail(format!(
                "a table key of type {} has no JSON form",
                lua_type_name(other)
            ))),
        }
    }
}

/// A number for a message.
fn number_text(key: &mlua::Value) -> String {
    match key {
        mlua::Value::Integer(i) => i.to_string(),
        mlua::Value::Number(f) => f.to_string(),
        _ => String::new(),
    }
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "an integral float from 1; `as` saturates beyond usize, which reads as absent"
)]
fn float_index(f: f64) -> usize {
    (f as usize).saturating_sub(1)
}

/// The message of an mlua error object, without mlua's `runtime error: ` prefix.
pub(crate) fn error_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        other => other.to_string(),
    }
}

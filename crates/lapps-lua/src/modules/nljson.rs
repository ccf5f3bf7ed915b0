//! `nljson`: JSON/CBOR documents as userdata (spec §3.10).

use std::rc::Rc;

use mlua::{AnyUserData, Lua, Table};

use crate::env::InstanceEnv;
use crate::Value;

/// Builds the `nljson` table.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua, env: &Rc<InstanceEnv>) -> mlua::Result<Table> {
    let _ = (lua, env);
    todo!("issue 4: nljson")
}

/// Converts a Lua value into a document value by the rules of spec §3.10: an `nljson`
/// document or reference (deep copy), a table, or a scalar.
///
/// # Errors
///
/// A Lua error for functions, threads, foreign userdata and cyclic tables.
pub fn to_value(lua: &Lua, value: &mlua::Value) -> mlua::Result<Value> {
    let _ = (lua, value);
    todo!("issue 4: nljson")
}

/// Wraps `value` in a new, independent `nljson` document.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate it.
pub fn document(lua: &Lua, value: Value) -> mlua::Result<AnyUserData> {
    let _ = (lua, value);
    todo!("issue 4: nljson")
}

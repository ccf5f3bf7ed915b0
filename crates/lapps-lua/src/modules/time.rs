//! `time`: wall-clock milliseconds (spec §3.12).

use mlua::{Lua, Table};

/// Builds the `time` table: `now`.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua) -> mlua::Result<Table> {
    let _ = lua;
    todo!("issue 4: time")
}

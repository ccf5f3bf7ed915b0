//! `nap`: sleeps that suspend only the calling instance (spec §3.11).

use std::rc::Rc;

use mlua::{Lua, Table};

use crate::env::InstanceEnv;

/// Builds the `nap` table: `nap:new()`, and `sleep`, `usleep`, `nsleep` on the sleeper.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua, env: &Rc<InstanceEnv>) -> mlua::Result<Table> {
    let _ = (lua, env);
    todo!("issue 4: nap")
}

//! `mqr`: the Lua face of the process-wide queues of [`crate::mqr`] (spec §3.14).

use std::rc::Rc;

use mlua::{Lua, Table};

use crate::env::InstanceEnv;

/// Builds the `mqr` table: `mqr.create`, and `post`, `recv`, `try_recv` on queues.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua, env: &Rc<InstanceEnv>) -> mlua::Result<Table> {
    let _ = (lua, env);
    todo!("issue 4: mqr")
}

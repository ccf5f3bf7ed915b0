//! `murmur`: libstdc++-compatible `std::hash` (spec §3.13).

use mlua::{Lua, Table};

/// libstdc++'s `_Hash_bytes` (MurmurHash2-64A, seed `0xc70f6907`) over `bytes`.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let _ = bytes;
    todo!("issue 4: murmur")
}

/// Builds the `murmur` table: `hashstr` and `hashnum`.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua) -> mlua::Result<Table> {
    let _ = lua;
    todo!("issue 4: murmur")
}

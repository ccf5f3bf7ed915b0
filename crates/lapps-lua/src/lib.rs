//! The Lua host of lapps: one VM per service instance and the LAppS Lua modules.
//!
//! This crate is a skeleton. It gets its substance with the Lua services (issue 4): `ws`,
//! `bcast`, `nljson`, `mqr`, `nap`, `time`, `murmur` on mlua with LuaJIT.

#![forbid(unsafe_code)]

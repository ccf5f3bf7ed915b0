//! The Lua modules (spec §3.6–§3.14). Each `install` builds the module table of one VM.
//!
//! Calling conventions (spec §3.7): `ws`, `bcast`, `nap`, `mqr` objects and `cws` are
//! called method-style, and a first argument that is the module table itself is skipped, so
//! `ws.send(h, …)` works too; `nljson`, `mqr.create`, `time` and `murmur` are called
//! function-style.

pub(crate) mod bcast;
pub mod mqr;
pub mod murmur;
pub mod nap;
pub mod nljson;
pub mod time;
pub(crate) mod ws;

/// The modules `preload` may name (spec §2.6, §3.6).
pub const OPTIONAL: &[&str] = &["nap", "time", "murmur", "mqr"];

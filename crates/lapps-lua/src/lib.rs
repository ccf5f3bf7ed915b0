//! The Lua host of lapps: one LuaJIT VM per service instance, and the LAppS Lua modules.
//!
//! The crate knows nothing of sockets. It loads a service's code into a VM (spec §3.2), calls
//! its callbacks, and reaches connections and broadcast channels only through the [`Host`]
//! trait, which the server implements. Waiting host functions (`nap` sleeps, `mqr` receives)
//! are async: they suspend the calling instance only, and a stop request ([`StopSignal`])
//! wakes them at once.
//!
//! Modules (spec §3.6–§3.14): `ws`, `bcast`, `nljson`, `nap`, `time`, `murmur`, `mqr`.

// deny, not forbid: the VM is created with every library, `ffi` and `debug` included
// (docs/decisions/0003).
#![deny(unsafe_code)]

mod args;
mod env;
mod host;
pub mod instance;
pub mod modules;
pub mod mqr;
mod stop;

pub use env::InstanceEnv;
pub use host::{DataKind, Host, LappsSendError, NoConnections, SendError, lapps_payload};
pub use instance::{CallError, Kind, LoadError, LuaInstance, ServiceSpec};
pub use lapps_proto::lapps::{Number, Value};
pub use stop::StopSignal;

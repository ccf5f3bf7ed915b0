//! `bcast`: process-wide broadcast channels (spec §3.9).
//!
//! ```lua
//! bcast:create(1000)
//! bcast:subscribe(1000, handler)
//! bcast:send(1000, {cid = 5, message = {"hello"}})
//! bcast:unsubscribe(1000, handler)
//! ```
//!
//! `create` returns `true`; the others return `true`, or `false, message`.

use std::rc::Rc;

use bytes::Bytes;
use lapps_proto::lapps::{cbor, validate};
use mlua::{Lua, MultiValue, Table};

use crate::args::{failure, id, skip_self, success};
use crate::env::InstanceEnv;
use crate::modules::nljson;

/// Builds the `bcast` table.
pub(crate) fn install(lua: &Lua, env: &Rc<InstanceEnv>) -> mlua::Result<Table> {
    let bcast = lua.create_table()?;
    let e = Rc::clone(env);
    bcast.set(
        "create",
        lua.create_function(move |lua, args: MultiValue| {
            let args = skip_self(args);
            match (id(args.front()), args.len()) {
                (Some(channel), 1) => {
                    e.host.bcast_create(channel);
                    Ok(success())
                }
                _ => failure(lua, "usage: bcast:create(id)"),
            }
        })?,
    )?;
    let e = Rc::clone(env);
    bcast.set(
        "subscribe",
        lua.create_function(move |lua, args: MultiValue| {
            let args = skip_self(args);
            match (id(args.front()), id(args.get(1)), args.len()) {
                (Some(channel), Some(handler), 2) => match e.host.bcast_subscribe(channel, handler)
                {
                    Ok(()) => Ok(success()),
                    Err(err) => failure(lua, &err.to_string()),
                },
                _ => failure(lua, "usage: bcast:subscribe(id, handler)"),
            }
        })?,
    )?;
    let e = Rc::clone(env);
    bcast.set(
        "unsubscribe",
        lua.create_function(move |lua, args: MultiValue| {
            let args = skip_self(args);
            match (id(args.front()), id(args.get(1)), args.len()) {
                (Some(channel), Some(handler), 2) => {
                    match e.host.bcast_unsubscribe(channel, handler) {
                        Ok(()) => Ok(success()),
                        Err(err) => failure(lua, &err.to_string()),
                    }
                }
                _ => failure(lua, "usage: bcast:unsubscribe(id, handler)"),
            }
        })?,
    )?;
    let e = Rc::clone(env);
    bcast.set(
        "send",
        lua.create_function(move |lua, args: MultiValue| {
            let args = skip_self(args);
            let (Some(channel), 2) = (id(args.front()), args.len()) else {
                return failure(lua, "usage: bcast:send(id, message)");
            };
            let message = match nljson::to_value(lua, &args[1]) {
                Ok(message) => message,
                Err(err) => return failure(lua, &format!("invalid broadcast message: {err}")),
            };
            if let Err(err) = validate::broadcast(&message) {
                return failure(lua, &format!("invalid broadcast message: {err}"));
            }
            match e
                .host
                .bcast_send(channel, Bytes::from(cbor::to_vec(&message)))
            {
                Ok(()) => Ok(success()),
                Err(err) => failure(lua, &err.to_string()),
            }
        })?,
    )?;
    Ok(bcast)
}

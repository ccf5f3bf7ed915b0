//! `ws`: send to and close server connections (spec §3.8).
//!
//! ```lua
//! ws:send(handler, 1, "text")            -- raw form: opcode 1 (text) or 2 (binary)
//! ws:send(handler, {cid = 0, status = 1, result = {}})  -- LAppS form: validated, CBOR
//! ws:close(handler, 1000, "bye")
//! ```
//!
//! Every function returns `true`, or `false, message` (spec §3.8 lists the messages).

use std::cell::RefCell;
use std::rc::Rc;

use lapps_proto::lapps::validate;
use mlua::{Lua, MultiValue, Table, Value};

use crate::args::{failure, id, skip_self, success};
use crate::env::InstanceEnv;
use crate::host::{DataKind, LappsSendError};
use crate::modules::nljson;

/// The most capacity the `ws:send` buffer keeps between messages.
const KEEP_CAPACITY: usize = 64 << 10;

const SEND_USAGE: &str = "usage: ws:send(handler, message) or ws:send(handler, opcode, data)";
const CLOSE_USAGE: &str = "usage: ws:close(handler, code [, reason])";

/// Builds the `ws` table.
pub(crate) fn install(lua: &Lua, env: &Rc<InstanceEnv>) -> mlua::Result<Table> {
    let ws = lua.create_table()?;
    let host_env = Rc::clone(env);
    // The LAppS form encodes into this buffer, reused from message to message.
    let buffer = RefCell::new(Vec::new());
    ws.set(
        "send",
        lua.create_function(move |lua, args: MultiValue| {
            let args = skip_self(args);
            let Some(handler) = id(args.front()).filter(|h| *h > 0) else {
                return failure(lua, SEND_USAGE);
            };
            match args.len() {
                2 => send_lapps(lua, &host_env, &buffer, handler, &args[1]),
                3 => send_raw(lua, &host_env, handler, &args[1], &args[2]),
                _ => failure(lua, SEND_USAGE),
            }
        })?,
    )?;
    let host_env = Rc::clone(env);
    ws.set(
        "close",
        lua.create_function(move |lua, args: MultiValue| {
            let args = skip_self(args);
            let (Some(handler), Some(code)) = (id(args.front()), id(args.get(1))) else {
                return failure(lua, CLOSE_USAGE);
            };
            let reason = match args.get(2) {
                None | Some(Value::Nil) => String::new(),
                Some(Value::String(s)) => match s.to_str() {
                    Ok(s) => s.to_owned(),
                    Err(_) => return failure(lua, "invalid UTF-8 in close reason"),
                },
                Some(_) => return failure(lua, CLOSE_USAGE),
            };
            if args.len() > 3 {
                return failure(lua, CLOSE_USAGE);
            }
            // Spec §3.8: 1000–1003, 1007–1014, 3000–4999; a reason of at most 123 bytes.
            let Some(code) = u16::try_from(code)
                .ok()
                .filter(|c| lapps_proto::CloseCode(*c).is_valid())
            else {
                return failure(lua, "invalid close code");
            };
            if reason.len() > lapps_proto::close::MAX_CLOSE_REASON {
                return failure(lua, "close reason too long");
            }
            match host_env.host.close(handler, code, &reason) {
                Ok(()) => Ok(success()),
                Err(e) => failure(lua, &e.to_string()),
            }
        })?,
    )?;
    Ok(ws)
}

fn send_raw(
    lua: &Lua,
    env: &InstanceEnv,
    handler: u64,
    opcode: &Value,
    data: &Value,
) -> mlua::Result<MultiValue> {
    let Some(kind) = id(Some(opcode)) else {
        return failure(lua, SEND_USAGE);
    };
    let Some(kind) = u8::try_from(kind).ok().and_then(DataKind::from_opcode) else {
        return failure(lua, "invalid opcode");
    };
    let data = match data {
        Value::String(s) => s.clone(),
        // A number converts as Lua converts numbers to strings (spec §3.8).
        Value::Number(_) | Value::Integer(_) => match lua.coerce_string(data.clone())? {
            Some(s) => s,
            None => return failure(lua, SEND_USAGE),
        },
        _ => return failure(lua, SEND_USAGE),
    };
    let bytes = data.as_bytes();
    if kind == DataKind::Text && !lapps_proto::utf8::is_valid(&bytes) {
        return failure(lua, "invalid UTF-8 in text message");
    }
    match env.host.send(handler, kind, &bytes) {
        Ok(()) => Ok(success()),
        Err(e) => failure(lua, &e.to_string()),
    }
}

/// The LAppS form: the message is encoded straight to CBOR and judged from the bytes, the
/// rules of spec §4.6 applied as [`validate::outbound`] applies them to the document. Where
/// the direct encoding gives up (the message cannot be converted, or converting must decide),
/// the message is converted into a document first, which gives the error.
fn send_lapps(
    lua: &Lua,
    env: &InstanceEnv,
    buffer: &RefCell<Vec<u8>>,
    handler: u64,
    message: &Value,
) -> mlua::Result<MultiValue> {
    // Not re-entered (nothing here runs Lua), but a fresh buffer would do if it were.
    let mut fresh = Vec::new();
    let mut reused = buffer.try_borrow_mut();
    let payload = reused.as_deref_mut().unwrap_or(&mut fresh);
    payload.clear();
    if nljson::encode_cbor(lua, message, payload) {
        let verdict = validate::outbound_encoded(payload);
        let sent = match verdict {
            Ok(cid) => env
                .host
                .send_lapps_encoded(handler, payload, cid == 0)
                .map_err(Into::into),
            Err(invalid) => Err(LappsSendError::Invalid(invalid)),
        };
        // One large message should not keep its buffer for the instance's life.
        if payload.capacity() > KEEP_CAPACITY {
            *payload = Vec::new();
        }
        return match sent {
            Ok(()) => Ok(success()),
            Err(e) => failure(lua, &e.to_string()),
        };
    }
    let message = match nljson::to_value(lua, message) {
        Ok(message) => message,
        Err(e) => return failure(lua, &format!("invalid LAppS message: {e}")),
    };
    match env.host.send_lapps(handler, &message) {
        Ok(()) => Ok(success()),
        Err(e) => failure(lua, &e.to_string()),
    }
}

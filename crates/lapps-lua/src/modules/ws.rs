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
use std::ops::Range;
use std::rc::Rc;

use lapps_proto::lapps::OutboundError;
use lapps_proto::lapps::validate::{self, EncodedMembers};
use mlua::{Either, Function, Lua, MultiValue, Table, Value};

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
    let sender = Rc::new(LappsSender {
        env: Rc::clone(env),
        buffer: RefCell::new(Vec::new()),
    });
    let general = Rc::clone(&sender);
    let send_any = lua.create_function(move |lua, args: MultiValue| {
        let args = skip_self(args);
        let Some(handler) = id(args.front()).filter(|h| *h > 0) else {
            return failure(lua, SEND_USAGE);
        };
        match args.len() {
            2 => general.send_lapps(lua, handler, &args[1]),
            3 => send_raw(lua, &general.env, handler, &args[1], &args[2]),
            _ => failure(lua, SEND_USAGE),
        }
    })?;
    let send_members = lua
        .create_function(move |lua, members: SendMembers| Ok(sender.send_members(lua, members)))?;
    #[cfg(test)]
    lua.set_named_registry_value(tests::SEND_ANY, &send_any)?;
    let send: Function = lua
        .load(SEND)
        .set_name("=ws")
        .call((send_any, send_members))?;
    ws.set("send", send)?;
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

/// The LAppS form of `ws:send`: what it needs from one call to the next.
struct LappsSender {
    env: Rc<InstanceEnv>,
    /// The encoded message, reused from message to message.
    buffer: RefCell<Vec<u8>>,
}

impl LappsSender {
    /// The LAppS form: the message is encoded straight to CBOR and judged from the bytes, the
    /// rules of spec §4.6 applied as [`validate::outbound`] applies them to the document.
    /// Where the direct encoding gives up (the message cannot be converted, or converting
    /// must decide), the message is converted into a document first, which gives the error.
    fn send_lapps(&self, lua: &Lua, handler: u64, message: &Value) -> mlua::Result<MultiValue> {
        let encoded = |out: &mut Vec<u8>| {
            nljson::encode_cbor(lua, message, out).then(|| validate::outbound_encoded(out))
        };
        match self.send_encoded(handler, encoded) {
            Some(Ok(())) => return Ok(success()),
            Some(Err(e)) => return failure(lua, &e.to_string()),
            None => {}
        }
        let message = match nljson::to_value(lua, message) {
            Ok(message) => message,
            Err(e) => return failure(lua, &format!("invalid LAppS message: {e}")),
        };
        match self.env.host.send_lapps(handler, &message) {
            Ok(()) => Ok(success()),
            Err(e) => failure(lua, &e.to_string()),
        }
    }

    /// `send_members` of [`SEND`]: the LAppS form for a message table holding only the
    /// members given. `(true, nil)` when sent, `(false, message)` when refused, and
    /// `(nil, nil)` where the direct encoding gave up.
    fn send_members(
        &self,
        lua: &Lua,
        (handler, cid, error, message, result, status): SendMembers,
    ) -> (Option<bool>, Option<String>) {
        let Some(handler) = id(Some(&handler)).filter(|h| *h > 0) else {
            return (Some(false), Some(SEND_USAGE.to_owned()));
        };
        let members = [
            ("cid", Either::Right(cid)),
            ("error", Either::Right(error)),
            ("message", Either::Right(message)),
            ("result", Either::Right(result)),
            ("status", Either::Right(status)),
        ];
        let sent = self.send_encoded(handler, |out| {
            let mut values: [Option<Range<usize>>; 5] = Default::default();
            if !nljson::encode_members(lua, &members, out, &mut values) {
                return None;
            }
            let value = |i: usize| values[i].clone().map(|range| &out[range]);
            Some(validate::outbound_members(&EncodedMembers {
                cid: value(0),
                error: value(1),
                message: value(2),
                result: value(3),
                status: value(4),
            }))
        });
        match sent {
            None => (None, None),
            Some(Ok(())) => (Some(true), None),
            Some(Err(e)) => (Some(false), Some(e.to_string())),
        }
    }

    /// Encodes and judges the message with `encode` in the buffer (the verdict of
    /// [`validate::outbound_encoded`], or `None` if the encoding gave up), and sends it.
    fn send_encoded(
        &self,
        handler: u64,
        encode: impl FnOnce(&mut Vec<u8>) -> Option<Result<u64, OutboundError>>,
    ) -> Option<Result<(), LappsSendError>> {
        // Not re-entered (nothing here runs Lua), but a fresh buffer would do if it were.
        let mut fresh = Vec::new();
        let mut reused = self.buffer.try_borrow_mut();
        let payload = reused.as_deref_mut().unwrap_or(&mut fresh);
        payload.clear();
        let sent = encode(payload).map(|verdict| match verdict {
            Ok(cid) => self
                .env
                .host
                .send_lapps_encoded(handler, payload, cid == 0)
                .map_err(Into::into),
            Err(invalid) => Err(LappsSendError::Invalid(invalid)),
        });
        // One large message should not keep its buffer for the instance's life.
        if payload.capacity() > KEEP_CAPACITY {
            *payload = Vec::new();
        }
        sent
    }
}

/// The arguments of the `send_members` function [`SEND`] calls: the handler, then the
/// members `cid`, `error`, `message`, `result` and `status` of the message (`nil` if absent).
/// They cross as plain values: a handle would cross more cheaply as an
/// [`nljson::Subject`], but trying
/// that on a number or `nil` costs more than it saves.
type SendMembers = (Value, Value, Value, Value, Value, Value);

/// `ws.send`: a Lua function over two Rust ones. `send_any` takes every form of the call, as
/// `ws.send` always did. The LAppS form with a message table whose members are among `cid`,
/// `error`, `message`, `result` and `status` (what a LAppS answer holds) goes to
/// `send_members` instead, with the members as arguments: they cross without the table being
/// walked from Rust, which costs several times more. The table's members are read raw
/// (`rawget`, `next`), as the conversion reads them. `send_members` gives `true`, or
/// `false, message`, or `nil` where the direct encoding gave up (then `send_any` decides).
const SEND: &str = r#"
local send_any, send_members = ...
local type, rawget, next, select = type, rawget, next, select
return function(...)
  local count = select('#', ...)
  local first, second, third = ...
  local handler, message
  if type(first) == "table" then
    if count == 3 then handler, message = second, third end
  elseif count == 2 then
    handler, message = first, second
  end
  if type(message) == "table" then
    local cid, err, msg = rawget(message, "cid"), rawget(message, "error"), rawget(message, "message")
    local result, status = rawget(message, "result"), rawget(message, "status")
    local known = (cid ~= nil and 1 or 0) + (err ~= nil and 1 or 0) + (msg ~= nil and 1 or 0)
      + (result ~= nil and 1 or 0) + (status ~= nil and 1 or 0)
    local members = 0
    for _ in next, message do
      members = members + 1
      if members > known then break end
    end
    if members == known and known > 0 then
      local ok, failure = send_members(handler, cid, err, msg, result, status)
      if ok then
        return true
      elseif ok == false then
        return false, failure
      end
    end
  end
  return send_any(...)
end
"#;

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::Arc;

    use bytes::Bytes;
    use mlua::{Function, Lua, Table};

    use crate::host::{DataKind, Host, SendError};
    use crate::mqr::Queues;
    use crate::{InstanceEnv, StopSignal};

    /// Where `install` keeps the general function, for these tests.
    pub(super) const SEND_ANY: &str = "lapps.ws.send_any";

    /// One message sent: the handler, the bytes, and the `cid` 0 note (`None` for the raw
    /// form).
    type Sent = (u64, Vec<u8>, Option<bool>);

    /// Connection 1 is open; what is sent to it is recorded, with the `cid` 0 notes.
    #[derive(Default)]
    struct Recorder(RefCell<Vec<Sent>>);

    impl Host for Rc<Recorder> {
        fn send(&self, handler: u64, _: DataKind, data: &[u8]) -> Result<(), SendError> {
            self.send_lapps_encoded(handler, data, false)
                .map(|()| self.0.borrow_mut().last_mut().unwrap().2 = None)
        }

        fn send_lapps_encoded(
            &self,
            handler: u64,
            payload: &[u8],
            answer: bool,
        ) -> Result<(), SendError> {
            if handler != 1 {
                return Err(SendError::Closed);
            }
            self.0
                .borrow_mut()
                .push((handler, payload.to_vec(), Some(answer)));
            Ok(())
        }

        fn close(&self, _: u64, _: u16, _: &str) -> Result<(), SendError> {
            Err(SendError::Closed)
        }

        fn bcast_create(&self, _: u64) {}

        fn bcast_subscribe(&self, id: u64, _: u64) -> Result<(), SendError> {
            Err(SendError::UnknownChannel(id))
        }

        fn bcast_unsubscribe(&self, id: u64, _: u64) -> Result<(), SendError> {
            Err(SendError::UnknownChannel(id))
        }

        fn bcast_send(&self, id: u64, _: Bytes) -> Result<(), SendError> {
            Err(SendError::UnknownChannel(id))
        }
    }

    /// Calls that take every path of the wrapper: the members fast path, its fallbacks, and
    /// the general function; each is run through `ws.send` and through the general function.
    const CALLS: &str = r#"
        local doc = nljson.decode('{"a": [1, "x", {"k": true}], "e": {"code": 5, "message": "m"}}')
        local cyclic = {cid = 0, status = 1}
        cyclic.result = cyclic
        local deep = {}
        for _ = 1, 140 do deep = {deep} end
        local with_meta = setmetatable({cid = 0, status = 1}, {__index = {result = {}}})
        return {
          {ws, 1, {cid = 0, status = 1, result = doc.a}},
          {1, {cid = 0, status = 1, result = doc.a}},
          {ws, 1, {cid = 0, status = 1, result = {}}},
          {ws, 1, {cid = 0, status = 0, error = doc.e}},
          {ws, 1, {cid = 0, status = 0, error = {code = -32601, message = "Method not found"}}},
          {ws, 1, {cid = 5, message = {"hi"}}},
          {ws, 1, {cid = 5, message = {"hi"}, status = 1}},
          {ws, 1, {cid = 5.0, message = doc.a}},
          {ws, 1, {cid = 0, status = 1}},
          {ws, 1, {cid = 0, status = 1, result = 5}},
          {ws, 1, {cid = 1, status = 0, error = {code = 1, message = "m"}}},
          {ws, 1, {cid = -1, status = 1, result = {}}},
          {ws, 1, {status = 1, result = {}}},
          {ws, 1, {cid = 0, status = 1, result = {}, extra = true}},
          {ws, 1, {cid = 0, status = 1, result = {}, [1] = 2}},
          {ws, 1, {}},
          {ws, 1, {1, 2}},
          {ws, 1, cyclic},
          {ws, 1, {cid = 0, status = 1, result = deep}},
          {ws, 1, {cid = 0, status = 1, result = {print}}},
          {ws, 1, with_meta},
          {ws, 1, doc},
          {ws, 1, doc.a},
          {ws, 2, {cid = 0, status = 1, result = {}}},
          {ws, 0, {cid = 0, status = 1, result = {}}},
          {ws, "1", {cid = 0, status = 1, result = {}}},
          {ws, nil, {cid = 0, status = 1, result = {}}},
          {ws, 1.5, {cid = 0, status = 1, result = {}}},
          {ws, 1, {cid = 0, status = 1, result = {}}, 5},
          {ws, {cid = 0, status = 1, result = {}}},
          {{}, 1, {cid = 0, status = 1, result = {}}},
          {ws, 1, 2, "raw"},
          {1, 1, "raw"},
          {ws, 1},
          {},
        }
    "#;

    #[test]
    fn the_wrapper_answers_as_the_general_function() {
        let lua = Lua::new();
        let recorder = Rc::new(Recorder::default());
        let env = Rc::new(InstanceEnv {
            service: Arc::from("test"),
            index: 0,
            instance_id: 1,
            stop: StopSignal::new(),
            host: Rc::new(Rc::clone(&recorder)),
            queues: Arc::new(Queues::new()),
        });
        let ws = super::install(&lua, &env).unwrap();
        let nljson = crate::modules::nljson::install(&lua, &env).unwrap();
        lua.globals().set("ws", &ws).unwrap();
        lua.globals().set("nljson", nljson).unwrap();
        let send: Function = ws.get("send").unwrap();
        let send_any: Function = lua.named_registry_value(SEND_ANY).unwrap();
        let calls: Table = lua.load(CALLS).eval().unwrap();
        let unpack: Function = lua.globals().get("unpack").unwrap();
        let mut sent = 0;
        for call in calls.sequence_values::<Table>() {
            let args: mlua::MultiValue = unpack.call(call.unwrap()).unwrap();
            let wrapped: mlua::MultiValue = send.call(args.clone()).unwrap();
            let sent_wrapped = recorder.0.take();
            let general: mlua::MultiValue = send_any.call(args.clone()).unwrap();
            let sent_general = recorder.0.take();
            let show = |values: &mlua::MultiValue| format!("{values:?}");
            assert_eq!(show(&wrapped), show(&general), "{args:?}");
            assert_eq!(sent_wrapped, sent_general, "{args:?}");
            sent += usize::from(!sent_wrapped.is_empty());
        }
        assert_eq!(sent, 13);
    }
}

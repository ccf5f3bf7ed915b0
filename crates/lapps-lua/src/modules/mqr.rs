//! `mqr`: the Lua face of the process-wide queues of [`crate::mqr`] (spec §3.14).
//!
//! * `mqr.create(name [, capacity])` (or `mqr:create(…)`) returns a queue, or `nil, err`.
//! * `q:post(value)` enqueues a copy of an `nljson` value or a table: `true`, or
//!   `false, err` (`"queue full"`, `"usage: …"`, or why the value cannot be converted).
//! * `q:recv([timeout_ms])` returns a document, or `nil, "timeout"` / `nil, "stopped"`; it
//!   suspends only the calling instance, and wakes as soon as the instance is asked to stop.
//! * `q:try_recv()` returns a document, or `nil` at once.
//!
//! Misuse never raises (spec §3.7): it returns `false, "usage: …"` from `post` and
//! `nil, "usage: …"` from the others.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mlua::{IntoLuaMulti, Lua, MultiValue, Table, UserData, UserDataMethods, Value, Variadic};

use crate::env::InstanceEnv;
use crate::modules::nljson;
use crate::mqr::{Queue, Queues, RecvError};
use crate::stop::StopSignal;

/// Builds the `mqr` table: `mqr.create`, and `post`, `recv`, `try_recv` on queues.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua, env: &Rc<InstanceEnv>) -> mlua::Result<Table> {
    let mqr = lua.create_table()?;
    let queues = Arc::clone(&env.queues);
    let stop = env.stop.clone();
    // The function holds the table it lives in to recognise `mqr:create(…)`; both live
    // exactly as long as the VM.
    let module = mqr.clone();
    let create = lua.create_function(move |lua, args: MultiValue| {
        let mut args: Vec<Value> = args.into_iter().collect();
        if matches!(args.first(), Some(Value::Table(t)) if *t == module) {
            args.remove(0);
        }
        match create_queue(&queues, &args) {
            Ok(queue) => LuaQueue {
                queue,
                stop: stop.clone(),
            }
            .into_lua_multi(lua),
            Err(message) => (Value::Nil, message).into_lua_multi(lua),
        }
    })?;
    mqr.set("create", create)?;
    Ok(mqr)
}

/// A queue as Lua sees it: the shared queue, and the stop signal of the VM's instance.
#[derive(Debug)]
struct LuaQueue {
    queue: Arc<Queue>,
    stop: StopSignal,
}

impl UserData for LuaQueue {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_function("post", |lua, args: Variadic<Value>| {
            match post(lua, &args) {
                Ok(()) => true.into_lua_multi(lua),
                Err(message) => (false, message).into_lua_multi(lua),
            }
        });
        methods.add_async_function("recv", |lua, args: Variadic<Value>| {
            let checked = recv_args(&args);
            async move {
                let (queue, stop, timeout) = match checked {
                    Ok(checked) => checked,
                    Err(message) => return (Value::Nil, message).into_lua_multi(&lua),
                };
                match queue.recv(timeout, &stop).await {
                    Ok(value) => nljson::document(&lua, value)?.into_lua_multi(&lua),
                    Err(why @ (RecvError::Timeout | RecvError::Stopped)) => {
                        (Value::Nil, why.to_string()).into_lua_multi(&lua)
                    }
                }
            }
        });
        methods.add_function("try_recv", |lua, args: Variadic<Value>| {
            let queue = match this(&args, 0, USAGE_TRY_RECV) {
                Ok((queue, _, _)) => queue,
                Err(message) => return (Value::Nil, message).into_lua_multi(lua),
            };
            match queue.try_recv() {
                Some(value) => nljson::document(lua, value)?.into_lua_multi(lua),
                None => Value::Nil.into_lua_multi(lua),
            }
        });
        methods.add_meta_method("__tostring", |_, this, ()| {
            Ok(format!("mqr queue {:?}", this.queue.name()))
        });
    }
}

/// `mqr.create(name [, capacity])` without the module table: the queue, or the message.
fn create_queue(queues: &Queues, args: &[Value]) -> Result<Arc<Queue>, String> {
    let (name, capacity) = match args {
        [Value::String(name)] => (name, None),
        [Value::String(name), capacity] => (name, Some(capacity)),
        _ => return Err(USAGE_CREATE.to_owned()),
    };
    let capacity = match capacity {
        None | Some(Value::Nil) => None,
        Some(capacity) => Some(queue_capacity(capacity)?),
    };
    // Queues are keyed by the exact name; a name that is not UTF-8 cannot be one.
    let name = name.to_str().map_err(|_| "invalid queue name".to_owned())?;
    queues.create(&name, capacity).map_err(|e| e.to_string())
}

/// A capacity argument: an integral number ≥ 1.
fn queue_capacity(capacity: &Value) -> Result<usize, String> {
    let invalid = || "invalid capacity".to_owned();
    match capacity {
        Value::Integer(n) => usize::try_from(*n)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(invalid),
        Value::Number(n) if n.fract() == 0.0 && *n >= 1.0 => {
            // Integral and ≥ 1; anything past usize::MAX saturates, which is as good as
            // unbounded.
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "n is integral and ≥ 1; a huge value saturates on purpose"
            )]
            Ok(*n as usize)
        }
        Value::Number(_) => Err(invalid()),
        _ => Err(USAGE_CREATE.to_owned()),
    }
}

/// `q:post(value)`: the copy is made here, before the value reaches the queue.
fn post(lua: &Lua, args: &[Value]) -> Result<(), String> {
    let (queue, _, rest) = this(args, 1, USAGE_POST)?;
    let [value @ (Value::Table(_) | Value::UserData(_))] = rest else {
        return Err(USAGE_POST.to_owned());
    };
    let value = nljson::to_value(lua, value).map_err(|e| plain_message(&e))?;
    queue.post(value).map_err(|e| e.to_string())
}

/// The queue, stop signal and timeout of `q:recv([timeout_ms])`.
fn recv_args(args: &[Value]) -> Result<(Arc<Queue>, StopSignal, Option<Duration>), String> {
    let (queue, stop, rest) = this(args, 1, USAGE_RECV)?;
    let timeout = match rest {
        [] | [Value::Nil] => None,
        [timeout] => recv_timeout(timeout).ok_or_else(|| USAGE_RECV.to_owned())?,
        _ => return Err(USAGE_RECV.to_owned()),
    };
    Ok((queue, stop, timeout))
}

/// A timeout in milliseconds: a non-negative number, fractions allowed. `None` inside means
/// "wait forever" (an infinite or unrepresentably long timeout); the outer `None` is misuse.
#[expect(
    clippy::option_option,
    reason = "outer: is the argument valid; inner: is there a deadline at all"
)]
#[expect(
    clippy::cast_precision_loss,
    reason = "LuaJIT numbers are doubles; mlua only reports integral ones as integers"
)]
fn recv_timeout(timeout: &Value) -> Option<Option<Duration>> {
    let ms = match timeout {
        Value::Integer(n) => *n as f64,
        Value::Number(n) => *n,
        _ => return None,
    };
    if ms.is_nan() || ms < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(ms / 1e3).ok())
}

/// The queue and stop signal behind `self` (the first argument), and the other arguments,
/// of which there may be at most `max_rest`.
fn this<'a>(
    args: &'a [Value],
    max_rest: usize,
    usage: &str,
) -> Result<(Arc<Queue>, StopSignal, &'a [Value]), String> {
    let found = match args.split_first() {
        Some((Value::UserData(ud), rest)) if rest.len() <= max_rest => ud
            .borrow::<LuaQueue>()
            .ok()
            .map(|q| (Arc::clone(&q.queue), q.stop.clone(), rest)),
        _ => None,
    };
    found.ok_or_else(|| usage.to_owned())
}

/// The text of a conversion error as Lua should see it after `false`: without mlua's
/// "runtime error: " prefix.
fn plain_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => plain_message(cause),
        other => other.to_string(),
    }
}

const USAGE_CREATE: &str = "usage: mqr.create(name [, capacity])";
const USAGE_POST: &str = "usage: q:post(value), value an nljson value or a table";
const USAGE_RECV: &str = "usage: q:recv([timeout_ms]), timeout_ms a number >= 0";
const USAGE_TRY_RECV: &str = "usage: q:try_recv()";

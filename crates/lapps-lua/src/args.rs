//! Argument helpers shared by the method-style modules (spec §3.7).

use mlua::{MultiValue, Value};

/// Drops a leading table argument: the module itself in a method-style call (`ws:send`),
/// so that the function-style call (`ws.send`) works too.
pub(crate) fn skip_self(mut args: MultiValue) -> MultiValue {
    if matches!(args.front(), Some(Value::Table(_))) {
        args.pop_front();
    }
    args
}

/// The largest handler or channel ID: Lua numbers hold integers exactly below 2^53.
pub(crate) const MAX_ID: f64 = 9_007_199_254_740_991.0;

/// A handler or channel ID: an integral Lua number in 0..2^53.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "checked integral and in range first"
)]
pub(crate) fn id(value: Option<&Value>) -> Option<u64> {
    let n = match value? {
        Value::Number(n) => *n,
        Value::Integer(n) => return u64::try_from(*n).ok(),
        _ => return None,
    };
    (n.fract() == 0.0 && (0.0..=MAX_ID).contains(&n)).then_some(n as u64)
}

/// `false, message`: the failure convention of `ws`, `bcast` and `mqr` (spec §3.7).
pub(crate) fn failure(lua: &mlua::Lua, message: &str) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([
        Value::Boolean(false),
        Value::String(lua.create_string(message)?),
    ]))
}

/// `true`.
pub(crate) fn success() -> MultiValue {
    MultiValue::from_iter([Value::Boolean(true)])
}

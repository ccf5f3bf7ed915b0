//! `time`: wall-clock milliseconds (spec §3.12).

use std::time::{SystemTime, UNIX_EPOCH};

use mlua::{Lua, Table};

/// Builds the `time` table: `now`.
///
/// `time.now()` takes no arguments and ignores any it is given, so the method-style call
/// `time:now()` that LAppS code may contain returns the same value.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua) -> mlua::Result<Table> {
    let time = lua.create_table()?;
    time.set("now", lua.create_function(|_, ()| Ok(now_ms()))?)?;
    Ok(time)
}

/// Whole milliseconds since the Unix epoch, as a Lua number; negative (rounded toward zero) if
/// the clock is set before 1970.
fn now_ms() -> f64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => millis(since.as_millis()),
        Err(before) => -millis(before.duration().as_millis()),
    }
}

/// Milliseconds as a double: exact below 2^53 ms, some 285,000 years.
#[expect(clippy::cast_precision_loss, reason = "exact for any plausible clock")]
fn millis(ms: u128) -> f64 {
    ms as f64
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn now_is_integral_epoch_milliseconds() -> mlua::Result<()> {
        let lua = Lua::new();
        lua.globals().set("time", install(&lua)?)?;
        let clock_ms = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("the test machine's clock is after 1970")
                .as_millis()
        };
        let before = clock_ms();
        let (now, integral): (u64, bool) = lua
            .load("local t = time.now() return t, t == math.floor(t)")
            .eval()?;
        let after = clock_ms();
        assert!(integral, "{now}");
        // Both truncate to whole milliseconds, so before <= now <= after; the slack covers a
        // clock that is stepped while the test runs.
        let slack = 2000;
        assert!(before - slack <= u128::from(now), "{now} < {before}");
        assert!(u128::from(now) <= after + slack, "{now} > {after}");
        Ok(())
    }

    #[test]
    fn now_advances_with_the_clock() -> mlua::Result<()> {
        let lua = Lua::new();
        lua.globals().set("time", install(&lua)?)?;
        let first: f64 = lua.load("return time.now()").eval()?;
        std::thread::sleep(Duration::from_millis(20));
        let second: f64 = lua.load("return time:now()").eval()?;
        assert!(second - first >= 20.0, "{first} then {second}");
        assert!(second - first < 5000.0, "{first} then {second}");
        Ok(())
    }
}

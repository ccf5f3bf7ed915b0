//! `nap`: sleeps that suspend only the calling instance (spec §3.11).
//!
//! `nap:new()` (or `nap.new()`) returns a sleeper; `n:sleep(seconds)`, `n:usleep(us)` and
//! `n:nsleep(ns)` are async host functions, so they suspend the calling instance's call and
//! nothing else on its thread. They return `true` after the full time, or `false` as soon as
//! the instance is asked to stop (at once if it already was). A negative, NaN or non-number
//! argument raises an error.

use std::rc::Rc;
use std::time::Duration;

use mlua::{AnyUserData, Lua, MultiValue, Table, UserData, UserDataMethods, Value};

use crate::env::InstanceEnv;
use crate::stop::StopSignal;

/// The unit of a sleep's argument.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Unit {
    /// Nanoseconds: `n:nsleep`.
    Nanos,
    /// Microseconds: `n:usleep`.
    Micros,
    /// Seconds: `n:sleep`.
    Seconds,
}

/// Why an amount is not a valid sleep.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// Below zero.
    #[error("negative duration")]
    Negative,
    /// Not a number.
    #[error("duration is NaN")]
    NaN,
}

/// Builds the `nap` table: `nap:new()`, and `sleep`, `usleep`, `nsleep` on the sleeper.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua, env: &Rc<InstanceEnv>) -> mlua::Result<Table> {
    let nap = lua.create_table()?;
    let stop = env.stop.clone();
    // The function holds the table it lives in to recognise `nap:new()`; both live exactly
    // as long as the VM.
    let module = nap.clone();
    let new = lua.create_function(move |_, args: MultiValue| {
        let mut args = args.into_iter();
        let mut first = args.next();
        if matches!(&first, Some(Value::Table(t)) if *t == module) {
            first = args.next();
        }
        if first.is_some() {
            return Err(mlua::Error::runtime("usage: nap:new()"));
        }
        Ok(Sleeper { stop: stop.clone() })
    })?;
    nap.set("new", new)?;
    Ok(nap)
}

/// The duration of a sleep of `amount` `unit`s, exact for integral amounts of any size and
/// rounded up to the nanosecond for fractions. Amounts beyond [`Duration::MAX`] (infinity
/// included) saturate to it.
///
/// # Errors
///
/// A negative or NaN amount.
pub fn duration(amount: f64, unit: Unit) -> Result<Duration, DurationError> {
    if amount.is_nan() {
        return Err(DurationError::NaN);
    }
    if amount < 0.0 {
        return Err(DurationError::Negative);
    }
    let whole = amount.trunc();
    // Every integral f64 below 2^64 converts to u64 exactly; larger ones saturate, which
    // `from_units` turns into Duration::MAX.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "whole is integral and non-negative; above u64::MAX it saturates on purpose"
    )]
    let whole_units = whole as u64;
    if whole >= TWO_POW_64 {
        return Ok(Duration::MAX);
    }
    let (base, nanos_per_unit) = match unit {
        Unit::Nanos => (Duration::from_nanos(whole_units), 1.0),
        Unit::Micros => (Duration::from_micros(whole_units), 1e3),
        Unit::Seconds => (Duration::from_secs(whole_units), 1e9),
    };
    // The fraction is below one unit, so at most 1e9 ns: well within u64.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the fraction of one unit is in 0..=1e9 ns"
    )]
    let extra_nanos = ((amount - whole) * nanos_per_unit).ceil() as u64;
    Ok(base.saturating_add(Duration::from_nanos(extra_nanos)))
}

/// Sleeps for `duration` unless `stop` fires first: `true` after the full time, `false` if
/// the stop cut it short or had already fired.
pub async fn sleep(duration: Duration, stop: &StopSignal) -> bool {
    if stop.is_stopped() {
        return false;
    }
    if duration.is_zero() {
        // A zero sleep still lets the thread's other instances run, as a sleep would.
        tokio::task::yield_now().await;
        return !stop.is_stopped();
    }
    tokio::select! {
        biased;
        () = stop.stopped() => false,
        () = tokio::time::sleep(duration) => true,
    }
}

/// The sleeper returned by `nap:new()`.
#[derive(Debug)]
struct Sleeper {
    stop: StopSignal,
}

impl UserData for Sleeper {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_function("sleep", |_, args: MultiValue| {
            sleep_call(&args, Unit::Seconds, "usage: n:sleep(seconds)")
        });
        methods.add_async_function("usleep", |_, args: MultiValue| {
            sleep_call(&args, Unit::Micros, "usage: n:usleep(microseconds)")
        });
        methods.add_async_function("nsleep", |_, args: MultiValue| {
            sleep_call(&args, Unit::Nanos, "usage: n:nsleep(nanoseconds)")
        });
    }
}

/// One `n:*sleep(amount)` call. The arguments are checked before the future starts, so
/// misuse raises at once and the future holds no Lua value while it waits.
fn sleep_call(
    args: &MultiValue,
    unit: Unit,
    usage: &'static str,
) -> impl Future<Output = mlua::Result<bool>> + use<> {
    let checked = sleep_args(args)
        .map_err(|why| usage_error(usage, why))
        .and_then(|(stop, amount)| {
            let duration =
                duration(amount, unit).map_err(|e| usage_error(usage, &e.to_string()))?;
            Ok((stop, duration))
        });
    async move {
        let (stop, duration) = checked?;
        Ok(sleep(duration, &stop).await)
    }
}

/// The sleeper's stop signal and the amount, from `(self, amount)`.
fn sleep_args(args: &MultiValue) -> Result<(StopSignal, f64), &'static str> {
    let stop = match args.front() {
        Some(Value::UserData(this)) => sleeper_stop(this),
        _ => None,
    };
    let stop = stop.ok_or("call it with ':' on a sleeper")?;
    let (Some(amount), None) = (args.get(1), args.get(2)) else {
        return Err("expects one argument");
    };
    let amount = number(amount).ok_or("the argument must be a number")?;
    Ok((stop, amount))
}

fn sleeper_stop(this: &AnyUserData) -> Option<StopSignal> {
    this.borrow::<Sleeper>().ok().map(|s| s.stop.clone())
}

fn usage_error(usage: &str, why: &str) -> mlua::Error {
    mlua::Error::runtime(format!("{usage}: {why}"))
}

/// A Lua number as f64; `None` for any other type (strings are not coerced).
#[expect(
    clippy::cast_precision_loss,
    reason = "LuaJIT numbers are doubles; mlua only reports integral ones as integers"
)]
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// 2^64 as an f64: the first integral amount that does not fit a u64.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exact_for_any_magnitude() {
        assert_eq!(
            duration(5_000_000.0, Unit::Micros),
            Ok(Duration::from_secs(5))
        );
        assert_eq!(duration(5.0, Unit::Seconds), Ok(Duration::from_secs(5)));
        assert_eq!(duration(5e9, Unit::Nanos), Ok(Duration::from_secs(5)));
        assert_eq!(
            duration(4_294_967_297.0, Unit::Micros),
            Ok(Duration::from_micros(4_294_967_297))
        );
        assert_eq!(
            duration(1e12, Unit::Seconds),
            Ok(Duration::from_secs(1_000_000_000_000))
        );
        assert_eq!(
            duration(0.25, Unit::Seconds),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(duration(1.5, Unit::Micros), Ok(Duration::from_nanos(1_500)));
        assert_eq!(duration(0.5, Unit::Nanos), Ok(Duration::from_nanos(1)));
        assert_eq!(duration(0.0, Unit::Seconds), Ok(Duration::ZERO));
        assert_eq!(duration(-0.0, Unit::Seconds), Ok(Duration::ZERO));
        assert_eq!(duration(f64::INFINITY, Unit::Seconds), Ok(Duration::MAX));
        assert_eq!(duration(1e300, Unit::Nanos), Ok(Duration::MAX));
        assert_eq!(duration(-1.0, Unit::Seconds), Err(DurationError::Negative));
        assert_eq!(
            duration(f64::NEG_INFINITY, Unit::Micros),
            Err(DurationError::Negative)
        );
        assert_eq!(duration(f64::NAN, Unit::Nanos), Err(DurationError::NaN));
    }
}

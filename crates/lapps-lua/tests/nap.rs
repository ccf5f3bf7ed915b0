//! `nap` (spec §3.11): sleeps that suspend only the calling instance, exact for any
//! magnitude, cut short by a stop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::error::Error;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapps_lua::modules::nap::{self, DurationError, Unit};
use lapps_lua::mqr::Queues;
use lapps_lua::{InstanceEnv, NoConnections, StopSignal};
use mlua::Lua;
use tokio::task::LocalSet;
use tokio::time::timeout;

type TestResult = Result<(), Box<dyn Error>>;

/// Every async test ends within this, or fails.
const LIMIT: Duration = Duration::from_secs(10);

/// A VM with the global `nap`, as an instance with `preload: ["nap"]` has it.
fn vm(stop: &StopSignal) -> mlua::Result<Lua> {
    let lua = Lua::new();
    let env = Rc::new(InstanceEnv {
        service: "nap_test".into(),
        index: 0,
        instance_id: 1,
        stop: stop.clone(),
        host: Rc::new(NoConnections),
        queues: Arc::new(Queues::new()),
    });
    let nap = nap::install(&lua, &env)?;
    lua.globals().set("nap", nap)?;
    Ok(lua)
}

/// Runs `body` on a `LocalSet`, as an instance thread does, within [`LIMIT`].
async fn on_local_set<F: Future<Output = TestResult>>(body: F) -> TestResult {
    timeout(LIMIT, LocalSet::new().run_until(body)).await?
}

/// The message of a Lua error, without mlua's traceback decoration.
fn message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::CallbackError { cause, .. } => message(cause),
        mlua::Error::RuntimeError(text) => text.clone(),
        other => other.to_string(),
    }
}

#[test]
fn durations_are_exact_past_the_32_bit_range() {
    // LAppS computed nanoseconds in 32 bits, so anything past ~4.29 s wrapped around.
    assert_eq!(
        nap::duration(5_000_000.0, Unit::Micros),
        Ok(Duration::from_secs(5))
    );
    assert_eq!(
        nap::duration(5.0, Unit::Seconds),
        Ok(Duration::from_secs(5))
    );
    assert_eq!(
        nap::duration(5_000_000_000.0, Unit::Nanos),
        Ok(Duration::from_secs(5))
    );
    assert_eq!(
        nap::duration(4_295.0, Unit::Seconds),
        Ok(Duration::from_secs(4_295))
    );
    assert_eq!(
        nap::duration(86_400.0 * 365.0, Unit::Seconds),
        Ok(Duration::from_secs(31_536_000))
    );
    assert_eq!(
        nap::duration(9_007_199_254_740_992.0, Unit::Nanos),
        Ok(Duration::from_nanos(9_007_199_254_740_992))
    );
}

#[test]
fn durations_take_fractions() {
    assert_eq!(
        nap::duration(0.25, Unit::Seconds),
        Ok(Duration::from_millis(250))
    );
    assert_eq!(
        nap::duration(1.5, Unit::Seconds),
        Ok(Duration::from_millis(1_500))
    );
    assert_eq!(
        nap::duration(2.5, Unit::Micros),
        Ok(Duration::from_nanos(2_500))
    );
    // Sub-nanosecond fractions round up: the sleep is at least what was asked.
    assert_eq!(nap::duration(0.1, Unit::Nanos), Ok(Duration::from_nanos(1)));
    assert_eq!(nap::duration(0.0, Unit::Seconds), Ok(Duration::ZERO));
}

#[test]
fn durations_reject_negative_and_nan() {
    assert_eq!(
        nap::duration(-1.0, Unit::Seconds),
        Err(DurationError::Negative)
    );
    assert_eq!(
        nap::duration(-0.5, Unit::Micros),
        Err(DurationError::Negative)
    );
    assert_eq!(
        nap::duration(f64::NEG_INFINITY, Unit::Nanos),
        Err(DurationError::Negative)
    );
    assert_eq!(
        nap::duration(f64::NAN, Unit::Seconds),
        Err(DurationError::NaN)
    );
    // Infinity is not an error: it sleeps until the instance stops.
    assert_eq!(
        nap::duration(f64::INFINITY, Unit::Seconds),
        Ok(Duration::MAX)
    );
}

#[tokio::test]
async fn sleep_lasts_at_least_the_time_asked() -> TestResult {
    on_local_set(async {
        let lua = vm(&StopSignal::new())?;
        for chunk in [
            "return nap:new():sleep(0.05)",
            "return nap:new():usleep(50000)",
            "return nap:new():nsleep(50000000)",
            "return nap.new():sleep(1 / 20)",
        ] {
            let started = Instant::now();
            let full: bool = lua.load(chunk).eval_async().await?;
            let elapsed = started.elapsed();
            assert!(full, "{chunk}");
            assert!(elapsed >= Duration::from_millis(50), "{chunk}: {elapsed:?}");
            assert!(elapsed < Duration::from_secs(1), "{chunk}: {elapsed:?}");
        }
        Ok(())
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn usleep_of_five_million_sleeps_five_seconds() -> TestResult {
    // The clock is paused and jumps ahead while everything waits: 15 s pass in no time, and
    // the limit below is measured on that clock too.
    let body = async {
        let lua = vm(&StopSignal::new())?;
        for chunk in [
            "return nap:new():usleep(5000000)",
            "return nap:new():sleep(5)",
            "return nap:new():nsleep(5e9)",
        ] {
            let started = tokio::time::Instant::now();
            let full: bool = lua.load(chunk).eval_async().await?;
            let elapsed = started.elapsed();
            assert!(full, "{chunk}");
            assert!(elapsed >= Duration::from_secs(5), "{chunk}: {elapsed:?}");
            // The timer wheel has a 1 ms resolution.
            assert!(
                elapsed <= Duration::from_millis(5_002),
                "{chunk}: {elapsed:?}"
            );
        }
        Ok(())
    };
    timeout(Duration::from_secs(60), LocalSet::new().run_until(body)).await?
}

#[tokio::test]
async fn sleeping_suspends_only_the_calling_instance() -> TestResult {
    on_local_set(async {
        // Two instances (two VMs) on one thread, as on one worker: their sleeps overlap.
        let first = vm(&StopSignal::new())?;
        let second = vm(&StopSignal::new())?;
        let started = Instant::now();
        let a = tokio::task::spawn_local(async move {
            first
                .load("return nap:new():sleep(0.3)")
                .eval_async::<bool>()
                .await
        });
        let b = tokio::task::spawn_local(async move {
            second
                .load("return nap:new():sleep(0.3)")
                .eval_async::<bool>()
                .await
        });
        assert!(a.await??);
        assert!(b.await??);
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(
            elapsed < Duration::from_millis(550),
            "sleeps did not overlap: {elapsed:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn coroutines_of_one_vm_sleep_side_by_side_with_other_tasks() -> TestResult {
    on_local_set(async {
        let lua = vm(&StopSignal::new())?;
        let ticks = Rc::new(std::cell::Cell::new(0_u32));
        let ticker = {
            let ticks = Rc::clone(&ticks);
            tokio::task::spawn_local(async move {
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    ticks.set(ticks.get() + 1);
                }
            })
        };
        let full: bool = lua
            .load("return nap:new():sleep(0.15)")
            .eval_async()
            .await?;
        assert!(full);
        // The other task on the thread kept running while Lua slept.
        assert_eq!(ticks.get(), 5);
        ticker.await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn stop_cuts_a_long_sleep_short() -> TestResult {
    on_local_set(async {
        let stop = StopSignal::new();
        let lua = vm(&stop)?;
        let stopper = {
            let stop = stop.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                stop.stop();
                Instant::now()
            })
        };
        let full: bool = lua.load("return nap:new():sleep(10)").eval_async().await?;
        let woke = Instant::now();
        assert!(!full);
        let after_stop = woke.duration_since(stopper.await?);
        assert!(after_stop < Duration::from_millis(100), "{after_stop:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn stop_cuts_an_endless_sleep_short() -> TestResult {
    on_local_set(async {
        let stop = StopSignal::new();
        let lua = vm(&stop)?;
        let stopper = {
            let stop = stop.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                stop.stop();
            })
        };
        let full: bool = lua
            .load("return nap:new():sleep(math.huge)")
            .eval_async()
            .await?;
        assert!(!full);
        stopper.await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn sleep_after_stop_returns_false_at_once() -> TestResult {
    on_local_set(async {
        let stop = StopSignal::new();
        let lua = vm(&stop)?;
        stop.stop();
        let started = Instant::now();
        let results: (bool, bool, bool, bool) = lua
            .load("local n = nap:new(); return n:sleep(10), n:usleep(1e7), n:nsleep(1e10), n:sleep(0)")
            .eval_async()
            .await?;
        assert_eq!(results, (false, false, false, false));
        assert!(started.elapsed() < Duration::from_millis(200));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn zero_sleep_returns_true() -> TestResult {
    on_local_set(async {
        let lua = vm(&StopSignal::new())?;
        let results: (bool, bool, bool) = lua
            .load("local n = nap:new(); return n:sleep(0), n:usleep(0), n:nsleep(0)")
            .eval_async()
            .await?;
        assert_eq!(results, (true, true, true));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn misuse_raises_a_usage_error() -> TestResult {
    on_local_set(async {
        let lua = vm(&StopSignal::new())?;
        let cases = [
            ("n:sleep(-1)", "usage: n:sleep(seconds): negative duration"),
            (
                "n:usleep(-0.5)",
                "usage: n:usleep(microseconds): negative duration",
            ),
            (
                "n:nsleep(0/0)",
                "usage: n:nsleep(nanoseconds): duration is NaN",
            ),
            (
                "n:sleep('1')",
                "usage: n:sleep(seconds): the argument must be a number",
            ),
            (
                "n:sleep(nil)",
                "usage: n:sleep(seconds): the argument must be a number",
            ),
            ("n:sleep()", "usage: n:sleep(seconds): expects one argument"),
            (
                "n:sleep(1, 2)",
                "usage: n:sleep(seconds): expects one argument",
            ),
            (
                "n.sleep(1)",
                "usage: n:sleep(seconds): call it with ':' on a sleeper",
            ),
            (
                "n.sleep({}, 1)",
                "usage: n:sleep(seconds): call it with ':' on a sleeper",
            ),
            ("nap:new(1)", "usage: nap:new()"),
            ("nap.new(1)", "usage: nap:new()"),
        ];
        for (call, expected) in cases {
            let chunk = format!("local n = nap:new(); return {call}");
            let error = lua.load(&chunk).exec_async().await.unwrap_err();
            assert_eq!(message(&error), expected, "{call}");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_raised_usage_error_can_be_caught_with_pcall() -> TestResult {
    on_local_set(async {
        let lua = vm(&StopSignal::new())?;
        let (ok, text): (bool, String) = lua
            .load(
                "local n = nap:new(); local ok, e = pcall(n.sleep, n, -1); return ok, tostring(e)",
            )
            .eval_async()
            .await?;
        assert!(!ok);
        assert!(
            text.contains("usage: n:sleep(seconds): negative duration"),
            "{text}"
        );
        Ok(())
    })
    .await
}

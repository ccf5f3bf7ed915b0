//! `mqr` (spec §3.14): the queue registry on its own, across OS threads, and from Lua.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::error::Error;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use lapps_lua::mqr::{CreateError, DEFAULT_CAPACITY, PostError, Queue, Queues, RecvError};
use lapps_lua::{InstanceEnv, NoConnections, Number, StopSignal, Value};
use mlua::Lua;
use tokio::task::LocalSet;
use tokio::time::timeout;

type TestResult = Result<(), Box<dyn Error>>;

/// Every async test ends within this, or fails.
const LIMIT: Duration = Duration::from_secs(10);

fn int(n: i64) -> Value {
    Value::Number(Number::Int(n))
}

fn object(members: &[(&str, Value)]) -> Value {
    Value::Object(
        members
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
}

// ---------------------------------------------------------------------------------------
// The registry alone.

#[test]
fn messages_come_out_in_fifo_order() {
    let queues = Queues::new();
    let queue = queues.create("fifo", None).unwrap();
    for n in 0..100 {
        queue.post(int(n)).unwrap();
    }
    assert_eq!(queue.len(), 100);
    for n in 0..100 {
        assert_eq!(queue.try_recv(), Some(int(n)));
    }
    assert_eq!(queue.try_recv(), None);
    assert!(queue.is_empty());
}

#[test]
fn post_at_capacity_is_full_and_keeps_the_queue() {
    let queues = Queues::new();
    let queue = queues.create("small", Some(2)).unwrap();
    assert_eq!(queue.post(int(1)), Ok(()));
    assert_eq!(queue.post(int(2)), Ok(()));
    assert_eq!(queue.post(int(3)), Err(PostError::Full));
    assert_eq!(PostError::Full.to_string(), "queue full");
    assert_eq!(queue.len(), 2);
    assert_eq!(queue.try_recv(), Some(int(1)));
    assert_eq!(queue.post(int(3)), Ok(()));
    assert_eq!(queue.try_recv(), Some(int(2)));
    assert_eq!(queue.try_recv(), Some(int(3)));
}

#[test]
fn create_attaches_to_the_existing_queue_and_keeps_its_capacity() {
    let queues = Queues::new();
    let first = queues.create("shared", Some(5)).unwrap();
    let second = queues.create("shared", Some(100)).unwrap();
    let third = queues.create("shared", None).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert!(Arc::ptr_eq(&first, &third));
    assert_eq!(second.capacity(), 5);
    first.post(int(9)).unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(third.try_recv(), Some(int(9)));
    // Names are exact: no case folding, no trimming.
    let other = queues.create("Shared", None).unwrap();
    assert!(!Arc::ptr_eq(&first, &other));
    assert_eq!(other.capacity(), DEFAULT_CAPACITY);
    assert_eq!(DEFAULT_CAPACITY, 65_536);
    assert_eq!(
        queues.depths(),
        vec![("Shared".to_owned(), 0), ("shared".to_owned(), 0)]
    );
}

#[test]
fn create_rejects_an_empty_name_and_a_zero_capacity() {
    let queues = Queues::new();
    assert_eq!(queues.create("", None).unwrap_err(), CreateError::EmptyName);
    assert_eq!(
        queues.create("q", Some(0)).unwrap_err(),
        CreateError::ZeroCapacity
    );
    assert_eq!(CreateError::EmptyName.to_string(), "invalid queue name");
    assert_eq!(CreateError::ZeroCapacity.to_string(), "invalid capacity");
    assert!(queues.depths().is_empty());
}

#[tokio::test]
async fn recv_times_out() -> TestResult {
    let queues = Queues::new();
    let queue = queues.create("q", None)?;
    let stop = StopSignal::new();
    let started = Instant::now();
    let got = timeout(LIMIT, queue.recv(Some(Duration::from_millis(50)), &stop)).await?;
    let elapsed = started.elapsed();
    assert_eq!(got, Err(RecvError::Timeout));
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    Ok(())
}

#[tokio::test]
async fn recv_with_zero_timeout_does_not_wait() -> TestResult {
    let queues = Queues::new();
    let queue = queues.create("q", None)?;
    let stop = StopSignal::new();
    let got = timeout(
        Duration::from_millis(200),
        queue.recv(Some(Duration::ZERO), &stop),
    )
    .await?;
    assert_eq!(got, Err(RecvError::Timeout));
    queue.post(int(1))?;
    let got = timeout(
        Duration::from_millis(200),
        queue.recv(Some(Duration::ZERO), &stop),
    )
    .await?;
    assert_eq!(got, Ok(int(1)));
    Ok(())
}

#[tokio::test]
async fn recv_is_woken_by_a_post() -> TestResult {
    let queues = Arc::new(Queues::new());
    let queue = queues.create("q", None)?;
    let stop = StopSignal::new();
    let poster = {
        let queues = Arc::clone(&queues);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            queues.create("q", None).unwrap().post(int(42)).unwrap();
        })
    };
    let started = Instant::now();
    let got = timeout(LIMIT, queue.recv(None, &stop)).await?;
    assert_eq!(got, Ok(int(42)));
    assert!(started.elapsed() >= Duration::from_millis(30));
    poster.await?;
    assert!(queue.is_empty());
    Ok(())
}

#[tokio::test]
async fn recv_is_woken_by_stop() -> TestResult {
    let queues = Queues::new();
    let queue = queues.create("q", None)?;
    let stop = StopSignal::new();
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            stop.stop();
            Instant::now()
        })
    };
    let got = timeout(LIMIT, queue.recv(None, &stop)).await?;
    let woke = Instant::now();
    let stopped_at = stopper.await?;
    assert_eq!(got, Err(RecvError::Stopped));
    assert!(woke.duration_since(stopped_at) < Duration::from_millis(100));
    Ok(())
}

#[tokio::test]
async fn recv_after_stop_returns_stopped_and_leaves_the_message() -> TestResult {
    let queues = Queues::new();
    let queue = queues.create("q", None)?;
    queue.post(int(5))?;
    let stop = StopSignal::new();
    stop.stop();
    for wait in [None, Some(Duration::ZERO), Some(Duration::from_secs(5))] {
        let got = timeout(Duration::from_millis(100), queue.recv(wait, &stop)).await?;
        assert_eq!(got, Err(RecvError::Stopped));
    }
    assert_eq!(queue.try_recv(), Some(int(5)));
    Ok(())
}

#[tokio::test]
async fn waiting_receivers_each_get_one_message() -> TestResult {
    let queues = Arc::new(Queues::new());
    let queue = queues.create("q", None)?;
    let stop = StopSignal::new();
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let stop = stop.clone();
            tokio::spawn(async move { queue.recv(Some(Duration::from_secs(5)), &stop).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for n in 0..3 {
        queue.post(int(n))?;
    }
    let mut got = Vec::new();
    for receiver in receivers {
        got.push(timeout(LIMIT, receiver).await??.unwrap());
    }
    got.sort_by_key(|v| match v {
        Value::Number(Number::Int(n)) => *n,
        _ => -1,
    });
    assert_eq!(got, vec![int(0), int(1), int(2)]);
    assert!(queue.is_empty());
    Ok(())
}

/// Two producer threads post 5,000 numbered messages each into a small queue; two consumer
/// threads, each with its own runtime, receive them. Every number arrives exactly once, and
/// each consumer sees each producer's messages in the order they were posted.
#[test]
fn two_consumers_on_two_threads_get_every_message_exactly_once() {
    const PER_PRODUCER: i64 = 5_000;
    const TOTAL: usize = 10_000;
    let queues = Arc::new(Queues::new());
    let queue = queues.create("pipe", Some(64)).unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(4));
    let stops = [StopSignal::new(), StopSignal::new()];

    let consumers: Vec<_> = stops
        .iter()
        .map(|stop| spawn_consumer(&queue, stop, &received, &start))
        .collect();
    let producers: Vec<_> = (0..2)
        .map(|p| spawn_producer(&queue, &start, p * PER_PRODUCER..(p + 1) * PER_PRODUCER))
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }

    let deadline = Instant::now() + LIMIT;
    while received.load(Ordering::SeqCst) < TOTAL {
        assert!(
            Instant::now() < deadline,
            "only {received:?} of {TOTAL} received"
        );
        thread::sleep(Duration::from_millis(1));
    }
    for stop in &stops {
        stop.stop();
    }
    let per_consumer: Vec<Vec<i64>> = consumers.into_iter().map(|c| c.join().unwrap()).collect();

    for got in &per_consumer {
        assert!(!got.is_empty(), "a consumer received nothing");
        for p in 0..2 {
            let from_p: Vec<i64> = got
                .iter()
                .copied()
                .filter(|n| (p * PER_PRODUCER..(p + 1) * PER_PRODUCER).contains(n))
                .collect();
            assert!(
                from_p.windows(2).all(|w| w[0] < w[1]),
                "producer {p} out of order"
            );
        }
    }
    let mut all: Vec<i64> = per_consumer.concat();
    assert_eq!(all.len(), TOTAL);
    all.sort_unstable();
    assert_eq!(all, (0..2 * PER_PRODUCER).collect::<Vec<_>>());
    assert!(queue.is_empty());
}

/// A consumer thread with its own current-thread runtime, as a standalone instance has:
/// receives until `stop`, and returns the numbers in the order it got them.
fn spawn_consumer(
    queue: &Arc<Queue>,
    stop: &StopSignal,
    received: &Arc<AtomicUsize>,
    start: &Arc<Barrier>,
) -> thread::JoinHandle<Vec<i64>> {
    let (queue, stop, received, start) = (
        Arc::clone(queue),
        stop.clone(),
        Arc::clone(received),
        Arc::clone(start),
    );
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        start.wait();
        runtime.block_on(async {
            let mut got = Vec::new();
            loop {
                match queue.recv(Some(Duration::from_secs(5)), &stop).await {
                    Ok(Value::Number(Number::Int(n))) => {
                        got.push(n);
                        received.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(other) => panic!("unexpected message {other:?}"),
                    Err(RecvError::Stopped) => return got,
                    Err(RecvError::Timeout) => panic!("no message for 5 s"),
                }
            }
        })
    })
}

/// A producer thread posting `numbers` in order, retrying while the queue is full.
fn spawn_producer(
    queue: &Arc<Queue>,
    start: &Arc<Barrier>,
    numbers: std::ops::Range<i64>,
) -> thread::JoinHandle<()> {
    let (queue, start) = (Arc::clone(queue), Arc::clone(start));
    thread::spawn(move || {
        start.wait();
        for n in numbers {
            while queue.post(int(n)) == Err(PostError::Full) {
                thread::yield_now();
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// From Lua.

/// A VM with the global `mqr`, as an instance with `preload: ["mqr"]` has it.
fn vm(queues: &Arc<Queues>, stop: &StopSignal) -> mlua::Result<Lua> {
    let lua = Lua::new();
    let env = Rc::new(InstanceEnv {
        service: "mqr_test".into(),
        index: 0,
        instance_id: 1,
        stop: stop.clone(),
        host: Rc::new(NoConnections),
        queues: Arc::clone(queues),
    });
    let mqr = lapps_lua::modules::mqr::install(&lua, &env)?;
    lua.globals().set("mqr", mqr)?;
    Ok(lua)
}

/// Runs `body` on a `LocalSet`, as an instance thread does, within [`LIMIT`].
async fn on_local_set<F: Future<Output = TestResult>>(body: F) -> TestResult {
    timeout(LIMIT, LocalSet::new().run_until(body)).await?
}

#[tokio::test]
async fn create_from_lua_attaches_by_name() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        let (kind, same_queue): (String, bool) = lua
            .load(
                r#"
                local a = mqr.create("named", 3)
                local b = mqr:create("named")
                return type(a), a ~= nil and b ~= nil
                "#,
            )
            .eval_async()
            .await?;
        assert_eq!((kind.as_str(), same_queue), ("userdata", true));
        let queue = queues.get("named").expect("created from Lua");
        assert_eq!(queue.capacity(), 3);
        let default: usize = {
            lua.load(r#"mqr.create("default")"#).exec_async().await?;
            queues.get("default").unwrap().capacity()
        };
        assert_eq!(default, DEFAULT_CAPACITY);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn create_from_lua_returns_nil_and_a_message() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        let cases = [
            (r#"return mqr.create("")"#, "invalid queue name"),
            (r#"return mqr.create("q", 0)"#, "invalid capacity"),
            (r#"return mqr.create("q", -3)"#, "invalid capacity"),
            (r#"return mqr.create("q", 1.5)"#, "invalid capacity"),
            (
                r"return mqr.create()",
                "usage: mqr.create(name [, capacity])",
            ),
            (
                r"return mqr.create(5)",
                "usage: mqr.create(name [, capacity])",
            ),
            (
                r#"return mqr.create("q", "10")"#,
                "usage: mqr.create(name [, capacity])",
            ),
            (
                r#"return mqr.create("q", 1, 2)"#,
                "usage: mqr.create(name [, capacity])",
            ),
            (
                r"return mqr:create()",
                "usage: mqr.create(name [, capacity])",
            ),
        ];
        for (chunk, expected) in cases {
            let (value, message): (mlua::Value, String) = lua.load(chunk).eval_async().await?;
            assert!(value.is_nil(), "{chunk}");
            assert_eq!(message, expected, "{chunk}");
        }
        assert!(queues.depths().is_empty());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn post_misuse_returns_false_and_usage() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        let usage = "usage: q:post(value), value an nljson value or a table";
        for call in [
            "q:post()",
            "q.post({})",
            "q:post(1)",
            "q:post('text')",
            "q:post({}, {})",
        ] {
            let chunk = format!(r#"local q = mqr.create("misuse"); return {call}"#);
            let (ok, message): (bool, String) = lua.load(&chunk).eval_async().await?;
            assert_eq!((ok, message.as_str()), (false, usage), "{call}");
        }
        let chunk = r#"local q = mqr.create("misuse"); return q:post(function() end)"#;
        let (ok, message): (bool, String) = lua.load(chunk).eval_async().await?;
        assert_eq!((ok, message.as_str()), (false, usage));
        let (value, message): (mlua::Value, String) = lua
            .load(r#"local q = mqr.create("misuse"); return q.try_recv()"#)
            .eval_async()
            .await?;
        assert!(value.is_nil());
        assert_eq!(message, "usage: q:try_recv()");
        assert_eq!(queues.get("misuse").unwrap().len(), 0);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn recv_misuse_returns_nil_and_usage() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        let usage = "usage: q:recv([timeout_ms]), timeout_ms a number >= 0";
        for call in [
            "q:recv(-1)",
            "q:recv(0/0)",
            "q:recv('10')",
            "q.recv(10)",
            "q:recv(1, 2)",
        ] {
            let chunk = format!(r#"local q = mqr.create("misuse"); return {call}"#);
            let (value, message): (mlua::Value, String) = lua.load(&chunk).eval_async().await?;
            assert!(value.is_nil(), "{call}");
            assert_eq!(message, usage, "{call}");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn post_copies_a_table_and_recv_returns_a_document() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        let (posted, n, json): (bool, i64, String) = lua
            .load(
                r#"
                local q = mqr.create("copies")
                local t = { n = 1, list = { 1, 2 } }
                local ok = q:post(t)
                t.n = 2
                t.list[1] = 99
                local m = q:recv(1000)
                return ok, m.n, tostring(m)
                "#,
            )
            .eval_async()
            .await?;
        assert!(posted);
        assert_eq!(n, 1);
        assert_eq!(json, r#"{"list":[1,2],"n":1}"#);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn post_from_lua_enqueues_a_copy_rust_can_read() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        lua.load(
            r#"
            local q = mqr.create("to_rust")
            local t = { message = { "Hello World", 7 } }
            assert(q:post(t) == true)
            t.message[1] = "changed"
            "#,
        )
        .exec_async()
        .await?;
        let queue = queues.get("to_rust").unwrap();
        let expected = object(&[(
            "message",
            Value::Array(vec![Value::String("Hello World".to_owned()), int(7)]),
        )]);
        assert_eq!(queue.try_recv(), Some(expected));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn post_returns_queue_full_at_capacity() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        let (first, second, message, third): (bool, bool, String, bool) = lua
            .load(
                r#"
                local q = mqr.create("tiny", 1)
                local first = q:post({ 1 })
                local second, message = q:post({ 2 })
                q:try_recv()
                local third = q:post({ 3 })
                return first, second, message, third
                "#,
            )
            .eval_async()
            .await?;
        assert_eq!(
            (first, second, message.as_str(), third),
            (true, false, "queue full", true)
        );
        assert_eq!(
            queues.get("tiny").unwrap().try_recv(),
            Some(Value::Array(vec![int(3)]))
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn post_of_a_cyclic_table_returns_false_and_a_message() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        let (ok, message): (bool, String) = lua
            .load(
                r#"
                local t = {}
                t.self = t
                return mqr.create("cyclic"):post(t)
                "#,
            )
            .eval_async()
            .await?;
        assert!(!ok);
        assert!(!message.is_empty());
        assert!(!message.starts_with("runtime error"), "{message}");
        assert!(queues.get("cyclic").unwrap().is_empty());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn try_recv_from_lua_returns_a_document_or_nil() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        queues
            .create("rust_side", None)?
            .post(object(&[("id", int(3))]))?;
        let (id, count, after): (i64, usize, mlua::Value) = lua
            .load(
                r##"
                local q = mqr.create("rust_side")
                local m = q:try_recv()
                local count = select("#", q:try_recv())
                return m.id, count, q:try_recv()
                "##,
            )
            .eval_async()
            .await?;
        assert_eq!((id, count), (3, 1));
        assert!(after.is_nil());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn recv_from_lua_times_out() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        let started = Instant::now();
        let (value, reason): (mlua::Value, String) = lua
            .load(r#"return mqr.create("quiet"):recv(40)"#)
            .eval_async()
            .await?;
        let elapsed = started.elapsed();
        assert!(value.is_nil());
        assert_eq!(reason, "timeout");
        assert!(elapsed >= Duration::from_millis(40), "{elapsed:?}");

        let started = Instant::now();
        let (value, reason): (mlua::Value, String) = lua
            .load(r#"return mqr.create("quiet"):recv(0)"#)
            .eval_async()
            .await?;
        assert!(value.is_nil());
        assert_eq!(reason, "timeout");
        assert!(started.elapsed() < Duration::from_millis(200));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn recv_from_lua_is_woken_by_a_post_from_rust() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let lua = vm(&queues, &StopSignal::new())?;
        let queue = queues.create("wake", None)?;
        let poster = tokio::task::spawn_local(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            queue.post(object(&[("n", int(11))])).unwrap();
        });
        let n: i64 = lua
            .load(r#"return mqr.create("wake"):recv().n"#)
            .eval_async()
            .await?;
        assert_eq!(n, 11);
        poster.await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn recv_from_lua_returns_stopped_when_the_instance_stops() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let stop = StopSignal::new();
        let lua = vm(&queues, &stop)?;
        let stopper = {
            let stop = stop.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                stop.stop();
                Instant::now()
            })
        };
        let (value, reason): (mlua::Value, String) = lua
            .load(r#"return mqr.create("never"):recv(10000)"#)
            .eval_async()
            .await?;
        let woke = Instant::now();
        assert!(value.is_nil());
        assert_eq!(reason, "stopped");
        assert!(woke.duration_since(stopper.await?) < Duration::from_millis(100));
        // Once stopped, recv returns at once, with or without a timeout.
        let (value, reason): (mlua::Value, String) = lua
            .load(r#"return mqr.create("never"):recv()"#)
            .eval_async()
            .await?;
        assert!(value.is_nil());
        assert_eq!(reason, "stopped");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn two_vms_share_a_queue_by_name() -> TestResult {
    on_local_set(async {
        let queues = Arc::new(Queues::new());
        let sender = vm(&queues, &StopSignal::new())?;
        let receiver = vm(&queues, &StopSignal::new())?;
        let receiving = tokio::task::spawn_local(async move {
            receiver
                .load(
                    r#"
                    local q = mqr.create("pipe")
                    local sum = 0
                    for _ = 1, 3 do
                        sum = sum + q:recv(5000).n
                    end
                    return sum
                    "#,
                )
                .eval_async::<i64>()
                .await
        });
        sender
            .load(
                r#"
                local q = mqr.create("pipe")
                for n = 1, 3 do
                    assert(q:post({ n = n }) == true)
                end
                "#,
            )
            .exec_async()
            .await?;
        assert_eq!(receiving.await??, 6);
        Ok(())
    })
    .await
}

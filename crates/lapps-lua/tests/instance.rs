//! Loading services (spec §3.2) and calling their callbacks, against a recording host.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

use std::cell::RefCell;
use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use lapps_lua::mqr::Queues;
use lapps_lua::{
    DataKind, Host, InstanceEnv, Kind, LoadError, LuaInstance, SendError, ServiceSpec, StopSignal,
    Value,
};
use lapps_proto::lapps::{MsgType, cbor};

/// What the instance asked of the server.
#[derive(Debug, Default)]
struct Recorder {
    sent: RefCell<Vec<(u64, DataKind, Vec<u8>)>>,
    closed: RefCell<Vec<(u64, u16, String)>>,
}

/// Connections 1 and 2 are open; every other handler is stale.
struct FakeHost(Rc<Recorder>);

impl Host for FakeHost {
    fn send(&self, handler: u64, kind: DataKind, data: &[u8]) -> Result<(), SendError> {
        if handler > 2 {
            return Err(SendError::Closed);
        }
        self.0
            .sent
            .borrow_mut()
            .push((handler, kind, data.to_vec()));
        Ok(())
    }

    fn close(&self, handler: u64, code: u16, reason: &str) -> Result<(), SendError> {
        if handler > 2 {
            return Err(SendError::Closed);
        }
        self.0
            .closed
            .borrow_mut()
            .push((handler, code, reason.to_owned()));
        Ok(())
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

fn spec(name: &str, kind: Kind, source: &str, preload: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        kind,
        apps_dir: PathBuf::from("/srv/apps"),
        others: vec![name.to_owned(), "neighbour".to_owned()],
        preload: preload.iter().map(|s| (*s).to_owned()).collect(),
        lua_path: None,
        lua_cpath: None,
        source: Some(Arc::from(source)),
    }
}

fn load(spec: &ServiceSpec) -> (Result<LuaInstance, LoadError>, Rc<Recorder>, StopSignal) {
    let recorder = Rc::new(Recorder::default());
    let stop = StopSignal::new();
    let env = InstanceEnv {
        service: Arc::from(spec.name.as_str()),
        index: 0,
        instance_id: 77,
        stop: stop.clone(),
        host: Rc::new(FakeHost(Rc::clone(&recorder))),
        queues: Arc::new(Queues::new()),
    };
    (LuaInstance::load(spec, env), recorder, stop)
}

fn block_on<F: Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local
        .block_on(&runtime, async {
            tokio::time::timeout(Duration::from_secs(20), future).await
        })
        .expect("test timed out")
}

const ECHO: &str = r#"
local echo = {}
function echo.onMessage(handler, opcode, message)
  if message == "false" then return false end
  if message == "raise" then error("boom") end
  return ws:send(handler, opcode, message)
end
return echo
"#;

#[test]
fn a_missing_on_message_names_the_service_and_the_function() {
    let (result, _, _) = load(&spec("svc", Kind::Raw, "return {}", &[]));
    assert_eq!(
        result.unwrap_err().to_string(),
        "service svc: svc.onMessage must be a function"
    );
    let (result, _, _) = load(&spec(
        "job",
        Kind::Standalone,
        "return { init = function() end }",
        &[],
    ));
    assert_eq!(
        result.unwrap_err().to_string(),
        "service job: job.run must be a function"
    );
}

#[test]
fn a_module_must_be_a_table() {
    let (result, _, _) = load(&spec("svc", Kind::Raw, "return 42", &[]));
    assert_eq!(
        result.unwrap_err().to_string(),
        "service svc: module svc must return a table, got number"
    );
}

#[test]
fn a_syntax_error_names_the_service_and_the_chunk() {
    let (result, _, _) = load(&spec("svc", Kind::Raw, "local x = {", &[]));
    let message = result.unwrap_err().to_string();
    assert!(
        message.starts_with("service svc: ") && message.contains("svc.lua:1:"),
        "{message}"
    );
}

#[test]
fn only_on_message_is_required_and_the_module_is_a_global() {
    let (instance, _, _) = load(&spec("svc", Kind::Raw, ECHO, &[]));
    let instance = instance.unwrap();
    let is_table: bool = instance
        .lua()
        .load("return type(svc) == 'table' and type(svc.onMessage) == 'function'")
        .eval()
        .unwrap();
    assert!(is_table);
    block_on(async {
        instance.start().await.unwrap();
        instance.on_disconnect(1).await.unwrap();
        instance.on_shutdown().await.unwrap();
    });
}

#[test]
fn raw_messages_reach_on_message_and_its_result_decides() {
    let (instance, recorder, _) = load(&spec("svc", Kind::Raw, ECHO, &[]));
    let instance = instance.unwrap();
    block_on(async {
        assert!(
            instance
                .on_message_raw(1, DataKind::Binary, b"\x00\xffbytes")
                .await
                .unwrap()
        );
        assert!(
            instance
                .on_message_raw(2, DataKind::Text, "héllo".as_bytes())
                .await
                .unwrap()
        );
        assert!(
            !instance
                .on_message_raw(1, DataKind::Text, b"false")
                .await
                .unwrap()
        );
        // A stale handler: ws:send returns false, which onMessage returns.
        assert!(
            !instance
                .on_message_raw(9, DataKind::Text, b"x")
                .await
                .unwrap()
        );
        let error = instance
            .on_message_raw(1, DataKind::Text, b"raise")
            .await
            .unwrap_err();
        assert!(error.0.contains("boom"), "{}", error.0);
        assert!(error.0.contains("stack traceback"), "{}", error.0);
    });
    assert_eq!(
        *recorder.sent.borrow(),
        vec![
            (1, DataKind::Binary, b"\x00\xffbytes".to_vec()),
            (2, DataKind::Text, "héllo".as_bytes().to_vec()),
        ]
    );
}

#[test]
fn ws_results_and_errors() {
    let (instance, recorder, _) = load(&spec("svc", Kind::Raw, ECHO, &[]));
    let instance = instance.unwrap();
    let results: Vec<String> = instance
        .lua()
        .load(
            r#"
            local function r(ok, err) return tostring(ok) .. ":" .. tostring(err) end
            return {
              r(ws:send(1, 1, "text")),
              r(ws.send(2, 2, 42)),
              r(ws:send(1, 3, "x")),
              r(ws:send(1, 1, "\255")),
              r(ws:send(5, 1, "x")),
              r(ws:send(1)),
              r(ws:send("h", 1, "x")),
              r(ws:close(1, 1005)),
              r(ws:close(1, 1000, string.rep("x", 124))),
              r(ws:close(2, 4000, "bye")),
              r(ws:close(7, 1000)),
              r(ws:send(1, {cid = 1, status = 0, error = {code = 1, message = "m"}})),
              r(ws:send(1, {cid = 0, status = 1, result = {1, 2}})),
            }"#,
        )
        .eval()
        .unwrap();
    assert_eq!(
        results,
        [
            "true:nil",
            "true:nil",
            "false:invalid opcode",
            "false:invalid UTF-8 in text message",
            "false:connection closed",
            "false:usage: ws:send(handler, message) or ws:send(handler, opcode, data)",
            "false:usage: ws:send(handler, message) or ws:send(handler, opcode, data)",
            "false:invalid close code",
            "false:close reason too long",
            "true:nil",
            "false:connection closed",
            "false:invalid LAppS message: status 0 requires cid 0",
            "true:nil",
        ]
    );
    let sent = recorder.sent.borrow();
    assert_eq!(sent[1], (2, DataKind::Binary, b"42".to_vec()));
    let mut expected = Value::Object(lapps_proto::lapps::Object::new());
    if let Value::Object(members) = &mut expected {
        members.insert("cid".to_owned(), Value::from(0));
        members.insert("status".to_owned(), Value::from(1));
        members.insert(
            "result".to_owned(),
            Value::Array(vec![Value::from(1), Value::from(2)]),
        );
    }
    assert_eq!(sent[2], (1, DataKind::Binary, cbor::to_vec(&expected)));
    assert_eq!(*recorder.closed.borrow(), vec![(2, 4000, "bye".to_owned())]);
}

const LAPPS: &str = r#"
local svc = {}
function svc.onMessage(handler, msg_type, request)
  if request.method == "answer_then_raise" then
    ws:send(handler, {cid = 0, status = 1, result = {}})
    error("after the answer")
  elseif request.method == "raise" then
    error("no answer")
  end
  ws:send(handler, {cid = 0, status = 1, result = {msg_type, request.params[1]}})
end
return svc
"#;

#[test]
fn lapps_messages_arrive_as_documents_and_answers_reach_the_host() {
    let (instance, recorder, _) = load(&spec("svc", Kind::Lapps, LAPPS, &[]));
    let instance = instance.unwrap();
    let request = |method: &str| {
        let mut members = lapps_proto::lapps::Object::new();
        members.insert("lapps".to_owned(), Value::from(1));
        members.insert("method".to_owned(), Value::from(method));
        members.insert("params".to_owned(), Value::Array(vec![Value::from("p")]));
        Value::Object(members)
    };
    block_on(async {
        assert!(
            instance
                .on_message_lapps(1, MsgType::RequestWithParams, request("echo"))
                .await
                .unwrap()
        );
        // The host sees the cid 0 answer sent before the error (the server then sends no
        // −32603), and nothing for a handler that raised without answering.
        let error = instance
            .on_message_lapps(1, MsgType::RequestWithParams, request("answer_then_raise"))
            .await
            .unwrap_err();
        assert!(error.0.contains("after the answer"), "{}", error.0);
        assert_eq!(recorder.sent.borrow().len(), 2);
        let error = instance
            .on_message_lapps(1, MsgType::RequestWithParams, request("raise"))
            .await
            .unwrap_err();
        assert!(error.0.contains("no answer"), "{}", error.0);
        assert_eq!(recorder.sent.borrow().len(), 2);
    });
    let sent = recorder.sent.borrow();
    let first = cbor::decode(&sent[0].2).unwrap();
    assert_eq!(
        first.get("result"),
        Some(&Value::Array(vec![Value::from(4), Value::from("p")]))
    );
    let answer = cbor::decode(&sent[1].2).unwrap();
    assert_eq!((sent[1].0, answer.get("cid")), (1, Some(&Value::from(0))));
    assert_eq!(answer.get("result"), Some(&Value::Array(Vec::new())));
}

#[test]
fn globals_follow_the_kind_of_service() {
    let probe = r"
      return {
        type(ws), type(bcast), type(must_stop), type(nljson), type(instance_id),
        type(nap), type(time), type(murmur), type(mqr), type(bit), type(ffi), type(jit),
        type(debug)
      }";
    let kinds: [(Kind, [&str; 4]); 3] = [
        (Kind::Raw, ["table", "nil", "nil", "table"]),
        (Kind::Lapps, ["table", "table", "nil", "table"]),
        (Kind::Standalone, ["nil", "table", "function", "table"]),
    ];
    for (kind, expected) in kinds {
        let source =
            "return { onMessage = function() end, init = function() end, run = function() end }";
        let (instance, _, _) = load(&spec("svc", kind, source, &["time"]));
        let instance = instance.unwrap();
        let types: Vec<String> = instance.lua().load(probe).eval().unwrap();
        assert_eq!(&types[..4], &expected[..], "{kind:?}");
        assert_eq!(types[4], "string");
        assert_eq!(&types[5..9], ["nil", "table", "nil", "nil"], "{kind:?}");
        assert_eq!(
            &types[9..],
            ["table", "table", "table", "table"],
            "{kind:?}"
        );
        let id: String = instance.lua().load("return instance_id").eval().unwrap();
        assert_eq!(id, "77");
    }
}

#[test]
fn luajit_runs_in_gc64_mode() {
    // Spec §3.1: no 2 GB cap on Lua memory.
    let (instance, _, _) = load(&spec("svc", Kind::Raw, ECHO, &[]));
    let gc64: bool = instance
        .unwrap()
        .lua()
        .load("return require('ffi').abi('gc64')")
        .eval()
        .unwrap();
    assert!(gc64);
}

#[test]
fn the_apps_directory_and_the_module_path() {
    let (instance, _, _) = load(&spec("svc", Kind::Raw, ECHO, &[]));
    let instance = instance.unwrap();
    let (apps, path): (String, String) = instance
        .lua()
        .load("return os.getenv('LAPPS_APPS_DIR'), package.path")
        .eval()
        .unwrap();
    assert_eq!(apps, "/srv/apps");
    assert!(
        path.starts_with("/srv/apps/svc/?.lua;/srv/apps/svc/?/init.lua;/srv/apps/neighbour/?.lua;"),
        "{path}"
    );
}

#[test]
fn a_module_this_build_lacks_fails_the_start() {
    let (result, _, _) = load(&spec("svc", Kind::Raw, ECHO, &["cws"]));
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("preload: module cws is not available in this lapps build"),
        "{message}"
    );
}

#[test]
fn must_stop_is_accurate_from_the_first_call() {
    let source = r"
      local job = {}
      function job.init() end
      function job.run()
        local seen = {}
        seen[1] = must_stop()
        local n = nap:new()
        local slept = n:sleep(30)
        seen[2] = must_stop()
        job.seen = seen
        job.slept = slept
      end
      return job";
    let (instance, _, stop) = load(&spec("job", Kind::Standalone, source, &["nap"]));
    let instance = instance.unwrap();
    block_on(async {
        instance.start().await.unwrap();
        let stopper = stop.clone();
        tokio::task::spawn_local(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stopper.stop();
        });
        instance.run().await.unwrap();
    });
    let (first, second, slept): (bool, bool, bool) = instance
        .lua()
        .load("return job.seen[1], job.seen[2], job.slept")
        .eval()
        .unwrap();
    assert_eq!((first, second, slept), (false, true, false));
    // Stopped before the first call: true at once.
    let (instance, _, stop) = load(&spec("job", Kind::Standalone, source, &["nap"]));
    let instance = instance.unwrap();
    stop.stop();
    let first: bool = instance.lua().load("return must_stop()").eval().unwrap();
    assert!(first);
}

#[test]
fn an_interrupt_raises_inside_a_loop_that_ignores_the_stop() {
    let source = r"
      local job = {}
      function job.init() end
      function job.run()
        -- Catches the first interrupt; the one raised again ends run().
        job.caught = select(2, pcall(function() while true do end end))
        while true do end
      end
      return job";
    let (instance, _, _) = load(&spec("job", Kind::Standalone, source, &[]));
    let instance = instance.unwrap();
    let flag = instance.interrupter();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        flag.store(true, Ordering::Relaxed);
    });
    let error = block_on(instance.run()).unwrap_err();
    setter.join().unwrap();
    assert!(error.0.contains("instance stopped"), "{}", error.0);
    let caught: String = instance
        .lua()
        .load("return tostring(job.caught)")
        .eval()
        .unwrap();
    assert!(caught.contains("instance stopped"), "{caught}");
}

#[test]
fn coroutines_work_but_a_callback_cannot_yield() {
    let source = r"
      local svc = {}
      function svc.onMessage(handler, opcode, message)
        if message == 'yield' then coroutine.yield(1) end
        local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
        local co = coroutine.create(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
        local _, first = coroutine.resume(co, 1)
        local _, second = coroutine.resume(co, 21)
        return ws:send(handler, 1, gen() .. gen() .. gen() .. ':' .. first .. ':' .. second)
      end
      return svc";
    // With and without an async module: callbacks are coroutines only with one.
    for preload in [&[][..], &["nap"][..]] {
        let (instance, recorder, _) = load(&spec("svc", Kind::Raw, source, preload));
        let instance = instance.unwrap();
        block_on(async {
            assert!(
                instance
                    .on_message_raw(1, DataKind::Text, b"go")
                    .await
                    .unwrap()
            );
            let error = instance
                .on_message_raw(1, DataKind::Text, b"yield")
                .await
                .unwrap_err();
            assert!(
                error
                    .0
                    .contains("attempt to yield across the host boundary"),
                "{preload:?}: {}",
                error.0
            );
        });
        assert_eq!(
            *recorder.sent.borrow(),
            vec![(1, DataKind::Text, b"123:2:42".to_vec())]
        );
    }
}

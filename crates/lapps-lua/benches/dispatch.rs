//! Lua call overhead: one message into a service and its answer back out, without sockets.
//!
//! Both groups run the example services of `examples/apps` against a host that only counts
//! what it is asked to send:
//!
//! - `raw_echo`: `onMessage(handler, 2, message)` of `echo`, which answers with
//!   `ws:send(handler, opcode, message)`.
//! - `lapps_echo`: what the server does with one LAppS request to `echo_lapps` (issue 5's
//!   benchmark): [`validate::inbound`] on the CBOR request
//!   `{lapps: 1, method: "echo", params: [{authkey}, payload, seq]}` (the bytes `lapps-load`
//!   sends), then `onMessage(handler, 4, request)`, which checks the auth key and answers with
//!   `ws:send(handler, {cid = 0, status = 1, result = request.params})`.
//!
//! Throughput counts payload bytes (64 B, 1 KiB and 16 KiB).
//!
//! Run with: `cargo bench -p lapps-lua --bench dispatch`
//!
//! For instruction counts (repeatable on a busy machine), the bench binary runs one group's
//! loop a fixed number of times, without criterion, when `LAPPS_DISPATCH_COUNT` is set to
//! `"GROUP SIZE MESSAGES"`, for example `"lapps_echo 64 20000"`: run it under
//! `valgrind --tool=callgrind` with two message counts and divide the difference by the
//! difference of the counts.

#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup and sanity checks: a failure is a bug to see at once"
)]

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use lapps_lua::mqr::Queues;
use lapps_lua::{
    DataKind, Host, InstanceEnv, Kind, LuaInstance, SendError, ServiceSpec, StopSignal, Value,
};
use lapps_proto::lapps::{Object, cbor, validate};

const ECHO: &str = include_str!("../../../examples/apps/echo/echo.lua");
const ECHO_LAPPS: &str = include_str!("../../../examples/apps/echo_lapps/echo_lapps.lua");

/// The one open connection.
const HANDLER: u64 = 1;

/// Counts the bytes sent to [`HANDLER`] and keeps the last message.
#[derive(Debug, Default)]
struct Counter {
    bytes: Cell<usize>,
    last: RefCell<Vec<u8>>,
}

struct CountingHost(Rc<Counter>);

impl Host for CountingHost {
    fn send(&self, handler: u64, _: DataKind, data: &[u8]) -> Result<(), SendError> {
        if handler != HANDLER {
            return Err(SendError::Closed);
        }
        self.0.bytes.set(self.0.bytes.get() + data.len());
        let mut last = self.0.last.borrow_mut();
        last.clear();
        last.extend_from_slice(data);
        Ok(())
    }

    fn close(&self, _: u64, _: u16, _: &str) -> Result<(), SendError> {
        panic!("the benchmark's service closed its connection");
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

/// A loaded, started example service and what it sent.
struct Service {
    instance: LuaInstance,
    counter: Rc<Counter>,
    runtime: tokio::runtime::Runtime,
}

impl Service {
    fn load(name: &str, kind: Kind, source: &str, preload: &[&str]) -> Self {
        let counter = Rc::new(Counter::default());
        let spec = ServiceSpec {
            name: name.to_owned(),
            kind,
            apps_dir: PathBuf::new(),
            others: Vec::new(),
            preload: preload.iter().map(|s| (*s).to_owned()).collect(),
            lua_path: None,
            lua_cpath: None,
            source: Some(Arc::from(source)),
        };
        let env = InstanceEnv {
            service: Arc::from(name),
            index: 0,
            instance_id: 1,
            stop: StopSignal::new(),
            host: Rc::new(CountingHost(Rc::clone(&counter))),
            queues: Arc::new(Queues::new()),
        };
        let instance = LuaInstance::load(&spec, env).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(instance.start()).unwrap();
        Self {
            instance,
            counter,
            runtime,
        }
    }

    /// One raw message in, its echo out.
    fn raw(&self, message: &[u8]) {
        let keep = self
            .runtime
            .block_on(
                self.instance
                    .on_message_raw(HANDLER, DataKind::Binary, message),
            )
            .unwrap();
        assert!(keep);
    }

    /// One LAppS message in, as the server handles it: validated, then to `onMessage`.
    fn lapps(&self, payload: &[u8]) {
        let (msg_type, request) = validate::inbound(payload).unwrap();
        let keep = self
            .runtime
            .block_on(self.instance.on_message_lapps(HANDLER, msg_type, request))
            .unwrap();
        assert!(keep);
    }
}

/// `echo_lapps`, logged in: the service and the echo request for `size` payload bytes.
fn lapps_echo(size: usize) -> (Service, Vec<u8>) {
    let service = Service::load("echo_lapps", Kind::Lapps, ECHO_LAPPS, &["time", "murmur"]);
    let mut credentials = Object::new();
    credentials.insert("user".to_owned(), Value::from("admin"));
    credentials.insert("password".to_owned(), Value::from("admin"));
    service.lapps(&cbor::to_vec(&request(
        "login",
        vec![Value::Object(credentials)],
    )));
    let reply = cbor::decode(&service.counter.last.borrow()).unwrap();
    let Some(Value::Array(result)) = reply.get("result") else {
        panic!("login failed: {reply:?}");
    };
    let auth = result[0].clone();
    let params = vec![auth, Value::Binary(payload(size)), Value::from(1_234_567)];
    let echo = cbor::to_vec(&request("echo", params.clone()));
    // The answer carries `params` back: check it once.
    service.lapps(&echo);
    let mut expected = Object::new();
    expected.insert("cid".to_owned(), Value::from(0));
    expected.insert("status".to_owned(), Value::from(1));
    expected.insert("result".to_owned(), Value::Array(params));
    assert_eq!(
        *service.counter.last.borrow(),
        cbor::to_vec(&Value::Object(expected))
    );
    (service, echo)
}

fn raw_echo(size: usize) -> (Service, Vec<u8>) {
    let service = Service::load("echo", Kind::Raw, ECHO, &[]);
    let message = payload(size);
    service.raw(&message);
    assert_eq!(*service.counter.last.borrow(), message);
    (service, message)
}

fn request(method: &str, params: Vec<Value>) -> Value {
    let mut members = Object::new();
    members.insert("lapps".to_owned(), Value::from(1));
    members.insert("method".to_owned(), Value::from(method));
    members.insert("params".to_owned(), Value::Array(params));
    Value::Object(members)
}

#[expect(clippy::cast_possible_truncation, reason = "i % 251 fits a byte")]
fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

fn bench(c: &mut Criterion) {
    for (group, lapps) in [("raw_echo", false), ("lapps_echo", true)] {
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            g.throughput(Throughput::Bytes(size as u64));
            let (service, message) = if lapps {
                lapps_echo(size)
            } else {
                raw_echo(size)
            };
            g.bench_with_input(BenchmarkId::from_parameter(size), &message, |b, m| {
                if lapps {
                    b.iter(|| service.lapps(black_box(m)));
                } else {
                    b.iter(|| service.raw(black_box(m)));
                }
            });
        }
        g.finish();
    }
}

/// `LAPPS_DISPATCH_COUNT="GROUP SIZE MESSAGES"`: one group's loop, a fixed number of times.
fn count(spec: &str) {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let [group, size, messages] = words[..] else {
        panic!("LAPPS_DISPATCH_COUNT: expected \"GROUP SIZE MESSAGES\", got {spec:?}");
    };
    let size: usize = size.parse().unwrap();
    let messages: usize = messages.parse().unwrap();
    let lapps = match group {
        "lapps_echo" => true,
        "raw_echo" => false,
        other => panic!("unknown group {other}"),
    };
    let (service, message) = if lapps {
        lapps_echo(size)
    } else {
        raw_echo(size)
    };
    for _ in 0..messages {
        if lapps {
            service.lapps(black_box(&message));
        } else {
            service.raw(black_box(&message));
        }
    }
}

const SIZES: [usize; 3] = [64, 1024, 16 * 1024];

criterion_group!(benches, bench);

fn main() {
    if let Ok(spec) = std::env::var("LAPPS_DISPATCH_COUNT") {
        count(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

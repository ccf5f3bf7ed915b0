//! Runs every ```` ```lua ```` block of `docs/lua-api.md`, so that the Lua API reference
//! cannot drift from the code.
//!
//! Each block runs in a fresh [`LuaInstance`], loaded as the server loads one (spec §3.2),
//! with every optional module preloaded unless the block says otherwise, against a recording
//! [`Host`]:
//!
//! * handlers 1 and 2 are open connections, handler 3 is an open connection whose outbound
//!   buffer is full (`backpressure`), every other handler is closed;
//! * broadcast channels are kept in memory, with the server's error order;
//! * `ws:close` checks the code and reason as the server does, and makes the handler stale.
//!
//! The first line of a block may choose how it runs:
//!
//! * `-- lapps:chunk <raw|lapps|standalone> [name=N] [preload=a,b|preload=none]
//!   [lua_path=P]`: the block is a chunk, run in an instance of that kind (the default, with
//!   kind `lapps`, when the block has no such line), with `LUA_PATH` set to `P`.
//! * `-- lapps:service <raw|lapps|standalone> [name=N] [preload=…]`: the block is the module
//!   of service `N` (default `app`). The runner loads it and calls its callbacks with sample
//!   arguments: `onStart`, `onMessage` (raw: a text and a binary message; LAppS: one message
//!   of each `msg_type`), `onDisconnect` and `onShutdown`; or `init`, then `run` until the
//!   instance is asked to stop 100 ms later.
//!
//! A service block whose second line is `-- expect load error: TEXT` or
//! `-- expect start error: TEXT` must fail to load (or in `onStart`/`init`) with an error
//! containing `TEXT`. Any other block passes when nothing raises, and when what it sent is
//! sound: text messages are UTF-8, and broadcasts are CBOR OONs. Blocks are padded so that
//! Lua's line numbers in error messages are the lines of the document.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "tests: a failed unwrap is a failed test, and the runner reports what it ran"
)]

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lapps_lua::mqr::Queues;
use lapps_lua::{
    DataKind, Host, InstanceEnv, Kind, LuaInstance, SendError, ServiceSpec, StopSignal,
};
use lapps_proto::lapps::{MsgType, cbor, json, validate};
use tokio::task::LocalSet;

/// The document, relative to this crate.
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/lua-api.md");

/// How long one block may take.
const LIMIT: Duration = Duration::from_secs(20);

/// When a standalone service's instance is asked to stop, after `run` starts.
const STOP_AFTER: Duration = Duration::from_millis(100);

/// The handler whose outbound buffer is full.
const FULL: u64 = 3;

/// Every optional module (spec §3.6) that lapps-lua implements.
const ALL_MODULES: &[&str] = &["nap", "time", "murmur", "mqr"];

// ---------------------------------------------------------------------------------------
// The document's blocks.

/// How a block runs.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Mode {
    /// A chunk, run once.
    Chunk,
    /// A service module whose callbacks the runner calls.
    Service,
}

/// One ```` ```lua ```` block.
#[derive(Debug)]
struct Block {
    /// The line of the opening fence, 1-based.
    line: usize,
    code: String,
    mode: Mode,
    kind: Kind,
    name: String,
    preload: Vec<String>,
    /// `LUA_PATH`, as the environment would give it.
    lua_path: Option<String>,
    /// The error a service block must fail with.
    expect: Option<Expected>,
}

/// A failure a block documents.
#[derive(Debug)]
enum Expected {
    /// `LuaInstance::load` fails with an error containing this.
    Load(String),
    /// `onStart` or `init` raises an error containing this.
    Start(String),
}

/// Every ```` ```lua ```` block of `doc`, in order.
fn blocks(doc: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (index, line) in doc.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        match &mut open {
            None if trimmed.starts_with("```") => {
                let info = trimmed.trim_start_matches('`').trim();
                if info.eq_ignore_ascii_case("lua") {
                    open = Some((number, String::new()));
                } else if info.to_ascii_lowercase().starts_with("lua") {
                    return Err(format!(
                        "line {number}: fence {trimmed:?}: use exactly ```lua so the block runs"
                    ));
                } else if !info.is_empty() {
                    // Another language: skip to its closing fence.
                    open = Some((0, String::new()));
                } else {
                    return Err(format!(
                        "line {number}: a fence without a language; say which (```lua runs)"
                    ));
                }
            }
            None => {}
            Some((start, code)) => {
                if trimmed == "```" {
                    if *start != 0 {
                        blocks.push(block(*start, std::mem::take(code))?);
                    }
                    open = None;
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
        }
    }
    if let Some((start, _)) = open {
        return Err(format!("line {start}: the block is never closed"));
    }
    Ok(blocks)
}

/// Reads the block's first line for a `-- lapps:` marker.
fn block(line: usize, code: String) -> Result<Block, String> {
    let mut block = Block {
        line,
        code,
        mode: Mode::Chunk,
        kind: Kind::Lapps,
        name: "app".to_owned(),
        preload: ALL_MODULES.iter().map(|m| (*m).to_owned()).collect(),
        lua_path: None,
        expect: None,
    };
    let first = block.code.lines().next().unwrap_or_default().trim();
    let Some(marker) = first.strip_prefix("-- lapps:") else {
        if first.contains("lapps:") {
            return Err(format!("line {line}: a misspelt marker: {first:?}"));
        }
        return Ok(block);
    };
    let mut words = marker.split_whitespace();
    block.mode = match words.next() {
        Some("chunk") => Mode::Chunk,
        Some("service") => Mode::Service,
        other => return Err(format!("line {line}: unknown marker lapps:{other:?}")),
    };
    block.kind = match words.next() {
        Some("raw") => Kind::Raw,
        Some("lapps") => Kind::Lapps,
        Some("standalone") => Kind::Standalone,
        other => return Err(format!("line {line}: unknown kind {other:?}")),
    };
    for word in words {
        match word.split_once('=') {
            Some(("name", name)) => name.clone_into(&mut block.name),
            Some(("preload", "none")) => block.preload.clear(),
            Some(("preload", list)) => {
                block.preload = list.split(',').map(str::to_owned).collect();
            }
            Some(("lua_path", path)) => block.lua_path = Some(path.to_owned()),
            _ => return Err(format!("line {line}: unknown marker option {word:?}")),
        }
    }
    let second = block.code.lines().nth(1).unwrap_or_default().trim();
    if let Some(text) = second.strip_prefix("-- expect load error: ") {
        block.expect = Some(Expected::Load(text.to_owned()));
    } else if let Some(text) = second.strip_prefix("-- expect start error: ") {
        block.expect = Some(Expected::Start(text.to_owned()));
    } else if second.starts_with("-- expect") {
        return Err(format!("line {line}: a misspelt expectation: {second:?}"));
    }
    if block.expect.is_some() && block.mode != Mode::Service {
        return Err(format!(
            "line {line}: only service blocks may expect errors"
        ));
    }
    Ok(block)
}

// ---------------------------------------------------------------------------------------
// The recording host.

/// What the server would have done.
#[derive(Debug)]
struct HostState {
    open: HashSet<u64>,
    channels: HashMap<u64, Vec<u64>>,
    sent: Vec<(u64, DataKind, Vec<u8>)>,
    closed: Vec<(u64, u16, String)>,
    broadcasts: Vec<(u64, Bytes)>,
}

/// A server with connections 1, 2 and 3 (full) open; see the module docs.
#[derive(Debug)]
struct FakeHost(RefCell<HostState>);

impl FakeHost {
    fn new() -> Self {
        Self(RefCell::new(HostState {
            open: HashSet::from([1, 2, FULL]),
            channels: HashMap::new(),
            sent: Vec::new(),
            closed: Vec::new(),
            broadcasts: Vec::new(),
        }))
    }

    /// What any sound use of `ws` and `bcast` leaves behind: text messages are UTF-8, and
    /// every broadcast is one CBOR item that passes the OON check.
    fn check(&self) -> Result<(), String> {
        let state = self.0.borrow();
        for (handler, kind, data) in &state.sent {
            if *kind == DataKind::Text && std::str::from_utf8(data).is_err() {
                return Err(format!("a text message to {handler} is not UTF-8"));
            }
        }
        for (id, payload) in &state.broadcasts {
            let message = cbor::decode(payload)
                .map_err(|e| format!("a broadcast on {id} is not CBOR: {e}"))?;
            validate::broadcast(&message)
                .map_err(|e| format!("a broadcast on {id} is not an OON: {e}"))?;
        }
        for (handler, code, reason) in &state.closed {
            if reason.len() > 123 || !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(format!("{handler} was closed with {code} {reason:?}"));
            }
        }
        Ok(())
    }
}

impl Host for FakeHost {
    fn send(&self, handler: u64, kind: DataKind, data: &[u8]) -> Result<(), SendError> {
        let mut state = self.0.borrow_mut();
        if !state.open.contains(&handler) {
            return Err(SendError::Closed);
        }
        if handler == FULL {
            return Err(SendError::Backpressure);
        }
        state.sent.push((handler, kind, data.to_vec()));
        Ok(())
    }

    fn close(&self, handler: u64, code: u16, reason: &str) -> Result<(), SendError> {
        // The server checks the arguments before the connection.
        if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
            return Err(SendError::InvalidCloseCode);
        }
        if reason.len() > 123 {
            return Err(SendError::CloseReasonTooLong);
        }
        let mut state = self.0.borrow_mut();
        if !state.open.remove(&handler) {
            return Err(SendError::Closed);
        }
        // Spec §3.4: a closed connection leaves every channel.
        for subscribers in state.channels.values_mut() {
            subscribers.retain(|h| *h != handler);
        }
        state.closed.push((handler, code, reason.to_owned()));
        Ok(())
    }

    fn bcast_create(&self, id: u64) {
        self.0.borrow_mut().channels.entry(id).or_default();
    }

    fn bcast_subscribe(&self, id: u64, handler: u64) -> Result<(), SendError> {
        let mut state = self.0.borrow_mut();
        // The server looks the connection up first, then the channel.
        if !state.open.contains(&handler) {
            return Err(SendError::Closed);
        }
        let subscribers = state
            .channels
            .get_mut(&id)
            .ok_or(SendError::UnknownChannel(id))?;
        if !subscribers.contains(&handler) {
            subscribers.push(handler);
        }
        Ok(())
    }

    fn bcast_unsubscribe(&self, id: u64, handler: u64) -> Result<(), SendError> {
        let mut state = self.0.borrow_mut();
        let subscribers = state
            .channels
            .get_mut(&id)
            .ok_or(SendError::UnknownChannel(id))?;
        subscribers.retain(|h| *h != handler);
        Ok(())
    }

    fn bcast_send(&self, id: u64, payload: Bytes) -> Result<(), SendError> {
        let mut state = self.0.borrow_mut();
        if !state.channels.contains_key(&id) {
            return Err(SendError::UnknownChannel(id));
        }
        state.broadcasts.push((id, payload));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Running a block.

/// The applications directory of one block: `<tmp>/lapps-lua-doc-<pid>/<line>`, with the
/// service's own directory in it.
fn apps_dir(root: &Path, block: &Block) -> Result<PathBuf, String> {
    let dir = root.join(block.line.to_string());
    std::fs::create_dir_all(dir.join(&block.name))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The block's code, preceded by empty lines so that Lua numbers its lines as the document
/// does (the code starts on the line after the fence).
fn padded(block: &Block) -> String {
    let mut code = "\n".repeat(block.line);
    code.push_str(&block.code);
    code
}

/// The module a chunk's instance loads: just enough to be a valid service.
fn placeholder(kind: Kind) -> &'static str {
    match kind {
        Kind::Standalone => "return { init = function() end, run = function() end }",
        Kind::Raw | Kind::Lapps => "return { onMessage = function() end }",
    }
}

/// Runs one block; the error says what failed.
async fn run(block: &Block, root: &Path) -> Result<(), String> {
    let apps = apps_dir(root, block)?;
    let source = match block.mode {
        Mode::Chunk => placeholder(block.kind).to_owned(),
        Mode::Service => padded(block),
    };
    let spec = ServiceSpec {
        name: block.name.clone(),
        kind: block.kind,
        apps_dir: apps,
        others: vec![block.name.clone(), "other".to_owned()],
        preload: block.preload.clone(),
        lua_path: block.lua_path.clone(),
        lua_cpath: None,
        source: Some(Arc::from(source.as_str())),
    };
    let stop = StopSignal::new();
    let host = Rc::new(FakeHost::new());
    let env = InstanceEnv {
        service: Arc::from(block.name.as_str()),
        index: 0,
        instance_id: 7,
        stop: stop.clone(),
        host: Rc::clone(&host) as Rc<dyn Host>,
        queues: Arc::new(Queues::new()),
    };
    let loaded = LuaInstance::load(&spec, env);
    if let Some(Expected::Load(text)) = &block.expect {
        return match loaded {
            Ok(_) => Err(format!("loaded, but the block expects the error {text:?}")),
            Err(e) if e.to_string().contains(text.as_str()) => Ok(()),
            Err(e) => Err(format!("expected a load error with {text:?}, got: {e}")),
        };
    }
    let instance = loaded.map_err(|e| format!("load: {e}"))?;
    if let Some(Expected::Start(text)) = &block.expect {
        return match instance.start().await {
            Ok(()) => Err(format!("started, but the block expects the error {text:?}")),
            Err(e) if e.to_string().contains(text.as_str()) => Ok(()),
            Err(e) => Err(format!("expected a start error with {text:?}, got: {e}")),
        };
    }
    match block.mode {
        Mode::Chunk => chunk(&instance, block).await?,
        Mode::Service => service(&instance, block, &stop).await?,
    }
    host.check()
}

/// Runs a chunk as the instance would run a callback: as a coroutine when `nap` or `mqr`
/// is loaded (their waits are async), as a plain call otherwise.
async fn chunk(instance: &LuaInstance, block: &Block) -> Result<(), String> {
    let function = instance
        .lua()
        .load(padded(block))
        .set_name("@docs/lua-api.md")
        .into_function()
        .map_err(|e| format!("compile: {e}"))?;
    let asynchronous = block.preload.iter().any(|m| m == "nap" || m == "mqr");
    let result = if asynchronous {
        function.call_async::<()>(()).await
    } else {
        function.call::<()>(())
    };
    result.map_err(|e| e.to_string())
}

/// Drives a service's callbacks with sample arguments.
async fn service(instance: &LuaInstance, block: &Block, stop: &StopSignal) -> Result<(), String> {
    instance.start().await.map_err(|e| format!("start: {e}"))?;
    match block.kind {
        Kind::Raw => {
            for (handler, kind, data) in [
                (1, DataKind::Text, &b"hello"[..]),
                (2, DataKind::Binary, &[0, 1, 2, 255][..]),
            ] {
                instance
                    .on_message_raw(handler, kind, data)
                    .await
                    .map_err(|e| format!("onMessage({handler}, {}): {e}", kind.opcode()))?;
            }
        }
        Kind::Lapps => {
            for (msg_type, text) in [
                (
                    MsgType::RequestWithParams,
                    r#"{"lapps": 1, "method": "echo", "params": ["hello", 42]}"#,
                ),
                (
                    MsgType::RequestWithoutParams,
                    r#"{"lapps": 1, "method": "version"}"#,
                ),
                (
                    MsgType::NotificationWithParams,
                    r#"{"lapps": 1, "method": "subscribe", "params": [{"topic": "time"}], "cid": 5}"#,
                ),
                (
                    MsgType::NotificationWithoutParams,
                    r#"{"lapps": 1, "method": "ping", "cid": 7}"#,
                ),
            ] {
                let request = json::parse(text).map_err(|e| e.to_string())?;
                instance
                    .on_message_lapps(1, msg_type, request)
                    .await
                    .map_err(|e| format!("onMessage(1, {}, …): {e}", msg_type as u8))?;
            }
        }
        Kind::Standalone => {
            // From another thread, as the server does: a `run` that never yields still
            // sees `must_stop()` become true, and one that ignores it is interrupted.
            let signal = stop.clone();
            let interrupt = instance.interrupter();
            std::thread::spawn(move || {
                std::thread::sleep(STOP_AFTER);
                signal.stop();
                std::thread::sleep(LIMIT / 2);
                interrupt.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            return instance.run().await.map_err(|e| format!("run: {e}"));
        }
    }
    instance
        .on_disconnect(1)
        .await
        .map_err(|e| format!("onDisconnect: {e}"))?;
    stop.stop();
    instance
        .on_shutdown()
        .await
        .map_err(|e| format!("onShutdown: {e}"))
}

#[test]
fn every_lua_block_of_the_api_reference_runs() {
    let doc = std::fs::read_to_string(DOC).expect("docs/lua-api.md is readable");
    let blocks = match blocks(&doc) {
        Ok(blocks) => blocks,
        Err(e) => panic!("docs/lua-api.md: {e}"),
    };
    assert!(!blocks.is_empty(), "docs/lua-api.md has no ```lua block");
    let root = std::env::temp_dir().join(format!("lapps-lua-doc-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let failures = LocalSet::new().block_on(&runtime, async {
        let mut failures = String::new();
        for block in &blocks {
            let outcome = match tokio::time::timeout(LIMIT, run(block, &root)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("did not finish within {LIMIT:?}")),
            };
            if let Err(e) = outcome {
                let _ = writeln!(
                    failures,
                    "\n--- docs/lua-api.md:{} ({:?} {:?}):\n{e}",
                    block.line, block.mode, block.kind
                );
            }
        }
        failures
    });
    let _ = std::fs::remove_dir_all(&root);
    eprintln!("docs/lua-api.md: ran {} lua blocks", blocks.len());
    assert!(
        failures.is_empty(),
        "lua blocks of docs/lua-api.md failed:{failures}"
    );
}

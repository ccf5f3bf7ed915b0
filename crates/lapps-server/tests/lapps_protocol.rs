//! The LAppS protocol end to end, over real sockets: the `echo_lapps` session of spec §9.2
//! (from Rust and from Python's `websockets` + `cbor2`), the server's answers to malformed
//! input (§4.5), the example's error table (§9.2), the −32603 rule (§3.4), outbound
//! validation from Lua (§4.6, §3.9), broadcast subscriptions ending with their connection
//! (§3.4, §3.9), and `auto_fragment` on broadcasts (§5.11, §9.4).
//!
//! The server is either the default configuration (`lapps_server::lua::builtin_services`:
//! `echo_lapps`, `time_broadcast`, `broadcast_blob`) or the test app
//! `tests/lapps_apps/lapps_probe`, which reports what its `ws` and `bcast` calls returned.

#![allow(
    clippy::too_many_lines,
    reason = "the case tables of spec §4.5 and §9.2 read best as one list each"
)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use lapps_proto::OpCode;
use lapps_proto::frame::Frame;
use lapps_proto::lapps::{Number, Object, Value, cbor};
use lapps_server::lua::{LuaService, builtin_services};
use lapps_server::lua_host::Kind;
use lapps_server::service::Protocol;
use lapps_server::{Server, ServerBuilder, ServiceConfig};
use support::{BoxError, RawClient, TIMEOUT, TestResult, Ws, assert_sample, stop, wait_until};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// How long a reply may take.
const REPLY: Duration = Duration::from_secs(5);

/// Spec §9.2: a time OON arrives within 2 s of subscribing, a blob OON within 6 s.
const TIME_WITHIN: Duration = Duration::from_secs(2);
const BLOB_WITHIN: Duration = Duration::from_secs(6);

/// Spec §5.11: the fragment size of `auto_fragment`.
const FRAGMENT: usize = 1392;

// ---------------------------------------------------------------------------------------------
// Documents

fn int(n: i64) -> Value {
    Value::from(n)
}

fn text(s: &str) -> Value {
    Value::from(s)
}

fn arr(items: impl IntoIterator<Item = Value>) -> Value {
    Value::Array(items.into_iter().collect())
}

fn obj<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Object>(),
    )
}

/// A request: `{lapps: 1, method, params?}`.
fn request(method: &str, params: Option<Vec<Value>>) -> Value {
    let mut message = obj([("lapps", int(1)), ("method", text(method))]);
    if let (Value::Object(members), Some(params)) = (&mut message, params) {
        members.insert("params".to_owned(), Value::Array(params));
    }
    message
}

/// A client notification: a request with a `cid`.
fn notification(method: &str, cid: i64, params: Option<Vec<Value>>) -> Value {
    let mut message = request(method, params);
    if let Value::Object(members) = &mut message {
        members.insert("cid".to_owned(), int(cid));
    }
    message
}

/// `{cid: 0, status: 1, result}`.
fn success(result: Vec<Value>) -> Value {
    obj([("cid", int(0)), ("status", int(1)), ("result", arr(result))])
}

/// `{cid: 0, status: 0, error: {code, message, data?}}`.
fn failure(code: i64, message: &str, data: Option<&str>) -> Value {
    let mut error = obj([("code", int(code)), ("message", text(message))]);
    if let (Value::Object(members), Some(data)) = (&mut error, data) {
        members.insert("data".to_owned(), text(data));
    }
    obj([("cid", int(0)), ("status", int(0)), ("error", error)])
}

/// The −32700 answer with the decoder's detail.
fn parse_error(detail: &str) -> Value {
    failure(-32700, "Parse error", Some(detail))
}

/// The −32600 answer with the validator's detail.
fn invalid_request(detail: &str) -> Value {
    failure(-32600, "Invalid Request", Some(detail))
}

/// The `login` request for admin/admin.
fn admin_login() -> Value {
    request(
        "login",
        Some(vec![obj([
            ("user", text("admin")),
            ("password", text("admin")),
        ])]),
    )
}

/// `[{authkey: key}]`.
fn key_params(key: &str) -> Vec<Value> {
    vec![obj([("authkey", text(key))])]
}

/// Checks a login answer, `{cid: 0, status: 1, result: [{authkey: <16 hex chars>}]}`, and
/// returns the key.
fn authkey(answer: &Value) -> Result<String, BoxError> {
    let key = answer
        .get("result")
        .and_then(|result| match result {
            Value::Array(items) => items.first(),
            _ => None,
        })
        .and_then(|first| first.get("authkey"))
        .and_then(|key| match key {
            Value::String(key) => Some(key.clone()),
            _ => None,
        })
        .ok_or_else(|| format!("not a login answer: {answer:?}"))?;
    assert_eq!(answer, &success(vec![obj([("authkey", text(&key))])]));
    assert!(
        key.len() == 16 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "the authkey is not 16 hex chars: {key:?}"
    );
    Ok(key)
}

/// The ASCII art `examples/apps/broadcast_blob/broadcast_blob.lua` draws in `init`: 64 rows of
/// 79 cells, `#` where row × col is a multiple of 7, joined by newlines (5119 bytes).
fn blob() -> String {
    (1..=64)
        .map(|row| {
            (1..=79)
                .map(|col| if row * col % 7 == 0 { '#' } else { '.' })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first bytes of the CBOR map `{cid: <cid>, message: …}` as lapps encodes it: a map of
/// two, the key `cid`, and `cid` as a one-byte CBOR integer (spec §4.8), not a float.
fn oon_prefix(cid: u8) -> [u8; 6] {
    [0xa2, 0x63, b'c', b'i', b'd', cid]
}

/// Checks a blob OON (spec §9.4): `{cid: 6, message: [counter, time.now(), blob]}` with an
/// integral counter ≥ 1 and a time within a minute of now, in milliseconds.
fn assert_blob(raw: &[u8]) -> TestResult {
    assert_eq!(raw[..6], oon_prefix(6));
    let oon = cbor::decode(raw)?;
    let Some(Value::Array(message)) = oon.get("message") else {
        return Err(format!("not an OON: {oon:?}").into());
    };
    let [
        Value::Number(Number::Int(counter)),
        Value::Number(Number::Int(time)),
        _,
    ] = message.as_slice()
    else {
        return Err(format!("not [counter, time, blob]: {message:?}").into());
    };
    assert!(*counter >= 1, "counter {counter}");
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    assert!((now - time).abs() < 60_000, "time {time}, now {now}");
    assert_eq!(
        oon,
        obj([
            ("cid", int(6)),
            ("message", arr([int(*counter), int(*time), text(&blob())])),
        ])
    );
    Ok(())
}

/// Checks a time OON (spec §9.3): `{cid: 5, message: ["Server time: …"]}`, `cid` the CBOR
/// integer 5.
fn assert_time(raw: &[u8]) -> TestResult {
    assert_eq!(raw[..6], oon_prefix(5));
    let oon = cbor::decode(raw)?;
    let Some(Value::Array(message)) = oon.get("message") else {
        return Err(format!("not an OON: {oon:?}").into());
    };
    let [Value::String(line)] = message.as_slice() else {
        return Err(format!("not [time]: {message:?}").into());
    };
    assert!(line.starts_with("Server time: "), "{line:?}");
    assert!(line.len() > "Server time: ".len() + 8, "{line:?}");
    assert_eq!(oon, obj([("cid", int(5)), ("message", arr([text(line)]))]));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Servers

/// The builder every test starts from: two workers, quick shutdowns.
fn builder() -> ServerBuilder {
    Server::builder()
        .workers(2)
        .handshake_timeout(Duration::from_secs(2))
}

/// The default configuration: `echo`, `echo_lapps`, `time_broadcast` and `broadcast_blob`.
async fn default_server(auto_fragment: bool) -> Result<Server, BoxError> {
    let (reactive, standalone) = builtin_services();
    let mut builder = builder().auto_fragment(auto_fragment);
    for service in reactive {
        builder = builder.service(service);
    }
    for service in standalone {
        builder = builder.standalone(service);
    }
    Ok(builder.bind("127.0.0.1:0").await?)
}

/// The probe app at `/lapps_probe`, two instances.
async fn probe_server() -> Result<Server, BoxError> {
    let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lapps_apps");
    let service = LuaService::new("lapps_probe", Kind::Lapps, apps);
    let config = ServiceConfig::new("lapps_probe", service)
        .protocol(Protocol::LAppS)
        .instances(2);
    Ok(builder().service(config).bind("127.0.0.1:0").await?)
}

/// The value of the metrics sample whose name and labels are `series`, as `/metrics` would
/// serve it.
fn sample(server: &Server, series: &str) -> Result<u64, BoxError> {
    let text = server.render_metrics();
    let line = support::samples(&text)
        .into_iter()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .ok_or_else(|| format!("no sample {series} in:\n{text}"))?;
    Ok(line.parse()?)
}

// ---------------------------------------------------------------------------------------------
// A LAppS client over tokio-tungstenite

/// What a client reads: a binary message, or the server's Close (code and reason).
#[derive(Debug, PartialEq)]
enum Incoming {
    Data(Vec<u8>),
    Close(Option<(u16, String)>),
}

#[derive(Debug)]
struct Client {
    ws: Ws,
}

impl Client {
    async fn open(addr: SocketAddr, path: &str) -> Result<Self, BoxError> {
        Ok(Self {
            ws: support::ws_connect(addr, path).await?,
        })
    }

    async fn send_bytes(&mut self, bytes: Vec<u8>) -> TestResult {
        self.ws.send(Message::binary(bytes)).await?;
        Ok(())
    }

    async fn send(&mut self, message: &Value) -> TestResult {
        self.send_bytes(cbor::to_vec(message)).await
    }

    /// The next binary message or Close, within `wait`.
    async fn next(&mut self, wait: Duration) -> Result<Incoming, BoxError> {
        loop {
            let message = tokio::time::timeout(wait, self.ws.next())
                .await
                .map_err(|_| format!("nothing came within {wait:?}"))?
                .ok_or("the stream ended")??;
            match message {
                Message::Binary(bytes) => return Ok(Incoming::Data(bytes.to_vec())),
                Message::Close(frame) => {
                    return Ok(Incoming::Close(
                        frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                    ));
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => return Err(format!("the server sent {other:?}").into()),
            }
        }
    }

    /// The next message's bytes; a Close is an error.
    async fn recv_raw(&mut self, wait: Duration) -> Result<Vec<u8>, BoxError> {
        match self.next(wait).await? {
            Incoming::Data(bytes) => Ok(bytes),
            close @ Incoming::Close(_) => Err(format!("expected a message, got {close:?}").into()),
        }
    }

    /// The next message, decoded.
    async fn recv(&mut self) -> Result<Value, BoxError> {
        Ok(cbor::decode(&self.recv_raw(REPLY).await?)?)
    }

    /// Sends `message` and returns the next message.
    async fn call(&mut self, message: &Value) -> Result<Value, BoxError> {
        self.send(message).await?;
        self.recv().await
    }

    /// Logs in as admin and returns the key.
    async fn login(&mut self) -> Result<String, BoxError> {
        authkey(&self.call(&admin_login()).await?)
    }

    /// Expects the server's Close with `code` and an empty reason, then the end of the stream.
    async fn expect_close(&mut self, code: u16) -> TestResult {
        assert_eq!(
            self.next(REPLY).await?,
            Incoming::Close(Some((code, String::new())))
        );
        self.expect_end().await
    }

    /// Expects the end of the stream after the close handshake.
    async fn expect_end(&mut self) -> TestResult {
        match tokio::time::timeout(REPLY, self.ws.next()).await? {
            None => Ok(()),
            Some(other) => Err(format!("expected the end of the stream, got {other:?}").into()),
        }
    }

    /// Ends the TCP connection with a reset, no close handshake.
    fn reset(self) -> TestResult {
        if let tokio_tungstenite::MaybeTlsStream::Plain(stream) = self.ws.get_ref() {
            stream.set_zero_linger()?;
        }
        drop(self);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// A LAppS client over the raw client, to see frames

/// Sends `message` as one masked binary frame.
async fn raw_send(client: &mut RawClient, message: &Value) -> TestResult {
    client
        .send_frame(true, OpCode::Binary, &cbor::to_vec(message))
        .await
}

/// Reads the frames of the next data message within `wait`, skipping control frames.
async fn raw_message(client: &mut RawClient, wait: Duration) -> Result<Vec<Frame>, BoxError> {
    let deadline = Instant::now() + wait;
    let mut frames = Vec::new();
    loop {
        // A read gives up after 5 s of silence; a blob may take a little longer. The
        // decoder keeps what it has read, so reading again resumes where it stopped.
        let frame = match client.read_frame().await {
            Ok(frame) => frame,
            Err(e) if e.is::<tokio::time::error::Elapsed>() && Instant::now() < deadline => {
                continue;
            }
            Err(e) => return Err(e),
        };
        match frame.opcode {
            OpCode::Ping | OpCode::Pong => continue,
            OpCode::Close => return Err(format!("the server closed: {frame:?}").into()),
            _ => {}
        }
        let fin = frame.fin;
        frames.push(frame);
        if fin {
            return Ok(frames);
        }
    }
}

/// Concatenates the payloads of a message's frames.
fn reassemble(frames: &[Frame]) -> Vec<u8> {
    frames
        .iter()
        .flat_map(|f| f.payload.iter().copied())
        .collect()
}

/// Logs in over a raw client, subscribes to the blob on `cid` 6, and returns the frames of
/// the first blob OON, which must arrive within 6 s.
async fn raw_blob_frames(addr: SocketAddr) -> Result<Vec<Frame>, BoxError> {
    let mut client = RawClient::open(addr, "/echo_lapps").await?;
    raw_send(&mut client, &admin_login()).await?;
    let key = authkey(&cbor::decode(&reassemble(
        &raw_message(&mut client, REPLY).await?,
    ))?)?;
    raw_send(
        &mut client,
        &notification("subscribe", 6, Some(key_params(&key))),
    )
    .await?;
    let frames = tokio::time::timeout(BLOB_WITHIN, raw_message(&mut client, BLOB_WITHIN)).await??;
    client.send_close(1000, "").await?;
    Ok(frames)
}

// ---------------------------------------------------------------------------------------------
// 1. The echo_lapps session of spec §9.2

/// Login, echo, subscribe to the time (`cid` 5) and the blob (`cid` 6), logout: every answer
/// exact, the OONs within their deadlines with `cid` a CBOR integer, and Close 1000 at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_lapps_session_from_rust() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = default_server(false).await?;
        let mut client = Client::open(server.local_addr(), "/echo_lapps").await?;

        let key = client.login().await?;

        let params = vec![
            obj([("authkey", text(&key))]),
            int(1),
            text("two"),
            obj([("three", Value::Number(Number::Float(3.5)))]),
        ];
        let answer = client.call(&request("echo", Some(params.clone()))).await?;
        assert_eq!(answer, success(params));

        client
            .send(&notification("subscribe", 5, Some(key_params(&key))))
            .await?;
        let subscribed = Instant::now();
        assert_time(&client.recv_raw(TIME_WITHIN).await?)?;

        client
            .send(&notification("subscribe", 6, Some(key_params(&key))))
            .await?;
        let deadline = Instant::now() + BLOB_WITHIN;
        let mut times: u64 = 1;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let raw = client.recv_raw(wait).await?;
            if raw.get(5) == Some(&6) {
                assert_blob(&raw)?;
                break;
            }
            assert_time(&raw)?;
            times += 1;
        }
        // About one time OON a second (spec §9.3).
        let seconds = subscribed.elapsed().as_secs();
        assert!(
            (seconds.saturating_sub(1)..=seconds + 1).contains(&times),
            "{times} time OONs in {seconds} s"
        );

        client
            .send(&notification("logout", 1, Some(key_params(&key))))
            .await?;
        // OONs queued before the logout may come first; then Close 1000.
        loop {
            match client.next(REPLY).await? {
                Incoming::Data(raw) if raw.get(5) == Some(&5) => assert_time(&raw)?,
                Incoming::Data(raw) => assert_blob(&raw)?,
                close @ Incoming::Close(_) => {
                    assert_eq!(close, Incoming::Close(Some((1000, String::new()))));
                    break;
                }
            }
        }
        client.expect_end().await?;
        stop(server).await
    })
    .await?
}

/// The same session from Python: `websockets` and `cbor2`
/// (`tests/python/echo_lapps_session.py`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_lapps_session_from_python() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = default_server(false).await?;
        let url = support::ws_url(server.local_addr(), "/echo_lapps");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/echo_lapps_session.py");
        let output = tokio::process::Command::new("python3")
            .arg(&script)
            .arg(&url)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("cannot run python3 ({e}); ./test.sh installs it"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) => {}
            Some(2) => return Err(format!("a Python package is missing:\n{stderr}").into()),
            status => {
                return Err(format!(
                    "python exited with {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
                )
                .into());
            }
        }
        assert_eq!(
            stdout,
            "ok login\nok echo\nok time OON\nok blob OON\nok logout\nall ok\n"
        );
        wait_until("the Python client's connection is gone", || {
            server.metrics().connections_open("echo_lapps") == 0
        })
        .await?;
        stop(server).await
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// 2. Malformed input (spec §4.5)

/// Every check of spec §4.5 from 2 to 9 gets its exact answer on `cid` 0, and the connection
/// keeps serving: a login after each one is answered.
#[tokio::test]
async fn malformed_requests_get_the_spec_answer_and_the_connection_stays_open() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = default_server(false).await?;
        let mut client = Client::open(server.local_addr(), "/echo_lapps").await?;
        let login = cbor::to_vec(&admin_login());
        let nested = |levels: usize| {
            let mut bytes = vec![0x81; levels];
            bytes.push(0x00);
            bytes
        };
        let with = |members: Value| cbor::to_vec(&members);
        let cases: Vec<(&str, Vec<u8>, Value)> = vec![
            // Check 2: one well-formed CBOR item.
            (
                "0xff 0x00",
                vec![0xff, 0x00],
                parse_error("unexpected break code"),
            ),
            (
                "trailing bytes",
                [login.as_slice(), &[0x00]].concat(),
                parse_error("trailing bytes after the CBOR item"),
            ),
            (
                "a non-text map key",
                vec![0xa1, 0x01, 0x01],
                parse_error("map key is not a text string"),
            ),
            (
                "an integer key in a request",
                [&[0xa4, 0x01, 0x01], &login[1..]].concat(),
                parse_error("map key is not a text string"),
            ),
            (
                "nesting 129",
                nested(129),
                parse_error("nesting deeper than 128 levels"),
            ),
            (
                "truncated",
                login[..login.len() - 1].to_vec(),
                parse_error("unexpected end of input"),
            ),
            (
                "invalid UTF-8",
                vec![0x62, 0xc3, 0x28],
                parse_error("invalid UTF-8 in text string"),
            ),
            ("empty", Vec::new(), parse_error("unexpected end of input")),
            (
                "a simple value",
                vec![0xa1, 0x61, b'a', 0xf0],
                parse_error("unsupported simple value 16"),
            ),
            // Check 3: a map. 128 levels decode: the check after parsing decides.
            (
                "nesting 128",
                nested(128),
                invalid_request("message must be a map"),
            ),
            (
                "an array",
                with(arr([int(1)])),
                invalid_request("message must be a map"),
            ),
            (
                "a number",
                vec![0x05],
                invalid_request("message must be a map"),
            ),
            (
                "a string",
                with(text("login")),
                invalid_request("message must be a map"),
            ),
            // Check 4: lapps is 1.
            (
                "no lapps",
                with(obj([("method", text("login"))])),
                invalid_request("missing member: lapps"),
            ),
            (
                "lapps 2",
                with(obj([("lapps", int(2)), ("method", text("login"))])),
                invalid_request("lapps must be 1"),
            ),
            (
                "lapps \"1\"",
                with(obj([("lapps", text("1")), ("method", text("login"))])),
                invalid_request("lapps must be 1"),
            ),
            (
                "lapps 1.5",
                with(obj([
                    ("lapps", Value::Number(Number::Float(1.5))),
                    ("method", text("login")),
                ])),
                invalid_request("lapps must be 1"),
            ),
            (
                "lapps 2 before a bad method",
                with(obj([("lapps", int(2)), ("method", text("a.b"))])),
                invalid_request("lapps must be 1"),
            ),
            // Checks 5 and 6: method.
            (
                "no method",
                with(obj([("lapps", int(1))])),
                invalid_request("missing member: method"),
            ),
            (
                "an empty method",
                with(obj([("lapps", int(1)), ("method", text(""))])),
                invalid_request("method must be a non-empty string"),
            ),
            (
                "a numeric method",
                with(obj([("lapps", int(1)), ("method", int(7))])),
                invalid_request("method must be a non-empty string"),
            ),
            (
                "a method with a dot",
                with(obj([("lapps", int(1)), ("method", text("echo.x"))])),
                invalid_request("method must not contain '.'"),
            ),
            // Check 7: params is an array.
            (
                "params a map",
                with(obj([
                    ("lapps", int(1)),
                    ("method", text("echo")),
                    ("params", obj([("authkey", text("k"))])),
                ])),
                invalid_request("params must be an array"),
            ),
            (
                "params a string",
                with(obj([
                    ("lapps", int(1)),
                    ("method", text("echo")),
                    ("params", text("x")),
                ])),
                invalid_request("params must be an array"),
            ),
            (
                "params null",
                with(obj([
                    ("lapps", int(1)),
                    ("method", text("echo")),
                    ("params", Value::Null),
                ])),
                invalid_request("params must be an array"),
            ),
            // Check 8: cid is an integer >= 1.
            (
                "cid 0",
                with(notification("subscribe", 0, Some(vec![int(1)]))),
                invalid_request("cid must be an integer >= 1"),
            ),
            (
                "cid -1",
                with(notification("subscribe", -1, Some(vec![int(1)]))),
                invalid_request("cid must be an integer >= 1"),
            ),
            (
                "cid \"x\"",
                with(obj([
                    ("lapps", int(1)),
                    ("method", text("subscribe")),
                    ("cid", text("x")),
                ])),
                invalid_request("cid must be an integer >= 1"),
            ),
            (
                "cid 1.5",
                with(obj([
                    ("lapps", int(1)),
                    ("method", text("subscribe")),
                    ("cid", Value::Number(Number::Float(1.5))),
                ])),
                invalid_request("cid must be an integer >= 1"),
            ),
            (
                "a reserved method with cid 0",
                with(notification("_stats", 0, None)),
                invalid_request("cid must be an integer >= 1"),
            ),
            // Check 9: reserved methods; no data.
            (
                "_stats",
                with(request("_stats", None)),
                failure(-32601, "Method not found", None),
            ),
            (
                "_stats as a notification",
                with(notification("_stats", 3, Some(vec![int(1)]))),
                failure(-32601, "Method not found", None),
            ),
        ];
        for (what, bytes, expected) in &cases {
            client.send_bytes(bytes.clone()).await?;
            assert_eq!(&client.recv().await?, expected, "{what}");
            // Still open, and still in order: the next request is answered.
            client
                .login()
                .await
                .map_err(|e| format!("after {what}: {e}"))?;
        }
        // Pipelined: every case and a login after each, sent at once; the answers come back
        // in request order (spec §4.2).
        let mut answers = Vec::new();
        for (what, bytes, expected) in &cases {
            client.send_bytes(bytes.clone()).await?;
            client.send(&admin_login()).await?;
            answers.push((*what, expected));
        }
        for (what, expected) in answers {
            assert_eq!(&client.recv().await?, expected, "pipelined {what}");
            authkey(&client.recv().await?).map_err(|e| format!("pipelined, after {what}: {e}"))?;
        }
        // Each answer was counted by its code, twice (one by one, then pipelined).
        for code in [-32700, -32600, -32601] {
            let answered = cases
                .iter()
                .filter(|(_, _, answer)| {
                    answer.get("error").and_then(|e| e.get("code")) == Some(&int(code))
                })
                .count();
            let series =
                format!("lapps_protocol_errors_total{{service=\"echo_lapps\",code=\"{code}\"}}");
            assert_eq!(
                sample(&server, &series)?,
                2 * u64::try_from(answered)?,
                "{code}"
            );
        }
        // Integral floats count as integers (a JavaScript encoder sends 1.0).
        let float_lapps = obj([
            ("lapps", Value::Number(Number::Float(1.0))),
            ("method", text("login")),
            (
                "params",
                arr([obj([("user", text("admin")), ("password", text("admin"))])]),
            ),
        ]);
        client.login().await?;
        authkey(&client.call(&float_lapps).await?)?;
        // Check 1: a text frame closes with 1003.
        client.ws.send(Message::text("{\"lapps\": 1}")).await?;
        assert_eq!(
            client.next(REPLY).await?,
            Incoming::Close(Some((
                1003,
                "LAppS protocol requires binary frames".to_owned()
            )))
        );
        client.expect_end().await?;
        assert_eq!(
            sample(
                &server,
                "lapps_lua_errors_total{service=\"echo_lapps\",callback=\"onMessage\"}"
            )
            .unwrap_or(0),
            0
        );
        stop(server).await
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// 3. The echo_lapps error table (spec §9.2)

/// One row of the table: a fresh connection, optionally logged in, sends `message` (with the
/// key when `with_key` holds a key placeholder) and gets `answer`, then Close `code`.
async fn refused(
    addr: SocketAddr,
    log_in: bool,
    message: impl FnOnce(&str) -> Value,
    answer: Value,
    code: u16,
) -> TestResult {
    let mut client = Client::open(addr, "/echo_lapps").await?;
    let key = if log_in {
        client.login().await?
    } else {
        String::new()
    };
    let message = message(&key);
    client.send(&message).await?;
    assert_eq!(client.recv().await?, answer, "{message:?}");
    client
        .expect_close(code)
        .await
        .map_err(|e| format!("{message:?}: {e}").into())
}

#[tokio::test]
async fn echo_lapps_answers_its_error_table() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = default_server(false).await?;
        let addr = server.local_addr();
        let bad_key = "0123456789abcdef";
        let login = |user: &str, password: &str| {
            request(
                "login",
                Some(vec![obj([
                    ("user", text(user)),
                    ("password", text(password)),
                ])]),
            )
        };
        let auth_error = failure(10, "Authentication error", None);
        let invalid_params = failure(-32602, "Invalid params", None);
        let not_authorized = failure(-32000, "Not authorized", None);
        let not_found = failure(-32601, "Method not found", None);

        // Wrong credentials: 10, then close 1000.
        refused(
            addr,
            false,
            |_| login("admin", "nope"),
            auth_error.clone(),
            1000,
        )
        .await?;
        refused(
            addr,
            false,
            |_| login("nobody", "admin"),
            auth_error.clone(),
            1000,
        )
        .await?;
        refused(addr, false, |_| login("guest", "admin"), auth_error, 1000).await?;
        // Malformed login params: −32602, then close 1003.
        for params in [
            vec![text("admin")],
            vec![obj([("user", text("admin"))])],
            vec![obj([("user", int(1)), ("password", text("admin"))])],
            vec![text("admin"), text("admin")],
        ] {
            let invalid = invalid_params.clone();
            refused(
                addr,
                false,
                |_| request("login", Some(params)),
                invalid,
                1003,
            )
            .await?;
        }
        // guest/guest is an account too.
        let mut guest = Client::open(addr, "/echo_lapps").await?;
        authkey(&guest.call(&login("guest", "guest")).await?)?;
        // Echo with a bad key, or before logging in: −32000, then close 1000.
        let echo = |key: &str| request("echo", Some(key_params(key)));
        refused(addr, true, |_| echo(bad_key), not_authorized.clone(), 1000).await?;
        refused(addr, false, |_| echo(bad_key), not_authorized.clone(), 1000).await?;
        refused(
            addr,
            true,
            |_| request("echo", Some(vec![text("not an object")])),
            not_authorized.clone(),
            1000,
        )
        .await?;
        // Subscribe: on cid 7 −32602 and close 1003; with a bad key −32000 and close 1000.
        refused(
            addr,
            true,
            |key| notification("subscribe", 7, Some(key_params(key))),
            invalid_params.clone(),
            1003,
        )
        .await?;
        refused(
            addr,
            true,
            |_| notification("subscribe", 5, Some(key_params(bad_key))),
            not_authorized.clone(),
            1000,
        )
        .await?;
        refused(
            addr,
            false,
            |_| notification("subscribe", 6, Some(key_params(bad_key))),
            not_authorized,
            1000,
        )
        .await?;
        // Logout with a bad key: 20, then close 1000.
        refused(
            addr,
            true,
            |_| notification("logout", 1, Some(key_params(bad_key))),
            failure(20, "Cannot log out", None),
            1000,
        )
        .await?;
        // A CN without params (type 1, also with an empty array): −32600, close 1003.
        let no_cn = failure(
            -32600,
            "This server does not accept Client Notifications without params",
            None,
        );
        refused(
            addr,
            true,
            |_| notification("subscribe", 5, None),
            no_cn.clone(),
            1003,
        )
        .await?;
        refused(
            addr,
            false,
            |_| notification("logout", 2, Some(Vec::new())),
            no_cn,
            1003,
        )
        .await?;
        // Any other method, types 2, 3 and 4: −32601, close 1003.
        refused(
            addr,
            true,
            |key| request("frobnicate", Some(key_params(key))),
            not_found.clone(),
            1003,
        )
        .await?;
        refused(
            addr,
            false,
            |_| request("frobnicate", None),
            not_found.clone(),
            1003,
        )
        .await?;
        refused(
            addr,
            false,
            |_| request("logout", None),
            not_found.clone(),
            1003,
        )
        .await?;
        refused(
            addr,
            true,
            |key| notification("frobnicate", 1, Some(key_params(key))),
            not_found.clone(),
            1003,
        )
        .await?;
        refused(
            addr,
            true,
            |key| notification("echo", 1, Some(key_params(key))),
            not_found,
            1003,
        )
        .await?;
        // login or echo without params (type 3, also with an empty array): −32602, close 1003.
        refused(
            addr,
            false,
            |_| request("login", None),
            invalid_params.clone(),
            1003,
        )
        .await?;
        refused(
            addr,
            false,
            |_| request("login", Some(Vec::new())),
            invalid_params.clone(),
            1003,
        )
        .await?;
        refused(addr, true, |_| request("echo", None), invalid_params, 1003).await?;

        // The guest connection was untouched by all of this.
        let key = authkey(&guest.call(&login("guest", "guest")).await?)?;
        let params = key_params(&key);
        assert_eq!(
            guest.call(&request("echo", Some(params.clone()))).await?,
            success(params)
        );
        guest
            .send(&notification("logout", 1, Some(key_params(&key))))
            .await?;
        guest.expect_close(1000).await?;
        wait_until("every connection is gone", || {
            server.metrics().connections_open("echo_lapps") == 0
        })
        .await?;
        stop(server).await
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// 4. −32603 (spec §3.4)

#[tokio::test]
async fn a_raising_request_handler_gets_internal_error_unless_it_answered() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = probe_server().await?;
        let mut client = Client::open(server.local_addr(), "/lapps_probe").await?;
        let internal = failure(-32603, "Internal error", None);
        let pong = success(vec![text("pong")]);
        let ping = request("ping", None);

        // A request with params (type 4) and without (type 3).
        assert_eq!(
            client.call(&request("raise", Some(vec![int(1)]))).await?,
            internal
        );
        assert_eq!(client.call(&ping).await?, pong);
        assert_eq!(client.call(&request("raise", None)).await?, internal);
        assert_eq!(client.call(&ping).await?, pong);

        // Answered on cid 0 before raising: nothing more; the next message answers the ping.
        assert_eq!(
            client.call(&request("answer_then_raise", None)).await?,
            success(vec![text("answered")])
        );
        assert_eq!(client.call(&ping).await?, pong);

        // An OON is no answer: −32603 follows it.
        assert_eq!(
            client.call(&request("oon_then_raise", None)).await?,
            obj([
                ("cid", int(3)),
                ("message", arr([text("before the error")]))
            ])
        );
        assert_eq!(client.recv().await?, internal);
        assert_eq!(client.call(&ping).await?, pong);

        // A cid 0 message to another connection (round-robin puts it on the other instance)
        // answers nothing here: that connection gets it, this one −32603.
        let mut other = Client::open(server.local_addr(), "/lapps_probe").await?;
        let whoami = client.call(&request("whoami", None)).await?;
        let Some(Value::Array(me)) = whoami.get("result") else {
            return Err(format!("whoami: {whoami:?}").into());
        };
        assert!(matches!(me.as_slice(), [Value::Number(Number::Int(h))] if *h > 0));
        assert_eq!(
            other
                .call(&request("answer_other_then_raise", Some(me.clone())))
                .await?,
            internal
        );
        assert_eq!(
            client.recv().await?,
            success(vec![text("for another connection")])
        );
        assert_eq!(other.call(&ping).await?, pong);
        other.ws.close(None).await?;

        // A notification that raises (types 2 and 1) gets nothing.
        client
            .send(&notification("raise", 9, Some(vec![int(1)])))
            .await?;
        client.send(&notification("raise", 9, None)).await?;
        assert_eq!(client.call(&ping).await?, pong);

        // Every raise ran and was counted: 2 requests, 1 answered, 1 after an OON, 1 after
        // answering another connection, 2 CNs.
        assert_sample(
            &server.metrics().render(),
            "lapps_lua_errors_total{service=\"lapps_probe\",callback=\"onMessage\"} 7",
        );
        // Four of them got −32603.
        assert_eq!(
            sample(
                &server,
                "lapps_protocol_errors_total{service=\"lapps_probe\",code=\"-32603\"}"
            )?,
            4
        );
        client.ws.close(None).await?;
        stop(server).await
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// 5. Outbound validation from Lua (spec §4.6, §3.9)

#[tokio::test]
async fn lua_sends_are_validated_with_exact_messages() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = probe_server().await?;
        let mut client = Client::open(server.local_addr(), "/lapps_probe").await?;
        client.send(&request("outbound", None)).await?;
        // The one valid send arrives first, as sent.
        assert_eq!(client.recv().await?, failure(1, "x", None));
        let ok = || arr([text("true"), text("nil")]);
        let refused = |detail: &str| arr([text("false"), text(detail)]);
        assert_eq!(
            client.recv().await?,
            success(vec![
                ok(),
                refused("invalid LAppS message: status 0 requires cid 0"),
                refused("invalid LAppS message: status 1 with cid 0 requires a result array"),
                refused("invalid LAppS message: cid >= 1 requires a message array"),
                refused("invalid LAppS message: cid 0 requires status 0 or 1"),
                refused("invalid LAppS message: cid must be an integer >= 0"),
                refused(
                    "invalid LAppS message: error must be an object with an integer code and a \
                     string message"
                ),
                refused("invalid LAppS message: status 0 requires cid 0"),
                refused("invalid LAppS message: status must be 1 on cid >= 1"),
                refused("invalid LAppS message: message must be an object"),
                refused("invalid broadcast message: cid must be an integer >= 1"),
                refused("invalid broadcast message: cid >= 1 requires a message array"),
                refused("invalid broadcast message: status must be 1 on cid >= 1"),
                refused("Broadcast with id 99 is not found"),
            ])
        );
        // Refused sends sent nothing: the next message answers the next request.
        assert_eq!(
            client.call(&request("ping", None)).await?,
            success(vec![text("pong")])
        );
        client.ws.close(None).await?;
        stop(server).await
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// 6. Subscriptions end with their connection (spec §3.4, §3.9)

#[tokio::test]
async fn a_dropped_subscriber_leaves_the_channel_and_the_others_still_receive() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = probe_server().await?;
        let addr = server.local_addr();
        let sent = || {
            sample(
                &server,
                "lapps_messages_sent_total{service=\"lapps_probe\"}",
            )
        };
        let subscriptions = || sample(&server, "lapps_bcast_subscriptions");
        let joined = success(vec![text("true"), text("nil")]);
        let cast = obj([("cid", int(8)), ("message", arr([text("cast")]))]);
        let cast_ok = success(vec![text("true"), text("nil")]);

        // Two subscribers, on the two instances.
        let mut dropped = Client::open(addr, "/lapps_probe").await?;
        assert_eq!(dropped.call(&request("join", None)).await?, joined);
        let mut kept = Client::open(addr, "/lapps_probe").await?;
        assert_eq!(kept.call(&request("join", None)).await?, joined);
        // Joining twice is the same as once (spec §3.9).
        assert_eq!(kept.call(&request("join", None)).await?, joined);
        assert_eq!(subscriptions()?, 2);
        assert_eq!(sample(&server, "lapps_bcast_channels")?, 1);

        // Both receive a broadcast: two OONs and the answer.
        let before = sent()?;
        assert_eq!(kept.call(&request("cast", None)).await?, cast);
        assert_eq!(kept.recv().await?, cast_ok);
        assert_eq!(dropped.recv().await?, cast);
        assert_eq!(sent()? - before, 3);

        // One subscriber goes away with a TCP reset, no close handshake.
        dropped.reset()?;
        wait_until("the reset connection is gone", || {
            server.metrics().connections_open("lapps_probe") == 1
        })
        .await?;
        // Its subscription went with it (spec §3.4: before onDisconnect is even queued).
        assert_eq!(subscriptions()?, 1);

        // The send still succeeds and the other subscriber still gets it; only one OON is
        // queued now.
        let before = sent()?;
        assert_eq!(kept.call(&request("cast", None)).await?, cast);
        assert_eq!(kept.recv().await?, cast_ok);
        assert_eq!(sent()? - before, 2);

        // A new subscriber joins the same channel and receives the next one.
        let mut late = Client::open(addr, "/lapps_probe").await?;
        assert_eq!(late.call(&request("join", None)).await?, joined);
        assert_eq!(subscriptions()?, 2);
        assert_eq!(late.call(&request("cast", None)).await?, cast);
        assert_eq!(late.recv().await?, cast_ok);
        assert_eq!(kept.recv().await?, cast);

        kept.ws.close(None).await?;
        late.ws.close(None).await?;
        wait_until("every subscription is gone", || {
            subscriptions().is_ok_and(|n| n == 0)
        })
        .await?;
        assert_eq!(sample(&server, "lapps_bcast_channels")?, 1);
        stop(server).await
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// 7. auto_fragment on broadcasts (spec §5.11, §9.4)

#[tokio::test]
async fn with_auto_fragment_the_blob_arrives_in_1392_byte_frames() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = default_server(true).await?;
        let frames = raw_blob_frames(server.local_addr()).await?;
        let payload = reassemble(&frames);
        let len = payload.len();
        assert!(len >= 2 * FRAGMENT, "the blob is only {len} bytes");
        // n = ⌊L / 1392⌋ frames: n − 1 of 1392 bytes, the last with the rest.
        let n = len / FRAGMENT;
        let shape: Vec<(bool, OpCode, usize)> = frames
            .iter()
            .map(|f| (f.fin, f.opcode, f.payload.len()))
            .collect();
        let mut expected = vec![(false, OpCode::Binary, FRAGMENT)];
        expected.extend(vec![(false, OpCode::Continuation, FRAGMENT); n - 2]);
        expected.push((true, OpCode::Continuation, len - (n - 1) * FRAGMENT));
        assert_eq!(shape, expected);
        let last = len - (n - 1) * FRAGMENT;
        assert!(
            (FRAGMENT..2 * FRAGMENT).contains(&last),
            "last frame {last}"
        );
        assert!(frames.iter().all(|f| f.rsv == 0));
        // Reassembled, it is the whole OON.
        assert_blob(&payload)?;
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn without_auto_fragment_the_blob_is_one_frame() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = default_server(false).await?;
        let frames = raw_blob_frames(server.local_addr()).await?;
        let [frame] = frames.as_slice() else {
            return Err(format!("{} frames", frames.len()).into());
        };
        assert!(frame.fin);
        assert_eq!(frame.opcode, OpCode::Binary);
        assert!(frame.payload.len() >= 2 * FRAGMENT);
        assert_blob(&frame.payload)?;
        stop(server).await
    })
    .await?
}

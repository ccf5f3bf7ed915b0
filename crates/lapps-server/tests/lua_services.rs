//! Lua services end to end, over real sockets: the `echo` example app (spec §9.1),
//! `onDisconnect` on every path that ends a connection (§3.4), `ws:send` and `ws:close`
//! refusals (§3.3, §3.8), `onMessage` failures (§3.4), the balancer strategies (§1.4), waits
//! that block only their own instance (§1.3, §3.11), `mqr` delivery between standalone
//! services (§3.14, §9.5) and the standalone lifecycle (§3.2, §3.5).
//!
//! The apps are `examples/apps/echo` and the test apps in `tests/lua_apps/`; `probe` answers
//! text commands about itself (its header lists them). The test sees `mqr` queues through
//! [`Tap`], a Rust-native standalone service that hands over the server's queue registry.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use lapps_proto::OpCode;
use lapps_server::lua::LuaService;
use lapps_server::lua_host::mqr::{Queue, Queues};
use lapps_server::lua_host::{Kind, StopSignal, Value};
use lapps_server::service::ServiceError;
use lapps_server::standalone::STOP_GRACE;
use lapps_server::{
    InstanceContext, Server, ServerBuilder, ServiceConfig, ServiceState, StandaloneConfig,
    StandaloneService, Strategy,
};
use support::{
    BoxError, MASK, READ_TIMEOUT, RawClient, RequestHead, TIMEOUT, TestResult, Ws, assert_echo,
    stop, ws_connect,
};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, Message};

/// The test apps.
fn test_apps() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lua_apps"))
}

/// The example apps of the repository.
fn example_apps() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/apps"))
}

/// `examples/apps/echo`, the raw echo of spec §9.1.
fn lua_echo() -> LuaService {
    LuaService::new("echo", Kind::Raw, example_apps())
}

/// `tests/lua_apps/probe`.
fn probe() -> LuaService {
    LuaService::new("probe", Kind::Raw, test_apps())
}

/// A standalone test app from `tests/lua_apps`.
fn standalone(name: &str, preload: &[&str]) -> LuaService {
    LuaService::new(name, Kind::Standalone, test_apps()).preload(preload.iter().copied())
}

/// Two workers, and a short `handshake_timeout` so that shutdowns are quick.
fn builder() -> ServerBuilder {
    Server::builder()
        .workers(2)
        .handshake_timeout(Duration::from_secs(2))
}

/// Sends a text command and returns the text reply.
async fn ask(ws: &mut Ws, command: &str) -> Result<String, BoxError> {
    ws.send(Message::text(command)).await?;
    next_text(ws).await
}

/// Reads the next message, which must be text.
async fn next_text(ws: &mut Ws) -> Result<String, BoxError> {
    match timeout(READ_TIMEOUT, ws.next())
        .await?
        .ok_or("the stream ended")??
    {
        Message::Text(text) => Ok(text.as_str().to_owned()),
        other => Err(format!("expected a text message, got {other:?}").into()),
    }
}

/// Reads the next message, which must be the server's Close; returns its code and reason.
async fn next_close(ws: &mut Ws) -> Result<(u16, String), BoxError> {
    match timeout(READ_TIMEOUT, ws.next())
        .await?
        .ok_or("the stream ended")??
    {
        Message::Close(Some(frame)) => {
            Ok((u16::from(frame.code), frame.reason.as_str().to_owned()))
        }
        other => Err(format!("expected a Close, got {other:?}").into()),
    }
}

/// Reads until the stream ends (after a Close handshake).
async fn drain(ws: &mut Ws) -> TestResult {
    loop {
        match timeout(READ_TIMEOUT, ws.next()).await? {
            None | Some(Err(tungstenite::Error::ConnectionClosed)) => return Ok(()),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
        }
    }
}

/// Closes from the client side (1000) and waits for the end of the stream.
async fn close(mut ws: Ws) -> TestResult {
    ws.close(None).await?;
    drain(&mut ws).await
}

/// Asks `command` every 10 ms until the reply is `want`.
///
/// # Errors
///
/// A timeout after 5 s, naming the last reply.
async fn eventually(ws: &mut Ws, command: &str, want: &str) -> TestResult {
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        let got = ask(ws, command).await?;
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{command:?} still answers {got:?}, expected {want:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `len` bytes of a pattern that repeats only every 251 bytes, so that any lost, repeated or
/// reordered chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i % 251).unwrap_or_default())
        .collect()
}

/// Sends `message` and checks that the echo is the same message, byte for byte; reports the
/// first difference rather than printing megabytes.
async fn assert_exact_echo(ws: &mut Ws, message: Message) -> TestResult {
    ws.send(message.clone()).await?;
    let reply = timeout(READ_TIMEOUT, ws.next())
        .await?
        .ok_or("the stream ended before the echo")??;
    let (sent, got) = (message.into_data(), reply.clone().into_data());
    assert!(
        matches!(reply, Message::Binary(_)),
        "a binary message came back as {}",
        if reply.is_text() {
            "text"
        } else {
            "a control frame"
        }
    );
    assert_eq!(got.len(), sent.len(), "the echo has another length");
    let first_difference = sent.iter().zip(got.iter()).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "the echo differs");
    Ok(())
}

/// A Rust-native standalone service that hands the server's `mqr` queues to the test: the
/// Lua services post there, and the test reads what they posted.
struct Tap(Arc<OnceLock<Arc<Queues>>>);

#[async_trait(?Send)]
impl StandaloneService for Tap {
    async fn init(&mut self, ctx: &InstanceContext) -> Result<(), ServiceError> {
        let _ = self.0.set(Arc::clone(ctx.queues()));
        Ok(())
    }

    async fn run(&mut self, ctx: &InstanceContext) -> Result<(), ServiceError> {
        ctx.stop_signal().stopped().await;
        Ok(())
    }
}

/// The `tap` service, and where its queues appear once the server has started.
fn tap() -> (StandaloneConfig, Arc<OnceLock<Arc<Queues>>>) {
    let cell = Arc::new(OnceLock::new());
    let shared = Arc::clone(&cell);
    let config = StandaloneConfig::new(
        "tap",
        move |_: usize| -> Result<Box<dyn StandaloneService>, ServiceError> {
            Ok(Box::new(Tap(Arc::clone(&shared))))
        },
    );
    (config, cell)
}

/// The queue `name` of the server `tap` reached.
fn queue(cell: &OnceLock<Arc<Queues>>, name: &str) -> Result<Arc<Queue>, BoxError> {
    Ok(cell
        .get()
        .ok_or("the tap did not start")?
        .create(name, None)?)
}

/// Takes the next message of `queue`, waiting up to 5 s.
async fn recv(queue: &Queue) -> Result<Value, BoxError> {
    Ok(queue.recv(Some(READ_TIMEOUT), &StopSignal::new()).await?)
}

/// The string member `key` of an object.
fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    match value.get(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The boolean member `key` of an object.
fn boolean(value: &Value, key: &str) -> Option<bool> {
    match value.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

/// Spec §9.1: text comes back as text and binary as binary, empty messages too, 1 MiB and
/// 16 MiB byte for byte; 16 MiB + 1 closes with 1009 and invalid UTF-8 with 1007.
#[tokio::test]
async fn the_lua_echo_echoes_every_message_and_enforces_the_limits() -> TestResult {
    timeout(TIMEOUT, async {
        let server = builder()
            .service(
                ServiceConfig::new("echo", lua_echo())
                    .instances(4)
                    .max_message_size(16 << 20),
            )
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let mut ws = ws_connect(addr, "/echo").await?;
        for message in [
            Message::text("hello κόσμε"),
            Message::binary(vec![0u8, 1, 2, 0xff]),
            Message::text(""),
            Message::binary(Vec::new()),
            Message::text("ü".repeat(1 << 19)),
        ] {
            assert_echo(&mut ws, message).await?;
        }
        assert_exact_echo(&mut ws, Message::binary(pattern(1 << 20))).await?;
        assert_exact_echo(&mut ws, Message::binary(pattern(16 << 20))).await?;
        close(ws).await?;

        // One byte over the limit: the frame header alone gets the 1009.
        let mut raw = RawClient::open(addr, "/echo").await?;
        raw.write(&[0x82, 0x80 | 127]).await?;
        raw.write(&((16u64 << 20) + 1).to_be_bytes()).await?;
        raw.write(&MASK).await?;
        let (before, close) = raw.read_until_close().await?;
        assert_eq!(before.len(), 0);
        assert_eq!(
            close,
            Some((
                1009,
                "frame payload exceeds max_frame_size (16777216 bytes)".to_owned()
            ))
        );
        raw.expect_eof().await?;

        let mut raw = RawClient::open(addr, "/echo").await?;
        raw.send_frame(true, OpCode::Text, b"valid, then \xff")
            .await?;
        let (before, close) = raw.read_until_close().await?;
        assert_eq!(before.len(), 0);
        assert_eq!(
            close,
            Some((1007, "invalid UTF-8 in text message".to_owned()))
        );
        raw.expect_eof().await?;
        stop(server).await
    })
    .await?
}

/// Spec §3.4: `onDisconnect` runs exactly once for a TCP reset, a client Close and a
/// `ws:close`; after `ws:close` the handler is stale at once.
#[tokio::test]
async fn on_disconnect_runs_exactly_once_on_every_path() -> TestResult {
    timeout(TIMEOUT, async {
        let server = builder()
            .service(ServiceConfig::new("probe", probe()))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let mut observer = ws_connect(addr, "/probe").await?;
        assert_eq!(ask(&mut observer, "count").await?, "0");

        // An abrupt reset: SO_LINGER 0, then the socket is dropped without a Close.
        let mut raw = RawClient::open(addr, "/probe").await?;
        raw.send_frame(true, OpCode::Text, b"whoami").await?;
        let reset = String::from_utf8(raw.read_frame().await?.payload.to_vec())?;
        socket2::SockRef::from(&raw.stream).set_linger(Some(Duration::ZERO))?;
        drop(raw);
        eventually(&mut observer, &format!("seen {reset}"), "1").await?;

        // The client's Close.
        let mut ws = ws_connect(addr, "/probe").await?;
        let normal = ask(&mut ws, "whoami").await?;
        close(ws).await?;
        eventually(&mut observer, &format!("seen {normal}"), "1").await?;

        // The service's ws:close.
        let mut ws = ws_connect(addr, "/probe").await?;
        let closed = ask(&mut ws, "whoami").await?;
        ws.send(Message::text("close")).await?;
        assert_eq!(next_close(&mut ws).await?, (4000, "bye".to_owned()));
        drain(&mut ws).await?;
        eventually(&mut observer, &format!("seen {closed}"), "1").await?;
        assert_eq!(
            ask(&mut observer, &format!("note {closed}")).await?,
            "true, then false connection closed"
        );

        // Give a duplicate time to show, then count again.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for handler in [&reset, &normal, &closed] {
            assert_eq!(ask(&mut observer, &format!("seen {handler}")).await?, "1");
        }
        assert_eq!(ask(&mut observer, "count").await?, "3");
        let handlers = [&reset, &normal, &closed];
        assert!(
            handlers
                .iter()
                .all(|h| h.parse::<u64>().is_ok_and(|h| h > 0)),
            "handlers are positive integers: {handlers:?}"
        );
        close(observer).await?;
        stop(server).await
    })
    .await?
}

/// Spec §3.3 and §3.8: a send to a handler whose connection closed, or that never existed,
/// returns `false, "connection closed"`; a bad opcode, invalid UTF-8 text and a reserved
/// close code are refused with their messages, and the connection stays open.
#[tokio::test]
async fn refused_sends_and_closes_return_the_spec_messages() -> TestResult {
    timeout(TIMEOUT, async {
        let server = builder()
            .service(ServiceConfig::new("probe", probe()))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let mut kept = ws_connect(addr, "/probe").await?;
        assert_eq!(ask(&mut kept, "store").await?, "stored");
        let kept_handler = ask(&mut kept, "whoami").await?;
        let mut other = ws_connect(addr, "/probe").await?;
        let other_handler = ask(&mut other, "whoami").await?;

        // While the stored connection is open, the send reaches it.
        assert_eq!(ask(&mut other, "send_stored").await?, "true nil");
        assert_eq!(
            next_text(&mut kept).await?,
            format!("hello from {other_handler}")
        );
        close(kept).await?;
        eventually(&mut other, &format!("seen {kept_handler}"), "1").await?;
        assert_eq!(
            ask(&mut other, "send_stored").await?,
            "false connection closed"
        );
        assert_eq!(
            ask(&mut other, "send_unknown").await?,
            "false connection closed"
        );
        assert_eq!(ask(&mut other, "bad_opcode").await?, "false invalid opcode");
        assert_eq!(
            ask(&mut other, "bad_utf8").await?,
            "false invalid UTF-8 in text message"
        );
        assert_eq!(
            ask(&mut other, "bad_close").await?,
            "false invalid close code"
        );
        // Nothing of that closed or disturbed the asking connection.
        assert_eq!(ask(&mut other, "still here").await?, "still here");
        assert_eq!(ask(&mut other, "count").await?, "1");
        close(other).await?;
        stop(server).await
    })
    .await?
}

/// Spec §3.4: `onMessage` returning `false` or raising closes that connection with 1011;
/// the instance keeps serving its other connections and new ones.
#[tokio::test]
async fn on_message_false_or_raising_closes_1011_and_the_instance_survives() -> TestResult {
    timeout(TIMEOUT, async {
        let server = builder()
            .service(ServiceConfig::new("probe", probe()).instances(1))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let mut bystander = ws_connect(addr, "/probe").await?;
        let instance = ask(&mut bystander, "id").await?;

        for command in ["false", "raise"] {
            let mut failing = ws_connect(addr, "/probe").await?;
            assert_eq!(ask(&mut failing, "id").await?, instance);
            failing.send(Message::text(command)).await?;
            assert_eq!(
                next_close(&mut failing).await?,
                (1011, "internal error".to_owned()),
                "after {command:?}"
            );
            drain(&mut failing).await?;
            assert_eq!(ask(&mut bystander, "ping").await?, "ping");
        }
        // Same instance, still serving: the bystander, and a new connection.
        assert_eq!(ask(&mut bystander, "id").await?, instance);
        let mut fresh = ws_connect(addr, "/probe").await?;
        assert_eq!(ask(&mut fresh, "id").await?, instance);
        eventually(&mut bystander, "count", "2").await?;
        assert_eq!(server.service_state("probe"), Some(ServiceState::Running));
        // The raise is a Lua error, counted; returning false is not.
        support::assert_sample(
            &server.metrics().render(),
            r#"lapps_lua_errors_total{service="probe",callback="onMessage"} 1"#,
        );
        close(fresh).await?;
        close(bystander).await?;
        stop(server).await
    })
    .await?
}

/// Connects `n` clients to `/probe` and returns them with the `instance_id` each is bound
/// to, asked only after all of them connected.
async fn bound_clients(
    addr: std::net::SocketAddr,
    n: usize,
) -> Result<Vec<(String, Ws)>, BoxError> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(ws_connect(addr, "/probe").await?);
    }
    let mut bound = Vec::with_capacity(n);
    for mut ws in clients {
        bound.push((ask(&mut ws, "id").await?, ws));
    }
    Ok(bound)
}

/// Counts the clients per instance.
fn per_instance(clients: &[(String, Ws)]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for (id, _) in clients {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    counts
}

/// Spec §1.4 `round_robin`: 400 connections over 4 instances, 100 each, in cycle order.
#[tokio::test]
async fn round_robin_binds_connections_in_cycle_order() -> TestResult {
    timeout(TIMEOUT, async {
        let server = builder()
            .service(
                ServiceConfig::new("probe", probe())
                    .instances(4)
                    .balancer(Strategy::RoundRobin),
            )
            .bind("127.0.0.1:0")
            .await?;
        let clients = bound_clients(server.local_addr(), 400).await?;
        let counts = per_instance(&clients);
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), [100; 4]);
        for (i, (id, _)) in clients.iter().enumerate() {
            assert_eq!(id, &clients[i % 4].0, "connection {i}");
        }
        let cycle: Vec<String> = clients[..4].iter().map(|(id, _)| id.clone()).collect();

        // Load does not matter: with 99 of the first instance's 100 connections gone, the
        // next four still go round the cycle (least_connections would bind all four there).
        let mut kept = Vec::new();
        let mut closed = 0;
        for (id, ws) in clients {
            if id == cycle[0] && closed < 99 {
                close(ws).await?;
                closed += 1;
            } else {
                kept.push((id, ws));
            }
        }
        let last = kept
            .iter_mut()
            .find(|(id, _)| *id == cycle[0])
            .map(|(_, ws)| ws)
            .ok_or("no client left")?;
        eventually(last, "live", "1").await?;
        let next = bound_clients(server.local_addr(), 4).await?;
        assert_eq!(
            next.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
            cycle
        );
        drop((kept, next));
        stop(server).await
    })
    .await?
}

/// Spec §1.4 `least_connections`: after closes, new connections go to the least loaded
/// instance, ties round-robin.
#[tokio::test]
async fn least_connections_fills_the_least_loaded_instances_first() -> TestResult {
    timeout(TIMEOUT, async {
        let server = builder()
            .service(
                ServiceConfig::new("probe", probe())
                    .instances(4)
                    .balancer(Strategy::LeastConnections),
            )
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let mut clients = bound_clients(addr, 12).await?;
        let counts = per_instance(&clients);
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), [3; 4]);
        // The third and fourth instances in binding order: round-robin, whose cursor is
        // back at the first, would pick otherwise.
        let (a, b) = (clients[2].0.clone(), clients[3].0.clone());

        // Close two connections of instance a and one of b: loads 1, 2, 3, 3.
        for id in [&a, &a, &b] {
            let i = clients
                .iter()
                .position(|(bound, _)| bound == id)
                .ok_or("no client left")?;
            close(clients.swap_remove(i).1).await?;
        }
        // Once each instance has run onDisconnect it has also unbound the connection.
        for (id, live) in [(&a, "1"), (&b, "2")] {
            let ws = clients
                .iter_mut()
                .find(|(bound, _)| bound == id)
                .map(|(_, ws)| ws)
                .ok_or("no client left")?;
            eventually(ws, "live", live).await?;
        }

        let fresh = bound_clients(addr, 1).await?;
        assert_eq!(fresh[0].0, a, "the least loaded instance");
        let next = bound_clients(addr, 2).await?;
        let mut tied: Vec<&String> = next.iter().map(|(id, _)| id).collect();
        tied.sort();
        let mut want = [&a, &b];
        want.sort();
        assert_eq!(tied, want, "a and b tie at 2");
        let last = bound_clients(addr, 4).await?;
        assert_eq!(
            per_instance(&last).values().copied().collect::<Vec<_>>(),
            [1; 4],
            "all four tie at 3"
        );
        drop((clients, fresh, next, last));
        stop(server).await
    })
    .await?
}

/// Spec §1.4 `weighted` with `connection_weight` 2: an instance with one connection and three
/// queued messages scores 1 × 2 + 3 = 5, so it gets a new connection only once every other
/// instance has 3 (score 6). (`least_connections` would bind one to it among the first four,
/// and weight 1 would give it a score of 4, losing to the others at 3.)
#[tokio::test]
async fn weighted_counts_queued_messages_against_weighted_connections() -> TestResult {
    timeout(TIMEOUT, async {
        let server = builder()
            .service(
                ServiceConfig::new("probe", probe().preload(["nap"]))
                    .instances(4)
                    .balancer(Strategy::Weighted {
                        connection_weight: 2.0,
                    }),
            )
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let mut busy = ws_connect(addr, "/probe").await?;
        let busy_id = ask(&mut busy, "id").await?;
        // One message in progress (a 3 s nap) and two behind it: three queued events.
        for command in ["sleep 3", "id", "id"] {
            busy.send(Message::text(command)).await?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut fresh = Vec::new();
        for _ in 0..10 {
            fresh.push(ws_connect(addr, "/probe").await?);
        }
        // Only now is anything sent on them, so the picks saw no queue but the busy one's.
        for want in ["slept", &busy_id, &busy_id] {
            assert_eq!(next_text(&mut busy).await?, want);
        }
        let mut ids = Vec::new();
        for ws in &mut fresh {
            ids.push(ask(ws, "id").await?);
        }
        let (first, tenth) = ids.split_at(9);
        assert!(
            !first.contains(&busy_id),
            "the busy instance got one of the first nine: {ids:?}"
        );
        let mut others = BTreeMap::new();
        for id in first {
            *others.entry(id).or_insert(0) += 1;
        }
        assert_eq!(others.values().copied().collect::<Vec<_>>(), [3; 3]);
        assert_eq!(tenth, [busy_id]);
        drop(fresh);
        close(busy).await?;
        stop(server).await
    })
    .await?
}

/// Spec §1.3 and §3.11: a `nap` sleep in one service's `onMessage` delays neither another
/// service on the same worker nor network I/O, only the sleeping instance's own connections.
#[tokio::test]
async fn a_nap_blocks_only_its_own_instance() -> TestResult {
    timeout(TIMEOUT, async {
        let server = Server::builder()
            .workers(1)
            .handshake_timeout(Duration::from_secs(2))
            .service(ServiceConfig::new("probe", probe().preload(["nap"])))
            .service(ServiceConfig::new("echo", lua_echo()))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let mut sleeper = ws_connect(addr, "/probe").await?;
        let mut neighbour = ws_connect(addr, "/probe").await?;
        let mut other = ws_connect(addr, "/echo").await?;
        let instance = ask(&mut neighbour, "id").await?;

        let started = Instant::now();
        sleeper.send(Message::text("sleep 1")).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let asked = Instant::now();
        assert_echo(&mut other, Message::text("still awake?")).await?;
        let round_trip = asked.elapsed();
        assert!(
            round_trip < Duration::from_millis(500),
            "the echo took {round_trip:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the echo came only after the nap"
        );
        // A connection bound to the sleeping instance waits for it.
        assert_eq!(ask(&mut neighbour, "id").await?, instance);
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(next_text(&mut sleeper).await?, "slept");
        let slept = started.elapsed();
        assert!(slept >= Duration::from_secs(1), "the nap lasted {slept:?}");
        close(sleeper).await?;
        close(neighbour).await?;
        close(other).await?;
        stop(server).await
    })
    .await?
}

/// Spec §3.14 and §9.5: 2000 numbered messages from a standalone producer reach two consumer
/// instances, each exactly once, and both consumers take some.
#[tokio::test]
async fn mqr_delivers_every_message_exactly_once_across_consumers() -> TestResult {
    const N: usize = 2000; // what tests/lua_apps/producer posts
    timeout(TIMEOUT, async {
        let (tap, queues) = tap();
        let server = builder()
            .standalone(tap)
            .standalone(
                StandaloneConfig::new("consumer", standalone("consumer", &["mqr", "nap"]))
                    .instances(2),
            )
            .standalone(
                StandaloneConfig::new("producer", standalone("producer", &["mqr"]))
                    .depends(["consumer"]),
            )
            .bind("127.0.0.1:0")
            .await?;
        let received = queue(&queues, "received")?;
        let mut times = vec![0usize; N + 1];
        let mut per_consumer: BTreeMap<String, usize> = BTreeMap::new();
        for _ in 0..N {
            let message = recv(&received).await?;
            let id = message
                .get("id")
                .and_then(Value::as_i64)
                .and_then(|id| usize::try_from(id).ok())
                .filter(|id| (1..=N).contains(id))
                .ok_or_else(|| format!("a message without a valid id: {message:?}"))?;
            times[id] += 1;
            let consumer = text(&message, "consumer").ok_or("no consumer")?;
            *per_consumer.entry(consumer.to_owned()).or_default() += 1;
        }
        let wrong: Vec<(usize, usize)> = times
            .iter()
            .copied()
            .enumerate()
            .skip(1)
            .filter(|&(_, n)| n != 1)
            .collect();
        assert_eq!(wrong, [], "ids not received exactly once (id, times)");
        // Nothing more comes.
        let extra = received
            .recv(Some(Duration::from_millis(300)), &StopSignal::new())
            .await;
        assert!(extra.is_err(), "an extra message: {extra:?}");
        assert_eq!(queue(&queues, "numbers")?.len(), 0);
        assert_eq!(per_consumer.len(), 2, "{per_consumer:?}");
        assert!(
            per_consumer.values().all(|&n| n > 0),
            "a consumer got nothing: {per_consumer:?}"
        );
        stop(server).await
    })
    .await?
}

/// Spec §3.5: `must_stop()` is false while `run` runs; on shutdown it turns true and the
/// `nap` in progress returns `false` at once, so the whole shutdown takes well under 2 s.
#[tokio::test]
async fn a_standalone_service_napping_stops_promptly() -> TestResult {
    timeout(TIMEOUT, async {
        let (tap, queues) = tap();
        let server = builder()
            .standalone(tap)
            .standalone(StandaloneConfig::new(
                "sleeper",
                standalone("sleeper", &["nap", "mqr"]),
            ))
            .bind("127.0.0.1:0")
            .await?;
        let report = queue(&queues, "sleeper")?;
        let started = recv(&report).await?;
        assert_eq!(text(&started, "event"), Some("run"));
        assert_eq!(boolean(&started, "must_stop"), Some(false));
        assert_eq!(server.service_state("sleeper"), Some(ServiceState::Running));
        // Let run() reach its 30 s nap.
        tokio::time::sleep(Duration::from_millis(200)).await;

        let stopping = Instant::now();
        stop(server).await?;
        let took = stopping.elapsed();
        assert!(took < Duration::from_secs(2), "the shutdown took {took:?}");
        let stopped = recv(&report).await?;
        assert_eq!(text(&stopped, "event"), Some("stopped"));
        assert_eq!(boolean(&stopped, "must_stop"), Some(true));
        assert_eq!(
            boolean(&stopped, "full"),
            Some(false),
            "the nap was cut short"
        );
        Ok(())
    })
    .await?
}

/// The spinner test app, which never looks at `must_stop()`.
const SPINNER: &str = include_str!("lua_apps/spinner/spinner.lua");

/// Spec §3.5 steps 3–4: a `run` that spins without looking at `must_stop()` gets
/// [`STOP_GRACE`], then is interrupted with "instance stopped", raised again after it
/// catches the first one. The shutdown ends within the interrupt's grace, not at its end
/// (a thread abandoned after [`lapps_server::standalone::INTERRUPT_GRACE`] would take 15 s).
async fn assert_spinner_interrupted(source: String) -> TestResult {
    let (tap, queues) = tap();
    let server = builder()
        .standalone(tap)
        .standalone(StandaloneConfig::new(
            "spinner",
            LuaService::from_source("spinner", Kind::Standalone, source).preload(["mqr"]),
        ))
        .bind("127.0.0.1:0")
        .await?;
    let report = queue(&queues, "spinner")?;
    assert_eq!(text(&recv(&report).await?, "event"), Some("run"));
    assert_eq!(server.service_state("spinner"), Some(ServiceState::Running));

    let stopping = Instant::now();
    server.shutdown_handle().shutdown();
    timeout(Duration::from_secs(17), server).await??;
    let took = stopping.elapsed();
    let caught = report.try_recv();
    assert!(
        took >= STOP_GRACE && took < STOP_GRACE + Duration::from_secs(4),
        "the shutdown took {took:?}; the spinner reported {caught:?}"
    );
    let caught = caught.ok_or("the spinner did not catch the interrupt")?;
    assert_eq!(text(&caught, "event"), Some("caught"));
    let error = text(&caught, "error").unwrap_or_default();
    assert!(error.contains("instance stopped"), "caught {error:?}");
    Ok(())
}

/// The interrupt of a spinning `run` as services write it. Standalone VMs start with the JIT
/// off (docs/decisions/0004), so the count hook sees the loop. This test takes the 10 s stop
/// grace.
#[tokio::test]
async fn a_run_that_ignores_the_stop_is_interrupted() -> TestResult {
    timeout(TIMEOUT, assert_spinner_interrupted(SPINNER.to_owned())).await?
}

/// Spec §3.2 and §2.6: an `init` that raises fails its service, and the services that depend
/// on it fail without starting; a reactive one answers 503. Others are unaffected.
#[tokio::test]
async fn an_init_error_fails_the_service_and_its_dependents() -> TestResult {
    const BAD_INIT: &str = "local bad_init = {}\n\
        function bad_init.init() error('init fails on purpose') end\n\
        function bad_init.run() end\n\
        return bad_init\n";
    timeout(TIMEOUT, async {
        let server = builder()
            .standalone(StandaloneConfig::new(
                "bad_init",
                LuaService::from_source("bad_init", Kind::Standalone, BAD_INIT),
            ))
            .standalone(
                StandaloneConfig::new("sleeper", standalone("sleeper", &["nap", "mqr"]))
                    .depends(["bad_init"]),
            )
            .service(ServiceConfig::new("probe", probe()).depends(["bad_init"]))
            .service(ServiceConfig::new("echo", lua_echo()))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        assert_eq!(server.service_state("bad_init"), Some(ServiceState::Failed));
        assert_eq!(server.service_state("sleeper"), Some(ServiceState::Failed));
        assert_eq!(server.service_state("probe"), Some(ServiceState::Failed));
        assert_eq!(server.service_state("echo"), Some(ServiceState::Running));
        assert_service_unavailable(addr, "/probe").await?;
        let mut ws = ws_connect(addr, "/echo").await?;
        assert_echo(&mut ws, Message::text("unaffected")).await?;
        close(ws).await?;
        stop(server).await
    })
    .await?
}

/// Spec §3.2 step 6: a reactive module without `onMessage` fails its service, whose route
/// answers 503.
#[tokio::test]
async fn a_reactive_service_without_on_message_fails() -> TestResult {
    const SILENT: &str = "local silent = {}\n\
        function silent.onStart() end\n\
        return silent\n";
    timeout(TIMEOUT, async {
        let server = builder()
            .service(ServiceConfig::new(
                "silent",
                LuaService::from_source("silent", Kind::Raw, SILENT),
            ))
            .bind("127.0.0.1:0")
            .await?;
        assert_eq!(server.service_state("silent"), Some(ServiceState::Failed));
        assert_service_unavailable(server.local_addr(), "/silent").await?;
        stop(server).await
    })
    .await?
}

/// Checks that an upgrade to `target` gets 503 "service unavailable".
async fn assert_service_unavailable(addr: std::net::SocketAddr, target: &str) -> TestResult {
    let mut client = RawClient::connect(addr).await?;
    let response = client.request(&RequestHead::upgrade(target)).await?;
    assert_eq!(response.status_line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(response.text(), "service unavailable\n");
    Ok(())
}

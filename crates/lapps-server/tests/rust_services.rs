//! Rust-native services beside Lua ones (spec §3.17): a LAppS reactive service in Rust, a Rust
//! standalone service, and a Lua service sharing the `bcast` channels and `mqr` queues.

#![allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario reads best in one piece"
)]

mod support;

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use lapps_proto::lapps::{Object, Value, cbor};
use lapps_server::lua::LuaService;
use lapps_server::lua_host::Kind;
use lapps_server::service::{
    ConnectionId, Disposition, Inbound, MsgType, Protocol, ReactiveService, Request, ServiceError,
};
use lapps_server::{
    InstanceContext, ServiceConfig, ServiceState, StandaloneConfig, StandaloneService,
};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{READ_TIMEOUT, TIMEOUT, TestResult, Ws, stop, ws_connect};

fn object(members: &[(&str, Value)]) -> Value {
    Value::Object(
        members
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<Object>(),
    )
}

/// Answers requests with their params and subscribes a `join` notification to channel 7.
struct Mirror;

#[async_trait(?Send)]
impl ReactiveService for Mirror {
    async fn on_message(
        &mut self,
        _: &InstanceContext,
        _: ConnectionId,
        _: Inbound,
    ) -> Disposition {
        Disposition::Close
    }

    async fn on_request(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        request: Request,
    ) -> Result<Disposition, ServiceError> {
        let method = request.message.get("method").cloned();
        match request.msg_type {
            MsgType::NotificationWithParams if method == Some(Value::from("join")) => {
                ctx.bcast_subscribe(7, conn)?;
            }
            MsgType::RequestWithParams if method == Some(Value::from("panic")) => {
                panic!("a bug in a Rust service");
            }
            MsgType::RequestWithParams => {
                let params = request.message.get("params").cloned().unwrap_or_default();
                ctx.send_lapps(
                    conn,
                    &object(&[
                        ("cid", Value::from(0)),
                        ("status", Value::from(1)),
                        ("result", params),
                    ]),
                )?;
            }
            _ => return Err("unexpected message".into()),
        }
        Ok(Disposition::Keep)
    }
}

/// Creates channel 7, then broadcasts a counter on it and posts it to the queue `ticks`
/// every 20 ms until told to stop.
struct Ticker;

#[async_trait(?Send)]
impl StandaloneService for Ticker {
    async fn init(&mut self, ctx: &InstanceContext) -> Result<(), ServiceError> {
        ctx.bcast_create(7);
        Ok(())
    }

    async fn run(&mut self, ctx: &InstanceContext) -> Result<(), ServiceError> {
        let queue = ctx.queues().create("ticks", Some(16))?;
        let mut n = 0_i64;
        while !ctx.must_stop() {
            n += 1;
            let message = object(&[
                ("cid", Value::from(3)),
                ("message", Value::Array(vec![Value::from(n)])),
            ]);
            ctx.bcast_send(7, &message)?;
            let _ = queue.post(Value::from(n)); // full: the Lua side is not reading
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
                () = ctx.stop_signal().stopped() => {}
            }
        }
        Ok(())
    }
}

/// A Lua service that hands out what the Rust ticker posted.
const DRAIN: &str = r"
local drain = {}
local queue = mqr.create('ticks')
function drain.onMessage(handler, opcode, message)
  local tick = queue:recv(2000)
  return ws:send(handler, 1, tostring(tick))
end
return drain
";

async fn next_binary(ws: &mut Ws) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    loop {
        match tokio::time::timeout(READ_TIMEOUT, ws.next())
            .await?
            .ok_or("ended")??
        {
            Message::Binary(data) => return Ok(cbor::decode(&data)?),
            Message::Ping(_) | Message::Pong(_) => {}
            other => return Err(format!("expected a binary message, got {other:?}").into()),
        }
    }
}

#[tokio::test]
async fn rust_and_lua_services_share_channels_and_queues() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = lapps_server::Server::builder()
            .workers(2)
            .handshake_timeout(Duration::from_secs(2))
            .service(
                ServiceConfig::new("mirror", |_| {
                    Ok(Box::new(Mirror) as Box<dyn ReactiveService>)
                })
                .protocol(Protocol::LAppS)
                .depends(["ticker"]),
            )
            .service(ServiceConfig::new(
                "drain",
                LuaService::from_source("drain", Kind::Raw, DRAIN).preload(["mqr"]),
            ))
            .standalone(StandaloneConfig::new("ticker", |_| {
                Ok(Box::new(Ticker) as Box<dyn StandaloneService>)
            }))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        assert_eq!(server.service_state("ticker"), Some(ServiceState::Running));
        assert_eq!(server.service_state("mirror"), Some(ServiceState::Running));

        // A request gets its params back through send_lapps.
        let mut ws = ws_connect(addr, "/mirror").await?;
        let request = object(&[
            ("lapps", Value::from(1)),
            ("method", Value::from("echo")),
            (
                "params",
                Value::Array(vec![Value::from("a"), Value::from(2)]),
            ),
        ]);
        ws.send(Message::binary(cbor::to_vec(&request))).await?;
        assert_eq!(
            next_binary(&mut ws).await?,
            object(&[
                ("cid", Value::from(0)),
                (
                    "result",
                    Value::Array(vec![Value::from("a"), Value::from(2)])
                ),
                ("status", Value::from(1)),
            ])
        );

        // A panic on a request: −32603 without details, and the connection stays open.
        let panic = object(&[
            ("lapps", Value::from(1)),
            ("method", Value::from("panic")),
            ("params", Value::Array(vec![Value::Null])),
        ]);
        ws.send(Message::binary(cbor::to_vec(&panic))).await?;
        assert_eq!(
            next_binary(&mut ws).await?,
            object(&[
                ("cid", Value::from(0)),
                (
                    "error",
                    object(&[
                        ("code", Value::from(-32603)),
                        ("message", Value::from("Internal error")),
                    ])
                ),
                ("status", Value::from(0)),
            ])
        );

        // Subscribed by the Rust reactive service, fed by the Rust standalone one.
        let join = object(&[
            ("lapps", Value::from(1)),
            ("method", Value::from("join")),
            ("params", Value::Array(vec![Value::from(true)])),
            ("cid", Value::from(3)),
        ]);
        ws.send(Message::binary(cbor::to_vec(&join))).await?;
        let first = next_binary(&mut ws).await?;
        let second = next_binary(&mut ws).await?;
        let tick = |v: &Value| match v.get("message") {
            Some(Value::Array(items)) => items.first().and_then(Value::as_i64),
            _ => None,
        };
        assert_eq!(first.get("cid"), Some(&Value::from(3)));
        let (a, b) = (
            tick(&first).ok_or("no tick")?,
            tick(&second).ok_or("no tick")?,
        );
        assert_eq!(b, a + 1, "{first:?} then {second:?}");

        // The Lua service reads the queue the Rust service posts to: ticks from 1 in order.
        let mut lua = ws_connect(addr, "/drain").await?;
        for expected in 1..=3 {
            lua.send(Message::text("next")).await?;
            let reply = tokio::time::timeout(READ_TIMEOUT, lua.next())
                .await?
                .ok_or("ended")??;
            assert_eq!(reply, Message::text(expected.to_string()));
        }

        let started = std::time::Instant::now();
        stop(server).await?;
        // The ticker wakes from its sleep on the stop signal; no 10 s grace is needed.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .await?
}

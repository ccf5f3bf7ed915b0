//! The metrics of Lua services (spec §8.2) scraped from `GET /metrics` with exact values:
//! server-generated LAppS errors by code, callback errors, service states, per-instance
//! connections and queue depths, the broadcast registry's size and `mqr` queue depths, with
//! label values escaped as the Prometheus text format requires.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lapps_proto::lapps::{Object, Value, cbor};
use lapps_server::lua::LuaService;
use lapps_server::lua_host::Kind;
use lapps_server::service::Protocol;
use lapps_server::{Server, ServerBuilder, ServiceConfig, ServiceState, StandaloneConfig};
use support::{
    BoxError, READ_TIMEOUT, TIMEOUT, TestResult, Ws, assert_sample, http_get, samples, stop,
    wait_until, ws_connect,
};
use tokio_tungstenite::tungstenite::Message;

/// A LAppS service: `raise` raises, `join` subscribes the connection to channel 5 (created by
/// `onStart`) and answers, anything else is answered with its params.
const LAPPS: &str = r#"
local svc = {}

function svc.onStart()
  bcast:create(5)
end

function svc.onMessage(handler, msg_type, request)
  if request.method == "raise" then
    error("metrics_lua: raised on purpose")
  elseif request.method == "join" then
    local ok, err = bcast:subscribe(5, handler)
    return ws:send(handler, { cid = 0, status = 1, result = { tostring(ok), tostring(err) } })
  end
  return ws:send(handler, { cid = 0, status = 1, result = request.params or { 0 } })
end

return svc
"#;

/// A LAppS service whose `onStart` raises: it never runs.
const BROKEN: &str = r#"
local svc = {}

function svc.onStart()
  error("metrics_lua: no start today")
end

function svc.onMessage(handler, msg_type, request)
  return true
end

return svc
"#;

/// A standalone service that posts 5 messages to the queue `q`, which nobody reads, then one
/// to a queue whose name needs escaping, then sleeps until it must stop.
const POSTER: &str = r#"
local poster = {}

function poster.init()
end

function poster.run()
  local q = mqr.create("q")
  for i = 1, 5 do
    local ok, err = q:post({ n = i })
    if not ok then
      error("post " .. i .. ": " .. tostring(err))
    end
  end
  local ok, err = mqr.create('we"ird\\name\nnext'):post({ done = true })
  if not ok then
    error("post done: " .. tostring(err))
  end
  local pause = nap:new()
  while not must_stop() do
    pause:sleep(30)
  end
end

return poster
"#;

fn lapps_service(name: &str, source: &str) -> ServiceConfig {
    ServiceConfig::new(name, LuaService::from_source(name, Kind::Lapps, source))
        .protocol(Protocol::LAppS)
}

fn builder() -> ServerBuilder {
    Server::builder()
        .workers(2)
        .handshake_timeout(Duration::from_secs(2))
        .metrics(true)
}

fn object(members: &[(&str, Value)]) -> Value {
    Value::Object(
        members
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<Object>(),
    )
}

fn request(method: &str) -> Vec<u8> {
    cbor::to_vec(&object(&[
        ("lapps", Value::from(1)),
        ("method", Value::from(method)),
        ("params", Value::Array(vec![Value::from(1)])),
    ]))
}

/// Sends `payload` as a binary message and returns the decoded reply.
async fn exchange(ws: &mut Ws, payload: Vec<u8>) -> Result<Value, BoxError> {
    ws.send(Message::binary(payload)).await?;
    loop {
        match tokio::time::timeout(READ_TIMEOUT, ws.next())
            .await?
            .ok_or("the stream ended")??
        {
            Message::Binary(data) => return Ok(cbor::decode(&data)?),
            Message::Ping(_) | Message::Pong(_) => {}
            other => return Err(format!("expected a binary message, got {other:?}").into()),
        }
    }
}

/// The `error.code` of a LAppS error response.
fn error_code(reply: &Value) -> Option<i64> {
    reply.get("error")?.get("code")?.as_i64()
}

async fn scrape(addr: SocketAddr) -> Result<String, BoxError> {
    let response = http_get(addr, "/metrics").await?;
    assert_eq!(response.status, 200);
    Ok(response.text().to_owned())
}

/// Checks that every sample's family is announced with a `# TYPE` line, once.
fn assert_families_typed(text: &str) {
    for sample in samples(text) {
        let name = sample.split(['{', ' ']).next().unwrap_or_default();
        assert_eq!(
            text.matches(&format!("# TYPE {name} ")).count(),
            1,
            "{sample:?} in:\n{text}"
        );
    }
}

#[tokio::test]
async fn protocol_and_callback_errors_are_counted_by_code() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = builder()
            .service(lapps_service("x", LAPPS))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        // A LAppS service's error series exist, at 0, before any error.
        let text = scrape(addr).await?;
        for code in ["-32700", "-32600", "-32601", "-32603"] {
            assert_sample(
                &text,
                &format!("lapps_protocol_errors_total{{service=\"x\",code=\"{code}\"}} 0"),
            );
        }
        assert!(!text.contains("lapps_lua_errors_total{"), "{text}");

        let mut ws = ws_connect(addr, "/x").await?;
        // Not CBOR: an array of two items with one.
        let reply = exchange(&mut ws, vec![0x82, 0x01]).await?;
        assert_eq!(error_code(&reply), Some(-32700), "{reply:?}");
        // A handler that raises on a request.
        let reply = exchange(&mut ws, request("raise")).await?;
        assert_eq!(error_code(&reply), Some(-32603), "{reply:?}");
        // Twice −32600 (no `lapps` member) and once −32601 (a reserved method).
        for _ in 0..2 {
            let invalid = cbor::to_vec(&object(&[("method", Value::from("m"))]));
            let reply = exchange(&mut ws, invalid).await?;
            assert_eq!(error_code(&reply), Some(-32600), "{reply:?}");
        }
        let reply = exchange(&mut ws, request("_reserved")).await?;
        assert_eq!(error_code(&reply), Some(-32601), "{reply:?}");
        // A request that is answered is no error.
        let reply = exchange(&mut ws, request("echo")).await?;
        assert_eq!(reply.get("status"), Some(&Value::from(1)), "{reply:?}");

        let text = scrape(addr).await?;
        for line in [
            r#"lapps_protocol_errors_total{service="x",code="-32700"} 1"#,
            r#"lapps_protocol_errors_total{service="x",code="-32603"} 1"#,
            r#"lapps_protocol_errors_total{service="x",code="-32600"} 2"#,
            r#"lapps_protocol_errors_total{service="x",code="-32601"} 1"#,
            r#"lapps_lua_errors_total{service="x",callback="onMessage"} 1"#,
        ] {
            assert_sample(&text, line);
        }
        assert_eq!(
            text.matches("lapps_lua_errors_total{").count(),
            1,
            "only onMessage failed:\n{text}"
        );
        assert_families_typed(&text);
        assert_eq!(
            server
                .metrics()
                .render()
                .lines()
                .filter(|l| l.starts_with("lapps_protocol_errors_total{service=\"x\""))
                .count(),
            4
        );
        drop(ws);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn service_states_are_one_hot_for_reactive_and_standalone_services() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = builder()
            .service(lapps_service("x", LAPPS))
            .service(lapps_service("broken", BROKEN))
            .service(lapps_service("later", LAPPS).auto_start(false))
            .standalone(
                StandaloneConfig::new(
                    "poster",
                    LuaService::from_source("poster", Kind::Standalone, POSTER)
                        .preload(["mqr", "nap"]),
                )
                .auto_start(true),
            )
            .bind("127.0.0.1:0")
            .await?;
        assert_eq!(server.service_state("broken"), Some(ServiceState::Failed));
        let text = scrape(server.local_addr()).await?;
        for (service, current) in [
            ("x", "running"),
            ("broken", "failed"),
            ("later", "stopped"),
            ("poster", "running"),
        ] {
            for state in [
                "stopped", "starting", "running", "failed", "stopping", "degraded",
            ] {
                let value = u8::from(state == current);
                assert_sample(
                    &text,
                    &format!(
                        "lapps_service_state{{service=\"{service}\",state=\"{state}\"}} {value}"
                    ),
                );
            }
        }
        // Six samples per service, no more.
        assert_eq!(text.matches("lapps_service_state{").count(), 24, "{text}");
        // A failed onStart is a callback error of its own kind, not a protocol error.
        assert_sample(
            &text,
            r#"lapps_protocol_errors_total{service="broken",code="-32603"} 0"#,
        );
        assert_families_typed(&text);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn instance_gauges_follow_the_round_robin() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = builder()
            .service(lapps_service("x", LAPPS).instances(2))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let text = scrape(addr).await?;
        for line in [
            r#"lapps_instance_connections{service="x",instance="0"} 0"#,
            r#"lapps_instance_connections{service="x",instance="1"} 0"#,
        ] {
            assert_sample(&text, line);
        }
        let mut clients = Vec::new();
        for _ in 0..3 {
            let mut ws = ws_connect(addr, "/x").await?;
            // Each connection is served by its instance before the next one opens.
            let reply = exchange(&mut ws, request("echo")).await?;
            assert_eq!(reply.get("status"), Some(&Value::from(1)), "{reply:?}");
            clients.push(ws);
        }
        let text = scrape(addr).await?;
        for line in [
            r#"lapps_instance_connections{service="x",instance="0"} 2"#,
            r#"lapps_instance_connections{service="x",instance="1"} 1"#,
            r#"lapps_instance_queue_depth{service="x",instance="0"} 0"#,
            r#"lapps_instance_queue_depth{service="x",instance="1"} 0"#,
            r#"lapps_connections_open{service="x"} 3"#,
        ] {
            assert_sample(&text, line);
        }
        assert_eq!(text.matches("lapps_instance_connections{").count(), 2);
        // A closed connection leaves its instance once its onDisconnect ran.
        let mut first = clients.remove(0);
        first.close(None).await?;
        wait_until("the close reaches the instance", || {
            server
                .render_metrics()
                .contains("lapps_instance_connections{service=\"x\",instance=\"0\"} 1\n")
        })
        .await?;
        assert_sample(
            &scrape(addr).await?,
            r#"lapps_instance_connections{service="x",instance="1"} 1"#,
        );
        drop(clients);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn bcast_registry_size_is_exact() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = builder()
            .service(lapps_service("x", LAPPS).instances(2))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        // Both instances created channel 5: one channel.
        let text = scrape(addr).await?;
        for line in [
            "lapps_bcast_channels 1",
            "lapps_bcast_subscriptions 0",
            "lapps_bcast_dropped_total 0",
        ] {
            assert_sample(&text, line);
        }
        let mut a = ws_connect(addr, "/x").await?;
        let mut b = ws_connect(addr, "/x").await?;
        let joined = Value::Array(vec![Value::from("true"), Value::from("nil")]);
        for ws in [&mut a, &mut b] {
            let reply = exchange(ws, request("join")).await?;
            assert_eq!(reply.get("result"), Some(&joined), "{reply:?}");
        }
        // A second subscription of the same connection is the same as one.
        let reply = exchange(&mut a, request("join")).await?;
        assert_eq!(reply.get("result"), Some(&joined), "{reply:?}");
        let text = scrape(addr).await?;
        assert_sample(&text, "lapps_bcast_channels 1");
        assert_sample(&text, "lapps_bcast_subscriptions 2");
        // A closed connection's subscriptions end by themselves.
        a.close(None).await?;
        wait_until("the closed connection leaves channel 5", || {
            server
                .render_metrics()
                .contains("\nlapps_bcast_subscriptions 1\n")
        })
        .await?;
        let text = scrape(addr).await?;
        assert_sample(&text, "lapps_bcast_channels 1");
        assert_sample(&text, "lapps_bcast_subscriptions 1");
        assert_families_typed(&text);
        // The registry's gauges are not in the counters alone.
        assert!(!server.metrics().render().contains("lapps_bcast_channels"));
        drop(b);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn mqr_queue_depths_are_exact_and_escaped() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = builder()
            .standalone(StandaloneConfig::new(
                "poster",
                LuaService::from_source("poster", Kind::Standalone, POSTER).preload(["mqr", "nap"]),
            ))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        // The name is `we"ird\name`, a newline, `next`.
        let marker = r#"lapps_mqr_queue_depth{queue="we\"ird\\name\nnext"} 1"#;
        let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
        let text = loop {
            let text = scrape(addr).await?;
            if samples(&text).contains(&marker) {
                break text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {marker:?} in:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_sample(&text, r#"lapps_mqr_queue_depth{queue="q"} 5"#);
        assert_eq!(text.matches("lapps_mqr_queue_depth{").count(), 2, "{text}");
        assert_sample(
            &text,
            r#"lapps_service_state{service="poster",state="running"} 1"#,
        );
        assert_families_typed(&text);
        stop(server).await
    })
    .await?
}

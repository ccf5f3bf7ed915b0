//! Graceful shutdown through [`ShutdownHandle`] and `with_graceful_shutdown` (spec §1.7,
//! §5.10): every open client gets Close 1001 "server shutdown", instances see every
//! `on_disconnect` before `on_shutdown`, and the server future resolves.

mod support;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapps_server::service::{ConnectionId, Disposition, Inbound, ReactiveService};
use lapps_server::{InstanceContext, Server, ServiceConfig};
use support::{RawClient, TIMEOUT, TestResult};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Echoes, and records the callbacks of its instance as `"<instance> <event>"`.
struct Recorder {
    index: usize,
    log: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn record(&self, event: &str) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{} {event}", self.index));
    }
}

#[async_trait(?Send)]
impl ReactiveService for Recorder {
    async fn on_message(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        message: Inbound,
    ) -> Disposition {
        let _ = ctx.send(conn, message.kind, &message.data);
        Disposition::Keep
    }

    async fn on_disconnect(&mut self, _ctx: &InstanceContext, _conn: ConnectionId) {
        self.record("disconnect");
    }

    async fn on_shutdown(&mut self, _ctx: &InstanceContext) {
        self.record("shutdown");
    }
}

fn recorder(log: &Arc<Mutex<Vec<String>>>) -> ServiceConfig {
    let log = Arc::clone(log);
    ServiceConfig::new("echo", move |index| {
        Ok(Box::new(Recorder {
            index,
            log: Arc::clone(&log),
        }) as Box<dyn ReactiveService>)
    })
    .instances(2)
}

#[tokio::test]
async fn every_open_client_gets_1001_server_shutdown_then_the_server_resolves() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let server = Server::builder()
            .workers(2)
            .handshake_timeout(Duration::from_secs(5))
            .service(recorder(&log))
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let mut clients = Vec::new();
        for i in 0..3 {
            let mut ws = support::ws_connect(addr, "/echo").await?;
            support::assert_echo(&mut ws, Message::text(format!("client {i}"))).await?;
            clients.push(ws);
        }
        let mut raw = RawClient::open(addr, "/echo").await?;
        assert_eq!(server.open_connections(), 4);
        let running = tokio::spawn(server.into_future());
        handle.shutdown();
        let started = Instant::now();
        for mut ws in clients {
            let close = ws
                .next()
                .await
                .ok_or("the stream ended without a Close")??;
            let want = CloseFrame {
                code: CloseCode::Away,
                reason: "server shutdown".into(),
            };
            assert_eq!(close, Message::Close(Some(want)));
            // tungstenite has answered the Close; the server then closes the TCP connection.
            assert!(ws.next().await.is_none());
        }
        raw.expect_close(1001, "server shutdown").await?;
        raw.send_close(1001, "").await?;
        raw.expect_eof().await?;
        tokio::time::timeout(Duration::from_secs(2), running).await???;
        // Every client answered: the server did not wait out the 5 s closing timeout.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // The listener is closed.
        let refused = tokio::net::TcpStream::connect(addr)
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        // Each instance saw its two disconnects, then its shutdown.
        let log = log.lock().unwrap().clone();
        for index in 0..2 {
            let events: Vec<&str> = log
                .iter()
                .filter_map(|e| e.strip_prefix(&format!("{index} ")))
                .collect();
            assert_eq!(
                events,
                ["disconnect", "disconnect", "shutdown"],
                "instance {index}: {log:?}"
            );
        }
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn a_client_that_ignores_the_close_delays_shutdown_only_by_the_closing_timeout() -> TestResult
{
    tokio::time::timeout(TIMEOUT, async {
        let closing = Duration::from_millis(300);
        let server = support::echo_builder()
            .handshake_timeout(closing)
            .bind("127.0.0.1:0")
            .await?;
        let mut deaf = RawClient::open(server.local_addr(), "/echo").await?;
        let started = Instant::now();
        server.shutdown_handle().shutdown();
        tokio::time::timeout(Duration::from_secs(3), server).await??;
        let took = started.elapsed();
        assert!(
            took >= closing && took < closing * 4,
            "the shutdown took {took:?}"
        );
        // The Close came, then the end of the stream, though the client never answered.
        deaf.expect_close(1001, "server shutdown").await?;
        deaf.expect_eof().await?;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn with_graceful_shutdown_resolves_on_its_signal() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = support::echo_builder().bind("127.0.0.1:0").await?;
        let mut ws = support::ws_connect(server.local_addr(), "/echo").await?;
        let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.with_graceful_shutdown(async {
            let _ = signalled.await;
        }));
        support::assert_echo(&mut ws, Message::text("before the signal")).await?;
        assert!(!running.is_finished());
        signal.send(()).map_err(|()| "the server is gone")?;
        match ws.next().await.ok_or("no Close")?? {
            Message::Close(Some(frame)) => assert_eq!(
                (u16::from(frame.code), frame.reason.as_str()),
                (1001, "server shutdown")
            ),
            other => panic!("expected a Close, got {other:?}"),
        }
        assert!(ws.next().await.is_none());
        tokio::time::timeout(Duration::from_secs(2), running).await???;
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn a_shutdown_right_after_bind_completes_and_is_idempotent() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        // The accept loops may not have started yet: the race is there on every round.
        for _ in 0..20 {
            let server = support::echo_builder().bind("127.0.0.1:0").await?;
            let handle = server.shutdown_handle();
            let again = handle.clone();
            handle.shutdown();
            handle.shutdown();
            tokio::time::timeout(Duration::from_secs(3), server).await??;
            // A handle outlives its server.
            again.shutdown();
        }
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn handshakes_that_complete_during_shutdown_get_503_and_healthz_says_stopping() -> TestResult
{
    tokio::time::timeout(TIMEOUT, async {
        let server = support::echo_builder()
            .metrics(true)
            .bind("127.0.0.1:0")
            .await?;
        let addr = server.local_addr();
        // Both requests are under way when the shutdown starts, and complete after it.
        let upgrade = support::RequestHead::upgrade("/echo").to_bytes();
        let health = support::RequestHead::get("/healthz").to_bytes();
        let mut late = RawClient::connect(addr).await?;
        late.write(&upgrade[..10]).await?;
        let mut probe = RawClient::connect(addr).await?;
        probe.write(&health[..10]).await?;
        // Both sockets are accepted before the shutdown.
        support::wait_until("both are accepted", || {
            server
                .metrics()
                .render()
                .contains("lapps_tcp_accepted_total 2\n")
        })
        .await?;
        let handle = server.shutdown_handle();
        let running = tokio::spawn(server.into_future());
        handle.shutdown();
        late.write(&upgrade[10..]).await?;
        let response = late.read_response().await?;
        assert_eq!(response.status_line, "HTTP/1.1 503 Service Unavailable");
        late.expect_eof().await?;
        probe.write(&health[10..]).await?;
        let response = probe.read_response().await?;
        assert_eq!(response.status, 503);
        let body: serde_json::Value = serde_json::from_slice(&response.body)?;
        assert_eq!(body["status"], "stopping");
        tokio::time::timeout(Duration::from_secs(3), running).await???;
        Ok(())
    })
    .await?
}

//! The opening handshake on the server: reading the request head, the checks of spec §5.3
//! in their order, and the response (101, a reject, or `/healthz` and `/metrics`).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::BytesMut;
use lapps_proto::Status;
use lapps_proto::handshake::{self, AcceptOptions, HandshakeError, Limits, Request, StatusCode};

use crate::instance::InstanceHandle;
use crate::runtime::{ServiceRuntime, ServiceState, Shared};
use crate::transport::Transport;

/// How a handshake ends.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Answered and done: a reject, or a plain HTTP response. Close the connection.
    Answered,
    /// The 101 is queued: the connection is open for `service`. `pipelined` holds the bytes
    /// that followed the request head (frames sent before the client saw the 101).
    Open {
        service: Arc<ServiceRuntime>,
        instance: InstanceHandle,
        pipelined: BytesMut,
    },
}

/// Reads the request head and answers it. The caller applies `handshake_timeout`.
pub(crate) async fn handshake(
    transport: &mut Transport,
    peer: IpAddr,
    shared: &Shared,
) -> std::io::Result<Outcome> {
    let limits = Limits::new().with_max_header_size(shared.settings.max_header_size);
    let mut head = BytesMut::new();
    let (request, len) = loop {
        match handshake::parse_request(&head, &limits) {
            Ok(Status::Complete(parsed)) => break parsed,
            Ok(Status::Partial) => {}
            Err(error) => {
                reject(transport, shared, error.status(), &error.to_string()).await;
                return Ok(Outcome::Answered);
            }
        }
        transport.readable().await?;
        match transport.try_read(&mut head, 4096) {
            Ok(0) => return Ok(Outcome::Answered),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    };
    let pipelined = head.split_off(len);
    match decide(&request, peer, shared) {
        Decision::Reject(status, reason) => {
            reject(transport, shared, status, &reason).await;
            Ok(Outcome::Answered)
        }
        Decision::Plain(response) => {
            transport.queue(&response)?;
            transport.flush().await?;
            transport.shutdown().await;
            Ok(Outcome::Answered)
        }
        Decision::Accept(service, instance, protocol) => {
            let mut response = Vec::with_capacity(256);
            let extra: Vec<(&str, &str)> = service
                .extra_headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            let options = AcceptOptions::new()
                .with_protocol(protocol.as_deref())
                .with_extra_headers(&extra);
            handshake::write_accept(request.key().unwrap_or_default(), &options, &mut response);
            if let Err(error) = transport.queue(&response) {
                instance
                    .load
                    .connections
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                shared.closed_one();
                return Err(error);
            }
            Ok(Outcome::Open {
                service,
                instance,
                pipelined,
            })
        }
    }
}

enum Decision {
    Reject(StatusCode, String),
    /// A complete plain HTTP response (`/healthz`, `/metrics`).
    Plain(Vec<u8>),
    Accept(Arc<ServiceRuntime>, InstanceHandle, Option<String>),
}

/// Spec §5.3, checks 4 to 12, in order (the head's size and syntax were checked by the
/// parser; the global ACL at accept).
fn decide(request: &Request, peer: IpAddr, shared: &Shared) -> Decision {
    if let Err(error) = request.check_method() {
        return rejected(&error);
    }
    if shared.settings.metrics && !request.is_websocket_upgrade() {
        match request.path() {
            "/healthz" => return Decision::Plain(healthz(shared)),
            "/metrics" => return Decision::Plain(metrics(shared)),
            _ => {}
        }
    }
    // Check 6: the path without the query, byte for byte.
    let Some(service) = shared.routes.get(request.path()) else {
        return Decision::Reject(StatusCode::NOT_FOUND, "unknown request target".to_owned());
    };
    if let Err(error) = request.check_upgrade() {
        return rejected(&error);
    }
    if !service.acl.permits(peer) {
        return Decision::Reject(StatusCode::FORBIDDEN, "address not allowed".to_owned());
    }
    if let Some(origin) = request.origin()
        && !service.origin_allowed(origin)
    {
        return Decision::Reject(StatusCode::FORBIDDEN, "origin not allowed".to_owned());
    }
    if shared.is_shutting_down() || service.state() != ServiceState::Running {
        return Decision::Reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable".to_owned(),
        );
    }
    // Check 12: `workers × max_connections`.
    if !shared.try_open() {
        return Decision::Reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections".to_owned(),
        );
    }
    // Check 13: the balancer binds the connection to an instance.
    let Some(instance) = service.pick() else {
        shared.closed_one();
        return Decision::Reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable".to_owned(),
        );
    };
    let protocol =
        handshake::negotiate_protocol(request.protocols(), &service.accepted_protocols())
            .map(str::to_owned);
    Decision::Accept(Arc::clone(service), instance, protocol)
}

fn rejected(error: &HandshakeError) -> Decision {
    Decision::Reject(error.status(), error.to_string())
}

/// Writes a reject and closes gracefully: shut down the write side, then drain input
/// briefly, so that the client reads the response rather than a reset (spec §5.5).
pub(crate) async fn reject(
    transport: &mut Transport,
    shared: &Shared,
    status: StatusCode,
    reason: &str,
) {
    shared
        .metrics
        .handshake_failed(&status.as_u16().to_string());
    let mut out = Vec::with_capacity(256);
    handshake::write_reject(status, reason, None, &mut out);
    if transport.queue(&out).is_ok() && transport.flush().await.is_ok() {
        transport.shutdown().await;
        drain(transport).await;
    }
}

/// Reads and discards what the client still sends, for at most a short while.
async fn drain(transport: &mut Transport) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut sink = BytesMut::new();
    while tokio::time::timeout_at(deadline, transport.readable())
        .await
        .is_ok_and(|r| r.is_ok())
    {
        sink.clear();
        match transport.try_read(&mut sink, 4096) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// How long a rejected client may keep sending before the socket is dropped.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_millis(500);

fn healthz(shared: &Shared) -> Vec<u8> {
    // Reactive and standalone services alike, by name.
    let states: Vec<(&str, bool, ServiceState)> = shared
        .services
        .iter()
        .map(|s| (&*s.name, s.auto_start, s.state()))
        .chain(
            shared
                .standalone
                .iter()
                .map(|s| (&*s.name, s.auto_start, s.state())),
        )
        .collect();
    let (status, code) = if shared.is_shutting_down() {
        ("stopping", StatusCode::SERVICE_UNAVAILABLE)
    } else if states
        .iter()
        .all(|(_, auto_start, state)| !auto_start || *state == ServiceState::Running)
    {
        ("ok", StatusCode::OK)
    } else {
        ("degraded", StatusCode::SERVICE_UNAVAILABLE)
    };
    let mut body = format!("{{\"status\":\"{status}\",\"services\":{{");
    for (i, (name, _, state)) in states.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(body, "{sep}\"{name}\":\"{}\"", state.as_str());
    }
    body.push_str("}}\n");
    plain_response(code, "application/json", &body)
}

fn metrics(shared: &Shared) -> Vec<u8> {
    let body = crate::metrics::render_server(shared);
    plain_response(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        &body,
    )
}

fn plain_response(status: StatusCode, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\nServer: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.reason_phrase(),
        handshake::PRODUCT,
        body.len()
    )
    .into_bytes()
}

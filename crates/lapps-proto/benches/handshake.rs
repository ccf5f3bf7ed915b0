//! Server handshake throughput: a Chrome-like upgrade request in, the 101 response out,
//! lapps-proto against tungstenite. Throughput counts request bytes.
//!
//! - `handshake_server` (the whole server side):
//!   - `lapps`: [`handshake::parse_request`] with default [`Limits`], [`Request::validate`],
//!     then [`handshake::write_accept`] (which computes the accept key);
//!   - `tungstenite`: its `Request::try_parse` (httparse into an `http::Request`),
//!     `create_response` (the same checks, and the accept key into an `http::Response`) and
//!     `write_response`: the steps of tungstenite's `ServerHandshake`, without the stream.
//!
//!   lapps also writes a `Server` field, which tungstenite does not.
//! - `handshake_parse`: parsing alone, the same two parsers plus bare `httparse` as a floor.
//! - `handshake_accept_key`: SHA-1 and base64 of the key: [`handshake::accept_key`] against
//!   tungstenite's `derive_accept_key`.
//!
//! Run with: `cargo bench -p lapps-proto --bench handshake`

#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup and sanity checks: a failure is a bug to see at once"
)]

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lapps_proto::Status;
use lapps_proto::handshake::{self, AcceptOptions, Limits, Request};
use tungstenite::handshake::derive_accept_key;
use tungstenite::handshake::machine::TryParse as _;
use tungstenite::handshake::server::{Request as TungRequest, create_response, write_response};

/// What Chrome 131 sends to open a WebSocket (its field order; the key is RFC 6455's example).
const CHROME_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: example.com:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
Chrome/131.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: https://example.com\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

/// The accept key for the request's key (RFC 6455 §1.3).
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn server(c: &mut Criterion) {
    check_both_accept();
    let mut group = c.benchmark_group("handshake_server");
    group.throughput(Throughput::Bytes(CHROME_REQUEST.len() as u64));
    let limits = Limits::default();
    let mut out = Vec::with_capacity(512);
    group.bench_function(BenchmarkId::new("lapps", CHROME_REQUEST.len()), |b| {
        b.iter(|| {
            out.clear();
            lapps_accept(black_box(CHROME_REQUEST), &limits, &mut out);
            black_box(&out);
        });
    });
    group.bench_function(BenchmarkId::new("tungstenite", CHROME_REQUEST.len()), |b| {
        b.iter(|| {
            out.clear();
            tungstenite_accept(black_box(CHROME_REQUEST), &mut out);
            black_box(&out);
        });
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake_parse");
    group.throughput(Throughput::Bytes(CHROME_REQUEST.len() as u64));
    let limits = Limits::default();
    group.bench_function(BenchmarkId::new("lapps", CHROME_REQUEST.len()), |b| {
        b.iter(|| handshake::parse_request(black_box(CHROME_REQUEST), &limits).unwrap());
    });
    group.bench_function(BenchmarkId::new("tungstenite", CHROME_REQUEST.len()), |b| {
        b.iter(|| TungRequest::try_parse(black_box(CHROME_REQUEST)).unwrap());
    });
    group.bench_function(BenchmarkId::new("httparse", CHROME_REQUEST.len()), |b| {
        b.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut request = httparse::Request::new(&mut headers);
            let status = request.parse(black_box(CHROME_REQUEST)).unwrap();
            black_box(request.headers.len());
            status
        });
    });
    group.finish();
}

fn accept_key(c: &mut Criterion) {
    let key = b"dGhlIHNhbXBsZSBub25jZQ==";
    let mut group = c.benchmark_group("handshake_accept_key");
    group.throughput(Throughput::Bytes(key.len() as u64));
    group.bench_function(BenchmarkId::new("lapps", key.len()), |b| {
        b.iter(|| handshake::accept_key(black_box(key)));
    });
    group.bench_function(BenchmarkId::new("tungstenite", key.len()), |b| {
        b.iter(|| derive_accept_key(black_box(key)));
    });
    group.finish();
}

/// Parses and checks `received` and appends the 101 to `out`, as a lapps server does.
fn lapps_accept(received: &[u8], limits: &Limits, out: &mut Vec<u8>) {
    let Ok(Status::Complete((request, _))) = handshake::parse_request(received, limits) else {
        panic!("incomplete or invalid request")
    };
    accept_parsed(&request, out);
}

fn accept_parsed(request: &Request, out: &mut Vec<u8>) {
    request.validate().unwrap();
    handshake::write_accept(request.key().unwrap(), &AcceptOptions::new(), out);
}

/// The same with tungstenite's public pieces.
fn tungstenite_accept(received: &[u8], out: &mut Vec<u8>) {
    let Some((_, request)) = TungRequest::try_parse(received).unwrap() else {
        panic!("incomplete request")
    };
    let response = create_response(&request).unwrap();
    write_response(out, &response).unwrap();
}

/// Checks, before timing, that both answer with a 101 carrying the right accept key.
fn check_both_accept() {
    let mut ours = Vec::new();
    lapps_accept(CHROME_REQUEST, &Limits::default(), &mut ours);
    let mut theirs = Vec::new();
    tungstenite_accept(CHROME_REQUEST, &mut theirs);
    for response in [ours, theirs] {
        let text = String::from_utf8(response).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{text}"
        );
        assert!(
            text.to_ascii_lowercase().contains(&format!(
                "sec-websocket-accept: {}\r\n",
                ACCEPT.to_ascii_lowercase()
            )),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"));
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = server, parse, accept_key
}
criterion_main!(benches);

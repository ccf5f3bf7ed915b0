//! Encode throughput: messages in, wire bytes out, lapps-proto against tungstenite.
//!
//! Each iteration sends a batch of about 1 MiB of single-frame messages (16 384 of 64 B,
//! 1 024 of 1 KiB, 64 of 16 KiB or one of 1 MiB) and moves the wire bytes into an in-memory
//! sink, which stands in for the socket. Throughput counts payload bytes.
//!
//! - `lapps_send_poll_transmit`: [`Connection::send`] per message; whenever 128 KiB are queued
//!   (tungstenite's default `write_buffer_size`) and at the end, [`Connection::poll_transmit`]
//!   moves them into the sink.
//! - `lapps_encode_frame`: [`encode_frame`] straight into the sink, without a connection.
//! - `tungstenite_write_flush`: [`WebSocket::write`] per message, then [`WebSocket::flush`],
//!   default config; it writes to the sink whenever 128 KiB are buffered.
//!
//! In the client role each frame is masked with a fresh key. lapps-proto takes its keys from
//! the caller (here a xorshift generator: a few instructions); tungstenite draws each from
//! `rand::random` (its thread-local `ChaCha` generator). That difference is part of what the
//! client groups measure, a few nanoseconds per frame.
//!
//! Run with: `cargo bench -p lapps-proto --bench encode`

#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup and sanity checks: a failure is a bug to see at once"
)]

mod common;

use std::hint::black_box;
use std::io::{self, Read, Write};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lapps_proto::frame::encode_frame;
use lapps_proto::{Config, Connection, Message, OpCode, Utf8Bytes};
use tungstenite::protocol::{Role as TungRole, WebSocket};

/// Payload sizes.
const SIZES: [usize; 4] = [64, 1 << 10, 16 << 10, 1 << 20];
/// The bytes of payload per iteration.
const BATCH_BYTES: usize = 1 << 20;
/// How much output is buffered before it is written, as tungstenite's default
/// `write_buffer_size`.
const WRITE_SIZE: usize = 128 << 10;

fn encode(c: &mut Criterion) {
    for (role, kind) in [
        (TungRole::Server, Kind::Binary),
        (TungRole::Server, Kind::Text),
        (TungRole::Client, Kind::Binary),
    ] {
        let role_name = match role {
            TungRole::Server => "server",
            TungRole::Client => "client",
        };
        let mut group = c.benchmark_group(format!("encode_{role_name}_{}", kind.name()));
        for size in SIZES {
            let count = BATCH_BYTES / size;
            let payload = kind.payload(size);
            // Built once: each send clones them, a reference count increment on both sides.
            let lapps_message = kind.lapps_message(&payload);
            let tungstenite_message = kind.tungstenite_message(&payload);
            group.throughput(Throughput::Bytes((size * count) as u64));
            check_both_encode(role, kind, &payload);

            let mut conn = connection(role);
            let mut sink = Vec::new();
            group.bench_function(BenchmarkId::new("lapps_send_poll_transmit", size), |b| {
                b.iter(|| {
                    for _ in 0..count {
                        conn.send(lapps_message.clone()).unwrap();
                        if conn.transmit_len() >= WRITE_SIZE {
                            conn.poll_transmit(&mut sink);
                        }
                    }
                    conn.poll_transmit(&mut sink);
                    black_box(&sink);
                    sink.clear();
                });
            });

            let mut masks = xorshift_masks();
            group.bench_function(BenchmarkId::new("lapps_encode_frame", size), |b| {
                b.iter(|| {
                    for _ in 0..count {
                        let mask = (role == TungRole::Client).then(&mut masks);
                        encode_frame(true, 0, kind.opcode(), &payload, mask, &mut sink);
                    }
                    black_box(&sink);
                    sink.clear();
                });
            });

            let mut ws = WebSocket::from_raw_socket(Sink::default(), role, None);
            group.bench_function(BenchmarkId::new("tungstenite_write_flush", size), |b| {
                b.iter(|| {
                    for _ in 0..count {
                        ws.write(tungstenite_message.clone()).unwrap();
                    }
                    ws.flush().unwrap();
                    black_box(&ws.get_ref().0);
                    ws.get_mut().0.clear();
                });
            });
        }
        group.finish();
    }
}

/// Returns a connection for `role` with the default configuration.
fn connection(role: TungRole) -> Connection {
    match role {
        TungRole::Server => Connection::server(Config::default()),
        TungRole::Client => Connection::client(Config::default(), xorshift_masks()),
    }
}

/// Returns a cheap source of distinct masking keys.
fn xorshift_masks() -> impl FnMut() -> [u8; 4] + Send {
    let mut state = 0x2545_f491_u32;
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state.to_le_bytes()
    }
}

/// Checks, before timing, that both libraries put the same frame on the wire: byte for byte
/// unmasked, the same header and the same payload after unmasking when masked.
fn check_both_encode(role: TungRole, kind: Kind, payload: &Bytes) {
    let mut conn = connection(role);
    conn.send(kind.lapps_message(payload)).unwrap();
    let mut ours = Vec::new();
    conn.poll_transmit(&mut ours);
    let mut ws = WebSocket::from_raw_socket(Sink::default(), role, None);
    ws.send(kind.tungstenite_message(payload)).unwrap();
    let theirs = ws.get_ref().0.clone();
    assert_eq!(ours.len(), theirs.len());
    if role == TungRole::Server {
        assert_eq!(ours, theirs);
    } else {
        let header_len = ours.len() - payload.len();
        assert_eq!(ours[..header_len - 4], theirs[..header_len - 4]);
        for wire in [ours, theirs] {
            let key = &wire[header_len - 4..header_len];
            let unmasked: Vec<u8> = wire[header_len..]
                .iter()
                .zip(key.iter().cycle())
                .map(|(byte, k)| byte ^ k)
                .collect();
            assert_eq!(unmasked, payload[..]);
        }
    }
}

/// The kind of data message.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Kind {
    Binary,
    Text,
}

impl Kind {
    const fn name(self) -> &'static str {
        match self {
            Self::Binary => "binary",
            Self::Text => "text",
        }
    }

    /// Returns `len` bytes of payload: pseudo-random bytes, or ASCII prose for text.
    fn payload(self, len: usize) -> Bytes {
        match self {
            Self::Binary => {
                let mut next = xorshift_masks();
                (0..len).map(|_| next()[0]).collect()
            }
            Self::Text => {
                b"{\"event\":\"quote\",\"text\":\"The quick brown fox jumps over the lazy dog\"} "
                    .iter()
                    .copied()
                    .cycle()
                    .take(len)
                    .collect()
            }
        }
    }

    const fn opcode(self) -> OpCode {
        match self {
            Self::Binary => OpCode::Binary,
            Self::Text => OpCode::Text,
        }
    }

    /// Wraps the payload without copying it.
    fn lapps_message(self, payload: &Bytes) -> Message {
        match self {
            Self::Binary => Message::Binary(payload.clone()),
            Self::Text => Message::Text(Utf8Bytes::try_from_bytes(payload.clone()).unwrap()),
        }
    }

    fn tungstenite_message(self, payload: &Bytes) -> tungstenite::Message {
        match self {
            Self::Binary => tungstenite::Message::Binary(payload.clone()),
            Self::Text => tungstenite::Message::Text(payload.clone().try_into().unwrap()),
        }
    }
}

/// An in-memory socket that keeps what is written; it never has anything to read.
#[derive(Debug, Default)]
struct Sink(Vec<u8>);

impl Read for Sink {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = encode
}
criterion_main!(benches);

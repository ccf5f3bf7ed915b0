//! Decode throughput: masked client frames in, messages out, lapps-proto against tungstenite.
//!
//! Both sides decode the same wire bytes: a batch of about 1 MiB of masked, single-frame
//! messages (16 384 of 64 B, 1 024 of 1 KiB, 64 of 16 KiB or one of 1 MiB), each with its own
//! masking key, read from an in-memory [`Replay`] stream in reads of at most 128 KiB
//! (tungstenite's default `read_buffer_size`; groups `decode_binary` and `decode_text`) or,
//! as a TCP socket typically returns them, at most 64 KiB (`decode_binary_64k_reads` and
//! `decode_text_64k_reads`). The limit is the stream's, so both libraries get the same reads
//! whatever they ask for. Throughput counts payload bytes.
//!
//! - `lapps_handle_input`: each read lands in a scratch buffer, then
//!   [`Connection::handle_input`] copies it into the receive buffer: two copies, as a server
//!   that reads into its own buffer does.
//! - `lapps_recv_buffer`: each read lands straight in [`Connection::recv_buffer`] (as tokio's
//!   `read_buf` does), then [`Connection::handle_received`]: one copy.
//! - `tungstenite_read`: [`WebSocket::read`] per message over the same stream, default config
//!   (the same 16 MiB frame and 64 MiB message limits as [`Config::default`]): one copy, into
//!   a buffer it zero-fills first.
//!
//! The frame-level groups compare [`FrameDecoder`] with tungstenite's public
//! [`FrameSocket`], which does *not* unmask (tungstenite unmasks in its private `FrameCodec`
//! only when `WebSocket` drives it), and the two `FrameHeader::parse` functions.
//!
//! Run with: `cargo bench -p lapps-proto --bench decode`

#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup and sanity checks: a failure is a bug to see at once"
)]

mod common;

use std::hint::black_box;
use std::io::{Cursor, Read};

use bytes::BytesMut;
use common::Replay;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lapps_proto::frame::{FrameDecoder, encode_frame};
use lapps_proto::header::FrameHeader;
use lapps_proto::{Config, Connection, Event, Message, OpCode, Role, Status};
use tungstenite::protocol::frame::{FrameHeader as TungFrameHeader, FrameSocket};
use tungstenite::protocol::{Role as TungRole, WebSocket};

/// Payload sizes.
const SIZES: [usize; 4] = [64, 1 << 10, 16 << 10, 1 << 20];
/// The bytes of payload per iteration: enough messages to amortise per-iteration overhead.
const BATCH_BYTES: usize = 1 << 20;
/// The largest read, as tungstenite's default `read_buffer_size`.
const READ_SIZE: usize = 128 << 10;
/// The largest read of the `_64k_reads` groups: what one read from a TCP socket typically
/// returns (64 KiB is the loopback MTU and a common socket buffer fill).
const SOCKET_READ_SIZE: usize = 64 << 10;

fn decode_messages(c: &mut Criterion) {
    for (read_size, suffix) in [(READ_SIZE, ""), (SOCKET_READ_SIZE, "_64k_reads")] {
        for kind in [Kind::Binary, Kind::Text] {
            let name = format!("decode_{}{suffix}", kind.name());
            decode_messages_group(c, &name, kind, read_size);
        }
    }
}

fn decode_messages_group(c: &mut Criterion, name: &str, kind: Kind, read_size: usize) {
    let mut group = c.benchmark_group(name);
    for size in SIZES {
        let count = BATCH_BYTES / size;
        let wire = masked_wire(kind, size, count);
        check_both_decode(&wire, kind, size, count);
        group.throughput(Throughput::Bytes((size * count) as u64));

        let mut conn = Connection::server(Config::default());
        let mut replay = Replay::with_max_read(wire, read_size);
        let mut scratch = vec![0; read_size];
        group.bench_function(BenchmarkId::new("lapps_handle_input", size), |b| {
            b.iter(|| {
                replay.rewind();
                let mut messages = 0;
                loop {
                    let n = replay.read(&mut scratch).unwrap();
                    if n == 0 {
                        break;
                    }
                    conn.handle_input(&scratch[..n]).unwrap();
                    messages += drain(&mut conn);
                }
                messages
            });
        });

        let mut conn = Connection::server(Config::default());
        group.bench_function(BenchmarkId::new("lapps_recv_buffer", size), |b| {
            b.iter(|| {
                replay.rewind();
                let mut messages = 0;
                while replay.read_into(conn.recv_buffer(), read_size) > 0 {
                    conn.handle_received().unwrap();
                    messages += drain(&mut conn);
                }
                messages
            });
        });

        let mut ws = WebSocket::from_raw_socket(replay, TungRole::Server, None);
        group.bench_function(BenchmarkId::new("tungstenite_read", size), |b| {
            b.iter(|| {
                ws.get_mut().rewind();
                for _ in 0..count {
                    black_box(ws.read().unwrap());
                }
            });
        });
    }
    group.finish();
}

fn decode_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_frames_binary");
    for size in SIZES {
        let count = BATCH_BYTES / size;
        let wire = masked_wire(Kind::Binary, size, count);
        group.throughput(Throughput::Bytes((size * count) as u64));

        let mut decoder = FrameDecoder::new(Role::Server, Config::default().max_frame_size);
        let mut buf = BytesMut::new();
        let mut replay = Replay::new(wire);
        group.bench_function(BenchmarkId::new("lapps_frame_decoder", size), |b| {
            b.iter(|| {
                replay.rewind();
                let mut frames = 0;
                while replay.read_into(&mut buf, READ_SIZE) > 0 {
                    while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                        black_box(frame);
                        frames += 1;
                    }
                }
                frames
            });
        });

        let mut socket = FrameSocket::new(replay);
        group.bench_function(
            BenchmarkId::new("tungstenite_frame_socket_no_unmask", size),
            |b| {
                b.iter(|| {
                    socket.get_mut().rewind();
                    for _ in 0..count {
                        black_box(socket.read(None).unwrap());
                    }
                });
            },
        );
    }
    group.finish();
}

fn parse_headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_header_parse");
    // Masked headers of each length form: 6, 8 and 14 bytes.
    for payload_len in [125_u64, 1 << 10, 1 << 20] {
        let mut headers = Vec::new();
        let mut count = 0_usize;
        while headers.len() < 16 << 10 {
            let header = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask: Some(key(count)),
                payload_len,
            };
            let mut buf = [0; 14];
            let n = header.encode(&mut buf);
            headers.extend_from_slice(&buf[..n]);
            count += 1;
        }
        let header_len = headers.len() / count;
        group.throughput(Throughput::Bytes(headers.len() as u64));
        group.bench_function(BenchmarkId::new("lapps", header_len), |b| {
            b.iter(|| {
                let mut rest = &headers[..];
                while let Ok(Status::Complete((header, n))) = FrameHeader::parse(rest) {
                    black_box(header);
                    rest = &rest[n..];
                }
                rest.len()
            });
        });
        group.bench_function(BenchmarkId::new("tungstenite", header_len), |b| {
            b.iter(|| {
                let mut cursor = Cursor::new(&headers[..]);
                while let Some(parsed) = TungFrameHeader::parse(&mut cursor).unwrap() {
                    black_box(parsed);
                }
                cursor.position()
            });
        });
    }
    group.finish();
}

/// Takes every event out of `conn`; returns how many there were.
fn drain(conn: &mut Connection) -> usize {
    let mut n = 0;
    while let Some(event) = conn.poll_event() {
        black_box(event);
        n += 1;
    }
    n
}

/// Checks, before timing, that both libraries decode `wire` into `count` messages with the
/// original payloads.
fn check_both_decode(wire: &[u8], kind: Kind, size: usize, count: usize) {
    let expected = kind.payload(size);
    let mut conn = Connection::server(Config::default());
    conn.handle_input(wire).unwrap();
    let mut messages = 0;
    while let Some(event) = conn.poll_event() {
        let Event::Message(message) = event else {
            panic!("unexpected {event:?}")
        };
        assert_eq!(matches!(message, Message::Text(_)), kind == Kind::Text);
        assert_eq!(message.payload(), &expected[..]);
        messages += 1;
    }
    assert_eq!(messages, count);
    let mut ws = WebSocket::from_raw_socket(Replay::new(wire.to_vec()), TungRole::Server, None);
    for _ in 0..count {
        let message = ws.read().unwrap();
        assert_eq!(message.is_text(), kind == Kind::Text);
        assert_eq!(&message.into_data()[..], &expected[..]);
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
    fn payload(self, len: usize) -> Vec<u8> {
        match self {
            Self::Binary => common::pseudo_random(len),
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
}

/// Returns `count` masked single-frame messages of `size` bytes, as a client sends them.
fn masked_wire(kind: Kind, size: usize, count: usize) -> Vec<u8> {
    let payload = kind.payload(size);
    let mut wire = Vec::with_capacity(count * (size + 14));
    for i in 0..count {
        encode_frame(true, 0, kind.opcode(), &payload, Some(key(i)), &mut wire);
    }
    wire
}

/// Returns a different masking key for each frame number.
fn key(i: usize) -> [u8; 4] {
    let bytes = i.wrapping_mul(0x9e37_79b9).to_le_bytes();
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = decode_messages, decode_frames, parse_headers
}
criterion_main!(benches);

//! UTF-8 validation throughput (RFC 6455 §8.1): lapps-proto's checks against the standard
//! library, and text-message decoding against tungstenite, which validates every text message.
//!
//! Two texts: ASCII prose, and a mix of 1- to 4-byte code points (Latin, Greek, Cyrillic, CJK,
//! emoji; one byte in eight is ASCII).
//!
//! - `lapps_is_valid`: [`utf8::is_valid`], the bulk check of a whole message (simdutf8).
//! - `lapps_validator_1k_pieces`: [`Utf8Validator`] fed 1 KiB at a time, so code points are
//!   split across pieces as across frames and reads.
//! - `std_from_utf8`: [`std::str::from_utf8`], what tungstenite uses.
//!
//! The `utf8_decode_text_mixed` group decodes about 1 MiB of masked, single-frame text
//! messages of mixed text, replayed in 128 KiB reads exactly as in `benches/decode.rs`:
//! [`Connection::handle_input`] against tungstenite's `WebSocket::read`.
//!
//! Run with: `cargo bench -p lapps-proto --bench utf8`

#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup and sanity checks: a failure is a bug to see at once"
)]

mod common;

use std::hint::black_box;
use std::io::Read;

use common::Replay;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lapps_proto::frame::encode_frame;
use lapps_proto::utf8::{self, Utf8Validator};
use lapps_proto::{Config, Connection, Event, Message, OpCode};
use tungstenite::protocol::{Role as TungRole, WebSocket};

/// Text sizes.
const SIZES: [usize; 3] = [1 << 10, 16 << 10, 1 << 20];
/// The piece size fed to the incremental validator.
const PIECE: usize = 1 << 10;
/// The bytes of payload per iteration of the decode group.
const BATCH_BYTES: usize = 1 << 20;
/// The largest read, as tungstenite's default `read_buffer_size`.
const READ_SIZE: usize = 128 << 10;

/// ASCII prose, repeated.
const ASCII: &str = "The quick brown fox jumps over the lazy dog; pack my box with five dozen \
                     liquor jugs. ";
/// Mixed text, repeated: 1-, 2-, 3- and 4-byte code points.
const MIXED: &str = "Hello, κόσμε! Привет, мир. 你好，世界。こんにちは 🦀🚀✨ Ελληνικά \
                     日本語のテキスト 😀 ";

fn validate(c: &mut Criterion) {
    for (name, pattern) in [("ascii", ASCII), ("mixed", MIXED)] {
        let mut group = c.benchmark_group(format!("utf8_validate_{name}"));
        for size in SIZES {
            let text = text(pattern, size);
            assert!(utf8::is_valid(&text) && std::str::from_utf8(&text).is_ok());
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(BenchmarkId::new("lapps_is_valid", size), |b| {
                b.iter(|| utf8::is_valid(black_box(&text)));
            });
            group.bench_function(BenchmarkId::new("lapps_validator_1k_pieces", size), |b| {
                b.iter(|| {
                    let mut validator = Utf8Validator::new();
                    for piece in black_box(&text).chunks(PIECE) {
                        validator.feed(piece).unwrap();
                    }
                    validator.finish().unwrap();
                });
            });
            group.bench_function(BenchmarkId::new("std_from_utf8", size), |b| {
                b.iter(|| std::str::from_utf8(black_box(&text)).is_ok());
            });
        }
        group.finish();
    }
}

fn decode_text(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8_decode_text_mixed");
    for size in SIZES {
        let count = BATCH_BYTES / size;
        let payload = text(MIXED, size);
        let mut wire = Vec::new();
        for i in 0..count {
            let key = u32::try_from(i).unwrap().wrapping_mul(0x9e37_79b9);
            encode_frame(
                true,
                0,
                OpCode::Text,
                &payload,
                Some(key.to_le_bytes()),
                &mut wire,
            );
        }
        check_both_decode(&wire, &payload, count);
        group.throughput(Throughput::Bytes((size * count) as u64));

        let mut conn = Connection::server(Config::default());
        let mut replay = Replay::new(wire);
        let mut scratch = vec![0; READ_SIZE];
        group.bench_function(BenchmarkId::new("lapps_handle_input", size), |b| {
            b.iter(|| {
                replay.rewind();
                loop {
                    let n = replay.read(&mut scratch).unwrap();
                    if n == 0 {
                        break;
                    }
                    conn.handle_input(&scratch[..n]).unwrap();
                    while let Some(event) = conn.poll_event() {
                        black_box(event);
                    }
                }
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

/// Returns exactly `len` bytes of `pattern` repeated, cut at a code point boundary and padded
/// with spaces.
fn text(pattern: &str, len: usize) -> Vec<u8> {
    let mut text = String::with_capacity(len);
    for ch in pattern.chars().cycle() {
        if text.len() + ch.len_utf8() > len {
            break;
        }
        text.push(ch);
    }
    while text.len() < len {
        text.push(' ');
    }
    text.into_bytes()
}

/// Checks, before timing, that both libraries decode `wire` into `count` text messages.
fn check_both_decode(wire: &[u8], payload: &[u8], count: usize) {
    let mut conn = Connection::server(Config::default());
    conn.handle_input(wire).unwrap();
    for _ in 0..count {
        let Some(Event::Message(Message::Text(text))) = conn.poll_event() else {
            panic!("expected a text message")
        };
        assert_eq!(text.as_bytes(), payload);
    }
    assert_eq!(conn.poll_event(), None);
    let replay = Replay::new(wire.to_vec());
    let mut ws = WebSocket::from_raw_socket(replay, TungRole::Server, None);
    for _ in 0..count {
        let tungstenite::Message::Text(text) = ws.read().unwrap() else {
            panic!("expected a text message")
        };
        assert_eq!(text.as_bytes(), payload);
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = validate, decode_text
}
criterion_main!(benches);

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
//!
//! For instruction counts (repeatable on a busy machine), the bench binary runs one side's
//! loop a fixed number of times, without criterion, when `LAPPS_DECODE_COUNT` is set to
//! `"SIDE KIND SIZE READ_KIB BATCHES"`, for example `"lapps_recv_buffer binary 64 128 6"`:
//! run it under `valgrind --tool=callgrind` with two batch counts and divide the difference
//! by the difference of the counts. `SIDE` `all` instead runs each side's `BATCHES` in turn,
//! 15 rounds, and prints the median thread CPU time of each as GB/s and its ratio to
//! tungstenite's.

#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup and sanity checks: a failure is a bug to see at once"
)]

mod common;

use std::hint::black_box;
use std::io::{Cursor, Read};

use bytes::BytesMut;
use common::Replay;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
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
        let mut sides = Sides::new(kind, size, read_size);
        group.throughput(Throughput::Bytes((size * sides.count) as u64));
        group.bench_function(BenchmarkId::new("lapps_handle_input", size), |b| {
            b.iter(|| sides.handle_input());
        });
        group.bench_function(BenchmarkId::new("lapps_recv_buffer", size), |b| {
            b.iter(|| sides.recv_buffer());
        });
        group.bench_function(BenchmarkId::new("tungstenite_read", size), |b| {
            b.iter(|| sides.tungstenite());
        });
    }
    group.finish();
}

/// The three decoders of the message groups, each with its own copy of the replayed batch.
struct Sides {
    /// Messages per batch.
    count: usize,
    read_size: usize,
    scratch: Vec<u8>,
    handle_input: (Connection, Replay),
    recv_buffer: (Connection, Replay),
    tungstenite: WebSocket<Replay>,
}

impl Sides {
    /// Builds the batch of `size`-byte messages and checks that both libraries decode it.
    fn new(kind: Kind, size: usize, read_size: usize) -> Self {
        let count = BATCH_BYTES / size;
        let wire = masked_wire(kind, size, count);
        check_both_decode(&wire, kind, size, count);
        let replay = || Replay::with_max_read(wire.clone(), read_size);
        let server = || Connection::server(Config::default());
        Self {
            count,
            read_size,
            scratch: vec![0; read_size],
            handle_input: (server(), replay()),
            recv_buffer: (server(), replay()),
            tungstenite: WebSocket::from_raw_socket(replay(), TungRole::Server, None),
        }
    }

    /// One batch through [`Connection::handle_input`], each read landing in `scratch` first.
    fn handle_input(&mut self) -> usize {
        let (conn, replay) = &mut self.handle_input;
        replay.rewind();
        let mut messages = 0;
        loop {
            let n = replay.read(&mut self.scratch).unwrap();
            if n == 0 {
                return messages;
            }
            conn.handle_input(&self.scratch[..n]).unwrap();
            messages += drain(conn);
        }
    }

    /// One batch read straight into [`Connection::recv_buffer`].
    fn recv_buffer(&mut self) -> usize {
        let (conn, replay) = &mut self.recv_buffer;
        replay.rewind();
        let mut messages = 0;
        while replay.read_into(conn.recv_buffer(), self.read_size) > 0 {
            conn.handle_received().unwrap();
            messages += drain(conn);
        }
        messages
    }

    /// One batch through tungstenite's [`WebSocket::read`].
    fn tungstenite(&mut self) -> usize {
        self.tungstenite.get_mut().rewind();
        for _ in 0..self.count {
            black_box(self.tungstenite.read().unwrap());
        }
        self.count
    }

    fn run(&mut self, side: &str) -> usize {
        match side {
            "lapps_handle_input" => self.handle_input(),
            "lapps_recv_buffer" => self.recv_buffer(),
            "tungstenite_read" => self.tungstenite(),
            _ => panic!("unknown side {side}"),
        }
    }
}

/// Runs the message groups' loops a fixed number of times, without criterion, as
/// `LAPPS_DECODE_COUNT="SIDE KIND SIZE READ_KIB BATCHES"` asks (see the module docs).
#[expect(
    clippy::cast_precision_loss,
    clippy::print_stdout,
    reason = "a report of times well under 2^52 ns, on the terminal"
)]
fn count_mode(spec: &str) {
    let fields: Vec<&str> = spec.split_whitespace().collect();
    let [side, kind, size, read_kib, batches] = fields[..] else {
        panic!("LAPPS_DECODE_COUNT: expected \"SIDE KIND SIZE READ_KIB BATCHES\", got {spec:?}");
    };
    let kind = match kind {
        "binary" => Kind::Binary,
        "text" => Kind::Text,
        _ => panic!("LAPPS_DECODE_COUNT: KIND is binary or text"),
    };
    let size: usize = size.parse().unwrap();
    let read_size = read_kib.parse::<usize>().unwrap() << 10;
    let batches: usize = batches.parse().unwrap();
    let mut sides = Sides::new(kind, size, read_size);
    if side != "all" {
        for _ in 0..batches {
            assert_eq!(sides.run(side), sides.count);
        }
        return;
    }
    // Rounds of each side in turn; the median CPU time of each, which a busy machine
    // inflates far less than the wall time (the thread is not charged while it waits).
    let names = [
        "lapps_handle_input",
        "lapps_recv_buffer",
        "tungstenite_read",
    ];
    let mut times: [Vec<f64>; 3] = Default::default();
    for _ in 0..15 {
        for (name, times) in names.iter().zip(&mut times) {
            let start = thread_cpu_ns();
            for _ in 0..batches {
                assert_eq!(sides.run(name), sides.count);
            }
            times.push((thread_cpu_ns() - start) as f64 / batches as f64);
        }
    }
    let mut medians = times.map(|mut t| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    });
    let tungstenite = medians[2];
    for (name, ns) in names.iter().zip(&mut medians) {
        let gbs = (size * sides.count) as f64 / *ns;
        println!("{name:20} {gbs:6.2} GB/s  {:5.2}x", tungstenite / *ns);
    }
}

/// Returns the CPU time this thread has used, in nanoseconds, from
/// `/proc/thread-self/schedstat`: up to a scheduler tick stale, so measure rounds of a good
/// fraction of a second.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    stat.split_whitespace().next().unwrap().parse().unwrap()
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

fn main() {
    if let Ok(spec) = std::env::var("LAPPS_DECODE_COUNT") {
        count_mode(&spec);
        return;
    }
    // What `criterion_main!(benches)` expands to.
    benches();
    Criterion::default().configure_from_args().final_summary();
}

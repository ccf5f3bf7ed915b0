//! quinn-style simulation: a client and a server `Connection` shuttling bytes in memory.

use std::num::NonZeroUsize;

use bytes::Bytes;

use super::{Connection, Event, State};
use crate::close::{CloseCode, CloseFrame};
use crate::config::{Config, LAPPS_FRAGMENT_SIZE};
use crate::error::{ProtocolError, SendError};
use crate::extension::Extension;
use crate::frame::{RESERVE_AHEAD, encode_frame};
use crate::header::{FrameHeader, MAX_HEADER_LEN};
use crate::message::Message;
use crate::opcode::OpCode;

struct Pair {
    client: Connection,
    server: Connection,
}

impl Pair {
    fn new() -> Self {
        Self::with_config(Config::default())
    }

    fn with_config(config: Config) -> Self {
        let mut counter = 0u32;
        let masks = move || {
            counter = counter.wrapping_add(0x9E37_79B9);
            counter.to_be_bytes()
        };
        Self {
            client: Connection::client(config, masks),
            server: Connection::server(config),
        }
    }

    /// Moves the client's output to the server; returns the server's input result.
    fn flush_to_server(&mut self) -> Result<(), ProtocolError> {
        let mut wire = Vec::new();
        self.client.poll_transmit(&mut wire);
        self.server.handle_input(&wire)
    }

    fn flush_to_client(&mut self) -> Result<(), ProtocolError> {
        let mut wire = Vec::new();
        self.server.poll_transmit(&mut wire);
        self.client.handle_input(&wire)
    }
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn text(s: &'static str) -> Message {
    Message::from(s)
}

/// A masked client frame, built by hand.
fn client_frame(fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(
        fin,
        rsv,
        opcode,
        payload,
        Some([0xA1, 0xB2, 0xC3, 0xD4]),
        &mut wire,
    );
    wire
}

/// Feeds `wire` to a fresh server; returns the error and the Close code it queued.
fn server_verdict(config: Config, wire: &[u8]) -> (ProtocolError, Option<CloseFrame>) {
    let mut server = Connection::server(config);
    let error = server
        .handle_input(wire)
        .expect_err("the input breaks the protocol");
    assert_eq!(server.state(), State::Closing);
    let mut out = Vec::new();
    assert!(server.poll_transmit(&mut out));
    // The server's Close is unmasked: 0x88, length, code, reason.
    assert_eq!(out[0], 0x88);
    let close = CloseFrame::parse(&Bytes::copy_from_slice(&out[2..])).unwrap();
    (error, close)
}

#[test]
fn messages_flow_both_ways() {
    let mut pair = Pair::new();
    pair.client.send(text("hello")).unwrap();
    pair.client
        .send(Message::Binary(Bytes::from_static(&[0, 1, 2])))
        .unwrap();
    pair.client.send(Message::Binary(Bytes::new())).unwrap();
    pair.flush_to_server().unwrap();
    let got = events(&mut pair.server);
    assert_eq!(
        got,
        [
            Event::Message(text("hello")),
            Event::Message(Message::Binary(Bytes::from_static(&[0, 1, 2]))),
            Event::Message(Message::Binary(Bytes::new())),
        ]
    );
    for event in got {
        let Event::Message(message) = event else {
            unreachable!()
        };
        pair.server.send(message).unwrap();
    }
    pair.flush_to_client().unwrap();
    assert_eq!(events(&mut pair.client).len(), 3);
}

#[test]
fn client_frames_are_masked_and_server_frames_are_not() {
    let mut pair = Pair::new();
    pair.client.send(text("abc")).unwrap();
    let mut wire = Vec::new();
    pair.client.poll_transmit(&mut wire);
    assert_eq!(wire[1] & 0x80, 0x80);
    assert_ne!(&wire[6..], b"abc");
    pair.server.send(text("abc")).unwrap();
    let mut wire = Vec::new();
    pair.server.poll_transmit(&mut wire);
    assert_eq!(wire, b"\x81\x03abc");
}

#[test]
fn close_handshake_started_by_the_client() {
    let mut pair = Pair::new();
    pair.client.close(CloseCode(4001), "bye").unwrap();
    assert_eq!(pair.client.state(), State::Closing);
    assert_eq!(pair.client.send(text("late")), Err(SendError::Closed));
    pair.flush_to_server().unwrap();
    assert_eq!(
        events(&mut pair.server),
        [Event::Closed(Some(CloseFrame::new(CloseCode(4001), "bye")))]
    );
    assert!(pair.server.is_closed());
    // The reply echoes the code without the reason (spec §5.10).
    let mut reply = Vec::new();
    pair.server.poll_transmit(&mut reply);
    assert_eq!(reply, b"\x88\x02\x0f\xa1");
    pair.client.handle_input(&reply).unwrap();
    assert_eq!(
        events(&mut pair.client),
        [Event::Closed(Some(CloseFrame::new(CloseCode(4001), "")))]
    );
    assert!(pair.client.is_closed());
}

#[test]
fn close_handshake_started_by_the_server_discards_late_data() {
    let mut pair = Pair::new();
    pair.server
        .close(CloseCode::GOING_AWAY, "server shutdown")
        .unwrap();
    // Data the client sent before it saw the Close is discarded by the server.
    pair.client.send(text("in flight")).unwrap();
    pair.flush_to_server().unwrap();
    assert_eq!(events(&mut pair.server), []);
    pair.flush_to_client().unwrap();
    assert_eq!(
        events(&mut pair.client),
        [Event::Closed(Some(CloseFrame::new(
            CloseCode(1001),
            "server shutdown"
        )))]
    );
    pair.flush_to_server().unwrap();
    assert_eq!(
        events(&mut pair.server),
        [Event::Closed(Some(CloseFrame::new(CloseCode(1001), "")))]
    );
    assert!(pair.server.is_closed() && pair.client.is_closed());
}

#[test]
fn empty_close_is_answered_with_1000() {
    let mut server = Connection::server(Config::default());
    server
        .handle_input(&client_frame(true, 0, OpCode::Close, &[]))
        .unwrap();
    assert_eq!(events(&mut server), [Event::Closed(None)]);
    let mut out = Vec::new();
    server.poll_transmit(&mut out);
    assert_eq!(out, b"\x88\x02\x03\xe8");
}

#[test]
fn pings_are_answered_with_identical_pongs() {
    let mut pair = Pair::new();
    pair.client
        .send(Message::Ping(Bytes::from_static(b"p1")))
        .unwrap();
    pair.client
        .send(Message::Ping(Bytes::from_static(b"p2")))
        .unwrap();
    pair.flush_to_server().unwrap();
    assert_eq!(
        events(&mut pair.server),
        [
            Event::Ping(Bytes::from_static(b"p1")),
            Event::Ping(Bytes::from_static(b"p2"))
        ]
    );
    pair.flush_to_client().unwrap();
    assert_eq!(
        events(&mut pair.client),
        [
            Event::Pong(Bytes::from_static(b"p1")),
            Event::Pong(Bytes::from_static(b"p2"))
        ]
    );
    assert_eq!(
        pair.client.send(Message::Ping(Bytes::from(vec![0; 126]))),
        Err(SendError::ControlFrameTooLong)
    );
}

#[test]
fn auto_pong_can_be_turned_off() {
    let mut server = Connection::server(Config::default().auto_pong(false));
    server
        .handle_input(&client_frame(true, 0, OpCode::Ping, b"x"))
        .unwrap();
    assert_eq!(events(&mut server), [Event::Ping(Bytes::from_static(b"x"))]);
    assert_eq!(server.transmit_len(), 0);
}

#[test]
fn fragments_reassemble_around_interleaved_control_frames() {
    // "κόσμε" split so that the second fragment ends inside "σ" (CF 83).
    let mut wire = client_frame(false, 0, OpCode::Text, "κό".as_bytes());
    wire.extend(client_frame(true, 0, OpCode::Ping, b"mid"));
    wire.extend(client_frame(false, 0, OpCode::Continuation, b"\xcf"));
    wire.extend(client_frame(true, 0, OpCode::Pong, b""));
    let last: Vec<u8> = [0x83].into_iter().chain("με".bytes()).collect();
    wire.extend(client_frame(true, 0, OpCode::Continuation, &last));
    let mut server = Connection::server(Config::default());
    server.handle_input(&wire).unwrap();
    assert_eq!(
        events(&mut server),
        [
            Event::Ping(Bytes::from_static(b"mid")),
            Event::Pong(Bytes::new()),
            Event::Message(Message::from("κόσμε")),
        ]
    );
    // The Pong answering the interleaved Ping is queued.
    let mut out = Vec::new();
    server.poll_transmit(&mut out);
    assert_eq!(out, b"\x8a\x03mid");
}

#[test]
fn lapps_fragmentation_splits_as_specified() {
    let config = Config::default().fragment_size(Some(LAPPS_FRAGMENT_SIZE));
    let cases: [(usize, &[usize]); 4] = [
        (2783, &[2783]),
        (2784, &[1392, 1392]),
        (3000, &[1392, 1608]),
        (5000, &[1392, 1392, 2216]),
    ];
    for (len, sizes) in cases {
        let mut pair = Pair::with_config(config);
        pair.server
            .send(Message::Binary(Bytes::from(vec![7; len])))
            .unwrap();
        let mut wire = Vec::new();
        pair.server.poll_transmit(&mut wire);
        let mut at = 0;
        for (i, size) in sizes.iter().enumerate() {
            let (fin, opcode) = (i + 1 == sizes.len(), if i == 0 { 2 } else { 0 });
            assert_eq!(wire[at] & 0x80 != 0, fin, "len {len} frame {i}");
            assert_eq!(wire[at] & 0x0F, opcode);
            let header = if *size < 126 { 2 } else { 4 };
            assert_eq!(
                usize::from(u16::from_be_bytes([wire[at + 2], wire[at + 3]])),
                *size
            );
            at += header + size;
        }
        assert_eq!(at, wire.len());
        pair.client.handle_input(&wire).unwrap();
        assert_eq!(
            events(&mut pair.client),
            [Event::Message(Message::Binary(Bytes::from(vec![7; len])))]
        );
    }
}

#[test]
fn each_violation_closes_with_its_code() {
    let c = Config::default();
    let masked = |fin, rsv, op, p: &[u8]| client_frame(fin, rsv, op, p);
    let mut cont = masked(false, 0, OpCode::Text, b"a");
    cont.extend(masked(true, 0, OpCode::Binary, b"b"));
    let mut unmasked = Vec::new();
    encode_frame(true, 0, OpCode::Text, b"x", None, &mut unmasked);
    let mut long_len = vec![0x82, 0xFF, 0x80];
    long_len.extend([0; 11]);
    let cases: Vec<(Vec<u8>, ProtocolError, u16)> = vec![
        (
            masked(true, 0b100, OpCode::Text, b"x"),
            ProtocolError::ReservedBits,
            1002,
        ),
        (
            masked(true, 0, OpCode::Reserved(3), b""),
            ProtocolError::ReservedOpcode(3),
            1002,
        ),
        (
            masked(true, 0, OpCode::Reserved(0xB), b""),
            ProtocolError::ReservedOpcode(0xB),
            1002,
        ),
        (unmasked, ProtocolError::UnmaskedFrame, 1002),
        (
            masked(false, 0, OpCode::Ping, b""),
            ProtocolError::FragmentedControlFrame,
            1002,
        ),
        (
            masked(true, 0, OpCode::Ping, &[0; 126]),
            ProtocolError::ControlFrameTooLong,
            1002,
        ),
        (
            masked(true, 0, OpCode::Continuation, b"x"),
            ProtocolError::UnexpectedContinuation,
            1002,
        ),
        (cont, ProtocolError::ExpectedContinuation, 1002),
        (long_len, ProtocolError::PayloadLengthMsb, 1002),
        (
            masked(true, 0, OpCode::Text, b"\xff"),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        (
            masked(true, 0, OpCode::Close, b"\x03"),
            ProtocolError::InvalidCloseLength,
            1002,
        ),
        (
            masked(true, 0, OpCode::Close, b"\x03\xed"),
            ProtocolError::InvalidCloseCode(1005),
            1002,
        ),
        (
            masked(true, 0, OpCode::Close, b"\x03\xe8\xc0"),
            ProtocolError::InvalidCloseReason,
            1007,
        ),
        (
            masked(true, 0b010, OpCode::Ping, b""),
            ProtocolError::ReservedBits,
            1002,
        ),
    ];
    for (wire, expected, code) in cases {
        let (error, close) = server_verdict(c, &wire);
        assert_eq!(error, expected);
        assert_eq!(close.map(|f| f.code), Some(CloseCode(code)), "{expected:?}");
    }
}

#[test]
fn size_limits_are_enforced_from_the_header() {
    let config = Config::default().max_frame_size(10).max_message_size(15);
    // Only the header of the 11-byte frame is sent: it is refused before its payload.
    let frame = client_frame(true, 0, OpCode::Binary, &[0; 11]);
    let (error, close) = server_verdict(config, &frame[..6]);
    assert_eq!(error, ProtocolError::FrameTooLarge { limit: 10 });
    assert_eq!(close.map(|f| f.code), Some(CloseCode(1009)));
    let mut wire = client_frame(false, 0, OpCode::Binary, &[0; 10]);
    wire.extend(&client_frame(true, 0, OpCode::Continuation, &[0; 6])[..6]);
    let (error, close) = server_verdict(config, &wire);
    assert_eq!(error, ProtocolError::MessageTooLarge { limit: 15 });
    assert_eq!(close.map(|f| f.code), Some(CloseCode(1009)));
    // Exactly at the limits is fine.
    let mut server = Connection::server(config);
    let mut wire = client_frame(false, 0, OpCode::Binary, &[1; 10]);
    wire.extend(client_frame(true, 0, OpCode::Continuation, &[2; 5]));
    server.handle_input(&wire).unwrap();
    assert_eq!(events(&mut server).len(), 1);
}

#[test]
fn invalid_utf8_fails_before_its_frame_ends() {
    let wire = client_frame(
        true,
        0,
        OpCode::Text,
        b"valid so far \xed\xa0\x80 and more text",
    );
    let mut server = Connection::server(Config::default());
    // Header (6 bytes) plus the payload up to the surrogate's second byte.
    server.handle_input(&wire[..6 + 13]).unwrap();
    assert_eq!(
        server.handle_input(&wire[19..21]),
        Err(ProtocolError::InvalidUtf8)
    );
    let mut out = Vec::new();
    server.poll_transmit(&mut out);
    assert_eq!(&out[..4], b"\x88\x1f\x03\xef");
}

#[test]
fn input_after_a_failure_is_discarded() {
    let mut server = Connection::server(Config::default());
    assert!(
        server
            .handle_input(&client_frame(true, 0, OpCode::Text, b"\xff"))
            .is_err()
    );
    server
        .handle_input(&client_frame(true, 0, OpCode::Text, b"ok"))
        .unwrap();
    assert_eq!(events(&mut server), []);
    let mut out = Vec::new();
    assert!(server.poll_transmit(&mut out));
    assert_eq!(server.send(text("no")), Err(SendError::Closed));
}

#[test]
fn replies_to_messages_before_a_violation_precede_its_close() {
    let mut wire = client_frame(true, 0, OpCode::Text, b"first");
    wire.extend(client_frame(true, 0b010, OpCode::Text, b"bad"));
    let mut server = Connection::server(Config::default());
    assert_eq!(server.handle_input(&wire), Err(ProtocolError::ReservedBits));
    assert_eq!(server.state(), State::Closing);
    assert_eq!(events(&mut server), [Event::Message(text("first"))]);
    server.send(text("first")).unwrap();
    let mut out = Vec::new();
    server.poll_transmit(&mut out);
    let close = b"\x88\x32\x03\xeareserved bits set without a negotiated extension";
    assert_eq!(out, [&b"\x81\x05first"[..], close].concat());
    assert_eq!(server.send(text("late")), Err(SendError::Closed));
    assert_eq!(server.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
}

#[test]
fn close_rejects_unsendable_codes_and_long_reasons() {
    let mut server = Connection::server(Config::default());
    assert_eq!(
        server.close(CloseCode(1005), ""),
        Err(SendError::InvalidCloseCode(1005))
    );
    assert_eq!(
        server.close(CloseCode(1000), &"x".repeat(124)),
        Err(SendError::CloseReasonTooLong)
    );
    assert_eq!(server.state(), State::Open);
    server.close(CloseCode(1000), &"x".repeat(123)).unwrap();
    assert_eq!(server.transmit_len(), 2 + 125);
}

#[test]
fn partial_writes_advance_the_output() {
    let mut server = Connection::server(Config::default());
    server.send(text("hello")).unwrap();
    assert_eq!(server.transmit_data(), b"\x81\x05hello");
    server.advance_transmit(3);
    assert_eq!(server.transmit_data(), b"ello");
    server.advance_transmit(100);
    assert_eq!(server.transmit_len(), 0);
    server.release_buffers();
    assert!(server.poll_transmit_bytes().is_none());
}

#[test]
fn released_buffers_leave_an_idle_connection_holding_nothing() {
    let mut pair = Pair::new();
    for _ in 0..5 {
        pair.client.send(text("hello")).unwrap();
    }
    pair.flush_to_server().unwrap();
    for event in events(&mut pair.server) {
        let Event::Message(message) = event else {
            unreachable!()
        };
        pair.server.send(message).unwrap();
    }
    pair.flush_to_client().unwrap();
    let server = &mut pair.server;
    assert!(server.events.capacity() >= 5);
    server.release_buffers();
    assert_eq!(
        (
            server.rx.capacity(),
            server.tx.capacity(),
            server.events.capacity()
        ),
        (0, 0, 0)
    );
    // Nothing is released while it is in use.
    pair.client.send(text("one")).unwrap();
    pair.client.send(text("two")).unwrap();
    pair.flush_to_server().unwrap();
    pair.server.send(text("out")).unwrap();
    pair.server.release_buffers();
    assert_eq!(pair.server.poll_event(), Some(Event::Message(text("one"))));
    assert_eq!(pair.server.poll_event(), Some(Event::Message(text("two"))));
    assert_eq!(pair.server.transmit_data(), b"\x81\x03out");
}

/// A toy extension: RSV1 marks a payload that was XOR-ed with `0x55`.
#[derive(Debug)]
struct Xor;

impl Extension for Xor {
    fn rsv_bits(&self) -> u8 {
        0b100
    }

    fn decode_message(
        &mut self,
        _rsv: u8,
        _opcode: OpCode,
        payload: Bytes,
        _max: usize,
    ) -> Result<Bytes, ProtocolError> {
        Ok(payload.iter().map(|b| b ^ 0x55).collect())
    }

    fn encode_message(&mut self, _op: OpCode, payload: Bytes) -> Result<(u8, Bytes), SendError> {
        Ok((0b100, payload.iter().map(|b| b ^ 0x55).collect()))
    }
}

#[test]
fn the_extension_seam_transforms_whole_messages() {
    let mut pair = Pair::with_config(Config::default().fragment_size(NonZeroUsize::new(2)));
    pair.client.set_extension(Box::new(Xor));
    pair.server.set_extension(Box::new(Xor));
    pair.client.send(text("héllo")).unwrap();
    let mut wire = Vec::new();
    pair.client.poll_transmit(&mut wire);
    // RSV1 on the first frame only.
    assert_eq!(wire[0], 0b0100_0001);
    pair.server.handle_input(&wire).unwrap();
    assert_eq!(events(&mut pair.server), [Event::Message(text("héllo"))]);
    // Without the extension, RSV1 is a protocol error.
    let mut plain = Connection::server(Config::default());
    assert_eq!(plain.handle_input(&wire), Err(ProtocolError::ReservedBits));
}

// Found by the fuzz targets.

#[test]
fn no_second_close_after_a_failure() {
    let mut server = Connection::server(Config::default());
    assert!(server.handle_input(b"\x81\x01x").is_err());
    assert_eq!(server.transmit_len(), 30);
    assert_eq!(server.send(Message::Close(None)), Err(SendError::Closed));
    let mut out = Vec::new();
    server.poll_transmit(&mut out);
    assert_eq!(out, b"\x88\x1c\x03\xeaclient frame is not masked");
}

#[test]
fn fragments_in_flight_after_our_close_are_discarded() {
    let mut server = Connection::server(Config::default());
    server.close(CloseCode::GOING_AWAY, "").unwrap();
    let mut wire = client_frame(false, 0, OpCode::Text, b"a");
    wire.extend(client_frame(true, 0, OpCode::Continuation, b"b"));
    wire.extend(client_frame(true, 0, OpCode::Close, b"\x03\xe9"));
    assert_eq!(server.handle_input(&wire), Ok(()));
    assert_eq!(
        events(&mut server),
        [Event::Closed(Some(CloseFrame::new(CloseCode(1001), "")))]
    );
}

#[test]
fn a_message_in_progress_when_we_close_is_discarded() {
    let mut server = Connection::server(Config::default());
    server
        .handle_input(&client_frame(false, 0, OpCode::Text, b"a"))
        .unwrap();
    server.close(CloseCode::GOING_AWAY, "").unwrap();
    let mut wire = client_frame(true, 0, OpCode::Continuation, b"b");
    wire.extend(client_frame(true, 0, OpCode::Binary, b"next"));
    wire.extend(client_frame(true, 0, OpCode::Close, b"\x03\xe9"));
    assert_eq!(server.handle_input(&wire), Ok(()));
    assert_eq!(
        events(&mut server),
        [Event::Closed(Some(CloseFrame::new(CloseCode(1001), "")))]
    );
}

#[test]
fn long_input_decodes_as_the_same_bytes_in_the_receive_buffer() {
    // `handle_input` copies and decodes its input piece by piece: frames of every length form,
    // some longer than a piece and many cut by the pieces' edges, then a Close and data after
    // it, which are discarded.
    let mut wire = Vec::new();
    for (i, len) in [
        0,
        1,
        125,
        126,
        5000,
        16 << 10,
        (16 << 10) + 3,
        40_000,
        7,
        70_000,
    ]
    .into_iter()
    .enumerate()
    {
        let payload: Vec<u8> = (0..len)
            .map(|j| (i * 31 + j * 7).to_le_bytes()[0])
            .collect();
        wire.extend(client_frame(true, 0, OpCode::Binary, &payload));
        wire.extend(client_frame(
            true,
            0,
            OpCode::Text,
            "é".repeat(len / 2).as_bytes(),
        ));
        wire.extend(client_frame(
            true,
            0,
            OpCode::Ping,
            &payload[..len.min(125)],
        ));
    }
    wire.extend(client_frame(true, 0, OpCode::Close, &[0x03, 0xe8]));
    wire.extend(client_frame(true, 0, OpCode::Binary, b"after the close"));
    let mut whole = Connection::server(Config::default());
    whole.recv_buffer().extend_from_slice(&wire);
    whole.handle_received().unwrap();
    let mut sliced = Connection::server(Config::default());
    sliced.handle_input(&wire).unwrap();
    let expected = events(&mut whole);
    assert_eq!(expected.len(), 31);
    assert_eq!(events(&mut sliced), expected);
    assert_eq!(sliced.state(), State::Closed);
    let (mut out_whole, mut out_sliced) = (Vec::new(), Vec::new());
    whole.poll_transmit(&mut out_whole);
    sliced.poll_transmit(&mut out_sliced);
    assert_eq!(out_sliced, out_whole);
}

#[test]
fn long_input_fails_fast_on_invalid_utf8_in_an_unfinished_frame() {
    // The invalid byte is pieces before the end of the input, which ends before the frame.
    let mut payload = vec![b'a'; 100_000];
    payload[20_000] = 0xff;
    let wire = client_frame(true, 0, OpCode::Text, &payload);
    let mut server = Connection::server(Config::default());
    assert_eq!(
        server.handle_input(&wire[..70_000]),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn an_announced_large_frame_reserves_a_bounded_amount() {
    let mut server = Connection::server(Config::default());
    let max = Config::default().max_frame_size;
    // Only the header of the largest frame allowed.
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Binary,
        mask: Some([1, 2, 3, 4]),
        payload_len: max as u64,
    };
    let mut buf = [0; MAX_HEADER_LEN];
    let n = header.encode(&mut buf);
    server.handle_input(&buf[..n]).unwrap();
    let reserved = server.recv_buffer().capacity();
    assert!(
        (RESERVE_AHEAD..2 * RESERVE_AHEAD).contains(&reserved),
        "{reserved}"
    );
    // As the payload arrives, the room reserved ahead stays within what was received.
    let chunk = vec![0; 48 << 10];
    for _ in 0..100 {
        server.handle_input(&chunk).unwrap();
        let rx = server.recv_buffer();
        let bound = 2 * (rx.len() + rx.len().max(RESERVE_AHEAD));
        assert!(rx.capacity() <= bound, "{} > {bound}", rx.capacity());
    }
}

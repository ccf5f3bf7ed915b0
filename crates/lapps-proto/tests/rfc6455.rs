//! RFC 6455 vectors: the example frames of §5.7 byte for byte, then the MUSTs of §5 and §7,
//! one test per rule, each asserting the exact error and the exact Close frame queued.

use std::error::Error;

use bytes::{Bytes, BytesMut};
use lapps_proto::close::{CloseCode, CloseFrame};
use lapps_proto::frame::{Frame, FrameDecoder, encode_frame};
use lapps_proto::opcode::OpCode;
use lapps_proto::{Config, Connection, Event, Message, ProtocolError, Role, SendError, State};

type TestResult = Result<(), Box<dyn Error>>;

/// The masking key of the RFC 6455 §5.7 examples.
const RFC_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A server.
fn server() -> Connection {
    Connection::server(Config::default())
}

/// A client that masks every frame with [`RFC_KEY`], so its output can be compared byte for
/// byte (a real client draws a fresh key per frame).
fn client() -> Connection {
    Connection::client(Config::default(), || RFC_KEY)
}

/// A frame as a client sends it: masked with [`RFC_KEY`].
fn masked(fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(fin, rsv, opcode, payload, Some(RFC_KEY), &mut wire);
    wire
}

/// A frame as a server sends it: unmasked.
fn unmasked(fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(fin, rsv, opcode, payload, None, &mut wire);
    wire
}

/// A Close payload: the big-endian code, then the reason.
fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason.as_bytes()].concat()
}

/// The Close frame a server sends.
fn server_close(code: u16, reason: &str) -> Vec<u8> {
    unmasked(true, 0, OpCode::Close, &close_payload(code, reason))
}

/// The Close frame [`client`] sends.
fn client_close(code: u16, reason: &str) -> Vec<u8> {
    masked(true, 0, OpCode::Close, &close_payload(code, reason))
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn output(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    out
}

/// Feeds `wire` to `conn`, which must fail with `error`, deliver no event, and queue exactly
/// `close`.
fn assert_fails(mut conn: Connection, wire: &[u8], error: ProtocolError, close: &[u8]) {
    assert_eq!(conn.handle_input(wire), Err(error));
    assert_eq!(conn.state(), State::Closing, "{error:?}");
    assert_eq!(events(&mut conn), [], "{error:?}");
    assert_eq!(output(&mut conn), close, "{error:?}");
}

fn assert_server_fails(wire: &[u8], error: ProtocolError, reason: &str) {
    let code = error.close_code().0;
    assert_fails(server(), wire, error, &server_close(code, reason));
}

fn decode_one(role: Role, wire: &[u8]) -> Result<Frame, Box<dyn Error>> {
    let mut buf = BytesMut::from(wire);
    let frame = FrameDecoder::new(role, 1 << 20).decode(&mut buf)?;
    assert!(buf.is_empty());
    frame.ok_or_else(|| "an incomplete frame".into())
}

fn text(s: &'static str) -> Event {
    Event::Message(Message::from(s))
}

// RFC 6455 §5.7: the examples.

#[test]
fn rfc_5_7_single_frame_unmasked_text() -> TestResult {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        decode_one(Role::Client, &wire)?,
        Frame::new(OpCode::Text, "Hello")
    );
    assert_eq!(unmasked(true, 0, OpCode::Text, b"Hello"), wire);
    let mut server = server();
    server.send(Message::from("Hello"))?;
    assert_eq!(output(&mut server), wire);
    let mut client = client();
    client.handle_input(&wire)?;
    assert_eq!(events(&mut client), [text("Hello")]);
    Ok(())
}

#[test]
fn rfc_5_7_single_frame_masked_text() -> TestResult {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode_one(Role::Server, &wire)?,
        Frame::new(OpCode::Text, "Hello")
    );
    assert_eq!(masked(true, 0, OpCode::Text, b"Hello"), wire);
    let mut client = client();
    client.send(Message::from("Hello"))?;
    assert_eq!(output(&mut client), wire);
    let mut server = server();
    server.handle_input(&wire)?;
    assert_eq!(events(&mut server), [text("Hello")]);
    Ok(())
}

#[test]
fn rfc_5_7_fragmented_unmasked_text() -> TestResult {
    let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
    let last = [0x80, 0x02, 0x6c, 0x6f];
    let mut frame = Frame::new(OpCode::Text, "Hel");
    frame.fin = false;
    assert_eq!(decode_one(Role::Client, &first)?, frame);
    assert_eq!(
        decode_one(Role::Client, &last)?,
        Frame::new(OpCode::Continuation, "lo")
    );
    assert_eq!(unmasked(false, 0, OpCode::Text, b"Hel"), first);
    assert_eq!(unmasked(true, 0, OpCode::Continuation, b"lo"), last);
    let mut client = client();
    client.handle_input(&first)?;
    assert_eq!(events(&mut client), []);
    client.handle_input(&last)?;
    assert_eq!(events(&mut client), [text("Hello")]);
    Ok(())
}

#[test]
fn rfc_5_7_unmasked_ping_is_answered_by_the_masked_pong() -> TestResult {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode_one(Role::Client, &ping)?,
        Frame::new(OpCode::Ping, "Hello")
    );
    assert_eq!(unmasked(true, 0, OpCode::Ping, b"Hello"), ping);
    assert_eq!(masked(true, 0, OpCode::Pong, b"Hello"), pong);
    // The client answers the §5.7 Ping with exactly the §5.7 Pong.
    let mut client = client();
    client.handle_input(&ping)?;
    assert_eq!(
        events(&mut client),
        [Event::Ping(Bytes::from_static(b"Hello"))]
    );
    assert_eq!(output(&mut client), pong);
    Ok(())
}

#[test]
fn rfc_5_7_masked_pong() -> TestResult {
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode_one(Role::Server, &pong)?,
        Frame::new(OpCode::Pong, "Hello")
    );
    let mut server = server();
    server.handle_input(&pong)?;
    assert_eq!(
        events(&mut server),
        [Event::Pong(Bytes::from_static(b"Hello"))]
    );
    // An unsolicited Pong needs no reply (RFC 6455 §5.5.3).
    assert_eq!(output(&mut server), b"");
    Ok(())
}

#[test]
fn rfc_5_7_256_bytes_binary_in_a_single_unmasked_frame() -> TestResult {
    let payload: Vec<u8> = (0..=255).collect();
    let wire = [&[0x82, 0x7E, 0x01, 0x00][..], &payload].concat();
    assert_eq!(
        decode_one(Role::Client, &wire)?,
        Frame::new(OpCode::Binary, payload.clone())
    );
    let mut server = server();
    server.send(Message::from(payload.clone()))?;
    assert_eq!(output(&mut server), wire);
    let mut client = client();
    client.handle_input(&wire)?;
    assert_eq!(
        events(&mut client),
        [Event::Message(Message::from(payload))]
    );
    Ok(())
}

#[test]
fn rfc_5_7_64_kib_binary_in_a_single_unmasked_frame() -> TestResult {
    let payload: Vec<u8> = (0..65_536_u32).map(|i| i.to_le_bytes()[0] ^ 0x5a).collect();
    let header = [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    let wire = [&header[..], &payload].concat();
    assert_eq!(
        decode_one(Role::Client, &wire)?,
        Frame::new(OpCode::Binary, payload.clone())
    );
    let mut server = server();
    server.send(Message::from(payload.clone()))?;
    assert_eq!(output(&mut server), wire);
    // And masked, as a client sends it: the header gains the MASK bit and the key.
    let mut client = client();
    client.send(Message::from(payload.clone()))?;
    let sent = output(&mut client);
    assert_eq!(
        &sent[..14],
        [&[0x82, 0xFF][..], &header[2..], &RFC_KEY].concat()
    );
    let mut server = Connection::server(Config::default());
    server.handle_input(&sent)?;
    assert_eq!(
        events(&mut server),
        [Event::Message(Message::from(payload))]
    );
    Ok(())
}

// RFC 6455 §5.1 and §5.3: masking.

#[test]
fn server_fails_on_unmasked_frame() {
    assert_server_fails(
        &unmasked(true, 0, OpCode::Text, b"Hello"),
        ProtocolError::UnmaskedFrame,
        "client frame is not masked",
    );
}

#[test]
fn client_fails_on_masked_frame() {
    assert_fails(
        client(),
        &masked(true, 0, OpCode::Text, b"Hello"),
        ProtocolError::MaskedFrame,
        &client_close(1002, "server frame is masked"),
    );
}

#[test]
fn server_accepts_unmasked_frames_only_when_configured() -> TestResult {
    let mut server = Connection::server(Config::default().accept_unmasked(true));
    server.handle_input(&unmasked(true, 0, OpCode::Text, b"Hello"))?;
    server.handle_input(&masked(true, 0, OpCode::Text, b"Hello"))?;
    assert_eq!(events(&mut server), [text("Hello"), text("Hello")]);
    Ok(())
}

#[test]
fn server_never_masks() -> TestResult {
    let mut server = server();
    server.send(Message::Ping(Bytes::from_static(b"p")))?;
    server.send(Message::from("t"))?;
    server.close(CloseCode::NORMAL, "")?;
    let expected = [
        unmasked(true, 0, OpCode::Ping, b"p"),
        unmasked(true, 0, OpCode::Text, b"t"),
        server_close(1000, ""),
    ]
    .concat();
    assert_eq!(output(&mut server), expected);
    Ok(())
}

#[test]
fn client_masks_every_frame_with_the_next_key() -> TestResult {
    let mut next = 0_u8;
    let keys = move || {
        next += 1;
        [next; 4]
    };
    let mut client = Connection::client(Config::default(), keys);
    client.send(Message::from("a"))?;
    // The automatic Pong is masked too.
    client.handle_input(&unmasked(true, 0, OpCode::Ping, b"b"))?;
    client.close(CloseCode::NORMAL, "")?;
    let mut expected = Vec::new();
    encode_frame(true, 0, OpCode::Text, b"a", Some([1; 4]), &mut expected);
    encode_frame(true, 0, OpCode::Pong, b"b", Some([2; 4]), &mut expected);
    let close = close_payload(1000, "");
    encode_frame(true, 0, OpCode::Close, &close, Some([3; 4]), &mut expected);
    assert_eq!(output(&mut client), expected);
    Ok(())
}

// RFC 6455 §5.2: the base framing.

#[test]
fn fails_on_reserved_bits_without_an_extension() {
    for rsv in [0b100, 0b010, 0b001, 0b111] {
        assert_server_fails(
            &masked(true, rsv, OpCode::Binary, b"x"),
            ProtocolError::ReservedBits,
            "reserved bits set without a negotiated extension",
        );
    }
}

#[test]
fn fails_on_reserved_data_opcodes() {
    for bits in 0x3..=0x7 {
        assert_server_fails(
            &masked(true, 0, OpCode::Reserved(bits), b""),
            ProtocolError::ReservedOpcode(bits),
            &format!("reserved opcode {bits:#x}"),
        );
    }
}

#[test]
fn fails_on_reserved_control_opcodes() {
    for bits in 0xB..=0xF {
        assert_server_fails(
            &masked(true, 0, OpCode::Reserved(bits), b""),
            ProtocolError::ReservedOpcode(bits),
            &format!("reserved opcode {bits:#x}"),
        );
    }
}

#[test]
fn fails_on_64_bit_length_with_the_top_bit_set() {
    // The failure needs only the length field, not the mask key nor the payload.
    let wire = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
    assert_server_fails(
        &wire,
        ProtocolError::PayloadLengthMsb,
        "64-bit payload length with the most significant bit set",
    );
}

#[test]
fn payload_lengths_use_the_minimal_form() {
    let cases: [(usize, &[u8]); 6] = [
        (0, &[0x82, 0x00]),
        (125, &[0x82, 0x7D]),
        (126, &[0x82, 0x7E, 0x00, 0x7E]),
        (65_535, &[0x82, 0x7E, 0xFF, 0xFF]),
        (65_536, &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
        (70_000, &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]),
    ];
    for (len, header) in cases {
        let wire = unmasked(true, 0, OpCode::Binary, &vec![0; len]);
        assert_eq!(&wire[..header.len()], header, "{len}");
        assert_eq!(wire.len(), header.len() + len);
    }
}

#[test]
fn accepts_a_length_that_is_not_minimally_encoded() -> TestResult {
    // "Hello" with a 16-bit and with a 64-bit length field (docs/protocol.md: accepted).
    let masked_hello = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
    let mut wire = [&[0x81, 0xFE, 0x00, 0x05][..], &RFC_KEY, &masked_hello].concat();
    wire.extend([0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 5]);
    wire.extend(RFC_KEY);
    wire.extend(masked_hello);
    let mut server = server();
    server.handle_input(&wire)?;
    assert_eq!(events(&mut server), [text("Hello"), text("Hello")]);
    Ok(())
}

// RFC 6455 §5.4: fragmentation.

#[test]
fn fails_on_continuation_without_a_message() {
    assert_server_fails(
        &masked(true, 0, OpCode::Continuation, b"lo"),
        ProtocolError::UnexpectedContinuation,
        "continuation frame without a message in progress",
    );
    // Also right after a complete message.
    let mut wire = masked(true, 0, OpCode::Text, b"Hel");
    wire.extend(masked(false, 0, OpCode::Continuation, b"lo"));
    let mut server = server();
    assert_eq!(
        server.handle_input(&wire),
        Err(ProtocolError::UnexpectedContinuation)
    );
    assert_eq!(events(&mut server), [text("Hel")]);
}

#[test]
fn fails_on_new_message_inside_a_fragmented_one() {
    for opcode in [OpCode::Text, OpCode::Binary] {
        let mut wire = masked(false, 0, OpCode::Binary, b"Hel");
        wire.extend(masked(true, 0, opcode, b"lo"));
        assert_server_fails(
            &wire,
            ProtocolError::ExpectedContinuation,
            "new data frame while a fragmented message is in progress",
        );
    }
}

#[test]
fn control_frames_between_fragments_are_handled_at_once() -> TestResult {
    let mut server = server();
    let mut wire = masked(false, 0, OpCode::Text, b"Hel");
    wire.extend(masked(true, 0, OpCode::Ping, b"now"));
    wire.extend(masked(true, 0, OpCode::Pong, b"too"));
    server.handle_input(&wire)?;
    // The Ping is answered before the message is complete.
    assert_eq!(
        events(&mut server),
        [
            Event::Ping(Bytes::from_static(b"now")),
            Event::Pong(Bytes::from_static(b"too"))
        ]
    );
    assert_eq!(output(&mut server), unmasked(true, 0, OpCode::Pong, b"now"));
    server.handle_input(&masked(true, 0, OpCode::Continuation, b"lo"))?;
    assert_eq!(events(&mut server), [text("Hello")]);
    Ok(())
}

#[test]
fn close_between_fragments_ends_the_connection_without_the_message() -> TestResult {
    let mut server = server();
    let mut wire = masked(false, 0, OpCode::Text, b"Hel");
    wire.extend(client_close(1001, ""));
    wire.extend(masked(true, 0, OpCode::Continuation, b"lo"));
    server.handle_input(&wire)?;
    assert_eq!(
        events(&mut server),
        [Event::Closed(Some(CloseFrame::new(CloseCode(1001), "")))]
    );
    assert_eq!(output(&mut server), server_close(1001, ""));
    assert_eq!(server.state(), State::Closed);
    Ok(())
}

#[test]
fn empty_fragments_make_an_empty_message() -> TestResult {
    let mut server = server();
    let mut wire = masked(false, 0, OpCode::Text, b"");
    wire.extend(masked(false, 0, OpCode::Continuation, b""));
    wire.extend(masked(true, 0, OpCode::Continuation, b""));
    wire.extend(masked(true, 0, OpCode::Binary, b""));
    server.handle_input(&wire)?;
    assert_eq!(
        events(&mut server),
        [text(""), Event::Message(Message::Binary(Bytes::new()))]
    );
    Ok(())
}

// RFC 6455 §5.5: control frames.

#[test]
fn fails_on_fragmented_control_frames() {
    for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
        assert_server_fails(
            &masked(false, 0, opcode, b""),
            ProtocolError::FragmentedControlFrame,
            "control frame is fragmented",
        );
    }
}

#[test]
fn fails_on_control_frames_over_125_bytes() {
    for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
        let wire = masked(true, 0, opcode, &close_payload(1000, &"x".repeat(124)));
        assert_eq!(wire[1], 0xFE, "the 16-bit length form");
        assert_server_fails(
            &wire,
            ProtocolError::ControlFrameTooLong,
            "control frame payload exceeds 125 bytes",
        );
    }
}

#[test]
fn control_frames_of_125_bytes_are_accepted() -> TestResult {
    let mut server = server();
    let payload = [7; 125];
    server.handle_input(&masked(true, 0, OpCode::Ping, &payload))?;
    assert_eq!(
        events(&mut server),
        [Event::Ping(Bytes::copy_from_slice(&payload))]
    );
    assert_eq!(
        output(&mut server),
        unmasked(true, 0, OpCode::Pong, &payload)
    );
    let reason = "r".repeat(123);
    server.handle_input(&client_close(4000, &reason))?;
    assert_eq!(
        events(&mut server),
        [Event::Closed(Some(CloseFrame::new(
            CloseCode(4000),
            reason
        )))]
    );
    assert_eq!(output(&mut server), server_close(4000, ""));
    Ok(())
}

#[test]
fn control_payloads_over_125_bytes_are_not_sent() -> TestResult {
    let mut server = server();
    let long = Bytes::from(vec![0; 126]);
    assert_eq!(
        server.send(Message::Ping(long.clone())),
        Err(SendError::ControlFrameTooLong)
    );
    assert_eq!(
        server.send(Message::Pong(long)),
        Err(SendError::ControlFrameTooLong)
    );
    assert_eq!(
        server.close(CloseCode::NORMAL, &"x".repeat(124)),
        Err(SendError::CloseReasonTooLong)
    );
    assert_eq!(output(&mut server), b"");
    assert_eq!(server.state(), State::Open);
    server.send(Message::Ping(Bytes::from(vec![1; 125])))?;
    assert_eq!(
        output(&mut server),
        unmasked(true, 0, OpCode::Ping, &[1; 125])
    );
    Ok(())
}

// RFC 6455 §5.5.1 and §7.4: Close.

#[test]
fn empty_close_is_answered_with_1000() -> TestResult {
    let mut client = client();
    client.handle_input(&unmasked(true, 0, OpCode::Close, b""))?;
    assert_eq!(events(&mut client), [Event::Closed(None)]);
    assert_eq!(output(&mut client), client_close(1000, ""));
    assert!(client.is_closed());
    Ok(())
}

#[test]
fn one_byte_close_fails_with_1002() {
    assert_server_fails(
        &masked(true, 0, OpCode::Close, &[0x03]),
        ProtocolError::InvalidCloseLength,
        "close frame with a 1-byte payload",
    );
}

#[test]
fn close_reply_echoes_code() -> TestResult {
    let valid = (1000..=1003)
        .chain(1007..=1014)
        .chain([3000, 3999, 4000, 4999]);
    for code in valid {
        let mut server = server();
        server.handle_input(&client_close(code, "reason"))?;
        assert_eq!(
            events(&mut server),
            [Event::Closed(Some(CloseFrame::new(
                CloseCode(code),
                "reason"
            )))]
        );
        // The code, without the reason.
        assert_eq!(output(&mut server), server_close(code, ""), "{code}");
        assert_eq!(server.state(), State::Closed);
        // And the client side, masked.
        let mut client = client();
        client.handle_input(&server_close(code, "reason"))?;
        assert_eq!(output(&mut client), client_close(code, ""), "{code}");
    }
    Ok(())
}

#[test]
fn invalid_close_codes_fail_with_1002() {
    let invalid = [
        0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65_535,
    ];
    for code in invalid {
        assert_server_fails(
            &client_close(code, ""),
            ProtocolError::InvalidCloseCode(code),
            &format!("invalid close code {code}"),
        );
    }
}

#[test]
fn close_reason_that_is_not_utf8_fails_with_1007() {
    let cases: [&[u8]; 4] = [b"\xff", b"ok\xc0\xaf", b"\xed\xa0\x80", b"cut \xe2\x82"];
    for reason in cases {
        let payload = [&[0x03, 0xe8][..], reason].concat();
        assert_server_fails(
            &masked(true, 0, OpCode::Close, &payload),
            ProtocolError::InvalidCloseReason,
            "invalid UTF-8 in close reason",
        );
    }
}

#[test]
fn data_after_a_received_close_is_discarded() -> TestResult {
    let mut server = server();
    let mut wire = client_close(1000, "");
    wire.extend(masked(true, 0, OpCode::Text, b"late"));
    wire.extend(masked(true, 0, OpCode::Ping, b"late"));
    // Even frames that would break the protocol: nothing is read any more.
    wire.extend(unmasked(true, 0, OpCode::Text, b"\xff"));
    server.handle_input(&wire)?;
    server.handle_input(&client_close(1001, ""))?;
    assert_eq!(
        events(&mut server),
        [Event::Closed(Some(CloseFrame::new(CloseCode(1000), "")))]
    );
    assert_eq!(output(&mut server), server_close(1000, ""));
    assert_eq!(server.send(Message::from("no")), Err(SendError::Closed));
    Ok(())
}

#[test]
fn data_after_our_close_is_discarded() -> TestResult {
    let mut server = server();
    server.close(CloseCode::GOING_AWAY, "bye")?;
    let mut wire = masked(true, 0, OpCode::Text, b"in flight");
    wire.extend(masked(true, 0, OpCode::Binary, b"also"));
    wire.extend(masked(true, 0, OpCode::Pong, b"p"));
    server.handle_input(&wire)?;
    // Control frames are still read: the Pong is reported.
    assert_eq!(events(&mut server), [Event::Pong(Bytes::from_static(b"p"))]);
    assert_eq!(output(&mut server), server_close(1001, "bye"));
    Ok(())
}

#[test]
fn ping_after_we_sent_close_is_answered() -> TestResult {
    // RFC 6455 §5.5.2: a Ping gets a Pong unless a Close was already *received*.
    let mut server = server();
    server.close(CloseCode::NORMAL, "")?;
    assert_eq!(output(&mut server), server_close(1000, ""));
    server.handle_input(&masked(true, 0, OpCode::Ping, b"still there?"))?;
    assert_eq!(
        events(&mut server),
        [Event::Ping(Bytes::from_static(b"still there?"))]
    );
    assert_eq!(output(&mut server), b"\x8a\x0cstill there?");
    Ok(())
}

#[test]
fn our_close_is_not_repeated_when_the_peer_answers() -> TestResult {
    let mut client = client();
    client.close(CloseCode(4001), "done")?;
    assert_eq!(output(&mut client), client_close(4001, "done"));
    assert_eq!(client.state(), State::Closing);
    client.handle_input(&server_close(4001, ""))?;
    assert_eq!(
        events(&mut client),
        [Event::Closed(Some(CloseFrame::new(CloseCode(4001), "")))]
    );
    assert_eq!(output(&mut client), b"");
    assert!(client.is_closed());
    Ok(())
}

#[test]
fn nothing_is_sent_after_a_close() -> TestResult {
    let mut closing = server();
    closing.close(CloseCode::NORMAL, "")?;
    let mut closed = server();
    closed.handle_input(&client_close(1000, ""))?;
    for conn in [&mut closing, &mut closed] {
        let before = conn.transmit_len();
        let messages = [
            Message::from("t"),
            Message::from(vec![1]),
            Message::Ping(Bytes::new()),
            Message::Pong(Bytes::new()),
            Message::Close(None),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, ""))),
        ];
        for message in messages {
            assert_eq!(conn.send(message), Err(SendError::Closed));
        }
        assert_eq!(conn.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
        assert_eq!(conn.transmit_len(), before);
    }
    Ok(())
}

#[test]
fn reserved_close_codes_are_not_sent() -> TestResult {
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let mut server = server();
        assert_eq!(
            server.close(CloseCode(code), ""),
            Err(SendError::InvalidCloseCode(code))
        );
        assert_eq!(server.state(), State::Open);
        assert_eq!(output(&mut server), b"");
    }
    for code in [1000, 1003, 1007, 1014, 3000, 4999] {
        let mut server = server();
        server.close(CloseCode(code), "why")?;
        assert_eq!(output(&mut server), server_close(code, "why"));
    }
    Ok(())
}

#[test]
fn close_after_a_failure_is_not_processed() -> TestResult {
    let mut server = server();
    let mut wire = masked(true, 0, OpCode::Text, b"\xff");
    wire.extend(client_close(1000, ""));
    assert_eq!(server.handle_input(&wire), Err(ProtocolError::InvalidUtf8));
    server.handle_input(&client_close(1000, ""))?;
    assert_eq!(events(&mut server), []);
    assert_eq!(
        output(&mut server),
        server_close(1007, "invalid UTF-8 in text message")
    );
    assert_eq!(server.state(), State::Closing);
    Ok(())
}

// RFC 6455 §5.5.2 and §5.5.3: Ping and Pong.

#[test]
fn each_ping_gets_a_pong_with_identical_payload() -> TestResult {
    let mut client = client();
    let payloads: [&[u8]; 3] = [b"", b"one", &[0xff; 125]];
    let mut wire = Vec::new();
    let mut pongs = Vec::new();
    for payload in payloads {
        wire.extend(unmasked(true, 0, OpCode::Ping, payload));
        pongs.extend(masked(true, 0, OpCode::Pong, payload));
    }
    client.handle_input(&wire)?;
    assert_eq!(events(&mut client).len(), 3);
    assert_eq!(output(&mut client), pongs);
    Ok(())
}

// RFC 6455 §5.6 and §8.1: text is UTF-8.

#[test]
fn fails_on_invalid_utf8_text() {
    // An invalid byte, an overlong form, a surrogate, a code point above U+10FFFF.
    let cases: [&[u8]; 4] = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"];
    for payload in cases {
        assert_server_fails(
            &masked(true, 0, OpCode::Text, payload),
            ProtocolError::InvalidUtf8,
            "invalid UTF-8 in text message",
        );
    }
}

#[test]
fn fails_on_text_ending_inside_a_code_point() {
    // "€" is E2 82 AC: the message ends after its second byte.
    for fragmented in [false, true] {
        let wire = if fragmented {
            let mut wire = masked(false, 0, OpCode::Text, b"price: \xe2");
            wire.extend(masked(true, 0, OpCode::Continuation, b"\x82"));
            wire
        } else {
            masked(true, 0, OpCode::Text, b"price: \xe2\x82")
        };
        assert_server_fails(
            &wire,
            ProtocolError::InvalidUtf8,
            "invalid UTF-8 in text message",
        );
    }
}

#[test]
fn code_point_split_over_three_fragments_is_valid() -> TestResult {
    // U+1F600 is F0 9F 98 80.
    let mut wire = masked(false, 0, OpCode::Text, b"\xf0");
    wire.extend(masked(false, 0, OpCode::Continuation, b"\x9f\x98"));
    wire.extend(masked(true, 0, OpCode::Continuation, b"\x80!"));
    let mut server = server();
    server.handle_input(&wire)?;
    assert_eq!(events(&mut server), [text("\u{1F600}!")]);
    Ok(())
}

#[test]
fn binary_messages_are_not_utf8_checked() -> TestResult {
    let mut server = server();
    server.handle_input(&masked(true, 0, OpCode::Binary, b"\xff\xed\xa0\x80"))?;
    assert_eq!(
        events(&mut server),
        [Event::Message(Message::Binary(Bytes::from_static(
            b"\xff\xed\xa0\x80"
        )))]
    );
    Ok(())
}

// RFC 6455 §10.4: limits.

#[test]
fn frame_and_message_over_the_limits_fail_with_1009() {
    let config = Config::default().max_frame_size(10).max_message_size(15);
    // Only the header of the 11-byte frame is needed.
    let frame = masked(true, 0, OpCode::Binary, &[0; 11]);
    assert_fails(
        Connection::server(config),
        &frame[..6],
        ProtocolError::FrameTooLarge { limit: 10 },
        &server_close(1009, "frame payload exceeds max_frame_size (10 bytes)"),
    );
    let mut wire = masked(false, 0, OpCode::Text, &[b'a'; 10]);
    wire.extend(&masked(true, 0, OpCode::Continuation, &[b'b'; 6])[..6]);
    assert_fails(
        Connection::server(config),
        &wire,
        ProtocolError::MessageTooLarge { limit: 15 },
        &server_close(1009, "message exceeds max_message_size (15 bytes)"),
    );
}

//! Property tests: frames and messages survive encoding and decoding in both roles, and what a
//! [`Connection`] reports and sends does not depend on how its input is split.

use std::num::NonZeroUsize;

use bytes::{Bytes, BytesMut};
use lapps_proto::close::{CloseCode, CloseFrame};
use lapps_proto::frame::{Frame, FrameDecoder, encode_frame};
use lapps_proto::opcode::OpCode;
use lapps_proto::utf8::Utf8Validator;
use lapps_proto::{Config, Connection, Event, Message, ProtocolError, Role, State};
use proptest::prelude::*;
use proptest::sample::Index;

/// Payload lengths: mostly small, sometimes at a length-form boundary of RFC 6455 §5.2.
fn payload_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0..=130_usize,
        2 => 131..=2000_usize,
        1 => prop::sample::select(vec![125_usize, 126, 127, 65_535, 65_536]),
    ]
}

/// A payload of `len` bytes: arbitrary when short, a seeded pattern when long (so that 64 KiB
/// cases stay cheap to generate).
fn payload(len: usize) -> BoxedStrategy<Vec<u8>> {
    if len <= 2000 {
        prop::collection::vec(any::<u8>(), len).boxed()
    } else {
        any::<u8>()
            .prop_map(move |seed| {
                let mut state = u32::from(seed) | 1;
                (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        state.to_le_bytes()[0]
                    })
                    .collect()
            })
            .boxed()
    }
}

/// Any frame a decoder must accept when every RSV bit is allowed.
fn frame() -> impl Strategy<Value = Frame> {
    let opcode = prop::sample::select(vec![
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ]);
    (opcode, any::<bool>(), 0..8_u8).prop_flat_map(|(opcode, fin, rsv)| {
        let len = if opcode.is_control() {
            (0..=125_usize).boxed()
        } else {
            payload_len().boxed()
        };
        len.prop_flat_map(payload).prop_map(move |payload| Frame {
            // RFC 6455 §5.5: control frames are never fragmented.
            fin: fin || opcode.is_control(),
            rsv,
            opcode,
            payload: payload.into(),
        })
    })
}

fn decoder(role: Role) -> FrameDecoder {
    let mut decoder = FrameDecoder::new(role, usize::MAX);
    decoder.set_allowed_rsv(0b111);
    decoder
}

/// The header length RFC 6455 §5.2 prescribes: the minimal length form, plus the mask key.
fn header_len(payload_len: usize, masked: bool) -> usize {
    let len = match payload_len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    if masked { len + 4 } else { len }
}

/// Deterministic mask keys for a client, different for every frame.
fn masks(seed: u32) -> impl FnMut() -> [u8; 4] + Send + 'static {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(0x9E37_79B9).wrapping_add(0x7F4A_7C15);
        state.to_be_bytes()
    }
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// A data message: text or binary.
fn data_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<String>().prop_map(Message::from),
        prop::collection::vec(any::<char>(), 0..400)
            .prop_map(|chars| Message::from(chars.into_iter().collect::<String>())),
        payload_len()
            .prop_filter("keeps the pair tests fast", |len| *len <= 2000)
            .prop_flat_map(payload)
            .prop_map(Message::from),
    ]
}

fn fragment_size() -> impl Strategy<Value = Option<NonZeroUsize>> {
    prop_oneof![Just(None), (1..300_usize).prop_map(NonZeroUsize::new)]
}

/// A control frame the peer may interleave with fragments: ping or pong.
#[derive(Clone, Debug)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn control() -> impl Strategy<Value = Control> {
    let payload = prop::collection::vec(any::<u8>(), 0..=125);
    prop_oneof![
        payload.clone().prop_map(Control::Ping),
        payload.prop_map(Control::Pong),
    ]
}

/// One item of a valid stream: a control frame, or a message in fragments with control
/// frames between them.
#[derive(Clone, Debug)]
enum Item {
    Control(Control),
    Message {
        message: Message,
        /// Fragment boundaries into the payload (any byte offset, also inside a code point).
        cuts: Vec<Index>,
        /// Control frames, each placed after the fragment its index picks.
        between: Vec<(Index, Control)>,
    },
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        1 => control().prop_map(Item::Control),
        3 => (
            data_message(),
            prop::collection::vec(any::<Index>(), 0..4),
            prop::collection::vec((any::<Index>(), control()), 0..3),
        )
            .prop_map(|(message, cuts, between)| Item::Message {
                message,
                cuts,
                between
            }),
    ]
}

/// A valid stream of frames from the peer of `role`, ending with a Close and then some bytes
/// that must be ignored.
#[derive(Clone, Debug)]
struct Stream {
    items: Vec<Item>,
    close: CloseFrame,
    trailing: Vec<u8>,
}

fn stream() -> impl Strategy<Value = Stream> {
    let code = prop_oneof![1000..=1003_u16, 1007..=1014_u16, 3000..=4999_u16];
    let reason = prop::collection::vec(any::<char>(), 0..20).prop_map(String::from_iter);
    (
        prop::collection::vec(item(), 0..8),
        code,
        reason,
        prop::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(|(items, code, reason, trailing)| Stream {
            items,
            close: CloseFrame::new(CloseCode(code), reason),
            trailing,
        })
}

impl Stream {
    /// Encodes the stream as the peer of `role` sends it; returns the wire bytes and the
    /// events the connection must report.
    fn encode(&self, role: Role, seed: u32) -> (Vec<u8>, Vec<Event>) {
        let mut wire = Wire {
            masked: role == Role::Server,
            masks: Box::new(masks(seed)),
            bytes: Vec::new(),
            expected: Vec::new(),
        };
        for item in &self.items {
            match item {
                Item::Control(c) => wire.control(c),
                Item::Message {
                    message,
                    cuts,
                    between,
                } => wire.message(message, cuts, between),
            }
        }
        let mut close = Vec::new();
        self.close.encode(&mut close);
        wire.frame(true, OpCode::Close, &close);
        wire.expected.push(Event::Closed(Some(self.close.clone())));
        wire.bytes.extend_from_slice(&self.trailing);
        (wire.bytes, wire.expected)
    }
}

/// A stream being encoded, and the events it must produce.
struct Wire {
    masked: bool,
    masks: Box<dyn FnMut() -> [u8; 4]>,
    bytes: Vec<u8>,
    expected: Vec<Event>,
}

impl Wire {
    fn frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) {
        let mask = self.masked.then(|| (self.masks)());
        encode_frame(fin, 0, opcode, payload, mask, &mut self.bytes);
    }

    fn control(&mut self, control: &Control) {
        let (opcode, payload, event) = match control {
            Control::Ping(p) => (OpCode::Ping, p, Event::Ping(Bytes::from(p.clone()))),
            Control::Pong(p) => (OpCode::Pong, p, Event::Pong(Bytes::from(p.clone()))),
        };
        self.frame(true, opcode, payload);
        self.expected.push(event);
    }

    fn message(&mut self, message: &Message, cuts: &[Index], between: &[(Index, Control)]) {
        let payload = message.payload();
        let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
        bounds.push(0);
        bounds.push(payload.len());
        bounds.sort_unstable();
        let count = bounds.len() - 1;
        let mut opcode = match message {
            Message::Text(_) => OpCode::Text,
            _ => OpCode::Binary,
        };
        for (n, pair) in bounds.windows(2).enumerate() {
            let fin = n + 1 == count;
            self.frame(fin, opcode, &payload[pair[0]..pair[1]]);
            opcode = OpCode::Continuation;
            if fin {
                continue;
            }
            // RFC 6455 §5.4: control frames MAY be injected in the middle of a message.
            for (at, control) in between {
                if at.index(count - 1) == n {
                    self.control(control);
                }
            }
        }
        self.expected.push(Event::Message(message.clone()));
    }
}

/// Everything a connection did with one input.
#[derive(Debug, PartialEq)]
struct Outcome {
    error: Option<ProtocolError>,
    events: Vec<Event>,
    output: Vec<u8>,
    state: State,
}

fn connection(role: Role, seed: u32) -> Connection {
    match role {
        Role::Server => Connection::server(Config::default()),
        Role::Client => Connection::client(Config::default(), masks(seed)),
    }
}

/// Feeds `wire` in one call, and takes the output once at the end.
fn feed_whole(role: Role, seed: u32, wire: &[u8]) -> Outcome {
    let mut conn = connection(role, seed);
    let error = conn.handle_input(wire).err();
    let events = events(&mut conn);
    let mut output = Vec::new();
    conn.poll_transmit(&mut output);
    Outcome {
        error,
        events,
        output,
        state: conn.state(),
    }
}

/// Feeds `wire` cut at `cuts`, taking events and output after every piece; input after the
/// first error must be accepted and ignored.
fn feed_split(role: Role, seed: u32, wire: &[u8], cuts: &[Index]) -> Outcome {
    let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
    bounds.push(0);
    bounds.push(wire.len());
    bounds.sort_unstable();
    let mut conn = connection(role, seed);
    let mut outcome = Outcome {
        error: None,
        events: Vec::new(),
        output: Vec::new(),
        state: State::Open,
    };
    for pair in bounds.windows(2) {
        let result = conn.handle_input(&wire[pair[0]..pair[1]]);
        match (outcome.error, result) {
            (None, Err(error)) => outcome.error = Some(error),
            (Some(_), result) => assert_eq!(result, Ok(()), "input after a failure"),
            (None, Ok(())) => {}
        }
        outcome.events.extend(events(&mut conn));
        conn.poll_transmit(&mut outcome.output);
    }
    outcome.state = conn.state();
    outcome
}

/// Decodes frames sent by a connection playing `role`.
fn sent_frames(role: Role, output: &[u8]) -> Vec<Frame> {
    let peer = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let mut decoder = FrameDecoder::new(peer, usize::MAX);
    let mut buf = BytesMut::from(output);
    let mut frames = Vec::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => break,
            Err(error) => panic!("the output breaks RFC 6455: {error}"),
        }
    }
    assert!(buf.is_empty(), "a partial frame in the output");
    frames
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Server), Just(Role::Client)]
}

proptest! {
    #[test]
    fn masked_client_frames_round_trip_through_a_server_decoder(
        frames in prop::collection::vec(frame(), 1..4),
        key in any::<[u8; 4]>(),
    ) {
        let mut wire = Vec::new();
        for frame in &frames {
            let start = wire.len();
            frame.encode(Some(key), &mut wire);
            let header = header_len(frame.payload.len(), true);
            prop_assert_eq!(wire.len() - start, header + frame.payload.len());
            prop_assert_eq!(&wire[start + header - 4..start + header], &key[..]);
        }
        let mut buf = BytesMut::from(&wire[..]);
        let mut server = decoder(Role::Server);
        for frame in &frames {
            prop_assert_eq!(server.decode(&mut buf), Ok(Some(frame.clone())));
        }
        prop_assert_eq!(server.decode(&mut buf), Ok(None));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn unmasked_server_frames_round_trip_through_a_client_decoder(
        frames in prop::collection::vec(frame(), 1..4),
    ) {
        let mut wire = Vec::new();
        for frame in &frames {
            let start = wire.len();
            frame.encode(None, &mut wire);
            let header = header_len(frame.payload.len(), false);
            prop_assert_eq!(&wire[start + header..], &frame.payload[..]);
        }
        let mut buf = BytesMut::from(&wire[..]);
        let mut client = decoder(Role::Client);
        for frame in &frames {
            prop_assert_eq!(client.decode(&mut buf), Ok(Some(frame.clone())));
        }
        prop_assert!(buf.is_empty());
        // The same bytes break the rule of the other role at the first frame.
        let mut server = decoder(Role::Server);
        prop_assert_eq!(
            server.decode(&mut BytesMut::from(&wire[..])),
            Err(ProtocolError::UnmaskedFrame)
        );
    }

    #[test]
    fn messages_round_trip_through_a_connection_pair(
        messages in prop::collection::vec(data_message(), 0..6),
        fragment_size in fragment_size(),
        seed in any::<u32>(),
    ) {
        let config = Config::default().fragment_size(fragment_size);
        let mut client = Connection::client(config, masks(seed));
        let mut server = Connection::server(config);
        for message in &messages {
            client.send(message.clone()).unwrap();
        }
        let mut wire = Vec::new();
        client.poll_transmit(&mut wire);
        server.handle_input(&wire).unwrap();
        let received = events(&mut server);
        let expected: Vec<Event> = messages.iter().cloned().map(Event::Message).collect();
        prop_assert_eq!(&received, &expected);
        // And back, echoed by the server.
        for message in &messages {
            server.send(message.clone()).unwrap();
        }
        let mut wire = Vec::new();
        server.poll_transmit(&mut wire);
        client.handle_input(&wire).unwrap();
        prop_assert_eq!(events(&mut client), expected);
        // Each message is framed by the LAppS rule of `Config::fragment_size`: one frame if
        // shorter than two fragments, else `n = len / size` frames, all of `size` bytes but the
        // last, which takes the rest.
        let size = fragment_size.map_or(usize::MAX, NonZeroUsize::get);
        let mut frames = sent_frames(Role::Server, &wire).into_iter();
        for message in &messages {
            let len = message.payload().len();
            let n = len / size;
            let mut expected = vec![size; n.saturating_sub(1)];
            expected.push(len - expected.len() * size);
            let sizes: Vec<usize> = frames
                .by_ref()
                .take(expected.len())
                .map(|frame| frame.payload.len())
                .collect();
            prop_assert_eq!(sizes, expected);
        }
        prop_assert_eq!(frames.next(), None);
    }

    #[test]
    fn valid_stream_split_anywhere_gives_the_same_events_and_output(
        role in role(),
        stream in stream(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
        seed in any::<u32>(),
    ) {
        let (wire, expected) = stream.encode(role, seed);
        let whole = feed_whole(role, seed, &wire);
        prop_assert_eq!(whole.error, None);
        prop_assert_eq!(&whole.events, &expected);
        prop_assert_eq!(whole.state, State::Closed);
        // The replies: a Pong for every Ping, in order, then the Close echoing the code.
        let mut replies: Vec<Frame> = expected
            .iter()
            .filter_map(|event| match event {
                Event::Ping(p) => Some(Frame::new(OpCode::Pong, p.clone())),
                _ => None,
            })
            .collect();
        let echo = Bytes::copy_from_slice(&stream.close.code.0.to_be_bytes());
        replies.push(Frame::new(OpCode::Close, echo));
        prop_assert_eq!(sent_frames(role, &whole.output), replies);

        let split = feed_split(role, seed, &wire, &cuts);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn invalid_stream_split_anywhere_fails_the_same_way(
        role in role(),
        stream in stream(),
        flips in prop::collection::vec((any::<Index>(), 1..=255_u8), 1..4),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
        seed in any::<u32>(),
    ) {
        let (mut wire, _) = stream.encode(role, seed);
        for (at, bits) in &flips {
            let at = at.index(wire.len());
            wire[at] ^= bits;
        }
        let whole = feed_whole(role, seed, &wire);
        if let Some(error) = whole.error {
            // The failure's Close comes last: its code and the error's text as the reason.
            prop_assert_eq!(whole.state, State::Closing);
            let frames = sent_frames(role, &whole.output);
            let mut close = Vec::new();
            CloseFrame::new(error.close_code(), error.to_string()).encode(&mut close);
            prop_assert_eq!(frames.last(), Some(&Frame::new(OpCode::Close, close)));
            prop_assert!(!whole.events.iter().any(|e| matches!(e, Event::Closed(_))));
        }
        let split = feed_split(role, seed, &wire, &cuts);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn utf8_validator_fed_in_pieces_agrees_with_std(
        text in any::<String>(),
        flips in prop::collection::vec((any::<Index>(), any::<u8>()), 0..3),
        cuts in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let mut bytes = text.into_bytes();
        for (at, bits) in &flips {
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                bytes[at] ^= bits;
            }
        }
        let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        bounds.push(0);
        bounds.push(bytes.len());
        bounds.sort_unstable();
        let mut validator = Utf8Validator::new();
        let pieces = bounds
            .windows(2)
            .try_for_each(|pair| validator.feed(&bytes[pair[0]..pair[1]]));
        let valid = pieces.and_then(|()| validator.finish()).is_ok();
        prop_assert_eq!(valid, std::str::from_utf8(&bytes).is_ok());
    }
}

//! Interop over loopback with tungstenite as an independent peer, in both directions:
//! a lapps-proto server with a tungstenite client, and a tungstenite server with a lapps-proto
//! client. Text, binary, fragmented and 16 MiB messages, and close handshakes from each side.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;
use lapps_proto::handshake::{self, AcceptOptions, ClientOptions, Limits, Uri};
use lapps_proto::{CloseCode, CloseFrame, Config, Connection, Event, Message, State, Status};
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::protocol::frame::coding::{CloseCode as TCode, Data, OpCode as TOpCode};
use tungstenite::protocol::frame::{Frame as TFrame, FrameHeader as TFrameHeader};
use tungstenite::{Message as TMessage, WebSocket};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Every socket read gives up after this long, so a broken peer fails the test, not hangs it.
const IO_TIMEOUT: Duration = Duration::from_secs(20);
const SIXTEEN_MIB: usize = 16 << 20;

/// Payloads every test exchanges, in order.
fn payloads() -> Vec<Message> {
    vec![
        Message::from("hello, κόσμε 🌍"),
        Message::Text(String::new().into()),
        Message::Binary(Bytes::from_static(&[0, 159, 146, 150, 255])),
        Message::Binary(Bytes::new()),
        Message::Binary((0..70_000u32).map(|i| (i % 251) as u8).collect()),
        Message::Binary(Bytes::from(vec![0x5A; SIXTEEN_MIB])),
        Message::Text("x".repeat(SIXTEEN_MIB).into()),
    ]
}

fn to_tungstenite(message: &Message) -> TMessage {
    match message {
        Message::Text(text) => TMessage::text(text.as_str()),
        Message::Binary(data) => TMessage::binary(data.clone()),
        other => panic!("not a data message: {other:?}"),
    }
}

fn from_tungstenite(message: TMessage) -> Message {
    match message {
        TMessage::Text(text) => Message::Text(text.as_str().to_owned().into()),
        TMessage::Binary(data) => Message::Binary(data),
        other => panic!("not a data message: {other:?}"),
    }
}

fn big_config() -> Config {
    Config::default()
        .max_frame_size(SIXTEEN_MIB)
        .max_message_size(SIXTEEN_MIB)
}

/// A lapps-proto endpoint over a blocking socket.
struct Endpoint {
    stream: TcpStream,
    conn: Connection,
    buf: Vec<u8>,
}

impl Endpoint {
    fn flush(&mut self) -> std::io::Result<()> {
        let mut out = Vec::new();
        if self.conn.poll_transmit(&mut out) {
            self.stream.write_all(&out)?;
        }
        Ok(())
    }

    /// Reads until an event arrives; `None` at EOF.
    fn next_event(&mut self) -> Result<Option<Event>, Box<dyn std::error::Error>> {
        loop {
            if let Some(event) = self.conn.poll_event() {
                return Ok(Some(event));
            }
            let n = self.stream.read(&mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            let result = self.conn.handle_input(&self.buf[..n]);
            self.flush()?;
            result?;
        }
    }
}

/// Accepts one connection on a lapps-proto server and echoes until `bye`, which it answers by
/// closing with 1001. Returns the close frame the client sent or echoed.
fn lapps_server(listener: TcpListener) -> JoinHandle<Option<CloseFrame>> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().ok()?;
        stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
        let mut endpoint = Endpoint {
            stream,
            conn: Connection::server(big_config()),
            buf: vec![0; 64 * 1024],
        };
        let rest = accept(&mut endpoint.stream).ok()?;
        endpoint.conn.handle_input(&rest).ok()?;
        while let Some(event) = endpoint.next_event().ok()? {
            match event {
                Event::Message(Message::Text(text)) if text.as_str() == "bye" => {
                    endpoint
                        .conn
                        .close(CloseCode::GOING_AWAY, "bye to you")
                        .ok()?;
                    endpoint.flush().ok()?;
                }
                Event::Message(message) => {
                    endpoint.conn.send(message).ok()?;
                    endpoint.flush().ok()?;
                }
                Event::Closed(frame) => {
                    endpoint.flush().ok()?;
                    return frame;
                }
                Event::Ping(_) | Event::Pong(_) => endpoint.flush().ok()?,
            }
        }
        None
    })
}

/// Server side of the opening handshake; returns the bytes after the request head.
fn accept(stream: &mut TcpStream) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut head = Vec::new();
    let mut buf = [0; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err("eof during the handshake".into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Status::Complete((request, len)) =
            handshake::parse_request(&head, &Limits::default())?
        {
            request.validate()?;
            let mut out = Vec::new();
            let key = request.key().unwrap_or_default();
            handshake::write_accept(key, &AcceptOptions::new(), &mut out);
            stream.write_all(&out)?;
            return Ok(head.split_off(len));
        }
    }
}

fn tungstenite_client(
    addr: std::net::SocketAddr,
) -> Result<WebSocket<TcpStream>, Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let (ws, _) = tungstenite::client(format!("ws://{addr}/echo"), stream)?;
    Ok(ws)
}

#[test]
fn tungstenite_client_exchanges_messages_with_a_lapps_server() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = lapps_server(listener);
    let mut ws = tungstenite_client(addr)?;
    for message in payloads() {
        ws.send(to_tungstenite(&message))?;
        assert_eq!(from_tungstenite(ws.read()?), message);
    }
    // A fragmented text message, split inside a code point, with a ping between fragments.
    let bytes = "fragmented κόσμε".as_bytes();
    ws.write(TMessage::Frame(TFrame::message(
        &bytes[..12],
        TOpCode::Data(Data::Text),
        false,
    )))?;
    ws.write(TMessage::Ping(Bytes::from_static(b"between")))?;
    ws.write(TMessage::Frame(TFrame::message(
        &bytes[12..],
        TOpCode::Data(Data::Continue),
        true,
    )))?;
    ws.flush()?;
    assert_eq!(ws.read()?, TMessage::Pong(Bytes::from_static(b"between")));
    assert_eq!(ws.read()?, TMessage::text("fragmented κόσμε"));
    // The client closes; the server echoes the code.
    ws.close(Some(TCloseFrame {
        code: TCode::Library(4001),
        reason: "done".into(),
    }))?;
    loop {
        match ws.read() {
            Ok(TMessage::Close(Some(frame))) => {
                assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4001, ""));
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let closed = server.join().map_err(|_| "server panicked")?;
    assert_eq!(closed, Some(CloseFrame::new(CloseCode(4001), "done")));
    Ok(())
}

#[test]
fn a_lapps_server_closes_and_tungstenite_completes_the_handshake() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = lapps_server(listener);
    let mut ws = tungstenite_client(addr)?;
    ws.send(TMessage::text("bye"))?;
    match ws.read()? {
        TMessage::Close(Some(frame)) => {
            assert_eq!(
                (u16::from(frame.code), frame.reason.as_str()),
                (1001, "bye to you")
            );
        }
        other => panic!("expected a Close, got {other:?}"),
    }
    // tungstenite queued its reply; flushing sends it.
    ws.flush()?;
    let closed = server.join().map_err(|_| "server panicked")?;
    // tungstenite's reply repeats the reason as well as the code.
    assert_eq!(closed, Some(CloseFrame::new(CloseCode(1001), "bye to you")));
    Ok(())
}

/// A tungstenite echo server that closes with 1001 on `bye`.
fn tungstenite_server(listener: TcpListener) -> JoinHandle<Result<(), String>> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut ws = tungstenite::accept(stream).map_err(|e| e.to_string())?;
        loop {
            match ws.read() {
                Ok(TMessage::Text(text)) if text.as_str() == "bye" => {
                    let frame = TCloseFrame {
                        code: TCode::Away,
                        reason: "bye to you".into(),
                    };
                    ws.close(Some(frame)).map_err(|e| e.to_string())?;
                }
                Ok(message @ (TMessage::Text(_) | TMessage::Binary(_))) => {
                    ws.send(message).map_err(|e| e.to_string())?;
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
    })
}

/// Connects a lapps-proto client to `addr`.
fn lapps_client(
    addr: std::net::SocketAddr,
    config: Config,
) -> Result<Endpoint, Box<dyn std::error::Error>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let uri = Uri::parse(&format!("ws://{addr}/echo"))?;
    let key = *b"0123456789abcdef";
    let mut request = Vec::new();
    handshake::write_request(&uri, &key, &ClientOptions::new(), &mut request);
    stream.write_all(&request)?;
    let mut head = Vec::new();
    let mut buf = [0; 4096];
    let rest = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err("eof during the handshake".into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Status::Complete((_, len)) = handshake::parse_response(&head, &key, &[])? {
            break head.split_off(len);
        }
    };
    let mut seed = 0x2545_F491_u32;
    let masks = move || {
        // xorshift32: the test needs varied keys, not secure ones.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed.to_be_bytes()
    };
    let mut endpoint = Endpoint {
        stream,
        conn: Connection::client(config, masks),
        buf: vec![0; 64 * 1024],
    };
    endpoint.conn.handle_input(&rest)?;
    Ok(endpoint)
}

#[test]
fn a_lapps_client_exchanges_messages_with_a_tungstenite_server() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = tungstenite_server(listener);
    let mut client = lapps_client(addr, big_config())?;
    for message in payloads() {
        client.conn.send(message.clone())?;
        client.flush()?;
        assert_eq!(client.next_event()?, Some(Event::Message(message)));
    }
    client.conn.send(Message::Ping(Bytes::from_static(b"p")))?;
    client.flush()?;
    assert_eq!(
        client.next_event()?,
        Some(Event::Pong(Bytes::from_static(b"p")))
    );
    // The client closes; tungstenite echoes the code.
    client.conn.close(CloseCode(3000), "done")?;
    client.flush()?;
    assert_eq!(
        client.next_event()?,
        Some(Event::Closed(Some(CloseFrame::new(
            CloseCode(3000),
            "done"
        ))))
    );
    assert_eq!(client.conn.state(), State::Closed);
    drop(client);
    server.join().map_err(|_| "server panicked")??;
    Ok(())
}

#[test]
fn a_lapps_client_sends_fragmented_messages_to_tungstenite() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = tungstenite_server(listener);
    let config = big_config().fragment_size(std::num::NonZeroUsize::new(1000));
    let mut client = lapps_client(addr, config)?;
    let text = "κόσμε ".repeat(1000);
    client.conn.send(Message::from(text.clone()))?;
    let mut out = Vec::new();
    client.conn.poll_transmit(&mut out);
    // 11000 bytes in frames of 1000: eleven frames, the first FIN=0 with the text opcode.
    assert_eq!(out[0], 0x01);
    client.stream.write_all(&out)?;
    assert_eq!(
        client.next_event()?,
        Some(Event::Message(Message::from(text)))
    );
    // tungstenite closes on `bye`; the lapps client echoes its code.
    client.conn.send(Message::from("bye"))?;
    client.flush()?;
    assert_eq!(
        client.next_event()?,
        Some(Event::Closed(Some(CloseFrame::new(
            CloseCode(1001),
            "bye to you"
        ))))
    );
    client.flush()?;
    assert_eq!(
        client.next_event()?,
        None,
        "the server closes the TCP connection first"
    );
    server.join().map_err(|_| "server panicked")??;
    Ok(())
}

#[test]
fn tungstenite_frames_are_masked_as_the_rfc_requires() {
    // Sanity check of the peer itself: a masked frame header as tungstenite writes it parses
    // with lapps-proto to the same fields.
    let header = TFrameHeader {
        mask: Some([1, 2, 3, 4]),
        opcode: TOpCode::Data(Data::Binary),
        ..TFrameHeader::default()
    };
    let mut wire = Vec::new();
    header
        .format(300, &mut wire)
        .expect("writing to a Vec cannot fail");
    let Ok(Status::Complete((parsed, len))) = lapps_proto::header::FrameHeader::parse(&wire) else {
        panic!("tungstenite's header does not parse");
    };
    assert_eq!(
        (parsed.mask, parsed.payload_len, len),
        (Some([1, 2, 3, 4]), 300, 8)
    );
}

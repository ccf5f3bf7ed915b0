//! A blocking echo client on `std::net`, built only on lapps-proto: the client role's
//! conformance target, driven by the Autobahn TestSuite's fuzzingserver
//! (`tests/autobahn_client.rs`).
//!
//! Run with: `kosoku -m fuzzingserver 127.0.0.1:9001` and then
//! `cargo run --release -p lapps-proto --example std_echo_client -- ws://127.0.0.1:9001`
//!
//! It asks the server for its case count, runs every case by echoing each message it
//! receives, and asks the server to write its reports.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use lapps_proto::handshake::{self, ClientOptions, Uri};
use lapps_proto::{Config, Connection, Event, Message, Status};

/// The agent name the reports are filed under.
pub(crate) const AGENT: &str = "lapps-proto";

/// Gives up on a server that sends nothing for this long.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

#[allow(
    dead_code,
    reason = "tests/autobahn_client.rs includes this file and calls `run` only"
)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    run(&base)
}

/// Runs every case the fuzzingserver at `base` offers, then has it write its reports.
pub(crate) fn run(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let count = match session(&format!("{base}/getCaseCount"))?.first() {
        Some(Message::Text(text)) => text.as_str().trim().parse::<u32>()?,
        other => return Err(format!("unexpected case count reply {other:?}").into()),
    };
    for case in 1..=count {
        session(&format!("{base}/runCase?case={case}&agent={AGENT}"))?;
    }
    session(&format!("{base}/updateReports?agent={AGENT}"))?;
    Ok(())
}

/// Connects to `uri`, echoes every message until the connection ends, and returns the
/// messages received.
fn session(uri: &str) -> Result<Vec<Message>, Box<dyn std::error::Error>> {
    let uri = Uri::parse(uri)?;
    let mut stream =
        TcpStream::connect((uri.host().to_string().trim_matches(['[', ']']), uri.port()))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut random = Random::new();
    let mut key = [0; 16];
    key[..8].copy_from_slice(&random.next().to_ne_bytes());
    key[8..].copy_from_slice(&random.next().to_ne_bytes());
    let mut buf = vec![0; 64 * 1024];
    let pipelined = connect(&mut stream, &uri, &key, &mut buf)?;
    let masks = move || {
        random.next().to_ne_bytes()[..4]
            .try_into()
            .unwrap_or([0; 4])
    };
    let mut conn = Connection::client(Config::default(), masks);
    let mut received = Vec::new();
    let mut out = Vec::new();
    let mut result = conn.handle_input(&pipelined);
    loop {
        while let Some(event) = conn.poll_event() {
            if let Event::Message(message) = event {
                received.push(message.clone());
                // Echo; a send can only fail once a Close was sent or received.
                let _ = conn.send(message);
            }
        }
        if conn.poll_transmit(&mut out) {
            match stream.write_all(&out) {
                Ok(()) => out.clear(),
                // The server may end a session (getCaseCount does) while our echo is on its
                // way: a reset is the end of the session, as on the read side.
                Err(e) if ended_by_peer(&e) => break,
                Err(e) => return Err(e.into()),
            }
        }
        if result.is_err() {
            break;
        }
        // RFC 6455 §7.1.1: after the close handshake the client waits for the server to close
        // the TCP connection, so it keeps reading until EOF.
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if ended_by_peer(&e) => break,
            Err(e) => return Err(e.into()),
        };
        result = conn.handle_input(&buf[..n]);
    }
    Ok(received)
}

/// Returns true if `error` means the server closed the connection abruptly.
fn ended_by_peer(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// Sends the opening handshake and reads the response; returns the bytes after its head.
fn connect(
    stream: &mut TcpStream,
    uri: &Uri,
    key: &[u8; 16],
    buf: &mut [u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut request = Vec::new();
    handshake::write_request(uri, key, &ClientOptions::new(), &mut request);
    stream.write_all(&request)?;
    let mut head = Vec::new();
    loop {
        let n = stream.read(buf)?;
        if n == 0 {
            return Err("the server closed the connection during the handshake".into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Status::Complete((_, len)) = handshake::parse_response(&head, key, &[])? {
            return Ok(head.split_off(len));
        }
    }
}

/// Masking keys and handshake nonces for the example, seeded from std's per-process random
/// hasher keys. A production client should use a cryptographic RNG.
struct Random(u64);

impl Random {
    fn new() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x5DEE_CE66);
        Self(hasher.finish() | 1)
    }

    /// xorshift64.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

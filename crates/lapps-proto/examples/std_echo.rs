//! A blocking echo server on `std::net`, built only on lapps-proto: proof that the codec needs
//! no IO library, and the target of the Autobahn conformance run (`tests/autobahn.rs`).
//!
//! Run with: `cargo run --release -p lapps-proto --example std_echo -- 127.0.0.1:9001`
//!
//! It serves every request target, one thread per connection, and echoes every text and
//! binary message. It prints `listening on ADDR` once bound (port 0 picks a free port).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use lapps_proto::handshake::{self, AcceptOptions, Limits};
use lapps_proto::{Config, Connection, Event, Status};

/// Gives up on a client that sends nothing for this long.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

#[allow(
    dead_code,
    reason = "tests/autobahn.rs includes this file and calls `run` only"
)]
#[expect(
    clippy::print_stdout,
    reason = "the example reports its address on stdout"
)]
fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5083".to_owned());
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    run(&listener);
    Ok(())
}

/// Serves every connection `listener` accepts, each on a thread of its own.
pub(crate) fn run(listener: &TcpListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        thread::spawn(move || {
            // A failed connection affects only itself.
            let _ = serve(stream);
        });
    }
}

/// Runs one connection: the opening handshake, then echo until the close handshake ends.
fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut buf = vec![0; 64 * 1024];
    let Some(pipelined) = handshake(&mut stream, &mut buf)? else {
        return Ok(());
    };
    let mut conn = Connection::server(Config::default());
    let mut out = Vec::new();
    let mut result = conn.handle_input(&pipelined);
    loop {
        while let Some(event) = conn.poll_event() {
            if let Event::Message(message) = event {
                // Echo; a send can only fail once a Close was sent or received.
                let _ = conn.send(message);
            }
        }
        if conn.poll_transmit(&mut out) {
            stream.write_all(&out)?;
            out.clear();
        }
        // After a protocol error (its Close is now written) or a completed close handshake,
        // the server closes the TCP connection first (RFC 6455 §7.1.1).
        if result.is_err() || conn.is_closed() {
            break;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        result = conn.handle_input(&buf[..n]);
    }
    stream.shutdown(Shutdown::Both)
}

/// Reads and answers the opening handshake; returns the bytes that followed the request head,
/// or `None` if the request was rejected.
fn handshake(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut out = Vec::new();
    let (request, len) = loop {
        let n = stream.read(buf)?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
        match handshake::parse_request(&head, &Limits::default()) {
            Ok(Status::Complete(parsed)) => break parsed,
            Ok(Status::Partial) => {}
            Err(error) => {
                error.write_response(None, &mut out);
                stream.write_all(&out)?;
                return Ok(None);
            }
        }
    };
    if let Err(error) = request.validate() {
        error.write_response(None, &mut out);
        stream.write_all(&out)?;
        return Ok(None);
    }
    let key = request.key().unwrap_or_default();
    handshake::write_accept(key, &AcceptOptions::new(), &mut out);
    stream.write_all(&out)?;
    Ok(Some(head.split_off(len)))
}

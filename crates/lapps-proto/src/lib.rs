//! A sans-IO, strict and fast RFC 6455 WebSocket codec.
//!
//! `lapps-proto` turns received bytes into events and commands into bytes to send, and does
//! nothing else: no sockets, no async runtime, no clock and no randomness of its own (a client
//! passes in its masking keys). Any transport can drive it: blocking `std::net`, tokio, a TLS
//! library's plaintext side, or an in-memory test.
//!
//! It is the codec of the lapps server, and it stands on its own as an RFC 6455 library: both
//! roles, the opening handshake ([`handshake`]), frames ([`frame`], [`header`], [`mask`]), and a
//! connection state machine ([`Connection`]) with fragmentation, control frames, the close
//! handshake, limits and fail-fast UTF-8 validation.
//!
//! # Driving a connection by hand
//!
//! A blocking echo server on `std::net`, after the opening handshake (see [`handshake`] and
//! `examples/std_echo.rs` for the whole program):
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! use lapps_proto::{Config, Connection, Event};
//!
//! fn echo(mut stream: TcpStream) -> Result<(), Box<dyn std::error::Error>> {
//!     let mut conn = Connection::server(Config::default());
//!     let mut buf = vec![0; 64 * 1024];
//!     let mut out = Vec::new();
//!     loop {
//!         let n = stream.read(&mut buf)?;
//!         if n == 0 {
//!             break;
//!         }
//!         let result = conn.handle_input(&buf[..n]);
//!         while let Some(event) = conn.poll_event() {
//!             if let Event::Message(message) = event {
//!                 conn.send(message)?; // echo
//!             }
//!         }
//!         if conn.poll_transmit(&mut out) {
//!             stream.write_all(&out)?;
//!             out.clear();
//!         }
//!         result?; // a protocol error: its Close was just written
//!         if conn.is_closed() {
//!             break; // close handshake done: the server closes the TCP connection first
//!         }
//!     }
//!     Ok(())
//! }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! #     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! #     echo(listener.accept()?.0)
//! # }
//! ```
//!
//! # Layers
//!
//! Each layer can be used alone:
//!
//! 1. [`header::FrameHeader::parse`]: httparse-style, no allocation; [`Status::Partial`] means
//!    "send more bytes".
//! 2. [`frame::FrameDecoder`]: frames out of a [`bytes::BytesMut`], unmasked in place, limits
//!    checked from the header; [`frame::encode_frame`] for the way out.
//! 3. [`Connection`]: messages, control frames, the close handshake, and every violation
//!    mapped to its close code ([`ProtocolError::close_code`]).
//!
//! # Zero copy
//!
//! A message that arrives in one frame is handed out as a [`bytes::Bytes`] slice of the
//! receive buffer: no copy. Fragmented messages are copied once, into one buffer. Read straight
//! into [`Connection::recv_buffer`] and call [`Connection::handle_received`] to avoid the copy
//! of [`Connection::handle_input`] as well.
//!
//! # Limits and defaults
//!
//! | limit | default | on excess |
//! | --- | --- | --- |
//! | [`Config::max_frame_size`] | 16 MiB | close 1009, from the frame header |
//! | [`Config::max_message_size`] | 64 MiB | close 1009, from the frame header |
//! | control frame payload | 125 bytes (RFC 6455 §5.5) | close 1002 |
//! | close reason | 123 bytes | [`SendError::CloseReasonTooLong`] |
//! | [`handshake::Limits::max_header_size`] | 8 KiB | 431 |
//! | [`handshake::Limits::max_headers`] | 64 fields | 431 |
//!
//! # Feature flags
//!
//! - `arbitrary`: derives `arbitrary::Arbitrary` for the fuzz targets. Fuzzing only.
//!
//! See `docs/protocol.md` in the repository for RFC 6455 coverage and deliberate deviations.
#![deny(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

pub mod close;
pub mod config;
pub mod connection;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod header;
#[cfg(feature = "lapps")]
pub mod lapps;
pub mod mask;
pub mod message;
pub mod opcode;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Role};
pub use connection::{Connection, Event, MaskSource, State};
pub use error::{ProtocolError, SendError};
pub use message::{Message, Utf8Bytes};
pub use opcode::OpCode;

/// The outcome of an incremental parse: either a complete value or a request for more bytes.
///
/// A parse that returns [`Status::Partial`] has consumed nothing; call it again with the same
/// bytes plus whatever arrived since.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Status<T> {
    /// The value is complete.
    Complete(T),
    /// More bytes are needed.
    Partial,
}

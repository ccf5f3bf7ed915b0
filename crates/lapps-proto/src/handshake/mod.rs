//! The HTTP/1.1 Upgrade handshake (RFC 6455 §4), both sides, as plain data transformations.
//!
//! Nothing here reads a socket, looks at a clock or draws random numbers: parsers take the
//! bytes received so far and report [`Status::Partial`](crate::Status::Partial) until a head is
//! complete, and writers append to a `Vec<u8>`. The client's nonce is passed in.
//!
//! # Server
//!
//! [`parse_request`] reads the request head within [`Limits`]; the checks then run in the order
//! of the lapps spec §5.3, so that a server can put its own (route, ACL, origin) in between:
//! [`Request::check_method`], then the route lookup, then [`Request::check_upgrade`]
//! ([`Request::validate`] runs both). The answer is [`write_accept`] or, on failure,
//! [`HandshakeError::write_response`] / [`write_reject`].
//!
//! ```
//! use lapps_proto::Status;
//! use lapps_proto::handshake::{self, AcceptOptions, Limits};
//!
//! let received = b"GET /echo HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Protocol: chat, raw\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x80";
//! let mut out = Vec::new();
//! let Status::Complete((request, head_len)) = handshake::parse_request(received, &Limits::default())?
//! else {
//!     return Ok(()); // read more bytes, then parse again
//! };
//! let frames = &received[head_len..]; // pipelined frames, for the frame decoder
//! assert_eq!(frames, b"\x81\x80");
//! match request.validate() {
//!     Ok(()) => {
//!         let protocol = handshake::negotiate_protocol(request.protocols(), &["raw"]);
//!         let options = AcceptOptions::new().with_protocol(protocol);
//!         handshake::write_accept(request.key().unwrap_or_default(), &options, &mut out);
//!     }
//!     Err(error) => error.write_response(None, &mut out),
//! }
//! assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! # Ok::<(), handshake::HandshakeError>(())
//! ```
//!
//! # Client
//!
//! [`Uri::parse`] reads a `ws://` or `wss://` URI, [`write_request`] writes the request with
//! a caller-supplied random key, and [`parse_response`] checks the answer against that key.
//!
//! ```
//! use lapps_proto::Status;
//! use lapps_proto::handshake::{self, ClientOptions, Uri};
//!
//! let uri = Uri::parse("ws://example.com:8080/chat?room=1")?;
//! let key = [7_u8; 16]; // fresh random bytes in real use
//! let mut request = Vec::new();
//! handshake::write_request(&uri, &key, &ClientOptions::new().with_protocols(&["chat"]), &mut request);
//! assert!(request.starts_with(b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com:8080\r\n"));
//!
//! // ... send `request`, then feed what arrives:
//! let received = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Accept: CdXSYUsvsaMthlEXWDNURGWA/1o=\r\n\
//!     Sec-WebSocket-Protocol: chat\r\n\r\n";
//! match handshake::parse_response(received, &key, &["chat"])? {
//!     Status::Complete((response, head_len)) => {
//!         assert_eq!(response.protocol(), Some("chat"));
//!         assert_eq!(head_len, received.len());
//!     }
//!     Status::Partial => { /* read more */ }
//! }
//! # Ok::<(), handshake::HandshakeError>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest as _, Sha1};

mod client;
mod error;
mod head;
mod response;
mod server;
mod status;
mod uri;

pub use client::{ClientOptions, Response, parse_response, write_request};
pub use error::{HandshakeError, UriError};
pub use head::Headers;
pub use response::{
    AcceptOptions, is_reserved_header, negotiate_protocol, validate_header_name,
    validate_header_value, write_accept, write_reject,
};
pub use server::{Limits, Request, parse_request};
pub use status::StatusCode;
pub use uri::{Host, Uri};

/// The product token lapps sends: the default `Server` value and the `User-Agent` the lapps
/// client uses, `lapps/<crate version>` (spec §5.4, §3.15).
pub const PRODUCT: &str = concat!("lapps/", env!("CARGO_PKG_VERSION"));

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: the base64 of the SHA-1 of the
/// key followed by the RFC 6455 GUID (RFC 6455 §4.2.2 (5.4)).
///
/// The key is used as sent, without decoding or trimming.
///
/// # Examples
///
/// ```
/// // RFC 6455 §1.3.
/// let accept = lapps_proto::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let digest = Sha1::new().chain_update(key).chain_update(GUID).finalize();
    BASE64.encode(digest)
}

/// The GUID that RFC 6455 §1.3 appends to the key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#[cfg(test)]
mod tests {
    use super::accept_key;

    #[test]
    fn accept_key_matches_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}

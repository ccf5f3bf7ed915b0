//! The client side: writing the upgrade request and checking the server's answer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::accept_key;
use super::error::HandshakeError;
use super::head::{Headers, IfPartial, Scan, push_field, scan, split_quoted_list};
use super::server::Limits;
use super::status::StatusCode;
use super::uri::Uri;
use crate::Status;

/// What [`write_request`] puts in the request besides the fixed fields.
///
/// Borrowed, like [`AcceptOptions`](super::AcceptOptions). Start from [`ClientOptions::new`]
/// (everything off) and set what applies.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct ClientOptions<'a> {
    /// Subprotocols to offer, in order of preference; empty sends no `Sec-WebSocket-Protocol`.
    pub protocols: &'a [&'a str],
    /// Further fields, written in order after the others. Check them with
    /// [`validate_header_name`](super::validate_header_name),
    /// [`validate_header_value`](super::validate_header_value) and
    /// [`is_reserved_header`](super::is_reserved_header).
    pub extra_headers: &'a [(&'a str, &'a str)],
    /// The `Origin` value, e.g. [`Uri::origin`]; `None` omits the field.
    pub origin: Option<&'a str>,
    /// The `User-Agent` value, e.g. [`PRODUCT`](super::PRODUCT); `None` omits the field.
    pub user_agent: Option<&'a str>,
}

impl<'a> ClientOptions<'a> {
    /// Returns options that offer nothing and add no optional field.
    pub const fn new() -> Self {
        Self {
            protocols: &[],
            extra_headers: &[],
            origin: None,
            user_agent: None,
        }
    }

    /// Sets the subprotocols to offer.
    #[must_use]
    pub const fn with_protocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.protocols = protocols;
        self
    }

    /// Sets the extra fields.
    #[must_use]
    pub const fn with_extra_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.extra_headers = headers;
        self
    }

    /// Sets the `Origin` value.
    #[must_use]
    pub const fn with_origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Sets the `User-Agent` value.
    #[must_use]
    pub const fn with_user_agent(mut self, user_agent: &'a str) -> Self {
        self.user_agent = Some(user_agent);
        self
    }
}

/// Appends the opening handshake request for `uri` to `dst` (RFC 6455 §4.1, spec §3.15).
///
/// `key` is the 16-byte nonce, which the caller draws fresh from a random source for every
/// connection (RFC 6455 §4.1 client requirement 7); pass the same key to [`parse_response`].
/// The caller validates configured values beforehand; CR, LF and NUL would be written as spaces.
pub fn write_request(uri: &Uri, key: &[u8; 16], options: &ClientOptions<'_>, dst: &mut Vec<u8>) {
    // RFC 6455 §4.1 (2), (3): GET, the resource name, HTTP/1.1.
    dst.extend_from_slice(b"GET ");
    dst.extend_from_slice(uri.request_target().as_bytes());
    dst.extend_from_slice(b" HTTP/1.1\r\n");
    // RFC 6455 §4.1 (4): Host, with the port only if it is not the default.
    push_field(dst, "Host", &uri.authority());
    // RFC 6455 §4.1 (5), (6): Upgrade: websocket and Connection: Upgrade.
    push_field(dst, "Upgrade", "websocket");
    push_field(dst, "Connection", "Upgrade");
    // RFC 6455 §4.1 (7): the base64 of the 16-byte nonce.
    push_field(dst, "Sec-WebSocket-Key", &BASE64.encode(key));
    // RFC 6455 §4.1 (9): version 13.
    push_field(dst, "Sec-WebSocket-Version", "13");
    if let Some(origin) = options.origin {
        push_field(dst, "Origin", origin);
    }
    if let Some(user_agent) = options.user_agent {
        push_field(dst, "User-Agent", user_agent);
    }
    // RFC 6455 §4.1 (10): the subprotocols, ordered by preference.
    if !options.protocols.is_empty() {
        push_field(dst, "Sec-WebSocket-Protocol", &options.protocols.join(", "));
    }
    for (name, value) in options.extra_headers {
        push_field(dst, name, value);
    }
    dst.extend_from_slice(b"\r\n");
}

/// Parses and checks the server's answer to [`write_request`], incrementally.
///
/// Returns [`Status::Partial`] while the head is incomplete, as [`parse_request`] does, with
/// the default [`Limits`] (8 KiB, 64 fields). On completion it returns the response and the head
/// length; the bytes after the head are WebSocket frames (spec §3.15).
///
/// `key` is the nonce the request carried and `offered_protocols` the subprotocols it offered.
///
/// [`parse_request`]: super::parse_request
///
/// # Errors
///
/// [`HandshakeError::HeadTooLarge`], [`HandshakeError::TooManyHeaders`] or
/// [`HandshakeError::MalformedHead`] when the head is not a bounded HTTP/1.x response; then, in
/// the order of RFC 6455 §4.1: [`HandshakeError::UnsupportedHttpVersion`],
/// [`HandshakeError::UnexpectedStatus`], [`HandshakeError::MissingUpgradeWebSocket`],
/// [`HandshakeError::MissingConnectionUpgrade`], [`HandshakeError::AcceptKeyMismatch`],
/// [`HandshakeError::UnofferedExtension`], [`HandshakeError::UnofferedProtocol`].
pub fn parse_response(
    buf: &[u8],
    key: &[u8; 16],
    offered_protocols: &[&str],
) -> Result<Status<(Response, usize)>, HandshakeError> {
    let limits = Limits::default();
    let (end, then) = match scan(buf, limits.max_header_size, false)? {
        Scan::Partial => return Ok(Status::Partial),
        Scan::Parse { end, then, .. } => (end, then),
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let len = match parsed.parse(buf.get(..end).unwrap_or_default()) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return match then {
                IfPartial::Wait => Ok(Status::Partial),
                IfPartial::Malformed => Err(HandshakeError::MalformedHead),
                IfPartial::TooLarge => Err(HandshakeError::HeadTooLarge {
                    limit: limits.max_header_size,
                }),
            };
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        Err(_) => return Err(HandshakeError::MalformedHead),
    };
    let response = Response::from_httparse(&parsed)?;
    response.check(key, offered_protocols)?;
    Ok(Status::Complete((response, len)))
}

/// A checked `101 Switching Protocols` response (RFC 6455 §4.2.2), owning its data.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Response {
    status: StatusCode,
    reason: String,
    headers: Headers,
}

impl Response {
    /// Returns the status, always [`StatusCode::SWITCHING_PROTOCOLS`] once checked.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Returns the reason phrase as sent; any is accepted (spec §3.15).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Returns the subprotocol the server chose, one of those offered, or `None`.
    pub fn protocol(&self) -> Option<&str> {
        self.headers.get("sec-websocket-protocol")
    }

    /// Returns all header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Returns the (combined) value of the header field `name`, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    fn from_httparse(parsed: &httparse::Response<'_, '_>) -> Result<Self, HandshakeError> {
        let (Some(version), Some(code), Some(reason)) =
            (parsed.version, parsed.code, parsed.reason)
        else {
            return Err(HandshakeError::MalformedHead);
        };
        // RFC 6455 §4.2.2 (5): the server answers with an HTTP/1.1 status line.
        if version != 1 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        Ok(Self {
            status: StatusCode::from_u16(code).ok_or(HandshakeError::MalformedHead)?,
            reason: reason.to_owned(),
            headers: Headers::from_httparse(parsed.headers)?,
        })
    }

    fn check(&self, key: &[u8; 16], offered_protocols: &[&str]) -> Result<(), HandshakeError> {
        // RFC 6455 §4.1, response checks 1 to 6, in order.
        // (1) A status other than 101 is handled per HTTP; for us it ends the handshake.
        if self.status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(HandshakeError::UnexpectedStatus(self.status));
        }
        // (2) |Upgrade| MUST hold "websocket", case-insensitively (spec §3.15: as a token).
        if !self.headers.has_token("upgrade", "websocket") {
            return Err(HandshakeError::MissingUpgradeWebSocket);
        }
        // (3) |Connection| MUST hold the token "Upgrade", case-insensitively.
        if !self.headers.has_token("connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        // (4) |Sec-WebSocket-Accept| MUST be the base64 SHA-1 of the key and the GUID; the
        // value is compared after trimming whitespace, so a repeated field never matches.
        let expected = accept_key(BASE64.encode(key).as_bytes());
        if self.headers.get("sec-websocket-accept") != Some(expected.as_str()) {
            return Err(HandshakeError::AcceptKeyMismatch);
        }
        // (5) Extensions not offered MUST fail the connection; we offer none.
        let extensions = self
            .headers
            .get("sec-websocket-extensions")
            .unwrap_or_default();
        if split_quoted_list(extensions).next().is_some() {
            return Err(HandshakeError::UnofferedExtension);
        }
        // (6) A subprotocol not offered MUST fail the connection. The value is one name, so a
        // list (or repeated field) never matches.
        if let Some(protocol) = self.protocol()
            && !offered_protocols.contains(&protocol)
        {
            return Err(HandshakeError::UnofferedProtocol);
        }
        Ok(())
    }
}

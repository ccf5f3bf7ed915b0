//! The server side: reading and checking the client's upgrade request.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::error::HandshakeError;
use super::head::{Headers, IfPartial, Scan, scan, split_list, split_quoted_list};
use crate::Status;

/// Bounds on the request head, enforced by [`parse_request`] (spec §5.2).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Limits {
    /// The largest head accepted, in bytes, counting the request line, the header fields, every
    /// CRLF and a tolerated leading empty line. Default: 8192 (8 KiB).
    pub max_header_size: usize,
    /// The most header fields accepted (repeats count one each). Default: 64.
    pub max_headers: usize,
}

impl Limits {
    /// Returns the defaults: 8 KiB of head and 64 header fields.
    pub const fn new() -> Self {
        Self {
            max_header_size: 8 * 1024,
            max_headers: 64,
        }
    }

    /// Sets [`max_header_size`](Self::max_header_size), in bytes.
    #[must_use]
    pub const fn with_max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    /// Sets [`max_headers`](Self::max_headers).
    #[must_use]
    pub const fn with_max_headers(mut self, fields: usize) -> Self {
        self.max_headers = fields;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses the opening handshake request at the start of `buf`, incrementally.
///
/// Returns [`Status::Partial`] while the head (everything up to and including the first empty
/// line) is incomplete: call again with the same bytes plus whatever arrived since. On
/// completion it returns the request and the head length; the bytes after the head are
/// WebSocket frames the client pipelined, and the caller keeps them (spec §5.2).
///
/// One leading empty line (CRLF) is tolerated and counted in the head length. The request is
/// only parsed here; run [`Request::validate`] (or its parts, in the order of spec §5.3) next.
///
/// Each call looks at no more than `max_header_size` bytes, and runs the HTTP parser only once
/// the head is complete, when the buffer ends a line (so that garbage is rejected early), or
/// once past the limit; re-offering a buffer that grows byte by byte stays cheap. A complete
/// answer never changes as the buffer grows; a syntax error may be reported as soon as its
/// line ends.
///
/// # Errors
///
/// - [`HandshakeError::HeadTooLarge`] as soon as `buf` is longer than
///   [`Limits::max_header_size`] without a complete head, and
///   [`HandshakeError::TooManyHeaders`] past [`Limits::max_headers`] fields (both 431);
/// - [`HandshakeError::LeadingEmptyLines`], [`HandshakeError::MalformedHead`] and
///   [`HandshakeError::InvalidRequestTarget`] when the head is not an HTTP/1.x request with an
///   origin-form target (400).
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<Status<(Request, usize)>, HandshakeError> {
    let (start, end, then) = match scan(buf, limits.max_header_size, true)? {
        Scan::Partial => return Ok(Status::Partial),
        Scan::Parse { start, end, then } => (start, end, then),
    };
    let region = buf.get(start..end).unwrap_or_default();

    // httparse needs a slot per field. A field line takes at least 3 bytes ("a:\n"), so
    // `region.len() / 3 + 1` slots never overflow unless the field limit does.
    let slots = limits.max_headers.min(region.len() / 3 + 1);
    let mut stack = [httparse::EMPTY_HEADER; 64];
    let mut heap = Vec::new();
    let headers: &mut [httparse::Header<'_>] = if let Some(s) = stack.get_mut(..slots) {
        s
    } else {
        heap.resize(slots, httparse::EMPTY_HEADER);
        &mut heap
    };

    let mut parsed = httparse::Request::new(headers);
    match parsed.parse(region) {
        Ok(httparse::Status::Complete(len)) => {
            let request = Request::from_httparse(&parsed)?;
            Ok(Status::Complete((request, start + len)))
        }
        Ok(httparse::Status::Partial) => match then {
            IfPartial::Wait => Ok(Status::Partial),
            IfPartial::Malformed => Err(HandshakeError::MalformedHead),
            IfPartial::TooLarge => Err(HandshakeError::HeadTooLarge {
                limit: limits.max_header_size,
            }),
        },
        // Spec §5.2: more than `max_headers` fields gets 431.
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders {
            limit: limits.max_headers,
        }),
        Err(_) => Err(HandshakeError::MalformedHead),
    }
}

/// A parsed opening handshake request (RFC 6455 §4.1), owning its data.
///
/// Header lookups are case-insensitive and see repeated fields combined (see [`Headers`]).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Request {
    method: String,
    target: String,
    path_len: usize,
    version_minor: u8,
    headers: Headers,
}

impl Request {
    /// Runs every request check in the order of spec §5.3: [`check_method`](Self::check_method)
    /// then [`check_upgrade`](Self::check_upgrade).
    ///
    /// A server that answers 404 for unknown targets runs the two separately, with its route
    /// lookup in between, so that the first failing check decides the response.
    ///
    /// # Errors
    ///
    /// The first failing check's error; see the two methods.
    pub fn validate(&self) -> Result<(), HandshakeError> {
        self.check_method()?;
        self.check_upgrade()
    }

    /// Checks that the method is `GET` (spec §5.3 check 4).
    ///
    /// # Errors
    ///
    /// [`HandshakeError::MethodNotAllowed`] (405) for any other method.
    pub fn check_method(&self) -> Result<(), HandshakeError> {
        // RFC 6455 §4.2.1 (1): the request MUST be an HTTP/1.1 or higher GET request.
        if self.method == "GET" {
            Ok(())
        } else {
            Err(HandshakeError::MethodNotAllowed)
        }
    }

    /// Checks that the request is a valid WebSocket upgrade, then its version (spec §5.3 checks
    /// 7 and 8).
    ///
    /// # Errors
    ///
    /// In this order, each a 400: [`HandshakeError::UnsupportedHttpVersion`] unless HTTP/1.1,
    /// [`HandshakeError::MissingHost`], [`HandshakeError::DuplicateHost`],
    /// [`HandshakeError::MissingUpgradeWebSocket`], [`HandshakeError::MissingConnectionUpgrade`],
    /// [`HandshakeError::MissingKey`], [`HandshakeError::DuplicateKey`],
    /// [`HandshakeError::InvalidKey`], [`HandshakeError::UnexpectedBody`]; then
    /// [`HandshakeError::UnsupportedVersion`] (426) unless `Sec-WebSocket-Version` is `13`.
    pub fn check_upgrade(&self) -> Result<(), HandshakeError> {
        // RFC 6455 §4.2.1 (1): HTTP/1.1 or higher; httparse only knows 1.0 and 1.1.
        if self.version_minor != 1 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        // RFC 6455 §4.2.1 (2): a |Host| header field containing the server's authority.
        // RFC 9112 §3.2: a server MUST answer 400 to a request with more than one Host line.
        match self.headers.occurrences("host") {
            0 => return Err(HandshakeError::MissingHost),
            1 => {}
            _ => return Err(HandshakeError::DuplicateHost),
        }
        // RFC 6455 §4.2.1 (3): an |Upgrade| header field containing "websocket", compared
        // case-insensitively.
        if !self.is_websocket_upgrade() {
            return Err(HandshakeError::MissingUpgradeWebSocket);
        }
        // RFC 6455 §4.2.1 (4): a |Connection| header field that includes the token "Upgrade",
        // compared case-insensitively. Firefox sends `keep-alive, Upgrade`.
        if !self.headers.has_token("connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        self.check_key()?;
        // Spec §5.3 check 7: no body. Bytes after the head are frames, so a body would be
        // misread as frames (RFC 9112 §6.3 decides when a request has one).
        if self.headers.occurrences("transfer-encoding") > 0
            || self
                .headers
                .get("content-length")
                .is_some_and(|v| split_list(v).any(|n| !n.bytes().all(|b| b == b'0')))
        {
            return Err(HandshakeError::UnexpectedBody);
        }
        // RFC 6455 §4.2.1 (6) and §4.4: a |Sec-WebSocket-Version| of 13, else 426 with the
        // versions we support.
        if self.headers.get("sec-websocket-version") != Some("13") {
            return Err(HandshakeError::UnsupportedVersion);
        }
        Ok(())
    }

    /// Returns the request method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Returns the request target as sent: the path and any `?query`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Returns the path: the target without the query, undecoded (spec §5.3 check 6).
    pub fn path(&self) -> &str {
        self.target.get(..self.path_len).unwrap_or_default()
    }

    /// Returns the query (after `?`, possibly empty), or `None` if the target has no `?`.
    pub fn query(&self) -> Option<&str> {
        self.target
            .get(self.path_len..)
            .and_then(|q| q.strip_prefix('?'))
    }

    /// Returns the minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub fn version_minor(&self) -> u8 {
        self.version_minor
    }

    /// Returns all header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Returns the (combined) value of the header field `name`, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Returns the `Host` value, not otherwise checked (spec §5.3).
    pub fn host(&self) -> Option<&str> {
        self.headers.get("host")
    }

    /// Returns the `Origin` value, for the server's `allowed_origins` check (spec §5.3).
    pub fn origin(&self) -> Option<&str> {
        self.headers.get("origin")
    }

    /// Returns the `Sec-WebSocket-Key` value, checked by [`check_upgrade`](Self::check_upgrade).
    pub fn key(&self) -> Option<&str> {
        self.headers.get("sec-websocket-key")
    }

    /// Iterates over the offered subprotocols, across repeated `Sec-WebSocket-Protocol` fields,
    /// in the order offered (RFC 6455 §4.1 client requirement 10).
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.headers
            .get("sec-websocket-protocol")
            .into_iter()
            .flat_map(split_list)
    }

    /// Iterates over the offered extensions (`name; params`), across repeated
    /// `Sec-WebSocket-Extensions` fields. lapps accepts none (spec §5.4).
    pub fn extensions(&self) -> impl Iterator<Item = &str> {
        self.headers
            .get("sec-websocket-extensions")
            .into_iter()
            .flat_map(split_quoted_list)
    }

    /// Returns whether `Upgrade` holds the `websocket` token, as spec §5.3 check 5 asks before
    /// serving `/healthz` and `/metrics`.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.headers.has_token("upgrade", "websocket")
    }

    fn from_httparse(parsed: &httparse::Request<'_, '_>) -> Result<Self, HandshakeError> {
        let (Some(method), Some(target), Some(version_minor)) =
            (parsed.method, parsed.path, parsed.version)
        else {
            return Err(HandshakeError::MalformedHead);
        };
        // Spec §5.3 check 3 and RFC 9112 §3.2.1: origin-form is absolute-path [ "?" query ],
        // so it starts with '/' and has no fragment.
        if !target.starts_with('/') || target.contains('#') {
            return Err(HandshakeError::InvalidRequestTarget);
        }
        Ok(Self {
            method: method.to_owned(),
            target: target.to_owned(),
            path_len: target.find('?').unwrap_or(target.len()),
            version_minor,
            headers: Headers::from_httparse(parsed.headers)?,
        })
    }

    fn check_key(&self) -> Result<(), HandshakeError> {
        // RFC 6455 §11.3.1: |Sec-WebSocket-Key| MUST NOT appear more than once in a request.
        match self.headers.occurrences("sec-websocket-key") {
            0 => return Err(HandshakeError::MissingKey),
            1 => {}
            _ => return Err(HandshakeError::DuplicateKey),
        }
        // RFC 6455 §4.2.1 (5): a base64-encoded value that, when decoded, is 16 bytes long.
        // Base64 of 16 bytes is always 24 characters; the engine rejects non-canonical padding
        // and trailing bits.
        let key = self.key().unwrap_or_default().as_bytes();
        let mut decoded = [0_u8; 18];
        match BASE64.decode_slice(key, &mut decoded) {
            Ok(16) if key.len() == 24 => Ok(()),
            _ => Err(HandshakeError::InvalidKey),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Limits, Request, parse_request};
    use crate::Status;
    use crate::handshake::HandshakeError;

    fn parse(head: &str) -> Result<Request, HandshakeError> {
        match parse_request(head.as_bytes(), &Limits::default())? {
            Status::Complete((request, len)) => {
                assert_eq!(len, head.len());
                Ok(request)
            }
            Status::Partial => panic!("partial: {head:?}"),
        }
    }

    #[test]
    fn limits_default_to_8k_and_64() {
        assert_eq!(
            Limits::default(),
            Limits {
                max_header_size: 8192,
                max_headers: 64
            }
        );
        let l = Limits::new().with_max_header_size(10).with_max_headers(2);
        assert_eq!((l.max_header_size, l.max_headers), (10, 2));
    }

    #[test]
    fn splits_path_and_query() -> Result<(), HandshakeError> {
        let r = parse("GET /a/b?x=1&y HTTP/1.1\r\n\r\n")?;
        assert_eq!(
            (r.target(), r.path(), r.query()),
            ("/a/b?x=1&y", "/a/b", Some("x=1&y"))
        );
        let r = parse("GET /a? HTTP/1.1\r\n\r\n")?;
        assert_eq!((r.path(), r.query()), ("/a", Some("")));
        let r = parse("GET / HTTP/1.0\r\n\r\n")?;
        assert_eq!((r.path(), r.query(), r.version_minor()), ("/", None, 0));
        Ok(())
    }

    #[test]
    fn rejects_non_origin_targets() {
        for target in ["*", "http://h/x", "h/x", "/x#f"] {
            let head = format!("GET {target} HTTP/1.1\r\n\r\n");
            assert_eq!(
                parse(&head),
                Err(HandshakeError::InvalidRequestTarget),
                "{target}"
            );
        }
    }

    #[test]
    fn rejects_non_utf8_field_values() {
        let head = b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n";
        let result = parse_request(head, &Limits::default());
        assert_eq!(result, Err(HandshakeError::MalformedHead));
    }

    #[test]
    fn rejects_keys_that_are_not_16_bytes() {
        let base = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n";
        for key in [
            "",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAAAAAAAAB==",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAA*==",
        ] {
            let head =
                format!("{base}Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n");
            assert_eq!(
                parse(&head).and_then(|r| r.check_upgrade()),
                Err(HandshakeError::InvalidKey)
            );
        }
        let head = format!(
            "{base}Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        assert_eq!(parse(&head).and_then(|r| r.check_upgrade()), Ok(()));
    }
}

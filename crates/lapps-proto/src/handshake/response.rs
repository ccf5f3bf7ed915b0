//! The server's answers: the 101 that opens the connection and the HTTP error responses, plus
//! subprotocol negotiation and the checks a server applies to configured extra headers.

use super::PRODUCT;
use super::accept_key;
use super::head::{push_defanged, push_field};
use super::status::StatusCode;

/// What [`write_accept`] puts in a 101 besides the fixed fields.
///
/// Borrowed, so that a server builds one per handshake without allocating. Start from
/// [`AcceptOptions::new`] (everything off) and set what applies.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct AcceptOptions<'a> {
    /// The chosen subprotocol, normally from [`negotiate_protocol`]; `None` omits the field.
    pub protocol: Option<&'a str>,
    /// The `Server` value; `None` means [`PRODUCT`] (`lapps/<version>`).
    pub server: Option<&'a str>,
    /// Further fields, written in order after the others. A field named `Server` (in any case)
    /// replaces the default `Server` field. Check names and values when loading configuration
    /// with [`validate_header_name`], [`validate_header_value`] and [`is_reserved_header`].
    pub extra_headers: &'a [(&'a str, &'a str)],
}

impl<'a> AcceptOptions<'a> {
    /// Returns options with no subprotocol, the default `Server` and no extra fields.
    pub const fn new() -> Self {
        Self {
            protocol: None,
            server: None,
            extra_headers: &[],
        }
    }

    /// Sets the subprotocol to announce.
    #[must_use]
    pub const fn with_protocol(mut self, protocol: Option<&'a str>) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets the `Server` value.
    #[must_use]
    pub const fn with_server(mut self, server: &'a str) -> Self {
        self.server = Some(server);
        self
    }

    /// Sets the extra fields.
    #[must_use]
    pub const fn with_extra_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.extra_headers = headers;
        self
    }
}

/// Appends the `101 Switching Protocols` response that accepts a handshake to `dst` (RFC 6455
/// §4.2.2, spec §5.4).
///
/// `key` is the request's `Sec-WebSocket-Key` ([`Request::key`](super::Request::key)) after
/// [`Request::validate`](super::Request::validate) succeeded. No `Sec-WebSocket-Extensions`
/// field is ever written: lapps accepts no extension. The server validates its configuration
/// beforehand; CR, LF and NUL in a value would be written as spaces, never as line breaks.
pub fn write_accept(key: &str, options: &AcceptOptions<'_>, dst: &mut Vec<u8>) {
    // RFC 6455 §4.2.2 (5): status line, Upgrade, Connection and Sec-WebSocket-Accept.
    dst.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    push_field(dst, "Upgrade", "websocket");
    push_field(dst, "Connection", "Upgrade");
    push_field(dst, "Sec-WebSocket-Accept", &accept_key(key.as_bytes()));
    let server_overridden = options
        .extra_headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("server"));
    if !server_overridden {
        push_field(dst, "Server", options.server.unwrap_or(PRODUCT));
    }
    // RFC 6455 §4.2.2 (5.4): the subprotocol, only one the client offered (spec §5.4).
    if let Some(protocol) = options.protocol {
        push_field(dst, "Sec-WebSocket-Protocol", protocol);
    }
    for (name, value) in options.extra_headers {
        push_field(dst, name, value);
    }
    dst.extend_from_slice(b"\r\n");
}

/// Appends a complete HTTP/1.1 error response to `dst` (spec §5.5).
///
/// It has the standard reason phrase, `Server` (`None` means [`PRODUCT`]), `Allow: GET` for a
/// 405, `Upgrade: websocket` and `Sec-WebSocket-Version: 13` for a 426, then `Content-Type`,
/// `Content-Length` and `Connection: close`. The body is `reason` on one line (CR, LF and NUL
/// become spaces) followed by `\n`.
pub fn write_reject(status: StatusCode, reason: &str, server: Option<&str>, dst: &mut Vec<u8>) {
    dst.extend_from_slice(b"HTTP/1.1 ");
    dst.extend_from_slice(status.as_u16().to_string().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(status.reason_phrase().as_bytes());
    dst.extend_from_slice(b"\r\n");
    push_field(dst, "Server", server.unwrap_or(PRODUCT));
    let mut connection = "close";
    if status == StatusCode::METHOD_NOT_ALLOWED {
        // RFC 9110 §15.5.6: a 405 MUST carry Allow with the supported methods.
        push_field(dst, "Allow", "GET");
    } else if status == StatusCode::UPGRADE_REQUIRED {
        // RFC 9110 §15.5.22: a 426 MUST carry Upgrade, and §7.8: whoever sends Upgrade MUST
        // list "upgrade" in Connection. RFC 6455 §4.4: say which versions we support.
        push_field(dst, "Upgrade", "websocket");
        push_field(dst, "Sec-WebSocket-Version", "13");
        connection = "Upgrade, close";
    }
    push_field(dst, "Content-Type", "text/plain; charset=utf-8");
    push_field(dst, "Content-Length", &(reason.len() + 1).to_string());
    push_field(dst, "Connection", connection);
    dst.extend_from_slice(b"\r\n");
    // Spec §5.5: a one-line reason. Replacing byte for byte keeps Content-Length right.
    push_defanged(dst, reason);
    dst.push(b'\n');
}

/// Picks the subprotocol to announce: the first of `accepted`, in the server's order, that the
/// client offered, compared exactly and case-sensitively (spec §5.4).
///
/// Returns `None` when there is no match, and the handshake then succeeds without a
/// `Sec-WebSocket-Protocol` field. It never returns a name the client did not offer (RFC 6455
/// §4.2.2 (5.4)); empty names never match.
pub fn negotiate_protocol<'a, 'o>(
    offered: impl IntoIterator<Item = &'o str>,
    accepted: &[&'a str],
) -> Option<&'a str> {
    // One pass over the offer, keeping the best (lowest) server-side index seen.
    let mut best: Option<usize> = None;
    for name in offered {
        if name.is_empty() {
            continue;
        }
        if let Some(i) = accepted.iter().position(|a| *a == name) {
            best = Some(best.map_or(i, |b| b.min(i)));
        }
    }
    best.and_then(|i| accepted.get(i).copied())
}

/// Returns whether `name` is a valid header field name: a non-empty HTTP token (RFC 9110
/// §5.1, §5.6.2).
pub fn validate_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_tchar)
}

/// Returns whether `value` may be written as a header field value: it holds no CR, LF or NUL,
/// which RFC 9110 §5.5 calls invalid and dangerous.
pub fn validate_header_value(value: &str) -> bool {
    !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0'))
}

/// Returns whether the handshake code itself writes the field `name` (case-insensitive), so
/// that configured extra headers must not set it.
///
/// These are the fields that carry the upgrade and its negotiation (`Upgrade`, `Connection`,
/// `Sec-WebSocket-Accept`, `-Protocol`, `-Extensions`, `-Key`, `-Version`, `Host`) and those
/// that would give the handshake a body (`Content-Length`, `Transfer-Encoding`). `Server` is not
/// reserved: an extra `Server` field replaces the default.
pub fn is_reserved_header(name: &str) -> bool {
    RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

const RESERVED_HEADERS: [&str; 10] = [
    "Connection",
    "Content-Length",
    "Host",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Version",
    "Transfer-Encoding",
    "Upgrade",
];

#[cfg(test)]
mod tests {
    use super::{
        is_reserved_header, negotiate_protocol, validate_header_name, validate_header_value,
    };

    #[test]
    fn header_names_are_tokens() {
        assert!(validate_header_name("X-Frame-Options"));
        assert!(validate_header_name("a!#$%&'*+-.^_`|~9"));
        for bad in ["", "X Y", "X:", "X\r\n", "é", "(x)", "x\"", "a/b"] {
            assert!(!validate_header_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn header_values_exclude_cr_lf_nul() {
        assert!(validate_header_value("text/plain; q=\"1\" é\t"));
        assert!(validate_header_value(""));
        for bad in ["a\rb", "a\nb", "a\0b", "x\r\nInjected: 1"] {
            assert!(!validate_header_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn reserves_handshake_fields_case_insensitively() {
        for name in [
            "upgrade",
            "CONNECTION",
            "Sec-WebSocket-Accept",
            "sec-websocket-protocol",
            "Sec-WebSocket-Extensions",
        ] {
            assert!(is_reserved_header(name), "{name}");
        }
        assert!(!is_reserved_header("Server"));
        assert!(!is_reserved_header("X-Upgrade"));
    }

    #[test]
    fn negotiation_skips_empty_names() {
        assert_eq!(negotiate_protocol([""], &["", "raw"]), None);
    }
}

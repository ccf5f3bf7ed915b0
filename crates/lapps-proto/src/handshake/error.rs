//! Handshake errors, each named after the rule it enforces.

use std::fmt;

use super::response::write_reject;
use super::status::StatusCode;

/// A failed opening handshake, on either side.
///
/// Server-side variants map to the HTTP status the server answers with ([`status`]); write the
/// answer with [`write_response`]. Client-side variants (the response checks of RFC 6455 §4.1
/// and [`InvalidUri`]) are never answered over HTTP; their [`status`] is
/// [`StatusCode::BAD_REQUEST`] only so that every variant has one.
///
/// [`status`]: HandshakeError::status
/// [`write_response`]: HandshakeError::write_response
/// [`InvalidUri`]: HandshakeError::InvalidUri
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum HandshakeError {
    // Reading the head (spec §5.2). Answered with 431 or 400.
    /// The head grew past [`Limits::max_header_size`](super::Limits) bytes without ending.
    #[error("request head exceeds max_header_size ({limit} bytes)")]
    HeadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The head has more header fields than [`Limits::max_headers`](super::Limits).
    #[error("request head has more than {limit} header fields")]
    TooManyHeaders {
        /// The limit in header fields.
        limit: usize,
    },
    /// More than one empty line precedes the request line (RFC 9112 §2.2 tolerates one).
    #[error("more than one empty line before the request line")]
    LeadingEmptyLines,
    /// The head is not valid HTTP/1.x, or a field value is not UTF-8.
    #[error("malformed HTTP head")]
    MalformedHead,
    /// The request target is not in origin form (`/path[?query]`, RFC 9112 §3.2.1).
    #[error("request target is not in origin form")]
    InvalidRequestTarget,

    // Checks of the upgrade request (RFC 6455 §4.2.1, spec §5.3).
    /// The method is not `GET` (405).
    #[error("method is not GET")]
    MethodNotAllowed,
    /// The request or response is not HTTP/1.1.
    #[error("HTTP version is not 1.1")]
    UnsupportedHttpVersion,
    /// The request has no `Host` header field.
    #[error("missing Host header")]
    MissingHost,
    /// The request has more than one `Host` header field (RFC 9112 §3.2).
    #[error("more than one Host header")]
    DuplicateHost,
    /// The `Upgrade` header field is missing or lacks the `websocket` token.
    #[error("missing Upgrade: websocket")]
    MissingUpgradeWebSocket,
    /// The `Connection` header field is missing or lacks the `upgrade` token.
    #[error("missing Connection: upgrade")]
    MissingConnectionUpgrade,
    /// The request has no `Sec-WebSocket-Key` header field.
    #[error("missing Sec-WebSocket-Key header")]
    MissingKey,
    /// The request has more than one `Sec-WebSocket-Key` header field (RFC 6455 §11.3.1).
    #[error("more than one Sec-WebSocket-Key header")]
    DuplicateKey,
    /// The `Sec-WebSocket-Key` value is not base64 of exactly 16 bytes.
    #[error("Sec-WebSocket-Key is not base64 of 16 bytes")]
    InvalidKey,
    /// The request announces a body (`Content-Length` > 0 or any `Transfer-Encoding`).
    #[error("upgrade request has a body")]
    UnexpectedBody,
    /// `Sec-WebSocket-Version` is missing or not `13` (426).
    #[error("unsupported WebSocket version (expected 13)")]
    UnsupportedVersion,

    // Client side (RFC 6455 §4.1, spec §3.15).
    /// The WebSocket URI is invalid.
    #[error("invalid URI: {0}")]
    InvalidUri(UriError),
    /// The server answered with a status other than 101.
    #[error("expected status 101, got {0}")]
    UnexpectedStatus(StatusCode),
    /// `Sec-WebSocket-Accept` is missing or does not match the key.
    #[error("Sec-WebSocket-Accept does not match the key")]
    AcceptKeyMismatch,
    /// The server chose a subprotocol that the client did not offer.
    #[error("server chose a subprotocol that was not offered")]
    UnofferedProtocol,
    /// The server sent `Sec-WebSocket-Extensions`, but the client offered none.
    #[error("server chose extensions that were not offered")]
    UnofferedExtension,
}

impl HandshakeError {
    /// Returns the HTTP status a server answers this error with (spec §5.3).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Appends the complete HTTP error response for this error to `dst`, with the Display
    /// text as the body (see [`write_reject`]).
    pub fn write_response(&self, server: Option<&str>, dst: &mut Vec<u8>) {
        write_reject(self.status(), &self.to_string(), server, dst);
    }
}

/// Why a WebSocket URI was rejected (spec §3.15).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum UriError {
    /// The host is empty, not a valid name, or not a valid IPv4 or bracketed IPv6 literal.
    InvalidHost,
    /// The path contains a character that a URI path may not (RFC 3986 §3.3).
    InvalidPath,
    /// The port is not a number in `1..=65535`.
    InvalidPort,
    /// The query contains a character that a URI query may not (RFC 3986 §3.4).
    InvalidQuery,
    /// The URI does not start with `ws://` or `wss://`.
    UnsupportedScheme,
    /// The URI has a userinfo part (`user@`), which WebSocket URIs forbid (RFC 6455 §3).
    Userinfo,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidHost => "invalid host",
            Self::InvalidPath => "invalid path",
            Self::InvalidPort => "invalid port",
            Self::InvalidQuery => "invalid query",
            Self::UnsupportedScheme => "scheme is not ws or wss",
            Self::Userinfo => "userinfo is not allowed",
        })
    }
}

impl std::error::Error for UriError {}

impl From<UriError> for HandshakeError {
    fn from(e: UriError) -> Self {
        Self::InvalidUri(e)
    }
}

#[cfg(test)]
mod tests {
    use super::{HandshakeError, UriError};
    use crate::handshake::StatusCode;

    #[test]
    fn stays_small() {
        assert!(size_of::<HandshakeError>() <= 16);
    }

    #[test]
    fn maps_to_spec_statuses() {
        use HandshakeError as E;
        assert_eq!(
            E::HeadTooLarge { limit: 1 }.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(
            E::TooManyHeaders { limit: 1 }.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(E::MethodNotAllowed.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(E::UnsupportedVersion.status(), StatusCode::UPGRADE_REQUIRED);
        for e in [
            E::MalformedHead,
            E::MissingKey,
            E::InvalidKey,
            E::UnexpectedBody,
        ] {
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn display_is_lowercase_without_period() {
        let e = HandshakeError::HeadTooLarge { limit: 8192 };
        assert_eq!(
            e.to_string(),
            "request head exceeds max_header_size (8192 bytes)"
        );
        let e = HandshakeError::InvalidUri(UriError::Userinfo);
        assert_eq!(e.to_string(), "invalid URI: userinfo is not allowed");
        let e = HandshakeError::UnexpectedStatus(StatusCode::FORBIDDEN);
        assert_eq!(e.to_string(), "expected status 101, got 403 Forbidden");
    }
}

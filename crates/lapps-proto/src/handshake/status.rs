//! HTTP status codes used by the handshake, with their standard reason phrases.

use std::fmt;

/// An HTTP status code (RFC 9110 §15), always three digits.
///
/// The constants cover what the handshake sends; [`StatusCode::from_u16`] accepts any code in
/// `100..=999` so that a client can report whatever a server answered.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct StatusCode(u16);

impl StatusCode {
    /// `101 Switching Protocols`: the handshake succeeded (RFC 6455 §4.2.2).
    pub const SWITCHING_PROTOCOLS: Self = Self(101);
    /// `200 OK`: a plain HTTP answer, such as a server's health or metrics endpoint.
    pub const OK: Self = Self(200);
    /// `400 Bad Request`: the request is not a valid WebSocket upgrade.
    pub const BAD_REQUEST: Self = Self(400);
    /// `403 Forbidden`: an ACL or `allowed_origins` rejected the peer.
    pub const FORBIDDEN: Self = Self(403);
    /// `404 Not Found`: no service serves the request target.
    pub const NOT_FOUND: Self = Self(404);
    /// `405 Method Not Allowed`: the method is not `GET`.
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    /// `426 Upgrade Required`: the WebSocket version is not 13.
    pub const UPGRADE_REQUIRED: Self = Self(426);
    /// `431 Request Header Fields Too Large`: the head exceeds a [`Limits`](super::Limits) bound.
    pub const REQUEST_HEADER_FIELDS_TOO_LARGE: Self = Self(431);
    /// `503 Service Unavailable`: the service cannot take the connection now.
    pub const SERVICE_UNAVAILABLE: Self = Self(503);

    /// Returns the status code for `code`, or `None` unless it has three digits (`100..=999`).
    pub const fn from_u16(code: u16) -> Option<Self> {
        if code >= 100 && code <= 999 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// Returns the numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Returns the standard reason phrase (RFC 9110 §15, RFC 6585 §5), or `""` for a code
    /// that has none.
    ///
    /// An empty phrase still makes a valid status line (RFC 9112 §4).
    pub const fn reason_phrase(self) -> &'static str {
        match self.0 {
            100 => "Continue",
            101 => "Switching Protocols",
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            204 => "No Content",
            301 => "Moved Permanently",
            302 => "Found",
            303 => "See Other",
            304 => "Not Modified",
            307 => "Temporary Redirect",
            308 => "Permanent Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            411 => "Length Required",
            413 => "Content Too Large",
            414 => "URI Too Long",
            426 => "Upgrade Required",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "",
        }
    }
}

/// Formats as the code and its reason phrase, e.g. `426 Upgrade Required`.
impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phrase = self.reason_phrase();
        if phrase.is_empty() {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{} {phrase}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StatusCode;

    #[test]
    fn handshake_codes_have_standard_phrases() {
        let cases = [
            (StatusCode::SWITCHING_PROTOCOLS, 101, "Switching Protocols"),
            (StatusCode::BAD_REQUEST, 400, "Bad Request"),
            (StatusCode::FORBIDDEN, 403, "Forbidden"),
            (StatusCode::NOT_FOUND, 404, "Not Found"),
            (StatusCode::METHOD_NOT_ALLOWED, 405, "Method Not Allowed"),
            (StatusCode::UPGRADE_REQUIRED, 426, "Upgrade Required"),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                431,
                "Request Header Fields Too Large",
            ),
            (StatusCode::SERVICE_UNAVAILABLE, 503, "Service Unavailable"),
        ];
        for (status, code, phrase) in cases {
            assert_eq!(status.as_u16(), code);
            assert_eq!(status.reason_phrase(), phrase);
            assert_eq!(StatusCode::from_u16(code), Some(status));
        }
    }

    #[test]
    fn from_u16_requires_three_digits() {
        assert_eq!(StatusCode::from_u16(99), None);
        assert_eq!(StatusCode::from_u16(1000), None);
        assert_eq!(StatusCode::from_u16(999).map(StatusCode::as_u16), Some(999));
    }

    #[test]
    fn display_includes_phrase_when_known() {
        assert_eq!(
            StatusCode::UPGRADE_REQUIRED.to_string(),
            "426 Upgrade Required"
        );
        assert_eq!(
            StatusCode::from_u16(599).map(|s| s.to_string()),
            Some("599".to_owned())
        );
    }
}

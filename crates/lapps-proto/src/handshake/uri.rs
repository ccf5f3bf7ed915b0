//! `ws://` and `wss://` URIs (RFC 6455 §3), parsed just enough to open a connection.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::error::UriError;

/// A parsed `ws://` or `wss://` URI (RFC 6455 §3, spec §3.15).
///
/// `ws[s]://host[:port][/path][?query][#fragment]`: the host is a name, an IPv4 literal or a
/// bracketed IPv6 literal; the port defaults to 80 (`ws`) or 443 (`wss`); the path defaults to
/// `/`; the query is kept; the fragment is dropped (RFC 6455 §3 forbids it in the target).
/// Nothing is decoded or normalised.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Uri {
    secure: bool,
    host: Host,
    port: u16,
    /// The request target: path and any `?query`.
    target: String,
    path_len: usize,
}

/// The host of a [`Uri`].
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum Host {
    /// A registered name, as written (it may still be a name that DNS cannot resolve).
    Domain(String),
    /// An IPv4 literal.
    Ipv4(Ipv4Addr),
    /// An IPv6 literal, written in brackets in the URI.
    Ipv6(Ipv6Addr),
}

impl Uri {
    /// Parses a `ws://` or `wss://` URI; the scheme is case-insensitive.
    ///
    /// # Errors
    ///
    /// The [`UriError`] for the first problem found: another scheme, userinfo, a bad host or
    /// port, or a character not allowed in the path or query.
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        let (secure, rest) = split_scheme(uri)?;
        // RFC 3986 §3.2: the authority ends at the first '/', '?' or '#'.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(authority_end);
        // RFC 6455 §3 uses RFC 3986's host and port only; spec §3.15 rejects userinfo.
        if authority.contains('@') {
            return Err(UriError::Userinfo);
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None | Some("") => {
                if secure {
                    443
                } else {
                    80
                }
            }
            Some(p) => parse_port(p)?,
        };
        // RFC 6455 §3: the fragment identifier is meaningless in a WebSocket URI; drop it.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        // RFC 3986 §3.3: path = *( "/" segment ) of pchars; RFC 6455 §3: empty means "/".
        if !is_uri_text(path, b"/") {
            return Err(UriError::InvalidPath);
        }
        // RFC 3986 §3.4: query = *( pchar / "/" / "?" ).
        if query.is_some_and(|q| !is_uri_text(q, b"/?")) {
            return Err(UriError::InvalidQuery);
        }
        let path = if path.is_empty() { "/" } else { path };
        let mut target = path.to_owned();
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        Ok(Self {
            secure,
            host,
            port,
            target,
            path_len: path.len(),
        })
    }

    /// Returns whether the scheme is `wss` (TLS).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Returns the host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Returns the port, explicit or default (80 for `ws`, 443 for `wss`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the path, `/` if the URI had none.
    pub fn path(&self) -> &str {
        self.target.get(..self.path_len).unwrap_or_default()
    }

    /// Returns the query (after `?`, possibly empty), or `None` if the URI had no `?`.
    pub fn query(&self) -> Option<&str> {
        self.target
            .get(self.path_len..)
            .and_then(|q| q.strip_prefix('?'))
    }

    /// Returns the request target: the path and any `?query` (RFC 6455 §3 "resource name").
    pub fn request_target(&self) -> &str {
        &self.target
    }

    /// Returns the `Host` header value: the host, bracketed if IPv6, with `:port` only when the
    /// port is not the scheme's default (RFC 6455 §4.1 client requirement 4).
    pub fn authority(&self) -> String {
        let default = if self.secure { 443 } else { 80 };
        if self.port == default {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Returns the matching web origin, `http://` or `https://` then [`authority`](Self::authority),
    /// for clients that send `Origin` (spec §3.15).
    pub fn origin(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}", self.authority())
    }
}

impl FromStr for Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Formats the host as in a URI: IPv6 literals in brackets.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(name) => f.write_str(name),
            Self::Ipv4(ip) => write!(f, "{ip}"),
            Self::Ipv6(ip) => write!(f, "[{ip}]"),
        }
    }
}

/// Splits off `ws://` or `wss://`, case-insensitively (RFC 3986 §3.1).
fn split_scheme(uri: &str) -> Result<(bool, &str), UriError> {
    let (scheme, rest) = uri.split_once("://").ok_or(UriError::UnsupportedScheme)?;
    if scheme.eq_ignore_ascii_case("ws") {
        Ok((false, rest))
    } else if scheme.eq_ignore_ascii_case("wss") {
        Ok((true, rest))
    } else {
        Err(UriError::UnsupportedScheme)
    }
}

/// Splits `host[:port]` or `[v6][:port]` and parses the host (RFC 3986 §3.2.2).
fn split_host_port(authority: &str) -> Result<(Host, Option<&str>), UriError> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (literal, after) = bracketed.split_once(']').ok_or(UriError::InvalidHost)?;
        // Zone identifiers (RFC 6874) are not supported: std rejects them.
        let ip = literal.parse().map_err(|_| UriError::InvalidHost)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(UriError::InvalidPort)?),
        };
        return Ok((Host::Ipv6(ip), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if let Ok(ip) = host.parse() {
        return Ok((Host::Ipv4(ip), port));
    }
    // A registered name (RFC 3986 §3.2.2) limited to what DNS names use. Digits and dots only
    // would be a mistyped IPv4 literal, which a resolver might read differently.
    let name_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if host.is_empty()
        || !host.bytes().all(name_char)
        || host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return Err(UriError::InvalidHost);
    }
    Ok((Host::Domain(host.to_owned()), port))
}

/// Parses a port in `1..=65535` (RFC 3986 §3.2.3: digits only).
fn parse_port(port: &str) -> Result<u16, UriError> {
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::InvalidPort);
    }
    match port.parse() {
        Ok(0) | Err(_) => Err(UriError::InvalidPort),
        Ok(p) => Ok(p),
    }
}

/// Returns whether `text` holds only pchars (RFC 3986 §3.3), `extra` bytes and well-formed
/// percent-encodings.
fn is_uri_text(text: &str, extra: &[u8]) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'%' => matches!(bytes.get(i + 1..i + 3), Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()),
        // unreserved / sub-delims / ":" / "@"
        _ => b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) || extra.contains(&b),
    })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::{Host, Uri};
    use crate::handshake::UriError;

    #[test]
    fn parses_all_parts() -> Result<(), UriError> {
        let uri = Uri::parse("ws://example.com:8080/p/q?x=1&y=%20#frag")?;
        assert!(!uri.is_secure());
        assert_eq!(uri.host(), &Host::Domain("example.com".to_owned()));
        assert_eq!(
            (uri.port(), uri.path(), uri.query()),
            (8080, "/p/q", Some("x=1&y=%20"))
        );
        assert_eq!(uri.request_target(), "/p/q?x=1&y=%20");
        assert_eq!(uri.authority(), "example.com:8080");
        assert_eq!(uri.origin(), "http://example.com:8080");
        Ok(())
    }

    #[test]
    fn applies_defaults() -> Result<(), UriError> {
        let uri: Uri = "WSS://[::1]".parse()?;
        assert!(uri.is_secure());
        assert_eq!(uri.host(), &Host::Ipv6(Ipv6Addr::LOCALHOST));
        assert_eq!(
            (uri.port(), uri.request_target(), uri.query()),
            (443, "/", None)
        );
        assert_eq!(
            (uri.authority(), uri.origin()),
            ("[::1]".to_owned(), "https://[::1]".to_owned())
        );
        let uri = Uri::parse("ws://10.0.0.1:80?q")?;
        assert_eq!(uri.host(), &Host::Ipv4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(
            (uri.request_target(), uri.authority()),
            ("/?q", "10.0.0.1".to_owned())
        );
        let uri = Uri::parse("ws://h:/#x")?;
        assert_eq!((uri.port(), uri.request_target()), (80, "/"));
        Ok(())
    }

    #[test]
    fn rejects_bad_uris() {
        let cases = [
            ("http://h/", UriError::UnsupportedScheme),
            ("ws:/h/", UriError::UnsupportedScheme),
            ("h/", UriError::UnsupportedScheme),
            ("ws://user@h/", UriError::Userinfo),
            ("ws://user:pw@h/", UriError::Userinfo),
            ("ws:///p", UriError::InvalidHost),
            ("ws://h h/", UriError::InvalidHost),
            ("ws://[::1/", UriError::InvalidHost),
            ("ws://[fe80::1%25eth0]/", UriError::InvalidHost),
            ("ws://[::1]x/", UriError::InvalidPort),
            ("ws://1.2.3.256/", UriError::InvalidHost),
            ("ws://h:0/", UriError::InvalidPort),
            ("ws://h:65536/", UriError::InvalidPort),
            ("ws://h:+1/", UriError::InvalidPort),
            ("ws://h:1:2/", UriError::InvalidPort),
            ("ws://h/a b", UriError::InvalidPath),
            ("ws://h/é", UriError::InvalidPath),
            ("ws://h/%zz", UriError::InvalidPath),
            ("ws://h/?a\"b", UriError::InvalidQuery),
        ];
        for (uri, error) in cases {
            assert_eq!(Uri::parse(uri), Err(error), "{uri}");
        }
    }
}

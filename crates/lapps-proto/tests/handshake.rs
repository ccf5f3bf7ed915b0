//! The opening handshake through the public API: parsing, checks, responses, the client side,
//! and interoperability with tungstenite.

use std::error::Error;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use lapps_proto::Status;
use lapps_proto::handshake::{
    self, AcceptOptions, ClientOptions, HandshakeError, Limits, Request, StatusCode, Uri, UriError,
    negotiate_protocol, parse_request, parse_response, write_accept, write_reject, write_request,
};
use proptest::prelude::*;
use tungstenite::client::IntoClientRequest;

type TestResult = Result<(), Box<dyn Error>>;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const TIMEOUT: Duration = Duration::from_secs(5);

/// What Chrome 124 sends (Sec-WebSocket-Key from RFC 6455 §1.3).
const CHROME: &str = "GET /chat HTTP/1.1\r\n\
    Host: server.example.com:9000\r\n\
    Connection: Upgrade\r\n\
    Pragma: no-cache\r\n\
    Cache-Control: no-cache\r\n\
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/124.0.0.0 Safari/537.36\r\n\
    Upgrade: websocket\r\n\
    Origin: http://localhost:3000\r\n\
    Sec-WebSocket-Version: 13\r\n\
    Accept-Encoding: gzip, deflate, br, zstd\r\n\
    Accept-Language: en-US,en;q=0.9\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
    Sec-WebSocket-Protocol: LAppS, raw\r\n\
    \r\n";

/// What Firefox 125 sends: note `Connection: keep-alive, Upgrade`.
const FIREFOX: &str = "GET /echo?token=a%20b HTTP/1.1\r\n\
    Host: localhost:5083\r\n\
    User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n\
    Accept: */*\r\n\
    Accept-Language: en-US,en;q=0.5\r\n\
    Accept-Encoding: gzip, deflate, br\r\n\
    Sec-WebSocket-Version: 13\r\n\
    Origin: http://localhost:5083\r\n\
    Sec-WebSocket-Extensions: permessage-deflate\r\n\
    Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
    Connection: keep-alive, Upgrade\r\n\
    Sec-Fetch-Dest: empty\r\n\
    Sec-Fetch-Mode: websocket\r\n\
    Sec-Fetch-Site: same-origin\r\n\
    Pragma: no-cache\r\n\
    Cache-Control: no-cache\r\n\
    Upgrade: websocket\r\n\
    \r\n";

/// A minimal valid request, with `{}` where a test inserts or replaces fields.
fn minimal(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn parse(buf: &[u8]) -> Result<Status<(Request, usize)>, HandshakeError> {
    parse_request(buf, &Limits::default())
}

fn complete(buf: &[u8]) -> Result<(Request, usize), Box<dyn Error>> {
    match parse(buf)? {
        Status::Complete(done) => Ok(done),
        Status::Partial => Err("partial".into()),
    }
}

/// Parses `head` and runs every check.
fn validate(head: &str) -> Result<Request, HandshakeError> {
    match parse(head.as_bytes())? {
        Status::Complete((request, len)) => {
            assert_eq!(len, head.len(), "head length");
            request.validate().map(|()| request)
        }
        Status::Partial => panic!("partial: {head:?}"),
    }
}

fn header_block(count: usize) -> String {
    (0..count).fold(String::new(), |mut block, i| {
        let _ = write!(block, "X-{i}: v\r\n");
        block
    })
}

// ---- server: parsing ----------------------------------------------------------------------

#[test]
fn chrome_request_parses_and_validates() -> TestResult {
    let request = validate(CHROME)?;
    assert_eq!(request.method(), "GET");
    assert_eq!(
        (request.target(), request.path(), request.query()),
        ("/chat", "/chat", None)
    );
    assert_eq!(request.version_minor(), 1);
    assert_eq!(request.host(), Some("server.example.com:9000"));
    assert_eq!(request.origin(), Some("http://localhost:3000"));
    assert_eq!(request.key(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(request.protocols().collect::<Vec<_>>(), ["LAppS", "raw"]);
    assert_eq!(
        request.extensions().collect::<Vec<_>>(),
        ["permessage-deflate; client_max_window_bits"]
    );
    assert_eq!(request.header("accept-language"), Some("en-US,en;q=0.9"));
    assert_eq!(request.headers().len(), 13);
    assert!(request.is_websocket_upgrade());
    Ok(())
}

#[test]
fn firefox_request_parses_and_validates() -> TestResult {
    let request = validate(FIREFOX)?;
    assert_eq!(request.path(), "/echo");
    assert_eq!(request.query(), Some("token=a%20b"));
    assert_eq!(request.header("connection"), Some("keep-alive, Upgrade"));
    assert_eq!(request.protocols().count(), 0);
    assert_eq!(
        request.extensions().collect::<Vec<_>>(),
        ["permessage-deflate"]
    );
    assert_eq!(request.key(), Some("x3JJHMbDL1EzLkh9GBhXDw=="));
    Ok(())
}

#[test]
fn every_prefix_is_partial_and_the_whole_matches() -> TestResult {
    for head in [CHROME, FIREFOX] {
        let bytes = head.as_bytes();
        let whole = complete(bytes)?;
        // Byte by byte: every prefix (i.e. every split point) is Partial, the last Complete.
        for end in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..end])?,
                Status::Partial,
                "prefix of {end} bytes"
            );
        }
        assert_eq!(complete(bytes)?, whole);
        assert_eq!(whole.1, bytes.len());
    }
    Ok(())
}

#[test]
fn pipelined_frames_are_left_after_the_head() -> TestResult {
    let frames = [
        0x81,
        0x85,
        1,
        2,
        3,
        4,
        b'h' ^ 1,
        b'e' ^ 2,
        b'l' ^ 3,
        b'l' ^ 4,
        b'o' ^ 1,
    ];
    let mut buf = CHROME.as_bytes().to_vec();
    buf.extend_from_slice(&frames);
    let (request, head_len) = complete(&buf)?;
    assert_eq!(head_len, CHROME.len());
    assert_eq!(&buf[head_len..], &frames);
    // Any split after the head end gives the same answer.
    for end in CHROME.len()..=buf.len() {
        assert_eq!(complete(&buf[..end])?, (request.clone(), head_len));
    }
    Ok(())
}

#[test]
fn one_leading_empty_line_is_tolerated() -> TestResult {
    let head = format!("\r\n{CHROME}");
    let (request, len) = complete(head.as_bytes())?;
    assert_eq!(len, CHROME.len() + 2);
    request.validate()?;
    assert_eq!(parse(b"\r")?, Status::Partial);
    assert_eq!(parse(b"\r\n")?, Status::Partial);
    Ok(())
}

#[test]
fn two_leading_empty_lines_are_rejected() {
    for head in [
        format!("\r\n\r\n{CHROME}"),
        format!("\n{CHROME}"),
        format!("\r\n\n{CHROME}"),
    ] {
        let result = parse(head.as_bytes());
        assert_eq!(result, Err(HandshakeError::LeadingEmptyLines), "{head:?}");
        assert_eq!(
            HandshakeError::LeadingEmptyLines.status(),
            StatusCode::BAD_REQUEST
        );
    }
    // Detected as soon as the second empty line starts.
    assert_eq!(parse(b"\r\n\r"), Err(HandshakeError::LeadingEmptyLines));
}

#[test]
fn head_of_exactly_max_header_size_is_accepted() -> TestResult {
    let limits = Limits::default();
    assert_eq!(limits.max_header_size, 8192);
    let fixed = minimal("X-Pad: \r\n").len();
    let head = minimal(&format!("X-Pad: {}\r\n", "a".repeat(8192 - fixed)));
    assert_eq!(head.len(), 8192);
    let Status::Complete((request, len)) = parse_request(head.as_bytes(), &limits)? else {
        return Err("partial".into());
    };
    assert_eq!(len, 8192);
    request.validate()?;

    // The same with the leading empty line counted.
    let head = format!(
        "\r\n{}",
        minimal(&format!("X-Pad: {}\r\n", "a".repeat(8190 - fixed)))
    );
    assert_eq!(head.len(), 8192);
    assert!(matches!(
        parse_request(head.as_bytes(), &limits)?,
        Status::Complete((_, 8192))
    ));
    Ok(())
}

#[test]
fn head_one_byte_over_max_header_size_gets_431() -> TestResult {
    let fixed = minimal("X-Pad: \r\n").len();
    let head = minimal(&format!("X-Pad: {}\r\n", "a".repeat(8193 - fixed)));
    assert_eq!(head.len(), 8193);
    let error = HandshakeError::HeadTooLarge { limit: 8192 };
    assert_eq!(parse(head.as_bytes()), Err(error));
    assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // Up to the limit an unfinished head is Partial; one byte more is 431 at once, so a client
    // cannot make the server buffer more than the limit.
    assert_eq!(parse(&head.as_bytes()[..8192])?, Status::Partial);
    assert_eq!(parse(&head.as_bytes()[..8193]), Err(error));
    let endless = [b'a'; 8193];
    assert_eq!(parse(&endless[..8192])?, Status::Partial);
    assert_eq!(parse(&endless), Err(error));
    Ok(())
}

#[test]
fn max_header_size_is_configurable() -> TestResult {
    let limits = Limits::default().with_max_header_size(CHROME.len());
    assert!(matches!(
        parse_request(CHROME.as_bytes(), &limits)?,
        Status::Complete(_)
    ));
    let limits = limits.with_max_header_size(CHROME.len() - 1);
    let result = parse_request(CHROME.as_bytes(), &limits);
    assert_eq!(
        result,
        Err(HandshakeError::HeadTooLarge {
            limit: CHROME.len() - 1
        })
    );
    Ok(())
}

#[test]
fn sixty_five_header_fields_get_431() -> TestResult {
    // `minimal` has 5 fields.
    let request = validate(&minimal(&header_block(59)))?;
    assert_eq!(request.headers().len(), 64);
    let error = HandshakeError::TooManyHeaders { limit: 64 };
    assert_eq!(parse(minimal(&header_block(60)).as_bytes()), Err(error));
    assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // Repeats count one each.
    assert_eq!(
        parse(minimal(&"X: v\r\n".repeat(60)).as_bytes()),
        Err(error)
    );
    Ok(())
}

#[test]
fn max_headers_is_configurable() -> TestResult {
    let head = minimal(&header_block(95));
    let limits = Limits::default().with_max_headers(100);
    assert!(matches!(
        parse_request(head.as_bytes(), &limits)?,
        Status::Complete(_)
    ));
    let limits = limits.with_max_headers(99);
    let result = parse_request(head.as_bytes(), &limits);
    assert_eq!(result, Err(HandshakeError::TooManyHeaders { limit: 99 }));
    let limits = Limits::default().with_max_headers(usize::MAX);
    assert!(matches!(
        parse_request(head.as_bytes(), &limits)?,
        Status::Complete(_)
    ));
    Ok(())
}

#[test]
fn malformed_heads_get_400() {
    let cases: [&[u8]; 7] = [
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n",
    ];
    for head in cases {
        assert_eq!(parse(head), Err(HandshakeError::MalformedHead), "{head:?}");
    }
    assert_eq!(
        HandshakeError::MalformedHead.status(),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn garbage_is_rejected_once_a_line_ends() {
    // No need to wait for the blank line or the size limit.
    assert_eq!(
        parse(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        Ok(Status::Partial)
    );
    assert_eq!(
        parse(b"\x16\x03\x01\x02\x00\n"),
        Err(HandshakeError::MalformedHead)
    );
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nBad Name: x\r\n"),
        Err(HandshakeError::MalformedHead)
    );
}

#[test]
fn non_origin_form_targets_get_400() {
    for target in ["*", "http://h/chat", "chat", "/chat#top"] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            parse(head.as_bytes()),
            Err(HandshakeError::InvalidRequestTarget),
            "{target}"
        );
    }
    assert_eq!(
        HandshakeError::InvalidRequestTarget.status(),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn header_names_are_case_insensitive() -> TestResult {
    let head = "GET / HTTP/1.1\r\nhOST: h\r\nupgrade: WebSocket\r\nCONNECTION: UPGRADE\r\n\
                sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nSEC-WEBSOCKET-VERSION: 13\r\n\
                sec-WEBSOCKET-protocol: x\r\n\r\n";
    let request = validate(head)?;
    assert_eq!(request.host(), Some("h"));
    assert_eq!(request.header("Sec-WebSocket-Key"), request.key());
    assert_eq!(request.header("SEC-WEBSOCKET-PROTOCOL"), Some("x"));
    assert_eq!(request.headers().iter().next(), Some(("hOST", "h")));
    Ok(())
}

#[test]
fn repeated_protocol_fields_combine_in_order() -> TestResult {
    let request = validate(&minimal(
        "Sec-WebSocket-Protocol: b, a\r\nX: 1\r\nsec-websocket-protocol:c ,, d\r\n",
    ))?;
    assert_eq!(
        request.protocols().collect::<Vec<_>>(),
        ["b", "a", "c", "d"]
    );
    assert_eq!(
        request.header("sec-websocket-protocol"),
        Some("b, a, c ,, d")
    );
    assert_eq!(request.headers().occurrences("Sec-WebSocket-Protocol"), 2);
    assert_eq!(
        negotiate_protocol(request.protocols(), &["d", "a"]),
        Some("d")
    );
    Ok(())
}

#[test]
fn repeated_token_lists_are_searched_across_fields() -> TestResult {
    validate(&minimal("Connection: keep-alive\r\n"))?;
    let head = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nUpgrade: websocket\r\n\
                Connection: keep-alive\r\nConnection: upgrade\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    validate(head)?;
    Ok(())
}

// ---- server: checks -----------------------------------------------------------------------

#[test]
fn non_get_method_gets_405_first() -> TestResult {
    let (request, _) = complete(b"POST / HTTP/1.0\r\n\r\n")?;
    assert_eq!(
        request.check_method(),
        Err(HandshakeError::MethodNotAllowed)
    );
    assert_eq!(request.validate(), Err(HandshakeError::MethodNotAllowed));
    assert_eq!(
        HandshakeError::MethodNotAllowed.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (request, _) = complete(minimal("").replacen("GET", "get", 1).as_bytes())?;
    assert_eq!(request.validate(), Err(HandshakeError::MethodNotAllowed));
    Ok(())
}

#[test]
fn invalid_upgrades_get_400_with_their_own_variant() -> TestResult {
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let valid = minimal("");
    let cases = [
        (
            valid.replacen("HTTP/1.1", "HTTP/1.0", 1),
            HandshakeError::UnsupportedHttpVersion,
        ),
        (
            valid.replacen("Host: h\r\n", "", 1),
            HandshakeError::MissingHost,
        ),
        (minimal("Host: h2\r\n"), HandshakeError::DuplicateHost),
        (
            valid.replacen("Upgrade: websocket\r\n", "", 1),
            HandshakeError::MissingUpgradeWebSocket,
        ),
        (
            valid.replacen("websocket", "h2c", 1),
            HandshakeError::MissingUpgradeWebSocket,
        ),
        (
            valid.replacen("websocket", "websocket2", 1),
            HandshakeError::MissingUpgradeWebSocket,
        ),
        (
            valid.replacen("Connection: Upgrade\r\n", "", 1),
            HandshakeError::MissingConnectionUpgrade,
        ),
        (
            valid.replacen("Connection: Upgrade", "Connection: close", 1),
            HandshakeError::MissingConnectionUpgrade,
        ),
        (valid.replacen(key, "", 1), HandshakeError::MissingKey),
        (minimal(key), HandshakeError::DuplicateKey),
        (
            valid.replacen("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ", 1),
            HandshakeError::InvalidKey,
        ),
        (
            valid.replacen("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1),
            HandshakeError::InvalidKey,
        ),
        (
            minimal("Content-Length: 5\r\n"),
            HandshakeError::UnexpectedBody,
        ),
        (
            minimal("Content-Length: x\r\n"),
            HandshakeError::UnexpectedBody,
        ),
        (
            minimal("Transfer-Encoding: chunked\r\n"),
            HandshakeError::UnexpectedBody,
        ),
    ];
    for (head, expected) in cases {
        let (request, _) = complete(head.as_bytes())?;
        assert_eq!(request.check_method(), Ok(()));
        assert_eq!(request.check_upgrade(), Err(expected), "{head}");
        assert_eq!(request.validate(), Err(expected), "{head}");
        assert_eq!(expected.status(), StatusCode::BAD_REQUEST);
    }
    validate(&minimal("Content-Length: 0\r\n"))?;
    Ok(())
}

#[test]
fn wrong_websocket_version_gets_426_after_the_400_checks() -> TestResult {
    let valid = minimal("");
    for head in [
        valid.replacen("Sec-WebSocket-Version: 13\r\n", "", 1),
        valid.replacen("Version: 13", "Version: 8", 1),
        minimal("Sec-WebSocket-Version: 13\r\n"),
    ] {
        let (request, _) = complete(head.as_bytes())?;
        assert_eq!(
            request.validate(),
            Err(HandshakeError::UnsupportedVersion),
            "{head}"
        );
    }
    assert_eq!(
        HandshakeError::UnsupportedVersion.status(),
        StatusCode::UPGRADE_REQUIRED
    );
    // Spec §5.3: an invalid upgrade (check 7) is reported before the version (check 8).
    let head = valid
        .replacen("Host: h\r\n", "", 1)
        .replacen("Version: 13", "Version: 8", 1);
    let (request, _) = complete(head.as_bytes())?;
    assert_eq!(request.validate(), Err(HandshakeError::MissingHost));
    Ok(())
}

// ---- server: responses --------------------------------------------------------------------

#[test]
fn accept_key_matches_rfc_6455_example() {
    assert_eq!(
        handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn writes_101_without_protocol() {
    let mut out = Vec::new();
    write_accept("dGhlIHNhbXBsZSBub25jZQ==", &AcceptOptions::new(), &mut out);
    let expected = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nServer: lapps/{VERSION}\r\n\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn writes_101_with_protocol_and_server() {
    let mut out = b"kept".to_vec();
    let options = AcceptOptions::new()
        .with_protocol(Some("LAppS"))
        .with_server("edge/1");
    write_accept("dGhlIHNhbXBsZSBub25jZQ==", &options, &mut out);
    let expected = "keptHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Server: edge/1\r\nSec-WebSocket-Protocol: LAppS\r\n\r\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn writes_101_with_extra_headers_and_server_override() {
    let extra = [
        ("X-Frame-Options", "DENY"),
        ("server", "custom"),
        ("X-A", "1, 2"),
    ];
    let options = AcceptOptions::new()
        .with_extra_headers(&extra)
        .with_server("ignored");
    let mut out = Vec::new();
    write_accept("x3JJHMbDL1EzLkh9GBhXDw==", &options, &mut out);
    let expected = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\
        X-Frame-Options: DENY\r\nserver: custom\r\nX-A: 1, 2\r\n\r\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn never_writes_extensions_even_when_offered() -> TestResult {
    let request = validate(CHROME)?;
    assert_eq!(request.extensions().count(), 1);
    let mut out = Vec::new();
    write_accept(
        request.key().unwrap_or_default(),
        &AcceptOptions::new(),
        &mut out,
    );
    assert!(
        !String::from_utf8_lossy(&out)
            .to_ascii_lowercase()
            .contains("extensions")
    );
    Ok(())
}

#[test]
fn writes_405_reject() {
    let mut out = Vec::new();
    write_reject(
        StatusCode::METHOD_NOT_ALLOWED,
        "method is not GET",
        None,
        &mut out,
    );
    let expected = format!(
        "HTTP/1.1 405 Method Not Allowed\r\nServer: lapps/{VERSION}\r\nAllow: GET\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: 18\r\n\
         Connection: close\r\n\r\nmethod is not GET\n"
    );
    assert_eq!(String::from_utf8_lossy(&out), expected);
    let mut from_error = Vec::new();
    HandshakeError::MethodNotAllowed.write_response(None, &mut from_error);
    assert_eq!(from_error, out);
}

#[test]
fn writes_426_reject() {
    let mut out = Vec::new();
    HandshakeError::UnsupportedVersion.write_response(Some("edge"), &mut out);
    let expected = "HTTP/1.1 426 Upgrade Required\r\nServer: edge\r\nUpgrade: websocket\r\n\
        Sec-WebSocket-Version: 13\r\nContent-Type: text/plain; charset=utf-8\r\n\
        Content-Length: 44\r\nConnection: Upgrade, close\r\n\r\n\
        unsupported WebSocket version (expected 13)\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn writes_other_rejects_with_one_line_body() {
    let mut out = Vec::new();
    write_reject(
        StatusCode::NOT_FOUND,
        "unknown request target\r\nX: y",
        Some("s"),
        &mut out,
    );
    let expected = "HTTP/1.1 404 Not Found\r\nServer: s\r\n\
        Content-Type: text/plain; charset=utf-8\r\nContent-Length: 29\r\nConnection: close\r\n\
        \r\nunknown request target  X: y\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
    let mut out = Vec::new();
    HandshakeError::HeadTooLarge { limit: 8192 }.write_response(Some("s"), &mut out);
    assert!(out.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\nServer: s\r\n"));
    assert!(out.ends_with(b"\r\n\r\nrequest head exceeds max_header_size (8192 bytes)\n"));
}

#[test]
fn negotiation_follows_server_order() {
    assert_eq!(
        negotiate_protocol(["raw", "LAppS"], &["LAppS", "raw"]),
        Some("LAppS")
    );
    assert_eq!(
        negotiate_protocol(["raw", "LAppS"], &["raw", "LAppS"]),
        Some("raw")
    );
    assert_eq!(
        negotiate_protocol(["x", "raw"], &["alias", "raw"]),
        Some("raw")
    );
}

#[test]
fn negotiation_never_picks_an_unoffered_name() {
    assert_eq!(negotiate_protocol(["chat"], &["LAppS", "raw"]), None);
    assert_eq!(negotiate_protocol([], &["LAppS"]), None);
    assert_eq!(negotiate_protocol(["LAppS"], &[]), None);
}

#[test]
fn negotiation_is_case_sensitive() {
    assert_eq!(
        negotiate_protocol(["lapps", "RAW"], &["LAppS", "raw"]),
        None
    );
}

// ---- client -------------------------------------------------------------------------------

const KEY: [u8; 16] = *b"the sample nonce";

#[test]
fn writes_request_for_port_query_and_fragment() -> TestResult {
    let uri = Uri::parse("ws://host:8080/p?q=1#frag")?;
    let options = ClientOptions::new()
        .with_protocols(&["LAppS", "raw"])
        .with_origin("http://host:8080")
        .with_user_agent("lapps/test")
        .with_extra_headers(&[("Authorization", "Bearer t")]);
    let mut out = Vec::new();
    write_request(&uri, &KEY, &options, &mut out);
    let expected = "GET /p?q=1 HTTP/1.1\r\nHost: host:8080\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nOrigin: http://host:8080\r\nUser-Agent: lapps/test\r\n\
        Sec-WebSocket-Protocol: LAppS, raw\r\nAuthorization: Bearer t\r\n\r\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
    // What we write, we accept.
    validate(expected)?;
    Ok(())
}

#[test]
fn writes_request_for_ipv6_default_port() -> TestResult {
    let uri = Uri::parse("wss://[::1]/")?;
    assert_eq!(
        (uri.port(), uri.origin()),
        (443, "https://[::1]".to_owned())
    );
    let mut out = Vec::new();
    write_request(&uri, &KEY, &ClientOptions::new(), &mut out);
    let expected = "GET / HTTP/1.1\r\nHost: [::1]\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
    let uri = Uri::parse("wss://[::1]:8443")?;
    assert_eq!(uri.authority(), "[::1]:8443");
    Ok(())
}

#[test]
fn invalid_uris_are_rejected() {
    let cases = [
        ("http://host/", UriError::UnsupportedScheme),
        ("ws://user@host/", UriError::Userinfo),
        ("ws://host:99999/", UriError::InvalidPort),
        ("ws://[::1/", UriError::InvalidHost),
        ("ws://ho st/", UriError::InvalidHost),
        ("ws://host/a b", UriError::InvalidPath),
    ];
    for (uri, reason) in cases {
        assert_eq!(Uri::parse(uri), Err(reason), "{uri}");
        let error = HandshakeError::from(reason);
        assert_eq!(error, HandshakeError::InvalidUri(reason));
        assert!(error.to_string().starts_with("invalid URI: "), "{error}");
    }
}

/// A 101 answering [`KEY`], with `{}` for extra fields.
fn response(extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
    )
}

#[test]
fn accepts_a_good_response_incrementally() -> TestResult {
    let head = response("Sec-WebSocket-Protocol: raw\r\nServer: x\r\n");
    let mut buf = head.clone().into_bytes();
    buf.extend_from_slice(&[0x81, 0x00]);
    for end in 0..head.len() {
        assert_eq!(
            parse_response(&buf[..end], &KEY, &["LAppS", "raw"])?,
            Status::Partial
        );
    }
    let Status::Complete((resp, len)) = parse_response(&buf, &KEY, &["LAppS", "raw"])? else {
        return Err("partial".into());
    };
    assert_eq!(len, head.len());
    assert_eq!(&buf[len..], &[0x81, 0x00]);
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(resp.reason(), "Switching Protocols");
    assert_eq!(resp.protocol(), Some("raw"));
    assert_eq!(resp.header("server"), Some("x"));
    // Any reason phrase, and case-insensitive tokens.
    let head = "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n\
                sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let Status::Complete((resp, _)) = parse_response(head.as_bytes(), &KEY, &[])? else {
        return Err("partial".into());
    };
    assert_eq!((resp.reason(), resp.protocol()), ("OK", None));
    Ok(())
}

#[test]
fn rejects_bad_responses() {
    let good = response("");
    let cases = [
        (
            good.replacen(
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOO=",
                1,
            ),
            HandshakeError::AcceptKeyMismatch,
        ),
        (
            good.replacen("Sec-WebSocket-Accept", "X-Accept", 1),
            HandshakeError::AcceptKeyMismatch,
        ),
        (
            good.replacen("Upgrade: websocket\r\n", "", 1),
            HandshakeError::MissingUpgradeWebSocket,
        ),
        (
            good.replacen("Connection: Upgrade", "Connection: close", 1),
            HandshakeError::MissingConnectionUpgrade,
        ),
        (
            good.replacen("101 Switching Protocols", "200 OK", 1),
            HandshakeError::UnexpectedStatus(StatusCode::from_u16(200).unwrap()),
        ),
        (
            good.replacen("HTTP/1.1", "HTTP/1.0", 1),
            HandshakeError::UnsupportedHttpVersion,
        ),
        (
            response("Sec-WebSocket-Protocol: chat\r\n"),
            HandshakeError::UnofferedProtocol,
        ),
        (
            response("Sec-WebSocket-Protocol: raw, LAppS\r\n"),
            HandshakeError::UnofferedProtocol,
        ),
        (
            response("Sec-WebSocket-Protocol: RAW\r\n"),
            HandshakeError::UnofferedProtocol,
        ),
        (
            response("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            HandshakeError::UnofferedExtension,
        ),
        (
            "HTTP/1.1 101\r\nGarbage\r\n\r\n".to_owned(),
            HandshakeError::MalformedHead,
        ),
    ];
    for (head, expected) in cases {
        assert_eq!(
            parse_response(head.as_bytes(), &KEY, &["raw", "LAppS"]),
            Err(expected),
            "{head}"
        );
    }
    // A 403 is reported with its status.
    let head = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    let result = parse_response(head.as_bytes(), &KEY, &[]);
    assert_eq!(
        result,
        Err(HandshakeError::UnexpectedStatus(StatusCode::FORBIDDEN))
    );
}

// ---- interoperability with tungstenite -----------------------------------------------------

/// Reads from `stream` until `parse` completes, returning its value and the bytes read.
fn read_until<T>(
    stream: &mut TcpStream,
    mut parse: impl FnMut(&[u8]) -> Result<Status<(T, usize)>, HandshakeError>,
) -> Result<(T, usize, Vec<u8>), Box<dyn Error>> {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 512];
    loop {
        if let Status::Complete((value, len)) = parse(&buf)? {
            return Ok((value, len, buf));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err("connection closed before the head was complete".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn parses_the_request_tungstenite_generates() -> TestResult {
    let request = tungstenite::ClientRequestBuilder::new("ws://localhost:9000/echo?a=1".parse()?)
        .with_sub_protocol("raw")
        .into_client_request()?;
    let (bytes, _) = tungstenite::handshake::client::generate_request(request)?;
    let (request, len) = complete(&bytes)?;
    assert_eq!(len, bytes.len());
    request.validate()?;
    assert_eq!((request.path(), request.query()), ("/echo", Some("a=1")));
    assert_eq!(request.host(), Some("localhost:9000"));
    assert_eq!(request.protocols().collect::<Vec<_>>(), ["raw"]);
    Ok(())
}

#[test]
fn tungstenite_client_accepts_our_101() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let client = thread::spawn(move || -> Result<(Option<String>, String), String> {
        let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        let uri = format!("ws://{addr}/echo?x=1")
            .parse()
            .map_err(|e| format!("{e}"))?;
        let request = tungstenite::ClientRequestBuilder::new(uri)
            .with_sub_protocol("chat")
            .with_sub_protocol("raw");
        let (mut socket, response) =
            tungstenite::client(request, stream).map_err(|e| e.to_string())?;
        let protocol = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let message = socket.read().map_err(|e| e.to_string())?;
        Ok((
            protocol,
            message.into_text().map_err(|e| e.to_string())?.to_string(),
        ))
    });

    let (mut stream, _) = listener.accept()?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let (request, _, _) = read_until(&mut stream, parse)?;
    request.validate()?;
    assert_eq!((request.path(), request.query()), ("/echo", Some("x=1")));
    let protocol = negotiate_protocol(request.protocols(), &["LAppS", "raw"]);
    assert_eq!(protocol, Some("raw"));
    let mut out = Vec::new();
    write_accept(
        request.key().unwrap_or_default(),
        &AcceptOptions::new().with_protocol(protocol),
        &mut out,
    );
    // An unmasked text frame "hi" right after the 101 (RFC 6455 §5.7).
    out.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
    stream.write_all(&out)?;

    let (protocol, text) = client.join().map_err(|_| "client thread panicked")??;
    assert_eq!(protocol.as_deref(), Some("raw"));
    assert_eq!(text, "hi");
    Ok(())
}

#[test]
fn tungstenite_server_accepts_our_request() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = thread::spawn(move || -> Result<(String, String), String> {
        let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut seen = (String::new(), String::new());
        #[expect(
            clippy::result_large_err,
            reason = "the shape of tungstenite's Callback"
        )]
        let callback =
            |request: &tungstenite::handshake::server::Request,
             mut response: tungstenite::handshake::server::Response| {
                seen.0 = request.uri().to_string();
                seen.1 = request
                    .headers()
                    .get("host")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", "raw".parse().unwrap());
                Ok(response)
            };
        let mut socket = tungstenite::accept_hdr(stream, callback).map_err(|e| e.to_string())?;
        socket
            .send(tungstenite::Message::text("hello"))
            .map_err(|e| e.to_string())?;
        Ok(seen)
    });

    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let uri = Uri::parse(&format!("ws://{addr}/chat?room=1#ignored"))?;
    let origin = uri.origin();
    let options = ClientOptions::new()
        .with_protocols(&["LAppS", "raw"])
        .with_origin(&origin)
        .with_user_agent(handshake::PRODUCT);
    let mut out = Vec::new();
    write_request(&uri, &KEY, &options, &mut out);
    stream.write_all(&out)?;

    // Read the 101 and at least the 7-byte frame that follows it.
    let (response, len, mut buf) =
        read_until(&mut stream, |b| parse_response(b, &KEY, &["LAppS", "raw"]))?;
    assert_eq!(response.protocol(), Some("raw"));
    while buf.len() < len + 7 {
        let mut chunk = [0_u8; 64];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err("closed before the frame".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(&buf[len..], b"\x81\x05hello");

    let (target, host) = server.join().map_err(|_| "server thread panicked")??;
    assert_eq!(target, "/chat?room=1");
    assert_eq!(host, addr.to_string());
    Ok(())
}

// ---- properties ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn split_parsing_equals_whole_parsing(
        which in 0..2_usize,
        frames in proptest::collection::vec(any::<u8>(), 0..16),
        mut splits in proptest::collection::vec(0..1200_usize, 0..6),
    ) {
        let head = [CHROME, FIREFOX][which];
        let mut buf = head.as_bytes().to_vec();
        buf.extend_from_slice(&frames);
        let whole = parse(&buf);
        prop_assert!(matches!(whole, Ok(Status::Complete((_, n))) if n == head.len()));
        // Feed the bytes in segments ending at the split points, as a reader would.
        splits.push(buf.len());
        splits.sort_unstable();
        let mut result = Ok(Status::Partial);
        for end in splits.into_iter().map(|s| s.min(buf.len())) {
            result = parse(&buf[..end]);
            if result != Ok(Status::Partial) {
                break;
            }
        }
        prop_assert_eq!(result, whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_prefixes_agree(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            // Mostly HTTP-ish bytes, to reach deeper states than uniform noise does.
            proptest::collection::vec(proptest::sample::select(b"GET / HTTP/1.1\r\n\r\nHost: a,\x00".to_vec()), 0..300),
            Just(CHROME.as_bytes().to_vec()),
        ],
        max_header_size in 0..400_usize,
        max_headers in 0..8_usize,
    ) {
        let limits = Limits::default().with_max_header_size(max_header_size).with_max_headers(max_headers);
        let whole = parse_request(&bytes, &limits);
        // A prefix never contradicts the whole: one of them is Partial or both agree, and a
        // complete head stays complete. (A syntax error may be reported early, when a line
        // ends, and only later for a buffer that stops mid-line.)
        for end in 0..bytes.len() {
            let prefix = parse_request(&bytes[..end], &limits);
            let pending = Ok(Status::Partial);
            prop_assert!(prefix == pending || whole == pending || prefix == whole, "{:?} vs {:?}", prefix, whole);
            if let Ok(Status::Complete(_)) = prefix {
                prop_assert_eq!(&prefix, &whole);
            }
        }
        // An early error is the final answer once a line ends.
        let first_error = (0..=bytes.len()).map(|end| parse_request(&bytes[..end], &limits)).find(Result::is_err);
        if let Some(error) = first_error {
            let ended = [bytes.as_slice(), b"\n"].concat();
            prop_assert_eq!(parse_request(&ended, &limits), error);
        }
        let _ = parse_response(&bytes, &KEY, &["raw"]);
    }

    #[test]
    fn request_like_bytes_never_panic(
        fields in proptest::collection::vec(("[A-Za-z-]{0,12}", "[ -~\t]{0,20}"), 0..12),
        target in "[ -~]{0,12}",
        lead in proptest::option::of(Just("\r\n")),
    ) {
        let mut head = format!("{}GET {target} HTTP/1.1\r\n", lead.unwrap_or(""));
        for (name, value) in &fields {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        if let Ok(Status::Complete((request, len))) = parse(head.as_bytes()) {
            prop_assert_eq!(len, head.len());
            let _ = request.validate();
            let _ = request.protocols().count() + request.extensions().count();
        }
    }
}

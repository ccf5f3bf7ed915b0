//! What requests and responses share: finding the end of the head within a size limit,
//! owned header fields, and HTTP token lists.

use super::error::HandshakeError;

/// The header fields of a parsed head, with repeated fields combined.
///
/// Names compare ASCII case-insensitively (RFC 9110 §5.1). A field that occurs more than once
/// is combined into one value, joined with `", "` in the order received (RFC 9110 §5.3); the
/// combined field keeps the name and position of its first occurrence.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Headers {
    fields: Vec<Field>,
}

#[derive(Clone, Debug, Eq, PartialEq)]
struct Field {
    name: String,
    value: String,
    occurrences: usize,
}

impl Headers {
    /// Builds the fields from httparse's, combining repeats.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::MalformedHead`] if a value is not UTF-8.
    pub(super) fn from_httparse(raw: &[httparse::Header<'_>]) -> Result<Self, HandshakeError> {
        let mut fields: Vec<Field> = Vec::with_capacity(raw.len());
        for header in raw {
            let value = std::str::from_utf8(header.value)
                .map_err(|_| HandshakeError::MalformedHead)?
                .trim_matches(is_ows);
            // Quadratic in the field count, which the head limits keep small (64 by default).
            if let Some(field) = fields
                .iter_mut()
                .find(|f| f.name.eq_ignore_ascii_case(header.name))
            {
                field.value.push_str(", ");
                field.value.push_str(value);
                field.occurrences += 1;
            } else {
                fields.push(Field {
                    name: header.name.to_owned(),
                    value: value.to_owned(),
                    occurrences: 1,
                });
            }
        }
        Ok(Self { fields })
    }

    /// Returns the (combined) value of the field `name`, matched case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.field(name).map(|f| f.value.as_str())
    }

    /// Returns how many times the field `name` occurred in the head (0 if absent).
    pub fn occurrences(&self, name: &str) -> usize {
        self.field(name).map_or(0, |f| f.occurrences)
    }

    /// Returns whether the field `name` holds `token` in its comma-separated list, compared
    /// ASCII case-insensitively (as `Connection` and `Upgrade` are, RFC 9110 §7.6.1, §7.8).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get(name)
            .is_some_and(|v| split_list(v).any(|t| t.eq_ignore_ascii_case(token)))
    }

    /// Iterates over `(name, value)` of each combined field, in order of first occurrence.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
    }

    /// Returns the number of distinct field names.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Returns whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// Where the head parser should look, decided before running httparse.
#[derive(Debug, Eq, PartialEq)]
pub(super) enum Scan {
    /// Nothing to parse yet: the head is incomplete and no new line ended.
    Partial,
    /// Run httparse on `buf[start..end]`; `then` says what a `Partial` from it means.
    Parse {
        start: usize,
        end: usize,
        then: IfPartial,
    },
}

/// The meaning of httparse returning `Partial` on the scanned range.
#[derive(Debug, Eq, PartialEq)]
pub(super) enum IfPartial {
    /// The range holds a complete head, so `Partial` means malformed.
    Malformed,
    /// The head is still incomplete; wait for more bytes.
    Wait,
    /// The buffer is past the size limit without a complete head: 431.
    TooLarge,
}

/// Decides how much of `buf` to hand to httparse, enforcing `max_size` first (spec §5.2).
///
/// The scan is linear in `min(buf.len(), max_size)` and runs no HTTP parsing, so a caller that
/// re-offers a growing buffer byte by byte stays cheap: httparse runs only once the head is
/// complete, when a line has just ended (to reject garbage early), or once past the limit.
///
/// # Errors
///
/// [`HandshakeError::LeadingEmptyLines`] if more than the tolerated empty line precedes the
/// start line.
pub(super) fn scan(
    buf: &[u8],
    max_size: usize,
    leading_empty_line: bool,
) -> Result<Scan, HandshakeError> {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received prior to
    // the request-line. lapps ignores exactly one (spec §5.2); httparse would skip any number,
    // so more are rejected here.
    let start = match buf {
        [b'\r'] if leading_empty_line => return Ok(Scan::Partial),
        [b'\r', b'\n', ..] if leading_empty_line => 2,
        _ => 0,
    };
    if let Some(b'\r' | b'\n') = buf.get(start) {
        return Err(HandshakeError::LeadingEmptyLines);
    }

    // Spec §5.2: the head, counting every byte up to and including the blank line, MUST NOT
    // exceed `max_size`; only that much of the buffer is ever looked at.
    let window = buf.get(..max_size).unwrap_or(buf);
    if let Some(end) = find_blank_line(window, start) {
        return Ok(Scan::Parse {
            start,
            end,
            then: IfPartial::Malformed,
        });
    }
    let then = if buf.len() > max_size {
        IfPartial::TooLarge
    } else if buf.last() == Some(&b'\n') {
        IfPartial::Wait
    } else {
        return Ok(Scan::Partial);
    };
    Ok(Scan::Parse {
        start,
        end: window.len(),
        then,
    })
}

/// Splits an HTTP list (RFC 9110 §5.6.1) on commas, trimming whitespace and skipping empty
/// elements.
pub(super) fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|t| t.trim_matches(is_ows))
        .filter(|t| !t.is_empty())
}

/// Splits a list whose elements may hold quoted strings with commas (RFC 9110 §5.6.4), such as
/// `Sec-WebSocket-Extensions`, trimming whitespace and skipping empty elements.
pub(super) fn split_quoted_list(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let (mut quoted, mut escaped) = (false, false);
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    let at_comma = c == ',' && !quoted;
                    match c {
                        _ if escaped => escaped = false,
                        '\\' if quoted => escaped = true,
                        '"' => quoted = !quoted,
                        _ => {}
                    }
                    at_comma
                })
                .map_or(rest.len(), |(i, _)| i);
            let (element, tail) = rest.split_at(end);
            rest = tail.strip_prefix(',').unwrap_or(tail);
            let element = element.trim_matches(is_ows);
            if !element.is_empty() {
                return Some(element);
            }
        }
    })
}

/// Appends the field line `name: value` CRLF.
///
/// Callers validate names and values beforehand. As a last line of defence CR, LF and NUL are
/// written as spaces, so that a bad value can never end the head early or inject fields
/// (RFC 9110 §5.5 calls them invalid and dangerous).
pub(super) fn push_field(dst: &mut Vec<u8>, name: &str, value: &str) {
    push_defanged(dst, name);
    dst.extend_from_slice(b": ");
    push_defanged(dst, value);
    dst.extend_from_slice(b"\r\n");
}

/// Appends `text` with CR, LF and NUL replaced by spaces.
pub(super) fn push_defanged(dst: &mut Vec<u8>, text: &str) {
    dst.extend(text.bytes().map(|b| {
        if matches!(b, b'\r' | b'\n' | b'\0') {
            b' '
        } else {
            b
        }
    }));
}

/// Returns whether `c` is optional whitespace (`OWS`: SP or HTAB, RFC 9110 §5.6.3).
pub(super) fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Returns the index just past the first empty line at or after `start`, where a line ends with
/// LF or CRLF as httparse accepts (RFC 9112 §2.2), or `None`.
fn find_blank_line(buf: &[u8], start: usize) -> Option<usize> {
    let mut from = start;
    while let Some(offset) = buf.get(from..)?.iter().position(|&b| b == b'\n') {
        let lf = from + offset;
        match buf.get(lf + 1..) {
            Some([b'\n', ..]) => return Some(lf + 2),
            Some([b'\r', b'\n', ..]) => return Some(lf + 3),
            _ => from = lf + 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{IfPartial, Scan, find_blank_line, scan, split_list, split_quoted_list};
    use crate::handshake::HandshakeError;

    #[test]
    fn finds_blank_line_with_crlf_or_lf() {
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\n\r\nxx", 0), Some(18));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\n\nxx", 0), Some(16));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\nA: b\r\n\r", 0), None);
        assert_eq!(find_blank_line(b"\r\nGET / HTTP/1.1\r\n\r\n", 2), Some(20));
    }

    #[test]
    fn scan_limits_the_window() {
        let head = b"GET / HTTP/1.1\r\n\r\n";
        let parse = |then| {
            Ok(Scan::Parse {
                start: 0,
                end: 18,
                then,
            })
        };
        assert_eq!(scan(head, 18, true), parse(IfPartial::Malformed));
        assert_eq!(
            scan(head, 17, true),
            Ok(Scan::Parse {
                start: 0,
                end: 17,
                then: IfPartial::TooLarge
            })
        );
        let line = Ok(Scan::Parse {
            start: 0,
            end: 16,
            then: IfPartial::Wait,
        });
        assert_eq!(scan(&head[..16], 18, true), line);
        assert_eq!(scan(&head[..15], 18, true), Ok(Scan::Partial));
    }

    #[test]
    fn scan_tolerates_one_leading_crlf() {
        assert_eq!(scan(b"\r", 100, true), Ok(Scan::Partial));
        assert_eq!(scan(b"\r\nG", 100, true), Ok(Scan::Partial));
        assert_eq!(
            scan(b"\r\n\r", 100, true),
            Err(HandshakeError::LeadingEmptyLines)
        );
        assert_eq!(
            scan(b"\n", 100, true),
            Err(HandshakeError::LeadingEmptyLines)
        );
        assert_eq!(
            scan(b"\r\n", 100, false),
            Err(HandshakeError::LeadingEmptyLines)
        );
    }

    #[test]
    fn splits_lists() {
        assert_eq!(
            split_list(" a ,b,, \tc ").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(split_list("").count(), 0);
    }

    #[test]
    fn splits_quoted_lists() {
        let v = r#"x; a="1,2", y;b="\",", ,z"#;
        assert_eq!(
            split_quoted_list(v).collect::<Vec<_>>(),
            [r#"x; a="1,2""#, r#"y;b="\",""#, "z"]
        );
    }
}

//! Messages: what a [`Connection`](crate::Connection) delivers and sends.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::close::CloseFrame;
use crate::utf8;

/// A complete WebSocket message or control frame.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Message {
    /// A text message: its payload is valid UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A Ping with its payload (at most 125 bytes).
    Ping(Bytes),
    /// A Pong with its payload (at most 125 bytes).
    Pong(Bytes),
    /// A Close, with a code and reason or with an empty payload.
    Close(Option<CloseFrame>),
}

impl Message {
    /// Returns the payload bytes of a text or binary message, or of a ping or pong.
    ///
    /// A Close gives an empty slice.
    pub fn payload(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(data) | Self::Ping(data) | Self::Pong(data) => data,
            Self::Close(_) => &[],
        }
    }

    /// Returns true for text and binary messages.
    pub const fn is_data(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Binary(_))
    }
}

impl From<&'static str> for Message {
    fn from(text: &'static str) -> Self {
        Self::Text(Utf8Bytes::from_static(text))
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::Text(text.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Self::Binary(data.into())
    }
}

/// [`Bytes`] that are guaranteed to be valid UTF-8.
///
/// Received text messages come out of the receive buffer as `Utf8Bytes` without a copy and
/// without being validated twice: the connection's incremental check is the proof.
#[derive(Clone, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps a static string.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// Wraps `bytes`.
    ///
    /// # Errors
    ///
    /// Gives the bytes back if they are not valid UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, Bytes> {
        if utf8::is_valid(&bytes) {
            Ok(Self(bytes))
        } else {
            Err(bytes)
        }
    }

    /// Wraps bytes the caller has validated.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(utf8::is_valid(&bytes));
        Self(bytes)
    }

    /// Returns the text.
    #[expect(
        unsafe_code,
        reason = "validation happened when the value was built; repeating it on every access \
                  would cost a second full pass over each text message (docs/decisions/0001)"
    )]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor either validates the bytes (`try_from_bytes`,
        // `from_validated`'s callers) or starts from a `str`/`String`, and the bytes are
        // immutable afterwards.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// Returns the UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Returns the underlying [`Bytes`].
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&'static str> for Utf8Bytes {
    fn from(text: &'static str) -> Self {
        Self::from_static(text)
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Bytes;

    fn try_from(bytes: Bytes) -> Result<Self, Bytes> {
        Self::try_from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::Utf8Bytes;

    #[test]
    fn accepts_only_utf8() {
        let text = Utf8Bytes::try_from_bytes(Bytes::from_static("κόσμε".as_bytes())).unwrap();
        assert_eq!(text.as_str(), "κόσμε");
        assert_eq!(&*text, "κόσμε");
        let bad = Bytes::from_static(b"\xce\xba\xe1");
        assert_eq!(Utf8Bytes::try_from_bytes(bad.clone()), Err(bad));
    }
}

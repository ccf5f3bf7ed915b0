//! Configuration of a [`Connection`](crate::Connection) and its limits.

use std::num::NonZeroUsize;

/// Which end of the connection this codec plays.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Role {
    /// The client: it masks every frame it sends and rejects masked frames.
    Client,
    /// The server: it requires masked frames and never masks its own.
    Server,
}

/// Limits and behaviour of a [`Connection`](crate::Connection).
///
/// | field | default |
/// | --- | --- |
/// | [`max_frame_size`](Self::max_frame_size) | 16 MiB |
/// | [`max_message_size`](Self::max_message_size) | 64 MiB |
/// | [`auto_pong`](Self::auto_pong) | `true` |
/// | [`accept_unmasked`](Self::accept_unmasked) | `false` |
/// | [`fragment_size`](Self::fragment_size) | `None` (one frame per message) |
///
/// The struct is `#[non_exhaustive]`: start from [`Config::default`] and use the setters.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The largest payload of a single received frame, in bytes. A larger frame is refused
    /// from its header, before any of its payload is buffered, and closes with 1009.
    pub max_frame_size: usize,
    /// The largest received message (the sum of its fragments), in bytes. A larger message is
    /// refused as soon as a frame header announces the excess, and closes with 1009.
    pub max_message_size: usize,
    /// Answer every Ping with a Pong automatically (RFC 6455 §5.5.2).
    pub auto_pong: bool,
    /// Server role only: accept unmasked client frames instead of failing with 1002. Off by
    /// default, as RFC 6455 §5.1 requires; for tests and trusted peers only.
    pub accept_unmasked: bool,
    /// Split outbound data messages into frames, LAppS style: with size `s` a message of `L`
    /// bytes is one frame if `L < 2s`; otherwise it is `n = L / s` frames, `n - 1` of `s`
    /// bytes and a last one with the remaining `s..2s` bytes.
    pub fragment_size: Option<NonZeroUsize>,
}

impl Config {
    /// Sets [`max_frame_size`](Self::max_frame_size).
    #[must_use]
    pub const fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`max_message_size`](Self::max_message_size).
    #[must_use]
    pub const fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`auto_pong`](Self::auto_pong).
    #[must_use]
    pub const fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Sets [`accept_unmasked`](Self::accept_unmasked).
    #[must_use]
    pub const fn accept_unmasked(mut self, on: bool) -> Self {
        self.accept_unmasked = on;
        self
    }

    /// Sets [`fragment_size`](Self::fragment_size).
    #[must_use]
    pub const fn fragment_size(mut self, size: Option<NonZeroUsize>) -> Self {
        self.fragment_size = size;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            auto_pong: true,
            accept_unmasked: false,
            fragment_size: None,
        }
    }
}

/// The default [`Config::max_frame_size`]: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
/// The default [`Config::max_message_size`]: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
/// The frame size LAppS uses for `auto_fragment`: 1392 bytes.
pub const LAPPS_FRAGMENT_SIZE: NonZeroUsize = NonZeroUsize::MIN.saturating_add(1391);

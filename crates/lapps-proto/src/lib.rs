//! A sans-IO RFC 6455 codec.
#![forbid(unsafe_code)]

pub mod handshake;

/// The outcome of an incremental parse: either a complete value or a request for more bytes.
///
/// A parse that returns [`Status::Partial`] has consumed nothing; call it again with the same
/// bytes plus whatever arrived since.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Status<T> {
    /// The value is complete.
    Complete(T),
    /// More bytes are needed.
    Partial,
}

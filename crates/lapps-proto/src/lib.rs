//! A sans-IO RFC 6455 codec.
#![deny(unsafe_code)]

pub mod close;
pub mod config;
pub mod connection;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod header;
pub mod mask;
pub mod message;
pub mod opcode;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Role};
pub use connection::{Connection, Event, MaskSource, State};
pub use error::{ProtocolError, SendError};
pub use message::{Message, Utf8Bytes};
pub use opcode::OpCode;

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

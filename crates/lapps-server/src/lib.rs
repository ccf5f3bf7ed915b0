//! The lapps WebSocket application server, as an embeddable library.
//!
//! This crate is a skeleton. It gets its substance in issue 3: workers, routing, TLS, limits,
//! configuration and the embedding API. Today it re-exports the codec it is built on.

#![forbid(unsafe_code)]

pub use lapps_proto as proto;

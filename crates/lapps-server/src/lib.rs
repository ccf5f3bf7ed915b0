//! The lapps WebSocket application server, as an embeddable library.
//!
//! This crate is being built (issue 3): workers, routing, TLS, limits, configuration and the
//! embedding API.

#![forbid(unsafe_code)]

pub mod acl;
pub mod config;

pub use lapps_proto as proto;

//! The lapps WebSocket application server, as an embeddable library.
//!
//! This crate is being built (issue 3): workers, routing, TLS, limits, configuration and the
//! embedding API.

#![forbid(unsafe_code)]

pub mod acl;
mod builder;
pub mod config;
mod conn;
pub mod echo;
mod error;
mod instance;
mod metrics;
mod registry;
mod runtime;
mod server;
pub mod service;
mod transport;
mod upgrade;
mod worker;

pub use builder::{DEFAULT_MAX_MESSAGE_SIZE, ServerBuilder, ServiceConfig, listen_address};
pub use error::Error;
pub use instance::InstanceContext;
pub use metrics::{Initiator, Metrics, ServiceMetrics};
pub use runtime::ServiceState;
pub use server::{Server, ShutdownHandle};

pub use lapps_proto as proto;

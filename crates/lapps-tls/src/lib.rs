//! TLS for lapps: certificate loading, the version policy, and rustls configurations.
//!
//! This step brings PEM loading with errors that name the file ([`pem`], [`TlsError`]) and
//! the `tls_server_version` / `tls_client_version` policy ([`TlsVersions`]). The rustls server
//! and client configurations follow.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

pub use rustls;

pub use crate::error::{FileKind, TlsError};
pub use crate::version::TlsVersions;

mod error;
pub mod pem;
mod version;

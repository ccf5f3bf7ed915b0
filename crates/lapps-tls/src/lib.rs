//! TLS for lapps: loading certificates and building rustls configurations.
//!
//! This crate is a skeleton. It gets its substance with the server (issue 3): PEM loading with
//! errors that name the file, the `tls_server_version` policy, and rustls with the ring provider.

#![forbid(unsafe_code)]

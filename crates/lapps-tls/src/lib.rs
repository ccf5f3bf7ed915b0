//! TLS for lapps: certificate loading, the version policy, and rustls configurations.
//!
//! # When to use this crate
//!
//! `lapps-server` uses it to turn the `tls*` settings of `ws.json` (spec §2.4) into a
//! [`rustls::ServerConfig`] for its listeners (§5.14) and a [`rustls::ClientConfig`] for the
//! `cws` module's outbound `wss://` connections (§3.15). It does no IO beyond reading
//! certificate files: the server drives rustls sans-IO (`read_tls`, `process_new_packets`,
//! `write_tls`) itself, so that corked writes leave as one TLS record per flush. Hence no async
//! runtime and no `tokio-rustls` here. It knows nothing about WebSockets; that is `lapps-proto`.
//!
//! # Example
//!
//! Loading `tls_certificates.cert` and `tls_certificates.key` and applying
//! `tls_server_version`:
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("lapps-tls-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
//! # std::fs::write(dir.join("localhost.crt"), generated.cert.pem())?;
//! # std::fs::write(dir.join("localhost.key"), generated.signing_key.serialize_pem())?;
//! use lapps_tls::{ServerTlsConfig, TlsVersions};
//!
//! let versions = TlsVersions::from_lapps(3)?; // TLS 1.2 or newer
//! let (cert, key) = (dir.join("localhost.crt"), dir.join("localhost.key"));
//! let config = ServerTlsConfig::from_pem_files(&cert, &key)?
//!     .versions(versions)
//!     .build()?;
//! let connection = lapps_tls::rustls::ServerConnection::new(config)?; // one per accepted socket
//! # let _ = connection;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A missing file fails with an error that names it:
//!
//! ```
//! let err = lapps_tls::ServerTlsConfig::from_pem_files("/etc/lapps/no.crt", "/etc/lapps/no.key")
//!     .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "cannot read certificate file /etc/lapps/no.crt: No such file or directory (os error 2)"
//! );
//! ```
//!
//! # Feature flags
//!
//! None. rustls is built with *ring* (never aws-lc-rs, a heavy C build), `std`, `tls12` and
//! `logging` (rustls logs through the `log` crate).
//!
//! # Limits and defaults
//!
//! - Provider: *ring*, passed explicitly to every config builder; the process-wide default
//!   provider is never installed or read.
//! - Versions: [`TlsVersions::Tls12OrNewer`] (setting `3`) by default;
//!   [`TlsVersions::Tls13Only`] is `4`; other settings are errors, not LAppS's fallback.
//! - Server: no client certificates; one chain whatever the SNI; ALPN answered with
//!   `http/1.1` only (see [`ServerTlsConfig`] for a client that offers only other protocols).
//! - Client: system roots plus `tls_certificates.ca`, where failures to load are warnings
//!   returned as data ([`Roots::from_lapps`]); this crate does not log. Hostname checks on by
//!   default; SNI for DNS names only ([`server_name`]).
//! - Keys: PKCS#8, PKCS#1 RSA and SEC1 EC, unencrypted.
//!
//! # Links
//!
//! - [rustls](https://docs.rs/rustls/0.23) and its
//!   [sans-IO connection API](rustls::ConnectionCommon)
//! - The spec: `tls` and `tls_certificates` in §2.4, `cws` TLS in §3.15, server TLS in §5.14

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

pub use rustls;

pub use crate::config::{ClientTlsConfig, ServerTlsConfig, server_name};
pub use crate::error::{FileKind, TlsError};
pub use crate::roots::Roots;
pub use crate::version::TlsVersions;

mod config;
mod error;
pub mod pem;
mod roots;
mod verify;
mod version;

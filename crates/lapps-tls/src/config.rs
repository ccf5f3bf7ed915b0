//! Builders for the rustls server and client configurations lapps uses.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ServerConfig};

use crate::error::TlsError;
use crate::pem;
use crate::roots::Roots;
use crate::verify::ChainOnlyVerifier;
use crate::version::TlsVersions;

/// Builds the server side of `wss://`: a certificate chain, its key and the versions offered.
///
/// The [`ServerConfig`] that [`build`](Self::build) returns (spec §5.14):
///
/// - uses the *ring* provider, given explicitly: the process-wide default provider is neither
///   read nor installed, so lapps can be embedded in a program that installs another;
/// - offers the versions of [`versions`](Self::versions) (default: TLS 1.2 and 1.3) with
///   rustls' default cipher suites;
/// - requests no client certificate;
/// - serves the one chain whatever SNI the client sends;
/// - answers ALPN with `http/1.1` only. A client that offers no ALPN is served without it. A
///   client whose offer does not include `http/1.1` (only `h2`, say) fails the handshake: rustls
///   sends the `no_application_protocol` alert that RFC 7301 §3.2 requires, and the server side
///   reports [`rustls::Error::NoApplicationProtocol`]. Such a client could not have sent an
///   HTTP/1.1 upgrade request over the negotiated protocol anyway;
/// - keeps rustls' defaults for everything else (session resumption through an in-memory cache
///   of 256 sessions, no early data).
///
/// # Examples
///
/// ```
/// # let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// # let (cert_pem, key_pem) = (generated.cert.pem(), generated.signing_key.serialize_pem());
/// use lapps_tls::{ServerTlsConfig, TlsVersions};
///
/// let config = ServerTlsConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?
///     .versions(TlsVersions::Tls13Only)
///     .build()?;
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ServerTlsConfig {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: Option<PathBuf>,
    key_path: Option<PathBuf>,
    versions: TlsVersions,
}

impl ServerTlsConfig {
    /// Starts from a DER certificate chain (leaf first) and its private key.
    pub fn new(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self {
            certs,
            key,
            cert_path: None,
            key_path: None,
            versions: TlsVersions::default(),
        }
    }

    /// Loads the chain from the PEM file `cert` (leaf first) and the key from the PEM file
    /// `key`: `tls_certificates.cert` and `tls_certificates.key`.
    ///
    /// # Errors
    ///
    /// Those of [`pem::load_certificates`] and [`pem::load_private_key`], naming the file.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let mut config = Self::new(pem::load_certificates(cert)?, pem::load_private_key(key)?);
        config.cert_path = Some(cert.to_owned());
        config.key_path = Some(key.to_owned());
        Ok(config)
    }

    /// Parses the chain and the key from PEM data.
    ///
    /// # Errors
    ///
    /// Those of [`pem::parse_certificates`] and [`pem::parse_private_key`].
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        Ok(Self::new(
            pem::parse_certificates(cert)?,
            pem::parse_private_key(key)?,
        ))
    }

    /// Sets the versions offered: `tls_server_version`.
    #[must_use]
    pub fn versions(mut self, versions: TlsVersions) -> Self {
        self.versions = versions;
        self
    }

    /// Builds the rustls configuration.
    ///
    /// # Errors
    ///
    /// [`TlsError::NoCertificates`] if the chain is empty; [`TlsError::UnusableKey`], naming
    /// both files, if the key does not match the leaf certificate, is of a type *ring* cannot
    /// sign with, or the leaf does not parse.
    pub fn build(&self) -> Result<Arc<ServerConfig>, TlsError> {
        if self.certs.is_empty() {
            return Err(TlsError::NoCertificates {
                path: self.cert_path.clone(),
            });
        }
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(self.versions.protocol_versions())
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_single_cert(self.certs.clone(), self.key.clone_key())
            .map_err(|source| TlsError::UnusableKey {
                cert_path: self.cert_path.clone(),
                key_path: self.key_path.clone(),
                source,
            })?;
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(Arc::new(config))
    }
}

impl fmt::Debug for ServerTlsConfig {
    // The key stays out of logs, whatever rustls' own Debug does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTlsConfig")
            .field("certs", &self.certs.len())
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("versions", &self.versions)
            .finish_non_exhaustive()
    }
}

/// Builds the client side of outbound `wss://` connections (the `cws` module).
///
/// The [`ClientConfig`] that [`build`](Self::build) returns (spec §3.15):
///
/// - uses the *ring* provider, given explicitly, as [`ServerTlsConfig`] does;
/// - accepts the versions of [`versions`](Self::versions) (default: TLS 1.2 and 1.3);
/// - verifies the server's chain against [`Roots`] (for `cws`, [`Roots::from_lapps`]: the
///   system roots plus `tls_certificates.ca`);
/// - verifies that the certificate is valid for the server name, unless
///   [`verify_hostname(false)`](Self::verify_hostname);
/// - sends SNI when the [`ServerName`] is a DNS name, never for an IP address (see
///   [`server_name`]);
/// - offers no ALPN and no client certificate.
///
/// # Examples
///
/// ```
/// use lapps_tls::{ClientTlsConfig, Roots, TlsVersions, server_name};
///
/// let (roots, warnings) = Roots::from_lapps("etc/ssl/certs/localhost.ca.pem");
/// # let _ = warnings;
/// let config = ClientTlsConfig::new(roots)
///     .versions(TlsVersions::from_lapps(4)?)
///     .verify_hostname(true)
///     .build()?;
/// let connection = rustls::ClientConnection::new(config, server_name("localhost")?)?;
/// # let _ = connection;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientTlsConfig {
    roots: Roots,
    versions: TlsVersions,
    verify_hostname: bool,
}

impl ClientTlsConfig {
    /// Starts from the certificates to trust, with the default versions and hostname checks on.
    pub fn new(roots: Roots) -> Self {
        Self {
            roots,
            versions: TlsVersions::default(),
            verify_hostname: true,
        }
    }

    /// Sets the versions accepted: `tls_client_version`.
    #[must_use]
    pub fn versions(mut self, versions: TlsVersions) -> Self {
        self.versions = versions;
        self
    }

    /// Sets whether the server certificate must be valid for the server name; the `cws` option
    /// `verify_hostname`, `true` by default.
    ///
    /// With `false` the chain is still verified against the roots (signatures, validity
    /// period, key usage): only the name check is skipped.
    #[must_use]
    pub fn verify_hostname(mut self, verify: bool) -> Self {
        self.verify_hostname = verify;
        self
    }

    /// Builds the rustls configuration.
    ///
    /// An empty [`Roots`] is not an error here: every server certificate then fails with
    /// `UnknownIssuer` at connect time, which `cws` reports through `onerror`.
    ///
    /// # Errors
    ///
    /// [`TlsError::Rustls`] if rustls rejects the versions; with the *ring* provider and the
    /// `tls12` feature that this crate enables, it does not happen.
    pub fn build(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let provider = provider();
        let algorithms = provider.signature_verification_algorithms;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(self.versions.protocol_versions())
            .map_err(TlsError::Rustls)?;
        let roots = self.roots.to_arc();
        let config = if self.verify_hostname {
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier::new(
                    roots, algorithms,
                )))
                .with_no_client_auth()
        };
        Ok(Arc::new(config))
    }
}

/// Returns the rustls server name for a URI host: an IP address literal or a DNS name.
///
/// An IPv4 or IPv6 literal becomes [`ServerName::IpAddress`], for which rustls sends no SNI
/// (RFC 6066 §3 forbids literal addresses there) and checks the certificate's IP address
/// entries. An IPv6 literal may keep its URI brackets (`[::1]`).
///
/// # Errors
///
/// [`TlsError::InvalidServerName`] if `host` is neither.
///
/// # Examples
///
/// ```
/// use lapps_tls::server_name;
/// use rustls::pki_types::ServerName;
///
/// assert!(matches!(server_name("localhost")?, ServerName::DnsName(_)));
/// assert!(matches!(server_name("[::1]")?, ServerName::IpAddress(_)));
/// assert!(server_name("not a host").is_err());
/// # Ok::<(), lapps_tls::TlsError>(())
/// ```
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(ServerName::from)
            .map_err(|_| TlsError::InvalidServerName(host.to_owned()));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(host)
        .map(|name| name.to_owned())
        .map_err(|_| TlsError::InvalidServerName(host.to_owned()))
}

/// The one crypto provider lapps uses. rustls 0.24 moves providers into their own crates; this
/// is the line that changes then.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The ALPN protocol ID of HTTP/1.1 (RFC 7301 §6), over which the WebSocket upgrade runs.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_become_ip_addresses() {
        for (host, ip) in [
            ("127.0.0.1", "127.0.0.1"),
            ("::1", "::1"),
            ("[::1]", "::1"),
            ("[2001:db8::1]", "2001:db8::1"),
        ] {
            let expected = ServerName::from(ip.parse::<IpAddr>().unwrap());
            assert_eq!(server_name(host).unwrap(), expected, "{host}");
        }
    }

    #[test]
    fn dns_names_stay_dns_names() {
        let name = server_name("localhost").unwrap();
        assert!(matches!(&name, ServerName::DnsName(dns) if dns.as_ref() == "localhost"));
        let name = server_name("Echo.Example.COM").unwrap();
        assert!(matches!(&name, ServerName::DnsName(dns) if dns.as_ref() == "Echo.Example.COM"));
    }

    #[test]
    fn rejects_what_is_neither() {
        for host in [
            "",
            "a b",
            "[localhost]",
            "[127.0.0.1]",
            "[::1",
            "exa_mple..com",
        ] {
            assert!(
                matches!(server_name(host), Err(TlsError::InvalidServerName(h)) if h == host),
                "{host:?}"
            );
        }
    }

    #[test]
    fn client_default_checks_hostnames_with_both_versions() {
        let config = ClientTlsConfig::new(Roots::empty());
        assert!(config.verify_hostname);
        assert_eq!(config.versions, TlsVersions::Tls12OrNewer);
    }
}

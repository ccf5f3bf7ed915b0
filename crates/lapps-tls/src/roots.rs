//! Trust anchors for outbound `wss://` connections: the system store and extra CA files.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

use crate::error::{FileKind, TlsError};
use crate::pem;

/// The certificates a client trusts to sign server certificates.
///
/// For `cws`, lapps trusts the operating system's roots plus the CA certificates of
/// `tls_certificates.ca` ([`Roots::from_lapps`]). Loading them never fails: what cannot be
/// loaded is returned as a list of warnings for the caller to log, because the spec makes a
/// missing or unreadable CA file a warning, never fatal.
///
/// # Examples
///
/// ```
/// use lapps_tls::{ClientTlsConfig, Roots};
///
/// let (roots, warnings) = Roots::from_lapps("/nonexistent/localhost.ca.pem");
/// for warning in &warnings {
///     eprintln!("warning: {warning}"); // the server logs these with tracing::warn!
/// }
/// assert!(warnings.iter().any(|w| w.to_string().contains("/nonexistent/localhost.ca.pem")));
/// let config = ClientTlsConfig::new(roots).build()?;
/// # let _ = config;
/// # Ok::<(), lapps_tls::TlsError>(())
/// ```
#[derive(Clone)]
pub struct Roots {
    store: RootCertStore,
}

impl Roots {
    /// Returns a set that trusts nothing.
    pub fn empty() -> Self {
        Self {
            store: RootCertStore::empty(),
        }
    }

    /// Returns the system roots plus the CA certificates in `ca_file`, the `cws` rule of the
    /// spec (§3.15), with everything that could not be loaded as warnings.
    ///
    /// The warnings are [`TlsError`]s: a missing or unreadable `ca_file` is
    /// [`TlsError::Io`] with kind [`FileKind::CaCertificates`]; for the others see
    /// [`add_pem_file`](Self::add_pem_file) and [`add_system`](Self::add_system).
    #[must_use = "the warnings should be logged"]
    pub fn from_lapps(ca_file: impl AsRef<Path>) -> (Self, Vec<TlsError>) {
        let mut roots = Self::empty();
        let mut warnings = roots.add_system();
        if let Err(warning) = roots.add_pem_file_as(FileKind::CaCertificates, ca_file.as_ref()) {
            warnings.push(warning);
        }
        (roots, warnings)
    }

    /// Adds the operating system's trust store (through `rustls-native-certs`, which honours
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR`) and returns what could not be loaded.
    ///
    /// A file of the store that cannot be read is a [`TlsError::Io`] with kind
    /// [`FileKind::SystemRoots`]; any other platform failure is [`TlsError::SystemRoots`].
    /// Individual system certificates that webpki cannot parse are skipped silently, as
    /// `rustls-native-certs` recommends: stores commonly carry a few.
    #[must_use = "the warnings should be logged"]
    pub fn add_system(&mut self) -> Vec<TlsError> {
        let loaded = rustls_native_certs::load_native_certs();
        let (_added, _skipped) = self.store.add_parsable_certificates(loaded.certs);
        loaded.errors.into_iter().map(system_error).collect()
    }

    /// Adds every certificate of a PEM file and returns how many were added.
    ///
    /// The file is taken whole or not at all: if one certificate is unusable, none is added.
    ///
    /// # Errors
    ///
    /// [`TlsError::Io`] (kind [`FileKind::CaCertificates`]), [`TlsError::InvalidPem`],
    /// [`TlsError::NoCertificates`] or [`TlsError::InvalidCertificate`], each naming `path`.
    pub fn add_pem_file(&mut self, path: impl AsRef<Path>) -> Result<usize, TlsError> {
        self.add_pem_file_as(FileKind::CaCertificates, path.as_ref())
    }

    /// Adds every certificate of PEM data and returns how many were added; all or nothing, as
    /// for [`add_pem_file`](Self::add_pem_file).
    ///
    /// # Errors
    ///
    /// [`TlsError::InvalidPem`], [`TlsError::NoCertificates`] or
    /// [`TlsError::InvalidCertificate`], with `path` `None`.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, TlsError> {
        let certs = pem::parse_certificates(pem)?;
        self.add_all(certs, None)
    }

    /// Returns the number of trust anchors.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Returns `true` if nothing is trusted.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Returns the anchors as a rustls store.
    pub fn into_root_cert_store(self) -> RootCertStore {
        self.store
    }

    pub(crate) fn to_arc(&self) -> Arc<RootCertStore> {
        Arc::new(self.store.clone())
    }

    fn add_pem_file_as(&mut self, kind: FileKind, path: &Path) -> Result<usize, TlsError> {
        let certs = pem::load_certificates_as(kind, path)?;
        self.add_all(certs, Some(path))
    }

    /// Adds `certs` only if every one of them is a usable trust anchor.
    fn add_all(
        &mut self,
        certs: Vec<CertificateDer<'static>>,
        path: Option<&Path>,
    ) -> Result<usize, TlsError> {
        let mut staged = RootCertStore::empty();
        for (index, cert) in certs.into_iter().enumerate() {
            staged
                .add(cert)
                .map_err(|source| TlsError::InvalidCertificate {
                    path: path.map(Path::to_owned),
                    position: index + 1,
                    source,
                })?;
        }
        let added = staged.len();
        self.store.roots.extend(staged.roots);
        Ok(added)
    }
}

impl fmt::Debug for Roots {
    // A system store holds ~150 anchors; their subjects would flood a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Roots")
            .field("len", &self.store.len())
            .finish()
    }
}

impl From<RootCertStore> for Roots {
    fn from(store: RootCertStore) -> Self {
        Self { store }
    }
}

fn system_error(error: rustls_native_certs::Error) -> TlsError {
    match error {
        rustls_native_certs::Error {
            kind: rustls_native_certs::ErrorKind::Io { inner, path },
            ..
        } => TlsError::Io {
            kind: FileKind::SystemRoots,
            path,
            source: inner,
        },
        error => TlsError::SystemRoots {
            source: Box::new(error),
        },
    }
}

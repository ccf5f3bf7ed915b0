//! Errors: unreadable or malformed files, bad settings, and what rustls rejects.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem;

/// An error while loading TLS material or building a rustls configuration.
///
/// Wherever a file is involved the variant carries its path, and the Display text names it, so
/// that one log line tells an operator which `tls_certificates.*` entry to fix. Data given in
/// memory (the `from_pem` constructors) has no path: those fields are `None`.
///
/// The Display text includes the underlying cause (for example the OS error), so a single line is
/// complete; [`Error::source`](std::error::Error::source) returns the same cause for reporters
/// that walk the chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate in a CA file or CA data could not be made into a trust anchor.
    #[error(
        "certificate {position}{} is not a usable trust anchor: {source}",
        in_path(.path.as_deref())
    )]
    InvalidCertificate {
        /// The CA file, or `None` for data given in memory.
        path: Option<PathBuf>,
        /// The certificate's position in the file, counting from 1.
        position: usize,
        /// Why rustls rejected it.
        source: rustls::Error,
    },
    /// A file or buffer is not well-formed PEM (a section without its end line, bad base64).
    #[error("invalid PEM{}: {source}", in_path(.path.as_deref()))]
    InvalidPem {
        /// The file, or `None` for data given in memory.
        path: Option<PathBuf>,
        /// The PEM decoder's error.
        source: pem::Error,
    },
    /// A host name is neither a valid DNS name nor an IP address literal.
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
    /// A `tls_server_version` or `tls_client_version` setting is not 3 or 4.
    ///
    /// lapps rejects it at startup; LAppS silently fell back to TLS 1.3 only.
    #[error(
        "invalid TLS version setting {0} (expected 3 for TLS 1.2 or newer, or 4 for TLS 1.3 only)"
    )]
    InvalidVersion(i64),
    /// A file is missing or unreadable.
    #[error("cannot read {kind} {}: {source}", path.display())]
    Io {
        /// What the file was expected to hold.
        kind: FileKind,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A certificate file or buffer holds no `CERTIFICATE` section.
    #[error("no certificates found{}", in_path(.path.as_deref()))]
    NoCertificates {
        /// The file, or `None` for data given in memory.
        path: Option<PathBuf>,
    },
    /// A key file or buffer holds no PKCS#8, PKCS#1 RSA or SEC1 EC private key.
    #[error("no private key found{}", in_path(.path.as_deref()))]
    NoPrivateKey {
        /// The file, or `None` for data given in memory.
        path: Option<PathBuf>,
    },
    /// rustls rejected a configuration that involves no file.
    #[error("rustls rejected the configuration: {0}")]
    Rustls(#[source] rustls::Error),
    /// The operating system's trust store could not be read (other than a file error, which is
    /// reported as [`TlsError::Io`] with kind [`FileKind::SystemRoots`]).
    #[error("cannot load system root certificates: {source}")]
    SystemRoots {
        /// The error reported by the platform loader.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The private key and the certificate chain cannot serve together: the key does not match
    /// the leaf certificate, the key type is unsupported, or the leaf does not parse.
    #[error(
        "cannot use private key{} with certificate{}: {source}",
        at_path(.key_path.as_deref()),
        at_path(.cert_path.as_deref())
    )]
    UnusableKey {
        /// The certificate file, or `None` for data given in memory.
        cert_path: Option<PathBuf>,
        /// The key file, or `None` for data given in memory.
        key_path: Option<PathBuf>,
        /// Why rustls rejected the pair.
        source: rustls::Error,
    },
}

/// What a file read by this crate is expected to hold; it names the file in [`TlsError::Io`].
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum FileKind {
    /// Extra CA certificates that clients trust (`tls_certificates.ca`).
    CaCertificates,
    /// A server certificate chain (`tls_certificates.cert`).
    Certificate,
    /// A server private key (`tls_certificates.key`).
    PrivateKey,
    /// A file of the operating system's trust store.
    SystemRoots,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CaCertificates => "CA file",
            Self::Certificate => "certificate file",
            Self::PrivateKey => "private key file",
            Self::SystemRoots => "system root certificate file",
        })
    }
}

/// Formats `" in <path>"`, or nothing for data given in memory.
fn in_path(path: Option<&Path>) -> PathSuffix<'_> {
    PathSuffix(" in ", path)
}

/// Formats `" <path>"`, or nothing for data given in memory.
fn at_path(path: Option<&Path>) -> PathSuffix<'_> {
    PathSuffix(" ", path)
}

struct PathSuffix<'a>(&'static str, Option<&'a Path>);

impl fmt::Display for PathSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(path) => write!(f, "{}{}", self.0, path.display()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<TlsError>();
    }

    #[test]
    fn io_error_names_the_kind_and_the_file() {
        let err = TlsError::Io {
            kind: FileKind::Certificate,
            path: PathBuf::from("/x/y.pem"),
            source: io::Error::from_raw_os_error(2),
        };
        assert_eq!(
            err.to_string(),
            "cannot read certificate file /x/y.pem: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn in_memory_errors_name_no_file() {
        assert_eq!(
            TlsError::NoCertificates { path: None }.to_string(),
            "no certificates found"
        );
        assert_eq!(
            TlsError::NoPrivateKey {
                path: Some(PathBuf::from("/k.pem"))
            }
            .to_string(),
            "no private key found in /k.pem"
        );
    }

    #[test]
    fn unusable_key_names_both_files() {
        let err = TlsError::UnusableKey {
            cert_path: Some(PathBuf::from("/c.pem")),
            key_path: Some(PathBuf::from("/k.pem")),
            source: rustls::Error::General("boom".to_owned()),
        };
        assert_eq!(
            err.to_string(),
            "cannot use private key /k.pem with certificate /c.pem: unexpected error: boom"
        );
    }

    #[test]
    fn invalid_version_shows_the_value() {
        assert_eq!(
            TlsError::InvalidVersion(-1).to_string(),
            "invalid TLS version setting -1 \
             (expected 3 for TLS 1.2 or newer, or 4 for TLS 1.3 only)"
        );
    }
}

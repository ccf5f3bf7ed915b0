//! PEM loading: certificate chains and private keys, from files or from bytes.
//!
//! Parsing is `rustls-pki-types`' [`PemObject`]. Text outside PEM sections and sections of
//! other kinds are skipped, so a file may hold comments, or a certificate and its key together.
//! Errors from the `load_*` functions carry the file's path.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{FileKind, TlsError};

/// Loads a certificate chain from a PEM file: every `CERTIFICATE` section, in file order.
///
/// For a server chain the leaf comes first, then its intermediates: the order of
/// `tls_certificates.cert`, and the order TLS sends them in.
///
/// # Errors
///
/// [`TlsError::Io`] if the file cannot be read, [`TlsError::InvalidPem`] if a section is
/// malformed, [`TlsError::NoCertificates`] if it holds no certificate; each names `path`.
pub fn load_certificates(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    load_certificates_as(FileKind::Certificate, path.as_ref())
}

/// Loads the first private key from a PEM file: PKCS#8 (`PRIVATE KEY`), PKCS#1 RSA
/// (`RSA PRIVATE KEY`) or SEC1 EC (`EC PRIVATE KEY`).
///
/// Encrypted keys (`ENCRYPTED PRIVATE KEY`) are not supported and are skipped like any other
/// section of an unknown kind.
///
/// # Errors
///
/// [`TlsError::Io`] if the file cannot be read, [`TlsError::InvalidPem`] if a section is
/// malformed, [`TlsError::NoPrivateKey`] if it holds no key; each names `path`.
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let path = path.as_ref();
    let bytes = read(FileKind::PrivateKey, path)?;
    private_key_from(&bytes, Some(path))
}

/// Parses every `CERTIFICATE` section of PEM data, in order.
///
/// # Errors
///
/// [`TlsError::InvalidPem`] if a section is malformed, [`TlsError::NoCertificates`] if there
/// is none; their `path` is `None`.
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certificates_from(pem, None)
}

/// Parses the first private key of PEM data (PKCS#8, PKCS#1 RSA or SEC1 EC).
///
/// # Errors
///
/// [`TlsError::InvalidPem`] if a section is malformed, [`TlsError::NoPrivateKey`] if there
/// is no key; their `path` is `None`.
pub fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    private_key_from(pem, None)
}

/// [`load_certificates`], with the kind of file named in an I/O error.
pub(crate) fn load_certificates_as(
    kind: FileKind,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(kind, path)?;
    certificates_from(&bytes, Some(path))
}

fn read(kind: FileKind, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        kind,
        path: path.to_owned(),
        source,
    })
}

fn certificates_from(
    pem: &[u8],
    path: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| invalid_pem(path, source))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates {
            path: path.map(Path::to_owned),
        });
    }
    Ok(certs)
}

fn private_key_from(pem: &[u8], path: Option<&Path>) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.map(Path::to_owned),
        },
        source => invalid_pem(path, source),
    })
}

fn invalid_pem(path: Option<&Path>, source: pem::Error) -> TlsError {
    TlsError::InvalidPem {
        path: path.map(PathBuf::from),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A syntactically valid PEM section; the DER inside is not checked at this layer.
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nBAUG\n-----END PRIVATE KEY-----\n";

    #[test]
    fn keeps_certificates_in_file_order_and_skips_other_sections() {
        let pem = format!(
            "comment\n{KEY}{CERT}-----BEGIN CERTIFICATE-----\nBwgJ\n-----END CERTIFICATE-----\n"
        );
        let certs = parse_certificates(pem.as_bytes()).unwrap();
        let ders: Vec<&[u8]> = certs.iter().map(AsRef::as_ref).collect();
        assert_eq!(ders, [&[1u8, 2, 3][..], &[7, 8, 9][..]]);
    }

    #[test]
    fn finds_the_key_after_a_certificate() {
        let pem = format!("{CERT}{KEY}");
        let key = parse_private_key(pem.as_bytes()).unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        assert_eq!(key.secret_der(), [4, 5, 6]);
    }

    #[test]
    fn reports_missing_items() {
        assert!(matches!(
            parse_certificates(KEY.as_bytes()),
            Err(TlsError::NoCertificates { path: None })
        ));
        assert!(matches!(
            parse_private_key(CERT.as_bytes()),
            Err(TlsError::NoPrivateKey { path: None })
        ));
    }

    #[test]
    fn reports_an_unterminated_section() {
        let err = parse_certificates(b"-----BEGIN CERTIFICATE-----\nAQID\n").unwrap_err();
        assert!(matches!(
            err,
            TlsError::InvalidPem {
                path: None,
                source: pem::Error::MissingSectionEnd { .. }
            }
        ));
    }
}

//! Building the server configuration: key formats, ALPN, provider, and rejected inputs.

mod support;

use lapps_tls::pem::{load_certificates, parse_private_key};
use lapps_tls::{ServerTlsConfig, TlsError, TlsVersions};
use rustls::crypto::{CryptoProvider, ring};
use rustls::{Error, InconsistentKeys};

use support::{Ca, TestResult, fixture, temp_dir, write};

#[test]
fn builds_from_pem_files_with_each_key_format() -> TestResult {
    let dir = temp_dir("builds_with_each_key_format");
    let ca = Ca::new("test CA");
    let generated = rcgen::KeyPair::generate()?;
    let ed25519 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    let cases = [
        // (name, PKCS#8 form given to rcgen, key file served)
        ("ecdsa-pkcs8", generated.serialize_pem(), None),
        ("ed25519-pkcs8", ed25519.serialize_pem(), None),
        (
            "rsa-pkcs1",
            std::fs::read_to_string(fixture("rsa-pkcs8.key"))?,
            Some(fixture("rsa-pkcs1.key")),
        ),
        (
            "ec-sec1",
            std::fs::read_to_string(fixture("ec-pkcs8.key"))?,
            Some(fixture("ec-sec1.key")),
        ),
    ];
    for (name, pkcs8, key_file) in cases {
        let leaf = ca.leaf_with_key(&["localhost"], &rcgen::KeyPair::from_pem(&pkcs8)?);
        let cert_path = write(&dir, &format!("{name}.crt"), &leaf.chain);
        let key_path = key_file.unwrap_or_else(|| write(&dir, &format!("{name}.key"), &pkcs8));

        let config = ServerTlsConfig::from_pem_files(&cert_path, &key_path)?.build();

        assert!(config.is_ok(), "{name}: {config:?}");
    }
    Ok(())
}

#[test]
fn answers_alpn_with_http11_only() -> TestResult {
    let leaf = Ca::new("test CA").leaf(&["localhost"]);
    for versions in [TlsVersions::Tls12OrNewer, TlsVersions::Tls13Only] {
        let config = ServerTlsConfig::from_pem(leaf.cert.as_bytes(), leaf.key.as_bytes())?
            .versions(versions)
            .build()?;
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }
    Ok(())
}

#[test]
fn uses_ring_without_installing_a_process_default() -> TestResult {
    let leaf = Ca::new("test CA").leaf(&["localhost"]);

    let config = ServerTlsConfig::from_pem(leaf.cert.as_bytes(), leaf.key.as_bytes())?.build()?;

    let suites = |p: &CryptoProvider| {
        p.cipher_suites
            .iter()
            .map(rustls::SupportedCipherSuite::suite)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        suites(config.crypto_provider()),
        suites(&ring::default_provider())
    );
    assert!(CryptoProvider::get_default().is_none());
    Ok(())
}

#[test]
fn mismatched_key_names_both_files() -> TestResult {
    let dir = temp_dir("mismatched_key_names_both_files");
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let other = ca.leaf(&["localhost"]);
    let cert_path = write(&dir, "leaf.crt", &leaf.cert);
    let key_path = write(&dir, "other.key", &other.key);

    let err = ServerTlsConfig::from_pem_files(&cert_path, &key_path)?
        .build()
        .unwrap_err();

    assert!(
        matches!(&err, TlsError::UnusableKey {
            cert_path: Some(c),
            key_path: Some(k),
            source: Error::InconsistentKeys(InconsistentKeys::KeyMismatch),
        } if *c == cert_path && *k == key_path),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "cannot use private key {} with certificate {}: \
             keys may not be consistent: KeyMismatch",
            key_path.display(),
            cert_path.display()
        )
    );
    Ok(())
}

#[test]
fn mismatched_key_from_memory_is_rejected() -> TestResult {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let other = ca.leaf(&["localhost"]);

    let err = ServerTlsConfig::from_pem(leaf.cert.as_bytes(), other.key.as_bytes())?
        .build()
        .unwrap_err();

    assert!(
        matches!(
            err,
            TlsError::UnusableKey {
                cert_path: None,
                key_path: None,
                source: Error::InconsistentKeys(InconsistentKeys::KeyMismatch),
            }
        ),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn a_certificate_that_does_not_parse_is_rejected() -> TestResult {
    let leaf = Ca::new("test CA").leaf(&["localhost"]);
    let bogus = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";

    let err = ServerTlsConfig::from_pem(bogus.as_bytes(), leaf.key.as_bytes())?
        .build()
        .unwrap_err();

    assert!(
        matches!(
            err,
            TlsError::UnusableKey {
                source: Error::InvalidCertificate(rustls::CertificateError::BadEncoding),
                ..
            }
        ),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn an_empty_chain_is_rejected() -> TestResult {
    let leaf = Ca::new("test CA").leaf(&["localhost"]);
    let key = parse_private_key(leaf.key.as_bytes())?;

    let err = ServerTlsConfig::new(Vec::new(), key).build().unwrap_err();

    assert!(
        matches!(err, TlsError::NoCertificates { path: None }),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn loading_errors_surface_from_from_pem_files() -> TestResult {
    let dir = temp_dir("loading_errors_surface");
    let leaf = Ca::new("test CA").leaf(&["localhost"]);
    let cert_path = write(&dir, "leaf.crt", &leaf.cert);
    let absent = dir.join("absent.key");

    let err = ServerTlsConfig::from_pem_files(&cert_path, &absent).unwrap_err();
    assert!(
        matches!(&err, TlsError::Io { path, .. } if *path == absent),
        "{err:?}"
    );

    // A chain file passed as the key: no key in it.
    let err = ServerTlsConfig::from_pem_files(&cert_path, &cert_path).unwrap_err();
    assert!(
        matches!(&err, TlsError::NoPrivateKey { path: Some(p) } if *p == cert_path),
        "{err:?}"
    );
    assert_eq!(load_certificates(&cert_path)?.len(), 1);
    Ok(())
}

#[test]
fn version_settings_three_and_four_only() {
    assert_eq!(
        TlsVersions::from_lapps(3).unwrap(),
        TlsVersions::Tls12OrNewer
    );
    assert_eq!(TlsVersions::from_lapps(4).unwrap(), TlsVersions::Tls13Only);
    assert_eq!(TlsVersions::default(), TlsVersions::Tls12OrNewer);
    for setting in [0, 1, 2, 5, -4] {
        let err = TlsVersions::from_lapps(setting).unwrap_err();
        assert!(
            matches!(err, TlsError::InvalidVersion(v) if v == setting),
            "{err:?}"
        );
    }
}

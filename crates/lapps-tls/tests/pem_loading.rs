//! Loading certificate chains and keys from PEM files: formats, order, and errors that name
//! the file.

mod support;

use std::io;

use lapps_tls::pem::{load_certificates, load_private_key};
use lapps_tls::{FileKind, TlsError};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::Error as PemError;

use support::{Ca, TestResult, fixture, temp_dir, write};

#[test]
fn loads_a_chain_leaf_first() -> TestResult {
    let dir = temp_dir("loads_a_chain_leaf_first");
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let path = write(&dir, "chain.pem", &leaf.chain);

    let certs = load_certificates(&path)?;

    let leaf_der = lapps_tls::pem::parse_certificates(leaf.cert.as_bytes())?;
    let ca_der = lapps_tls::pem::parse_certificates(ca.pem().as_bytes())?;
    assert_eq!(certs, [leaf_der[0].clone(), ca_der[0].clone()]);
    Ok(())
}

#[test]
fn loads_a_pkcs8_key() -> TestResult {
    let dir = temp_dir("loads_a_pkcs8_key");
    let key = rcgen::KeyPair::generate()?;
    let path = write(&dir, "key.pem", key.serialize_pem());

    let loaded = load_private_key(&path)?;

    assert!(matches!(loaded, PrivateKeyDer::Pkcs8(_)));
    assert_eq!(loaded.secret_der(), key.serialize_der());
    Ok(())
}

#[test]
fn loads_a_pkcs1_rsa_key() -> TestResult {
    let loaded = load_private_key(fixture("rsa-pkcs1.key"))?;
    assert!(matches!(loaded, PrivateKeyDer::Pkcs1(_)));
    // RSAPrivateKey ::= SEQUENCE { version 0, modulus ... }: a 2048-bit key is ~1.2 KiB of DER.
    assert_eq!(loaded.secret_der()[..2], [0x30, 0x82]);
    Ok(())
}

#[test]
fn loads_a_sec1_ec_key() -> TestResult {
    let loaded = load_private_key(fixture("ec-sec1.key"))?;
    assert!(matches!(loaded, PrivateKeyDer::Sec1(_)));
    // ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING (32 bytes for P-256), ... }
    assert_eq!(loaded.secret_der()[2..7], [0x02, 0x01, 0x01, 0x04, 0x20]);
    Ok(())
}

#[test]
fn takes_the_key_from_a_combined_file() -> TestResult {
    let dir = temp_dir("takes_the_key_from_a_combined_file");
    let leaf = Ca::new("test CA").leaf(&["localhost"]);
    let path = write(&dir, "both.pem", format!("{}{}", leaf.cert, leaf.key));

    assert_eq!(load_certificates(&path)?.len(), 1);
    assert!(matches!(load_private_key(&path)?, PrivateKeyDer::Pkcs8(_)));
    Ok(())
}

#[test]
fn missing_certificate_file_is_an_io_error_naming_it() {
    let path = temp_dir("missing_certificate_file").join("absent.crt");

    let err = load_certificates(&path).unwrap_err();

    assert!(
        matches!(&err, TlsError::Io { kind: FileKind::Certificate, path: p, source }
            if *p == path && source.kind() == io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read certificate file {}: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn missing_key_file_is_an_io_error_naming_it() {
    let path = temp_dir("missing_key_file").join("absent.key");

    let err = load_private_key(&path).unwrap_err();

    assert!(
        matches!(&err, TlsError::Io { kind: FileKind::PrivateKey, path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().starts_with(&format!(
        "cannot read private key file {}: ",
        path.display()
    )));
}

#[test]
fn a_directory_is_an_io_error_naming_it() {
    let dir = temp_dir("a_directory_is_an_io_error");

    let err = load_certificates(&dir).unwrap_err();

    assert!(
        matches!(&err, TlsError::Io { path, .. } if *path == dir),
        "{err:?}"
    );
    assert!(err.to_string().contains(&dir.display().to_string()));
}

#[test]
fn file_without_certificates_is_named() {
    let dir = temp_dir("file_without_certificates");
    let key = rcgen::KeyPair::generate().unwrap();
    for (name, contents) in [
        ("key-only.pem", key.serialize_pem()),
        ("empty.pem", String::new()),
        ("text.pem", "this is not PEM at all\n".to_owned()),
    ] {
        let path = write(&dir, name, contents);

        let err = load_certificates(&path).unwrap_err();

        assert!(
            matches!(&err, TlsError::NoCertificates { path: Some(p) } if *p == path),
            "{name}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("no certificates found in {}", path.display())
        );
    }
}

#[test]
fn file_without_a_key_is_named() {
    let dir = temp_dir("file_without_a_key");
    let leaf = Ca::new("test CA").leaf(&["localhost"]);
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAQID\n-----END ENCRYPTED PRIVATE KEY-----\n";
    for (name, contents) in [
        ("cert-only.pem", leaf.cert.as_str()),
        ("empty.pem", ""),
        ("encrypted.pem", encrypted),
    ] {
        let path = write(&dir, name, contents);

        let err = load_private_key(&path).unwrap_err();

        assert!(
            matches!(&err, TlsError::NoPrivateKey { path: Some(p) } if *p == path),
            "{name}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("no private key found in {}", path.display())
        );
    }
}

#[test]
fn malformed_pem_is_named() {
    let dir = temp_dir("malformed_pem_is_named");
    let leaf = Ca::new("test CA").leaf(&["localhost"]);
    let truncated = &leaf.cert[..leaf.cert.len() / 2];
    let path = write(&dir, "truncated.pem", truncated);

    let err = load_certificates(&path).unwrap_err();

    assert!(
        matches!(&err, TlsError::InvalidPem {
            path: Some(p),
            source: PemError::MissingSectionEnd { .. },
        } if *p == path),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("invalid PEM in {}: ", path.display())),
        "{err}"
    );
}

#[test]
fn bad_base64_is_named() {
    let dir = temp_dir("bad_base64_is_named");
    let path = write(
        &dir,
        "garbage.key",
        "-----BEGIN PRIVATE KEY-----\n!!!! not base64 !!!!\n-----END PRIVATE KEY-----\n",
    );

    let err = load_private_key(&path).unwrap_err();

    assert!(
        matches!(&err, TlsError::InvalidPem { path: Some(p), source: PemError::Base64Decode(_) }
            if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains(&path.display().to_string()));
}

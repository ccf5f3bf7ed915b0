//! Real TLS handshakes in memory between configs built by this crate (and foreign peers
//! limited to TLS 1.2): versions, ALPN, SNI, and certificate verification.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lapps_tls::{ClientTlsConfig, Roots, ServerTlsConfig, TlsError, TlsVersions, server_name};
use rustls::version::TLS12;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, Error, PeerIncompatible, ProtocolVersion,
    ServerConfig,
};

use support::{Ca, Leaf, Pair, Side, TestResult, fixture, foreign_client, foreign_server, write};

/// A CA written to `dir/ca.pem`, and a `localhost` + `127.0.0.1` leaf it signed.
fn pki(dir: &Path) -> (Ca, Leaf, PathBuf) {
    let ca = Ca::new("lapps test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let ca_path = write(dir, "ca.pem", ca.pem());
    (ca, leaf, ca_path)
}

fn server(leaf: &Leaf, versions: TlsVersions) -> Result<Arc<ServerConfig>, TlsError> {
    ServerTlsConfig::from_pem(leaf.chain.as_bytes(), leaf.key.as_bytes())?
        .versions(versions)
        .build()
}

/// A client trusting only the CA file (no system roots, so the tests do not depend on the
/// machine's store).
fn client(
    ca_path: &Path,
    versions: TlsVersions,
    verify_hostname: bool,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = Roots::empty();
    roots.add_pem_file(ca_path)?;
    ClientTlsConfig::new(roots)
        .versions(versions)
        .verify_hostname(verify_hostname)
        .build()
}

fn with_alpn(config: &Arc<ClientConfig>, protocols: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = ClientConfig::clone(config);
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn is_name_error(err: &Error) -> bool {
    matches!(
        err,
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

#[test]
fn defaults_negotiate_tls13_and_carry_data() -> TestResult {
    let dir = support::temp_dir("defaults_negotiate_tls13");
    let (_ca, leaf, ca_path) = pki(&dir);
    let mut pair = Pair::new(
        client(&ca_path, TlsVersions::default(), true)?,
        server(&leaf, TlsVersions::default())?,
        server_name("localhost")?,
    );

    pair.handshake().unwrap();

    assert_eq!(
        pair.client.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        pair.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert_eq!(pair.server.alpn_protocol(), None);
    assert_eq!(pair.server.server_name(), Some("localhost"));
    let request = b"GET /echo HTTP/1.1\r\n\r\n";
    assert_eq!(pair.client_to_server(request), request);
    Ok(())
}

#[test]
fn system_roots_plus_ca_file_trust_the_test_ca() -> TestResult {
    let dir = support::temp_dir("system_roots_plus_ca_file");
    let (_ca, leaf, ca_path) = pki(&dir);
    let (roots, _warnings) = Roots::from_lapps(&ca_path);
    let mut pair = Pair::new(
        ClientTlsConfig::new(roots).build()?,
        server(&leaf, TlsVersions::default())?,
        server_name("localhost")?,
    );

    pair.handshake().unwrap();
    Ok(())
}

#[test]
fn setting_three_serves_a_tls12_only_client_with_tls12() -> TestResult {
    let dir = support::temp_dir("setting_three_serves_tls12");
    let (ca, leaf, _) = pki(&dir);
    let mut pair = Pair::new(
        foreign_client(&[&TLS12], &ca.pem()),
        server(&leaf, TlsVersions::from_lapps(3)?)?,
        server_name("localhost")?,
    );

    pair.handshake().unwrap();

    assert_eq!(
        pair.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    assert_eq!(pair.client_to_server(b"over 1.2"), b"over 1.2");
    Ok(())
}

#[test]
fn setting_four_refuses_a_tls12_only_client() -> TestResult {
    let dir = support::temp_dir("setting_four_refuses_tls12");
    let (ca, leaf, _) = pki(&dir);
    let mut pair = Pair::new(
        foreign_client(&[&TLS12], &ca.pem()),
        server(&leaf, TlsVersions::from_lapps(4)?)?,
        server_name("localhost")?,
    );

    let err = pair.handshake().unwrap_err();

    assert_eq!(
        err,
        (
            Side::Server,
            Error::PeerIncompatible(PeerIncompatible::Tls12NotOfferedOrEnabled)
        )
    );
    Ok(())
}

#[test]
fn client_setting_three_accepts_a_tls12_only_server() -> TestResult {
    let dir = support::temp_dir("client_three_accepts_tls12");
    let (_ca, leaf, ca_path) = pki(&dir);
    let mut pair = Pair::new(
        client(&ca_path, TlsVersions::from_lapps(3)?, true)?,
        foreign_server(&[&TLS12], &leaf),
        server_name("localhost")?,
    );

    pair.handshake().unwrap();

    assert_eq!(
        pair.client.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    Ok(())
}

#[test]
fn client_setting_four_refuses_a_tls12_only_server() -> TestResult {
    let dir = support::temp_dir("client_four_refuses_tls12");
    let (_ca, leaf, ca_path) = pki(&dir);
    let mut pair = Pair::new(
        client(&ca_path, TlsVersions::from_lapps(4)?, true)?,
        foreign_server(&[&TLS12], &leaf),
        server_name("localhost")?,
    );

    let err = pair.handshake().unwrap_err();

    assert_eq!(
        err,
        (
            Side::Server,
            Error::PeerIncompatible(PeerIncompatible::Tls12NotOfferedOrEnabled)
        )
    );
    Ok(())
}

#[test]
fn alpn_chooses_http11_when_offered() -> TestResult {
    let dir = support::temp_dir("alpn_chooses_http11");
    let (_ca, leaf, ca_path) = pki(&dir);
    for versions in [TlsVersions::Tls12OrNewer, TlsVersions::Tls13Only] {
        let client = with_alpn(&client(&ca_path, versions, true)?, &[b"h2", b"http/1.1"]);
        let mut pair = Pair::new(client, server(&leaf, versions)?, server_name("localhost")?);

        pair.handshake().unwrap();

        assert_eq!(pair.server.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(pair.client.alpn_protocol(), Some(&b"http/1.1"[..]));
    }
    Ok(())
}

#[test]
fn alpn_without_http11_fails_the_handshake() -> TestResult {
    let dir = support::temp_dir("alpn_without_http11_fails");
    let (_ca, leaf, ca_path) = pki(&dir);
    let client = with_alpn(&client(&ca_path, TlsVersions::default(), true)?, &[b"h2"]);
    let mut pair = Pair::new(
        client,
        server(&leaf, TlsVersions::default())?,
        server_name("localhost")?,
    );

    let err = pair.handshake().unwrap_err();

    assert_eq!(err, (Side::Server, Error::NoApplicationProtocol));
    // The client hears why: the no_application_protocol alert of RFC 7301 §3.2.
    let alert = pair.deliver_to_client().unwrap_err();
    assert_eq!(
        alert,
        Error::AlertReceived(AlertDescription::NoApplicationProtocol)
    );
    Ok(())
}

#[test]
fn hostname_mismatch_fails_on_the_client() -> TestResult {
    let dir = support::temp_dir("hostname_mismatch_fails");
    let (_ca, leaf, ca_path) = pki(&dir);
    let mut pair = Pair::new(
        client(&ca_path, TlsVersions::default(), true)?,
        server(&leaf, TlsVersions::default())?,
        server_name("example.com")?,
    );

    let (side, err) = pair.handshake().unwrap_err();

    assert_eq!(side, Side::Client);
    assert!(is_name_error(&err), "{err:?}");
    Ok(())
}

#[test]
fn without_hostname_checks_a_mismatched_name_passes() -> TestResult {
    let dir = support::temp_dir("without_hostname_checks_passes");
    let (_ca, leaf, ca_path) = pki(&dir);
    for versions in [TlsVersions::Tls12OrNewer, TlsVersions::Tls13Only] {
        let mut pair = Pair::new(
            client(&ca_path, versions, false)?,
            server(&leaf, versions)?,
            server_name("example.com")?,
        );

        pair.handshake().unwrap();

        // SNI still carries the name asked for.
        assert_eq!(pair.server.server_name(), Some("example.com"));
    }
    Ok(())
}

#[test]
fn without_hostname_checks_an_untrusted_certificate_still_fails() -> TestResult {
    let dir = support::temp_dir("without_hostname_checks_untrusted");
    let (_ca, _leaf, ca_path) = pki(&dir);
    let stranger = Ca::new("another CA").leaf(&["localhost"]);
    let self_signed = support::self_signed(&["localhost"]);
    for untrusted in [&stranger, &self_signed] {
        for name in ["localhost", "example.com"] {
            let mut pair = Pair::new(
                client(&ca_path, TlsVersions::default(), false)?,
                server(untrusted, TlsVersions::default())?,
                server_name(name)?,
            );

            let err = pair.handshake().unwrap_err();

            assert_eq!(
                err,
                (
                    Side::Client,
                    Error::InvalidCertificate(CertificateError::UnknownIssuer)
                ),
                "{name}"
            );
        }
    }
    Ok(())
}

#[test]
fn without_hostname_checks_an_expired_certificate_still_fails() -> TestResult {
    let dir = support::temp_dir("without_hostname_checks_expired");
    let (ca, _leaf, ca_path) = pki(&dir);
    let mut params = support::leaf_params(&["localhost"]);
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let expired = ca.leaf_from_params(&params, &rcgen::KeyPair::generate()?);
    for verify_hostname in [true, false] {
        let mut pair = Pair::new(
            client(&ca_path, TlsVersions::default(), verify_hostname)?,
            server(&expired, TlsVersions::default())?,
            server_name("localhost")?,
        );

        let (side, err) = pair.handshake().unwrap_err();

        assert_eq!(side, Side::Client);
        assert!(
            matches!(
                err,
                Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. }
                )
            ),
            "{verify_hostname}: {err:?}"
        );
    }
    Ok(())
}

#[test]
fn without_hostname_checks_no_roots_trust_nothing() -> TestResult {
    let dir = support::temp_dir("without_hostname_checks_no_roots");
    let (_ca, leaf, _) = pki(&dir);
    let client = ClientTlsConfig::new(Roots::empty())
        .verify_hostname(false)
        .build()?;
    let mut pair = Pair::new(
        client,
        server(&leaf, TlsVersions::default())?,
        server_name("localhost")?,
    );

    let err = pair.handshake().unwrap_err();

    assert_eq!(
        err,
        (
            Side::Client,
            Error::InvalidCertificate(CertificateError::UnknownIssuer)
        )
    );
    Ok(())
}

#[test]
fn ip_literals_send_no_sni_and_match_ip_entries() -> TestResult {
    let dir = support::temp_dir("ip_literals_send_no_sni");
    let (_ca, leaf, ca_path) = pki(&dir);
    let mut pair = Pair::new(
        client(&ca_path, TlsVersions::default(), true)?,
        server(&leaf, TlsVersions::default())?,
        server_name("127.0.0.1")?,
    );

    pair.handshake().unwrap();

    assert_eq!(pair.server.server_name(), None);

    // An address the certificate does not list fails the name check.
    let mut pair = Pair::new(
        client(&ca_path, TlsVersions::default(), true)?,
        server(&leaf, TlsVersions::default())?,
        server_name("127.0.0.2")?,
    );
    let (side, err) = pair.handshake().unwrap_err();
    assert_eq!(side, Side::Client);
    assert!(is_name_error(&err), "{err:?}");
    Ok(())
}

#[test]
fn serves_with_pkcs1_rsa_and_sec1_ec_keys() -> TestResult {
    let dir = support::temp_dir("serves_with_pkcs1_and_sec1");
    let (ca, _leaf, ca_path) = pki(&dir);
    for (pkcs8, served) in [
        ("rsa-pkcs8.key", "rsa-pkcs1.key"),
        ("ec-pkcs8.key", "ec-sec1.key"),
    ] {
        let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(fixture(pkcs8))?)?;
        let leaf = ca.leaf_with_key(&["localhost"], &key);
        let cert_path = write(&dir, &format!("{served}.crt"), &leaf.chain);
        let config = ServerTlsConfig::from_pem_files(&cert_path, fixture(served))?.build()?;
        for (client, version) in [
            (
                client(&ca_path, TlsVersions::default(), true)?,
                ProtocolVersion::TLSv1_3,
            ),
            (
                foreign_client(&[&TLS12], &ca.pem()),
                ProtocolVersion::TLSv1_2,
            ),
        ] {
            let mut pair = Pair::new(client, Arc::clone(&config), server_name("localhost")?);

            pair.handshake().unwrap();

            assert_eq!(pair.server.protocol_version(), Some(version), "{served}");
        }
    }
    Ok(())
}

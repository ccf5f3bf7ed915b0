//! Building the client configuration: trust roots from CA files (warnings, not failures) and
//! server names.

mod support;

use lapps_tls::{ClientTlsConfig, FileKind, Roots, TlsError, TlsVersions, server_name};
use rustls::pki_types::ServerName;

use support::{Ca, TestResult, temp_dir, write};

#[test]
fn missing_ca_file_is_a_warning_naming_it() -> TestResult {
    let path = temp_dir("missing_ca_file_is_a_warning").join("localhost.ca.pem");

    let (roots, warnings) = Roots::from_lapps(&path);

    let ca_warnings: Vec<&TlsError> = warnings
        .iter()
        .filter(|w| {
            matches!(
                w,
                TlsError::Io {
                    kind: FileKind::CaCertificates,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(ca_warnings.len(), 1, "{warnings:?}");
    assert!(matches!(ca_warnings[0], TlsError::Io { path: p, .. } if *p == path));
    assert_eq!(
        ca_warnings[0].to_string(),
        format!(
            "cannot read CA file {}: No such file or directory (os error 2)",
            path.display()
        )
    );
    // Still usable: a client config builds.
    ClientTlsConfig::new(roots).build()?;
    Ok(())
}

#[test]
fn from_lapps_adds_the_ca_file_to_the_system_roots() {
    let dir = temp_dir("from_lapps_adds_the_ca_file");
    let path = write(&dir, "ca.pem", Ca::new("test CA").pem());
    let mut system = Roots::empty();
    let _ = system.add_system();

    let (roots, warnings) = Roots::from_lapps(&path);

    assert!(
        !warnings.iter().any(|w| matches!(
            w,
            TlsError::Io {
                kind: FileKind::CaCertificates,
                ..
            }
        )),
        "{warnings:?}"
    );
    assert_eq!(roots.len(), system.len() + 1);
}

#[test]
fn add_pem_file_counts_what_it_adds() -> TestResult {
    let dir = temp_dir("add_pem_file_counts");
    let path = write(
        &dir,
        "two-cas.pem",
        format!("{}{}", Ca::new("CA one").pem(), Ca::new("CA two").pem()),
    );
    let mut roots = Roots::empty();

    assert_eq!(roots.add_pem_file(&path)?, 2);
    assert_eq!(roots.len(), 2);
    Ok(())
}

#[test]
fn add_pem_file_is_all_or_nothing() {
    let dir = temp_dir("add_pem_file_is_all_or_nothing");
    let bogus = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
    let path = write(
        &dir,
        "ca.pem",
        format!("{}{bogus}", Ca::new("test CA").pem()),
    );
    let mut roots = Roots::empty();

    let err = roots.add_pem_file(&path).unwrap_err();

    assert!(
        matches!(&err, TlsError::InvalidCertificate { path: Some(p), position: 2, .. }
            if *p == path),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "certificate 2 in {} is not a usable trust anchor: ",
            path.display()
        )),
        "{err}"
    );
    assert_eq!(roots.len(), 0);
}

#[test]
fn add_pem_file_errors_name_the_file() {
    let dir = temp_dir("add_pem_file_errors_name_the_file");
    let absent = dir.join("absent.pem");
    let empty = write(&dir, "empty.pem", "");
    let mut roots = Roots::empty();

    let err = roots.add_pem_file(&absent).unwrap_err();
    assert!(
        matches!(&err, TlsError::Io { kind: FileKind::CaCertificates, path, .. }
            if *path == absent),
        "{err:?}"
    );
    let err = roots.add_pem_file(&empty).unwrap_err();
    assert!(
        matches!(&err, TlsError::NoCertificates { path: Some(p) } if *p == empty),
        "{err:?}"
    );
    assert!(roots.is_empty());
}

#[test]
fn add_pem_reads_memory() -> TestResult {
    let mut roots = Roots::empty();
    assert_eq!(roots.add_pem(Ca::new("test CA").pem().as_bytes())?, 1);
    assert!(matches!(
        roots.add_pem(b"no pem here"),
        Err(TlsError::NoCertificates { path: None })
    ));
    assert_eq!(roots.len(), 1);
    Ok(())
}

#[test]
fn builds_in_every_mode_even_with_no_roots() -> TestResult {
    for verify_hostname in [true, false] {
        for versions in [TlsVersions::Tls12OrNewer, TlsVersions::Tls13Only] {
            let config = ClientTlsConfig::new(Roots::empty())
                .versions(versions)
                .verify_hostname(verify_hostname)
                .build()?;
            assert!(config.alpn_protocols.is_empty());
            assert!(config.enable_sni);
        }
    }
    Ok(())
}

#[test]
fn server_names_for_hosts() -> TestResult {
    assert!(
        matches!(server_name("localhost")?, ServerName::DnsName(d) if d.as_ref() == "localhost")
    );
    assert!(matches!(
        server_name("127.0.0.1")?,
        ServerName::IpAddress(_)
    ));
    assert!(matches!(server_name("[::1]")?, ServerName::IpAddress(_)));
    let err = server_name("bad host").unwrap_err();
    assert!(matches!(&err, TlsError::InvalidServerName(h) if h == "bad host"));
    assert_eq!(err.to_string(), "invalid server name \"bad host\"");
    Ok(())
}

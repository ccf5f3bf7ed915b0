//! Test PKI (a CA and leaves made with rcgen), temp files, and an in-memory handshake pump.

#![allow(
    dead_code,
    reason = "each test binary uses a different part; #[expect] would fail in the others"
)]
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure here is a test failure"
)]

use std::error::Error;
use std::fs;
use std::io::{Read, Write};
use std::ops::DerefMut;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::crypto::ring;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ConnectionCommon, ServerConfig, ServerConnection};

pub(crate) type TestResult = Result<(), Box<dyn Error>>;

/// A fresh, empty directory for one test under Cargo's per-target temp dir.
pub(crate) fn temp_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("lapps-tls")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `contents` to `dir/name` and returns the path.
pub(crate) fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    path
}

/// A committed fixture key (see `tests/fixtures/README.md`).
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A test certificate authority.
pub(crate) struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names` (DNS names or IP literals) with a fresh P-256 key.
    pub(crate) fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with_key(names, &KeyPair::generate().unwrap())
    }

    /// A leaf for `names` certifying `key`.
    pub(crate) fn leaf_with_key(&self, names: &[&str], key: &KeyPair) -> Leaf {
        self.leaf_from_params(&leaf_params(names), key)
    }

    /// A leaf from custom parameters, for validity-period tests.
    pub(crate) fn leaf_from_params(&self, params: &CertificateParams, key: &KeyPair) -> Leaf {
        let cert = params.signed_by(key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            chain: format!("{}{}", cert.pem(), self.pem()),
        }
    }
}

pub(crate) fn leaf_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.is_ca = IsCa::ExplicitNoCa;
    params
}

/// A leaf certificate and its key, all PEM.
pub(crate) struct Leaf {
    pub(crate) cert: String,
    /// PKCS#8.
    pub(crate) key: String,
    /// The leaf followed by its CA.
    pub(crate) chain: String,
}

/// A self-signed leaf that no test CA vouches for.
pub(crate) fn self_signed(names: &[&str]) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(names).self_signed(&key).unwrap();
    Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
        chain: cert.pem(),
    }
}

/// A client config that lapps-tls did not build: a foreign peer limited to some versions,
/// trusting `ca_pem`.
pub(crate) fn foreign_client(
    versions: &[&'static rustls::SupportedProtocolVersion],
    ca_pem: &str,
) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = lapps_tls::pem::parse_certificates(ca_pem.as_bytes()).unwrap();
    roots.add_parsable_certificates(certs);
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A server config that lapps-tls did not build: a foreign peer limited to some versions.
pub(crate) fn foreign_server(
    versions: &[&'static rustls::SupportedProtocolVersion],
    leaf: &Leaf,
) -> Arc<ServerConfig> {
    let certs = lapps_tls::pem::parse_certificates(leaf.chain.as_bytes()).unwrap();
    let key = lapps_tls::pem::parse_private_key(leaf.key.as_bytes()).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// Which peer failed a handshake.
#[derive(Debug, PartialEq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// A client and a server connection wired together in memory.
pub(crate) struct Pair {
    pub(crate) client: ClientConnection,
    pub(crate) server: ServerConnection,
}

impl Pair {
    pub(crate) fn new(
        client: Arc<ClientConfig>,
        server: Arc<ServerConfig>,
        name: ServerName<'static>,
    ) -> Self {
        Self {
            client: ClientConnection::new(client, name).unwrap(),
            server: ServerConnection::new(server).unwrap(),
        }
    }

    /// Shuttles bytes until both sides finish the handshake, or returns the first error and
    /// the side that raised it.
    pub(crate) fn handshake(&mut self) -> Result<(), (Side, rustls::Error)> {
        for _ in 0..32 {
            if !self.client.is_handshaking() && !self.server.is_handshaking() {
                return Ok(());
            }
            let to_server = drain(&mut self.client);
            feed(&mut self.server, &to_server).map_err(|e| (Side::Server, e))?;
            let to_client = drain(&mut self.server);
            feed(&mut self.client, &to_client).map_err(|e| (Side::Client, e))?;
        }
        panic!("handshake did not finish in 32 rounds");
    }

    /// Delivers what the server has queued (after a failure: its alert) to the client.
    pub(crate) fn deliver_to_client(&mut self) -> Result<(), rustls::Error> {
        let bytes = drain(&mut self.server);
        feed(&mut self.client, &bytes)
    }

    /// Sends `data` from the client and returns what the server reads.
    pub(crate) fn client_to_server(&mut self, data: &[u8]) -> Vec<u8> {
        self.client.writer().write_all(data).unwrap();
        let bytes = drain(&mut self.client);
        feed(&mut self.server, &bytes).unwrap();
        let mut received = vec![0; data.len()];
        self.server.reader().read_exact(&mut received).unwrap();
        received
    }
}

fn drain<D>(conn: &mut impl DerefMut<Target = ConnectionCommon<D>>) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

fn feed<D>(
    conn: &mut impl DerefMut<Target = ConnectionCommon<D>>,
    mut bytes: &[u8],
) -> Result<(), rustls::Error> {
    while !bytes.is_empty() {
        conn.read_tls(&mut bytes).unwrap();
        conn.process_new_packets()?;
    }
    Ok(())
}

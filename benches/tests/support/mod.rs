//! Helpers shared by the integration tests: in-process lapps servers on `127.0.0.1:0`, the
//! command line parsed as `lapps-load` parses it, and a test PKI for `wss://`.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support module"
)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use lapps_bench::args::{Cli, Command};
use lapps_server::lua::{LuaService, builtin_services};
use lapps_server::lua_host::Kind;
use lapps_server::service::Protocol;
use lapps_server::{Server, ServerBuilder, ServiceConfig};

/// The error type of every test.
pub(crate) type BoxError = Box<dyn Error + Send + Sync>;

/// What every test returns.
pub(crate) type TestResult = Result<(), BoxError>;

/// The limit every test body runs under.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// Two workers and a short handshake timeout, so that shutdowns at the end are quick.
pub(crate) fn builder() -> ServerBuilder {
    Server::builder()
        .workers(2)
        .handshake_timeout(Duration::from_secs(2))
}

/// Adds the services of lapps's default configuration: `echo`, `echo_lapps` and the
/// standalone services `echo_lapps` depends on.
pub(crate) fn with_default_services(mut builder: ServerBuilder) -> ServerBuilder {
    let (reactive, standalone) = builtin_services();
    for service in reactive {
        builder = builder.service(service);
    }
    for service in standalone {
        builder = builder.standalone(service);
    }
    builder
}

/// lapps on its default configuration.
pub(crate) async fn default_server() -> Result<Server, BoxError> {
    Ok(with_default_services(builder()).bind("127.0.0.1:0").await?)
}

/// A server with `benches/apps/bcast_bench` at `/bcast_bench`.
pub(crate) async fn bcast_server() -> Result<Server, BoxError> {
    let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps");
    let service = LuaService::new("bcast_bench", Kind::Lapps, apps);
    let config = ServiceConfig::new("bcast_bench", service).protocol(Protocol::LAppS);
    Ok(builder().service(config).bind("127.0.0.1:0").await?)
}

/// Starts a graceful shutdown and waits for the server to finish.
pub(crate) async fn stop(server: Server) -> TestResult {
    server.shutdown_handle().shutdown();
    tokio::time::timeout(Duration::from_secs(10), server).await??;
    Ok(())
}

/// Parses `lapps-load ARGS` as the binary does.
pub(crate) fn parse(args: &[&str]) -> Result<Command, BoxError> {
    let cli = Cli::try_parse_from(std::iter::once("lapps-load").chain(args.iter().copied()))?;
    Ok(cli.command)
}

/// A CA and a server certificate for `localhost` and `127.0.0.1` signed by it.
pub(crate) struct TestPki {
    /// The CA certificate, PEM, in a file: what `--ca` takes.
    pub(crate) ca_file: PathBuf,
    pub(crate) server: Arc<rustls::ServerConfig>,
}

impl TestPki {
    /// Generates fresh keys and certificates; `name` makes the CA file unique per test.
    pub(crate) fn new(name: &str) -> Result<Self, BoxError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "lapps-load test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_pem = ca.self_signed(&ca_key)?.pem();
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate()?;
        let leaf_pem = leaf.signed_by(&leaf_key, &issuer)?.pem();
        let server = lapps_tls::ServerTlsConfig::from_pem(
            leaf_pem.as_bytes(),
            leaf_key.serialize_pem().as_bytes(),
        )?
        .build()?;
        let ca_file =
            std::env::temp_dir().join(format!("lapps-load-{name}-{}.ca.pem", std::process::id()));
        std::fs::write(&ca_file, ca_pem)?;
        Ok(Self { ca_file, server })
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

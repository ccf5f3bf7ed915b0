//! Configuration: `ws.json`, `lapps.json`, `lapps.toml` and `LAPPS_*` overrides (spec §2).
//!
//! LAppS's two JSON files are read as they are: `ws.json` configures the server and
//! `lapps.json` the directories and the services. A native `lapps.toml` holds the keys of both
//! at its top level. Environment variables `LAPPS_<PATH>` override single keys of either form.
//! Every key is optional and merges with its documented default (`docs/configuration.md`).
//!
//! Loading never stops at the first problem. It returns the merged, validated [`Config`] with
//! its warnings ([`Loaded`]), or a [`ConfigError`] that lists every error found. Each
//! [`Diagnostic`] names the file or the variable, the key path and the reason:
//!
//! ```text
//! ws.json: workers.workers: expected a non-negative integer, found "four"
//! lapps.json: unknown key services.echo.instnaces (ignored)
//! LAPPS_PORT: port: expected an integer from 0 to 65535, found 70000
//! ```
//!
//! ```
//! use lapps_server::config::{Config, Env, Protocol};
//!
//! let env = Env::from_pairs([("LAPPS_SERVICES__ECHO__INSTANCES", "2")]);
//! let loaded = Config::from_toml_str(
//!     r#"
//!     port = 6000
//!     [services.echo]
//!     protocol = "LAppS"
//!     "#,
//!     &env,
//! )?;
//! let echo = &loaded.config.services["echo"];
//! assert_eq!(loaded.config.server.port, 6000);
//! assert_eq!(echo.instances, 2);
//! assert_eq!(echo.protocol, Protocol::LAppS);
//! assert_eq!(echo.request_target, "/echo");
//! # Ok::<(), lapps_server::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lapps_tls::TlsVersions;

use crate::acl::Acl;

mod diagnostics;
mod env;
mod load;
mod read;
mod schema;
mod server;
mod services;
mod validate;

pub use diagnostics::{ConfigError, Diagnostic, Level};
pub use env::Env;
pub use load::{FileFormat, Loaded, SourceFile, discover, load_lapps_dir, load_toml};

/// The merged, validated configuration.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The `ws.json` keys (the top level of `lapps.toml`).
    pub server: ServerSettings,
    /// `lapps.json`'s `directories`, resolved against `LAPPS_HOME`.
    pub directories: Directories,
    /// `lapps.json`'s `services`, by name: exactly the file's set. There are no default services.
    pub services: BTreeMap<String, ServiceSettings>,
}

impl Config {
    /// Returns the defaults of every key for `LAPPS_HOME` `/opt/lapps`, with no services.
    ///
    /// The `lapps` binary runs this with its built-in example services added.
    pub fn builtin_default() -> Self {
        Self::defaults(&Env::default())
    }

    /// Returns the defaults of every key for the `LAPPS_HOME` of `env`, with no services.
    pub fn defaults(env: &Env) -> Self {
        let home = env.lapps_home();
        Self {
            server: ServerSettings::under(&home),
            directories: Directories::under(&home),
            services: BTreeMap::new(),
        }
    }

    /// Loads a native TOML configuration from a string, as if it were the file `lapps.toml`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] with every error found: TOML syntax, invalid values, and invalid
    /// environment overrides from `env`.
    pub fn from_toml_str(text: &str, env: &Env) -> Result<Loaded, ConfigError> {
        load::toml_text("lapps.toml", None, text.to_owned(), env)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::builtin_default()
    }
}

/// The `ws.json` keys: network, workers, TLS, the global ACL and the limits.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServerSettings {
    /// `listeners`: the number of accept loops on `ip:port`; `0` means no listening socket.
    /// Default 2.
    pub listeners: u32,
    /// `connection_weight`: the weight of bound connections against queued events in the
    /// `weighted` balancer. Default 1.0.
    pub connection_weight: f64,
    /// `ip`: the bind address, an IP literal or a host name (resolved by the server).
    /// Default `"0.0.0.0"`.
    pub ip: String,
    /// `port`: the listen port; `0` picks an ephemeral one. Default 5083.
    pub port: u16,
    /// `lapps_config_auto_save`: persist the deployer's configuration changes. Default true.
    pub lapps_config_auto_save: bool,
    /// `workers`: the I/O worker threads and their per-worker limits.
    pub workers: WorkerSettings,
    /// `acl`: the global network ACL, checked at accept. Default: allow all.
    pub acl: Acl,
    /// `tls`: serve `wss://`. Default false.
    pub tls: bool,
    /// `tls_server_version`: `3` is TLS 1.2 or newer (the default), `4` is TLS 1.3 only.
    pub tls_server_version: TlsVersions,
    /// `tls_client_version`: the same for outbound `cws` connections.
    pub tls_client_version: TlsVersions,
    /// `tls_certificates`: the CA, certificate and key files.
    pub tls_certificates: TlsCertificates,
    /// `idle_timeout_ms`: close a connection that sent nothing for this long; also the stall
    /// limit of a full outbound buffer. [`Duration::ZERO`] disables both. Default 120 s.
    pub idle_timeout: Duration,
    /// `ping_interval_ms`: send a ping after this long without input; zero disables it.
    /// Default 30 s.
    pub ping_interval: Duration,
    /// `handshake_timeout_ms`: the time allowed for TLS plus the upgrade request, for the
    /// peer's Close after ours, and for a `cws` connect plus upgrade. Default 10 s.
    pub handshake_timeout: Duration,
    /// `max_outbound_buffer`: bytes of queued outbound data per connection. Default 4 MiB.
    pub max_outbound_buffer: usize,
    /// `max_header_size`: the largest upgrade request head, in bytes. Default 8192.
    pub max_header_size: usize,
    /// `balancer`: the default balancer strategy. Default round robin.
    pub balancer: BalancerStrategy,
    /// `metrics`: serve `GET /healthz` and `GET /metrics` on the listener. Default false.
    pub metrics: bool,
}

impl ServerSettings {
    /// Returns the defaults, with the TLS files under `home/etc/ssl/certs`.
    pub fn under(home: &Path) -> Self {
        Self {
            listeners: 2,
            connection_weight: 1.0,
            ip: "0.0.0.0".to_owned(),
            port: 5083,
            lapps_config_auto_save: true,
            workers: WorkerSettings::default(),
            acl: Acl::allow_all(),
            tls: false,
            tls_server_version: TlsVersions::Tls12OrNewer,
            tls_client_version: TlsVersions::Tls12OrNewer,
            tls_certificates: TlsCertificates::under(home),
            idle_timeout: Duration::from_secs(120),
            ping_interval: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_outbound_buffer: 4 * 1024 * 1024,
            max_header_size: 8192,
            balancer: BalancerStrategy::RoundRobin,
            metrics: false,
        }
    }
}

impl Default for ServerSettings {
    /// The defaults for `LAPPS_HOME` `/opt/lapps`.
    fn default() -> Self {
        Self::under(Path::new(env::DEFAULT_HOME))
    }
}

/// `ws.json`'s `workers`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct WorkerSettings {
    /// `workers`: the number of I/O worker threads; `0` only with `listeners: 0`.
    /// Default: the number of CPU cores ([`std::thread::available_parallelism`]).
    pub workers: usize,
    /// `max_connections`: connections per worker; the process limit is
    /// `workers × max_connections`. Default 10000.
    pub max_connections: usize,
    /// `auto_fragment`: split large outbound messages into 1392-byte frames. Default false.
    pub auto_fragment: bool,
    /// `input_buffer_size`: the size of a connection's first socket read, in bytes; later
    /// reads grow to 32 KiB after full reads. Default 2048.
    pub input_buffer_size: usize,
    /// `max_poll_events`: accepted for compatibility, no effect. Default 300.
    pub max_poll_events: u64,
    /// `max_poll_wait_ms`: accepted for compatibility, no effect. Default 10.
    pub max_poll_wait_ms: u64,
    /// `max_inbounds_skip`: accepted for compatibility, no effect. Default 50.
    pub max_inbounds_skip: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            max_connections: 10_000,
            auto_fragment: false,
            input_buffer_size: 2048,
            max_poll_events: 300,
            max_poll_wait_ms: 10,
            max_inbounds_skip: 50,
        }
    }
}

/// `ws.json`'s `tls_certificates`: PEM files.
///
/// A configured path is kept as written: a relative one is relative to the working directory,
/// as in LAppS. The defaults are absolute, under `$LAPPS_HOME/etc/ssl/certs`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct TlsCertificates {
    /// `ca`: extra CA certificates that `cws` trusts. Default `localhost.ca.pem`.
    pub ca: PathBuf,
    /// `cert`: the certificate chain, leaf first; read only when `tls` is true.
    /// Default `localhost.crt`.
    pub cert: PathBuf,
    /// `key`: the private key; read only when `tls` is true. Default `localhost.key`.
    pub key: PathBuf,
}

impl TlsCertificates {
    /// Returns the default files under `home/etc/ssl/certs`.
    pub fn under(home: &Path) -> Self {
        let dir = home.join("etc/ssl/certs");
        Self {
            ca: dir.join("localhost.ca.pem"),
            cert: dir.join("localhost.crt"),
            key: dir.join("localhost.key"),
        }
    }
}

impl Default for TlsCertificates {
    /// The defaults for `LAPPS_HOME` `/opt/lapps`.
    fn default() -> Self {
        Self::under(Path::new(env::DEFAULT_HOME))
    }
}

/// `lapps.json`'s `directories`, resolved against `LAPPS_HOME` (an absolute value is kept).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Directories {
    /// `applications`: service code is `<applications>/<name>/<name>.lua`. Default `apps`.
    pub applications: PathBuf,
    /// `deploy`: watched for `.lar` archives; created if missing. Default `deploy`.
    pub deploy: PathBuf,
    /// `tmp`: the unpack area for archives. Default `tmp`.
    pub tmp: PathBuf,
    /// `app_conf_dir`: accepted for compatibility, no effect. Default `etc`.
    pub app_conf_dir: PathBuf,
    /// `workdir`: accepted for compatibility, no effect. Default `workdir`.
    pub workdir: PathBuf,
}

impl Directories {
    /// Returns the default directories under `home`.
    pub fn under(home: &Path) -> Self {
        Self {
            applications: home.join("apps"),
            deploy: home.join("deploy"),
            tmp: home.join("tmp"),
            app_conf_dir: home.join("etc"),
            workdir: home.join("workdir"),
        }
    }
}

impl Default for Directories {
    /// The defaults for `LAPPS_HOME` `/opt/lapps`.
    fn default() -> Self {
        Self::under(Path::new(env::DEFAULT_HOME))
    }
}

/// One service of `lapps.json`'s `services`.
///
/// The reactive-only fields (`request_target` to `balancer`) keep their defaults on a
/// standalone service: the loader ignores them there, with a warning.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ServiceSettings {
    /// `standalone` (or the legacy `internal`): an `init`/`run` service with no clients.
    /// Default false.
    pub standalone: bool,
    /// `instances`: the number of instances; `0` configures the service but never runs it.
    /// Default 1.
    pub instances: usize,
    /// `auto_start`: start the service when lapps starts. Default true.
    pub auto_start: bool,
    /// `preload`: the optional modules to expose as globals, among `nap`, `time`, `murmur`,
    /// `mqr`, `cws` and `pam_auth`, each once, in the configured order. The always-present
    /// names (`nljson`, `ws`, `bcast`) and unknown names are not kept. Default empty.
    pub preload: Vec<String>,
    /// `depends`: the services that must run before this one. Unknown names and the service
    /// itself are not kept. Default empty.
    pub depends: Vec<String>,
    /// `request_target`: the path that selects this service at handshake. Default `/<name>`.
    pub request_target: String,
    /// `protocol`: raw WebSocket or the LAppS protocol. Default raw.
    pub protocol: Protocol,
    /// `max_inbound_message_size`: the largest inbound message and frame, in bytes.
    /// Default 16 MiB.
    pub max_inbound_message_size: usize,
    /// `acl`: the service ACL, checked before the 101. Default: allow all.
    pub acl: Acl,
    /// `extra_headers`: headers added to the 101 response, in the configured order.
    pub extra_headers: Vec<(String, String)>,
    /// `proto_alias`: an extra subprotocol name that the service accepts, preferred over the
    /// protocol's own name. Default none.
    pub proto_alias: Option<String>,
    /// `allowed_origins`: if non-empty, a request with an `Origin` header must match one entry
    /// (`"*"` or `scheme://host[:port]`, kept as written). Default empty.
    pub allowed_origins: Vec<String>,
    /// `balancer`: this service's balancer strategy. Default none: the server's.
    pub balancer: Option<BalancerStrategy>,
}

impl ServiceSettings {
    /// Returns the defaults of a reactive service called `name`, served at `/<name>`.
    pub fn reactive(name: &str) -> Self {
        Self {
            request_target: format!("/{name}"),
            ..Self::default()
        }
    }

    /// Returns the defaults of a standalone service.
    pub fn standalone() -> Self {
        Self {
            standalone: true,
            ..Self::default()
        }
    }

    /// Returns whether the service serves clients at a request target.
    pub const fn is_reactive(&self) -> bool {
        !self.standalone
    }
}

impl Default for ServiceSettings {
    /// The defaults of a reactive service, except that the request target is `"/"`: the
    /// loader and [`ServiceSettings::reactive`] set it to `/<name>`.
    fn default() -> Self {
        Self {
            standalone: false,
            instances: 1,
            auto_start: true,
            preload: Vec::new(),
            depends: Vec::new(),
            request_target: "/".to_owned(),
            protocol: Protocol::Raw,
            max_inbound_message_size: 16 * 1024 * 1024,
            acl: Acl::allow_all(),
            extra_headers: Vec::new(),
            proto_alias: None,
            allowed_origins: Vec::new(),
            balancer: None,
        }
    }
}

/// The strategy that binds each new connection to one instance of its service (spec §1.4).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum BalancerStrategy {
    /// `"least_connections"`: the instance with the fewest bound connections.
    LeastConnections,
    /// `"round_robin"`: each instance in turn. The default.
    #[default]
    RoundRobin,
    /// `"weighted"`: the lowest `connections × connection_weight + queued events`.
    Weighted,
}

impl BalancerStrategy {
    /// Reads the configuration spelling: `"round_robin"`, `"least_connections"` or
    /// `"weighted"`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "least_connections" => Some(Self::LeastConnections),
            "round_robin" => Some(Self::RoundRobin),
            "weighted" => Some(Self::Weighted),
            _ => None,
        }
    }

    /// Returns the configuration spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LeastConnections => "least_connections",
            Self::RoundRobin => "round_robin",
            Self::Weighted => "weighted",
        }
    }
}

impl fmt::Display for BalancerStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The protocol a reactive service speaks (spec §1.5).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum Protocol {
    /// `"LAppS"`: JSON-RPC-like messages in CBOR over binary frames (spec §4).
    LAppS,
    /// `"raw"`: plain WebSocket messages. The default.
    #[default]
    Raw,
}

impl Protocol {
    /// Reads the configuration spelling, `"raw"` or `"LAppS"` (case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "LAppS" => Some(Self::LAppS),
            "raw" => Some(Self::Raw),
            _ => None,
        }
    }

    /// Returns the configuration spelling, which is also the subprotocol name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LAppS => "LAppS",
            Self::Raw => "raw",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

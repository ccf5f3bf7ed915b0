//! The command line (spec §1.7).

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

/// A Lua application server over WebSockets, compatible with LAppS.
///
/// With no subcommand, lapps runs its built-in default configuration (the echo service at
/// /echo) on 127.0.0.1:5083.
#[derive(Debug, Parser)]
#[command(name = "lapps", version, about, long_about)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// Listen on this address instead (port 0 picks a free port; the bound address is
    /// logged).
    #[arg(long, global = true, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// The log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub(crate) log_format: LogFormat,
    /// Append logs to this file instead of standard error.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a configuration: a LAppS layout (ws.json, lapps.json) or a native lapps.toml.
    Run(ConfigSource),
    /// Load and validate a configuration, print every problem, and exit 0 if it is valid.
    Check(ConfigSource),
}

/// Where the configuration comes from. Without either flag: `$LAPPS_CONF_DIR`, else
/// `$LAPPS_HOME/etc/conf` (a `lapps.toml` there wins over the JSON pair).
#[derive(Debug, ClapArgs)]
pub(crate) struct ConfigSource {
    /// A directory with ws.json and lapps.json (or lapps.toml).
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    pub(crate) config_dir: Option<PathBuf>,
    /// A native TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

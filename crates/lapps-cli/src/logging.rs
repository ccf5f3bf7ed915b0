//! Logging through tracing (spec §1.7): the filter comes from `LAPPS_LOG`, else `RUST_LOG`,
//! else `info`; lines go to standard error or, with `--log-file`, are appended to a file.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

use crate::args::{Args, LogFormat};

/// Installs the global subscriber.
///
/// # Errors
///
/// A message naming the log file if it cannot be opened, or the variable whose filter does
/// not parse.
pub(crate) fn init(args: &Args) -> Result<(), String> {
    let (variable, directives) = match (std::env::var("LAPPS_LOG"), std::env::var("RUST_LOG")) {
        (Ok(filter), _) => ("LAPPS_LOG", filter),
        (_, Ok(filter)) => ("RUST_LOG", filter),
        _ => ("the default", "info".to_owned()),
    };
    let filter = EnvFilter::try_new(&directives)
        .map_err(|e| format!("invalid log filter in {variable} ({directives:?}): {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match (&args.log_file, args.log_format) {
        (Some(path), format) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
            let builder = builder.with_ansi(false).with_writer(Mutex::new(file));
            match format {
                LogFormat::Json => builder.json().try_init(),
                LogFormat::Human => builder.try_init(),
            }
        }
        (None, LogFormat::Json) => builder.json().with_writer(std::io::stderr).try_init(),
        (None, LogFormat::Human) => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}

//! Helpers shared by the `config_*` integration tests: scratch directories with configuration
//! files, and the diagnostics of a load as the lines `lapps check` prints.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of these helpers"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use lapps_server::config::{ConfigError, Env, Level, Loaded, load_lapps_dir};

/// The committed fixtures: `fixtures/config`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

/// A fresh, empty directory under the test target's scratch space, holding `files`.
pub fn scratch(files: &[(&str, &str)]) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "config-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for (name, text) in files {
        fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    dir
}

/// The environment of most tests: `LAPPS_HOME=/srv/lapps` and nothing else.
pub fn env() -> Env {
    Env::from_pairs([("LAPPS_HOME", "/srv/lapps")])
}

/// Loads `ws.json` and `lapps.json` with these texts (`None`: the file does not exist).
pub fn load_json(ws: Option<&str>, lapps: Option<&str>) -> Result<Loaded, ConfigError> {
    load_json_env(ws, lapps, &env())
}

/// [`load_json`] with another environment.
pub fn load_json_env(
    ws: Option<&str>,
    lapps: Option<&str>,
    env: &Env,
) -> Result<Loaded, ConfigError> {
    let mut files = Vec::new();
    if let Some(ws) = ws {
        files.push(("ws.json", ws));
    }
    if let Some(lapps) = lapps {
        files.push(("lapps.json", lapps));
    }
    load_lapps_dir(&scratch(&files), env)
}

/// A `lapps.json` with one reactive service `echo` and nothing else.
pub const ONE_SERVICE: &str = r#"{"services": {"echo": {}}}"#;

/// The warnings (not the info notes) of a successful load, as printed lines.
pub fn warnings(loaded: &Loaded) -> Vec<String> {
    loaded
        .warnings
        .iter()
        .filter(|d| d.level() == Level::Warning)
        .map(ToString::to_string)
        .collect()
}

/// The errors of a failed load, as printed lines.
pub fn errors(result: Result<Loaded, ConfigError>) -> Vec<String> {
    match result {
        Ok(loaded) => panic!("expected errors, loaded {:#?}", loaded.config),
        Err(err) => err.errors().iter().map(ToString::to_string).collect(),
    }
}

/// The single error of a failed load.
pub fn error(result: Result<Loaded, ConfigError>) -> String {
    let errors = errors(result);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap_or_default()
}

/// The warnings of `ws.json` text `ws`, loaded with the one-service `lapps.json`.
pub fn ws_warnings(ws: &str) -> Vec<String> {
    match load_json(Some(ws), Some(ONE_SERVICE)) {
        Ok(loaded) => warnings(&loaded),
        Err(err) => panic!("{err}"),
    }
}

/// The single error of `ws.json` text `ws`, loaded with the one-service `lapps.json`.
pub fn ws_error(ws: &str) -> String {
    error(load_json(Some(ws), Some(ONE_SERVICE)))
}

/// The warnings of `lapps.json` text `lapps`, with no `ws.json`.
pub fn lapps_warnings(lapps: &str) -> Vec<String> {
    match load_json(None, Some(lapps)) {
        Ok(loaded) => warnings(&loaded),
        Err(err) => panic!("{err}"),
    }
}

/// The single error of `lapps.json` text `lapps`, with no `ws.json`.
pub fn lapps_error(lapps: &str) -> String {
    error(load_json(None, Some(lapps)))
}

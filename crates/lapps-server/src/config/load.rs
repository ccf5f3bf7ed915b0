//! Finding, reading and parsing the files, layering the overrides, and assembling [`Config`].
//!
//! The `config` crate parses both formats into one tree type whose values remember where they
//! come from, and layers the environment overrides over the file (see
//! `docs/decisions/0002-configuration-loading.md`). Everything else, the typed reading and the
//! checks, is in the sibling modules.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use config::{Format as _, Map, Source, Value, ValueKind};

use super::diagnostics::{ConfigError, Diagnostic, KeyPath, Report};
use super::env::{self, Env, Override, Targets};
use super::read::Reader;
use super::services::{read_directories, read_services};
use super::{Config, Directories, ServerSettings, schema, server, validate};

/// A configuration loaded and validated, with its warnings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Loaded {
    /// The merged, validated configuration.
    pub config: Config,
    /// The warnings and informational notes, in the order found; see [`Diagnostic::level`].
    pub warnings: Vec<Diagnostic>,
    /// The files as they were read, before defaults and overrides: what auto-save (spec §2.8)
    /// starts from.
    pub files: Vec<SourceFile>,
}

/// A configuration file as it was read.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct SourceFile {
    /// The name that messages use: the file name, such as `lapps.json`.
    pub name: String,
    /// Where it is; `None` for a configuration given as a string.
    pub path: Option<PathBuf>,
    /// Its format.
    pub format: FileFormat,
    /// Its text; `None` if the file does not exist (its defaults apply).
    pub text: Option<String>,
}

/// The format of a configuration file.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum FileFormat {
    /// LAppS's `ws.json` and `lapps.json`.
    Json,
    /// The native `lapps.toml`.
    Toml,
}

/// Loads a LAppS configuration directory: `ws.json` and `lapps.json` in `dir`.
///
/// The file names come from `WS_CONFIG` and `LAPPS_CONFIG` in `env`; an absolute one is used
/// as it is. A missing file means the defaults of all its keys (an [`Info`](super::Level::Info)
/// note says so). The overrides of `env` apply on top.
///
/// # Errors
///
/// A [`ConfigError`] with every error found: unreadable files, JSON syntax, invalid values and
/// invalid overrides.
pub fn load_lapps_dir(dir: &Path, env: &Env) -> Result<Loaded, ConfigError> {
    load_json_pair(dir, env, Report::default())
}

/// Loads a native TOML configuration file.
///
/// # Errors
///
/// A [`ConfigError`] with every error found; a missing file is an error here.
pub fn load_toml(file: &Path, env: &Env) -> Result<Loaded, ConfigError> {
    load_toml_file(file, env, Report::default())
}

/// Loads the configuration of a configuration directory in the order of spec §2.1:
/// `lapps.toml` if it exists (a warning says that JSON files beside it are ignored), or else
/// the JSON pair, as [`load_lapps_dir`] does.
///
/// # Errors
///
/// A [`ConfigError`] with every error found.
pub fn discover(conf_dir: &Path, env: &Env) -> Result<Loaded, ConfigError> {
    let toml = conf_dir.join("lapps.toml");
    if !toml.is_file() {
        return load_json_pair(conf_dir, env, Report::default());
    }
    let mut report = Report::default();
    let ignored: Vec<String> = [env.ws_config(), env.lapps_config()]
        .into_iter()
        .map(|name| conf_dir.join(name))
        .filter(|path| path.is_file())
        .map(|path| display_name(&path))
        .collect();
    if !ignored.is_empty() {
        report.warning(
            &display_name(&toml),
            &KeyPath::root(),
            format!(
                "{} in the same directory {} ignored",
                ignored.join(" and "),
                if ignored.len() == 1 { "is" } else { "are" }
            ),
        );
    }
    load_toml_file(&toml, env, report)
}

/// Loads TOML text that was read from `path` (or given as a string), named `name` in messages.
pub(super) fn toml_text(
    name: &str,
    path: Option<PathBuf>,
    text: String,
    env: &Env,
) -> Result<Loaded, ConfigError> {
    let mut report = Report::default();
    let file = SourceFile {
        name: name.to_owned(),
        path,
        format: FileFormat::Toml,
        text: Some(text),
    };
    let tree = parse(&file, &mut report);
    assemble(Parts::Toml(file, tree), env, report)
}

fn load_toml_file(file: &Path, env: &Env, mut report: Report) -> Result<Loaded, ConfigError> {
    let source = read(file, FileFormat::Toml, false, &mut report);
    let tree = parse(&source, &mut report);
    assemble(Parts::Toml(source, tree), env, report)
}

fn load_json_pair(dir: &Path, env: &Env, mut report: Report) -> Result<Loaded, ConfigError> {
    let ws = read(
        &dir.join(env.ws_config()),
        FileFormat::Json,
        true,
        &mut report,
    );
    let lapps = read(
        &dir.join(env.lapps_config()),
        FileFormat::Json,
        true,
        &mut report,
    );
    let ws_tree = parse(&ws, &mut report);
    let lapps_tree = parse(&lapps, &mut report);
    assemble(
        Parts::Json([(ws, ws_tree), (lapps, lapps_tree)]),
        env,
        report,
    )
}

/// The parsed files: the JSON pair (`ws.json`, `lapps.json`) or the one TOML file.
enum Parts {
    Json([(SourceFile, Map<String, Value>); 2]),
    Toml(SourceFile, Map<String, Value>),
}

/// Layers the overrides, reads every key, runs the checks, and splits the report.
fn assemble(parts: Parts, env: &Env, mut report: Report) -> Result<Loaded, ConfigError> {
    if report.has_errors() {
        // Unreadable or unparsable files: checking the rest would only add noise.
        return Err(report.into_error());
    }
    let (files, ws, lapps) = match parts {
        Parts::Json([(ws_file, ws_tree), (lapps_file, lapps_tree)]) => {
            let overrides = plan(env, &lapps_file.name, &lapps_tree, &mut report);
            let ws_tree = layer(ws_tree, overrides.iter().filter(|o| !o.lapps), &mut report);
            let lapps_tree = layer(
                lapps_tree,
                overrides.iter().filter(|o| o.lapps),
                &mut report,
            );
            let ws = (ws_file.name.clone(), ws_tree);
            let lapps = (lapps_file.name.clone(), lapps_tree);
            (vec![ws_file, lapps_file], ws, lapps)
        }
        Parts::Toml(file, tree) => {
            let overrides = plan(env, &file.name, &tree, &mut report);
            let tree = layer(tree, overrides.iter(), &mut report);
            // One file, two key sets: split it so each half is read like its JSON file.
            let (lapps_tree, ws_tree): (Map<String, Value>, Map<String, Value>) = tree
                .into_iter()
                .partition(|(key, _)| schema::field(schema::LAPPS, key).is_some());
            let ws = (file.name.clone(), ws_tree);
            let lapps = (file.name.clone(), lapps_tree);
            (vec![file], ws, lapps)
        }
    };
    let config = read_config(env, ws, lapps, &mut report);
    let warnings = report.finish()?;
    Ok(Loaded {
        config,
        warnings,
        files,
    })
}

/// Reads both halves of a configuration and runs the cross-key checks.
fn read_config(
    env: &Env,
    (ws_name, ws_tree): (String, Map<String, Value>),
    (lapps_name, lapps_tree): (String, Map<String, Value>),
    report: &mut Report,
) -> Config {
    let home = env.lapps_home();
    let ws_root = Value::new(Some(&ws_name), ValueKind::Table(ws_tree));
    let lapps_root = Value::new(Some(&lapps_name), ValueKind::Table(lapps_tree));
    let root = KeyPath::root();

    let mut r = Reader::new(&ws_name, report);
    let ws_entries = r.entries(&ws_root, &root, schema::WS);
    let server: ServerSettings = server::read_server(&mut r, &ws_entries, &home);
    validate::server(&mut r, &ws_entries, &server);

    let mut r = Reader::new(&lapps_name, report);
    let mut directories = Directories::under(&home);
    let mut services = Vec::new();
    for (key, value, path) in r.entries(&lapps_root, &root, schema::LAPPS) {
        match key {
            "directories" => directories = read_directories(&mut r, value, &path, &home),
            "services" => services = read_services(&mut r, value, &path),
            _ => debug_assert!(false, "lapps.json key {key} has no reader"),
        }
    }
    validate::services(&mut r, &mut services, server.metrics);
    if services.is_empty() {
        r.warning(None, &root, "no services are configured");
    }
    let mut r = Reader::new(&ws_name, report);
    validate::connection_weight(&mut r, &ws_entries, &server, &services);

    let services: BTreeMap<String, _> =
        services.into_iter().map(|s| (s.name, s.settings)).collect();
    Config {
        server,
        directories,
        services,
    }
}

/// Resolves the overrides against what the services file defines.
fn plan(
    env: &Env,
    services_file: &str,
    services_tree: &Map<String, Value>,
    report: &mut Report,
) -> Vec<Override> {
    let services = services_tree.get("services").and_then(|v| match &v.kind {
        ValueKind::Table(t) => Some(t),
        _ => None,
    });
    let targets = Targets {
        services,
        services_file,
    };
    env::overrides(env, &targets, report)
}

/// Merges the overrides over a file's tree with `config`'s layering: tables merge key by key,
/// other values replace. Every value keeps its origin: the file or the variable.
fn layer<'o>(
    tree: Map<String, Value>,
    overrides: impl Iterator<Item = &'o Override>,
    report: &mut Report,
) -> Map<String, Value> {
    let mut builder = config::Config::builder().add_source(FileTree(tree.clone()));
    for o in overrides {
        builder = builder.add_source(OverrideSource {
            top: o.top,
            value: o.value.clone(),
        });
    }
    match builder.build().and_then(|merged| merged.collect()) {
        Ok(merged) => merged,
        Err(err) => {
            report.error(
                "environment",
                &KeyPath::root(),
                format!("cannot apply the overrides: {err}"),
            );
            tree
        }
    }
}

/// A parsed file as a `config` source. Its keys go in as they are: the default `collect_to`
/// would read a key such as `"a.b"` as a path.
#[derive(Clone, Debug)]
struct FileTree(Map<String, Value>);

impl Source for FileTree {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self.0.clone())
    }

    fn collect_to(&self, cache: &mut Value) -> Result<(), config::ConfigError> {
        if let ValueKind::Table(table) = &mut cache.kind {
            table.extend(self.0.clone());
        }
        Ok(())
    }
}

/// One environment override as a `config` source: `{top: value}`, merged over the file.
#[derive(Clone, Debug)]
struct OverrideSource {
    top: &'static str,
    value: Value,
}

impl Source for OverrideSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        let mut map = Map::new();
        map.insert(self.top.to_owned(), self.value.clone());
        Ok(map)
    }
}

/// Reads a file; a missing one is a note (`missing_ok`) or an error.
fn read(path: &Path, format: FileFormat, missing_ok: bool, report: &mut Report) -> SourceFile {
    let name = display_name(path);
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(err) if missing_ok && err.kind() == io::ErrorKind::NotFound => {
            report.info(
                &name,
                format!("{} does not exist; the defaults apply", path.display()),
            );
            None
        }
        Err(err) => {
            report.error(
                &name,
                &KeyPath::root(),
                format!("cannot read {}: {err}", path.display()),
            );
            None
        }
    };
    SourceFile {
        name,
        path: Some(path.to_owned()),
        format,
        text,
    }
}

/// Parses a file's text with `config`'s JSON or TOML format; syntax errors give their line and
/// column. Every value of the tree has the file's name as its origin.
fn parse(file: &SourceFile, report: &mut Report) -> Map<String, Value> {
    let Some(text) = &file.text else {
        return Map::new();
    };
    let format = match file.format {
        FileFormat::Json => config::FileFormat::Json,
        FileFormat::Toml => config::FileFormat::Toml,
    };
    match format.parse(Some(&file.name), text) {
        Ok(tree) => tree,
        Err(err) => {
            report.error(&file.name, &KeyPath::root(), syntax_message(&*err, text));
            Map::new()
        }
    }
}

/// Describes a parse error, with its line and column when the parser gives a position.
fn syntax_message(err: &(dyn std::error::Error + 'static), text: &str) -> String {
    if let Some(err) = err.downcast_ref::<serde_json::Error>() {
        let full = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let reason = full.strip_suffix(&suffix).unwrap_or(&full);
        return format!(
            "syntax error at line {}, column {}: {reason}",
            err.line(),
            err.column()
        );
    }
    if let Some(err) = err.downcast_ref::<toml::de::Error>() {
        let reason = err.message().trim_end();
        return match err.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                format!("syntax error at line {line}, column {column}: {reason}")
            }
            None => format!("syntax error: {reason}"),
        };
    }
    // config boxes the root error twice: the cause is a `Box<ConfigError>`.
    if err.is::<Box<config::ConfigError>>() || err.is::<config::ConfigError>() {
        // The only other error of a JSON parse: a document that is not an object.
        return "expected an object at the top level".to_owned();
    }
    format!("syntax error: {err}")
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

/// The name messages use for a file: its last component.
fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_columns() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("abc", 2), (1, 3));
        assert_eq!(line_column("a\nbc", 2), (2, 1));
        assert_eq!(line_column("a\nébc", 4), (2, 2));
    }
}

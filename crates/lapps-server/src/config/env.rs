//! The environment: `LAPPS_HOME` and friends, and the `LAPPS_<PATH>` overrides (spec §2.3, §2.7).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use config::{Format as _, Map, Value, ValueKind};

use super::diagnostics::{Diagnostic, KeyPath, Level, Report, quoted};
use super::schema::{self, Shape};

/// A snapshot of the environment variables that configure lapps.
///
/// It holds `LAPPS_HOME`, `LAPPS_CONF_DIR`, `WS_CONFIG`, `LAPPS_CONFIG` and every `LAPPS_*`
/// override. Loading reads the snapshot, never the process environment, so tests build one with
/// [`Env::from_pairs`] instead of changing the process's variables. An empty value counts as
/// unset.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Env {
    home: Option<PathBuf>,
    conf_dir: Option<PathBuf>,
    ws_config: Option<PathBuf>,
    lapps_config: Option<PathBuf>,
    /// `LAPPS_*` variables other than the reserved ones, by name; `None` if not UTF-8.
    overrides: BTreeMap<String, Option<String>>,
}

impl Env {
    /// Takes a snapshot of the process environment.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars_os())
    }

    /// Builds a snapshot from `(name, value)` pairs; other variables are ignored.
    pub fn from_pairs<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut env = Self::default();
        for (name, value) in vars {
            let Some(name) = name.as_ref().to_str() else {
                continue;
            };
            let value = value.as_ref();
            let path = (!value.is_empty()).then(|| PathBuf::from(value));
            match name {
                "LAPPS_HOME" => env.home = path,
                "LAPPS_CONF_DIR" => env.conf_dir = path,
                "WS_CONFIG" => env.ws_config = path,
                "LAPPS_CONFIG" => env.lapps_config = path,
                _ if name.starts_with(PREFIX) && !RESERVED.contains(&name) => {
                    let value = value.to_str().map(str::to_owned);
                    env.overrides.insert(name.to_owned(), value);
                }
                _ => {}
            }
        }
        env
    }

    /// Returns `LAPPS_HOME`, by default `/opt/lapps`.
    pub fn lapps_home(&self) -> PathBuf {
        self.home
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME))
    }

    /// Returns `LAPPS_CONF_DIR`, by default `$LAPPS_HOME/etc/conf`.
    pub fn conf_dir(&self) -> PathBuf {
        self.conf_dir
            .clone()
            .unwrap_or_else(|| self.lapps_home().join("etc/conf"))
    }

    /// Returns `WS_CONFIG`, the server file's name (or absolute path), by default `ws.json`.
    pub fn ws_config(&self) -> &Path {
        self.ws_config
            .as_deref()
            .unwrap_or_else(|| Path::new("ws.json"))
    }

    /// Returns `LAPPS_CONFIG`, the services file's name (or absolute path), by default
    /// `lapps.json`.
    pub fn lapps_config(&self) -> &Path {
        self.lapps_config
            .as_deref()
            .unwrap_or_else(|| Path::new("lapps.json"))
    }

    /// Returns the override variables: every `LAPPS_*` name but the reserved ones, sorted.
    pub fn overrides(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.overrides
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_deref()))
    }
}

/// One override, resolved against the configuration it applies to.
#[derive(Debug)]
pub(super) struct Override {
    /// Whether it targets a `lapps.json` key (`directories`, `services`) or a `ws.json` one.
    pub(super) lapps: bool,
    /// The top-level key.
    pub(super) top: &'static str,
    /// The value to merge under `top`: the override's value wrapped in one table per segment
    /// below `top`, every part tagged with the variable's name as its origin.
    pub(super) value: Value,
}

/// The trees the overrides are matched against: what the files define.
pub(super) struct Targets<'a> {
    /// The services file's `services` table, if it has one.
    pub(super) services: Option<&'a Map<String, Value>>,
    /// The name of the file that defines the services, for messages.
    pub(super) services_file: &'a str,
}

/// Resolves every override of `env`; the ones that match no key are reported and dropped.
pub(super) fn overrides(env: &Env, targets: &Targets<'_>, report: &mut Report) -> Vec<Override> {
    let mut out = Vec::new();
    for (var, raw) in env.overrides() {
        let Some(raw) = raw else {
            report.push(Diagnostic::new(
                Level::Warning,
                var,
                String::new(),
                "the value is not valid UTF-8 (ignored)".to_owned(),
            ));
            continue;
        };
        match resolve(var, targets) {
            Ok((lapps, top, path)) => {
                let mut value = parse_value(var, raw);
                for key in path.iter().skip(1).rev() {
                    let mut table = Map::new();
                    table.insert(key.clone(), value);
                    value = Value::new(Some(&var.to_owned()), ValueKind::Table(table));
                }
                out.push(Override { lapps, top, value });
            }
            Err(diagnostic) => report.push(diagnostic),
        }
    }
    out
}

/// Parses an override's value as a TOML value; what does not parse is a string.
pub(super) fn parse_value(var: &str, raw: &str) -> Value {
    let origin = var.to_owned();
    // `v = <raw>` is a one-key TOML document exactly when `raw` is one TOML value.
    let parsed = config::FileFormat::Toml.parse(Some(&origin), &format!("v = {raw}"));
    match parsed {
        Ok(mut table) if table.len() == 1 => table
            .shift_remove("v")
            .unwrap_or_else(|| Value::new(Some(&origin), raw)),
        _ => Value::new(Some(&origin), raw),
    }
}

/// Matches the segments of `var` to key names: whether it targets a `lapps.json` key, the
/// top-level key, and the whole path as the file spells it.
fn resolve(
    var: &str,
    targets: &Targets<'_>,
) -> Result<(bool, &'static str, Vec<String>), Diagnostic> {
    let segments: Vec<&str> = var
        .strip_prefix(PREFIX)
        .unwrap_or(var)
        .split("__")
        .collect();
    let unknown = |matched: &[String], rest: &[&str]| {
        let mut path = KeyPath::root();
        for key in matched {
            path = path.key(key);
        }
        for segment in rest {
            path = path.key(&segment.to_ascii_lowercase());
        }
        Diagnostic::unknown_key(var, path.to_string())
    };
    let (lapps, top) = match (
        schema::field_ignore_case(schema::WS, segments[0]),
        schema::field_ignore_case(schema::LAPPS, segments[0]),
    ) {
        (Some(f), _) => (false, f),
        (None, Some(f)) => (true, f),
        (None, None) => return Err(unknown(&[], &segments)),
    };
    let mut path = vec![top.name.to_owned()];
    let mut shape = &top.shape;
    let mut rest = &segments[1..];
    while let Some((&segment, tail)) = rest.split_first() {
        let next = match shape {
            Shape::Leaf => None,
            Shape::Table(fields) => {
                schema::field_ignore_case(fields, segment).map(|f| (f.name.to_owned(), &f.shape))
            }
            Shape::Services => {
                let name = match_service(var, segment, targets)?;
                Some((name, &SERVICE_SHAPE))
            }
            Shape::Headers => {
                let headers = header_names(targets, &path);
                headers
                    .into_iter()
                    .find(|h| h.eq_ignore_ascii_case(segment))
                    .map(|h| (h, &Shape::Leaf))
            }
        };
        let Some((key, next_shape)) = next else {
            return Err(unknown(&path, rest));
        };
        path.push(key);
        shape = next_shape;
        rest = tail;
    }
    if matches!(shape, Shape::Services) {
        return Err(Diagnostic::new(
            Level::Warning,
            var,
            "services".to_owned(),
            "the set of services cannot be overridden; override single keys, as in \
             LAPPS_SERVICES__<NAME>__<KEY> (ignored)"
                .to_owned(),
        ));
    }
    Ok((lapps, top.name, path))
}

/// Finds the service a segment names: the exact name, or else the one name that matches
/// ignoring ASCII case.
fn match_service(var: &str, segment: &str, targets: &Targets<'_>) -> Result<String, Diagnostic> {
    let names: Vec<&String> = targets
        .services
        .map(|s| {
            // A service that is `null` in the file does not exist.
            s.iter()
                .filter(|(name, value)| {
                    name.eq_ignore_ascii_case(segment) && !matches!(value.kind, ValueKind::Nil)
                })
                .map(|(name, _)| name)
                .collect()
        })
        .unwrap_or_default();
    let exact = names.iter().find(|name| name.as_str() == segment);
    match (exact, names.as_slice()) {
        (Some(name), _) | (None, [name]) => Ok((*name).clone()),
        (None, []) => Err(Diagnostic::new(
            Level::Warning,
            var,
            String::new(),
            format!(
                "{} defines no service {}; an override cannot create a service (ignored)",
                targets.services_file,
                quoted(&segment.to_ascii_lowercase())
            ),
        )),
        (None, _) => Err(Diagnostic::new(
            Level::Warning,
            var,
            String::new(),
            format!(
                "{} matches more than one service ({}); write the name exactly (ignored)",
                quoted(segment),
                names
                    .iter()
                    .map(|n| quoted(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The header names that a service's `extra_headers` defines in the file.
fn header_names(targets: &Targets<'_>, path: &[String]) -> Vec<String> {
    // path is ["services", NAME, "extra_headers"].
    let Some(name) = path.get(1) else {
        return Vec::new();
    };
    targets
        .services
        .and_then(|s| s.get(name))
        .and_then(|service| match &service.kind {
            ValueKind::Table(t) => t.get("extra_headers"),
            _ => None,
        })
        .and_then(|headers| match &headers.kind {
            ValueKind::Table(t) => Some(t.keys().cloned().collect()),
            _ => None,
        })
        .unwrap_or_default()
}

static SERVICE_SHAPE: Shape = Shape::Table(schema::SERVICE);

/// `LAPPS_HOME`'s default.
pub(super) const DEFAULT_HOME: &str = "/opt/lapps";

const PREFIX: &str = "LAPPS_";

/// Variables that start with `LAPPS_` but are never overrides.
const RESERVED: &[&str] = &[
    "LAPPS_HOME",
    "LAPPS_CONF_DIR",
    "LAPPS_CONFIG",
    "LAPPS_APPS_DIR",
    "LAPPS_LOG",
];

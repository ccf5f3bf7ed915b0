//! Diagnostics: what the loader says about a configuration, and the error that gathers them.

use std::fmt;

/// A message about a configuration: an error, a warning or an informational note.
///
/// It names where the problem is: the file (`ws.json`, `lapps.json`, `lapps.toml`) or the
/// environment variable (`LAPPS_PORT`) that holds the value, and the key path inside the
/// configuration (`workers.workers`, `services.echo.acl.exclude[0]`). Its [`Display`] is the
/// line that `lapps check` prints, for example
/// `ws.json: workers.workers: expected a non-negative integer, found "four"`.
///
/// [`Display`]: fmt::Display
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Diagnostic {
    level: Level,
    source: String,
    key: String,
    message: String,
    /// The message already names the key (`unknown key services.echo.instnaces (ignored)`),
    /// so Display does not put it in front as well.
    key_in_message: bool,
}

impl Diagnostic {
    pub(super) fn new(level: Level, source: &str, key: String, message: String) -> Self {
        Self {
            level,
            source: source.to_owned(),
            key,
            message,
            key_in_message: false,
        }
    }

    pub(super) fn unknown_key(source: &str, key: String) -> Self {
        let message = format!("unknown key {key} (ignored)");
        Self {
            key_in_message: true,
            ..Self::new(Level::Warning, source, key, message)
        }
    }

    /// Returns how serious it is.
    pub const fn level(&self) -> Level {
        self.level
    }

    /// Returns the file name (`ws.json`) or the environment variable (`LAPPS_PORT`) it is about.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Returns the key path it is about (`workers.workers`), or `""` for the file as a whole.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Returns the reason, without the source and the key.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() || self.key_in_message {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.key, self.message)
        }
    }
}

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Level {
    /// The configuration is invalid: lapps does not start with it.
    Error,
    /// A note, such as a missing file whose defaults apply.
    Info,
    /// Something is ignored or probably not what was meant; lapps starts anyway.
    Warning,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Info => "info",
            Self::Warning => "warning",
        })
    }
}

/// An invalid configuration: every error found, not only the first, and the warnings.
///
/// Its [`Display`](fmt::Display) lists the errors, one per line.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ConfigError {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl ConfigError {
    /// Returns the errors, in the order found. There is at least one.
    pub fn errors(&self) -> &[Diagnostic] {
        &self.errors
    }

    /// Returns the warnings and informational notes, in the order found.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            fmt::Display::fmt(error, f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The diagnostics gathered while loading, in the order found.
#[derive(Debug, Default)]
pub(super) struct Report {
    diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub(super) fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub(super) fn error(&mut self, source: &str, key: &KeyPath, message: impl Into<String>) {
        self.push(Diagnostic::new(
            Level::Error,
            source,
            key.to_string(),
            message.into(),
        ));
    }

    pub(super) fn warning(&mut self, source: &str, key: &KeyPath, message: impl Into<String>) {
        self.push(Diagnostic::new(
            Level::Warning,
            source,
            key.to_string(),
            message.into(),
        ));
    }

    pub(super) fn info(&mut self, source: &str, message: impl Into<String>) {
        self.push(Diagnostic::new(
            Level::Info,
            source,
            String::new(),
            message.into(),
        ));
    }

    pub(super) fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.level == Level::Error)
    }

    /// Splits into the errors, if there are any, or else the warnings and notes.
    pub(super) fn finish(self) -> Result<Vec<Diagnostic>, ConfigError> {
        let error = self.into_error();
        if error.errors.is_empty() {
            Ok(error.warnings)
        } else {
            Err(error)
        }
    }

    /// Splits into errors and warnings; call it only when [`Report::has_errors`].
    pub(super) fn into_error(self) -> ConfigError {
        let (errors, warnings) = self
            .diagnostics
            .into_iter()
            .partition(|d| d.level == Level::Error);
        ConfigError { errors, warnings }
    }
}

/// A key path inside a configuration: `services.echo.acl.exclude[0]`.
///
/// A key that is not made of letters, digits, `_` and `-` is written as a JSON string, so that
/// `services."my.app"` stays readable.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(super) struct KeyPath(Vec<Segment>);

#[derive(Clone, Debug, Eq, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub(super) fn root() -> Self {
        Self::default()
    }

    pub(super) fn key(&self, key: &str) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.to_owned()));
        path
    }

    pub(super) fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let plain = !key.is_empty()
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if plain {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{}", quoted(key))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `s` as a JSON string literal, the way messages quote configuration strings.
pub(super) fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_quote_unusual_keys() {
        let path = KeyPath::root()
            .key("services")
            .key("my.app")
            .key("acl")
            .key("exclude")
            .index(2);
        assert_eq!(path.to_string(), r#"services."my.app".acl.exclude[2]"#);
        assert_eq!(KeyPath::root().key("").to_string(), r#""""#);
    }

    #[test]
    fn display_names_source_key_and_reason() {
        let d = Diagnostic::new(
            Level::Error,
            "ws.json",
            "workers.workers".into(),
            "expected a non-negative integer, found \"four\"".into(),
        );
        assert_eq!(
            d.to_string(),
            r#"ws.json: workers.workers: expected a non-negative integer, found "four""#
        );
        let d = Diagnostic::unknown_key("lapps.json", "services.echo.instnaces".into());
        assert_eq!(
            d.to_string(),
            "lapps.json: unknown key services.echo.instnaces (ignored)"
        );
        assert_eq!(d.key(), "services.echo.instnaces");
    }
}

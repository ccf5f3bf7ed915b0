//! The server's error type.

use std::error::Error as StdError;
use std::fmt;

/// An error from building or running a server.
///
/// Opaque, as in hyper: use the `is_*` predicates to tell kinds apart. The `Display` text is
/// meant for people and may change.
pub struct Error {
    kind: Kind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Kind {
    Bind,
    Config,
    Runtime,
    Tls,
}

impl Error {
    pub(crate) fn bind(message: String, source: std::io::Error) -> Self {
        Self {
            kind: Kind::Bind,
            message,
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn config(message: String) -> Self {
        Self {
            kind: Kind::Config,
            message,
            source: None,
        }
    }

    pub(crate) fn runtime(message: String, source: std::io::Error) -> Self {
        Self {
            kind: Kind::Runtime,
            message,
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn tls(message: String, source: lapps_tls::TlsError) -> Self {
        Self {
            kind: Kind::Tls,
            message,
            source: Some(Box::new(source)),
        }
    }

    /// Returns true if a listening socket could not be bound (for example, the port is in
    /// use).
    pub fn is_bind(&self) -> bool {
        self.kind == Kind::Bind
    }

    /// Returns true if the configuration or a service definition is invalid.
    pub fn is_config(&self) -> bool {
        self.kind == Kind::Config
    }

    /// Returns true if the TLS material could not be loaded or used.
    pub fn is_tls(&self) -> bool {
        self.kind == Kind::Tls
    }

    /// Returns true if the server's threads could not be started.
    pub fn is_runtime(&self) -> bool {
        self.kind == Kind::Runtime
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

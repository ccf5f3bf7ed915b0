//! The `lapps.json` keys: `directories` (spec §2.5) and `services` (spec §2.6).

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use config::Value;
use lapps_proto::handshake::{is_reserved_header, validate_header_name, validate_header_value};

use super::diagnostics::{KeyPath, quoted};
use super::read::Reader;
use super::schema;
use super::server::{acl, balancer, non_empty, set};
use super::{Directories, Protocol, ServiceSettings};

/// A service as read, with what the cross-service checks need to know about its source.
pub(super) struct ReadService<'v> {
    pub(super) name: String,
    pub(super) settings: ServiceSettings,
    /// The service's table, for the origin of messages about the service as a whole.
    pub(super) value: &'v Value,
    /// The `request_target` value, if the file sets it.
    pub(super) request_target: Option<&'v Value>,
    /// The `depends` entries as written, each with its value and path.
    pub(super) depends: Vec<(String, &'v Value, KeyPath)>,
}

/// Reads `directories`, resolving each against `home`.
pub(super) fn read_directories(
    r: &mut Reader<'_>,
    value: &Value,
    path: &KeyPath,
    home: &Path,
) -> Directories {
    let mut d = Directories::under(home);
    for (key, value, path) in r.entries(value, path, schema::DIRECTORIES) {
        let dir = non_empty(r, value, &path).map(|p| home.join(PathBuf::from(p)));
        match key {
            "applications" => set(&mut d.applications, dir),
            "deploy" => set(&mut d.deploy, dir),
            "tmp" => set(&mut d.tmp, dir),
            "app_conf_dir" => set(&mut d.app_conf_dir, dir),
            "workdir" => set(&mut d.workdir, dir),
            _ => debug_assert!(false, "directories key {key} has no reader"),
        }
    }
    d
}

/// Reads every service of the `services` table, in the file's order.
pub(super) fn read_services<'v>(
    r: &mut Reader<'_>,
    value: &'v Value,
    path: &KeyPath,
) -> Vec<ReadService<'v>> {
    let Some(table) = r.table(value, path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in table {
        if matches!(value.kind, config::ValueKind::Nil) {
            continue;
        }
        let path = path.key(name);
        if !is_service_name(name) {
            r.error(
                Some(value),
                &path,
                "invalid service name: use letters, digits, \"_\" and \"-\", \
                 not starting with \"-\"",
            );
            continue;
        }
        out.push(read_service(r, name, value, &path));
    }
    out
}

fn read_service<'v>(
    r: &mut Reader<'_>,
    name: &str,
    value: &'v Value,
    path: &KeyPath,
) -> ReadService<'v> {
    let entries = r.entries(value, path, schema::SERVICE);
    let standalone = standalone(r, &entries);
    let mut s = if standalone {
        ServiceSettings::standalone()
    } else {
        ServiceSettings::reactive(name)
    };
    let mut read = ReadService {
        name: name.to_owned(),
        settings: ServiceSettings::default(),
        value,
        request_target: None,
        depends: Vec::new(),
    };
    for (key, value, path) in entries {
        let path = &path;
        if standalone && schema::reactive_only(key) {
            r.warning(
                Some(value),
                path,
                "applies to reactive services only (ignored for a standalone service)",
            );
            continue;
        }
        match key {
            "standalone" | "internal" => {}
            "instances" => {
                set(&mut s.instances, r.usize(value, path, 0));
                if s.instances == 0 {
                    r.warning(
                        Some(value),
                        path,
                        "0 instances: the service is configured but never runs",
                    );
                }
            }
            "auto_start" => set(&mut s.auto_start, r.boolean(value, path)),
            "preload" => set(&mut s.preload, preload(r, value, path)),
            "depends" => {
                if let Some(names) = r.strings(value, path) {
                    read.depends = names
                        .into_iter()
                        .map(|(name, value, path)| (name.to_owned(), value, path))
                        .collect();
                }
            }
            "request_target" => {
                read.request_target = Some(value);
                set(&mut s.request_target, request_target(r, value, path));
            }
            "protocol" => set(
                &mut s.protocol,
                r.name(value, path, &["raw", "LAppS"], Protocol::from_name),
            ),
            "max_inbound_message_size" => {
                set(&mut s.max_inbound_message_size, r.usize(value, path, 1));
            }
            "acl" => set(&mut s.acl, acl(r, value, path)),
            "extra_headers" => set(&mut s.extra_headers, extra_headers(r, value, path)),
            "proto_alias" => s.proto_alias = proto_alias(r, value, path),
            "allowed_origins" => set(&mut s.allowed_origins, allowed_origins(r, value, path)),
            "balancer" => s.balancer = balancer(r, value, path),
            _ => debug_assert!(false, "service key {key} has no reader"),
        }
    }
    read.settings = s;
    read
}

/// `standalone`, or its legacy spelling `internal` (`internal: true` means `standalone: true`).
fn standalone(r: &mut Reader<'_>, entries: &[(&'static str, &Value, KeyPath)]) -> bool {
    let find = |name| entries.iter().find(|(key, ..)| *key == name);
    let standalone = find("standalone").and_then(|(_, v, p)| r.boolean(v, p));
    let Some((_, value, path)) = find("internal") else {
        return standalone.unwrap_or(false);
    };
    let Some(internal) = r.boolean(value, path) else {
        return standalone.unwrap_or(false);
    };
    match standalone {
        Some(standalone) if standalone != internal => r.error(
            Some(value),
            path,
            format!(
                "{internal} contradicts standalone: {standalone} \
                 (internal is the legacy name of standalone)"
            ),
        ),
        _ => r.warning(
            Some(value),
            path,
            format!("deprecated: write standalone: {internal} instead"),
        ),
    }
    internal
}

fn preload(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> Option<Vec<String>> {
    let mut modules: Vec<String> = Vec::new();
    for (name, value, path) in r.strings(value, path)? {
        if PRELOAD_MODULES.contains(&name) {
            if !modules.iter().any(|m| m == name) {
                modules.push(name.to_owned());
            }
        } else if !ALWAYS_PRESENT.contains(&name) {
            r.warning(
                Some(value),
                &path,
                format!("unknown module {} (ignored)", quoted(name)),
            );
        }
    }
    Some(modules)
}

fn request_target(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> Option<String> {
    let target = r.string(value, path)?;
    if !target.starts_with('/') {
        r.error(
            Some(value),
            path,
            format!(
                "expected a path starting with \"/\", found {}",
                quoted(target)
            ),
        );
        return None;
    }
    if target
        .chars()
        .any(|c| c == '?' || c == '#' || c.is_whitespace() || c.is_control())
    {
        r.error(
            Some(value),
            path,
            format!(
                "must not contain \"?\", \"#\", whitespace or control characters, found {}",
                quoted(target)
            ),
        );
        return None;
    }
    Some(target.to_owned())
}

fn extra_headers(
    r: &mut Reader<'_>,
    value: &Value,
    path: &KeyPath,
) -> Option<Vec<(String, String)>> {
    let table = r.table(value, path)?;
    let mut headers = Vec::new();
    let mut ok = true;
    for (name, value) in table {
        if matches!(value.kind, config::ValueKind::Nil) {
            continue;
        }
        let path = path.key(name);
        let Some(text) = r.string(value, &path) else {
            ok = false;
            continue;
        };
        let problem = if !validate_header_name(name) {
            Some("invalid header name: expected an HTTP token")
        } else if is_reserved_header(name) {
            Some("reserved: the handshake sets this header itself")
        } else if !validate_header_value(text) {
            Some("a header value must not contain CR, LF or NUL")
        } else {
            None
        };
        match problem {
            Some(problem) => {
                r.error(Some(value), &path, problem);
                ok = false;
            }
            None => headers.push((name.clone(), text.to_owned())),
        }
    }
    ok.then_some(headers)
}

fn proto_alias(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> Option<String> {
    let alias = r.string(value, path)?;
    if validate_header_name(alias) {
        Some(alias.to_owned())
    } else {
        r.error(
            Some(value),
            path,
            format!("expected an HTTP token, found {}", quoted(alias)),
        );
        None
    }
}

fn allowed_origins(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> Option<Vec<String>> {
    let mut origins = Vec::new();
    let mut ok = true;
    for (origin, value, path) in r.strings(value, path)? {
        if origin == "*" || is_origin(origin) {
            origins.push(origin.to_owned());
        } else {
            r.error(
                Some(value),
                &path,
                format!(
                    "expected \"*\" or an origin such as \"https://example.com:8443\", found {}",
                    quoted(origin)
                ),
            );
            ok = false;
        }
    }
    ok.then_some(origins)
}

/// `scheme://host[:port]`, as an `Origin` header carries it (RFC 6454): no path, no user.
fn is_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let (host_ok, port) = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, port)) => (addr.parse::<Ipv6Addr>().is_ok(), port),
            None => (false, ""),
        }
    } else {
        let (host, port) = rest.find(':').map_or((rest, ""), |i| rest.split_at(i));
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        (host_ok, port)
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= 65535)
        });
    scheme_ok && host_ok && port_ok
}

/// `[A-Za-z0-9_][A-Za-z0-9_-]*`: the name is also a Lua module and a directory name.
fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The modules `preload` can expose (spec §2.6).
const PRELOAD_MODULES: &[&str] = &["nap", "time", "murmur", "mqr", "cws", "pam_auth"];

/// Names `preload` accepts with no effect: these modules are always present.
const ALWAYS_PRESENT: &[&str] = &["nljson", "ws", "bcast"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        for ok in ["echo", "echo_lapps", "_x", "0", "a-b", "A9"] {
            assert!(is_service_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a.b", "a/b", "a b", "é", "a\\b"] {
            assert!(!is_service_name(bad), "{bad}");
        }
    }

    #[test]
    fn origins() {
        for ok in [
            "https://example.com",
            "https://example.com:8443",
            "http://localhost:5083",
            "http://127.0.0.1",
            "http://[::1]:80",
            "chrome-extension://abcdef",
        ] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in [
            "example.com",
            "https://",
            "https://example.com/",
            "https://example.com/path",
            "https://user@example.com",
            "https://example.com:",
            "https://example.com:99999",
            "https://exa mple.com",
            "1http://x",
            "http://[::1",
            "http://[zz]",
            "*.example.com",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}

//! The `ws.json` keys (spec §2.4).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::Value;
use lapps_tls::TlsVersions;

use super::diagnostics::{KeyPath, quoted};
use super::read::{self, Range, Reader};
use super::schema;
use super::{BalancerStrategy, ServerSettings, TlsCertificates, WorkerSettings};
use crate::acl::{Acl, AclPolicy, Network};

/// Reads the `ws.json` keys of `entries` (the top-level entries that are `ws.json` keys).
pub(super) fn read_server(
    r: &mut Reader<'_>,
    entries: &[(&'static str, &Value, KeyPath)],
    home: &Path,
) -> ServerSettings {
    let mut s = ServerSettings::under(home);
    for (key, value, path) in entries {
        let (value, path) = (*value, path);
        match *key {
            "listeners" => set(&mut s.listeners, r.uint(value, path, U32).map(to_u32)),
            "connection_weight" => set(&mut s.connection_weight, r.positive_number(value, path)),
            "ip" => set(&mut s.ip, ip(r, value, path)),
            "port" => set(
                &mut s.port,
                r.uint(value, path, Range::between(0, 65535))
                    .and_then(|n| u16::try_from(n).ok()),
            ),
            "lapps_config_auto_save" => set(&mut s.lapps_config_auto_save, r.boolean(value, path)),
            "workers" => s.workers = workers(r, value, path),
            "acl" => set(&mut s.acl, acl(r, value, path)),
            "tls" => set(&mut s.tls, tls(r, value, path)),
            "tls_server_version" => set(&mut s.tls_server_version, tls_version(r, value, path)),
            "tls_client_version" => set(&mut s.tls_client_version, tls_version(r, value, path)),
            "tls_certificates" => certificates(r, value, path, &mut s.tls_certificates),
            "idle_timeout_ms" => set(&mut s.idle_timeout, millis(r, value, path, 0)),
            "ping_interval_ms" => set(&mut s.ping_interval, millis(r, value, path, 0)),
            "handshake_timeout_ms" => set(&mut s.handshake_timeout, millis(r, value, path, 1)),
            "max_outbound_buffer" => set(&mut s.max_outbound_buffer, r.usize(value, path, 1024)),
            "max_header_size" => set(
                &mut s.max_header_size,
                r.uint(value, path, Range::between(1024, 1_048_576))
                    .and_then(|n| usize::try_from(n).ok()),
            ),
            "balancer" => set(&mut s.balancer, balancer(r, value, path)),
            "metrics" => set(&mut s.metrics, r.boolean(value, path)),
            _ => debug_assert!(false, "ws.json key {key} has no reader"),
        }
    }
    s
}

/// Reads an `acl` table, global or per service.
pub(super) fn acl(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> Option<Acl> {
    let mut policy = AclPolicy::Allow;
    let mut exclude = Vec::new();
    let mut ok = true;
    for (key, value, path) in r.entries(value, path, schema::ACL) {
        match key {
            "policy" => match r.name(value, &path, &["allow", "deny"], AclPolicy::from_name) {
                Some(p) => policy = p,
                None => ok = false,
            },
            "exclude" => match r.strings(value, &path) {
                Some(entries) => {
                    for (entry, value, path) in entries {
                        match entry.parse::<Network>() {
                            Ok(network) => exclude.push(network),
                            Err(err) => {
                                r.error(Some(value), &path, err.to_string());
                                ok = false;
                            }
                        }
                    }
                }
                None => ok = false,
            },
            _ => debug_assert!(false, "acl key {key} has no reader"),
        }
    }
    ok.then(|| Acl::from_networks(policy, exclude))
}

/// Reads a `balancer` strategy name.
pub(super) fn balancer(
    r: &mut Reader<'_>,
    value: &Value,
    path: &KeyPath,
) -> Option<BalancerStrategy> {
    r.name(
        value,
        path,
        &["round_robin", "least_connections", "weighted"],
        BalancerStrategy::from_name,
    )
}

/// Stores `value` in `slot` if it was read; a value that failed keeps the default (the error
/// is already reported, so the default never reaches a running server).
pub(super) fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn workers(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> WorkerSettings {
    let mut w = WorkerSettings::default();
    for (key, value, path) in r.entries(value, path, schema::WORKERS) {
        let path = &path;
        match key {
            "workers" => set(&mut w.workers, r.usize(value, path, 0)),
            "max_connections" => set(&mut w.max_connections, r.usize(value, path, 1)),
            "auto_fragment" => set(&mut w.auto_fragment, r.boolean(value, path)),
            "input_buffer_size" => set(&mut w.input_buffer_size, r.usize(value, path, 1)),
            "max_poll_events" => set(&mut w.max_poll_events, r.uint(value, path, U64)),
            "max_poll_wait_ms" => set(&mut w.max_poll_wait_ms, r.uint(value, path, U64)),
            "max_inbounds_skip" => set(&mut w.max_inbounds_skip, r.uint(value, path, U64)),
            _ => debug_assert!(false, "workers key {key} has no reader"),
        }
    }
    w
}

fn certificates(r: &mut Reader<'_>, value: &Value, path: &KeyPath, c: &mut TlsCertificates) {
    for (key, value, path) in r.entries(value, path, schema::TLS_CERTIFICATES) {
        let file = non_empty(r, value, &path).map(PathBuf::from);
        match key {
            "ca" => set(&mut c.ca, file),
            "cert" => set(&mut c.cert, file),
            "key" => set(&mut c.key, file),
            _ => debug_assert!(false, "tls_certificates key {key} has no reader"),
        }
    }
}

/// A string that is not empty (a path).
pub(super) fn non_empty(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> Option<String> {
    let s = r.string(value, path)?;
    if s.is_empty() {
        r.error(Some(value), path, "expected a path, found \"\"");
        return None;
    }
    Some(s.to_owned())
}

fn ip(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> Option<String> {
    let s = r.string(value, path)?;
    if s.parse::<IpAddr>().is_ok() || is_host_name(s) {
        Some(s.to_owned())
    } else {
        r.error(
            Some(value),
            path,
            format!("expected an IP address or a host name, found {}", quoted(s)),
        );
        None
    }
}

/// RFC 1123 host name syntax: dot-separated labels of letters, digits and inner hyphens.
fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn tls(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> Option<bool> {
    let on = r.boolean(value, path)?;
    if on && !cfg!(feature = "tls") {
        r.error(
            Some(value),
            path,
            "this build of lapps has no TLS support (the `tls` feature is off)",
        );
        return None;
    }
    Some(on)
}

fn tls_version(r: &mut Reader<'_>, value: &Value, path: &KeyPath) -> Option<TlsVersions> {
    let versions = read::integer(value)
        .and_then(|n| i64::try_from(n).ok())
        .and_then(|n| TlsVersions::from_lapps(n).ok());
    if versions.is_none() {
        r.error(
            Some(value),
            path,
            format!(
                "expected 3 (TLS 1.2 or newer) or 4 (TLS 1.3 only), found {}",
                read::found(value)
            ),
        );
    }
    versions
}

fn millis(r: &mut Reader<'_>, value: &Value, path: &KeyPath, min: u64) -> Option<Duration> {
    r.uint(value, path, Range::open(min, u64::MAX))
        .map(Duration::from_millis)
}

fn to_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

const U32: Range = Range::open(0, u32::MAX as u64);
const U64: Range = Range::open(0, u64::MAX);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        for ok in [
            "localhost",
            "example.com",
            "example.com.",
            "a-b.c1",
            "xn--bcher-kva.de",
        ] {
            assert!(is_host_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "-a.com",
            "a-.com",
            "a..b",
            "a b",
            "a_b",
            "exa mple",
            "1.2.3.4/8",
        ] {
            assert!(!is_host_name(bad), "{bad}");
        }
    }
}

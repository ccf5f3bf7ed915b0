//! Checks that involve more than one key: dependencies, request targets, and the server keys
//! that constrain each other.

use std::collections::{BTreeMap, BTreeSet};

use config::{Value, ValueKind};

use super::diagnostics::{KeyPath, quoted};
use super::read::Reader;
use super::services::ReadService;
use super::{BalancerStrategy, ServerSettings};

/// Filters `depends` (unknown names and self-references are skipped with a warning), rejects
/// dependency cycles, and checks that request targets are unique and not reserved.
pub(super) fn services(r: &mut Reader<'_>, services: &mut [ReadService<'_>], metrics: bool) {
    let names: BTreeSet<String> = services.iter().map(|s| s.name.clone()).collect();
    for service in services.iter_mut() {
        let mut kept: Vec<String> = Vec::new();
        for (dep, value, path) in &service.depends {
            if *dep == service.name {
                r.warning(
                    Some(value),
                    path,
                    "a service cannot depend on itself (skipped)",
                );
            } else if !names.contains(dep) {
                r.warning(
                    Some(value),
                    path,
                    format!("unknown service {} (skipped)", quoted(dep)),
                );
            } else if !kept.contains(dep) {
                kept.push(dep.clone());
            }
        }
        service.settings.depends = kept;
    }
    cycles(r, services);
    request_targets(r, services, metrics);
}

/// Cross-checks of the `ws.json` keys. `root` holds the top-level entries, for the origin of
/// each message.
pub(super) fn server(r: &mut Reader<'_>, root: &[(&str, &Value, KeyPath)], s: &ServerSettings) {
    let top = |name: &str| root.iter().find(|(key, ..)| *key == name).map(|e| e.1);
    if s.workers.workers == 0 && s.listeners != 0 {
        let value = top("workers").and_then(|w| child(w, "workers"));
        r.error(
            value,
            &KeyPath::root().key("workers").key("workers"),
            format!(
                "0 workers requires listeners: 0 (a process without listening sockets), \
                 but listeners is {}",
                s.listeners
            ),
        );
    }
    let (ping, idle) = (s.ping_interval, s.idle_timeout);
    if !idle.is_zero() && !ping.is_zero() && ping >= idle {
        r.warning(
            top("ping_interval_ms"),
            &KeyPath::root().key("ping_interval_ms"),
            format!(
                "{} is not smaller than idle_timeout_ms ({}): idle connections time out \
                 before they are pinged",
                ping.as_millis(),
                idle.as_millis()
            ),
        );
    }
}

/// Warns when `connection_weight` is set while nothing uses the weighted balancer.
pub(super) fn connection_weight(
    r: &mut Reader<'_>,
    root: &[(&str, &Value, KeyPath)],
    s: &ServerSettings,
    services: &[ReadService<'_>],
) {
    #[expect(
        clippy::float_cmp,
        reason = "1.0 is the exact default, not a computed value"
    )]
    let is_default = s.connection_weight == 1.0;
    let weighted = s.balancer == BalancerStrategy::Weighted
        || services
            .iter()
            .any(|svc| svc.settings.balancer == Some(BalancerStrategy::Weighted));
    if !is_default && !weighted {
        let value = root
            .iter()
            .find(|(key, ..)| *key == "connection_weight")
            .map(|e| e.1);
        r.warning(
            value,
            &KeyPath::root().key("connection_weight"),
            format!(
                "{:?} has no effect: no service uses the weighted balancer",
                s.connection_weight
            ),
        );
    }
}

fn child<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match &value.kind {
        ValueKind::Table(table) => table.get(key),
        _ => None,
    }
}

/// Reports each dependency cycle once, as `a -> b -> a`, at the `depends` of its first service.
fn cycles(r: &mut Reader<'_>, services: &[ReadService<'_>]) {
    let graph: BTreeMap<&str, &ReadService<'_>> =
        services.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut found: Vec<Vec<&str>> = Vec::new();
    for service in services {
        let mut stack = Vec::new();
        visit(
            &graph,
            service.name.as_str(),
            &mut stack,
            &mut done,
            &mut found,
        );
    }
    for cycle in found {
        let Some(first) = cycle.first().and_then(|name| graph.get(name)) else {
            continue;
        };
        let value = child(first.value, "depends").or(Some(first.value));
        r.error(
            value,
            &KeyPath::root()
                .key("services")
                .key(&first.name)
                .key("depends"),
            format!("dependency cycle {}", cycle.join(" -> ")),
        );
    }
}

/// Depth-first search; `stack` is the current path, `done` the nodes fully explored.
fn visit<'a>(
    graph: &BTreeMap<&'a str, &'a ReadService<'a>>,
    node: &'a str,
    stack: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
    found: &mut Vec<Vec<&'a str>>,
) {
    if done.contains(node) {
        return;
    }
    if let Some(pos) = stack.iter().position(|n| *n == node) {
        let mut cycle = stack[pos..].to_vec();
        cycle.push(node);
        found.push(cycle);
        return;
    }
    let Some(service) = graph.get(node) else {
        return;
    };
    stack.push(node);
    for dep in &service.settings.depends {
        if let Some((name, _)) = graph.get_key_value(dep.as_str()) {
            visit(graph, name, stack, done, found);
        }
    }
    stack.pop();
    done.insert(node);
}

fn request_targets(r: &mut Reader<'_>, services: &[ReadService<'_>], metrics: bool) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for service in services.iter().filter(|s| s.settings.is_reactive()) {
        let target = service.settings.request_target.as_str();
        let value = service.request_target.or(Some(service.value));
        let path = KeyPath::root()
            .key("services")
            .key(&service.name)
            .key("request_target");
        if metrics && (target == "/healthz" || target == "/metrics") {
            r.error(
                value,
                &path,
                format!("{} is reserved while metrics is on", quoted(target)),
            );
        } else if let Some(first) = seen.get(target) {
            r.error(
                value,
                &path,
                format!(
                    "{} is already the request target of service {first}",
                    quoted(target)
                ),
            );
        } else {
            seen.insert(target, &service.name);
        }
    }
}

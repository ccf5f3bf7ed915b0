//! The key names of every table, the single list that the reader (unknown-key warnings), the
//! environment overrides (case-insensitive matching) and the documentation test share.

/// One key of a table.
#[derive(Debug)]
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) shape: Shape,
}

/// What a key holds, as far as key paths go.
#[derive(Debug)]
pub(super) enum Shape {
    /// A value: scalar or array. A path cannot go below it.
    Leaf,
    /// A table with these keys.
    Table(&'static [Field]),
    /// `services`: a table keyed by service name, each a [`SERVICE`] table.
    Services,
    /// `extra_headers`: a table whose keys are header names chosen by the user.
    Headers,
}

/// Returns the field called `name` exactly.
pub(super) fn field(fields: &'static [Field], name: &str) -> Option<&'static Field> {
    fields.iter().find(|f| f.name == name)
}

/// Returns the field whose name matches `segment` ignoring ASCII case.
pub(super) fn field_ignore_case(fields: &'static [Field], segment: &str) -> Option<&'static Field> {
    fields.iter().find(|f| f.name.eq_ignore_ascii_case(segment))
}

/// Whether `key` of a service only applies to reactive services.
pub(super) fn reactive_only(key: &str) -> bool {
    REACTIVE_ONLY.contains(&key)
}

const fn leaf(name: &'static str) -> Field {
    Field {
        name,
        shape: Shape::Leaf,
    }
}

const fn table(name: &'static str, fields: &'static [Field]) -> Field {
    Field {
        name,
        shape: Shape::Table(fields),
    }
}

/// The keys of `ws.json`, at the top level of `lapps.toml` too.
pub(super) const WS: &[Field] = &[
    leaf("listeners"),
    leaf("connection_weight"),
    leaf("ip"),
    leaf("port"),
    leaf("lapps_config_auto_save"),
    table("workers", WORKERS),
    table("acl", ACL),
    leaf("tls"),
    leaf("tls_server_version"),
    leaf("tls_client_version"),
    table("tls_certificates", TLS_CERTIFICATES),
    leaf("idle_timeout_ms"),
    leaf("ping_interval_ms"),
    leaf("handshake_timeout_ms"),
    leaf("max_outbound_buffer"),
    leaf("max_header_size"),
    leaf("balancer"),
    leaf("metrics"),
];

/// The keys of `ws.json`'s `workers`.
pub(super) const WORKERS: &[Field] = &[
    leaf("workers"),
    leaf("max_connections"),
    leaf("auto_fragment"),
    leaf("input_buffer_size"),
    leaf("max_poll_events"),
    leaf("max_poll_wait_ms"),
    leaf("max_inbounds_skip"),
];

/// The keys of an `acl` table, global or per service.
pub(super) const ACL: &[Field] = &[leaf("policy"), leaf("exclude")];

/// The keys of `ws.json`'s `tls_certificates`.
pub(super) const TLS_CERTIFICATES: &[Field] = &[leaf("ca"), leaf("cert"), leaf("key")];

/// The keys of `lapps.json`, at the top level of `lapps.toml` too.
pub(super) const LAPPS: &[Field] = &[
    table("directories", DIRECTORIES),
    Field {
        name: "services",
        shape: Shape::Services,
    },
];

/// The keys of `lapps.json`'s `directories`.
pub(super) const DIRECTORIES: &[Field] = &[
    leaf("applications"),
    leaf("deploy"),
    leaf("tmp"),
    leaf("app_conf_dir"),
    leaf("workdir"),
];

/// The keys of one service in `lapps.json`'s `services`.
pub(super) const SERVICE: &[Field] = &[
    leaf("standalone"),
    leaf("internal"),
    leaf("instances"),
    leaf("auto_start"),
    leaf("preload"),
    leaf("depends"),
    leaf("request_target"),
    leaf("protocol"),
    leaf("max_inbound_message_size"),
    table("acl", ACL),
    Field {
        name: "extra_headers",
        shape: Shape::Headers,
    },
    leaf("proto_alias"),
    leaf("allowed_origins"),
    leaf("balancer"),
];

const REACTIVE_ONLY: &[&str] = &[
    "request_target",
    "protocol",
    "max_inbound_message_size",
    "acl",
    "extra_headers",
    "proto_alias",
    "allowed_origins",
    "balancer",
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every key path of the schema, as `docs/configuration.md` writes it (`workers.workers`,
    /// `services.NAME.acl.policy` is written `acl.policy` in the services table).
    fn paths(prefix: &str, fields: &'static [Field], out: &mut Vec<String>) {
        for f in fields {
            let path = format!("{prefix}{}", f.name);
            match f.shape {
                Shape::Table(inner) => paths(&format!("{path}."), inner, out),
                Shape::Services => paths("", SERVICE, out),
                Shape::Leaf | Shape::Headers => out.push(path),
            }
        }
    }

    #[test]
    fn docs_mention_every_key() {
        let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let doc = std::fs::read_to_string(doc).unwrap();
        let mut all = Vec::new();
        paths("", WS, &mut all);
        paths("", LAPPS, &mut all);
        assert!(all.len() > 40);
        for path in all {
            assert!(
                doc.contains(&format!("| `{path}` |")),
                "docs/configuration.md has no table row for `{path}`"
            );
        }
    }

    #[test]
    fn reactive_only_keys_are_service_keys() {
        for key in REACTIVE_ONLY {
            assert!(field(SERVICE, key).is_some(), "{key}");
        }
    }
}

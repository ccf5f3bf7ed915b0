//! `LAPPS_*` environment overrides (spec §2.7) and the environment snapshot (spec §2.3).

mod config_support;

use std::path::PathBuf;

use lapps_server::acl::AclPolicy;
use lapps_server::config::{Config, ConfigError, Env, Loaded};

use config_support::{error, load_json_env, warnings};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

const LAPPS: &str = r#"{"services": {"echo": {"instances": 4, "extra_headers": {"X-Mode": "a"}}, "Time_Broadcast": {"standalone": true}}}"#;

fn with(vars: &[(&str, &str)], ws: &str) -> std::result::Result<Loaded, ConfigError> {
    let mut pairs = vec![("LAPPS_HOME", "/srv/lapps")];
    pairs.extend_from_slice(vars);
    load_json_env(Some(ws), Some(LAPPS), &Env::from_pairs(pairs))
}

#[test]
#[cfg_attr(not(feature = "tls"), ignore = "LAPPS_TLS=true needs the tls feature")]
fn the_spec_examples() -> Result {
    let loaded = with(
        &[
            ("LAPPS_PORT", "6000"),
            ("LAPPS_WORKERS__WORKERS", "8"),
            ("LAPPS_TLS", "true"),
            ("LAPPS_SERVICES__ECHO__INSTANCES", "2"),
            ("LAPPS_ACL__EXCLUDE", r#"["10.0.0.0/8"]"#),
        ],
        r#"{"port": 5000, "workers": {"workers": 2, "max_connections": 7}}"#,
    )?;
    assert_eq!(warnings(&loaded), Vec::<String>::new());
    let c = &loaded.config;
    assert_eq!(c.server.port, 6000);
    assert_eq!(c.server.workers.workers, 8);
    assert_eq!(c.server.workers.max_connections, 7);
    assert!(c.server.tls);
    assert_eq!(c.services["echo"].instances, 2);
    assert!(!c.server.acl.permits("10.1.2.3".parse()?));
    Ok(())
}

#[test]
fn segments_match_key_names_ignoring_case() -> Result {
    let loaded = with(
        &[
            ("LAPPS_services__Echo__Instances", "3"),
            ("LAPPS_SERVICES__TIME_BROADCAST__AUTO_START", "false"),
            ("LAPPS_Max_Header_Size", "4096"),
        ],
        "{}",
    )?;
    assert_eq!(loaded.config.services["echo"].instances, 3);
    assert!(!loaded.config.services["Time_Broadcast"].auto_start);
    assert_eq!(loaded.config.server.max_header_size, 4096);
    Ok(())
}

#[test]
fn values_that_are_not_toml_are_strings() -> Result {
    let loaded = with(
        &[
            ("LAPPS_IP", "127.0.0.1"),
            ("LAPPS_ACL__POLICY", "deny"),
            ("LAPPS_SERVICES__ECHO__REQUEST_TARGET", "/e"),
            ("LAPPS_SERVICES__ECHO__PROTO_ALIAS", r#""1234""#),
        ],
        "{}",
    )?;
    let c = &loaded.config;
    assert_eq!(c.server.ip, "127.0.0.1");
    assert_eq!(c.server.acl.policy(), AclPolicy::Deny);
    assert_eq!(c.services["echo"].request_target, "/e");
    assert_eq!(c.services["echo"].proto_alias.as_deref(), Some("1234"));
    Ok(())
}

#[test]
fn errors_name_the_variable() {
    assert_eq!(
        error(with(&[("LAPPS_PORT", "70000")], "{}")),
        "LAPPS_PORT: port: expected an integer from 0 to 65535, found 70000"
    );
    assert_eq!(
        error(with(&[("LAPPS_WORKERS__WORKERS", "four")], "{}")),
        r#"LAPPS_WORKERS__WORKERS: workers.workers: expected a non-negative integer, found "four""#
    );
    assert_eq!(
        error(with(&[("LAPPS_SERVICES__ECHO__INSTANCES", "1.5")], "{}")),
        "LAPPS_SERVICES__ECHO__INSTANCES: services.echo.instances: expected a non-negative \
         integer, found 1.5"
    );
    assert_eq!(
        error(with(&[("LAPPS_WORKERS__WORKERS", "0")], "{}")),
        "LAPPS_WORKERS__WORKERS: workers.workers: 0 workers requires listeners: 0 (a process \
         without listening sockets), but listeners is 2"
    );
    assert_eq!(
        error(with(&[("LAPPS_ACL__EXCLUDE", r#"["10.0.0.1/8"]"#)], "{}")),
        r#"LAPPS_ACL__EXCLUDE: acl.exclude[0]: "10.0.0.1/8" has host bits set: write 10.0.0.0/8 for the network or 10.0.0.1/32 for the single host"#
    );
}

#[test]
fn overrides_apply_before_validation() -> Result {
    let loaded = with(&[("LAPPS_PORT", "80")], r#"{"port": 70000}"#)?;
    assert_eq!(loaded.config.server.port, 80);
    Ok(())
}

#[test]
fn a_table_override_merges_key_by_key() -> Result {
    let loaded = with(
        &[("LAPPS_WORKERS", "{ max_connections = 5, wrokers = 1 }")],
        r#"{"workers": {"workers": 3}}"#,
    )?;
    assert_eq!(loaded.config.server.workers.workers, 3);
    assert_eq!(loaded.config.server.workers.max_connections, 5);
    assert_eq!(
        warnings(&loaded),
        ["LAPPS_WORKERS: unknown key workers.wrokers (ignored)"]
    );
    Ok(())
}

#[test]
fn unknown_paths_warn_naming_the_variable() -> Result {
    let loaded = with(
        &[
            ("LAPPS_PROT", "1"),
            ("LAPPS_WORKERS__WROKERS", "1"),
            ("LAPPS_SERVICES__ECHO__INSTNACES", "1"),
            ("LAPPS_PORT__X", "1"),
            ("LAPPS_", "1"),
        ],
        "{}",
    )?;
    assert_eq!(
        warnings(&loaded),
        [
            r#"LAPPS_: unknown key "" (ignored)"#,
            "LAPPS_PORT__X: unknown key port.x (ignored)",
            "LAPPS_PROT: unknown key prot (ignored)",
            "LAPPS_SERVICES__ECHO__INSTNACES: unknown key services.echo.instnaces (ignored)",
            "LAPPS_WORKERS__WROKERS: unknown key workers.wrokers (ignored)",
        ]
    );
    assert_eq!(loaded.config.server.port, 5083);
    Ok(())
}

#[test]
fn an_override_cannot_create_a_service() -> Result {
    let loaded = with(
        &[
            ("LAPPS_SERVICES__NOPE__INSTANCES", "2"),
            ("LAPPS_SERVICES", r"{ nope = { instances = 1 } }"),
        ],
        "{}",
    )?;
    assert_eq!(
        loaded.config.services.keys().collect::<Vec<_>>(),
        ["Time_Broadcast", "echo"]
    );
    assert_eq!(
        warnings(&loaded),
        [
            "LAPPS_SERVICES: services: the set of services cannot be overridden; override \
             single keys, as in LAPPS_SERVICES__<NAME>__<KEY> (ignored)",
            r#"LAPPS_SERVICES__NOPE__INSTANCES: lapps.json defines no service "nope"; an override cannot create a service (ignored)"#,
        ]
    );
    Ok(())
}

#[test]
fn a_null_service_does_not_exist_for_overrides() -> Result {
    let env = Env::from_pairs([("LAPPS_SERVICES__GHOST__INSTANCES", "2")]);
    let loaded = load_json_env(
        None,
        Some(r#"{"services": {"ghost": null, "e": {}}}"#),
        &env,
    )?;
    assert_eq!(loaded.config.services.keys().collect::<Vec<_>>(), ["e"]);
    assert_eq!(
        warnings(&loaded),
        [
            r#"LAPPS_SERVICES__GHOST__INSTANCES: lapps.json defines no service "ghost"; an override cannot create a service (ignored)"#
        ]
    );
    Ok(())
}

#[test]
fn a_service_segment_that_matches_two_names_is_ambiguous() -> Result {
    let env = Env::from_pairs([("LAPPS_SERVICES__ECHO__INSTANCES", "2")]);
    let loaded = load_json_env(
        None,
        Some(r#"{"services": {"Echo": {}, "echo": {"request_target": "/e2"}}}"#),
        &env,
    )?;
    assert_eq!(
        warnings(&loaded),
        [
            r#"LAPPS_SERVICES__ECHO__INSTANCES: "ECHO" matches more than one service ("Echo", "echo"); write the name exactly (ignored)"#
        ]
    );
    let env = Env::from_pairs([("LAPPS_SERVICES__echo__INSTANCES", "2")]);
    let loaded = load_json_env(
        None,
        Some(r#"{"services": {"Echo": {}, "echo": {"request_target": "/e2"}}}"#),
        &env,
    )?;
    assert_eq!(loaded.config.services["echo"].instances, 2);
    assert_eq!(loaded.config.services["Echo"].instances, 1);
    Ok(())
}

#[test]
fn header_segments_match_the_files_headers() -> Result {
    let loaded = with(
        &[
            ("LAPPS_SERVICES__ECHO__EXTRA_HEADERS__x-mode", "b"),
            ("LAPPS_SERVICES__ECHO__EXTRA_HEADERS__X_OTHER", "c"),
        ],
        "{}",
    )?;
    assert_eq!(
        loaded.config.services["echo"].extra_headers,
        [("X-Mode".to_owned(), "b".to_owned())]
    );
    assert_eq!(
        warnings(&loaded),
        ["LAPPS_SERVICES__ECHO__EXTRA_HEADERS__X_OTHER: unknown key \
             services.echo.extra_headers.x_other (ignored)"]
    );
    Ok(())
}

#[test]
fn reserved_names_are_never_overrides() -> Result {
    let loaded = with(
        &[
            ("LAPPS_CONF_DIR", "/etc/lapps"),
            ("LAPPS_CONFIG", "lapps.json"),
            ("LAPPS_APPS_DIR", "/x/"),
            ("LAPPS_LOG", "debug"),
            ("RUST_LOG", "trace"),
            ("PORT", "1"),
        ],
        "{}",
    )?;
    assert_eq!(warnings(&loaded), Vec::<String>::new());
    let env = Env::from_pairs([
        ("LAPPS_HOME", "/h"),
        ("LAPPS_LOG", "debug"),
        ("LAPPS_PORT", "1"),
    ]);
    assert_eq!(
        env.overrides().collect::<Vec<_>>(),
        [("LAPPS_PORT", Some("1"))]
    );
    Ok(())
}

#[test]
fn the_environment_locates_the_installation() {
    let env = Env::from_pairs([("LAPPS_HOME", "/h")]);
    assert_eq!(env.lapps_home(), PathBuf::from("/h"));
    assert_eq!(env.conf_dir(), PathBuf::from("/h/etc/conf"));
    assert_eq!(env.ws_config(), PathBuf::from("ws.json"));
    assert_eq!(env.lapps_config(), PathBuf::from("lapps.json"));
    let env = Env::from_pairs([
        ("LAPPS_CONF_DIR", "/c"),
        ("WS_CONFIG", "/abs/ws.json"),
        ("LAPPS_CONFIG", "l.json"),
    ]);
    assert_eq!(env.lapps_home(), PathBuf::from("/opt/lapps"));
    assert_eq!(env.conf_dir(), PathBuf::from("/c"));
    assert_eq!(env.ws_config(), PathBuf::from("/abs/ws.json"));
    assert_eq!(env.lapps_config(), PathBuf::from("l.json"));
    // An empty value counts as unset.
    let env = Env::from_pairs([("LAPPS_HOME", ""), ("LAPPS_CONF_DIR", "")]);
    assert_eq!(env.conf_dir(), PathBuf::from("/opt/lapps/etc/conf"));
    let defaults = Config::defaults(&Env::from_pairs([("LAPPS_HOME", "/h")]));
    assert_eq!(defaults.directories.tmp, PathBuf::from("/h/tmp"));
    // The snapshot of the real process environment is just data.
    let _ = Env::from_process().lapps_home();
}

#[cfg(unix)]
#[test]
fn a_value_that_is_not_utf8_is_ignored() -> Result {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let env = Env::from_pairs([
        (OsStr::new("LAPPS_IP"), OsStr::from_bytes(b"\xff")),
        (OsStr::new("LAPPS_PORT"), OsStr::new("7")),
    ]);
    let loaded = load_json_env(None, Some(LAPPS), &env)?;
    assert_eq!(loaded.config.server.port, 7);
    assert_eq!(
        warnings(&loaded),
        ["LAPPS_IP: the value is not valid UTF-8 (ignored)"]
    );
    Ok(())
}

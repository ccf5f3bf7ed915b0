//! LAppS's `ws.json` and `lapps.json`: loading, defaults, and every error and warning of
//! spec §2 with its exact text.

mod config_support;

use std::path::PathBuf;
use std::time::Duration;

use lapps_server::acl::AclPolicy;
use lapps_server::config::{
    BalancerStrategy, Config, Env, Level, Protocol, ServiceSettings, load_lapps_dir,
};
use lapps_tls::TlsVersions;

use config_support::{
    ONE_SERVICE, env, error, errors, fixtures, lapps_error, lapps_warnings, load_json,
    load_json_env, scratch, warnings, ws_error, ws_warnings,
};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

#[test]
fn a_lapps_layout_loads_without_warnings() -> Result {
    let loaded = load_lapps_dir(&fixtures().join("lapps"), &env())?;
    assert_eq!(loaded.warnings, []);
    let c = &loaded.config;
    assert_eq!(c.server.listeners, 2);
    assert_eq!(c.server.ip, "0.0.0.0");
    assert_eq!(c.server.port, 5083);
    assert_eq!(c.server.workers.workers, 3);
    assert_eq!(c.server.workers.max_connections, 20000);
    assert_eq!(c.server.workers.max_poll_events, 256);
    assert!(!c.server.tls);
    assert_eq!(c.server.tls_server_version, TlsVersions::Tls13Only);
    assert_eq!(c.server.tls_client_version, TlsVersions::Tls12OrNewer);
    assert_eq!(
        c.server.tls_certificates.key,
        PathBuf::from("/opt/lapps/conf/ssl/example.org.key")
    );
    assert!(!c.server.acl.permits("10.13.1.1".parse()?));
    assert!(c.server.acl.permits("10.14.1.1".parse()?));
    assert_eq!(c.directories.applications, PathBuf::from("/srv/lapps/apps"));
    assert_eq!(
        c.services.keys().collect::<Vec<_>>(),
        ["echo", "echo_lapps", "time_broadcast"]
    );

    let echo = &c.services["echo"];
    assert_eq!(echo.instances, 4);
    assert_eq!(echo.protocol, Protocol::Raw);
    assert_eq!(echo.preload, Vec::<String>::new());

    let lapps = &c.services["echo_lapps"];
    assert_eq!(lapps.protocol, Protocol::LAppS);
    assert_eq!(lapps.max_inbound_message_size, 2_097_152);
    assert_eq!(lapps.preload, ["time"]);
    assert_eq!(lapps.depends, ["time_broadcast"]);
    assert_eq!(lapps.proto_alias.as_deref(), Some("echo.lapps"));
    assert_eq!(
        lapps.extra_headers,
        [
            ("X-Powered-By".to_owned(), "lapps".to_owned()),
            ("Server".to_owned(), "echo/1.0".to_owned())
        ]
    );
    assert_eq!(lapps.acl.policy(), AclPolicy::Deny);
    assert!(lapps.acl.permits("::1".parse()?));
    assert!(!lapps.acl.permits("192.0.2.1".parse()?));

    let time = &c.services["time_broadcast"];
    assert!(time.standalone);
    assert_eq!(time.preload, ["nap"]);
    assert_eq!(loaded.files.len(), 2);
    assert!(
        loaded.files[1]
            .text
            .as_deref()
            .unwrap()
            .contains("echo_lapps")
    );
    Ok(())
}

#[test]
fn missing_files_mean_all_defaults() -> Result {
    let loaded = load_json(None, None)?;
    let mut expected = Config::defaults(&env());
    expected.services.clear();
    assert_eq!(loaded.config, expected);
    let notes: Vec<_> = loaded
        .warnings
        .iter()
        .map(|d| (d.level(), d.source().to_owned()))
        .collect();
    assert_eq!(
        notes,
        [
            (Level::Info, "ws.json".to_owned()),
            (Level::Info, "lapps.json".to_owned()),
            (Level::Warning, "lapps.json".to_owned())
        ]
    );
    assert!(
        loaded.warnings[0]
            .message()
            .ends_with("does not exist; the defaults apply")
    );
    assert_eq!(
        loaded.warnings[2].to_string(),
        "lapps.json: no services are configured"
    );
    Ok(())
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::builtin_default();
    let s = &c.server;
    assert_eq!(s.listeners, 2);
    assert!((s.connection_weight - 1.0).abs() < f64::EPSILON);
    assert_eq!((s.ip.as_str(), s.port), ("0.0.0.0", 5083));
    assert!(s.lapps_config_auto_save);
    assert!(s.workers.workers >= 1);
    assert_eq!(s.workers.max_connections, 10_000);
    assert!(!s.workers.auto_fragment);
    assert_eq!(s.workers.input_buffer_size, 2048);
    assert_eq!(
        (
            s.workers.max_poll_events,
            s.workers.max_poll_wait_ms,
            s.workers.max_inbounds_skip
        ),
        (300, 10, 50)
    );
    assert_eq!(s.acl.policy(), AclPolicy::Allow);
    assert!(s.acl.exclude().is_empty());
    assert!(!s.tls);
    assert_eq!(s.tls_server_version, TlsVersions::Tls12OrNewer);
    assert_eq!(s.tls_client_version, TlsVersions::Tls12OrNewer);
    assert_eq!(
        s.tls_certificates.ca,
        PathBuf::from("/opt/lapps/etc/ssl/certs/localhost.ca.pem")
    );
    assert_eq!(
        s.tls_certificates.cert,
        PathBuf::from("/opt/lapps/etc/ssl/certs/localhost.crt")
    );
    assert_eq!(
        s.tls_certificates.key,
        PathBuf::from("/opt/lapps/etc/ssl/certs/localhost.key")
    );
    assert_eq!(s.idle_timeout, Duration::from_secs(120));
    assert_eq!(s.ping_interval, Duration::from_secs(30));
    assert_eq!(s.handshake_timeout, Duration::from_secs(10));
    assert_eq!(s.max_outbound_buffer, 4_194_304);
    assert_eq!(s.max_header_size, 8192);
    assert_eq!(s.balancer, BalancerStrategy::RoundRobin);
    assert!(!s.metrics);
    let d = &c.directories;
    assert_eq!(d.applications, PathBuf::from("/opt/lapps/apps"));
    assert_eq!(d.deploy, PathBuf::from("/opt/lapps/deploy"));
    assert_eq!(d.tmp, PathBuf::from("/opt/lapps/tmp"));
    assert_eq!(d.app_conf_dir, PathBuf::from("/opt/lapps/etc"));
    assert_eq!(d.workdir, PathBuf::from("/opt/lapps/workdir"));
    assert!(c.services.is_empty());

    let svc = ServiceSettings::reactive("echo");
    assert!(!svc.standalone);
    assert_eq!(svc.instances, 1);
    assert!(svc.auto_start);
    assert_eq!(svc.request_target, "/echo");
    assert_eq!(svc.protocol, Protocol::Raw);
    assert_eq!(svc.max_inbound_message_size, 16 * 1024 * 1024);
    assert_eq!(svc.acl.policy(), AclPolicy::Allow);
    assert_eq!(svc.proto_alias, None);
    assert_eq!(svc.balancer, None);
    assert!(ServiceSettings::standalone().standalone);
}

#[test]
fn objects_merge_key_by_key_and_null_is_absent() -> Result {
    let loaded = load_json(
        Some(r#"{"workers": {"max_connections": 5}, "port": null, "acl": {"policy": "deny"}}"#),
        Some(
            r#"{"directories": {"tmp": "/var/tmp/lapps"}, "services": {"echo": {"instances": null, "acl": {"exclude": ["::1"]}}}}"#,
        ),
    )?;
    let c = &loaded.config;
    let defaults = Config::defaults(&env());
    assert_eq!(c.server.workers.max_connections, 5);
    assert_eq!(c.server.workers.input_buffer_size, 2048);
    assert_eq!(c.server.workers.workers, defaults.server.workers.workers);
    assert_eq!(c.server.port, 5083);
    assert_eq!(c.server.acl.policy(), AclPolicy::Deny);
    assert_eq!(c.directories.tmp, PathBuf::from("/var/tmp/lapps"));
    assert_eq!(c.directories.deploy, PathBuf::from("/srv/lapps/deploy"));
    let echo = &c.services["echo"];
    assert_eq!(echo.instances, 1);
    assert_eq!(echo.request_target, "/echo");
    assert_eq!(echo.acl.policy(), AclPolicy::Allow);
    assert_eq!(echo.acl.exclude().len(), 1);
    Ok(())
}

#[test]
fn the_services_are_exactly_the_files() -> Result {
    let loaded = load_json(None, Some(r#"{"services": {"a": {}, "b": null}}"#))?;
    assert_eq!(loaded.config.services.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(
        lapps_warnings(r#"{"services": {}}"#),
        ["lapps.json: no services are configured"]
    );
    Ok(())
}

#[test]
fn unknown_keys_warn_with_their_full_path() {
    let ws = r#"{
        "prot": 1,
        "workers": {"wrokers": 2},
        "acl": {"polcy": "deny"},
        "tls_certificates": {"pem": "x"},
        "directories": {}
    }"#;
    let lapps = r#"{
        "listeners": 2,
        "directories": {"apps": "x"},
        "services": {"echo": {"instnaces": 2, "acl": {"exclude": [], "mode": 1}}}
    }"#;
    let loaded = load_json(Some(ws), Some(lapps)).unwrap();
    assert_eq!(
        warnings(&loaded),
        [
            // The top level of a file first, then each table in the file's order.
            "ws.json: unknown key prot (ignored)",
            "ws.json: unknown key directories (ignored)",
            "ws.json: unknown key workers.wrokers (ignored)",
            "ws.json: unknown key acl.polcy (ignored)",
            "ws.json: unknown key tls_certificates.pem (ignored)",
            "lapps.json: unknown key listeners (ignored)",
            "lapps.json: unknown key directories.apps (ignored)",
            "lapps.json: unknown key services.echo.instnaces (ignored)",
            "lapps.json: unknown key services.echo.acl.mode (ignored)",
        ]
    );
}

#[test]
fn type_errors_name_file_key_and_value() {
    assert_eq!(
        ws_error(r#"{"workers": {"workers": "four"}}"#),
        r#"ws.json: workers.workers: expected a non-negative integer, found "four""#
    );
    assert_eq!(
        ws_error(r#"{"tls": "yes"}"#),
        r#"ws.json: tls: expected a boolean, found "yes""#
    );
    assert_eq!(
        ws_error(r#"{"ip": 127}"#),
        "ws.json: ip: expected a string, found 127"
    );
    assert_eq!(
        ws_error(r#"{"workers": [1]}"#),
        "ws.json: workers: expected an object, found an array"
    );
    assert_eq!(
        ws_error(r#"{"acl": {"exclude": "10.0.0.0/8"}}"#),
        r#"ws.json: acl.exclude: expected an array, found "10.0.0.0/8""#
    );
    assert_eq!(
        ws_error(r#"{"acl": {"exclude": ["::1", 7]}}"#),
        "ws.json: acl.exclude[1]: expected a string, found 7"
    );
    assert_eq!(
        lapps_error(r#"{"services": []}"#),
        "lapps.json: services: expected an object, found an array"
    );
    assert_eq!(
        lapps_error(r#"{"services": {"echo": true}}"#),
        "lapps.json: services.echo: expected an object, found true"
    );
}

#[test]
fn integers_accept_integral_numbers_only() -> Result {
    let loaded = load_json(
        Some(r#"{"listeners": 4.0, "port": 80.0}"#),
        Some(ONE_SERVICE),
    )?;
    assert_eq!(loaded.config.server.listeners, 4);
    assert_eq!(loaded.config.server.port, 80);
    assert_eq!(
        ws_error(r#"{"listeners": 4.5}"#),
        "ws.json: listeners: expected a non-negative integer, found 4.5"
    );
    assert_eq!(
        ws_error(r#"{"listeners": -1}"#),
        "ws.json: listeners: expected a non-negative integer, found -1"
    );
    assert_eq!(
        ws_error(r#"{"listeners": 4294967296}"#),
        "ws.json: listeners: expected a non-negative integer no larger than 4294967295, \
         found 4294967296"
    );
    Ok(())
}

#[test]
fn ranges_of_the_ws_keys() {
    let cases = [
        (
            r#"{"port": 65536}"#,
            "ws.json: port: expected an integer from 0 to 65535, found 65536",
        ),
        (
            r#"{"max_header_size": 1023}"#,
            "ws.json: max_header_size: expected an integer from 1024 to 1048576, found 1023",
        ),
        (
            r#"{"max_header_size": 1048577}"#,
            "ws.json: max_header_size: expected an integer from 1024 to 1048576, found 1048577",
        ),
        (
            r#"{"max_outbound_buffer": 1023}"#,
            "ws.json: max_outbound_buffer: expected an integer >= 1024, found 1023",
        ),
        (
            r#"{"handshake_timeout_ms": 0}"#,
            "ws.json: handshake_timeout_ms: expected an integer >= 1, found 0",
        ),
        (
            r#"{"idle_timeout_ms": -5}"#,
            "ws.json: idle_timeout_ms: expected a non-negative integer, found -5",
        ),
        (
            r#"{"workers": {"max_connections": 0}}"#,
            "ws.json: workers.max_connections: expected an integer >= 1, found 0",
        ),
        (
            r#"{"workers": {"input_buffer_size": 0}}"#,
            "ws.json: workers.input_buffer_size: expected an integer >= 1, found 0",
        ),
        (
            r#"{"workers": {"max_poll_events": "many"}}"#,
            r#"ws.json: workers.max_poll_events: expected a non-negative integer, found "many""#,
        ),
        (
            r#"{"connection_weight": 0}"#,
            "ws.json: connection_weight: expected a number > 0, found 0",
        ),
        (
            r#"{"connection_weight": -1.5}"#,
            "ws.json: connection_weight: expected a number > 0, found -1.5",
        ),
        (
            r#"{"ip": "not an address"}"#,
            r#"ws.json: ip: expected an IP address or a host name, found "not an address""#,
        ),
        (
            r#"{"tls_server_version": 2}"#,
            "ws.json: tls_server_version: expected 3 (TLS 1.2 or newer) or 4 (TLS 1.3 only), \
             found 2",
        ),
        (
            r#"{"tls_client_version": 5}"#,
            "ws.json: tls_client_version: expected 3 (TLS 1.2 or newer) or 4 (TLS 1.3 only), \
             found 5",
        ),
        (
            r#"{"balancer": "random"}"#,
            r#"ws.json: balancer: expected one of "round_robin", "least_connections", "weighted", found "random""#,
        ),
        (
            r#"{"acl": {"policy": "Deny"}}"#,
            r#"ws.json: acl.policy: expected "allow" or "deny", found "Deny""#,
        ),
        (
            r#"{"tls_certificates": {"cert": ""}}"#,
            r#"ws.json: tls_certificates.cert: expected a path, found """#,
        ),
    ];
    for (ws, expected) in cases {
        assert_eq!(ws_error(ws), expected, "{ws}");
    }
}

#[test]
fn accepted_values_of_the_ws_keys() -> Result {
    let ws = r#"{
        "listeners": 0, "workers": {"workers": 0, "max_poll_events": 0},
        "port": 0, "ip": "::", "max_header_size": 1048576, "max_outbound_buffer": 1024,
        "handshake_timeout_ms": 1, "idle_timeout_ms": 0, "ping_interval_ms": 0,
        "balancer": "weighted", "connection_weight": 2.5, "metrics": true,
        "tls_server_version": 3.0, "tls_client_version": 4
    }"#;
    let loaded = load_json(Some(ws), Some(ONE_SERVICE))?;
    assert_eq!(warnings(&loaded), Vec::<String>::new());
    let s = &loaded.config.server;
    assert_eq!((s.listeners, s.workers.workers, s.port), (0, 0, 0));
    assert_eq!(s.idle_timeout, Duration::ZERO);
    assert_eq!(s.handshake_timeout, Duration::from_millis(1));
    assert_eq!(s.balancer, BalancerStrategy::Weighted);
    assert_eq!(s.tls_client_version, TlsVersions::Tls13Only);
    let loaded = load_json(Some(r#"{"ip": "lapps.example.org"}"#), Some(ONE_SERVICE))?;
    assert_eq!(loaded.config.server.ip, "lapps.example.org");
    Ok(())
}

#[test]
fn tls_needs_the_tls_feature() -> Result {
    let result = load_json(Some(r#"{"tls": true}"#), Some(ONE_SERVICE));
    if cfg!(feature = "tls") {
        assert!(result?.config.server.tls);
    } else {
        assert_eq!(
            error(result),
            "ws.json: tls: this build of lapps has no TLS support (the `tls` feature is off)"
        );
    }
    Ok(())
}

#[test]
fn zero_workers_need_zero_listeners() {
    assert_eq!(
        ws_error(r#"{"workers": {"workers": 0}}"#),
        "ws.json: workers.workers: 0 workers requires listeners: 0 (a process without \
         listening sockets), but listeners is 2"
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let ws = r#"{"port": 70000, "workers": {"workers": "four"}, "tls_server_version": 2}"#;
    let lapps = r#"{"services": {"a": {"instances": -1}, "b": {"protocol": "lapps"}}}"#;
    let err = load_json(Some(ws), Some(lapps)).unwrap_err();
    let lines: Vec<String> = err.errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "ws.json: port: expected an integer from 0 to 65535, found 70000",
            r#"ws.json: workers.workers: expected a non-negative integer, found "four""#,
            "ws.json: tls_server_version: expected 3 (TLS 1.2 or newer) or 4 (TLS 1.3 only), \
             found 2",
            "lapps.json: services.a.instances: expected a non-negative integer, found -1",
            r#"lapps.json: services.b.protocol: expected "raw" or "LAppS", found "lapps""#,
        ]
    );
    assert_eq!(err.to_string(), lines.join("\n"));
}

#[test]
fn syntax_errors_give_line_and_column() {
    let errs = errors(load_json(
        Some("{\n  \"port\": 5083,\n  \"tls\": tru\n}"),
        Some("{\"services\": {\n\"echo\": {},\n}}"),
    ));
    assert_eq!(
        errs,
        [
            // serde_json's position: just past the newline that ended `tru`.
            "ws.json: syntax error at line 4, column 0: expected ident",
            "lapps.json: syntax error at line 3, column 1: trailing comma",
        ]
    );
    assert_eq!(
        error(load_json(Some("[1, 2]"), None)),
        "ws.json: expected an object at the top level"
    );
    assert_eq!(
        error(load_json(Some(""), None)),
        "ws.json: syntax error at line 1, column 0: EOF while parsing a value"
    );
}

#[test]
fn acl_entries_are_validated() {
    assert_eq!(
        ws_error(r#"{"acl": {"exclude": ["192.168.1.5/24"]}}"#),
        r#"ws.json: acl.exclude[0]: "192.168.1.5/24" has host bits set: write 192.168.1.0/24 for the network or 192.168.1.5/32 for the single host"#
    );
    assert_eq!(
        lapps_error(r#"{"services": {"echo": {"acl": {"exclude": ["::1", "fe80::1/129"]}}}}"#),
        r#"lapps.json: services.echo.acl.exclude[1]: "fe80::1/129": the prefix length must be from 0 to 128"#
    );
    assert_eq!(
        ws_error(r#"{"acl": {"exclude": ["localhost"]}}"#),
        r#"ws.json: acl.exclude[0]: "localhost" is not an IPv4 or IPv6 address or network"#
    );
}

#[test]
fn service_names_are_checked() {
    assert_eq!(
        lapps_error(r#"{"services": {"my.app": {}, "ok": {}}}"#),
        r#"lapps.json: services."my.app": invalid service name: use letters, digits, "_" and "-", not starting with "-""#
    );
    assert_eq!(
        lapps_error(r#"{"services": {"-x": {}}}"#),
        r#"lapps.json: services.-x: invalid service name: use letters, digits, "_" and "-", not starting with "-""#
    );
}

#[test]
fn service_values_are_checked() {
    let cases = [
        (
            r#"{"instances": 1.5}"#,
            "services.s.instances: expected a non-negative integer, found 1.5",
        ),
        (
            r#"{"auto_start": 1}"#,
            "services.s.auto_start: expected a boolean, found 1",
        ),
        (
            r#"{"max_inbound_message_size": 0}"#,
            "services.s.max_inbound_message_size: expected an integer >= 1, found 0",
        ),
        (
            r#"{"protocol": "lapps"}"#,
            r#"services.s.protocol: expected "raw" or "LAppS", found "lapps""#,
        ),
        (
            r#"{"balancer": "fastest"}"#,
            r#"services.s.balancer: expected one of "round_robin", "least_connections", "weighted", found "fastest""#,
        ),
        (
            r#"{"request_target": "echo"}"#,
            r#"services.s.request_target: expected a path starting with "/", found "echo""#,
        ),
        (
            r#"{"request_target": "/echo?x=1"}"#,
            r##"services.s.request_target: must not contain "?", "#", whitespace or control characters, found "/echo?x=1""##,
        ),
        (
            r#"{"request_target": "/a#b"}"#,
            r##"services.s.request_target: must not contain "?", "#", whitespace or control characters, found "/a#b""##,
        ),
        (
            r#"{"request_target": "/a b"}"#,
            r##"services.s.request_target: must not contain "?", "#", whitespace or control characters, found "/a b""##,
        ),
    ];
    for (service, expected) in cases {
        let lapps = format!(r#"{{"services": {{"s": {service}}}}}"#);
        assert_eq!(
            lapps_error(&lapps),
            format!("lapps.json: {expected}"),
            "{service}"
        );
    }
}

#[test]
fn handshake_values_of_services_are_checked() {
    let cases = [
        (
            r#"{"extra_headers": {"X Bad": "1"}}"#,
            r#"services.s.extra_headers."X Bad": invalid header name: expected an HTTP token"#,
        ),
        (
            r#"{"extra_headers": {"upgrade": "h2c"}}"#,
            "services.s.extra_headers.upgrade: reserved: the handshake sets this header itself",
        ),
        (
            r#"{"extra_headers": {"Sec-WebSocket-Protocol": "x"}}"#,
            "services.s.extra_headers.Sec-WebSocket-Protocol: reserved: the handshake sets \
             this header itself",
        ),
        (
            r#"{"extra_headers": {"X-A": "a\r\nSet-Cookie: x"}}"#,
            "services.s.extra_headers.X-A: a header value must not contain CR, LF or NUL",
        ),
        (
            r#"{"extra_headers": {"X-A": 1}}"#,
            "services.s.extra_headers.X-A: expected a string, found 1",
        ),
        (
            r#"{"extra_headers": ["X-A: 1"]}"#,
            "services.s.extra_headers: expected an object, found an array",
        ),
        (
            r#"{"proto_alias": "my proto"}"#,
            r#"services.s.proto_alias: expected an HTTP token, found "my proto""#,
        ),
        (
            r#"{"allowed_origins": ["https://ok.example", "example.com"]}"#,
            r#"services.s.allowed_origins[1]: expected "*" or an origin such as "https://example.com:8443", found "example.com""#,
        ),
        (
            r#"{"preload": "nap"}"#,
            r#"services.s.preload: expected an array, found "nap""#,
        ),
        (
            r#"{"depends": [1]}"#,
            "services.s.depends[0]: expected a string, found 1",
        ),
    ];
    for (service, expected) in cases {
        let lapps = format!(r#"{{"services": {{"s": {service}}}}}"#);
        assert_eq!(
            lapps_error(&lapps),
            format!("lapps.json: {expected}"),
            "{service}"
        );
    }
}

#[test]
fn accepted_service_values() -> Result {
    let lapps = r#"{"services": {"s": {
        "extra_headers": {"Server": "mine", "X-Frame-Options": "DENY"},
        "allowed_origins": ["*", "https://example.com:8443", "http://[::1]:5083"],
        "balancer": "least_connections", "proto_alias": "v2.lapps", "instances": 0.0
    }}}"#;
    let loaded = load_json(None, Some(lapps))?;
    let s = &loaded.config.services["s"];
    assert_eq!(s.extra_headers[0], ("Server".to_owned(), "mine".to_owned()));
    assert_eq!(s.allowed_origins.len(), 3);
    assert_eq!(s.balancer, Some(BalancerStrategy::LeastConnections));
    assert_eq!(s.instances, 0);
    assert_eq!(
        warnings(&loaded),
        ["lapps.json: services.s.instances: 0 instances: the service is configured but never runs"]
    );
    Ok(())
}

#[test]
fn request_targets_are_unique_and_not_reserved() {
    assert_eq!(
        lapps_error(
            r#"{"services": {"a": {"request_target": "/x"}, "b": {"request_target": "/x"}, "c": {"standalone": true}}}"#
        ),
        r#"lapps.json: services.b.request_target: "/x" is already the request target of service a"#
    );
    // The default target counts too.
    assert_eq!(
        lapps_error(r#"{"services": {"echo": {}, "other": {"request_target": "/echo"}}}"#),
        r#"lapps.json: services.other.request_target: "/echo" is already the request target of service echo"#
    );
    let metrics = Some(r#"{"metrics": true}"#);
    assert_eq!(
        error(load_json(
            metrics,
            Some(r#"{"services": {"m": {"request_target": "/metrics"}}}"#)
        )),
        r#"lapps.json: services.m.request_target: "/metrics" is reserved while metrics is on"#
    );
    assert_eq!(
        error(load_json(metrics, Some(r#"{"services": {"healthz": {}}}"#))),
        r#"lapps.json: services.healthz.request_target: "/healthz" is reserved while metrics is on"#
    );
    assert!(load_json(None, Some(r#"{"services": {"healthz": {}}}"#)).is_ok());
}

#[test]
fn internal_is_the_legacy_name_of_standalone() -> Result {
    let loaded = load_json(
        None,
        Some(r#"{"services": {"t": {"internal": true}, "e": {"internal": false}}}"#),
    )?;
    assert!(loaded.config.services["t"].standalone);
    assert!(!loaded.config.services["e"].standalone);
    assert_eq!(
        warnings(&loaded),
        [
            "lapps.json: services.t.internal: deprecated: write standalone: true instead",
            "lapps.json: services.e.internal: deprecated: write standalone: false instead",
        ]
    );
    assert_eq!(
        lapps_error(r#"{"services": {"t": {"internal": true, "standalone": false}}}"#),
        "lapps.json: services.t.internal: true contradicts standalone: false (internal is the \
         legacy name of standalone)"
    );
    let loaded = load_json(
        None,
        Some(r#"{"services": {"t": {"internal": true, "standalone": true}}}"#),
    )?;
    assert!(loaded.config.services["t"].standalone);
    Ok(())
}

#[test]
fn reactive_keys_on_a_standalone_service_are_ignored() -> Result {
    let loaded = load_json(
        None,
        Some(
            r#"{"services": {"t": {"standalone": true, "request_target": "/t", "protocol": "nonsense", "acl": {"policy": "deny"}}}}"#,
        ),
    )?;
    assert_eq!(
        warnings(&loaded),
        [
            "lapps.json: services.t.request_target: applies to reactive services only (ignored \
             for a standalone service)",
            "lapps.json: services.t.protocol: applies to reactive services only (ignored for a \
             standalone service)",
            "lapps.json: services.t.acl: applies to reactive services only (ignored for a \
             standalone service)",
        ]
    );
    assert_eq!(loaded.config.services["t"], ServiceSettings::standalone());
    Ok(())
}

#[test]
fn preload_keeps_known_modules() -> Result {
    let loaded = load_json(
        None,
        Some(
            r#"{"services": {"s": {"preload": ["nap", "bcast", "ws", "nljson", "cws", "socket", "nap", "time", "murmur", "mqr", "pam_auth"]}}}"#,
        ),
    )?;
    assert_eq!(
        loaded.config.services["s"].preload,
        ["nap", "cws", "time", "murmur", "mqr", "pam_auth"]
    );
    assert_eq!(
        warnings(&loaded),
        [r#"lapps.json: services.s.preload[5]: unknown module "socket" (ignored)"#]
    );
    Ok(())
}

#[test]
fn depends_skips_unknown_and_self_and_rejects_cycles() -> Result {
    let loaded = load_json(
        None,
        Some(r#"{"services": {"a": {"depends": ["ghost", "a", "b", "b"]}, "b": {}}}"#),
    )?;
    assert_eq!(loaded.config.services["a"].depends, ["b"]);
    assert_eq!(
        warnings(&loaded),
        [
            r#"lapps.json: services.a.depends[0]: unknown service "ghost" (skipped)"#,
            "lapps.json: services.a.depends[1]: a service cannot depend on itself (skipped)",
        ]
    );
    assert_eq!(
        lapps_error(r#"{"services": {"a": {"depends": ["b"]}, "b": {"depends": ["a"]}}}"#),
        "lapps.json: services.a.depends: dependency cycle a -> b -> a"
    );
    assert_eq!(
        errors(load_json(
            None,
            Some(
                r#"{"services": {"x": {"depends": ["y"]}, "y": {"depends": ["z"]}, "z": {"depends": ["y"]}, "p": {"depends": ["q"]}, "q": {"depends": ["p"]}}}"#
            )
        )),
        [
            "lapps.json: services.y.depends: dependency cycle y -> z -> y",
            "lapps.json: services.p.depends: dependency cycle p -> q -> p",
        ]
    );
    Ok(())
}

#[test]
fn related_ws_keys_warn() {
    assert_eq!(
        ws_warnings(r#"{"connection_weight": 2.5}"#),
        ["ws.json: connection_weight: 2.5 has no effect: no service uses the weighted balancer"]
    );
    assert!(ws_warnings(r#"{"connection_weight": 2.5, "balancer": "weighted"}"#).is_empty());
    let per_service = load_json(
        Some(r#"{"connection_weight": 2}"#),
        Some(r#"{"services": {"s": {"balancer": "weighted"}}}"#),
    )
    .unwrap();
    assert!(warnings(&per_service).is_empty());
    assert_eq!(
        ws_warnings(r#"{"ping_interval_ms": 60000, "idle_timeout_ms": 60000}"#),
        [
            "ws.json: ping_interval_ms: 60000 is not smaller than idle_timeout_ms (60000): idle \
             connections time out before they are pinged"
        ]
    );
    assert!(ws_warnings(r#"{"ping_interval_ms": 60000, "idle_timeout_ms": 0}"#).is_empty());
    assert!(ws_warnings(r#"{"ping_interval_ms": 0, "idle_timeout_ms": 10}"#).is_empty());
}

#[test]
fn paths_resolve_against_lapps_home() -> Result {
    let loaded = load_json(
        Some(r#"{"tls_certificates": {"cert": "certs/my.crt"}}"#),
        Some(
            r#"{"directories": {"applications": "/var/apps", "deploy": "d/deploy", "app_conf_dir": "x", "workdir": "/w"}, "services": {"e": {}}}"#,
        ),
    )?;
    let c = &loaded.config;
    assert_eq!(c.directories.applications, PathBuf::from("/var/apps"));
    assert_eq!(c.directories.deploy, PathBuf::from("/srv/lapps/d/deploy"));
    assert_eq!(c.directories.app_conf_dir, PathBuf::from("/srv/lapps/x"));
    assert_eq!(c.directories.workdir, PathBuf::from("/w"));
    // Relative to the working directory, as in LAppS: kept as written.
    assert_eq!(
        c.server.tls_certificates.cert,
        PathBuf::from("certs/my.crt")
    );
    assert_eq!(
        c.server.tls_certificates.key,
        PathBuf::from("/srv/lapps/etc/ssl/certs/localhost.key")
    );
    Ok(())
}

#[test]
fn file_names_come_from_the_environment() -> Result {
    let elsewhere = scratch(&[("server.json", r#"{"port": 7000}"#)]);
    let dir = scratch(&[("apps.json", r#"{"services": {"x": {"instnaces": 1}}}"#)]);
    let env = Env::from_pairs([
        ("WS_CONFIG", elsewhere.join("server.json").to_str().unwrap()),
        ("LAPPS_CONFIG", "apps.json"),
    ]);
    let loaded = load_lapps_dir(&dir, &env)?;
    assert_eq!(loaded.config.server.port, 7000);
    assert_eq!(
        warnings(&loaded),
        ["apps.json: unknown key services.x.instnaces (ignored)"]
    );
    Ok(())
}

#[test]
fn unreadable_files_are_errors() {
    let dir = scratch(&[]);
    std::fs::create_dir(dir.join("ws.json")).unwrap();
    let err = error(load_lapps_dir(&dir, &env()));
    assert!(err.starts_with("ws.json: cannot read "), "{err}");
}

#[test]
fn overrides_apply_to_json_too() -> Result {
    let env = Env::from_pairs([
        ("LAPPS_WORKERS__WORKERS", "8"),
        ("LAPPS_SERVICES__ECHO__INSTANCES", "2"),
    ]);
    let loaded = load_json_env(Some("{}"), Some(ONE_SERVICE), &env)?;
    assert_eq!(loaded.config.server.workers.workers, 8);
    assert_eq!(loaded.config.services["echo"].instances, 2);
    Ok(())
}

//! The native `lapps.toml` (spec §2.7): the same keys, semantics and messages as the JSON pair.

mod config_support;

use std::fs;

use lapps_server::config::{Config, Env, Level, Protocol, discover, load_lapps_dir, load_toml};

use config_support::{env, error, errors, fixtures, scratch, warnings};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn toml_error(text: &str) -> String {
    error(Config::from_toml_str(text, &env()))
}

fn toml_warnings(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, &env()) {
        Ok(loaded) => warnings(&loaded),
        Err(err) => panic!("{err}"),
    }
}

#[test]
fn the_toml_form_equals_the_json_pair() -> Result {
    let json = load_lapps_dir(&fixtures().join("lapps"), &env())?;
    let toml = load_toml(&fixtures().join("lapps.toml"), &env())?;
    assert_eq!(toml.warnings, []);
    assert_eq!(toml.config, json.config);
    assert_eq!(toml.files.len(), 1);
    assert_eq!(toml.files[0].name, "lapps.toml");
    Ok(())
}

#[test]
fn the_spec_example_loads() -> Result {
    let loaded = Config::from_toml_str(
        r#"
        port = 5083
        tls = false
        metrics = true

        [workers]
        workers = 4
        auto_fragment = true

        [directories]
        applications = "apps"

        [services.echo]
        request_target = "/echo"
        protocol = "raw"
        instances = 4

        [services.time_broadcast]
        standalone = true
        preload = ["nap"]
        "#,
        &env(),
    )?;
    assert_eq!(loaded.warnings, []);
    let c = &loaded.config;
    assert!(c.server.metrics);
    assert_eq!(c.server.workers.workers, 4);
    assert!(c.server.workers.auto_fragment);
    assert_eq!(c.services["echo"].instances, 4);
    assert_eq!(c.services["echo"].protocol, Protocol::Raw);
    assert!(c.services["time_broadcast"].standalone);
    Ok(())
}

#[test]
fn messages_are_those_of_the_json_files() {
    assert_eq!(
        toml_error("[workers]\nworkers = \"four\""),
        r#"lapps.toml: workers.workers: expected a non-negative integer, found "four""#
    );
    assert_eq!(
        toml_error("port = 70000\n[services.echo]"),
        "lapps.toml: port: expected an integer from 0 to 65535, found 70000"
    );
    assert_eq!(
        toml_error("listeners = 4.5\n[services.echo]"),
        "lapps.toml: listeners: expected a non-negative integer, found 4.5"
    );
    assert_eq!(
        toml_error("[services.echo]\nrequest_target = \"echo\""),
        r#"lapps.toml: services.echo.request_target: expected a path starting with "/", found "echo""#
    );
    assert_eq!(
        toml_warnings("prot = 1\n[directories]\nport = 1\n[services.echo]\ninstnaces = 2"),
        [
            "lapps.toml: unknown key prot (ignored)",
            "lapps.toml: unknown key directories.port (ignored)",
            "lapps.toml: unknown key services.echo.instnaces (ignored)",
        ]
    );
    assert_eq!(
        toml_warnings("port = 1"),
        ["lapps.toml: no services are configured"]
    );
}

#[test]
fn integral_floats_are_integers_in_toml_too() -> Result {
    let loaded = Config::from_toml_str("listeners = 3.0\n[services.e]\ninstances = 2.0", &env())?;
    assert_eq!(loaded.config.server.listeners, 3);
    assert_eq!(loaded.config.services["e"].instances, 2);
    Ok(())
}

#[test]
fn non_finite_numbers_are_invalid() {
    assert_eq!(
        toml_error("connection_weight = inf\n[services.e]"),
        "lapps.toml: connection_weight: expected a number > 0, found inf"
    );
    assert_eq!(
        toml_error("connection_weight = nan\n[services.e]"),
        "lapps.toml: connection_weight: expected a number > 0, found NaN"
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    assert_eq!(
        toml_error("port = 5083\ntls = tru\n"),
        "lapps.toml: syntax error at line 2, column 7: invalid boolean, expected `true`"
    );
    let errs = errors(Config::from_toml_str(
        "[services.a]\n[services.a]\n",
        &env(),
    ));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("lapps.toml: syntax error at line 2, column 1"),
        "{}",
        errs[0]
    );
}

#[test]
fn a_toml_file_in_the_conf_dir_wins() -> Result {
    let dir = scratch(&[
        ("lapps.toml", "port = 6000\n[services.t]\nstandalone = true"),
        ("ws.json", r#"{"port": 7000}"#),
        ("lapps.json", "{ this is not even JSON"),
    ]);
    let loaded = discover(&dir, &env())?;
    assert_eq!(loaded.config.server.port, 6000);
    assert_eq!(
        warnings(&loaded),
        ["lapps.toml: ws.json and lapps.json in the same directory are ignored"]
    );
    fs::remove_file(dir.join("lapps.json"))?;
    let loaded = discover(&dir, &env())?;
    assert_eq!(
        warnings(&loaded),
        ["lapps.toml: ws.json in the same directory is ignored"]
    );
    fs::remove_file(dir.join("lapps.toml"))?;
    let loaded = discover(&dir, &env())?;
    assert_eq!(loaded.config.server.port, 7000);
    assert_eq!(loaded.warnings[0].level(), Level::Info);
    assert_eq!(loaded.warnings[0].source(), "lapps.json");
    Ok(())
}

#[test]
fn an_explicit_toml_file_must_exist() {
    let dir = scratch(&[]);
    let err = error(load_toml(&dir.join("lapps.toml"), &env()));
    assert!(err.starts_with("lapps.toml: cannot read "), "{err}");
}

#[test]
fn the_file_name_is_the_one_given() {
    let dir = scratch(&[("site.toml", "port = \"x\"")]);
    assert_eq!(
        error(load_toml(&dir.join("site.toml"), &env())),
        r#"site.toml: port: expected an integer from 0 to 65535, found "x""#
    );
}

#[test]
fn overrides_apply_to_toml() -> Result {
    let env = Env::from_pairs([
        ("LAPPS_SERVICES__ECHO__PROTOCOL", "LAppS"),
        ("LAPPS_PORT", "1"),
    ]);
    let loaded = Config::from_toml_str("port = 2\n[services.echo]\n", &env)?;
    assert_eq!(loaded.config.server.port, 1);
    assert_eq!(loaded.config.services["echo"].protocol, Protocol::LAppS);
    Ok(())
}

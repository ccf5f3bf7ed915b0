//! The `lapps` binary: parses the command line, loads the configuration, runs the server
//! until a signal, and maps failures to exit codes (0 clean, 1 failure, 2 usage).

mod args;
mod logging;
mod signals;

use std::process::ExitCode;

use clap::Parser;
use lapps_server::config::{self, Config, ConfigError, Env, Level, Loaded};
use lapps_server::{Server, ServerBuilder, listen_address, lua};

use crate::args::{Args, Command, ConfigSource};

/// mimalloc, not glibc's malloc: see docs/performance.md, "Allocator".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = logging::init(&args) {
        return fail(&error);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the runtime: {error}")),
    };
    let env = Env::from_process();
    let result = match &args.command {
        None => runtime.block_on(serve(default_config(), true, args.listen.as_deref())),
        Some(Command::Run(source)) => match load(source, &env) {
            Ok(loaded) => {
                log_diagnostics(&loaded);
                runtime.block_on(serve(loaded.config, false, args.listen.as_deref()))
            }
            Err(error) => Err(error.to_string()),
        },
        Some(Command::Check(source)) => check(source, &env),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// The built-in default configuration: every default of spec §2.4, on 127.0.0.1.
fn default_config() -> Config {
    let mut config = Config::builtin_default();
    "127.0.0.1".clone_into(&mut config.server.ip);
    config
}

fn load(source: &ConfigSource, env: &Env) -> Result<Loaded, ConfigError> {
    let loaded = match (&source.config, &source.config_dir) {
        (Some(file), _) => config::load_toml(file, env)?,
        (None, Some(dir)) => config::discover(dir, env)?,
        (None, None) => config::discover(&env.conf_dir(), env)?,
    };
    Ok(loaded)
}

/// Logs the notes and warnings of a loaded configuration at their level.
fn log_diagnostics(loaded: &Loaded) {
    for diagnostic in &loaded.warnings {
        if diagnostic.level() == Level::Info {
            tracing::info!("{diagnostic}");
        } else {
            tracing::warn!("{diagnostic}");
        }
    }
}

#[expect(clippy::print_stdout, reason = "check reports to the terminal")]
fn check(source: &ConfigSource, env: &Env) -> Result<(), String> {
    let loaded = match load(source, env) {
        Ok(loaded) => loaded,
        Err(error) => {
            for warning in error.warnings() {
                println!("{}: {warning}", warning.level());
            }
            return Err(error.to_string());
        }
    };
    for diagnostic in &loaded.warnings {
        println!("{}: {diagnostic}", diagnostic.level());
    }
    let lua_errors = lua::check_config(&loaded.config);
    for error in &lua_errors {
        println!("error: {error}");
    }
    if !lua_errors.is_empty() {
        return Err(format!(
            "{} service(s) have Lua code that does not load",
            lua_errors.len()
        ));
    }
    println!(
        "configuration is valid: {} service(s)",
        loaded.config.services.len()
    );
    Ok(())
}

/// Serves `config`'s Lua services, or with `builtin`, the built-in default services: echo at
/// `/echo`, `echo_lapps` at `/echo_lapps`, `time_broadcast` and `broadcast_blob`.
async fn serve(config: Config, builtin: bool, listen: Option<&str>) -> Result<(), String> {
    let mut builder = ServerBuilder::from_config(&config).map_err(|e| e.to_string())?;
    let (reactive, standalone) = if builtin {
        lua::builtin_services()
    } else {
        lua::services_from_config(&config)
    };
    for service in reactive {
        builder = builder.service(service);
    }
    for service in standalone {
        builder = builder.standalone(service);
    }
    let server: Server = match listen
        .map(str::to_owned)
        .or_else(|| listen_address(&config))
    {
        Some(addr) => builder.bind(addr).await,
        None => builder.start().await,
    }
    .map_err(|e| e.to_string())?;
    announce(&server);
    tokio::spawn(signals::watch(server.shutdown_handle()));
    server.await.map_err(|e| e.to_string())
}

/// Prints the bound addresses on standard error in a fixed form that scripts and tests read:
/// `lapps: listening on ws://ADDR` (or `wss://`), one line per address.
#[expect(
    clippy::print_stderr,
    reason = "the bound address is part of the binary's output"
)]
fn announce(server: &Server) {
    let scheme = if server.is_tls() { "wss" } else { "ws" };
    for addr in server.local_addrs() {
        eprintln!("lapps: listening on {scheme}://{addr}");
    }
}

#[expect(clippy::print_stderr, reason = "a binary reports its failure")]
fn fail(message: &str) -> ExitCode {
    eprintln!("lapps: {message}");
    ExitCode::FAILURE
}

//! `lapps-load`: the closed-loop WebSocket load generator of lapps.
//!
//! ```text
//! lapps-load echo  ws://127.0.0.1:5083/echo -c 100 -d 5
//! lapps-load echo  ws://127.0.0.1:5083/echo_lapps --protocol lapps -n 100000
//! lapps-load idle  ws://127.0.0.1:5083/echo -c 10000 --hold 30
//! lapps-load bcast ws://127.0.0.1:5083/bcast_bench -c 1000 --window 4
//! ```
//!
//! It prints one JSON line on stdout and exits with 1 if a connection failed to open or an
//! error was counted, 2 if the run could not be set up. See the library (`benches/lib.rs`)
//! and `benches/README.md` for the flags and the JSON fields.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;
use lapps_bench::args::{Cli, Command};
use lapps_bench::report::Progress;
use lapps_bench::{BoxError, bcast, echo, idle};
use serde::Serialize;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error.into()),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => fail(&error),
    }
}

/// Runs one mode and prints its report; returns whether the run was clean.
async fn run(command: Command) -> Result<bool, BoxError> {
    match command {
        Command::Echo(args) => {
            let progress = Progress::stderr(args.common.quiet);
            let report = echo::run(&args, &progress).await?;
            print_errors(report.errors, &report.error_samples);
            print_line(&report)?;
            Ok(report.errors == 0 && report.open == report.connections)
        }
        Command::Idle(args) => {
            let progress = Progress::stderr(args.common.quiet);
            let held = idle::open(&args, &progress).await?;
            let report = held.report().clone();
            print_errors(report.errors, &report.error_samples);
            print_line(&report)?;
            let closed = held.hold_until(hold(args.hold)).await;
            if closed > 0 {
                note(&format!(
                    "the server closed {closed} of the {} connections while they were held",
                    report.open
                ));
            }
            Ok(report.errors == 0 && report.open == report.connections)
        }
        Command::Bcast(args) => {
            let progress = Progress::stderr(args.common.quiet);
            let report = bcast::run(&args, &progress).await?;
            print_errors(report.errors, &report.error_samples);
            print_line(&report)?;
            Ok(report.errors == 0 && report.open == report.connections)
        }
    }
}

/// Completes after `limit`, or at stdin's EOF, whichever comes first; with no limit, at EOF.
async fn hold(limit: Option<Duration>) {
    let eof = idle::stdin_eof();
    match limit {
        Some(limit) => {
            tokio::select! {
                () = eof => {}
                () = tokio::time::sleep(limit) => {}
            }
        }
        None => eof.await,
    }
}

#[expect(clippy::print_stdout, reason = "the report line is the tool's output")]
fn print_line(report: &impl Serialize) -> Result<(), BoxError> {
    println!("{}", serde_json::to_string(report)?);
    std::io::stdout().flush()?;
    Ok(())
}

fn print_errors(count: u64, samples: &[String]) {
    for sample in samples {
        note(&format!("error: {sample}"));
    }
    let shown = samples.len() as u64;
    if count > shown {
        note(&format!("... and {} more errors", count - shown));
    }
}

#[expect(clippy::print_stderr, reason = "errors are reported on stderr")]
fn note(text: &str) {
    eprintln!("lapps-load: {text}");
}

fn fail(error: &BoxError) -> ExitCode {
    note(&format!("error: {error}"));
    ExitCode::from(2)
}

//! Conformance of the `lapps` binary: Autobahn TestSuite cases 1–10 (through `kosoku`)
//! against the built-in default configuration's `/echo`, which is the Lua raw echo
//! (`examples/apps/echo/echo.lua`, 4 instances; spec §5.16 and §9.1), compared case by case
//! with `tests/autobahn/lapps_echo.json`: 298 cases OK, and the three that Autobahn itself
//! rates INFORMATIONAL (7.1.6, 7.13.1, 7.13.2). Every message of the run goes through Lua's
//! `onMessage` and `ws:send`. `kosoku` is installed by the test command; a missing one fails
//! the test.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

#[path = "../../lapps-proto/tests/support/mod.rs"]
mod support;

#[test]
fn lapps_echo_passes_autobahn_cases_1_to_10() -> Result<(), Box<dyn std::error::Error>> {
    let mut lapps = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = lapps.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("lapps: listening on ws://") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30))?;
    let outdir = support::report_dir("autobahn-lapps-echo");
    let result = Command::new("kosoku")
        .args(["-x", "12.*", "-x", "13.*", "-p", "2", "-o"])
        .arg(&outdir)
        .arg(format!("ws://{addr}/echo"))
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run kosoku ({e}); {}", support::INSTALL_HINT).into())
        .and_then(|mut kosoku| support::wait(&mut kosoku));
    let _ = lapps.kill();
    let _ = lapps.wait();
    result?;
    let cases = support::compare(&outdir, "lapps_echo.json")?;
    assert_eq!(cases, 301);
    Ok(())
}

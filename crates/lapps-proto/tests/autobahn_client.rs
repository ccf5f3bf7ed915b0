//! Conformance of the client role: `examples/std_echo_client.rs` (a blocking echo client
//! built only on lapps-proto) against the Autobahn TestSuite's fuzzingserver, cases 1–10,
//! served by `kosoku -m fuzzingserver` on a free loopback port. The reports are compared with
//! `tests/autobahn/std_echo_client.json` like the server role's.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

#[path = "../examples/std_echo_client.rs"]
mod std_echo_client;
mod support;

#[test]
fn std_echo_client_passes_autobahn_cases_1_to_10() -> Result<(), Box<dyn std::error::Error>> {
    let outdir = support::report_dir("autobahn-std-echo-client");
    let mut kosoku = Command::new("kosoku")
        .args(["-m", "fuzzingserver", "-x", "12.*", "-x", "13.*", "-o"])
        .arg(&outdir)
        .arg("127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run kosoku ({e}); {}", support::INSTALL_HINT))?;
    // kosoku's first line on stderr: "fuzzingserver listening on ws://127.0.0.1:PORT". A
    // thread reads it, then drains the rest so that the pipe never fills.
    let stderr = kosoku.stderr.take().ok_or("kosoku has no stderr")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        let _ = tx.send(lines.next());
        lines.for_each(drop);
    });
    let Ok(Some(Ok(line))) = rx.recv_timeout(Duration::from_secs(30)) else {
        let _ = kosoku.kill();
        return Err("kosoku printed no address within 30 s".into());
    };
    let base = line
        .split_whitespace()
        .last()
        .filter(|url| url.starts_with("ws://127.0.0.1:"))
        .ok_or_else(|| format!("unexpected first line from kosoku: {line:?}"))?;
    let run = std_echo_client::run(base);
    if run.is_err() {
        let _ = kosoku.kill();
    }
    run?;
    support::wait(&mut kosoku)?;
    let cases = support::compare(&outdir, "std_echo_client.json")?;
    assert_eq!(cases, 301);
    Ok(())
}

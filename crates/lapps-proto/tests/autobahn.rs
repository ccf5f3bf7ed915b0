//! Conformance of the server role: the Autobahn TestSuite's fuzzingclient cases 1–10, driven
//! by `kosoku`, against `examples/std_echo.rs` (a blocking echo server built only on
//! lapps-proto) running in this process. Every case's verdict, close verdict and the close
//! code we sent are compared with `tests/autobahn/std_echo.json`: every case OK, except the
//! three Autobahn itself rates INFORMATIONAL (7.1.6, 7.13.1, 7.13.2; the spec wants 1002 for
//! 7.13.x, and the file pins it).
//!
//! `kosoku` comes from PyPI; the test command installs it. A missing `kosoku` fails this
//! test: it is never skipped.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;

#[path = "../examples/std_echo.rs"]
mod std_echo;
mod support;

#[test]
fn std_echo_passes_autobahn_cases_1_to_10() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || std_echo::run(&listener));

    let outdir = support::report_dir("autobahn-std-echo");
    let mut kosoku = Command::new("kosoku")
        .args(["-x", "12.*", "-x", "13.*", "-p", "2", "-o"])
        .arg(&outdir)
        .arg(format!("ws://{addr}/"))
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run kosoku ({e}); {}", support::INSTALL_HINT))?;
    support::wait(&mut kosoku)?;
    let cases = support::compare(&outdir, "std_echo.json")?;
    assert_eq!(cases, 301);
    Ok(())
}

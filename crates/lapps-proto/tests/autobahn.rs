//! Conformance: the Autobahn TestSuite's fuzzingclient cases 1–10, driven by `kosoku`, against
//! `examples/std_echo.rs` (a blocking echo server built only on lapps-proto) running in this
//! process. Every case's verdict, close verdict and the close code we sent are compared with
//! `tests/autobahn/std_echo.json`: every case OK, except the three Autobahn itself rates
//! INFORMATIONAL (7.1.6, 7.13.1, 7.13.2; the spec wants 1002 for 7.13.x, and the file pins it).
//!
//! `kosoku` comes from PyPI (`pip install kosoku==0.1.0`); the test command installs it. A
//! missing `kosoku` fails this test: it is never skipped.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use std::{fs, thread};

#[path = "../examples/std_echo.rs"]
mod std_echo;

/// What a case is expected to produce: `(behavior, behaviorClose, remoteCloseCode)`.
type Verdicts = BTreeMap<String, (String, String, Option<u64>)>;

/// The whole run takes about 5 s here; this bounds a hung peer.
const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn std_echo_passes_autobahn_cases_1_to_10() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || std_echo::run(&listener));

    let outdir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("autobahn-std-echo");
    let _ = fs::remove_dir_all(&outdir);
    let mut kosoku = Command::new("kosoku")
        .args(["-x", "12.*", "-x", "13.*", "-p", "2", "-o"])
        .arg(&outdir)
        .arg(format!("ws://{addr}/"))
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run kosoku ({e}); install it: pip install kosoku==0.1.0"))?;
    let started = Instant::now();
    while kosoku.try_wait()?.is_none() {
        if started.elapsed() > TIMEOUT {
            kosoku.kill()?;
            return Err(format!("kosoku did not finish within {TIMEOUT:?}").into());
        }
        thread::sleep(Duration::from_millis(100));
    }

    let expected = expected()?;
    let actual = results(&outdir)?;
    let mut differences = Vec::new();
    for (case, want) in &expected {
        match actual.get(case) {
            Some(got) if got == want => {}
            got => differences.push(format!("{case}: expected {want:?}, got {got:?}")),
        }
    }
    for case in actual.keys().filter(|c| !expected.contains_key(*c)) {
        differences.push(format!("{case}: not in the expected file"));
    }
    assert!(
        differences.is_empty(),
        "{} of {} cases differ:\n{}",
        differences.len(),
        expected.len(),
        differences.join("\n")
    );
    assert_eq!(expected.len(), 301);
    Ok(())
}

fn expected() -> Result<Verdicts, Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/autobahn/std_echo.json");
    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(path)?)?;
    let mut verdicts = Verdicts::new();
    for (case, value) in json.as_object().ok_or("expected file: not an object")? {
        verdicts.insert(case.clone(), verdict(value)?);
    }
    Ok(verdicts)
}

/// Reads kosoku's per-case reports (`*_case_*.json`, one per case, with its `id`).
fn results(outdir: &Path) -> Result<Verdicts, Box<dyn std::error::Error>> {
    let mut verdicts = Verdicts::new();
    for entry in fs::read_dir(outdir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !(name.contains("_case_") && path.extension().is_some_and(|e| e == "json")) {
            continue;
        }
        let report: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path)?)?;
        let id = report["id"].as_str().ok_or("case report without an id")?;
        verdicts.insert(id.to_owned(), verdict(&report)?);
    }
    Ok(verdicts)
}

fn verdict(value: &serde_json::Value) -> Result<(String, String, Option<u64>), String> {
    let field = |name: &str| {
        value[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("missing {name} in {value}"))
    };
    Ok((
        field("behavior")?,
        field("behaviorClose")?,
        value["remoteCloseCode"].as_u64(),
    ))
}

//! Shared by the Autobahn conformance tests: running kosoku and comparing its reports with
//! a committed expected file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

/// What a case produced: `(behavior, behaviorClose, remoteCloseCode)`.
pub(crate) type Verdicts = BTreeMap<String, (String, String, Option<u64>)>;

/// A whole kosoku run takes 5–10 s here; this bounds a hung peer.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(300);

/// The message for a missing kosoku: the test command installs it.
pub(crate) const INSTALL_HINT: &str = "install it: pip install kosoku==0.1.0 (./test.sh does this)";

/// Returns a fresh directory for kosoku's reports under Cargo's test scratch space.
pub(crate) fn report_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Waits for `child` to exit, killing it after [`TIMEOUT`].
pub(crate) fn wait(child: &mut Child) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    while child.try_wait()?.is_none() {
        if started.elapsed() > TIMEOUT {
            child.kill()?;
            return Err(format!("kosoku did not finish within {TIMEOUT:?}").into());
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Compares the reports in `outdir` with `tests/autobahn/<expected_file>`, listing every
/// difference in the error.
pub(crate) fn compare(outdir: &Path, expected_file: &str) -> Result<usize, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/autobahn")
        .join(expected_file);
    let expected = expected(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let actual = results(outdir).map_err(|e| format!("{}: {e}", outdir.display()))?;
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
    if differences.is_empty() {
        Ok(expected.len())
    } else {
        Err(format!(
            "{} of {} cases differ from {}:\n{}",
            differences.len(),
            expected.len(),
            path.display(),
            differences.join("\n")
        ))
    }
}

fn expected(path: &Path) -> Result<Verdicts, Box<dyn std::error::Error>> {
    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(path)?)?;
    let mut verdicts = Verdicts::new();
    for (case, value) in json.as_object().ok_or("not a JSON object")? {
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

//! The Python `websockets` package as a client (issue 3), over `ws://` and `wss://`: the
//! script `tests/python/echo_client.py` checks text, binary, large and fragmented messages,
//! a burst, a ping, subprotocol negotiation and the close-code echo, and a 403 for an origin.
//!
//! A missing `python3` or `websockets` fails these tests; `./test.sh` installs them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use lapps_server::echo;
use support::{BoxError, TIMEOUT, TestPki, TestResult, echo_builder, stop};

/// Runs `python3 tests/python/echo_client.py <args>` and returns its output, whatever the
/// exit status.
async fn python(args: &[&str]) -> Result<Output, BoxError> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/echo_client.py");
    let child = tokio::process::Command::new("python3")
        .arg(&script)
        .args(args)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(30), child).await? {
        Ok(output) => Ok(output),
        Err(error) => Err(format!("cannot run python3 ({error}); ./test.sh installs it").into()),
    }
}

/// Runs the script and fails with its output unless it exits 0 after printing "all ok".
async fn expect_success(args: &[&str]) -> Result<String, BoxError> {
    let output = python(args).await?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) if stdout.ends_with("all ok\n") => Ok(stdout),
        Some(2) => Err(format!("a Python package is missing:\n{stderr}").into()),
        status => Err(format!(
            "python exited with {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        )
        .into()),
    }
}

/// The checks the echo mode prints, in order.
const ECHO_CHECKS: &str = "ok subprotocol\nok text\nok binary\nok empty text\nok large binary\n\
                           ok fragmented text\nok burst\nok pong\nok close code echoed\nall ok\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_over_ws() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let url = support::ws_url(server.local_addr(), "/echo");
        assert_eq!(expect_success(&["echo", &url]).await?, ECHO_CHECKS);
        assert_eq!(server.metrics().connections_open("echo"), 0);
        stop(server).await
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_over_wss() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let pki = TestPki::new()?;
        let server = echo_builder()
            .tls(Arc::clone(&pki.server))
            .bind("127.0.0.1:0")
            .await?;
        let ca = TempFile::new("ca.pem", pki.ca_pem.as_bytes())?;
        let url = format!("wss://{}/echo", server.local_addr());
        let ca_path = ca.path.to_str().ok_or("a temp path that is not UTF-8")?;
        assert_eq!(expect_success(&["echo", &url, ca_path]).await?, ECHO_CHECKS);
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn python_websockets_sees_403_for_a_foreign_origin() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        let server = echo_builder()
            .service(echo::service("web").allowed_origin("https://example.com"))
            .bind("127.0.0.1:0")
            .await?;
        let url = support::ws_url(server.local_addr(), "/web");
        let stdout = expect_success(&["status", &url, "403", "https://evil.example"]).await?;
        assert_eq!(stdout, "ok status\nall ok\n");
        stop(server).await
    })
    .await?
}

#[tokio::test]
async fn a_failed_check_fails_the_test() -> TestResult {
    tokio::time::timeout(TIMEOUT, async {
        // The script itself can fail: the origin is allowed, so the expected 403 never comes.
        let server = echo_builder().bind("127.0.0.1:0").await?;
        let url = support::ws_url(server.local_addr(), "/echo");
        let error = expect_success(&["status", &url, "403", "https://example.com"])
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("FAILED: AssertionError"),
            "{error}"
        );
        stop(server).await
    })
    .await?
}

/// A file in the temporary directory, removed on drop.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> std::io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lapps-test-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, contents)?;
        Ok(Self { path })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

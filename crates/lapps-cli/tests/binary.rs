//! The `lapps` binary as an operator runs it: the built-in default configuration, signals,
//! exit codes, and `lapps check`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A running `lapps` and the address it announced.
struct Lapps {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
}

impl Lapps {
    fn start(args: &[&str]) -> Result<Self, Box<dyn std::error::Error>> {
        Self::start_with(args, &[])
    }

    fn start_with(
        args: &[&str],
        env: &[(&str, &std::path::Path)],
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lapps"))
            .args(args)
            .envs(env.iter().copied())
            .env_remove("LAPPS_LOG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Owned before the wait, so that a process that never announces is killed on drop.
        let mut lapps = Self {
            child,
            addr: String::new(),
            stderr: rx,
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let line = lapps
                .stderr
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))?;
            if let Some(addr) = line.strip_prefix("lapps: listening on ws://") {
                addr.clone_into(&mut lapps.addr);
                return Ok(lapps);
            }
        }
    }

    fn signal(&self, name: &str) -> TestResult {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()?;
        assert!(status.success(), "kill -{name} failed");
        Ok(())
    }

    /// Waits for the process to exit; returns its exit code.
    fn wait(&mut self, limit: Duration) -> Result<Option<i32>, Box<dyn std::error::Error>> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        Err(format!("lapps did not exit within {limit:?}").into())
    }
}

impl Drop for Lapps {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn default_configuration_serves_echo_and_sigterm_closes_clients_with_1001() -> TestResult {
    let mut lapps = Lapps::start(&["--listen", "127.0.0.1:0"])?;
    let url = format!("ws://{}/echo", lapps.addr);
    tokio::time::timeout(TIMEOUT, async {
        let (mut first, _) = tokio_tungstenite::connect_async(&url).await?;
        let (mut second, _) = tokio_tungstenite::connect_async(&url).await?;
        first.send(Message::text("ping me")).await?;
        assert_eq!(
            first.next().await.ok_or("ended")??,
            Message::text("ping me")
        );
        // SIGHUP is ignored.
        lapps.signal("HUP")?;
        second.send(Message::binary(vec![1u8, 2, 3])).await?;
        assert_eq!(
            second.next().await.ok_or("ended")??,
            Message::binary(vec![1u8, 2, 3])
        );
        lapps.signal("TERM")?;
        for ws in [&mut first, &mut second] {
            match ws.next().await.ok_or("ended without a Close")?? {
                Message::Close(Some(frame)) => {
                    assert_eq!(frame.code, CloseCode::Away);
                    assert_eq!(frame.reason.as_str(), "server shutdown");
                }
                other => panic!("expected Close 1001, got {other:?}"),
            }
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
    .await??;
    // The clients answered the Close (tokio-tungstenite replies when it reads it), so the
    // process ends well within the 10 s grace period, with exit code 0.
    assert_eq!(lapps.wait(Duration::from_secs(12))?, Some(0));
    let lines: Vec<String> = lapps.stderr.try_iter().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("shutting down") && l.contains("SIGTERM")),
        "{lines:?}"
    );
    Ok(())
}

#[test]
fn usage_errors_exit_with_2() -> TestResult {
    let output = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .arg("--no-such-flag")
        .output()?;
    assert_eq!(output.status.code(), Some(2));
    let output = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .args(["run", "--config-dir", "a", "--config", "b.toml"])
        .output()?;
    assert_eq!(output.status.code(), Some(2));
    Ok(())
}

fn scratch(name: &str) -> Result<PathBuf, std::io::Error> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[test]
fn check_lists_every_problem_and_exits_1() -> TestResult {
    let dir = scratch("check-invalid")?;
    std::fs::write(
        dir.join("ws.json"),
        r#"{"port": 70000, "workers": {"workers": "four"}, "listners": 2}"#,
    )?;
    std::fs::write(dir.join("lapps.json"), r#"{"services": {}}"#)?;
    let output = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .args(["check", "--config-dir"])
        .arg(&dir)
        .output()?;
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout)?;
    let stderr = String::from_utf8(output.stderr)?;
    assert!(stdout.contains("unknown key listners"), "stdout: {stdout}");
    assert!(stderr.contains("ws.json: port"), "stderr: {stderr}");
    assert!(
        stderr.contains("ws.json: workers.workers"),
        "stderr: {stderr}"
    );
    Ok(())
}

#[test]
fn check_accepts_a_valid_configuration() -> TestResult {
    let dir = scratch("check-valid")?;
    std::fs::write(dir.join("ws.json"), r#"{"port": 5090, "metrics": true}"#)?;
    std::fs::write(dir.join("lapps.json"), r#"{"services": {}}"#)?;
    let output = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .args(["check", "--config-dir"])
        .arg(&dir)
        .output()?;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8(output.stdout)?.contains("configuration is valid: 0 service(s)"));
    Ok(())
}

/// A LAppS installation: `$LAPPS_HOME/etc/conf/{ws,lapps}.json` and
/// `$LAPPS_HOME/apps/<name>/<name>.lua`, as LAppS lays it out.
fn lapps_home(name: &str, lua: &str) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let home = scratch(name)?;
    let conf = home.join("etc/conf");
    std::fs::create_dir_all(&conf)?;
    std::fs::create_dir_all(home.join("apps/shout"))?;
    std::fs::write(conf.join("ws.json"), r#"{"ip": "127.0.0.1", "port": 0}"#)?;
    std::fs::write(
        conf.join("lapps.json"),
        r#"{"directories": {"applications": "apps"},
            "services": {"shout": {"request_target": "/shout", "protocol": "raw", "instances": 2}}}"#,
    )?;
    std::fs::write(home.join("apps/shout/shout.lua"), lua)?;
    Ok(home)
}

const SHOUT: &str = r#"
local shout = {}
function shout.onMessage(handler, opcode, message)
  return ws:send(handler, 1, message:upper() .. "|" .. os.getenv("LAPPS_APPS_DIR"))
end
return shout
"#;

#[tokio::test]
async fn run_serves_a_lapps_layout_unchanged() -> TestResult {
    let home = lapps_home("lapps-layout", SHOUT)?;
    let mut lapps = Lapps::start_with(&["run"], &[("LAPPS_HOME", &home)])?;
    tokio::time::timeout(TIMEOUT, async {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/shout", lapps.addr)).await?;
        ws.send(Message::text("hello")).await?;
        let reply = ws.next().await.ok_or("ended")??;
        assert_eq!(
            reply,
            Message::text(format!("HELLO|{}", home.join("apps").display()))
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
    .await??;
    lapps.signal("TERM")?;
    assert_eq!(lapps.wait(Duration::from_secs(15))?, Some(0));
    Ok(())
}

#[test]
fn check_loads_the_lua_code_and_names_the_broken_file() -> TestResult {
    let home = lapps_home("check-lua", "local shout = {\nreturn shout\n")?;
    let output = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .arg("check")
        .env("LAPPS_HOME", &home)
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8(output.stdout)?;
    let file = home.join("apps/shout/shout.lua");
    assert!(
        stdout.contains(&format!(
            "error: service shout: syntax error: {}:2: unexpected symbol near 'return'",
            file.display()
        )),
        "stdout: {stdout}"
    );
    let home = lapps_home("check-lua-ok", SHOUT)?;
    let output = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .arg("check")
        .env("LAPPS_HOME", &home)
        .output()?;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    Ok(())
}

#[test]
fn check_accepts_the_example_configuration() -> TestResult {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let output = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .args(["check", "--config-dir"])
        .arg(examples.join("conf"))
        .env("LAPPS_HOME", &examples)
        .output()?;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8(output.stdout)?.contains("configuration is valid: 6 service(s)"));
    Ok(())
}

#[test]
fn json_logs_go_to_the_log_file() -> TestResult {
    let dir = scratch("json-log")?;
    let log = dir.join("lapps.log");
    let path = log.to_str().ok_or("non-UTF-8 temp path")?;
    let mut lapps = Lapps::start(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--log-file",
        path,
    ])?;
    lapps.signal("TERM")?;
    assert_eq!(lapps.wait(Duration::from_secs(15))?, Some(0));
    let text = std::fs::read_to_string(&log)?;
    let first: serde_json::Value = serde_json::from_str(text.lines().next().ok_or("empty log")?)?;
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["fields"]["message"], "lapps listening");
    assert!(
        text.lines().any(|l| l.contains("\"signal\":\"SIGTERM\"")),
        "{text}"
    );
    Ok(())
}

#[test]
fn an_invalid_log_filter_is_refused_naming_the_variable() -> TestResult {
    let output = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .env("LAPPS_LOG", "[")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .output()?;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8(output.stderr)?.contains("invalid log filter in LAPPS_LOG"));
    Ok(())
}

/// Spec §9.5 with the example apps as shipped: `examples/conf` with the `mqr_*` services
/// switched on by environment overrides. Both receiver instances report non-zero rates, and
/// SIGTERM stops them promptly although they may be blocked in `recv`.
#[test]
fn the_mqr_examples_exchange_messages_and_stop_promptly() -> TestResult {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lapps"))
        .args(["--listen", "127.0.0.1:0", "run", "--config"])
        .arg(examples.join("conf/lapps.toml"))
        .env("LAPPS_HOME", &examples)
        .env("LAPPS_SERVICES__MQR_SENDER__AUTO_START", "true")
        .env("LAPPS_SERVICES__MQR_RECEIVER__AUTO_START", "true")
        .env_remove("LAPPS_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    // Killed on drop if the test fails before SIGTERM.
    let mut lapps = Lapps {
        child,
        addr: String::new(),
        stderr: mpsc::channel().1,
    };
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // "<instance_id>: <n> messages/s", once a second per receiver instance.
    let mut rates = std::collections::HashMap::new();
    let deadline = Instant::now() + TIMEOUT;
    while rates.len() < 2 || rates.values().any(|n: &u64| *n == 0) {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))?;
        if let Some((id, rest)) = line.split_once(": ")
            && let Some(n) = rest.strip_suffix(" messages/s")
        {
            let n: u64 = n.parse()?;
            let best = rates.entry(id.to_owned()).or_insert(0);
            *best = (*best).max(n);
        }
    }
    assert_eq!(rates.len(), 2, "{rates:?}");
    let stopping = Instant::now();
    lapps.signal("TERM")?;
    assert_eq!(lapps.wait(Duration::from_secs(15))?, Some(0));
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        stopping.elapsed()
    );
    Ok(())
}

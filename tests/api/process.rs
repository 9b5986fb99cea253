//! Running the real `kgen-loyalty` binary as a child process, for the tests that
//! kill it, signal it or restart it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server process.
pub struct ServerProcess {
    /// The child.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the CLI on this database: whether it succeeded, its stdout and stderr.
/// Next to a live SQLite server the CLI may meet its write lock and say "the
/// database is busy; retry" (exit 1): an operator retries, and so does this.
pub fn run_cli(database_url: &str, args: &[&str]) -> (bool, String, String) {
    for attempt in 1.. {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kgen-loyalty"));
        command
            .args(args)
            .env("DATABASE_URL", database_url)
            .env_remove("KGEN_WALLET_XPUB");
        if let Some(direct_url) = crate::helpers::direct_url(database_url) {
            command.env("KGEN_DB_DIRECT_URL", direct_url);
        }
        let output = command.output().expect("running kgen-loyalty");
        let stderr = String::from_utf8(output.stderr).unwrap();
        if !output.status.success() && stderr.contains("busy") && attempt < 12 {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        return (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            stderr,
        );
    }
    unreachable!()
}

/// Runs the CLI on this database and returns its stdout (panics on failure).
pub fn cli(database_url: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run_cli(database_url, args);
    assert!(ok, "{stderr}");
    stdout
}

/// The CLI's `--json` output, parsed.
pub fn json_of(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Starts `kgen-loyalty serve` on this database and waits until it answers.
pub async fn start_server(database_url: &str, extra_env: &[(&str, &str)]) -> ServerProcess {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_kgen-loyalty"));
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("KGEN_LISTEN", format!("127.0.0.1:{port}"))
        .env("KGEN_SETTLEMENT_INTERVAL_MS", "50")
        .env("RUST_LOG", "warn")
        .env_remove("KGEN_WALLET_XPUB")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(direct_url) = crate::helpers::direct_url(database_url) {
        command.env("KGEN_DB_DIRECT_URL", direct_url);
    }
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let server = ServerProcess {
        child: command.spawn().expect("starting kgen-loyalty serve"),
        base_url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(response) = http
            .get(format!("{}/healthz", server.base_url))
            .send()
            .await
        {
            if response.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not start within 10 s");
}

impl ServerProcess {
    /// SIGKILL: no chance to clean up.
    pub fn kill_hard(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().ok();
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
        self.child.wait().expect("waiting for the server")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

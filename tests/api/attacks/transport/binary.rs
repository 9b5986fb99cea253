//! The transport attacks that need the real binary: its descriptor limit lowered
//! while silent connections pile up, and what it writes to its log.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::helpers::fresh_database_url;
use crate::process::{start_server, ServerProcess};

/// Lowers the running server's descriptor limit to what it has open plus `spare`.
fn leave_descriptors(server: &ServerProcess, spare: usize) {
    let pid = server.child.id();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = format!("--nofile={0}:{0}", open + spare);
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &limit])
        .status()
        .expect("running prlimit");
    assert!(status.success(), "prlimit failed");
}

/// Stops the server and returns what it logged.
fn stop_and_read_log(mut server: ServerProcess) -> String {
    server.terminate();
    let mut log = String::new();
    let mut stderr = server.child.stderr.take().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    log
}

#[tokio::test]
async fn out_of_descriptors_the_server_drops_silent_connections_and_answers_again() {
    let (database_url, _dir) = fresh_database_url().await;
    let server = start_server(&database_url, &[("KGEN_READ_TIMEOUT_SECONDS", "1")]).await;
    leave_descriptors(&server, 20);
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let mut silent = Vec::new();
    for _ in 0..80 {
        silent.push(TcpStream::connect(&address).await.unwrap());
    }

    let health = reqwest::Client::new()
        .get(format!("{}/healthz", server.base_url))
        .timeout(Duration::from_secs(20))
        .send()
        .await;

    assert_eq!(health.expect("/healthz answers").status(), 200);
    let log = stop_and_read_log(server);
    let failures = log.matches("accept failed").count();
    assert!((1..=12).contains(&failures), "{failures} lines:\n{log}");
    drop(silent);
}

#[tokio::test]
async fn a_forged_request_id_never_reaches_the_log() {
    let (database_url, _dir) = fresh_database_url().await;
    let logging = [
        ("RUST_LOG", "info,tower_http=debug"),
        ("KGEN_LOG_FORMAT", "json"),
    ];
    let server = start_server(&database_url, &logging).await;
    let http = reqwest::Client::new();
    let healthz = format!("{}/healthz", server.base_url);

    for id in ["Good-Id.1", "x otp=123456 phone=+919812345670"] {
        let answer = http.get(&healthz).header("x-request-id", id).send().await;
        assert_eq!(answer.unwrap().status(), 200);
    }

    let log = stop_and_read_log(server);
    assert!(log.contains(r#""request_id":"Good-Id.1""#), "{log}");
    assert!(!log.contains("otp=123456"), "{log}");
}

//! Proves graceful operation: on SIGTERM the server stops accepting, finishes an
//! in-flight request and exits 0; with PostgreSQL unreachable, requests answer 503
//! in the envelope within the configured timeout, `/readyz` reports not ready, and
//! the server recovers by itself when the database is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::helpers::{assert_claims_recorded, fresh_database_url, POSTGRES_ENV};
use crate::process::{cli, start_server};

#[tokio::test]
async fn sigterm_finishes_the_in_flight_request_and_exits_zero() {
    let (database_url, _dir) = fresh_database_url().await;
    let created: Value = serde_json::from_str(&cli(
        &database_url,
        &["clients", "create", "--name", "G", "--json"],
    ))
    .unwrap();
    let mut server = start_server(&database_url, &[]).await;
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let body = json!({"eventType": "Late", "rewardAmount": 1}).to_string();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PUT /s2s/loyalty/rewardable-events HTTP/1.1\r\nHost: x\r\nx-client-id: {}\r\nx-client-secret: {}\r\ncontent-length: {}\r\n\r\n",
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = TcpStream::connect(&address).await;
    assert!(refused.is_err(), "no new connections after SIGTERM");
    stream.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the in-flight request is answered")
        .unwrap();

    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// A TCP proxy in front of PostgreSQL that can be cut and restored, so that the
/// test can take "the database" away from the server without stopping the
/// PostgreSQL that other tests share.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (up_task, cut_task) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !up_task.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused at once
                }
                let target = target.clone();
                let cut = cut_task.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut.notified() => {}
                    }
                });
            }
        });
        Proxy { port, up, cut }
    }

    fn take_down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for _ in 0..1000 {
            self.cut.notify_waiters();
        }
    }

    fn bring_up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_quickly_and_recovers_by_itself() {
    if std::env::var(POSTGRES_ENV).is_err() {
        eprintln!("database outage test: PostgreSQL only (SQLite is embedded); set {POSTGRES_ENV}");
        return;
    }
    let (database_url, _dir) = fresh_database_url().await;
    let mut url = url::Url::parse(&database_url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    url.set_port(Some(proxy.port)).unwrap();
    let proxied = url.to_string();
    let created: Value = serde_json::from_str(&cli(
        &proxied,
        &["clients", "create", "--name", "G", "--json"],
    ))
    .unwrap();
    let server = start_server(&proxied, &[("KGEN_DB_TIMEOUT_SECONDS", "2")]).await;
    let http = reqwest::Client::new();
    let s2s = |path: &str| {
        http.get(format!("{}{path}", server.base_url))
            .header("x-client-id", created["client_id"].as_str().unwrap())
            .header(
                "x-client-secret",
                created["client_secret"].as_str().unwrap(),
            )
    };
    assert_eq!(
        s2s("/s2s/loyalty/rewardable-events")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let load = ClaimLoad::start(&http, &server.base_url, &created).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.take_down();
    for path in ["/s2s/loyalty/rewardable-events", "/readyz"] {
        let started = Instant::now();
        let response = s2s(path).send().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{path} answered in {:?}",
            started.elapsed()
        );
        assert_eq!(response.status(), 503, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{path}: {body}");
    }
    assert_eq!(
        http.get(format!("{}/healthz", server.base_url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    proxy.bring_up();
    let mut recovered = false;
    for _ in 0..100 {
        if s2s("/s2s/loyalty/rewardable-events")
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the server recovers once the database is back");
    let ready = http
        .get(format!("{}/readyz", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (acknowledged, statuses) = load.stop().await;

    assert!(
        statuses.iter().all(|s| [201, 503].contains(s)),
        "only 201 or 503 under the outage: {statuses:?}"
    );
    assert!(statuses.contains(&503), "the outage was seen by the load");
    assert!(
        statuses.iter().filter(|&&s| s == 201).count() > 2,
        "claims succeeded around the outage"
    );
    let db = kgen_loyalty::storage::Db::connect(
        &database_url,
        &crate::helpers::pool_settings(&database_url),
    )
    .await
    .unwrap();
    assert_claims_recorded(&db, &acknowledged).await;
    let report = kgen_loyalty::domain::ledger::verify(&db).await.unwrap();
    assert!(report.holds(), "{report}");
}

/// Gamers claiming in a loop until stopped; records every status and every
/// acknowledged rewardID.
struct ClaimLoad {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(Vec<String>, Vec<u16>)>>,
}

impl ClaimLoad {
    async fn start(http: &reqwest::Client, base_url: &str, client: &Value) -> ClaimLoad {
        let s2s = |method: reqwest::Method, path: &str| {
            http.request(method, format!("{base_url}{path}"))
                .header("x-client-id", client["client_id"].as_str().unwrap())
                .header("x-client-secret", client["client_secret"].as_str().unwrap())
        };
        let event: Value = s2s(reqwest::Method::PUT, "/s2s/loyalty/rewardable-events")
            .json(&json!({"eventType": "Outage", "rewardAmount": 3}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let event_id = event["eventID"].as_str().unwrap();
        let url = format!("{base_url}/fe/loyalty/event-reward-user-claims/events/{event_id}");
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..4 {
            let session: Value = s2s(reqwest::Method::POST, "/s2s/session")
                .json(&json!({"user_id": format!("o{i}")}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = session["access_token"].as_str().unwrap().to_owned();
            let (http, url, stop) = (http.clone(), url.clone(), stop.clone());
            tasks.push(tokio::spawn(claim_until_stopped(http, url, token, stop)));
        }
        ClaimLoad { stop, tasks }
    }

    async fn stop(self) -> (Vec<String>, Vec<u16>) {
        self.stop.store(true, Ordering::Relaxed);
        let (mut acknowledged, mut statuses) = (Vec::new(), Vec::new());
        for task in self.tasks {
            let (a, s) = task.await.unwrap();
            acknowledged.extend(a);
            statuses.extend(s);
        }
        (acknowledged, statuses)
    }
}

async fn claim_until_stopped(
    http: reqwest::Client,
    url: String,
    token: String,
    stop: Arc<AtomicBool>,
) -> (Vec<String>, Vec<u16>) {
    let (mut acknowledged, mut statuses) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let response = http
            .post(&url)
            .header("user-jwt-token", &token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        statuses.push(status);
        if status == 201 {
            let body: Value = response.json().await.unwrap();
            acknowledged.push(body["rewardID"].as_str().unwrap().to_owned());
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (acknowledged, statuses)
}

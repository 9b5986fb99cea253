//! Proves the outbox across crashes (issue 12): gamers claim while the real server
//! is SIGKILLed ten times and restarted, and a slow receiver takes the webhooks.
//! At the end every committed claim has reached the receiver under exactly one
//! `webhook-id` (after deduplication of retries), with the same body each time,
//! and nothing was delivered for a claim that was not committed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kgen_loyalty::storage::Db;
use rand::Rng;
use serde_json::{json, Value};

use crate::helpers::fresh_database_url;
use crate::process::{cli, start_server};

const GAMERS: usize = 4;
const KILLS: usize = 10;

/// Every (webhook-id, body) the receiver was sent, duplicates included.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A receiver that takes 10–60 ms to answer 200.
async fn slow_receiver() -> (Seen, String) {
    let seen: Seen = Arc::default();
    let state = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let state = Arc::clone(&state);
            async move {
                let pause = rand::thread_rng().gen_range(10..60);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                state.lock().unwrap().push((id, body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (seen, url)
}

const ENV: [(&str, &str); 4] = [
    ("KGEN_WEBHOOK_TIMEOUT_SECONDS", "1"),
    ("KGEN_WEBHOOK_ALLOW_HTTP", "true"),
    ("KGEN_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("KGEN_WEBHOOK_RETRY_SCHEDULE", "1,1,1,1,1,1,1,1,1,1"),
];

/// A client with an event and an endpoint, and its gamers' tokens.
async fn setup(database_url: &str, hook: &str) -> (String, Vec<String>) {
    let created: Value = serde_json::from_str(&cli(
        database_url,
        &[
            "clients",
            "create",
            "--name",
            "Hooks",
            "--welcome-bonus",
            "0",
            "--json",
        ],
    ))
    .unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let server = start_server(database_url, &ENV).await;
    let http = reqwest::Client::new();
    let s2s = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{}{path}", server.base_url))
            .header("x-client-id", &id)
            .header("x-client-secret", &secret)
            .json(&body)
            .send()
    };
    let registered = s2s(
        reqwest::Method::POST,
        "/s2s/webhooks",
        json!({"url": hook, "eventTypes": ["reward.granted"]}),
    )
    .await
    .unwrap();
    assert_eq!(registered.status(), 201);
    let event: Value = s2s(
        reqwest::Method::PUT,
        "/s2s/loyalty/rewardable-events",
        json!({"eventType": "Hook", "rewardAmount": 3}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let mut tokens = Vec::new();
    for i in 0..GAMERS {
        let session: Value = s2s(
            reqwest::Method::POST,
            "/s2s/session",
            json!({"user_id": format!("g{i}")}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        tokens.push(session["access_token"].as_str().unwrap().to_owned());
    }
    drop(server);
    (event["eventID"].as_str().unwrap().to_owned(), tokens)
}

async fn claim_loop(
    base_url: Arc<Mutex<String>>,
    token: String,
    event: String,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    while !stop.load(Ordering::Relaxed) {
        let base = base_url.lock().unwrap().clone();
        let sent = http
            .post(format!(
                "{base}/fe/loyalty/event-reward-user-claims/events/{event}"
            ))
            .header("user-jwt-token", &token)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if sent.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_claims_delivers_every_committed_claim_once_per_webhook_id() {
    let (database_url, _dir) = fresh_database_url().await;
    let (seen, hook) = slow_receiver().await;
    let (event, tokens) = setup(&database_url, &hook).await;
    let base_url = Arc::new(Mutex::new(String::from("http://127.0.0.1:9")));
    let stop = Arc::new(AtomicBool::new(false));
    let players: Vec<_> = tokens
        .iter()
        .map(|token| {
            tokio::spawn(claim_loop(
                base_url.clone(),
                token.clone(),
                event.clone(),
                stop.clone(),
            ))
        })
        .collect();
    for _ in 0..KILLS {
        let mut server = start_server(&database_url, &ENV).await;
        *base_url.lock().unwrap() = server.base_url.clone();
        let run = rand::thread_rng().gen_range(150..600);
        tokio::time::sleep(Duration::from_millis(run)).await;
        server.kill_hard();
    }
    stop.store(true, Ordering::Relaxed);
    for player in players {
        player.await.unwrap();
    }

    // A last server delivers what is left (leases of killed servers expire).
    let db = Db::connect(&database_url, &crate::helpers::pool_settings(&database_url))
        .await
        .unwrap();
    let committed: HashSet<String> = sqlx::query_scalar::<_, String>("select id from claims")
        .fetch_all(db.reader())
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        committed.len() > 20,
        "the load did real work: {} claims",
        committed.len()
    );
    let server = start_server(&database_url, &ENV).await;
    let mut by_id: HashMap<String, String> = HashMap::new();
    for _ in 0..1200 {
        by_id = seen.lock().unwrap().iter().cloned().collect();
        if by_id.len() >= committed.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);

    let all = seen.lock().unwrap().clone();
    for (id, body) in &all {
        assert_eq!(
            &by_id[id], body,
            "webhook-id {id} always carries the same body"
        );
    }
    let mut delivered: HashMap<String, String> = HashMap::new();
    for (id, body) in &by_id {
        let body: Value = serde_json::from_str(body).unwrap();
        let reward = body["data"]["rewardID"].as_str().unwrap().to_owned();
        if let Some(other) = delivered.insert(reward.clone(), id.clone()) {
            panic!("claim {reward} announced under two ids: {other} and {id}");
        }
    }
    let delivered_rewards: HashSet<String> = delivered.keys().cloned().collect();
    let invented: Vec<_> = delivered_rewards.difference(&committed).collect();
    let lost: Vec<_> = committed.difference(&delivered_rewards).collect();
    assert!(
        invented.is_empty(),
        "delivered for claims never committed: {invented:?}"
    );
    assert!(
        lost.is_empty(),
        "committed claims never delivered: {} of {}",
        lost.len(),
        committed.len()
    );
    eprintln!(
        "webhook crash test ({:?}): {KILLS} SIGKILLs; {} claims committed, {} deliveries received \
         ({} after deduplication by webhook-id)",
        db.backend(),
        committed.len(),
        all.len(),
        by_id.len()
    );
}

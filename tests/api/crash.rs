//! Proves crash safety: many gamers claim and withdraw while the real server
//! process is killed with SIGKILL at random moments, ten times, and restarted.
//! Afterwards every acknowledged claim and withdrawal is fully present, pending
//! withdrawals settle after the restart, and every ledger invariant holds.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kgen_loyalty::domain::secrets::ServerKeys;
use kgen_loyalty::storage::Db;
use rand::Rng;
use serde_json::{json, Value};

use crate::helpers::{assert_claims_recorded, fresh_database_url, link_gamer_directly};
use crate::process::{cli, start_server};

const GAMERS: usize = 12;
const KILLS: usize = 10;

#[derive(Default)]
struct Acknowledged {
    claims: HashSet<String>,
    withdrawals: HashSet<String>,
}

async fn post(http: &reqwest::Client, url: String, token: &str, key: String) -> Option<Value> {
    let response = http
        .post(url)
        .header("user-jwt-token", token)
        .header("Idempotency-Key", key)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// One gamer's loop: claims, and now and then a withdrawal, against whatever
/// server is up at `base_url`.
async fn play(
    base_url: Arc<Mutex<String>>,
    token: String,
    event: String,
    acknowledged: Arc<Mutex<Acknowledged>>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let base = base_url.lock().unwrap().clone();
        let key = uuid::Uuid::new_v4().to_string();
        if round.is_multiple_of(6) {
            if let Some(body) = post(&http, format!("{base}/fe/wallet/withdraw"), &token, key).await
            {
                acknowledged
                    .lock()
                    .unwrap()
                    .withdrawals
                    .insert(body["uid"].as_str().unwrap().to_owned());
            }
        } else {
            let url = format!("{base}/fe/loyalty/event-reward-user-claims/events/{event}");
            match post(&http, url, &token, key).await {
                Some(body) => {
                    acknowledged
                        .lock()
                        .unwrap()
                        .claims
                        .insert(body["rewardID"].as_str().unwrap().to_owned());
                }
                None => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}

async fn setup(database_url: &str) -> (String, Vec<String>) {
    let created: Value = serde_json::from_str(&cli(
        database_url,
        &[
            "clients",
            "create",
            "--name",
            "Crash",
            "--min-withdraw",
            "20",
            "--json",
        ],
    ))
    .unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    let server = start_server(database_url, &[]).await;
    let http = reqwest::Client::new();
    let s2s = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", server.base_url))
            .header("x-client-id", id)
            .header("x-client-secret", secret)
    };
    let event: Value = s2s(reqwest::Method::PUT, "/s2s/loyalty/rewardable-events")
        .json(&json!({"eventType": "Crash", "rewardAmount": 7}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for i in 0..GAMERS {
        let session: Value = s2s(reqwest::Method::POST, "/s2s/session")
            .json(&json!({"user_id": format!("g{i}")}))
            .send()
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

async fn link_every_other_gamer(db: &Db) {
    let keys = ServerKeys::load(db, None).await.unwrap();
    let gamers: Vec<i64> = sqlx::query_scalar("select id from gamers order by id")
        .fetch_all(db.reader())
        .await
        .unwrap();
    for gamer_id in gamers.into_iter().step_by(2) {
        let phone = format!("+9190000{gamer_id:05}");
        link_gamer_directly(db, &keys.addresses, gamer_id, &phone).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let (database_url, _dir) = fresh_database_url().await;
    let (event, tokens) = setup(&database_url).await;
    let db = Db::connect(&database_url, &crate::helpers::pool_settings(&database_url))
        .await
        .unwrap();
    link_every_other_gamer(&db).await;

    let base_url = Arc::new(Mutex::new(String::from("http://127.0.0.1:9")));
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let players: Vec<_> = tokens
        .iter()
        .map(|token| {
            tokio::spawn(play(
                base_url.clone(),
                token.clone(),
                event.clone(),
                acknowledged.clone(),
                stop.clone(),
            ))
        })
        .collect();
    for _ in 0..KILLS {
        let mut server = start_server(&database_url, &[]).await;
        *base_url.lock().unwrap() = server.base_url.clone();
        let run = rand::thread_rng().gen_range(150..600);
        tokio::time::sleep(Duration::from_millis(run)).await;
        server.kill_hard();
    }
    stop.store(true, Ordering::Relaxed);
    for player in players {
        player.await.unwrap();
    }

    // A last start lets the settlement worker pick up what was left PENDING.
    let mut server = start_server(&database_url, &[]).await;
    for _ in 0..200 {
        let pending: i64 =
            sqlx::query_scalar("select count(*) from withdrawals where status = 'PENDING'")
                .fetch_one(db.reader())
                .await
                .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        server.terminate().success(),
        "the server exits 0 on SIGTERM"
    );

    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    assert!(
        acknowledged.claims.len() > 20,
        "the load did real work: {} claims",
        acknowledged.claims.len()
    );
    assert_claims_recorded(&db, &acknowledged.claims).await;
    for uid in &acknowledged.withdrawals {
        let status: String = sqlx::query_scalar("select status from withdrawals where id = $1")
            .bind(uid)
            .fetch_one(db.reader())
            .await
            .unwrap();
        assert_eq!(
            status, "COMPLETED",
            "acknowledged withdrawal {uid} settled after the restarts"
        );
    }
    let pending: i64 =
        sqlx::query_scalar("select count(*) from withdrawals where status = 'PENDING'")
            .fetch_one(db.reader())
            .await
            .unwrap();
    assert_eq!(pending, 0);
    let report = kgen_loyalty::domain::ledger::verify(&db).await.unwrap();
    assert!(report.holds(), "{report}");
    let stored_claims: i64 = sqlx::query_scalar("select count(*) from claims")
        .fetch_one(db.reader())
        .await
        .unwrap();
    let stored_withdrawals: i64 = sqlx::query_scalar("select count(*) from withdrawals")
        .fetch_one(db.reader())
        .await
        .unwrap();
    eprintln!(
        "crash test ({:?}): {KILLS} SIGKILLs; {} claims acknowledged, {stored_claims} stored; \
         {} withdrawals acknowledged, {stored_withdrawals} stored; ledger verify holds",
        db.backend(),
        acknowledged.claims.len(),
        acknowledged.withdrawals.len(),
    );
}

//! Proves that caching wallet reads never shows a gamer an old wallet: every claim,
//! withdrawal and settlement of this server is seen by the very next read, and on
//! PostgreSQL a change written by another server reaches this server's cache.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kgen_loyalty::domain::settlement::{Decision, DecisionFuture, Settler};
use kgen_loyalty::storage::withdrawals::WithdrawalRow;
use kgen_loyalty::storage::Backend;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_on, spawn_app_with_settler, FixedSettler};

fn first_uid(page: &Value) -> String {
    page["transactions"][0]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until opened, then completes every withdrawal.
#[derive(Debug, Default)]
struct GateSettler(AtomicBool);

impl Settler for GateSettler {
    fn settle<'a>(&'a self, _withdrawal: &'a WithdrawalRow) -> DecisionFuture<'a> {
        let open = self.0.load(Ordering::SeqCst);
        Box::pin(async move {
            if open {
                Decision::Complete
            } else {
                Decision::Wait
            }
        })
    }
}

#[tokio::test]
async fn every_change_of_this_server_is_seen_by_the_next_read() {
    let gate = Arc::new(GateSettler::default());
    let app = spawn_app_with_settler(Arc::clone(&gate) as Arc<dyn Settler>).await;
    let client = app.create_client_with(50, 100).await;
    let token = app.login(&client, "p").await;
    let event = app.create_event(&client, 70, json!({})).await;

    // Reads that are now cached: the balance, the default page and a short one.
    assert_eq!(app.balance(&token).await.body["lazy_balance"], 50);
    let welcome = app.transactions(&token, "").await.body;
    assert_eq!(welcome["transactions"].as_array().unwrap().len(), 1);
    let short = app.transactions(&token, "limit=1").await.body;
    assert_eq!(first_uid(&short), first_uid(&welcome));

    for round in 1..=3_i64 {
        let claim = app.claim(&token, &event).await;
        assert_eq!(claim.status, 201, "{:?}", claim.body);
        let balance = app.balance(&token).await.body;
        assert_eq!(balance["earned_balance"], 70 * round, "after claim {round}");
        let page = app.transactions(&token, "").await.body;
        assert_eq!(
            page["transactions"].as_array().unwrap().len(),
            1 + round as usize
        );
        let newest = app.transactions(&token, "limit=1").await.body;
        assert_eq!(first_uid(&newest), first_uid(&page), "after claim {round}");
        assert_ne!(first_uid(&newest), first_uid(&welcome));
    }

    app.link_phone_directly(&client, "p", "+919000012345").await;
    let withdrawal = app.withdraw(&token, None).await;
    assert_eq!(withdrawal.status, 200, "{:?}", withdrawal.body);
    for _ in 0..2 {
        let pending = app.balance(&token).await.body;
        assert_eq!(pending["lazy_balance"], 0);
        assert_eq!(pending["lazy_balance_delta"], -260);
        let page = app.transactions(&token, "").await.body;
        assert_eq!(page["transactions"][0]["sync_status"], "PENDING");
    }

    // The settlement worker completes it: the reads after that must show it.
    gate.0.store(true, Ordering::SeqCst);
    let settled = app
        .wait_for_balance(&token, |b| b["lazy_balance_delta"] == 0)
        .await;
    assert_eq!(settled["on_chain_balance"], 0);
    let page = app.transactions(&token, "").await.body;
    assert_eq!(page["transactions"][0]["sync_status"], "COMPLETED");
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn a_later_page_is_read_fresh_while_the_first_is_cached() {
    let app = spawn_app_with_settler(Arc::new(FixedSettler(Decision::Wait))).await;
    let client = app.create_client().await;
    let token = app.login(&client, "p").await;
    let event = app.create_event(&client, 1, json!({})).await;
    for _ in 0..3 {
        assert_eq!(app.claim(&token, &event).await.status, 201);
    }
    let first = app.transactions(&token, "limit=2").await.body;
    let cursor = first["last_evaluated_key"].as_str().unwrap().to_owned();
    assert!(!cursor.is_empty());
    let again = app.transactions(&token, "limit=2").await.body;
    assert_eq!(again, first, "the cached first page is the same JSON");
    let second = app
        .transactions(&token, &format!("limit=2&last_evaluated_key={cursor}"))
        .await
        .body;
    let uids = |page: &Value| -> Vec<String> {
        page["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["uid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(uids(&second).len(), 2, "3 rewards + the welcome bonus");
    assert!(uids(&second).iter().all(|uid| !uids(&first).contains(uid)));
    assert_eq!(second["last_evaluated_key"], "");
}

#[tokio::test]
async fn another_servers_claim_reaches_this_servers_cached_reads() {
    let first = spawn_app_with_settler(Arc::new(FixedSettler(Decision::Wait))).await;
    if first.db.backend() != Backend::Postgres {
        // SQLite is one server per database file (README); nothing to prove.
        return;
    }
    let second = spawn_app_on(
        first.database_url.clone(),
        tempfile::tempdir().unwrap(),
        |_| {},
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while second.db.wallet_changes().generation(0).is_none() {
        assert!(
            Instant::now() < deadline,
            "the second server never followed the wallet notices"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = first.create_client().await;
    let token = first.login(&client, "p").await;
    let event = first.create_event(&client, 40, json!({})).await;
    // Cached on the second server.
    assert_eq!(second.balance(&token).await.body["earned_balance"], 0);
    assert_eq!(second.balance(&token).await.body["earned_balance"], 0);
    let before = second.transactions(&token, "").await.body;

    assert_eq!(first.claim(&token, &event).await.status, 201);

    let started = Instant::now();
    let balance = second
        .wait_for_balance(&token, |b| b["earned_balance"] == 40)
        .await;
    assert_eq!(balance["lazy_balance"], 90);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the notice took {:?}",
        started.elapsed()
    );
    let after = second.transactions(&token, "").await.body;
    assert_eq!(
        after["transactions"].as_array().unwrap().len(),
        before["transactions"].as_array().unwrap().len() + 1
    );
}

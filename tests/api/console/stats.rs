//! The dashboard's figures against a known seeded history: per-day claims,
//! KCash by kind, new and active gamers, top events, outstanding, the settlement
//! queue and the last recorded `ledger verify`.

use kgen_loyalty::domain::console::operators::Role;
use serde_json::{json, Value};

use super::{adjust, get, operator_session};
use crate::helpers::spawn_app_with;

const DAY: i64 = 86_400_000_000_000;

#[tokio::test]
async fn stats_count_a_seeded_history_per_utc_day_live() {
    seeded_history_gives_known_figures(120).await;
}

#[tokio::test]
async fn stats_count_a_seeded_history_per_utc_day_from_the_rollups_exactly_once() {
    seeded_history_gives_known_figures(0).await;
}

/// Seeds a known history and checks every figure; with `lag_seconds` 0 every row
/// is in the rollups (caught up twice: nothing counted twice), with 120 only the
/// backdated claim is and the rest is counted live.
async fn seeded_history_gives_known_figures(lag_seconds: u64) {
    let app = spawn_app_with(|config| {
        config.settlement_interval_ms = 3_600_000;
        config.console_stats_lag_seconds = lag_seconds;
        config.console_stats_interval_seconds = 0;
    })
    .await;
    let game = app.create_client_with(50, 10).await;
    let other = app.create_client().await;
    let (big, small) = (
        app.create_event(&game, 100, json!({"eventName": "Big"}))
            .await,
        app.create_event(&game, 10, json!({"eventName": "Small"}))
            .await,
    );
    let (g1, g2, _g3) = (
        app.login(&game, "g1").await,
        app.login(&game, "g2").await,
        app.login(&game, "g3").await,
    );
    let noise = app.login(&other, "noise").await;
    let other_event = app.create_event(&other, 7, json!({})).await;
    assert_eq!(app.claim(&noise, &other_event).await.status, 201);
    for (token, event) in [(&g1, &big), (&g2, &big), (&g1, &small)] {
        assert_eq!(app.claim(token, event).await.status, 201);
    }
    sqlx::query("update claims set created_at = created_at - $1 where event_id = $2")
        .bind(DAY)
        .bind(&small)
        .execute(app.db.writer())
        .await
        .unwrap();
    let admin = operator_session(&app, "admin@studio.example", Role::Admin, &[&game.id]).await;
    assert_eq!(
        adjust(
            &app,
            &admin,
            &game.id,
            "g3",
            "a",
            json!({"amount": 20, "reason": "x"})
        )
        .await
        .status,
        201
    );
    assert_eq!(
        adjust(
            &app,
            &admin,
            &game.id,
            "g2",
            "b",
            json!({"amount": -5, "reason": "y"})
        )
        .await
        .status,
        201
    );
    app.link_phone_directly(&game, "g1", "+919876543210").await;
    assert_eq!(app.withdraw(&g1, None).await.body["amount"], 160);
    let base = format!("/console/api/games/{}/stats", game.id);

    let lag = std::time::Duration::from_secs(lag_seconds);
    kgen_loyalty::domain::console::stats::catch_up(&app.db, lag)
        .await
        .unwrap();
    let default = get(&app, &admin, &base).await;
    let two_days = get(&app, &admin, &format!("{base}?days=2")).await;

    assert_eq!(two_days.status, 200, "{:?}", two_days.body);
    let days = two_days.body["days"].as_array().unwrap();
    let today = chrono::Utc::now().date_naive();
    assert_eq!(days[1]["date"], today.to_string());
    assert_eq!(days[0]["date"], (today - chrono::Days::new(1)).to_string());
    assert_eq!(
        days[0],
        json!({"date": days[0]["date"], "claims": 1, "kcashRewarded": 10, "kcashBonus": 0,
        "kcashAdjusted": 0, "kcashWithdrawn": 0, "newGamers": 0, "activeGamers": 1})
    );
    assert_eq!(
        days[1],
        json!({"date": days[1]["date"], "claims": 2, "kcashRewarded": 200, "kcashBonus": 150,
        "kcashAdjusted": 15, "kcashWithdrawn": 160, "newGamers": 3, "activeGamers": 3})
    );
    assert_eq!(two_days.body["outstanding"], 215);
    let summed: i64 = sqlx::query_scalar("select cast(sum(balance) as bigint) from accounts where client_id = $1 and kind <> 'ISSUING'")
        .bind(&game.id).fetch_one(app.db.reader()).await.unwrap();
    assert_eq!(summed, 215, "outstanding is the sum of the wallets");
    assert_eq!(two_days.body["pendingWithdrawals"], 1);
    assert!(two_days.body["oldestPendingSeconds"].as_i64().unwrap() >= 0);
    assert_eq!(
        two_days.body["topEvents"],
        json!([
            {"eventID": big, "eventName": "Big", "claims": 2, "kcash": 200},
            {"eventID": small, "eventName": "Small", "claims": 1, "kcash": 10},
        ])
    );
    assert_eq!(two_days.body["lastLedgerVerify"], Value::Null);
    assert_eq!(default.body["days"].as_array().unwrap().len(), 30);
    let small_stats = get(
        &app,
        &admin,
        &format!("/console/api/games/{}/events/{small}/stats?days=2", game.id),
    )
    .await;
    assert_eq!(small_stats.status, 200, "{:?}", small_stats.body);
    assert_eq!(
        small_stats.body["paidOut"],
        Value::Null,
        "no budget, no budget used"
    );
    assert_eq!(small_stats.body["totalBudget"], Value::Null);
    let series: Vec<(i64, i64)> = small_stats.body["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["claims"].as_i64().unwrap(), d["kcash"].as_i64().unwrap()))
        .collect();
    assert_eq!(series, [(1, 10), (0, 0)]);
    let foreign = get(
        &app,
        &admin,
        &format!("/console/api/games/{}/events/{other_event}/stats", game.id),
    )
    .await;
    foreign.assert_error(404, "RECORD_NOT_FOUND");
    kgen_loyalty::domain::console::stats::catch_up(&app.db, lag)
        .await
        .unwrap();
    let again = get(&app, &admin, &format!("{base}?days=2")).await;
    assert_eq!(
        again.body["days"], two_days.body["days"],
        "a second catch-up adds nothing twice"
    );
    let rolled_active = app.scalar("select count(*) from stats_active").await;
    let expected_rolled = if lag_seconds == 0 { 5 } else { 1 };
    assert_eq!(
        rolled_active, expected_rolled,
        "gamer-days in the rollup set"
    );
}

#[tokio::test]
async fn stats_refuse_bad_days_and_show_the_last_ledger_verify() {
    let app = spawn_app_with(|_| {}).await;
    let game = app.create_client().await;
    let viewer = operator_session(&app, "v@studio.example", Role::Viewer, &[&game.id]).await;
    let base = format!("/console/api/games/{}/stats", game.id);
    kgen_loyalty::storage::console::insert_verification(
        app.db.writer(),
        1_700_000_000_000_000_000,
        true,
        "all ledger invariants hold\n",
    )
    .await
    .unwrap();

    let one = get(&app, &viewer, &format!("{base}?days=1")).await;

    assert_eq!(one.body["days"].as_array().unwrap().len(), 1);
    assert_eq!(one.body["oldestPendingSeconds"], Value::Null);
    assert_eq!(one.body["pendingWithdrawals"], 0);
    assert_eq!(one.body["lastLedgerVerify"]["ok"], true);
    assert_eq!(
        one.body["lastLedgerVerify"]["at"],
        "2023-11-14T22:13:20.000000000Z"
    );
    for bad in ["0", "91", "x", "-1", "1.5", ""] {
        let answer = get(&app, &viewer, &format!("{base}?days={bad}")).await;
        answer.assert_error(400, "BAD_REQUEST");
    }
}

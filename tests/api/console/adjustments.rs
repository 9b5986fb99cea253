//! Adjustments: credits to BONUS, debits from BONUS then EARNED, never below zero,
//! idempotent per game, one ADJUSTMENT line in the history, ledger still whole.

use kgen_loyalty::domain::console::operators::Role;
use serde_json::json;

use super::{adjust, get, operator_session};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_credit_goes_to_bonus_and_shows_as_one_adjustment_line() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let token = app.login(&game, "bob").await;
    let admin = operator_session(&app, "admin@studio.example", Role::Admin, &[&game.id]).await;

    let credit = adjust(
        &app,
        &admin,
        &game.id,
        "bob",
        "k1",
        json!({"amount": 120, "reason": "Lost reward <b>"}),
    )
    .await;

    assert_eq!(credit.status, 201, "{:?}", credit.body);
    assert_eq!(credit.body["userID"], "bob");
    assert_eq!(credit.body["amount"], 120);
    assert_eq!(credit.body["reason"], "Lost reward <b>");
    assert_eq!(credit.body["operator"], "admin@studio.example");
    let balance = app.balance(&token).await;
    assert_eq!(balance.body["bonus_balance"], 170);
    let history = app.transactions(&token, "").await;
    let line = &history.body["transactions"][0];
    assert_eq!(line["uid"], credit.body["adjustmentID"]);
    assert_eq!(line["amount"], 120);
    assert_eq!(line["description"]["type"], "ADJUSTMENT");
    assert_eq!(line["description"]["platformProtocolsTxnType"], "CREDIT");
    assert_eq!(
        line["description"]["platformProtocolsTxnName"],
        "Adjustment"
    );
    assert_eq!(
        line["description"]["platformProtocolsTxnDescription"],
        "Lost reward <b>"
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn a_debit_takes_bonus_first_then_earned_and_an_overdraw_writes_nothing() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let token = app.login(&game, "bob").await;
    let event = app.create_event(&game, 100, json!({})).await;
    assert_eq!(app.claim(&token, &event).await.status, 201);
    let admin = operator_session(&app, "admin@studio.example", Role::Admin, &[&game.id]).await;
    let transfers_before = app.scalar("select count(*) from transfers").await;

    let overdraw = adjust(
        &app,
        &admin,
        &game.id,
        "bob",
        "k0",
        json!({"amount": -151, "reason": "too much"}),
    )
    .await;
    let debit = adjust(
        &app,
        &admin,
        &game.id,
        "bob",
        "k1",
        json!({"amount": -80, "reason": "fraud"}),
    )
    .await;

    overdraw.assert_error(409, "INSUFFICIENT_BALANCE");
    assert_eq!(debit.status, 201, "{:?}", debit.body);
    assert_eq!(debit.body["amount"], -80);
    let balance = app.balance(&token).await;
    assert_eq!(
        (
            balance.body["bonus_balance"].as_i64(),
            balance.body["earned_balance"].as_i64()
        ),
        (Some(0), Some(70))
    );
    assert_eq!(
        app.scalar("select count(*) from transfers").await,
        transfers_before + 2,
        "one leg per bucket; none for the overdraw"
    );
    assert_eq!(app.scalar("select count(*) from adjustments").await, 1);
    let line = &app.transactions(&token, "").await.body["transactions"][0];
    assert_eq!(
        (
            line["amount"].as_i64(),
            line["description"]["platformProtocolsTxnType"].as_str()
        ),
        (Some(80), Some("DEBIT"))
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn a_replay_returns_the_first_answer_and_another_request_with_the_key_is_422() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let token = app.login(&game, "bob").await;
    app.login(&game, "carol").await;
    let admin = operator_session(&app, "admin@studio.example", Role::Admin, &[&game.id]).await;
    let body = json!({"amount": 10, "reason": "goodwill"});

    let first = adjust(&app, &admin, &game.id, "bob", "same-key", body.clone()).await;
    let replay = adjust(&app, &admin, &game.id, "bob", "same-key", body.clone()).await;
    let other_amount = adjust(
        &app,
        &admin,
        &game.id,
        "bob",
        "same-key",
        json!({"amount": 11, "reason": "goodwill"}),
    )
    .await;
    let other_gamer = adjust(&app, &admin, &game.id, "carol", "same-key", body.clone()).await;

    assert_eq!(first.status, 201);
    assert_eq!((replay.status, &replay.body), (201, &first.body));
    other_amount.assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    other_gamer.assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(
        app.balance(&token).await.body["bonus_balance"],
        60,
        "credited once"
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn bad_adjustments_are_refused_in_the_contracts_order() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    app.login(&game, "bob").await;
    let admin = operator_session(&app, "admin@studio.example", Role::Admin, &[&game.id]).await;
    let viewer = operator_session(&app, "v@studio.example", Role::Viewer, &[&game.id]).await;
    let cases = [
        (json!({"amount": 0, "reason": "x"}), "zero"),
        (json!({"amount": 1_000_000_001, "reason": "x"}), "too large"),
        (json!({"amount": 5, "reason": ""}), "empty reason"),
        (
            json!({"amount": 5, "reason": "x".repeat(501)}),
            "long reason",
        ),
        (json!({"amount": 1.5, "reason": "x"}), "fraction"),
        (json!({"reason": "x"}), "no amount"),
    ];

    for (body, description) in cases {
        let answer = adjust(&app, &admin, &game.id, "bob", "k", body).await;
        assert_eq!(answer.status, 400, "{description}: {:?}", answer.body);
    }
    let no_key = app
        .send(
            app.request(
                reqwest::Method::POST,
                &format!("/console/api/games/{}/gamers/bob/adjustments", game.id),
            )
            .header("cookie", format!("kgen_console={}", admin.cookie))
            .header("x-csrf-token", &admin.csrf)
            .json(&json!({"amount": 5, "reason": "x"})),
        )
        .await;
    no_key.assert_error(400, "BAD_REQUEST");
    adjust(
        &app,
        &viewer,
        &game.id,
        "bob",
        "k",
        json!({"amount": 5, "reason": "x"}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    adjust(
        &app,
        &admin,
        &game.id,
        "nobody",
        "k",
        json!({"amount": 5, "reason": "x"}),
    )
    .await
    .assert_error(404, "RECORD_NOT_FOUND");
    assert_eq!(app.scalar("select count(*) from adjustments").await, 0);
    let audit = get(&app, &admin, "/console/api/audit").await;
    assert_eq!(audit.body["entries"], json!([]));
}

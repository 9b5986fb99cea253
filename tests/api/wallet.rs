//! Proves the wallet (CONTRACT section 4, "Settlement"): balance fields and derived
//! figures, the transaction history with masking and stable pagination, and
//! withdrawals: refusals, PENDING → COMPLETED or FAILED with funds returned, one
//! winner among concurrent withdrawals, idempotency, and resumption after a restart.

use std::sync::Arc;

use kgen_loyalty::domain::settlement::Decision;
use serde_json::{json, Value};

use crate::helpers::{
    concurrently, spawn_app, spawn_app_custom, spawn_app_with_settler, FixedSettler, TestApp,
    TestClient,
};

/// A gamer with 300 earned + 50 bonus, linked to a KGeN account.
async fn rich_linked_gamer(app: &TestApp, client: &TestClient, user_id: &str) -> String {
    let token = app.login(client, user_id).await;
    let event = app.create_event(client, 300, json!({})).await;
    assert_eq!(app.claim(&token, &event).await.status, 201);
    app.link_phone_directly(
        client,
        user_id,
        &format!("+91{}", 9_000_000_000u64 + rand_suffix()),
    )
    .await;
    token
}

fn rand_suffix() -> u64 {
    u64::from(uuid::Uuid::new_v4().as_u128() as u32 % 1_000_000)
}

#[tokio::test]
async fn the_balance_has_every_field_with_its_derived_values() {
    let app = spawn_app().await;
    let client = app.create_client_with(50, 120).await;
    let session = app.session(&client, json!({"user_id": "p"})).await;
    let token = session.str("access_token");

    let balance = app.balance(&token).await;

    assert_eq!(balance.status, 200);
    let body = &balance.body;
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "bonus_balance",
            "bought_balance",
            "created_at",
            "earned_balance",
            "is_lazy_balance_updated",
            "lazy_balance",
            "lazy_balance_delta",
            "minWalletBalToWithdraw",
            "modified_at",
            "on_chain_balance",
            "wallet_address",
            "wallet_transaction_error"
        ]
    );
    assert_eq!(body["wallet_address"], session.body["wallet_address"]);
    assert_eq!(body["earned_balance"], 0);
    assert_eq!(body["bought_balance"], 0);
    assert_eq!(body["bonus_balance"], 50);
    assert_eq!(body["lazy_balance"], 50);
    assert_eq!(body["on_chain_balance"], 50);
    assert_eq!(body["lazy_balance_delta"], 0);
    assert_eq!(body["is_lazy_balance_updated"], true);
    assert_eq!(body["wallet_transaction_error"], false);
    assert_eq!(body["minWalletBalToWithdraw"], 120);
    for time in ["created_at", "modified_at"] {
        let text = body[time].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{time}: {text}"
        );
    }
}

#[tokio::test]
async fn the_history_shows_masked_addresses_and_splits_debits_and_credits() {
    let app = spawn_app_with_settler(Arc::new(FixedSettler(Decision::Wait))).await;
    let client = app.create_client().await;
    let token = rich_linked_gamer(&app, &client, "p").await;
    let withdrawal = app.withdraw(&token, None).await;
    assert_eq!(withdrawal.status, 200, "{:?}", withdrawal.body);

    let history = app.transactions(&token, "").await;

    assert_eq!(history.status, 200);
    let all = history.body["transactions"].as_array().unwrap();
    let kinds: Vec<&str> = all
        .iter()
        .map(|t| t["description"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["WITHDRAW", "EVENT_REWARD", "WELCOME_BONUS"],
        "newest first"
    );
    let debit = &all[0];
    assert_eq!(debit["uid"], withdrawal.body["uid"]);
    assert_eq!(debit["amount"], 350);
    assert_eq!(debit["sync_status"], "PENDING");
    assert_eq!(
        debit["description"],
        json!({"platformProtocolsTxnAmount": 350, "platformProtocolsTxnDescription": "Withdrawal to the linked KGeN wallet",
               "platformProtocolsTxnName": "Withdrawal", "type": "WITHDRAW", "platformProtocolsTxnType": "DEBIT"})
    );
    let masked = regex::Regex::new(r"^0x[0-9a-fA-F]{2}\*{5}[0-9a-fA-F]{4}$").unwrap();
    for transaction in all {
        for side in ["from_wallet", "to_wallet"] {
            let address = transaction[side].as_str().unwrap();
            assert!(masked.is_match(address), "{side} is masked: {address}");
        }
    }
    let wallet = app.balance(&token).await.body["wallet_address"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine = format!("{}*****{}", &wallet[..4], &wallet[wallet.len() - 4..]);
    assert_eq!(debit["from_wallet"], mine.as_str());
    assert_eq!(all[1]["to_wallet"], mine.as_str());
    assert_ne!(
        all[1]["from_wallet"],
        mine.as_str(),
        "rewards come from the game's issuing account"
    );
    assert_eq!(history.body["fromTransactions"], json!([debit]));
    assert_eq!(history.body["toTransactions"], json!([all[1], all[2]]));
    assert_eq!(history.body["last_evaluated_key"], "");
}

#[tokio::test]
async fn history_pages_never_skip_or_repeat_while_new_transactions_arrive() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app.create_event(&client, 1, json!({})).await;
    let token = app.login(&client, "p").await;
    for _ in 0..6 {
        app.claim(&token, &event).await;
    }
    let before: Vec<Value> = app.transactions(&token, "limit=500").await.body["transactions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(before.len(), 7);

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .transactions(&token, &format!("limit=3&last_evaluated_key={cursor}"))
            .await;
        assert_eq!(page.status, 200);
        seen.extend(
            page.body["transactions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["uid"].clone()),
        );
        // A new transaction lands between every two pages.
        app.claim(&token, &event).await;
        cursor = page.str("last_evaluated_key");
        if cursor.is_empty() {
            break;
        }
    }
    let expected: Vec<Value> = before.iter().map(|t| t["uid"].clone()).collect();
    assert_eq!(
        seen, expected,
        "every transaction of the first page's view, once, in order"
    );
    app.transactions(&token, "last_evaluated_key=forged")
        .await
        .assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn withdrawing_needs_a_linked_phone_and_the_threshold() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "p").await;

    app.withdraw(&token, None)
        .await
        .assert_error(403, "PHONE_NOT_LINKED");
    app.link_phone_directly(&client, "p", "+919876543219").await;
    let short = app.withdraw(&token, None).await;
    short.assert_error(409, "INSUFFICIENT_BALANCE");
    assert!(
        short.body["message"].as_str().unwrap().contains("300"),
        "the message states the threshold"
    );

    let lenient = app.create_client_with(50, 0).await;
    let zero = app.login(&lenient, "z").await;
    app.link_phone_directly(&lenient, "z", "+919876543000")
        .await;
    let event = app.create_event(&lenient, 0, json!({})).await;
    app.claim(&zero, &event).await;
    assert_eq!(
        app.withdraw(&zero, None).await.status,
        200,
        "50 bonus clears a 0 threshold"
    );
    app.withdraw(&zero, None)
        .await
        .assert_error(409, "INSUFFICIENT_BALANCE");
    assert_eq!(app.scalar("select count(*) from withdrawals").await, 1);
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn a_pending_withdrawal_shows_in_the_balance_and_settles_to_completed() {
    let app = spawn_app_with_settler(Arc::new(FixedSettler(Decision::Wait))).await;
    let client = app.create_client().await;
    let token = rich_linked_gamer(&app, &client, "p").await;

    let answer = app.withdraw(&token, None).await;

    assert_eq!(answer.status, 200);
    let body = answer.body.as_object().unwrap();
    assert_eq!(body["msg"], "wallet withdrawal successful");
    assert_eq!(body["amount"], 350);
    assert_eq!(body["sync_status"], "PENDING");
    assert!(uuid::Uuid::parse_str(&answer.str("uid")).is_ok());
    let pending = app.balance(&token).await.body;
    assert_eq!(pending["lazy_balance"], 0);
    assert_eq!(pending["lazy_balance_delta"], -350);
    assert_eq!(pending["on_chain_balance"], 350);
    assert_eq!(pending["is_lazy_balance_updated"], false);
    app.assert_ledger_holds().await;

    // The same database under a server with the default settler: picked up again.
    let (url, dir) = app.stop().await;
    let app = spawn_app_custom(url, dir, |_| {}, |_| {}).await;
    let settled = app
        .wait_for_balance(&token, |b| b["lazy_balance_delta"] == 0)
        .await;
    assert_eq!(settled["on_chain_balance"], 0);
    assert_eq!(settled["wallet_transaction_error"], false);
    let history = app.transactions(&token, "").await.body;
    assert_eq!(history["transactions"][0]["sync_status"], "COMPLETED");
    let kgen = app
        .scalar("select balance from accounts where kind = 'KGEN'")
        .await;
    assert_eq!(kgen, 350, "the KGeN wallet holds what was withdrawn");
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn a_failed_settlement_returns_each_bucket_what_it_gave() {
    let app = spawn_app_with_settler(Arc::new(FixedSettler(Decision::Fail))).await;
    let client = app.create_client().await;
    let token = rich_linked_gamer(&app, &client, "p").await;

    assert_eq!(app.withdraw(&token, None).await.status, 200);

    let failed = app
        .wait_for_balance(&token, |b| b["wallet_transaction_error"] == true)
        .await;
    assert_eq!(failed["earned_balance"], 300);
    assert_eq!(failed["bonus_balance"], 50);
    assert_eq!(failed["lazy_balance_delta"], 0);
    let history = app.transactions(&token, "").await.body;
    assert_eq!(history["transactions"][0]["sync_status"], "FAILED");
    assert_eq!(
        app.scalar("select balance from accounts where kind = 'KGEN'")
            .await,
        0
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn of_concurrent_withdrawals_exactly_one_succeeds() {
    let app = Arc::new(spawn_app_with_settler(Arc::new(FixedSettler(Decision::Wait))).await);
    let client = app.create_client().await;
    let token = Arc::new(rich_linked_gamer(&app, &client, "p").await);

    let answers = concurrently(10, |_| {
        let (app, token) = (app.clone(), token.clone());
        async move { app.withdraw(&token, None).await }
    })
    .await;

    let won = answers.iter().filter(|a| a.status == 200).count();
    let lost = answers
        .iter()
        .filter(|a| a.code() == "INSUFFICIENT_BALANCE")
        .count();
    assert_eq!((won, lost), (1, 9));
    assert_eq!(app.balance(&token).await.body["lazy_balance"], 0);
    assert_eq!(
        app.scalar("select cast(sum(amount) as bigint) from withdrawals")
            .await,
        350
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn an_idempotent_withdrawal_retry_returns_the_first_answer() {
    let app = spawn_app_with_settler(Arc::new(FixedSettler(Decision::Wait))).await;
    let client = app.create_client().await;
    let token = rich_linked_gamer(&app, &client, "p").await;

    let first = app.withdraw(&token, Some("w-1")).await;
    let retry = app.withdraw(&token, Some("w-1")).await;

    assert_eq!(first.status, 200);
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body, first.body);
    assert_eq!(app.scalar("select count(*) from withdrawals").await, 1);
    let event = app.create_event(&client, 5, json!({})).await;
    app.claim_with_key(&token, &event, "w-1")
        .await
        .assert_error(422, "IDEMPOTENCY_KEY_REUSED");
}

#[tokio::test]
async fn a_gamer_linked_by_otp_withdraws_to_its_kgen_wallet_end_to_end() {
    let linking = crate::sms_receiver::linking_app(|_| {}).await;
    let app = &linking.app;
    let token = linking.login("p").await;
    let event = app.create_event(&linking.client, 300, json!({})).await;
    assert_eq!(app.claim(&token, &event).await.status, 201);
    app.withdraw(&token, None)
        .await
        .assert_error(403, "PHONE_NOT_LINKED");

    linking.link(&token, "9876543219").await;
    let withdrawal = app.withdraw(&token, None).await;

    assert_eq!(withdrawal.status, 200, "{:?}", withdrawal.body);
    assert_eq!(withdrawal.body["amount"], 350);
    let settled = app
        .wait_for_balance(&token, |b| b["lazy_balance_delta"] == 0)
        .await;
    assert_eq!(settled["lazy_balance"], 0);
    let linked = linking.linked(&token).await;
    let kgen_wallet = linked.str("IndiggWalletAddress");
    let history = app.transactions(&token, "").await.body;
    let debit = &history["transactions"][0];
    assert_eq!(debit["sync_status"], "COMPLETED");
    assert_eq!(
        debit["to_wallet"],
        format!(
            "{}*****{}",
            &kgen_wallet[..4],
            &kgen_wallet[kgen_wallet.len() - 4..]
        )
        .as_str(),
        "the withdrawal went to the KGeN wallet linked by OTP"
    );
    let held: i64 =
        sqlx::query_scalar("select balance from accounts where kind = 'KGEN' and address = $1")
            .bind(&kgen_wallet)
            .fetch_one(app.db.reader())
            .await
            .unwrap();
    assert_eq!(held, 350);
    app.assert_ledger_holds().await;
}

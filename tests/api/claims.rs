//! Proves reward claims (CONTRACT section 5, "Claim policies", "Idempotency"): the
//! reward object, the bucket, every refusal in the contract's order with nothing
//! written, the policies under 50 concurrent claims, idempotent retries, and that
//! the ledger holds after each scenario.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::helpers::{concurrently, spawn_app, TestApp, TestClient};

async fn gamer(app: &TestApp, client: &TestClient, user_id: &str) -> String {
    app.login(client, user_id).await
}

#[tokio::test]
async fn a_claim_answers_the_reward_and_credits_the_earned_bucket() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app
        .create_event(
            &client,
            100,
            json!({"eventName": "Unlocking the daily gift"}),
        )
        .await;
    let token = gamer(&app, &client, "FTC_User1").await;

    let answer = app.claim(&token, &event).await;

    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let body = answer.body.as_object().unwrap();
    let mut fields: Vec<&str> = body.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "createdAt",
            "eventID",
            "rewardAmount",
            "rewardID",
            "rewardStatus",
            "updatedAt",
            "userID"
        ]
    );
    assert_eq!(body["userID"], "FTC_User1");
    assert_eq!(body["eventID"], event.as_str());
    assert_eq!(body["rewardStatus"], "REWARDED");
    assert_eq!(body["rewardAmount"], 100);
    assert!(uuid::Uuid::parse_str(&answer.str("rewardID")).is_ok());
    let balance = app.balance(&token).await.body;
    assert_eq!(
        (
            balance["earned_balance"].as_i64(),
            balance["bonus_balance"].as_i64()
        ),
        (Some(100), Some(50))
    );
    assert_eq!(balance["lazy_balance"], 150);
    let history = app.transactions(&token, "").await.body;
    let reward = &history["transactions"][0];
    assert_eq!(reward["uid"], body["rewardID"]);
    assert_eq!(reward["description"]["type"], "EVENT_REWARD");
    assert_eq!(
        reward["description"]["platformProtocolsTxnName"],
        "Unlocking the daily gift"
    );
    assert_eq!(
        reward["description"]["platformProtocolsTxnDescription"],
        "Reward for DailyBonus"
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn a_bonus_event_credits_the_bonus_bucket() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app
        .create_event(&client, 30, json!({"rewardCategory": "BONUS"}))
        .await;
    let token = gamer(&app, &client, "p").await;

    assert_eq!(app.claim(&token, &event).await.status, 201);

    let balance = app.balance(&token).await.body;
    assert_eq!(balance["bonus_balance"], 80);
    assert_eq!(balance["earned_balance"], 0);
}

#[tokio::test]
async fn unknown_deleted_and_foreign_events_are_404_and_write_nothing() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let other = app.create_client().await;
    let foreign = app.create_event(&other, 10, json!({})).await;
    let deleted = app.create_event(&client, 10, json!({})).await;
    app.s2s(
        &client,
        reqwest::Method::DELETE,
        &format!("/s2s/loyalty/rewardable-events/{deleted}"),
        None,
    )
    .await;
    let token = gamer(&app, &client, "p").await;

    for event in [foreign.as_str(), deleted.as_str(), "nope"] {
        app.claim(&token, event)
            .await
            .assert_error(404, "RECORD_NOT_FOUND");
    }
    assert_eq!(app.scalar("select count(*) from claims").await, 0);
    assert_eq!(app.balance(&token).await.body["lazy_balance"], 50);
}

#[tokio::test]
async fn refusals_follow_the_contract_order_and_write_nothing() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let future = "2200-01-01T00:00:00Z";
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "inactive and not open",
            json!({"isActive": false, "startsAt": future}),
            409,
            "EVENT_INACTIVE",
        ),
        (
            "not open and untraced",
            json!({"startsAt": future, "isActivityTraceEnabled": true, "activityTraceActivityID": "t"}),
            409,
            "EVENT_NOT_OPEN",
        ),
        (
            "ended",
            json!({"endsAt": "2000-01-01T00:00:00Z"}),
            409,
            "EVENT_NOT_OPEN",
        ),
        (
            "untraced and out of budget",
            json!({"isActivityTraceEnabled": true, "activityTraceActivityID": "t", "totalBudget": 0}),
            409,
            "ACTIVITY_NOT_TRACED",
        ),
        (
            "out of budget",
            json!({"totalBudget": 99}),
            409,
            "BUDGET_EXHAUSTED",
        ),
    ];
    let token = gamer(&app, &client, "p").await;
    for (description, extra, status, code) in cases {
        let event = app.create_event(&client, 100, extra).await;
        let answer = app.claim(&token, &event).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{description}: {:?}",
            answer.body
        );
    }
    assert_eq!(
        app.scalar("select count(*) from claims").await,
        0,
        "no refused claim was written"
    );
    assert_eq!(
        app.scalar("select cast(max(paid_out) as bigint) from events")
            .await,
        0
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn cooldown_answers_429_with_retry_after_before_the_limit() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app
        .create_event(
            &client,
            10,
            json!({"cooldownSeconds": 3600, "maxClaimsPerUser": 1}),
        )
        .await;
    let token = gamer(&app, &client, "p").await;
    assert_eq!(app.claim(&token, &event).await.status, 201);

    let again = app.claim(&token, &event).await;

    again.assert_error(429, "CLAIM_COOLDOWN");
    let retry_after: u64 = again.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3590..=3600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
}

#[tokio::test]
async fn the_per_user_limit_counts_each_gamer_separately() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app
        .create_event(
            &client,
            10,
            json!({"maxClaimsPerUser": 2, "claimPeriod": "DAILY"}),
        )
        .await;
    let first = gamer(&app, &client, "a").await;
    let second = gamer(&app, &client, "b").await;

    assert_eq!(app.claim(&first, &event).await.status, 201);
    assert_eq!(app.claim(&first, &event).await.status, 201);
    app.claim(&first, &event)
        .await
        .assert_error(409, "CLAIM_LIMIT_REACHED");
    assert_eq!(
        app.claim(&second, &event).await.status,
        201,
        "another gamer has its own count"
    );
    assert_eq!(app.balance(&first).await.body["earned_balance"], 20);
}

#[tokio::test]
async fn a_budget_pays_whole_rewards_only_and_survives_an_update() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app
        .create_event(&client, 100, json!({"totalBudget": 250}))
        .await;
    let token = gamer(&app, &client, "p").await;
    assert_eq!(app.claim(&token, &event).await.status, 201);
    assert_eq!(app.claim(&token, &event).await.status, 201);
    app.claim(&token, &event)
        .await
        .assert_error(409, "BUDGET_EXHAUSTED");

    // Raising the budget counts what was already paid out (200 of 350).
    let update = json!({"eventID": event, "eventType": "DailyBonus", "rewardAmount": 100, "totalBudget": 350});
    assert_eq!(app.put_event(&client, update).await.status, 201);
    assert_eq!(app.claim(&token, &event).await.status, 201);
    app.claim(&token, &event)
        .await
        .assert_error(409, "BUDGET_EXHAUSTED");
    assert_eq!(app.balance(&token).await.body["earned_balance"], 300);
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn activity_traced_events_need_a_fresh_drop_for_each_claim() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app
        .create_event(
            &client,
            10,
            json!({"isActivityTraceEnabled": true, "activityTraceActivityID": "level-done"}),
        )
        .await;
    let token = gamer(&app, &client, "p").await;

    app.claim(&token, &event)
        .await
        .assert_error(409, "ACTIVITY_NOT_TRACED");
    app.drop_tracker_event_directly(&client, "p", "other-activity")
        .await;
    app.claim(&token, &event)
        .await
        .assert_error(409, "ACTIVITY_NOT_TRACED");
    app.drop_tracker_event_directly(&client, "p", "level-done")
        .await;
    assert_eq!(app.claim(&token, &event).await.status, 201);
    app.claim(&token, &event)
        .await
        .assert_error(409, "ACTIVITY_NOT_TRACED");
    app.drop_tracker_event_directly(&client, "p", "level-done")
        .await;
    assert_eq!(
        app.claim(&token, &event).await.status,
        201,
        "a new drop allows the next claim"
    );
}

#[tokio::test]
async fn fifty_concurrent_claims_never_exceed_the_budget() {
    let app = Arc::new(spawn_app().await);
    let client = app.create_client().await;
    let event = app
        .create_event(&client, 100, json!({"totalBudget": 1000}))
        .await;
    let mut tokens = Vec::new();
    for i in 0..50 {
        tokens.push(gamer(&app, &client, &format!("g{i}")).await);
    }
    let tokens = Arc::new(tokens);

    let answers = concurrently(50, |i| {
        let (app, tokens, event) = (app.clone(), tokens.clone(), event.clone());
        async move { app.claim(&tokens[i], &event).await }
    })
    .await;

    let granted = answers.iter().filter(|a| a.status == 201).count();
    let refused = answers
        .iter()
        .filter(|a| a.code() == "BUDGET_EXHAUSTED")
        .count();
    assert_eq!(
        (granted, refused),
        (10, 40),
        "exactly the budget is paid out"
    );
    assert_eq!(
        app.scalar("select cast(sum(amount) as bigint) from claims")
            .await,
        1000
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn fifty_concurrent_claims_of_one_gamer_respect_the_limit_and_lose_no_update() {
    let app = Arc::new(spawn_app().await);
    let client = app.create_client().await;
    let limited = app
        .create_event(&client, 7, json!({"maxClaimsPerUser": 5}))
        .await;
    let unlimited = app.create_event(&client, 3, json!({})).await;
    let token = Arc::new(gamer(&app, &client, "busy").await);

    let answers = concurrently(100, |i| {
        let (app, token) = (app.clone(), token.clone());
        let event = if i % 2 == 0 {
            limited.clone()
        } else {
            unlimited.clone()
        };
        async move { app.claim(&token, &event).await }
    })
    .await;

    let granted_limited = answers
        .iter()
        .step_by(2)
        .filter(|a| a.status == 201)
        .count();
    let granted_unlimited = answers
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|a| a.status == 201)
        .count();
    assert_eq!(granted_limited, 5);
    assert_eq!(
        granted_unlimited, 50,
        "no valid claim is refused because of contention"
    );
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.status != 201)
        .map(|a| a.code().to_owned())
        .collect();
    assert!(
        refused.iter().all(|c| c == "CLAIM_LIMIT_REACHED"),
        "{refused:?}"
    );
    assert_eq!(
        app.balance(&token).await.body["earned_balance"],
        5 * 7 + 50 * 3
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_first_reward_and_changes_nothing() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app.create_event(&client, 100, json!({})).await;
    let other_event = app.create_event(&client, 100, json!({})).await;
    let token = gamer(&app, &client, "p").await;

    let first = app.claim_with_key(&token, &event, "key-1").await;
    let retry = app.claim_with_key(&token, &event, "key-1").await;

    assert_eq!(first.status, 201);
    assert_eq!(retry.status, 201);
    assert_eq!(retry.body, first.body, "same status, same ids");
    assert_eq!(app.scalar("select count(*) from claims").await, 1);
    assert_eq!(app.balance(&token).await.body["earned_balance"], 100);
    app.claim_with_key(&token, &other_event, "key-1")
        .await
        .assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    let other_gamer = gamer(&app, &client, "q").await;
    assert_eq!(
        app.claim_with_key(&other_gamer, &event, "key-1")
            .await
            .status,
        201,
        "keys belong to one gamer"
    );
    app.claim_with_key(&token, &event, &"k".repeat(256))
        .await
        .assert_error(400, "BAD_REQUEST");
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn refused_requests_do_not_store_their_key_and_keys_expire_after_a_day() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app
        .create_event(&client, 10, json!({"isActive": false}))
        .await;
    let token = gamer(&app, &client, "p").await;
    app.claim_with_key(&token, &event, "k")
        .await
        .assert_error(409, "EVENT_INACTIVE");
    let activate = json!({"eventID": event, "eventType": "DailyBonus", "rewardAmount": 10});
    app.put_event(&client, activate).await;

    let fresh = app.claim_with_key(&token, &event, "k").await;
    assert_eq!(fresh.status, 201, "a refused request is evaluated afresh");

    sqlx::query("update idempotency_keys set created_at = created_at - 90000000000000")
        .execute(app.db.writer())
        .await
        .unwrap();
    let after_a_day = app.claim_with_key(&token, &event, "k").await;
    assert_eq!(after_a_day.status, 201);
    assert_ne!(
        after_a_day.body["rewardID"], fresh.body["rewardID"],
        "an expired key is new again"
    );
}

#[tokio::test]
async fn the_reward_list_pages_newest_first() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let event = app.create_event(&client, 1, json!({})).await;
    let token = gamer(&app, &client, "p").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.claim(&token, &event).await.str("rewardID"));
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut offset = String::new();
    loop {
        let page = app
            .fe(
                &token,
                reqwest::Method::GET,
                &format!("/fe/loyalty/event-reward-user-claims/user?limit=2&offset={offset}"),
                None,
            )
            .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        for reward in page.body["rewards"].as_array().unwrap() {
            assert_eq!(reward["userID"], "p");
            seen.push(reward["rewardID"].as_str().unwrap().to_owned());
        }
        offset = page.str("offset");
        if offset.is_empty() {
            break;
        }
    }
    assert_eq!(seen, ids);
    let other = gamer(&app, &client, "q").await;
    let empty = app
        .fe(
            &other,
            reqwest::Method::GET,
            "/fe/loyalty/event-reward-user-claims/user",
            None,
        )
        .await;
    assert_eq!(empty.body, json!({"rewards": [], "offset": ""}));
}

//! Proves the group commit of claims (issue 10): claims queued together commit as
//! one batch, a claim refused inside a batch leaves no trace and does not disturb
//! its neighbours, and a batch whose commit fails answers every member 503 and
//! writes nothing. The batch is formed for certain by holding the writer while the
//! claims queue up. On PostgreSQL, where every claim is its own transaction, these
//! tests have no batch to hold and check nothing.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app, Answer, TestApp};

/// Sends every `(token, event)` claim at once while the writer is held, waits until
/// all of them are queued, then lets the writer take them as one batch.
async fn claim_as_one_batch(app: &Arc<TestApp>, claims: Vec<(String, String)>) -> Vec<Answer> {
    let writer = app.db.lite().expect("SQLite has a group-commit writer");
    let count = claims.len();
    let hold = writer.hold();
    let handles: Vec<_> = claims
        .into_iter()
        .map(|(token, event)| {
            let app = Arc::clone(app);
            tokio::spawn(async move { app.claim(&token, &event).await })
        })
        .collect();
    // The writer takes the first job and waits at the gate; the rest queue.
    for _ in 0..500 {
        if writer.queued() + 1 >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(writer.queued() + 1, count, "every claim reached the writer");
    drop(hold);
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.expect("claim task"));
    }
    assert!(
        writer.largest_batch() >= count,
        "the claims formed one batch"
    );
    answers
}

#[tokio::test]
async fn a_claim_refused_inside_a_batch_leaves_no_trace_and_its_neighbours_commit() {
    // Arrange: a once-only event claimed twice by one gamer, a budget for one
    // reward claimed by two gamers, and two plain claims.
    let app = Arc::new(spawn_app().await);
    if app.db.lite().is_none() {
        return;
    }
    let client = app.create_client().await;
    let once = app
        .create_event(&client, 5, json!({"maxClaimsPerUser": 1}))
        .await;
    let budget = app
        .create_event(&client, 7, json!({"totalBudget": 7}))
        .await;
    let plain = app.create_event(&client, 3, json!({})).await;
    let a = app.login(&client, "a").await;
    let b = app.login(&client, "b").await;
    let c = app.login(&client, "c").await;
    let claims = vec![
        (a.clone(), once.clone()),
        (a.clone(), once.clone()),
        (b.clone(), budget.clone()),
        (c.clone(), budget.clone()),
        (b.clone(), plain.clone()),
        (c.clone(), plain.clone()),
    ];

    // Act
    let answers = claim_as_one_batch(&app, claims).await;

    // Assert: one of each contested pair won, the plain claims both did.
    let codes: Vec<String> = answers
        .iter()
        .map(|answer| match answer.status {
            201 => "201".to_owned(),
            _ => answer.code().to_owned(),
        })
        .collect();
    let mut once_codes = codes[0..2].to_vec();
    once_codes.sort();
    assert_eq!(once_codes, ["201", "CLAIM_LIMIT_REACHED"], "{codes:?}");
    let mut budget_codes = codes[2..4].to_vec();
    budget_codes.sort();
    assert_eq!(budget_codes, ["201", "BUDGET_EXHAUSTED"], "{codes:?}");
    assert_eq!(codes[4..], ["201", "201"], "{codes:?}");
    assert_eq!(app.scalar("select count(*) from claims").await, 4);
    assert_eq!(
        app.scalar("select count(*) from transfers where kind = 'EVENT_REWARD'")
            .await,
        4
    );
    assert_eq!(
        app.scalar("select cast(sum(amount) as bigint) from claims")
            .await,
        5 + 7 + 3 + 3
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn a_batch_that_fails_to_commit_answers_every_member_503_and_writes_nothing() {
    // Arrange: five gamers, and a writer whose next commit fails.
    let app = Arc::new(spawn_app().await);
    let Some(writer) = app.db.lite() else {
        return;
    };
    let client = app.create_client().await;
    let event = app.create_event(&client, 10, json!({})).await;
    let mut tokens = Vec::new();
    for i in 0..5 {
        tokens.push(app.login(&client, &format!("g{i}")).await);
    }
    let claims = tokens.iter().map(|t| (t.clone(), event.clone())).collect();
    writer.fail_next_commits(1);

    // Act
    let answers = claim_as_one_batch(&app, claims).await;

    // Assert: all refused with 503, nothing written; the same claims succeed after.
    for answer in &answers {
        answer.assert_error(503, "SERVICE_UNAVAILABLE");
    }
    assert_eq!(app.scalar("select count(*) from claims").await, 0);
    assert_eq!(
        app.scalar("select count(*) from transfers where kind = 'EVENT_REWARD'")
            .await,
        0
    );
    for token in &tokens {
        assert_eq!(app.balance(token).await.body["earned_balance"], 0);
        assert_eq!(app.claim(token, &event).await.status, 201);
    }
    app.assert_ledger_holds().await;
}

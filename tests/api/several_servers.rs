//! Proves that what holds for one server holds for two on one PostgreSQL database
//! (issue 14, "several servers, one truth"): a session revoked on one server
//! (refresh-token reuse, the console) is refused by the other within its auth-cache
//! lifetime, `keys rotate` takes effect on both from the next request, a disabled
//! client's gamers are refused by both, two settlement workers never settle a
//! withdrawal twice, and claim limits, cooldowns and budgets hold exactly with the
//! claims spread over both. PostgreSQL only: SQLite is one server per file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kgen_loyalty::config::Config;
use kgen_loyalty::domain::console::operators::Role;
use kgen_loyalty::domain::settlement::{Decision, DecisionFuture, Settler};
use kgen_loyalty::storage::withdrawals::WithdrawalRow;
use kgen_loyalty::storage::Backend;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;

use crate::console::{call, operator_session};
use crate::helpers::{spawn_app_custom, spawn_app_on, spawn_app_with, Answer, TestApp};
use crate::process::cli;

/// How long a server keeps a session's authentication in these tests: the bound
/// within which the other server must refuse a revoked session.
const AUTH_CACHE_SECONDS: u64 = 2;

/// CONTRACT "Tokens": a revoked session's access tokens stop on every other node
/// within 60 s.
const CONTRACT_BOUND: Duration = Duration::from_secs(60);

fn settings(config: &mut Config) {
    config.auth_cache_seconds = AUTH_CACHE_SECONDS;
    config.rate_limit_client_per_second = 1_000_000;
    config.rate_limit_client_burst = 1_000_000;
    config.rate_limit_gamer_per_second = 1_000_000;
    config.rate_limit_gamer_burst = 1_000_000;
}

fn webhooks(config: &mut Config) {
    settings(config);
    config.webhook_allow_http = true;
    config.webhook_allow_private = true;
}

/// Two servers on one fresh PostgreSQL database; `None` on SQLite.
async fn two_servers() -> Option<(TestApp, TestApp)> {
    let first = spawn_app_with(settings).await;
    if first.db.backend() != Backend::Postgres {
        return None;
    }
    let second = spawn_app_on(
        first.database_url.clone(),
        tempfile::tempdir().unwrap(),
        settings,
    )
    .await;
    Some((first, second))
}

/// `POST /fe/users/auth/token/refresh` on `app`.
async fn refresh(app: &TestApp, refresh_token: &str) -> Answer {
    app.send(
        app.request(Method::POST, "/fe/users/auth/token/refresh")
            .json(&json!({"refresh_token": refresh_token})),
    )
    .await
}

/// Waits until `app` refuses `token` with 401 and returns how long that took;
/// panics if it is still accepted after the auth-cache lifetime (plus a second for
/// the test's own requests).
async fn refused_within_cache_lifetime(app: &TestApp, token: &str, since: Instant) -> Duration {
    let bound = Duration::from_secs(AUTH_CACHE_SECONDS + 1);
    loop {
        let answer = app.balance(token).await;
        if answer.status == 401 {
            answer.assert_error(401, "UN_AUTHORIZED");
            return since.elapsed();
        }
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert!(
            since.elapsed() < bound,
            "still accepted {:?} after the revocation (auth cache {AUTH_CACHE_SECONDS} s)",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The key ids `/.well-known/jwks.json` of `app` lists, sorted.
async fn published_kids(app: &TestApp) -> Vec<String> {
    let answer = app
        .send(app.request(Method::GET, "/.well-known/jwks.json"))
        .await;
    let mut kids: Vec<String> = answer.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn a_refresh_token_reused_on_one_server_revokes_the_session_on_the_other() {
    let Some((a, b)) = two_servers().await else {
        return;
    };
    let client = a.create_client().await;
    let session = a.session(&client, json!({"user_id": "p"})).await;
    let first_refresh = session.str("refresh_token");
    let rotated = refresh(&b, &first_refresh).await;
    assert_eq!(rotated.status, 200, "a refresh token works on any server");
    let access = rotated.str("access_token");
    for server in [&a, &b] {
        assert_eq!(server.balance(&access).await.status, 200, "now cached");
        assert_eq!(
            server.balance(&session.str("access_token")).await.status,
            200
        );
    }

    refresh(&a, &first_refresh)
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let reused_at = Instant::now();

    a.balance(&access).await.assert_error(401, "UN_AUTHORIZED");
    refresh(&b, &rotated.str("refresh_token"))
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let took = refused_within_cache_lifetime(&b, &access, reused_at).await;
    refused_within_cache_lifetime(&b, &session.str("access_token"), reused_at).await;
    assert!(took < CONTRACT_BOUND);
}

#[tokio::test]
async fn a_console_revocation_on_one_server_stops_the_gamers_tokens_on_the_other() {
    let Some((a, b)) = two_servers().await else {
        return;
    };
    let game = a.create_client().await;
    let bob = b.session(&game, json!({"user_id": "bob"})).await;
    let carol = b.login(&game, "carol").await;
    assert_eq!(b.balance(&bob.str("access_token")).await.status, 200);
    let admin = operator_session(&a, "admin@studio.example", Role::Admin, &[&game.id]).await;
    let path = format!("/console/api/games/{}/gamers/bob/sessions/revoke", game.id);

    let revoked = call(&a, &admin, Method::POST, &path, None).await;
    let revoked_at = Instant::now();

    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    a.balance(&bob.str("access_token"))
        .await
        .assert_error(401, "UN_AUTHORIZED");
    refresh(&b, &bob.str("refresh_token"))
        .await
        .assert_error(401, "UN_AUTHORIZED");
    refused_within_cache_lifetime(&b, &bob.str("access_token"), revoked_at).await;
    assert_eq!(
        b.balance(&carol).await.status,
        200,
        "other gamers unaffected"
    );
    let later = b.login(&game, "bob").await;
    assert_eq!(a.balance(&later).await.status, 200, "later sessions work");
}

#[tokio::test]
async fn keys_rotated_by_the_cli_sign_on_both_servers_at_once_and_old_tokens_stay_valid() {
    let Some((a, b)) = two_servers().await else {
        return;
    };
    let client = a.create_client().await;
    let old_a = a.login(&client, "p").await;
    let old_b = b.login(&client, "q").await;
    assert_eq!(kid_of(&old_a), kid_of(&old_b));

    let printed = cli(&a.database_url, &["keys", "rotate"]);

    let kid = printed.trim().rsplit(' ').next().unwrap().to_owned();
    assert_ne!(kid, kid_of(&old_a), "{printed}");
    let new_a = a.login(&client, "p").await;
    let new_b = b.login(&client, "q").await;
    assert_eq!(
        (kid_of(&new_a), kid_of(&new_b)),
        (kid.clone(), kid.clone()),
        "both servers sign with the new key from the next request"
    );
    for server in [&a, &b] {
        for token in [&old_a, &old_b, &new_a, &new_b] {
            assert_eq!(
                server.balance(token).await.status,
                200,
                "every live token is accepted by every server"
            );
        }
    }
    let (published_a, published_b) = (published_kids(&a).await, published_kids(&b).await);
    assert_eq!(published_a.len(), 2, "current and previous store keys");
    assert_eq!(published_a, published_b);
}

#[tokio::test]
async fn a_client_disabled_by_the_cli_is_refused_by_both_servers() {
    let Some((a, b)) = two_servers().await else {
        return;
    };
    let client = a.create_client().await;
    let on_a = a.login(&client, "p").await;
    let on_b = b.login(&client, "q").await;
    for server in [&a, &b] {
        for token in [&on_a, &on_b] {
            assert_eq!(server.balance(token).await.status, 200, "now cached");
        }
    }

    cli(&a.database_url, &["clients", "disable", &client.id]);
    let disabled_at = Instant::now();

    for server in [&a, &b] {
        for token in [&on_a, &on_b] {
            refused_within_cache_lifetime(server, token, disabled_at).await;
        }
        server
            .s2s(&client, Method::GET, "/s2s/loyalty/rewardable-events", None)
            .await
            .assert_error(401, "UN_AUTHORIZED");
        server
            .session(&client, json!({"user_id": "new"}))
            .await
            .assert_error(401, "UN_AUTHORIZED");
    }
}

/// A settler shared by both servers: it takes a moment per decision (so that both
/// workers meet the same PENDING rows), fails the withdrawals of gamers with an
/// odd id, and counts how often each withdrawal was asked about.
#[derive(Debug, Default)]
struct CountingSettler {
    asked: Mutex<HashMap<String, usize>>,
}

impl Settler for CountingSettler {
    fn settle<'a>(&'a self, withdrawal: &'a WithdrawalRow) -> DecisionFuture<'a> {
        *self
            .asked
            .lock()
            .unwrap()
            .entry(withdrawal.id.clone())
            .or_default() += 1;
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if withdrawal.gamer_id % 2 == 1 {
                Decision::Fail
            } else {
                Decision::Complete
            }
        })
    }
}

#[tokio::test]
async fn two_settlement_workers_settle_each_withdrawal_exactly_once() {
    let settler = Arc::new(CountingSettler::default());
    let with_settler = |settler: Arc<CountingSettler>| {
        move |state: &mut kgen_loyalty::state::AppState| {
            state.parts_mut().expect("not shared yet").settler = settler;
        }
    };
    let (url, dir) = crate::helpers::fresh_database_url().await;
    if !url.starts_with("postgres") {
        return;
    }
    let a = spawn_app_custom(url.clone(), dir, webhooks, with_settler(settler.clone())).await;
    let b = spawn_app_custom(
        url,
        tempfile::tempdir().unwrap(),
        webhooks,
        with_settler(settler.clone()),
    )
    .await;
    let client = a.create_client_with(500, 100).await;
    // An endpoint makes every settlement write its `withdrawal.*` event to the
    // outbox, in the settlement's transaction: one event per settlement recorded.
    // Nothing listens on port 9; its deliveries just fail.
    let endpoint = a
        .s2s(
            &client,
            Method::POST,
            "/s2s/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/kgen", "eventTypes": ["withdrawal.completed", "withdrawal.failed"]})),
        )
        .await;
    assert_eq!(endpoint.status, 201, "{:?}", endpoint.body);
    let gamers = 40;
    let mut tokens = Vec::new();
    for i in 0..gamers {
        let user_id = format!("g{i}");
        tokens.push(a.login(&client, &user_id).await);
        a.link_phone_directly(&client, &user_id, &format!("+9198765{i:05}"))
            .await;
    }

    let servers = [Arc::new(a), Arc::new(b)];
    let mut requests = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (server, token) = (Arc::clone(&servers[i % 2]), token.clone());
        requests.push(tokio::spawn(async move {
            server.withdraw(&token, Some(&format!("w{i}"))).await
        }));
    }
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.expect("withdrawer"));
    }
    let a = &servers[0];

    let uids: Vec<String> = answers
        .iter()
        .map(|answer| {
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            answer.str("uid")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while a
        .scalar("select count(*) from withdrawals where status = 'PENDING'")
        .await
        > 0
    {
        assert!(Instant::now() < deadline, "withdrawals still PENDING");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for uid in &uids {
        let (status, gamer_id): (String, i64) =
            sqlx::query_as("select status, gamer_id from withdrawals where id = $1")
                .bind(uid)
                .fetch_one(a.db.reader())
                .await
                .unwrap();
        let failed = gamer_id % 2 == 1;
        assert_eq!(status, if failed { "FAILED" } else { "COMPLETED" });
        let settled_events: i64 = sqlx::query_scalar(
            "select count(*) from webhook_events
             where type in ('withdrawal.completed', 'withdrawal.failed') and body like $1",
        )
        .bind(format!("%{uid}%"))
        .fetch_one(a.db.reader())
        .await
        .unwrap();
        assert_eq!(settled_events, 1, "withdrawal {uid} settled once");
        let returns: i64 = sqlx::query_scalar(
            "select count(*) from transfers where uid = $1 and kind = 'WITHDRAW_RETURN'",
        )
        .bind(uid)
        .fetch_one(a.db.reader())
        .await
        .unwrap();
        assert_eq!(
            returns,
            i64::from(failed),
            "withdrawal {uid}: funds returned"
        );
    }
    for token in &tokens {
        let balance = a.balance(token).await.body;
        let lazy = balance["lazy_balance"].as_i64().unwrap();
        assert!(lazy == 0 || lazy == 500, "{balance}");
    }
    let asked = settler.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), uids.len());
    let asked_twice = asked.values().filter(|&&n| n > 1).count();
    assert!(
        asked_twice > 0,
        "both workers met the same PENDING withdrawals (the race under test)"
    );
    a.assert_ledger_holds().await;
}

/// Claims `event` with every token, `rounds` times each, all at once, each claim
/// on the server of its turn; returns the answers' statuses and codes.
async fn claim_on_both(
    servers: &[Arc<TestApp>],
    tokens: &[String],
    event: &str,
    rounds: usize,
) -> Vec<(u16, String)> {
    let mut handles = Vec::new();
    for round in 0..rounds {
        for (i, token) in tokens.iter().enumerate() {
            let app = Arc::clone(&servers[(i + round) % servers.len()]);
            let (token, event) = (token.clone(), event.to_owned());
            handles.push(tokio::spawn(async move {
                let answer = app.claim(&token, &event).await;
                (answer.status, answer.code().to_owned())
            }));
        }
    }
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("claimer"));
    }
    out
}

fn granted(answers: &[(u16, String)]) -> usize {
    for (status, code) in answers {
        assert!(
            *status == 201 || [429, 409].contains(status),
            "unexpected answer {status} {code}"
        );
    }
    answers.iter().filter(|(status, _)| *status == 201).count()
}

#[tokio::test]
async fn claim_limits_cooldowns_and_budgets_hold_exactly_over_two_servers() {
    let Some((a, b)) = two_servers().await else {
        return;
    };
    let servers = [Arc::new(a), Arc::new(b)];
    let (a, b) = (&servers[0], &servers[1]);
    let client = a.create_client().await;
    let limited = a
        .create_event(&client, 10, json!({"maxClaimsPerUser": 3}))
        .await;
    let cooled = a
        .create_event(&client, 10, json!({"cooldownSeconds": 3600}))
        .await;
    let budgeted = a
        .create_event(&client, 10, json!({"totalBudget": 250}))
        .await;
    let one = vec![b.login(&client, "solo").await];
    let many: Vec<String> = {
        let mut tokens = Vec::new();
        for i in 0..10 {
            tokens.push(a.login(&client, &format!("m{i}")).await);
        }
        tokens
    };

    let limit = claim_on_both(&servers, &one, &limited, 12).await;
    let cooldown = claim_on_both(&servers, &one, &cooled, 12).await;
    let budget = claim_on_both(&servers, &many, &budgeted, 5).await;

    assert_eq!(granted(&limit), 3, "maxClaimsPerUser 3: {limit:?}");
    assert!(limit
        .iter()
        .all(|(s, c)| *s == 201 || c == "CLAIM_LIMIT_REACHED"));
    assert_eq!(
        granted(&cooldown),
        1,
        "one claim per cooldown: {cooldown:?}"
    );
    assert!(cooldown
        .iter()
        .all(|(s, c)| *s == 201 || c == "CLAIM_COOLDOWN"));
    assert_eq!(granted(&budget), 25, "a budget of 250 pays 25 claims of 10");
    assert!(budget
        .iter()
        .all(|(s, c)| *s == 201 || c == "BUDGET_EXHAUSTED"));
    let paid: i64 = a
        .scalar(&format!(
            "select paid_out from events where id = '{budgeted}'"
        ))
        .await;
    assert_eq!(paid, 250);
    let solo: Value = b.balance(&one[0]).await.body;
    assert_eq!(solo["earned_balance"], 40, "3 limited claims + 1 cooled");
    a.assert_ledger_holds().await;
}

#[tokio::test]
async fn a_pgbouncer_url_without_a_direct_url_is_refused_before_anything_runs() {
    let (url, _dir) = crate::helpers::fresh_database_url().await;
    if !url.starts_with("postgres") {
        return;
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    let pooled = if url.contains("statement-cache-capacity=0") {
        url.clone()
    } else {
        format!("{url}{separator}statement-cache-capacity=0")
    };

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kgen-loyalty"))
        .args(["ledger", "verify"])
        .env("DATABASE_URL", &pooled)
        .env_remove("KGEN_DB_DIRECT_URL")
        .output()
        .expect("running kgen-loyalty");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("KGEN_DB_DIRECT_URL"), "{stderr}");
    let mut direct = sqlx::PgConnection::connect(
        &crate::helpers::direct_url(&url).unwrap_or_else(|| url.clone()),
    )
    .await
    .unwrap();
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.tables where table_schema = 'public'",
    )
    .fetch_one(&mut direct)
    .await
    .unwrap();
    assert_eq!(tables, 0, "nothing was migrated");
}

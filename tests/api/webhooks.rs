//! Webhooks (issue 12): the `/s2s/webhooks` API, and deliveries to a real HTTP
//! receiver on loopback, their Standard Webhooks signatures checked by an
//! independent implementation (the `standardwebhooks` crate).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp, TestClient};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// A status to answer with, and a header to add.
type Answer = (u16, Option<(&'static str, &'static str)>);

/// A webhook receiver: records every request and answers with the queued
/// statuses (then 200).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
    /// How long each answer takes.
    delay: Arc<Mutex<Duration>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let delay = *state.delay.lock().unwrap();
                    tokio::time::sleep(delay).await;
                    state.got.lock().unwrap().push(Received { headers, body });
                    let (status, header) = state
                        .answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or((200, None));
                    let mut response = axum::response::Response::new(axum::body::Body::empty());
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    if let Some((name, value)) = header {
                        response.headers_mut().insert(name, value.parse().unwrap());
                    }
                    response
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn answer_next(&self, status: u16, header: Option<(&'static str, &'static str)>) {
        self.answers.lock().unwrap().push_back((status, header));
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..300 {
            if self.received().len() >= count {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver got {} of {count} requests",
            self.received().len()
        );
    }
}

/// A server that may send to loopback over http, retrying after 1 s.
async fn app() -> TestApp {
    spawn_app_with(|config| {
        config.webhook_allow_http = true;
        config.webhook_allow_private = true;
        config.webhook_retry_schedule = "1,1".to_owned();
    })
    .await
}

async fn register(app: &TestApp, client: &TestClient, url: &str, types: Value) -> Value {
    let answer = app
        .s2s(
            client,
            Method::POST,
            "/s2s/webhooks",
            Some(json!({"url": url, "eventTypes": types})),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body
}

fn verify(secret: &str, received: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(received.body.as_bytes(), &received.headers)
        .is_ok()
}

async fn deliveries(app: &TestApp, client: &TestClient, webhook: &str) -> Vec<Value> {
    let path = format!("/s2s/webhooks/{webhook}/deliveries");
    let answer = app.s2s(client, Method::GET, &path, None).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["deliveries"].as_array().unwrap().clone()
}

async fn wait_for_status(app: &TestApp, client: &TestClient, webhook: &str, status: &str) -> Value {
    for _ in 0..200 {
        let list = deliveries(app, client, webhook).await;
        if let Some(found) = list.iter().find(|d| d["status"] == status) {
            return found.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {status} delivery");
}

#[tokio::test]
async fn the_api_validates_lists_without_secrets_and_isolates_tenants() {
    let app = spawn_app_with(|config| config.webhook_allow_http = true).await;
    let client = app.create_client().await;
    let other = app.create_client().await;
    for (body, why) in [
        (
            json!({"url": "ftp://example.com/", "eventTypes": ["*"]}),
            "scheme",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook", "eventTypes": ["*"]}),
            "loopback",
        ),
        (
            json!({"url": "http://10.1.2.3/hook", "eventTypes": ["*"]}),
            "private",
        ),
        (
            json!({"url": "http://[::ffff:169.254.169.254]/", "eventTypes": ["*"]}),
            "metadata",
        ),
        (
            json!({"url": "http://localhost:9/", "eventTypes": ["*"]}),
            "resolves to loopback",
        ),
        (
            json!({"url": "https://example.com/", "eventTypes": []}),
            "no types",
        ),
        (
            json!({"url": "https://example.com/", "eventTypes": ["*", "reward.granted"]}),
            "star mixed",
        ),
        (
            json!({"url": "https://example.com/", "eventTypes": ["nope"]}),
            "unknown type",
        ),
        (
            json!({"url": "https://example.com/", "eventTypes": ["reward.granted", "reward.granted"]}),
            "twice",
        ),
        (json!({"eventTypes": ["*"]}), "no url"),
    ] {
        let answer = app
            .s2s(&client, Method::POST, "/s2s/webhooks", Some(body))
            .await;
        assert_eq!(answer.status, 400, "{why}: {:?}", answer.body);
        assert_eq!(answer.code(), "BAD_REQUEST", "{why}");
    }
    assert_eq!(
        app.scalar("select count(*) from webhook_endpoints").await,
        0
    );

    // Registration needs a host that resolves to a public address, which this
    // machine may not reach; IP literals do not need DNS.
    let created = register(&app, &client, "http://93.184.215.14/hook", json!(["*"])).await;
    let id = created["webhookID"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["isActive"], true);
    let listed = app.s2s(&client, Method::GET, "/s2s/webhooks", None).await;
    assert_eq!(listed.body["webhooks"][0]["webhookID"], id.as_str());
    assert!(
        listed.body["webhooks"][0].get("secret").is_none(),
        "no secret in lists"
    );
    let path = format!("/s2s/webhooks/{id}");
    assert_eq!(app.s2s(&other, Method::GET, &path, None).await.status, 404);
    assert_eq!(
        app.s2s(&other, Method::DELETE, &path, None).await.status,
        404
    );
    let replaced = app
        .s2s(
            &client,
            Method::PUT,
            &path,
            Some(json!({"url": "http://93.184.215.14/other",
            "eventTypes": ["reward.granted"], "description": "d", "isActive": false})),
        )
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    assert_eq!(replaced.body["isActive"], false);
    assert_eq!(replaced.body["eventTypes"], json!(["reward.granted"]));
    let rotated = app
        .s2s(
            &client,
            Method::POST,
            &format!("{path}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(rotated.status, 200);
    assert_ne!(rotated.body["secret"], secret);
    for _ in 1..20 {
        register(&app, &client, "http://93.184.215.14/hook", json!(["*"])).await;
    }
    let over = app
        .s2s(
            &client,
            Method::POST,
            "/s2s/webhooks",
            Some(json!({"url": "http://93.184.215.14/hook", "eventTypes": ["*"]})),
        )
        .await;
    over.assert_error(409, "LIMIT_REACHED");
    assert_eq!(
        app.s2s(&client, Method::DELETE, &path, None).await.status,
        204
    );
    assert_eq!(app.s2s(&client, Method::GET, &path, None).await.status, 404);
}

#[tokio::test]
async fn a_claim_is_delivered_once_signed_and_a_refused_claim_announces_nothing() {
    let app = app().await;
    let (receiver, url) = Receiver::start().await;
    let client = app.create_client().await;
    let created = register(&app, &client, &url, json!(["reward.granted"])).await;
    let (id, secret) = (
        created["webhookID"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let event = app
        .create_event(&client, 7, json!({"maxClaimsPerUser": 1}))
        .await;
    let token = app.login(&client, "p").await;

    let first = app.claim(&token, &event).await;
    let second = app.claim(&token, &event).await;

    assert_eq!(first.status, 201);
    second.assert_error(409, "CLAIM_LIMIT_REACHED");
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "the refused claim announced nothing"
    );
    assert!(
        verify(secret, &got[0]),
        "the signature verifies independently"
    );
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["type"], "reward.granted");
    assert_eq!(body["data"]["rewardID"], first.body["rewardID"]);
    assert_eq!(body["data"]["rewardAmount"], 7);
    assert_eq!(body["data"]["userID"], "p");
    assert!(body["data"]["walletAddress"]
        .as_str()
        .is_some_and(|a| !a.is_empty()));
    let delivered = wait_for_status(&app, &client, id, "SUCCEEDED").await;
    assert_eq!(delivered["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(delivered["attempts"][0]["statusCode"], 200);
    assert_eq!(
        delivered["eventID"].as_str().unwrap(),
        got[0].headers["webhook-id"].to_str().unwrap()
    );
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_id_and_body_and_410_disables() {
    let app = app().await;
    let (receiver, url) = Receiver::start().await;
    let client = app.create_client().await;
    let created = register(&app, &client, &url, json!(["reward.granted"])).await;
    let id = created["webhookID"].as_str().unwrap().to_owned();
    let event = app.create_event(&client, 3, json!({})).await;
    let token = app.login(&client, "p").await;
    receiver.answer_next(500, None);

    assert_eq!(app.claim(&token, &event).await.status, 201);

    let got = receiver.wait_for(2).await;
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(got[0].body, got[1].body, "byte-identical on every attempt");
    let delivered = wait_for_status(&app, &client, &id, "SUCCEEDED").await;
    let attempts = delivered["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["statusCode"], 500);
    assert_eq!(attempts[1]["statusCode"], 200);
    let text = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("kgen_webhook_attempts_total{outcome=\"retrying\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("kgen_webhook_attempts_total{outcome=\"succeeded\"} 1"),
        "{text}"
    );
    assert!(text.contains("kgen_webhook_queue_depth"), "{text}");

    // 410 Gone: failed at once, and the endpoint is disabled.
    receiver.answer_next(410, None);
    assert_eq!(app.claim(&token, &event).await.status, 201);
    wait_for_status(&app, &client, &id, "FAILED").await;
    let endpoint = app
        .s2s(&client, Method::GET, &format!("/s2s/webhooks/{id}"), None)
        .await;
    assert_eq!(endpoint.body["isActive"], false);
    let before = receiver.received().len();
    assert_eq!(app.claim(&token, &event).await.status, 201);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        receiver.received().len(),
        before,
        "a disabled endpoint gets nothing"
    );
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_and_the_test_event_goes_to_one_endpoint() {
    let app = app().await;
    let (receiver, url) = Receiver::start().await;
    let (other_receiver, other_url) = Receiver::start().await;
    let client = app.create_client().await;
    let created = register(&app, &client, &url, json!(["*"])).await;
    register(&app, &client, &other_url, json!(["*"])).await;
    let id = created["webhookID"].as_str().unwrap();
    let old = created["secret"].as_str().unwrap().to_owned();
    let rotated = app
        .s2s(
            &client,
            Method::POST,
            &format!("/s2s/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    let new = rotated.body["secret"].as_str().unwrap().to_owned();

    let queued = app
        .s2s(
            &client,
            Method::POST,
            &format!("/s2s/webhooks/{id}/test"),
            None,
        )
        .await;

    assert_eq!(queued.status, 202, "{:?}", queued.body);
    let got = receiver.wait_for(1).await;
    assert!(
        verify(&old, &got[0]) && verify(&new, &got[0]),
        "both secrets sign"
    );
    assert_eq!(
        got[0].headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"], json!({}));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        other_receiver.received().is_empty(),
        "the test event went to one endpoint"
    );
    let listed = deliveries(&app, &client, id).await;
    assert_eq!(listed[0]["deliveryID"], queued.body["deliveryID"]);
}

#[tokio::test]
async fn welcome_bonus_reward_and_withdrawal_events_carry_their_data() {
    let app = app().await;
    let (receiver, url) = Receiver::start().await;
    let client = app.create_client_with(50, 0).await;
    register(&app, &client, &url, json!(["*"])).await;
    let event = app.create_event(&client, 20, json!({})).await;

    let token = app.login(&client, "w").await;
    assert_eq!(app.claim(&token, &event).await.status, 201);
    app.link_phone_directly(&client, "w", "+919876543210").await;
    let withdrawal = app.withdraw(&token, None).await;
    assert_eq!(withdrawal.status, 200, "{:?}", withdrawal.body);

    // welcome bonus, reward, withdrawal requested, then completed by the settler.
    let got = receiver.wait_for(4).await;
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    let of = |kind: &str| {
        bodies
            .iter()
            .find(|b| b["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {bodies:?}"))
            .clone()
    };
    let welcome = of("welcome_bonus.granted");
    assert_eq!(welcome["data"]["userID"], "w");
    assert_eq!(welcome["data"]["amount"], 50);
    assert_eq!(of("reward.granted")["data"]["rewardAmount"], 20);
    let requested = of("withdrawal.requested");
    assert_eq!(requested["data"]["uid"], withdrawal.body["uid"]);
    assert_eq!(requested["data"]["amount"], 70);
    assert_eq!(requested["data"]["sync_status"], "PENDING");
    assert!(requested["data"]["kgenWalletAddress"]
        .as_str()
        .is_some_and(|a| !a.is_empty()));
    let completed = of("withdrawal.completed");
    assert_eq!(completed["data"]["uid"], withdrawal.body["uid"]);
    assert_eq!(completed["data"]["sync_status"], "COMPLETED");
    let ids: std::collections::HashSet<_> = got
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids.len(), got.len(), "one event id per event");
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn two_servers_on_one_database_deliver_each_event_once() {
    let first = app().await;
    if first.db.lite().is_some() {
        // SQLite: one server per database file.
        return;
    }
    let (database_url, dir) = first.stop().await;
    let configure = |config: &mut kgen_loyalty::config::Config| {
        config.webhook_allow_http = true;
        config.webhook_allow_private = true;
    };
    let a = crate::helpers::spawn_app_on(database_url.clone(), dir, configure).await;
    let b = crate::helpers::spawn_app_custom(
        database_url,
        tempfile::tempdir().unwrap(),
        configure,
        |_| {},
    )
    .await;
    let (receiver, url) = Receiver::start().await;
    let client = a.create_client().await;
    register(&a, &client, &url, json!(["reward.granted"])).await;
    let event = a.create_event(&client, 1, json!({})).await;
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(a.login(&client, &format!("g{i}")).await);
    }

    for (i, token) in tokens.iter().enumerate() {
        let server = if i % 2 == 0 { &a } else { &b };
        assert_eq!(server.claim(token, &event).await.status, 201);
    }

    let got = receiver.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_now = receiver.received();
    assert_eq!(
        got_now.len(),
        20,
        "each event delivered once, not once per server"
    );
    let ids: std::collections::HashSet<_> = got
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids.len(), 20);
}

#[tokio::test]
async fn redirects_are_not_followed_and_retry_after_postpones_the_next_attempt() {
    let app = app().await;
    let (receiver, url) = Receiver::start().await;
    let (elsewhere, elsewhere_url) = Receiver::start().await;
    let client = app.create_client().await;
    let created = register(&app, &client, &url, json!(["reward.granted"])).await;
    let id = created["webhookID"].as_str().unwrap().to_owned();
    let event = app.create_event(&client, 1, json!({})).await;
    let token = app.login(&client, "p").await;
    let location: &'static str = Box::leak(elsewhere_url.into_boxed_str());
    receiver.answer_next(307, Some(("location", location)));
    receiver.answer_next(503, Some(("retry-after", "4")));

    assert_eq!(app.claim(&token, &event).await.status, 201);

    receiver.wait_for(2).await;
    assert!(
        elsewhere.received().is_empty(),
        "the redirect was not followed"
    );
    let mut pending = Value::Null;
    for _ in 0..100 {
        let list = deliveries(&app, &client, &id).await;
        if list[0]["attempts"].as_array().unwrap().len() == 2 {
            pending = list[0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending["status"], "PENDING", "{pending:?}");
    assert_eq!(pending["attempts"][0]["statusCode"], 307);
    assert_eq!(pending["attempts"][1]["statusCode"], 503);
    let at = |text: &Value| {
        kgen_loyalty::domain::time::parse_rfc3339("t", text.as_str().unwrap()).unwrap()
    };
    let wait = at(&pending["nextAttemptAt"]) - at(&pending["attempts"][1]["at"]);
    assert!(
        wait >= 3_900_000_000,
        "Retry-After 4 s beats the 1 s schedule: {wait} ns"
    );
    let done = wait_for_status(&app, &client, &id, "SUCCEEDED").await;
    assert_eq!(done["attempts"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_slow_endpoint_delays_no_other_and_a_timeout_is_a_failure() {
    let app = spawn_app_with(|config| {
        config.webhook_allow_http = true;
        config.webhook_allow_private = true;
        config.webhook_timeout_seconds = 1;
        config.webhook_retry_schedule = "30".to_owned();
    })
    .await;
    let (slow, slow_url) = Receiver::start().await;
    let (fast, fast_url) = Receiver::start().await;
    *slow.delay.lock().unwrap() = Duration::from_secs(3);
    let client = app.create_client().await;
    let slow_id = register(&app, &client, &slow_url, json!(["reward.granted"])).await["webhookID"]
        .as_str()
        .unwrap()
        .to_owned();
    register(&app, &client, &fast_url, json!(["reward.granted"])).await;
    let event = app.create_event(&client, 1, json!({})).await;
    let token = app.login(&client, "p").await;

    let started = std::time::Instant::now();
    for _ in 0..6 {
        assert_eq!(app.claim(&token, &event).await.status, 201);
    }

    fast.wait_for(6).await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the fast endpoint got its 6 deliveries while the slow one hung: {:?}",
        started.elapsed()
    );
    let mut timed_out = 0;
    for _ in 0..100 {
        let list = deliveries(&app, &client, &slow_id).await;
        timed_out = list
            .iter()
            .filter(|d| d["attempts"][0]["error"] == "timed out")
            .count();
        if timed_out == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        timed_out, 6,
        "each attempt at the slow endpoint timed out after 1 s"
    );
}

#[tokio::test]
async fn a_target_allowed_at_registration_is_checked_again_before_each_attempt() {
    let app = app().await;
    let (receiver, url) = Receiver::start().await;
    let client = app.create_client().await;
    let id = register(&app, &client, &url, json!(["reward.granted"])).await["webhookID"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = app.create_event(&client, 1, json!({})).await;
    let token = app.login(&client, "p").await;
    let (database_url, dir) = app.stop().await;
    // The operator stops allowing private targets.
    let app = crate::helpers::spawn_app_on(database_url, dir, |config| {
        config.webhook_allow_http = true;
        config.webhook_retry_schedule = "30".to_owned();
    })
    .await;

    assert_eq!(app.claim(&token, &event).await.status, 201);

    let mut attempt = Value::Null;
    for _ in 0..100 {
        let list = deliveries(&app, &client, &id).await;
        if let Some(first) = list.first().filter(|d| !d["attempts"][0].is_null()) {
            attempt = first["attempts"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        attempt["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("target refused")),
        "{attempt:?}"
    );
    assert!(attempt["statusCode"].is_null());
    assert!(
        receiver.received().is_empty(),
        "nothing reached the private address"
    );
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_and_the_others_are_told() {
    // 0 hours: disabled at the first failure after the one that started the clock.
    let app = spawn_app_with(|config| {
        config.webhook_allow_http = true;
        config.webhook_allow_private = true;
        config.webhook_retry_schedule = "1,1,1".to_owned();
        config.webhook_disable_after_hours = 0;
    })
    .await;
    let (failing, failing_url) = Receiver::start().await;
    let (watcher, watcher_url) = Receiver::start().await;
    for _ in 0..10 {
        failing.answer_next(500, None);
    }
    let client = app.create_client().await;
    let failing_id = register(&app, &client, &failing_url, json!(["reward.granted"])).await
        ["webhookID"]
        .as_str()
        .unwrap()
        .to_owned();
    register(
        &app,
        &client,
        &watcher_url,
        json!(["webhook.endpoint_disabled"]),
    )
    .await;
    let event = app.create_event(&client, 1, json!({})).await;
    let token = app.login(&client, "p").await;

    assert_eq!(app.claim(&token, &event).await.status, 201);

    let told = watcher.wait_for(1).await;
    let body: Value = serde_json::from_str(&told[0].body).unwrap();
    assert_eq!(body["type"], "webhook.endpoint_disabled");
    assert_eq!(body["data"]["webhookID"], failing_id.as_str());
    assert!(body["data"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("no 2xx")));
    assert_eq!(
        failing.received().len(),
        2,
        "disabled at its second failure"
    );
    let endpoint = app
        .s2s(
            &client,
            Method::GET,
            &format!("/s2s/webhooks/{failing_id}"),
            None,
        )
        .await;
    assert_eq!(endpoint.body["isActive"], false);
    // Enabling it again resumes the pending delivery.
    let resumed = app
        .s2s(
            &client,
            Method::PUT,
            &format!("/s2s/webhooks/{failing_id}"),
            Some(json!({"url": failing_url, "eventTypes": ["reward.granted"]})),
        )
        .await;
    assert_eq!(resumed.status, 200);
    failing.answers.lock().unwrap().clear();
    wait_for_status(&app, &client, &failing_id, "SUCCEEDED").await;
}

#[tokio::test]
async fn many_claims_are_delivered_once_each_to_every_endpoint_in_batches() {
    // More events than one multi-row statement holds (200 rows), to two endpoints.
    const GAMERS: usize = 10;
    const CLAIMS_EACH: usize = 45;
    let app = spawn_app_with(|config| {
        config.webhook_allow_http = true;
        config.webhook_allow_private = true;
        config.rate_limit_gamer_per_second = 0;
        config.rate_limit_client_per_second = 0;
    })
    .await;
    let (one, one_url) = Receiver::start().await;
    let (two, two_url) = Receiver::start().await;
    let client = app.create_client().await;
    register(&app, &client, &one_url, json!(["reward.granted"])).await;
    register(&app, &client, &two_url, json!(["reward.granted"])).await;
    let event = app.create_event(&client, 1, json!({})).await;
    let mut tokens = Vec::new();
    for i in 0..GAMERS {
        tokens.push(app.login(&client, &format!("batch{i}")).await);
    }

    let app = Arc::new(app);
    let rewards = crate::helpers::concurrently(GAMERS, |i| {
        let (app, token, event) = (Arc::clone(&app), tokens[i].clone(), event.clone());
        async move {
            let mut rewards = Vec::new();
            for _ in 0..CLAIMS_EACH {
                let answer = app.claim(&token, &event).await;
                assert_eq!(answer.status, 201, "{:?}", answer.body);
                rewards.push(answer.str("rewardID"));
            }
            rewards
        }
    })
    .await;

    let total = GAMERS * CLAIMS_EACH;
    let claimed: std::collections::HashSet<String> = rewards.into_iter().flatten().collect();
    for receiver in [&one, &two] {
        receiver.wait_for(total).await;
    }
    // Time for duplicates, had there been any, and for the last records.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for receiver in [&one, &two] {
        let got = receiver.received();
        assert_eq!(got.len(), total, "each event once to each endpoint");
        let announced: std::collections::HashSet<String> = got
            .iter()
            .map(|r| {
                let body: Value = serde_json::from_str(&r.body).unwrap();
                body["data"]["rewardID"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(announced, claimed, "every claim announced, nothing else");
    }
    let total = i64::try_from(total).unwrap();
    for _ in 0..50 {
        if app
            .scalar("select count(*) from webhook_deliveries where status = 'SUCCEEDED'")
            .await
            == 2 * total
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.scalar(
            "select count(*) from webhook_deliveries
             where status = 'SUCCEEDED' and attempts = 1 and locked_until = 0
               and next_attempt_at is null"
        )
        .await,
        2 * total,
        "every delivery recorded as one successful attempt, its lease released"
    );
    assert_eq!(
        app.scalar(
            "select (select count(*) from webhook_deliveries where first_status_code = 200)
                  + (select count(*) from webhook_attempts where status_code = 200)"
        )
        .await,
        2 * total
    );
    assert_eq!(app.scalar("select count(*) from webhook_queue").await, 0);
}

#[tokio::test]
async fn pruning_removes_old_events_with_their_deliveries_and_attempts_only() {
    let app = app().await;
    let (receiver, url) = Receiver::start().await;
    let client = app.create_client().await;
    let created = register(&app, &client, &url, json!(["reward.granted"])).await;
    let id = created["webhookID"].as_str().unwrap().to_owned();
    let event = app.create_event(&client, 1, json!({})).await;
    let token = app.login(&client, "p").await;
    // Five events: the welcome bonus (not subscribed: no delivery) and four rewards.
    // The first reward's delivery fails once, then succeeds: five attempts of four
    // deliveries.
    receiver.answer_next(500, None);
    for _ in 0..4 {
        assert_eq!(app.claim(&token, &event).await.status, 201);
    }
    receiver.wait_for(5).await;
    for _ in 0..200 {
        let list = deliveries(&app, &client, &id).await;
        if list.len() == 4 && list.iter().all(|d| d["status"] == "SUCCEEDED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = "select count(*) from webhook_events";
    let rows = "select count(*) from webhook_deliveries";
    // A delivery attempted straight from the queue keeps that attempt inline.
    let attempts = "select (select count(*) from webhook_deliveries where first_at is not null)
                         + (select count(*) from webhook_attempts)";
    assert_eq!(
        (
            app.scalar(events).await,
            app.scalar(rows).await,
            app.scalar(attempts).await
        ),
        (5, 4, 5)
    );
    // The two oldest events (the welcome bonus, the first reward) are 31 days old.
    sqlx::query(
        "update webhook_events set created_at = created_at - 31 * 86400000000000
         where seq in (select seq from webhook_events order by seq limit 2)",
    )
    .execute(app.db.writer())
    .await
    .unwrap();
    let cut = kgen_loyalty::storage::now_nanos() - 30 * 86_400_000_000_000;

    let pruned = kgen_loyalty::storage::webhooks::prune(&app.db, cut)
        .await
        .unwrap();

    assert_eq!(pruned, 2);
    assert_eq!(
        (
            app.scalar(events).await,
            app.scalar(rows).await,
            app.scalar(attempts).await
        ),
        (3, 3, 3),
        "the old events went with the first reward's delivery and its two attempts"
    );
    assert_eq!(
        kgen_loyalty::storage::webhooks::prune(&app.db, cut)
            .await
            .unwrap(),
        0,
        "nothing else is old enough"
    );
    let left = deliveries(&app, &client, &id).await;
    assert_eq!(left.len(), 3);
    assert!(left
        .iter()
        .all(|d| d["attempts"].as_array().unwrap().len() == 1));
}

#[tokio::test]
async fn a_bad_retry_schedule_stops_the_server_at_start() {
    let (database_url, _dir) = crate::helpers::fresh_database_url().await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kgen-loyalty"));
    command
        .arg("serve")
        .env("DATABASE_URL", &database_url)
        .env("KGEN_LISTEN", "127.0.0.1:0")
        .env("KGEN_WEBHOOK_RETRY_SCHEDULE", "5,soon,60")
        .env_remove("KGEN_WALLET_XPUB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // Behind PgBouncer (scripts/pgbouncer-test) a server also needs its direct URL,
    // or it stops for that reason before it reads the schedule.
    if let Some(direct_url) = crate::helpers::direct_url(&database_url) {
        command.env("KGEN_DB_DIRECT_URL", direct_url);
    }
    let mut child = command.spawn().expect("starting kgen-loyalty serve");

    let mut status = None;
    for _ in 0..300 {
        if let Some(exited) = child.try_wait().unwrap() {
            status = Some(exited);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(status) = status else {
        child.kill().ok();
        child.wait().ok();
        panic!("the server kept running with a bad retry schedule");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("KGEN_WEBHOOK_RETRY_SCHEDULE") && stderr.contains("soon"),
        "the error names the setting and the bad part: {stderr}"
    );
}

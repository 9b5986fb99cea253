//! Proves the parts every endpoint shares: client credentials and their header
//! aliases, the error envelope for unknown routes, wrong methods and oversized
//! bodies, the order of checks, and the operational endpoints.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, TestClient};

#[tokio::test]
async fn s2s_needs_valid_credentials_of_an_enabled_client() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let path = "/s2s/loyalty/rewardable-events";

    let none = app.send(app.request(Method::GET, path)).await;
    none.assert_error(401, "UN_AUTHORIZED");
    let wrong_secret = TestClient {
        id: client.id.clone(),
        secret: "x".repeat(42),
    };
    app.s2s(&wrong_secret, Method::GET, path, None)
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let unknown = TestClient {
        id: "nobody".to_owned(),
        secret: client.secret.clone(),
    };
    app.s2s(&unknown, Method::GET, path, None)
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let only_id = app
        .send(
            app.request(Method::GET, path)
                .header("x-client-id", &client.id),
        )
        .await;
    only_id.assert_error(401, "UN_AUTHORIZED");

    let aliases = app
        .send(
            app.request(Method::GET, path)
                .header("x-clientid", &client.id)
                .header("x-clientsecret", &client.secret),
        )
        .await;
    assert_eq!(aliases.status, 200, "older header spellings are accepted");

    kgen_loyalty::domain::clients::disable_client(&app.db, &client.id)
        .await
        .unwrap();
    app.s2s(&client, Method::GET, path, None)
        .await
        .assert_error(401, "UN_AUTHORIZED");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_the_envelope() {
    let app = spawn_app().await;
    let client = app.create_client().await;

    app.send(app.request(Method::GET, "/no/such/path"))
        .await
        .assert_error(404, "NOT_FOUND");
    app.send(app.request(Method::POST, "/healthz"))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    // Method is checked before credentials.
    app.send(app.request(Method::PATCH, "/s2s/loyalty/rewardable-events"))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    app.s2s(
        &client,
        Method::POST,
        "/s2s/loyalty/rewardable-events/x",
        None,
    )
    .await
    .assert_error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn credentials_are_checked_before_the_body_and_big_bodies_are_413() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let path = "/s2s/loyalty/rewardable-events";

    let bad_body_no_credentials = app
        .send(app.request(Method::PUT, path).body("{not json"))
        .await;
    bad_body_no_credentials.assert_error(401, "UN_AUTHORIZED");

    let huge = json!({"eventType": "A", "rewardAmount": 1, "eventDescription": "x".repeat(70_000)});
    app.put_event(&client, huge)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    let list = app.list_events(&client, "").await;
    assert_eq!(list.body["rewardableEvents"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_answer() {
    let app = spawn_app().await;
    let health = app.send(app.request(Method::GET, "/healthz")).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.send(app.request(Method::GET, "/readyz")).await;
    assert_eq!(ready.status, 200);

    let metrics = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"kgen_http_requests_total{method="GET",route="/readyz",status="200"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("kgen_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("kgen_kcash_credited_total"));

    let openapi = app.send(app.request(Method::GET, "/openapi.json")).await;
    assert_eq!(openapi.status, 200);
    assert!(openapi.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = openapi.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/s2s/loyalty/rewardable-events", "put"),
        ("/s2s/loyalty/rewardable-events", "get"),
        ("/s2s/loyalty/rewardable-events/{eventID}", "get"),
        ("/s2s/loyalty/rewardable-events/{eventID}", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "OpenAPI documents {method} {path}"
        );
    }
    let schemas = openapi.body["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("EventResponse") && schemas.contains_key("ErrorBody"));
}

#[tokio::test]
async fn the_suite_runs_on_the_backend_it_was_asked_for() {
    let app = spawn_app().await;
    let expected = match std::env::var("KGEN_TEST_EXPECT_BACKEND").as_deref() {
        Ok("postgres") => kgen_loyalty::storage::Backend::Postgres,
        Ok("sqlite") | Err(_) => kgen_loyalty::storage::Backend::Sqlite,
        Ok(other) => panic!("unknown KGEN_TEST_EXPECT_BACKEND {other}"),
    };
    assert_eq!(
        app.db.backend(),
        expected,
        "CI asked for this backend: a PostgreSQL run must not silently fall back to SQLite"
    );
}

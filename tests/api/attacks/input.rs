//! Proves that hostile input is refused with a 4xx and writes nothing, on both
//! databases: NUL bytes in every path parameter, query parameter and body field
//! (PostgreSQL answered 500), bodies that are not objects (an array created an
//! event), blank attribute names, invisible characters in identifiers, and access
//! tokens that carried the linked phone in clear.

use base64::Engine as _;
use kgen_loyalty::domain::clients::{self, NewClient};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Answer, TestApp};

/// Asserts a refusal: 400 or 404 with the envelope, never a 5xx.
#[track_caller]
fn assert_refused(answer: &Answer, what: &str) {
    assert!(
        matches!(answer.status, 400 | 401 | 404),
        "{what}: answered {} {:?}",
        answer.status,
        answer.body
    );
    assert!(answer.body["code"].is_string(), "{what}: no envelope");
}

/// Counts the rows that a refused request must not have written.
async fn business_rows(app: &TestApp) -> i64 {
    app.scalar(
        "select (select count(*) from events) + (select count(*) from gamers)
              + (select count(*) from claims) + (select count(*) from transfers)
              + (select count(*) from tracker_drops)",
    )
    .await
}

#[tokio::test]
async fn nul_in_any_path_or_query_parameter_is_refused_not_500() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "p").await;
    let before = business_rows(&app).await;

    for path in [
        "/s2s/loyalty/rewardable-events/%00",
        "/s2s/loyalty/rewardable-events/a%00b",
        "/s2s/loyalty/rewardable-events?isActive=%00",
        "/s2s/loyalty/rewardable-events?limit=1%00",
        "/s2s/loyalty/rewardable-events?offset=%00",
    ] {
        let get = app.s2s(&client, Method::GET, path, None).await;
        assert_refused(&get, &format!("GET {path}"));
        let delete = app.s2s(&client, Method::DELETE, path, None).await;
        assert!(delete.status < 500, "DELETE {path}: {}", delete.status);
    }
    for (method, path) in [
        (
            Method::POST,
            "/fe/loyalty/event-reward-user-claims/events/%00",
        ),
        (Method::POST, "/fe/analytics/px-tracker/events/%00/drop"),
        (
            Method::GET,
            "/fe/loyalty/event-reward-user-claims/user?offset=%00",
        ),
        (
            Method::GET,
            "/fe/wallet/transactions?last_evaluated_key=%00",
        ),
        (Method::GET, "/fe/wallet/transactions?limit=%00"),
    ] {
        let answer = app.fe(&token, method.clone(), path, None).await;
        assert_refused(&answer, &format!("{method} {path}"));
    }

    assert_eq!(business_rows(&app).await, before, "nothing was written");
}

#[tokio::test]
async fn nul_in_any_body_field_is_refused_not_500() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "p").await;
    let before = business_rows(&app).await;
    let nul = "a\u{0}b";

    let sessions = [
        json!({"user_id": nul}),
        json!({"user_id": "q", "name": nul}),
        json!({"user_id": "q", "device_id": nul}),
        json!({"user_id": "q", nul: "x"}),
    ];
    for body in sessions {
        let answer = app.session(&client, body.clone()).await;
        assert_refused(&answer, &format!("session {body}"));
    }
    let events = [
        json!({"eventType": nul, "rewardAmount": 1}),
        json!({"eventType": "A", "rewardAmount": 1, "eventName": nul}),
        json!({"eventType": "A", "rewardAmount": 1, "eventDescription": nul}),
        json!({"eventType": "A", "rewardAmount": 1, "eventID": nul}),
        json!({"eventType": "A", "rewardAmount": 1, "entityID": nul}),
    ];
    for body in events {
        let answer = app.put_event(&client, body.clone()).await;
        assert_refused(&answer, &format!("event {body}"));
    }
    let front_end = [
        (
            "/fe/users/auth/otp/register",
            json!({"phone_number": nul, "countryCode": "+91"}),
        ),
        (
            "/fe/users/auth/otp/register",
            json!({"phone_number": "9812345670", "countryCode": nul}),
        ),
        (
            "/fe/users/auth/otp/resend",
            json!({"phone_number": "9812345670", "countryCode": nul}),
        ),
        (
            "/fe/users/auth/otp/verify",
            json!({"phone_number": "9812345670", "countryCode": "+91", "authCode": "1\u{0}", "otp": "123456"}),
        ),
        (
            "/fe/users/auth/otp/verify",
            json!({"phone_number": "9812345670", "countryCode": "+91", "authCode": "123456", "otp": nul}),
        ),
        (
            "/fe/analytics/px-tracker/events/level/drop",
            json!({"k": nul}),
        ),
        (
            "/fe/analytics/px-tracker/events/level/drop",
            json!({nul: "v"}),
        ),
    ];
    for (path, body) in front_end {
        let answer = app.fe(&token, Method::POST, path, Some(body.clone())).await;
        assert_refused(&answer, &format!("{path} {body}"));
    }
    let refresh = app
        .send(
            app.request(Method::POST, "/fe/users/auth/token/refresh")
                .json(&json!({"refresh_token": nul})),
        )
        .await;
    assert_refused(&refresh, "refresh with a NUL");

    assert_eq!(business_rows(&app).await, before, "nothing was written");
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_400_and_creates_nothing() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "p").await;
    let before = business_rows(&app).await;

    for body in [
        json!([null, "ArrT", "n", "d", 7]),
        json!(["ArrT", 7]),
        json!("text"),
        json!(7),
        Value::Null,
    ] {
        let event = app.put_event(&client, body.clone()).await;
        event.assert_error(400, "BAD_REQUEST");
        let session = app.session(&client, body.clone()).await;
        session.assert_error(400, "BAD_REQUEST");
        let drop = app
            .fe(
                &token,
                Method::POST,
                "/fe/analytics/px-tracker/events/e/drop",
                Some(body.clone()),
            )
            .await;
        drop.assert_error(400, "BAD_REQUEST");
    }

    assert_eq!(business_rows(&app).await, before, "nothing was written");
}

#[tokio::test]
async fn a_blank_or_invisible_attribute_name_is_400() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "p").await;

    for name in ["", " ", "\t", "a\u{200B}", "\u{202E}level"] {
        let mut attributes = serde_json::Map::new();
        attributes.insert(name.to_owned(), json!("v"));
        let answer = app
            .fe(
                &token,
                Method::POST,
                "/fe/analytics/px-tracker/events/e/drop",
                Some(Value::Object(attributes)),
            )
            .await;
        answer.assert_error(400, "BAD_REQUEST");
    }

    assert_eq!(app.scalar("select count(*) from tracker_drops").await, 0);
}

#[tokio::test]
async fn invisible_and_reordering_characters_are_refused_in_identifiers() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let invisible = [
        "\u{202E}", "\u{200B}", "\u{2028}", "\u{2029}", "\u{FEFF}", "\u{061C}",
    ];

    for character in invisible {
        let user_id = format!("admin{character}");
        app.session(&client, json!({"user_id": user_id}))
            .await
            .assert_error(400, "BAD_REQUEST");
        let event =
            json!({"eventType": "A", "rewardAmount": 1, "eventID": format!("e{character}")});
        app.put_event(&client, event)
            .await
            .assert_error(400, "BAD_REQUEST");
        let trace = json!({"eventType": "A", "rewardAmount": 1, "isActivityTraceEnabled": true,
                           "activityTraceActivityID": format!("t{character}")});
        app.put_event(&client, trace)
            .await
            .assert_error(400, "BAD_REQUEST");
        let new = NewClient {
            id: Some(format!("game{character}")),
            name: "Game".to_owned(),
            welcome_bonus: 0,
            min_withdraw: 0,
        };
        assert!(
            clients::create_client(&app.db, &app.state.keys.addresses, new)
                .await
                .is_err(),
            "a client id with U+{:04X}",
            u32::from(character.chars().next().unwrap())
        );
    }
    // A display name may hold them (an emoji with a zero-width joiner).
    let named = app
        .session(&client, json!({"user_id": "ok", "name": "👩\u{200D}💻"}))
        .await;
    assert_eq!(named.status, 200, "{:?}", named.body);
    assert_eq!(app.scalar("select count(*) from gamers").await, 1);
}

/// The claims of a JWT, decoded without checking it.
fn claims_of(token: &str) -> serde_json::Map<String, Value> {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
async fn access_tokens_carry_exactly_the_contracts_claims_and_never_the_phone() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    app.login(&client, "p").await;
    app.link_phone_directly(&client, "p", "+919812345670").await;

    let session = app.session(&client, json!({"user_id": "p"})).await;
    assert_eq!(session.status, 200);
    assert_eq!(
        session.body["linked_phone"], "+919812345670",
        "the session body has it"
    );
    let refreshed = app
        .send(
            app.request(Method::POST, "/fe/users/auth/token/refresh")
                .json(&json!({"refresh_token": session.str("refresh_token")})),
        )
        .await;
    assert_eq!(refreshed.status, 200);

    for token in [session.str("access_token"), refreshed.str("access_token")] {
        let mut names: Vec<String> = claims_of(&token).keys().cloned().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "client_id",
                "exp",
                "iat",
                "is_new_user",
                "iss",
                "namespaced_third_party_user_id",
                "sid",
                "sub",
                "third_party_client_id",
                "third_party_client_name",
                "user_id",
                "wallet_address",
            ]
        );
        assert!(!token.contains("9812345670"));
    }
}

//! Proves front-end authentication and the token lifecycle: every kind of bad
//! access token is 401, both header spellings work, key rotation keeps old tokens
//! valid, and refresh tokens are single-use with reuse revoking the session.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Signs `claims` with the server's real key of `kid`, as only the server could.
async fn sign_with_server_key(app: &TestApp, kid: &str, claims: &Value) -> String {
    let row = kgen_loyalty::storage::keys::find_key(app.db.reader(), kid)
        .await
        .unwrap()
        .unwrap();
    let secret = base64::engine::general_purpose::STANDARD
        .decode(row.secret)
        .unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&secret)).unwrap()
}

#[tokio::test]
async fn both_header_spellings_carry_the_access_token() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "p").await;

    assert_eq!(app.balance(&token).await.status, 200);
    let bearer = app
        .send(
            app.request(Method::GET, "/fe/wallet/balance")
                .header("Authorization", format!("Bearer {token}")),
        )
        .await;
    assert_eq!(bearer.status, 200);
    assert_eq!(bearer.body["bonus_balance"], 50);
}

#[tokio::test]
async fn every_kind_of_bad_access_token_is_401() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "victim").await;
    let claims = claims_of(&token);
    let kid = kid_of(&token);
    let now = chrono::Utc::now().timestamp();

    let mut expired_claims = claims.clone();
    expired_claims["iat"] = json!(now - 100_000);
    expired_claims["exp"] = json!(now - 60);
    let expired = sign_with_server_key(&app, &kid, &expired_claims).await;

    let mut tampered_claims = claims.clone();
    tampered_claims["user_id"] = json!("someone-else");
    tampered_claims["sub"] = json!("someone-else");
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&tampered_claims).unwrap()),
        parts[2]
    );

    let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
    let alg_none = format!("{none_header}.{}.", parts[1]);

    let mut foreign_header = Header::new(Algorithm::HS256);
    foreign_header.kid = Some(kid.clone());
    let foreign_signed = jsonwebtoken::encode(
        &foreign_header,
        &claims,
        &EncodingKey::from_secret(b"not the server's key"),
    )
    .unwrap();
    let mut unknown_kid_header = Header::new(Algorithm::HS256);
    unknown_kid_header.kid = Some("0".repeat(32));
    let unknown_kid = jsonwebtoken::encode(
        &unknown_kid_header,
        &claims,
        &EncodingKey::from_secret(b"anything"),
    )
    .unwrap();
    let no_kid = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"anything"),
    )
    .unwrap();

    for (description, bad) in [
        ("malformed", "not-a-jwt".to_owned()),
        ("empty", String::new()),
        ("expired", expired),
        ("tampered payload", tampered),
        ("alg none", alg_none),
        ("foreign-signed", foreign_signed),
        ("unknown kid", unknown_kid),
        ("no kid", no_kid),
    ] {
        let answer = app.balance(&bad).await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, "UN_AUTHORIZED"),
            "{description}"
        );
    }
    let missing = app
        .send(app.request(Method::GET, "/fe/wallet/balance"))
        .await;
    missing.assert_error(401, "UN_AUTHORIZED");
    assert_eq!(
        app.balance(&token).await.status,
        200,
        "the real token still works"
    );
}

#[tokio::test]
async fn a_token_signed_for_another_client_or_session_is_refused() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let other = app.create_client().await;
    let token = app.login(&client, "p").await;
    let mut claims = claims_of(&token);
    claims["client_id"] = json!(other.id);
    claims["iss"] = json!(other.id);
    let cross_client = sign_with_server_key(&app, &kid_of(&token), &claims).await;
    app.balance(&cross_client)
        .await
        .assert_error(401, "UN_AUTHORIZED");

    let mut claims = claims_of(&token);
    claims["sid"] = json!(uuid::Uuid::new_v4().to_string());
    let unknown_session = sign_with_server_key(&app, &kid_of(&token), &claims).await;
    app.balance(&unknown_session)
        .await
        .assert_error(401, "UN_AUTHORIZED");
}

#[tokio::test]
async fn disabling_a_client_stops_its_gamers_tokens_within_the_auth_cache_lifetime() {
    let app = spawn_app_with(|config| config.auth_cache_seconds = 1).await;
    let client = app.create_client().await;
    let token = app.login(&client, "p").await;
    assert_eq!(
        app.balance(&token).await.status,
        200,
        "the session is now cached"
    );

    // As `kgen-loyalty clients disable` does, from outside the server process.
    kgen_loyalty::domain::clients::disable_client(&app.db, &client.id)
        .await
        .unwrap();
    let disabled_at = std::time::Instant::now();

    loop {
        let answer = app.balance(&token).await;
        if answer.status == 401 {
            answer.assert_error(401, "UN_AUTHORIZED");
            break;
        }
        assert!(
            disabled_at.elapsed() < std::time::Duration::from_millis(1500),
            "still accepted after the 1 s cache lifetime"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let uncached = spawn_app_with(|config| config.auth_cache_seconds = 0).await;
    let other = uncached.create_client().await;
    let token = uncached.login(&other, "p").await;
    assert_eq!(uncached.balance(&token).await.status, 200);
    kgen_loyalty::domain::clients::disable_client(&uncached.db, &other.id)
        .await
        .unwrap();
    uncached
        .balance(&token)
        .await
        .assert_error(401, "UN_AUTHORIZED");
}

#[tokio::test]
async fn key_rotation_signs_new_tokens_with_a_new_key_and_keeps_old_ones_valid() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let old = app.login(&client, "p").await;

    kgen_loyalty::domain::tokens::rotate_keys(&app.db)
        .await
        .unwrap();
    let new = app.login(&client, "p").await;

    assert_ne!(
        kid_of(&old),
        kid_of(&new),
        "the next session uses the new key"
    );
    assert_eq!(app.balance(&old).await.status, 200, "old tokens stay valid");
    assert_eq!(app.balance(&new).await.status, 200);
}

async fn refresh(app: &TestApp, refresh_token: &str) -> crate::helpers::Answer {
    app.send(
        app.request(Method::POST, "/fe/users/auth/token/refresh")
            .json(&json!({"refresh_token": refresh_token})),
    )
    .await
}

#[tokio::test]
async fn refresh_rotates_tokens_and_keeps_the_session() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let session = app.session(&client, json!({"user_id": "p"})).await;

    let refreshed = refresh(&app, &session.str("refresh_token")).await;

    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    let mut fields: Vec<&str> = refreshed
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["access_token", "expires_in", "refresh_token", "token"]
    );
    assert_eq!(refreshed.body["token"], refreshed.body["access_token"]);
    assert_eq!(refreshed.body["expires_in"], 86_400);
    assert_ne!(refreshed.str("refresh_token"), session.str("refresh_token"));
    let claims = claims_of(&refreshed.str("access_token"));
    assert_eq!(claims["sid"], session.body["session_id"], "same session");
    assert_eq!(claims["is_new_user"], false);
    assert_eq!(
        app.balance(&refreshed.str("access_token")).await.status,
        200
    );
    let again = refresh(&app, &refreshed.str("refresh_token")).await;
    assert_eq!(again.status, 200, "the rotated token works once");
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let session = app.session(&client, json!({"user_id": "p"})).await;
    let other_session = app.session(&client, json!({"user_id": "p"})).await;
    let first = session.str("refresh_token");
    let refreshed = refresh(&app, &first).await;
    assert_eq!(refreshed.status, 200);

    let reuse = refresh(&app, &first).await;

    reuse.assert_error(401, "UN_AUTHORIZED");
    refresh(&app, &refreshed.str("refresh_token"))
        .await
        .assert_error(401, "UN_AUTHORIZED");
    app.balance(&refreshed.str("access_token"))
        .await
        .assert_error(401, "UN_AUTHORIZED");
    app.balance(&session.str("access_token"))
        .await
        .assert_error(401, "UN_AUTHORIZED");
    assert_eq!(
        app.balance(&other_session.str("access_token")).await.status,
        200,
        "other sessions of the gamer are not affected"
    );
}

#[tokio::test]
async fn unknown_missing_and_expired_refresh_tokens_are_refused() {
    let app = spawn_app_with(|config| config.refresh_ttl_seconds = 0).await;
    let client = app.create_client().await;
    let session = app.session(&client, json!({"user_id": "p"})).await;

    refresh(&app, &session.str("refresh_token"))
        .await
        .assert_error(401, "UN_AUTHORIZED");
    refresh(&app, "made-up")
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let missing = app
        .send(
            app.request(Method::POST, "/fe/users/auth/token/refresh")
                .json(&json!({})),
        )
        .await;
    missing.assert_error(400, "BAD_REQUEST");
}

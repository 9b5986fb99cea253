//! Sign-in security: the login answer and cookie flags, one answer for a wrong
//! email or password, throttling per email, CSRF, session fixation, logout, idle
//! expiry and disabled operators.

use kgen_loyalty::domain::console::operators::{self, Role};
use reqwest::Method;
use serde_json::json;

use super::{call, create_operator, get, post_login, session_cookie_of, sign_in, ConsoleSession};
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn login_answers_the_session_and_sets_a_strict_http_only_cookie() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let password = create_operator(&app, "Ops@Studio.example", Role::Viewer, &[&game.id]).await;

    let answer = post_login(&app, "ops@studio.EXAMPLE", &password).await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["email"], "Ops@Studio.example");
    assert_eq!(answer.body["role"], "viewer");
    assert_eq!(answer.body["clients"], json!([game.id]));
    assert!(answer.str("csrfToken").len() >= 32);
    let cookie = answer.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("kgen_console="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "Secure only when configured: {cookie}"
    );
}

#[tokio::test]
async fn the_cookie_is_secure_when_configured() {
    let app = spawn_app_with(|config| config.console_secure_cookie = true).await;
    let password = create_operator(&app, "admin@platform.example", Role::Admin, &[]).await;

    let answer = post_login(&app, "admin@platform.example", &password).await;

    assert_eq!(answer.status, 200);
    let cookie = answer.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert_eq!(
        answer.body["clients"],
        json!([]),
        "a platform admin has no clients"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_answer_the_same_401() {
    let app = spawn_app().await;
    create_operator(&app, "admin@platform.example", Role::Admin, &[]).await;

    let wrong = post_login(&app, "admin@platform.example", "not-the-password").await;
    let unknown = post_login(&app, "nobody@platform.example", "not-the-password").await;

    wrong.assert_error(401, "UN_AUTHORIZED");
    unknown.assert_error(401, "UN_AUTHORIZED");
    assert_eq!(wrong.body, unknown.body);
    assert!(session_cookie_of(&wrong).is_none());
}

#[tokio::test]
async fn five_failures_throttle_the_email_even_for_the_right_password_until_a_reset() {
    let app = spawn_app().await;
    let password = create_operator(&app, "admin@platform.example", Role::Admin, &[]).await;
    for _ in 0..5 {
        post_login(&app, "ADMIN@platform.example", "wrong")
            .await
            .assert_error(401, "UN_AUTHORIZED");
    }

    let throttled = post_login(&app, "admin@platform.example", &password).await;

    throttled.assert_error(429, "TOO_MANY_REQUESTS");
    let retry_after: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let failures = app
        .scalar("select count(*) from console_login_failures")
        .await;
    assert_eq!(failures, 5, "a 429 is not a failure");
    post_login(&app, "other@platform.example", "wrong")
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let new_password = operators::reset_password(&app.db, "admin@platform.example")
        .await
        .unwrap();
    let after_reset = post_login(&app, "admin@platform.example", new_password.expose()).await;
    assert_eq!(after_reset.status, 200, "a reset clears the count");
}

#[tokio::test]
async fn a_change_without_or_with_a_wrong_csrf_token_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let password = create_operator(&app, "admin@platform.example", Role::Admin, &[]).await;
    let session = sign_in(&app, "admin@platform.example", &password).await;
    let path = format!("/console/api/games/{}/events", game.id);
    let body = json!({"eventType": "DailyBonus", "rewardAmount": 10});

    let without = app
        .send(
            app.request(Method::PUT, &path)
                .header("cookie", format!("kgen_console={}", session.cookie))
                .json(&body),
        )
        .await;
    let forged = ConsoleSession {
        csrf: "forged".to_owned(),
        ..session.clone()
    };
    let wrong = call(&app, &forged, Method::PUT, &path, Some(body.clone())).await;

    without.assert_error(403, "FORBIDDEN");
    wrong.assert_error(403, "FORBIDDEN");
    assert_eq!(app.scalar("select count(*) from events").await, 0);
    let right = call(&app, &session, Method::PUT, &path, Some(body)).await;
    assert_eq!(right.status, 201, "{:?}", right.body);
}

#[tokio::test]
async fn every_login_issues_a_new_session_and_logout_kills_the_old_cookie() {
    let app = spawn_app().await;
    let password = create_operator(&app, "admin@platform.example", Role::Admin, &[]).await;
    let first = sign_in(&app, "admin@platform.example", &password).await;

    let second = sign_in(&app, "admin@platform.example", &password).await;
    let logout = call(&app, &first, Method::POST, "/console/api/logout", None).await;

    assert_ne!(
        first.cookie, second.cookie,
        "a login never reuses a session id"
    );
    assert_eq!(logout.status, 204);
    get(&app, &first, "/console/api/session")
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let still = get(&app, &second, "/console/api/session").await;
    assert_eq!(still.status, 200);
    assert_eq!(still.body["email"], "admin@platform.example");
    call(&app, &first, Method::POST, "/console/api/logout", None)
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let stored: i64 = app.scalar("select count(*) from console_sessions").await;
    assert_eq!(stored, 1);
    let raw_stored: i64 =
        sqlx::query_scalar("select count(*) from console_sessions where id_hash = $1")
            .bind(&second.cookie)
            .fetch_one(app.db.reader())
            .await
            .unwrap();
    assert_eq!(raw_stored, 0, "session ids are stored hashed");
}

#[tokio::test]
async fn no_cookie_or_an_idle_session_is_401() {
    let app = spawn_app().await;
    let password = create_operator(&app, "admin@platform.example", Role::Admin, &[]).await;
    let session = sign_in(&app, "admin@platform.example", &password).await;

    let anonymous = app
        .send(app.request(Method::GET, "/console/api/games"))
        .await;
    sqlx::query("update console_sessions set last_seen_at = last_seen_at - 3601000000000")
        .execute(app.db.writer())
        .await
        .unwrap();
    let idle = get(&app, &session, "/console/api/games").await;

    anonymous.assert_error(401, "UN_AUTHORIZED");
    idle.assert_error(401, "UN_AUTHORIZED");
}

#[tokio::test]
async fn disabling_or_resetting_an_operator_ends_its_sessions() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let viewer_password =
        create_operator(&app, "viewer@studio.example", Role::Viewer, &[&game.id]).await;
    let admin_password =
        create_operator(&app, "admin@studio.example", Role::Admin, &[&game.id]).await;
    let viewer = sign_in(&app, "viewer@studio.example", &viewer_password).await;
    let admin = sign_in(&app, "admin@studio.example", &admin_password).await;

    operators::disable_operator(&app.db, "VIEWER@studio.example")
        .await
        .unwrap();
    operators::reset_password(&app.db, "admin@studio.example")
        .await
        .unwrap();

    get(&app, &viewer, "/console/api/games")
        .await
        .assert_error(401, "UN_AUTHORIZED");
    get(&app, &admin, "/console/api/games")
        .await
        .assert_error(401, "UN_AUTHORIZED");
    post_login(&app, "viewer@studio.example", &viewer_password)
        .await
        .assert_error(401, "UN_AUTHORIZED");
    post_login(&app, "admin@studio.example", &admin_password)
        .await
        .assert_error(401, "UN_AUTHORIZED");
}

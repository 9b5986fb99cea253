//! The studio console's JSON API (CONTRACT Part 2, "Console") over real HTTP:
//! sign-in and its security (cookie flags, CSRF, fixation, throttling), roles and
//! tenant scoping, every route, adjustments against the ledger, the dashboard's
//! figures, and the `operators` CLI through the real binary.

mod adjustments;
mod auth;
mod cli;
mod gamers;
mod routes;
mod stats;

use kgen_loyalty::domain::console::operators::{self, Role};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Answer, TestApp};

/// A signed-in console session.
#[derive(Clone, Debug)]
pub struct ConsoleSession {
    /// The `kgen_console` cookie value.
    pub cookie: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// Creates an operator straight through the domain; returns its password.
pub async fn create_operator(app: &TestApp, email: &str, role: Role, clients: &[&str]) -> String {
    let clients: Vec<String> = clients.iter().map(|c| (*c).to_owned()).collect();
    let (_, password) = operators::create_operator(&app.db, email, role, &clients)
        .await
        .expect("creating an operator");
    password.expose().to_owned()
}

/// The `kgen_console` value of a Set-Cookie header.
pub fn session_cookie_of(answer: &Answer) -> Option<String> {
    let set_cookie = answer.headers.get("set-cookie")?.to_str().ok()?;
    let first = set_cookie.split(';').next()?;
    first.strip_prefix("kgen_console=").map(str::to_owned)
}

/// `POST /console/api/login`.
pub async fn post_login(app: &TestApp, email: &str, password: &str) -> Answer {
    let body = serde_json::json!({"email": email, "password": password});
    app.send(app.request(Method::POST, "/console/api/login").json(&body))
        .await
}

/// Logs in and returns the session (panics unless 200).
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> ConsoleSession {
    let answer = post_login(app, email, password).await;
    assert_eq!(answer.status, 200, "login: {:?}", answer.body);
    ConsoleSession {
        cookie: session_cookie_of(&answer).expect("a kgen_console cookie"),
        csrf: answer.str("csrfToken"),
    }
}

/// Creates an operator and signs it in.
pub async fn operator_session(
    app: &TestApp,
    email: &str,
    role: Role,
    clients: &[&str],
) -> ConsoleSession {
    let password = create_operator(app, email, role, clients).await;
    sign_in(app, email, &password).await
}

/// A console request with the session's cookie and CSRF token.
pub async fn call(
    app: &TestApp,
    session: &ConsoleSession,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let request = app
        .request(method, path)
        .header("cookie", format!("kgen_console={}", session.cookie))
        .header("x-csrf-token", &session.csrf);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    app.send(request).await
}

/// A console GET.
pub async fn get(app: &TestApp, session: &ConsoleSession, path: &str) -> Answer {
    call(app, session, Method::GET, path, None).await
}

/// An adjustment with this Idempotency-Key.
pub async fn adjust(
    app: &TestApp,
    session: &ConsoleSession,
    client_id: &str,
    user_id: &str,
    key: &str,
    body: Value,
) -> Answer {
    let request = app
        .request(
            Method::POST,
            &format!("/console/api/games/{client_id}/gamers/{user_id}/adjustments"),
        )
        .header("cookie", format!("kgen_console={}", session.cookie))
        .header("x-csrf-token", &session.csrf)
        .header("idempotency-key", key)
        .json(&body);
    app.send(request).await
}

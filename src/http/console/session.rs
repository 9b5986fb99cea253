//! `/console/api/login`, `/session`, `/logout`: cookie sessions for operators.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Console, COOKIE_NAME};
use crate::domain::console::auth::{self, ConsoleOperator};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::Json;
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(get_session))
        .routes(routes!(logout))
}

/// Body of `POST /console/api/login`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The operator's email (any case).
    pub email: String,
    /// The operator's password.
    pub password: String,
}

/// Who is signed in, and the CSRF token to send on every change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    /// The operator's email.
    pub email: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// The games the operator is scoped to; `[]` for a platform admin.
    pub clients: Vec<String>,
    /// Send this in `x-csrf-token` on every request other than GET and HEAD.
    #[serde(rename = "csrfToken")]
    pub csrf_token: String,
}

impl From<&ConsoleOperator> for SessionResponse {
    fn from(operator: &ConsoleOperator) -> SessionResponse {
        SessionResponse {
            email: operator.email.clone(),
            role: operator.role.as_str().to_owned(),
            clients: operator.clients.clone(),
            csrf_token: operator.csrf_token.clone(),
        }
    }
}

fn session_cookie(state: &AppState, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if state.config.console_secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let max_age = max_age.map_or_else(String::new, |age| format!("; Max-Age={age}"));
    let cookie =
        format!("{COOKIE_NAME}={value}; HttpOnly; SameSite=Strict; Path=/console{secure}{max_age}");
    HeaderValue::from_str(&cookie).expect("a session id is URL-safe base64")
}

/// Sign in: a new session (a new id on every login) in the `kgen_console` cookie.
#[utoipa::path(
    post,
    path = "/console/api/login",
    tag = "console",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; Set-Cookie kgen_console", body = SessionResponse),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Wrong email or password, or disabled", body = ErrorBody),
        (status = 429, description = "5 failures in 15 minutes: Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Response> {
    let login = auth::login(&state.db, &body.email, &body.password).await?;
    let mut response = axum::Json(SessionResponse::from(&login.operator)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &login.session_id, None),
    );
    Ok(response)
}

/// Who is signed in (for a reloaded page).
#[utoipa::path(
    get,
    path = "/console/api/session",
    tag = "console",
    security(("console_session" = [])),
    responses(
        (status = 200, description = "The session", body = SessionResponse),
        (status = 401, description = "No live session", body = ErrorBody),
    )
)]
pub async fn get_session(Console(operator): Console) -> axum::Json<SessionResponse> {
    axum::Json(SessionResponse::from(&operator))
}

/// Sign out: the session ends and the cookie is cleared.
#[utoipa::path(
    post,
    path = "/console/api/logout",
    tag = "console",
    security(("console_session" = [])),
    params(("x-csrf-token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No live session", body = ErrorBody),
        (status = 403, description = "Missing or wrong CSRF token", body = ErrorBody),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    Console(operator): Console,
) -> ApiResult<Response> {
    auth::logout(&state.db, &operator).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", Some(0)));
    Ok(response)
}

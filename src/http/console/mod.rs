//! The console's JSON API under `/console/api/` (CONTRACT Part 2, "Console").
//! Every route goes through one guard, [`Console`], and its scope checks, so the
//! order of the contract holds everywhere: route 404, method 405 (the router),
//! session 401 and CSRF 403 (the extractor), a `{clientID}` outside the
//! operator's games 404 ([`Console::game`]), role 403 ([`Console::require_admin`]),
//! then the body (read by the handler only after those), records, business rules.
//! The app itself (`/console/`) is served by `http::console_ui`.

pub mod gamers;
pub mod games;
pub mod reports;
pub mod session;
pub mod webhooks;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use utoipa_axum::router::OpenApiRouter;

use super::error::{ApiError, ApiResult};
use crate::domain::clients::Client;
use crate::domain::console::auth::{self, ConsoleOperator};
use crate::domain::console::operators::Role;
use crate::domain::Error;
use crate::state::AppState;

/// The session cookie.
pub const COOKIE_NAME: &str = "kgen_console";

/// The header that carries the session's CSRF token on every change.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The routes of the console API.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(session::router())
        .merge(games::router())
        .merge(gamers::router())
        .merge(reports::router())
        .merge(webhooks::router())
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// An operator with a live console session; on a change (not GET or HEAD) also
/// the right CSRF token.
pub struct Console(pub ConsoleOperator);

impl FromRequestParts<AppState> for Console {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let session_id = cookie(&parts.headers, COOKIE_NAME)
            .filter(|id| !id.is_empty())
            .ok_or(Error::Unauthorized)?;
        let idle = std::time::Duration::from_secs(state.config.console_idle_minutes * 60);
        let operator = auth::authenticate(&state.db, session_id, idle).await?;
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let token = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            if token.is_empty() || !operator.csrf_matches(token) {
                return Err(Error::Forbidden.into());
            }
        }
        Ok(Console(operator))
    }
}

impl Console {
    /// The game `client_id` if this operator may see it; 404 otherwise, exactly
    /// like a game that does not exist.
    pub async fn game(&self, state: &AppState, client_id: &str) -> ApiResult<Client> {
        if !self.0.may_see(client_id) {
            return Err(Error::NotFound.into());
        }
        crate::domain::clients::find_client(&state.db, client_id)
            .await?
            .ok_or_else(|| Error::NotFound.into())
    }

    /// 403 unless the operator is an admin.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(Error::Forbidden.into())
        }
    }

    /// 403 unless the operator is a platform admin (games and keys).
    pub fn require_platform_admin(&self) -> ApiResult<()> {
        if self.0.is_platform_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden.into())
        }
    }
}

/// A request body read as bytes, parsed by the handler only after the session,
/// scope and role checks (so that those answer first); a body over the limit is
/// 413 in the envelope.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(format!("could not read the body: {rejection}"))
                }
            })
    }
}

/// The path parameters of a route, as text; undecodable input is 400.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let bad = |rejection: axum::extract::rejection::PathRejection| {
            ApiError::BadRequest(format!("path parameter: {rejection}"))
        };
        // No id holds a control character, and PostgreSQL cannot even compare one
        // with NUL: refuse them before any lookup, as the /s2s and /fe routes do.
        let axum::extract::Path(raw) =
            axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(bad)?;
        if let Some((name, _)) = raw.iter().find(|(_, v)| v.chars().any(char::is_control)) {
            return Err(ApiError::BadRequest(format!(
                "{name} must not contain control characters"
            )));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(bad)
    }
}

/// Documents what the [`Console`] guard answers on every console route but login:
/// 401 without a live session, and on every change 403 without the CSRF token (or
/// for a viewer). Written once here rather than on each route.
pub fn document_guard(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in api.paths.paths.iter_mut() {
        if !path.starts_with("/console/api/") || path == "/console/api/login" {
            continue;
        }
        let operations = [
            (item.get.as_mut(), false),
            (item.post.as_mut(), true),
            (item.put.as_mut(), true),
            (item.delete.as_mut(), true),
            (item.patch.as_mut(), true),
        ];
        for (operation, changes) in operations {
            let Some(operation) = operation else { continue };
            let responses = &mut operation.responses.responses;
            responses
                .entry("401".to_owned())
                .or_insert_with(|| error("No live console session").into());
            if changes {
                responses.entry("403".to_owned()).or_insert_with(|| {
                    error("No or wrong x-csrf-token, or the operator's role may not").into()
                });
            }
        }
    }
}

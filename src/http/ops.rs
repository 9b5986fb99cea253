//! Operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI
//! document, and the request-metrics middleware.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use crate::domain::Error;
use crate::metrics::{self, RequestLabels};
use crate::state::AppState;

/// The routes of this area (the OpenAPI document is added by `http::router`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Body of the health endpoints.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    /// "ok".
    pub status: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up", body = StatusResponse)))]
pub async fn healthz() -> axum::Json<StatusResponse> {
    axum::Json(StatusResponse {
        status: "ok".to_owned(),
    })
}

/// The database is reachable.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = StatusResponse),
        (status = 503, description = "Database unreachable", body = ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<StatusResponse>, ApiError> {
    if state.db.ping().await {
        Ok(axum::Json(StatusResponse {
            status: "ok".to_owned(),
        }))
    } else {
        Err(Error::Unavailable.into())
    }
}

/// Prometheus metrics (text exposition format). With `KGEN_METRICS_TOKEN` set,
/// only for `Authorization: Bearer <token>`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Metrics", body = String, content_type = "text/plain"),
        (status = 401, description = "KGEN_METRICS_TOKEN is set and the bearer token is not it", body = ErrorBody),
    ))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = &state.config.metrics_token {
        if !bearer_matches(&headers, token.expose()) {
            return Err(Error::Unauthorized.into());
        }
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}

/// Whether `Authorization: Bearer <token>` names `expected`, compared in constant
/// time (over SHA-256 digests, so that not even the length leaks).
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    Sha256::digest(given)
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into()
}

/// Counts every request and its latency by method, matched route and status,
/// each reduced to a fixed set of labels (`other` for the rest).
pub async fn track_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = metrics::method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let labels = RequestLabels {
        method,
        route,
        status: metrics::status_label(response.status()),
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Unknown path: 404 NOT_FOUND in the envelope.
pub async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// Known path, wrong method: 405 METHOD_NOT_ALLOWED in the envelope.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

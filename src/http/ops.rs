//! Operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI
//! document, and the request-metrics middleware.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use crate::domain::Error;
use crate::metrics::RequestLabels;
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

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Counts every request and its latency by matched route and status.
pub async fn track_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let labels = RequestLabels {
        method,
        route,
        status: response.status().as_u16(),
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

//! `/s2s/webhooks`: a game's webhook endpoints, their deliveries and retries
//! (CONTRACT Part 2, "Webhooks").

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ClientAuth;
use super::console::PathParams;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{parse_limit, Json, PathParam, Query};
use crate::domain::time::rfc3339;
use crate::domain::webhooks::{self, DeliveryView, EndpointInput};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(read, replace, remove))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry))
}

/// Body of `POST /s2s/webhooks` and `PUT /s2s/webhooks/{webhookID}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EndpointRequest {
    /// `https://…` (or `http://…` when the operator allows it), at most 2 048 characters.
    #[schema(required = true, max_length = 2048)]
    pub url: Option<String>,
    /// Distinct event types, or `["*"]` alone for every type.
    #[serde(rename = "eventTypes")]
    #[schema(required = true)]
    pub event_types: Option<Vec<String>>,
    /// Free text, at most 500 characters (default "").
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// PUT only: whether the endpoint receives deliveries (default true).
    #[serde(rename = "isActive")]
    pub is_active: Option<bool>,
}

impl EndpointRequest {
    fn into_input(self) -> Result<EndpointInput, ApiError> {
        let url = self
            .url
            .ok_or_else(|| ApiError::BadRequest("url is required".to_owned()))?;
        let event_types = self
            .event_types
            .ok_or_else(|| ApiError::BadRequest("eventTypes is required".to_owned()))?;
        Ok(EndpointInput {
            url,
            event_types,
            description: self.description.unwrap_or_default(),
            is_active: self.is_active.unwrap_or(true),
        })
    }
}

/// An endpoint (`secret` only on creation and rotation).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointResponse {
    /// Endpoint id.
    #[serde(rename = "webhookID")]
    pub webhook_id: String,
    /// Target URL.
    pub url: String,
    /// Subscribed types.
    #[serde(rename = "eventTypes")]
    pub event_types: Vec<String>,
    /// Free text.
    pub description: String,
    /// Whether it receives deliveries.
    #[serde(rename = "isActive")]
    pub is_active: bool,
    /// `whsec_…`: shown on creation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// RFC 3339.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// RFC 3339.
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
}

impl EndpointResponse {
    /// The endpoint as answered; the secret only when asked for.
    pub fn new(row: webhooks::Endpoint, with_secret: bool) -> EndpointResponse {
        EndpointResponse {
            webhook_id: row.id,
            url: row.url,
            event_types: row.event_types,
            description: row.description,
            is_active: row.is_active,
            secret: with_secret.then_some(row.secret),
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

/// The endpoint list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointListResponse {
    /// Oldest first, without secrets.
    pub webhooks: Vec<EndpointResponse>,
}

/// A new secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretResponse {
    /// `whsec_…`; the previous secret keeps signing alongside for 24 h.
    pub secret: String,
}

/// A queued delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryQueued {
    /// The delivery.
    #[serde(rename = "deliveryID")]
    pub delivery_id: String,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptResponse {
    /// RFC 3339.
    pub at: String,
    /// The receiver's HTTP status, or null when no answer came.
    #[serde(rename = "statusCode")]
    pub status_code: Option<i64>,
    /// What went wrong, or null.
    pub error: Option<String>,
    /// How long it took.
    #[serde(rename = "durationMs")]
    pub duration_ms: i64,
}

/// A delivery with its attempts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryResponse {
    /// Delivery id.
    #[serde(rename = "deliveryID")]
    pub delivery_id: String,
    /// Event id (the `webhook-id` header).
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// PENDING, SUCCEEDED or FAILED.
    pub status: String,
    /// Oldest first.
    pub attempts: Vec<AttemptResponse>,
    /// RFC 3339, while PENDING; else null.
    #[serde(rename = "nextAttemptAt")]
    pub next_attempt_at: Option<String>,
    /// RFC 3339.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

impl From<DeliveryView> for DeliveryResponse {
    fn from(view: DeliveryView) -> DeliveryResponse {
        let row = view.delivery;
        DeliveryResponse {
            delivery_id: row.id,
            event_id: row.event_id,
            event_type: row.event_type,
            next_attempt_at: (row.status == "PENDING")
                .then_some(row.next_attempt_at)
                .flatten()
                .map(rfc3339),
            status: row.status,
            attempts: view
                .attempts
                .into_iter()
                .map(|a| AttemptResponse {
                    at: rfc3339(a.at),
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
            created_at: rfc3339(row.created_at),
        }
    }
}

/// A page of deliveries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryListResponse {
    /// Newest first.
    pub deliveries: Vec<DeliveryResponse>,
    /// Cursor of the next page; "" on the last page.
    pub cursor: String,
}

/// Query of the delivery list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryListParams {
    /// PENDING, SUCCEEDED or FAILED; absent lists all.
    pub status: Option<String>,
    /// Page size: a whole number from 1 (default 50; above 500 reads as 500).
    #[param(value_type = Option<String>, pattern = "^0*[1-9][0-9]*$")]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// The path of one delivery.
#[derive(Debug, Deserialize)]
pub struct DeliveryPath {
    #[serde(rename = "webhookID")]
    webhook_id: String,
    #[serde(rename = "deliveryID")]
    delivery_id: String,
}

/// Register an endpoint; the answer carries its signing secret (shown only here
/// and on rotation).
#[utoipa::path(
    post,
    path = "/s2s/webhooks",
    tag = "webhooks",
    request_body = EndpointRequest,
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 201, description = "Registered", body = EndpointResponse),
        (status = 400, description = "Invalid or refused URL, unknown event type", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 409, description = "20 endpoints already (LIMIT_REACHED)", body = ErrorBody),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    Json(body): Json<EndpointRequest>,
) -> ApiResult<(StatusCode, axum::Json<EndpointResponse>)> {
    let input = EndpointRequest {
        is_active: None,
        ..body
    }
    .into_input()?;
    let policy = state.webhooks.settings().policy;
    let row = webhooks::register(&state.db, policy, &client.id, input).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(EndpointResponse::new(row, true)),
    ))
}

/// List the client's endpoints (no secrets).
#[utoipa::path(
    get,
    path = "/s2s/webhooks",
    tag = "webhooks",
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 200, description = "The endpoints", body = EndpointListResponse),
        (status = 401, description = "Bad credentials", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
) -> ApiResult<axum::Json<EndpointListResponse>> {
    let rows = webhooks::list(&state.db, &client.id).await?;
    Ok(axum::Json(EndpointListResponse {
        webhooks: rows
            .into_iter()
            .map(|row| EndpointResponse::new(row, false))
            .collect(),
    }))
}

/// Read one endpoint (no secret).
#[utoipa::path(
    get,
    path = "/s2s/webhooks/{webhookID}",
    tag = "webhooks",
    params(("webhookID" = String, Path, description = "Endpoint id")),
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 200, description = "The endpoint", body = EndpointResponse),
        (status = 400, description = "A control character in the id", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign", body = ErrorBody),
    )
)]
pub async fn read(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    PathParam(id): PathParam,
) -> ApiResult<axum::Json<EndpointResponse>> {
    let row = webhooks::get(&state.db, &client.id, &id).await?;
    Ok(axum::Json(EndpointResponse::new(row, false)))
}

/// Replace an endpoint's settings (a full replacement; `isActive` defaults to
/// true, and enabling resumes its pending deliveries).
#[utoipa::path(
    put,
    path = "/s2s/webhooks/{webhookID}",
    tag = "webhooks",
    params(("webhookID" = String, Path, description = "Endpoint id")),
    request_body = EndpointRequest,
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 200, description = "Replaced", body = EndpointResponse),
        (status = 400, description = "Invalid or refused URL, unknown event type", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign", body = ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    PathParam(id): PathParam,
    Json(body): Json<EndpointRequest>,
) -> ApiResult<axum::Json<EndpointResponse>> {
    let input = body.into_input()?;
    let policy = state.webhooks.settings().policy;
    let row = webhooks::replace(&state.db, policy, &client.id, &id, input).await?;
    Ok(axum::Json(EndpointResponse::new(row, false)))
}

/// Delete an endpoint: it gets nothing more.
#[utoipa::path(
    delete,
    path = "/s2s/webhooks/{webhookID}",
    tag = "webhooks",
    params(("webhookID" = String, Path, description = "Endpoint id")),
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A control character in the id", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign", body = ErrorBody),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    PathParam(id): PathParam,
) -> ApiResult<StatusCode> {
    webhooks::delete(&state.db, &client.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate the signing secret: the previous one keeps signing alongside for 24 h.
#[utoipa::path(
    post,
    path = "/s2s/webhooks/{webhookID}/rotate-secret",
    tag = "webhooks",
    params(("webhookID" = String, Path, description = "Endpoint id")),
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 200, description = "The new secret", body = SecretResponse),
        (status = 400, description = "A control character in the id", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    PathParam(id): PathParam,
) -> ApiResult<axum::Json<SecretResponse>> {
    let secret = webhooks::rotate_secret(&state.db, &client.id, &id).await?;
    Ok(axum::Json(SecretResponse { secret }))
}

/// Send a `webhook.test` event to this endpoint only.
#[utoipa::path(
    post,
    path = "/s2s/webhooks/{webhookID}/test",
    tag = "webhooks",
    params(("webhookID" = String, Path, description = "Endpoint id")),
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 202, description = "Queued", body = DeliveryQueued),
        (status = 400, description = "A control character in the id", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign", body = ErrorBody),
    )
)]
pub async fn send_test(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    PathParam(id): PathParam,
) -> ApiResult<(StatusCode, axum::Json<DeliveryQueued>)> {
    let delivery_id = webhooks::send_test(&state.db, &client.id, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(DeliveryQueued { delivery_id }),
    ))
}

/// An endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(
    get,
    path = "/s2s/webhooks/{webhookID}/deliveries",
    tag = "webhooks",
    params(("webhookID" = String, Path, description = "Endpoint id"), DeliveryListParams),
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryListResponse),
        (status = 400, description = "Bad status, limit or cursor", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign", body = ErrorBody),
    )
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    PathParam(id): PathParam,
    Query(params): Query<DeliveryListParams>,
) -> ApiResult<axum::Json<DeliveryListResponse>> {
    let limit = parse_limit(params.limit.as_deref())?;
    let (views, cursor) = webhooks::list_deliveries(
        &state.db,
        &state.keys.cursors,
        &client.id,
        &id,
        params.status.as_deref(),
        limit,
        params.cursor.as_deref(),
    )
    .await?;
    Ok(axum::Json(DeliveryListResponse {
        deliveries: views.into_iter().map(DeliveryResponse::from).collect(),
        cursor,
    }))
}

/// Attempt a delivery once more now, in any status, with the same `webhook-id`;
/// the outcome sets its status.
#[utoipa::path(
    post,
    path = "/s2s/webhooks/{webhookID}/deliveries/{deliveryID}/retry",
    tag = "webhooks",
    params(
        ("webhookID" = String, Path, description = "Endpoint id"),
        ("deliveryID" = String, Path, description = "Delivery id"),
    ),
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 202, description = "Attempting", body = DeliveryQueued),
        (status = 400, description = "A control character in an id", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign", body = ErrorBody),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    PathParams(path): PathParams<DeliveryPath>,
) -> ApiResult<(StatusCode, axum::Json<DeliveryQueued>)> {
    let delivery_id = state
        .webhooks
        .retry(&client.id, &path.webhook_id, &path.delivery_id)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(DeliveryQueued { delivery_id }),
    ))
}

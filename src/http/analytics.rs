//! `POST /fe/analytics/px-tracker/events/{eventID}/drop`: the gamer drops a tracker
//! event with a flat object of attributes (CONTRACT section 6).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::GamerAuth;
use super::error::{ApiResult, ErrorBody};
use super::extract::{Json, PathParam};
use crate::domain::analytics;
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(drop_tracker_event))
}

/// An attribute value (documentation only: the body is read as a JSON object).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AttributeValue {
    /// At most 1024 characters.
    Text(String),
    /// An integer or a float.
    Number(f64),
}

/// Answer of a drop.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DropResponse {
    /// "event dropped successfully".
    pub msg: String,
}

/// Record a tracker event of the gamer with its attributes.
#[utoipa::path(
    post,
    path = "/fe/analytics/px-tracker/events/{eventID}/drop",
    tag = "analytics",
    params(("eventID" = String, Path, description = "Tracker event id (1-128 characters)")),
    request_body(
        content = Option<std::collections::HashMap<String, AttributeValue>>,
        description = "A flat object: at most 64 attributes, names up to 64 characters, \
                       values strings (up to 1024 characters) or numbers; no body reads as {}"
    ),
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Dropped", body = DropResponse),
        (status = 400, description = "Invalid eventID or attributes", body = ErrorBody),
        (status = 401, description = "Bad access token", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 429, description = "The gamer's daily drop quota is used up \
                                      (Retry-After: seconds until 00:00 UTC)", body = ErrorBody),
    )
)]
pub async fn drop_tracker_event(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
    PathParam(event_id): PathParam,
    Json(attributes): Json<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<axum::Json<DropResponse>> {
    let quota = state.config.analytics_drops_per_gamer_per_day;
    analytics::drop_event(&state.db, &gamer, &event_id, &attributes, quota).await?;
    Ok(axum::Json(DropResponse {
        msg: "event dropped successfully".to_owned(),
    }))
}

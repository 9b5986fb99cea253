//! `/s2s/loyalty/rewardable-events`: create, update, list, read and delete the
//! events a game rewards (CONTRACT section 1 and the claim policies of Part 2).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ClientAuth;
use super::error::{ApiResult, ErrorBody};
use super::extract::{parse_limit, Json, PathParam, Query};
use crate::domain::events::{self, ClaimPeriod, Event, EventInput, RewardCategory};
use crate::domain::money::{optional_whole_number, Amount, AMOUNT_MAX};
use crate::domain::text::{check_required_text, check_text, TextKind};
use crate::domain::time::{parse_rfc3339, rfc3339};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upsert_event, list_events))
        .routes(routes!(get_event, delete_event))
}

/// Body of `PUT /s2s/loyalty/rewardable-events`: a full description of the event.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpsertEventRequest {
    /// Update this event; absent or "" creates a new one.
    #[serde(rename = "eventID", default)]
    #[schema(max_length = 64, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub event_id: Option<String>,
    /// What happened, e.g. "DailyBonus" (required, non-empty).
    #[serde(rename = "eventType", default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub event_type: Option<String>,
    /// Display name.
    #[serde(rename = "eventName", default)]
    #[schema(max_length = 256, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub event_name: Option<String>,
    /// Display description.
    #[serde(rename = "eventDescription", default)]
    #[schema(
        max_length = 2048,
        pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
    )]
    pub event_description: Option<String>,
    /// KCash granted per claim (required, whole number 0..1e9).
    #[serde(rename = "rewardAmount", default)]
    #[schema(value_type = i64, required = true, minimum = 0, maximum = 1_000_000_000)]
    pub reward_amount: Option<Amount>,
    /// EARNED (default) or BONUS: the wallet bucket the reward credits.
    #[serde(rename = "rewardCategory", default)]
    pub reward_category: Option<RewardCategoryName>,
    /// Default "GAME".
    #[serde(rename = "entityType", default)]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub entity_type: Option<String>,
    /// Default: the client id.
    #[serde(rename = "entityID", default)]
    #[schema(max_length = 128, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub entity_id: Option<String>,
    /// Default true.
    #[serde(rename = "isActive", default)]
    pub is_active: Option<bool>,
    /// Default false; when true, claims need a fresh tracker drop.
    #[serde(rename = "isActivityTraceEnabled", default)]
    pub is_activity_trace_enabled: Option<bool>,
    /// The tracker eventID a claim needs (required when trace is enabled).
    #[serde(rename = "activityTraceActivityID", default)]
    #[schema(max_length = 128, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub activity_trace_activity_id: Option<String>,
    /// Claims allowed per gamer per `claimPeriod` (≥ 1); absent = unlimited.
    #[serde(
        rename = "maxClaimsPerUser",
        default,
        deserialize_with = "optional_whole_number::<_, AMOUNT_MAX>"
    )]
    #[schema(minimum = 1)]
    pub max_claims_per_user: Option<i64>,
    /// LIFETIME (default), DAILY or WEEKLY (UTC calendar windows).
    #[serde(rename = "claimPeriod", default)]
    pub claim_period: Option<ClaimPeriodName>,
    /// Seconds between two claims of one gamer; absent = none.
    #[serde(
        rename = "cooldownSeconds",
        default,
        deserialize_with = "optional_whole_number::<_, COOLDOWN_MAX>"
    )]
    #[schema(minimum = 0, maximum = 31_536_000)]
    pub cooldown_seconds: Option<i64>,
    /// KCash the event may pay out in all; absent = unlimited.
    #[serde(
        rename = "totalBudget",
        default,
        deserialize_with = "optional_whole_number::<_, AMOUNT_MAX>"
    )]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub total_budget: Option<i64>,
    /// RFC 3339; claims before it are refused.
    #[serde(rename = "startsAt", default)]
    #[schema(format = DateTime)]
    pub starts_at: Option<String>,
    /// RFC 3339, exclusive; claims from it on are refused.
    #[serde(rename = "endsAt", default)]
    #[schema(format = DateTime)]
    pub ends_at: Option<String>,
}

/// `rewardCategory` on the wire.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RewardCategoryName {
    /// The `earned` bucket (default).
    Earned,
    /// The `bonus` bucket.
    Bonus,
}

/// `claimPeriod` on the wire.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClaimPeriodName {
    /// Forever (default).
    Lifetime,
    /// From 00:00 UTC.
    Daily,
    /// From Monday 00:00 UTC.
    Weekly,
}

/// Longest cooldown accepted: one year.
const COOLDOWN_MAX: i64 = 31_536_000;

impl UpsertEventRequest {
    /// Validates every field and applies the defaults.
    pub fn into_input(self) -> ApiResult<EventInput> {
        let event_type = self.event_type.unwrap_or_default();
        check_required_text("eventType", &event_type, 128, TextKind::Line)?;
        let event_name = self.event_name.unwrap_or_default();
        check_text("eventName", &event_name, 256, TextKind::Line)?;
        let event_description = self.event_description.unwrap_or_default();
        check_text(
            "eventDescription",
            &event_description,
            2048,
            TextKind::Prose,
        )?;
        let reward_amount = self.reward_amount.ok_or_else(|| {
            super::error::ApiError::BadRequest("rewardAmount is required".to_owned())
        })?;
        let entity_type = self.entity_type.unwrap_or_else(|| "GAME".to_owned());
        check_required_text("entityType", &entity_type, 64, TextKind::Line)?;
        if let Some(entity_id) = &self.entity_id {
            check_text("entityID", entity_id, 128, TextKind::Identifier)?;
        }
        let trace_id = self.activity_trace_activity_id.unwrap_or_default();
        check_text(
            "activityTraceActivityID",
            &trace_id,
            128,
            TextKind::Identifier,
        )?;
        if let Some(id) = &self.event_id {
            check_text("eventID", id, 64, TextKind::Identifier)?;
        }
        if self.max_claims_per_user == Some(0) {
            return Err(crate::domain::Error::BadRequest(
                "maxClaimsPerUser must be at least 1".to_owned(),
            )
            .into());
        }
        let input = EventInput {
            id: self.event_id.filter(|id| !id.is_empty()),
            event_type,
            event_name,
            event_description,
            reward_amount: reward_amount.get(),
            reward_category: match self.reward_category {
                None | Some(RewardCategoryName::Earned) => RewardCategory::Earned,
                Some(RewardCategoryName::Bonus) => RewardCategory::Bonus,
            },
            entity_type,
            entity_id: self.entity_id.filter(|id| !id.is_empty()),
            is_active: self.is_active.unwrap_or(true),
            is_activity_trace_enabled: self.is_activity_trace_enabled.unwrap_or(false),
            activity_trace_activity_id: trace_id,
            max_claims_per_user: self.max_claims_per_user,
            claim_period: match self.claim_period {
                None | Some(ClaimPeriodName::Lifetime) => ClaimPeriod::Lifetime,
                Some(ClaimPeriodName::Daily) => ClaimPeriod::Daily,
                Some(ClaimPeriodName::Weekly) => ClaimPeriod::Weekly,
            },
            cooldown_seconds: self.cooldown_seconds,
            total_budget: self.total_budget,
            starts_at: self
                .starts_at
                .as_deref()
                .map(|t| parse_rfc3339("startsAt", t))
                .transpose()?,
            ends_at: self
                .ends_at
                .as_deref()
                .map(|t| parse_rfc3339("endsAt", t))
                .transpose()?,
        };
        input.check()?;
        Ok(input)
    }
}

/// A rewardable event. Every field is always present.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventResponse {
    /// Event id (UUID).
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Event type.
    #[serde(rename = "eventType")]
    pub event_type: String,
    /// Display name.
    #[serde(rename = "eventName")]
    pub event_name: String,
    /// Display description.
    #[serde(rename = "eventDescription")]
    pub event_description: String,
    /// KCash per claim.
    #[serde(rename = "rewardAmount")]
    pub reward_amount: i64,
    /// EARNED or BONUS.
    #[serde(rename = "rewardCategory")]
    pub reward_category: String,
    /// Entity type.
    #[serde(rename = "entityType")]
    pub entity_type: String,
    /// Entity id.
    #[serde(rename = "entityID")]
    pub entity_id: String,
    /// Whether claims are accepted.
    #[serde(rename = "isActive")]
    pub is_active: bool,
    /// Whether claims need a fresh tracker drop.
    #[serde(rename = "isActivityTraceEnabled")]
    pub is_activity_trace_enabled: bool,
    /// The tracker eventID claims need.
    #[serde(rename = "activityTraceActivityID")]
    pub activity_trace_activity_id: String,
    /// Claims per gamer per period, or null.
    #[serde(rename = "maxClaimsPerUser")]
    pub max_claims_per_user: Option<i64>,
    /// LIFETIME, DAILY or WEEKLY.
    #[serde(rename = "claimPeriod")]
    pub claim_period: String,
    /// Seconds between two claims of one gamer, or null.
    #[serde(rename = "cooldownSeconds")]
    pub cooldown_seconds: Option<i64>,
    /// Total KCash the event may pay out, or null.
    #[serde(rename = "totalBudget")]
    pub total_budget: Option<i64>,
    /// Start of the claim window (RFC 3339), or null.
    #[serde(rename = "startsAt")]
    pub starts_at: Option<String>,
    /// End of the claim window (RFC 3339, exclusive), or null.
    #[serde(rename = "endsAt")]
    pub ends_at: Option<String>,
    /// Creation time (RFC 3339).
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// Last update time (RFC 3339).
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
}

impl From<Event> for EventResponse {
    fn from(row: Event) -> EventResponse {
        EventResponse {
            event_id: row.id,
            event_type: row.event_type,
            event_name: row.event_name,
            event_description: row.event_description,
            reward_amount: row.reward_amount,
            reward_category: row.reward_category.as_str().to_owned(),
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            is_active: row.is_active,
            is_activity_trace_enabled: row.is_activity_trace_enabled,
            activity_trace_activity_id: row.activity_trace_activity_id,
            max_claims_per_user: row.max_claims_per_user,
            claim_period: row.claim_period.as_str().to_owned(),
            cooldown_seconds: row.cooldown_seconds,
            total_budget: row.total_budget,
            starts_at: row.starts_at.map(rfc3339),
            ends_at: row.ends_at.map(rfc3339),
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

/// Query of the event list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListEventsParams {
    /// `true` or `false` filters by `isActive`; absent lists all.
    #[serde(rename = "isActive")]
    #[param(value_type = Option<bool>)]
    pub is_active: Option<String>,
    /// Page size: a whole number from 1 (default 50; above 500 reads as 500).
    #[param(value_type = Option<String>, pattern = "^0*[1-9][0-9]*$")]
    pub limit: Option<String>,
    /// Cursor from the previous page's `offset`.
    pub offset: Option<String>,
}

/// A page of events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventListResponse {
    /// The events, newest first.
    #[serde(rename = "rewardableEvents")]
    pub rewardable_events: Vec<EventResponse>,
    /// Cursor of the next page; "" on the last page.
    pub offset: String,
}

/// Create an event, or replace the event named by `eventID`.
#[utoipa::path(
    put,
    path = "/s2s/loyalty/rewardable-events",
    tag = "rewardable events",
    request_body = UpsertEventRequest,
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 201, description = "Created or replaced", body = EventResponse),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 404, description = "Unknown eventID", body = ErrorBody),
        (status = 409, description = "BUDGET_EXHAUSTED: totalBudget below what the event has paid out", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
    )
)]
pub async fn upsert_event(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    Json(body): Json<UpsertEventRequest>,
) -> ApiResult<(StatusCode, axum::Json<EventResponse>)> {
    let input = body.into_input()?;
    let event = events::upsert_event(&state.db, &client.id, input).await?;
    Ok((StatusCode::CREATED, axum::Json(event.into())))
}

/// List the client's events, newest first.
#[utoipa::path(
    get,
    path = "/s2s/loyalty/rewardable-events",
    tag = "rewardable events",
    params(ListEventsParams),
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 200, description = "A page of events", body = EventListResponse),
        (status = 400, description = "Bad filter, limit or cursor", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
    )
)]
pub async fn list_events(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    Query(params): Query<ListEventsParams>,
) -> ApiResult<axum::Json<EventListResponse>> {
    let is_active = match params.is_active.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(super::error::ApiError::BadRequest(
                "isActive must be true or false".to_owned(),
            ))
        }
    };
    let limit = parse_limit(params.limit.as_deref())?;
    let (rows, offset) = events::list_events(
        &state.db,
        &state.keys.cursors,
        &client.id,
        is_active,
        limit,
        params.offset.as_deref(),
    )
    .await?;
    Ok(axum::Json(EventListResponse {
        rewardable_events: rows.into_iter().map(EventResponse::from).collect(),
        offset,
    }))
}

/// Read one event.
#[utoipa::path(
    get,
    path = "/s2s/loyalty/rewardable-events/{eventID}",
    tag = "rewardable events",
    params(("eventID" = String, Path, description = "Event id")),
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 200, description = "The event", body = EventResponse),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 400, description = "A control character in the id", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign", body = ErrorBody),
    )
)]
pub async fn get_event(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    PathParam(event_id): PathParam,
) -> ApiResult<axum::Json<EventResponse>> {
    let event = events::get_event(&state.db, &client.id, &event_id).await?;
    Ok(axum::Json(event.into()))
}

/// Delete an event: it can no longer be read, listed or claimed.
#[utoipa::path(
    delete,
    path = "/s2s/loyalty/rewardable-events/{eventID}",
    tag = "rewardable events",
    params(("eventID" = String, Path, description = "Event id")),
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 400, description = "A control character in the id", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign", body = ErrorBody),
    )
)]
pub async fn delete_event(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    PathParam(event_id): PathParam,
) -> ApiResult<StatusCode> {
    events::delete_event(&state.db, &client.id, &event_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

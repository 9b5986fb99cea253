//! `/fe/loyalty/event-reward-user-claims/*`: claim an event's reward, list the
//! gamer's rewards (CONTRACT section 5).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::GamerAuth;
use super::error::{ApiResult, ErrorBody};
use super::extract::{parse_limit, IdempotencyHeader, IdempotencyParams, PathParam, Query};
use crate::domain::claims::{self, Claim};
use crate::domain::time::rfc3339;
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(claim_event_reward))
        .routes(routes!(list_rewards))
}

/// A reward granted for an event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RewardResponse {
    /// The game's user id.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Reward (claim) id.
    #[serde(rename = "rewardID")]
    pub reward_id: String,
    /// The event.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// REWARDED.
    #[serde(rename = "rewardStatus")]
    pub reward_status: String,
    /// RFC 3339.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// RFC 3339.
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    /// KCash granted.
    #[serde(rename = "rewardAmount")]
    pub reward_amount: i64,
}

impl RewardResponse {
    fn new(user_id: &str, claim: Claim) -> RewardResponse {
        RewardResponse {
            user_id: user_id.to_owned(),
            reward_id: claim.id,
            event_id: claim.event_id,
            reward_status: claim.status,
            created_at: rfc3339(claim.created_at),
            updated_at: rfc3339(claim.updated_at),
            reward_amount: claim.amount,
        }
    }
}

/// Grant the gamer the reward of an event it achieved.
#[utoipa::path(
    post,
    path = "/fe/loyalty/event-reward-user-claims/events/{eventID}",
    tag = "rewards",
    params(("eventID" = String, Path, description = "Event id"), IdempotencyParams),
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Rewarded", body = RewardResponse),
        (status = 400, description = "Bad Idempotency-Key", body = ErrorBody),
        (status = 401, description = "Bad access token", body = ErrorBody),
        (status = 404, description = "Unknown, deleted or foreign event", body = ErrorBody),
        (status = 409, description = "EVENT_INACTIVE, EVENT_NOT_OPEN, ACTIVITY_NOT_TRACED, CLAIM_LIMIT_REACHED or BUDGET_EXHAUSTED", body = ErrorBody),
        (status = 422, description = "Idempotency-Key used for another request", body = ErrorBody),
        (status = 429, description = "CLAIM_COOLDOWN (see Retry-After)", body = ErrorBody),
    )
)]
pub async fn claim_event_reward(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
    PathParam(event_id): PathParam,
    IdempotencyHeader(key): IdempotencyHeader,
) -> ApiResult<(StatusCode, axum::Json<RewardResponse>)> {
    let reward = claims::claim_event_reward(&state.db, &gamer, &event_id, key.as_ref()).await?;
    if !reward.replayed {
        state
            .metrics
            .kcash_credited
            .inc_by(u64::try_from(reward.claim.amount).unwrap_or(0));
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(RewardResponse::new(&gamer.user_id, reward.claim)),
    ))
}

/// Query of the reward list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListRewardsParams {
    /// Page size: a whole number from 1 (default 50; above 500 reads as 500).
    #[param(value_type = Option<String>, pattern = "^0*[1-9][0-9]*$")]
    pub limit: Option<String>,
    /// Cursor from the previous page's `offset`.
    pub offset: Option<String>,
}

/// A page of rewards.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RewardListResponse {
    /// Rewards, newest first.
    pub rewards: Vec<RewardResponse>,
    /// Cursor of the next page; "" on the last page.
    pub offset: String,
}

/// List the gamer's rewards, newest first.
#[utoipa::path(
    get,
    path = "/fe/loyalty/event-reward-user-claims/user",
    tag = "rewards",
    params(ListRewardsParams),
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of rewards", body = RewardListResponse),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, description = "Bad access token", body = ErrorBody),
    )
)]
pub async fn list_rewards(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
    Query(params): Query<ListRewardsParams>,
) -> ApiResult<axum::Json<RewardListResponse>> {
    let limit = parse_limit(params.limit.as_deref())?;
    let (rows, offset) = claims::list_rewards(
        &state.db,
        &state.keys.cursors,
        &gamer,
        limit,
        params.offset.as_deref(),
    )
    .await?;
    Ok(axum::Json(RewardListResponse {
        rewards: rows
            .into_iter()
            .map(|claim| RewardResponse::new(&gamer.user_id, claim))
            .collect(),
        offset,
    }))
}

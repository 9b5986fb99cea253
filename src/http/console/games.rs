//! Games and keys (platform admins), and a game's events (the `/s2s` event code
//! and request/response types, behind the console's guard).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Console, PathParams, RawBody};
use crate::domain::clients::{self, NewClient};
use crate::domain::console::audit;
use crate::domain::events;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::events::{EventResponse, UpsertEventRequest};
use crate::http::extract::{parse_json, parse_limit, Query};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_games, create_game))
        .routes(routes!(rotate_game_secret))
        .routes(routes!(disable_game))
        .routes(routes!(list_game_events, upsert_game_event))
        .routes(routes!(get_game_event, delete_game_event))
}

/// A game as the console lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GameResponse {
    /// Client id.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// False once disabled.
    #[serde(rename = "isActive")]
    pub is_active: bool,
}

/// The games the operator may see.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GameListResponse {
    /// Oldest first.
    pub games: Vec<GameResponse>,
}

/// List the games the operator may see.
#[utoipa::path(get, path = "/console/api/games", tag = "console",
    security(("console_session" = [])),
    responses((status = 200, description = "Games", body = GameListResponse),
              (status = 401, description = "No live session", body = ErrorBody)))]
pub async fn list_games(
    State(state): State<AppState>,
    console: Console,
) -> ApiResult<axum::Json<GameListResponse>> {
    let rows = crate::domain::clients::all_clients(&state.db).await?;
    let games = rows
        .into_iter()
        .filter(|row| console.0.may_see(&row.id))
        .map(|row| GameResponse {
            client_id: row.id,
            name: row.name,
            is_active: !row.is_disabled,
        })
        .collect();
    Ok(axum::Json(GameListResponse { games }))
}

/// Body of `POST /console/api/games`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateGameRequest {
    /// Display name.
    pub name: String,
    /// KCash credited to each new gamer (default 50).
    #[serde(rename = "welcomeBonus", default)]
    pub welcome_bonus: Option<i64>,
    /// Least withdrawable balance (default 300).
    #[serde(rename = "minWithdraw", default)]
    pub min_withdraw: Option<i64>,
}

/// A new game with its secret (shown only now).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedGameResponse {
    /// Client id.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Client secret (stored only as a hash).
    #[serde(rename = "clientSecret")]
    pub client_secret: String,
    /// Display name.
    pub name: String,
}

/// Create a game (platform admins), as `clients create` does.
#[utoipa::path(post, path = "/console/api/games", tag = "console",
    security(("console_session" = [])), request_body = CreateGameRequest,
    responses((status = 201, description = "Created", body = CreatedGameResponse),
              (status = 400, description = "Bad body", body = ErrorBody),
              (status = 403, description = "Not a platform admin, or no CSRF token", body = ErrorBody)))]
pub async fn create_game(
    State(state): State<AppState>,
    console: Console,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, axum::Json<CreatedGameResponse>)> {
    console.require_platform_admin()?;
    let body: CreateGameRequest = parse_json(&body)?;
    let new = NewClient {
        id: None,
        name: body.name,
        welcome_bonus: body.welcome_bonus.unwrap_or(50),
        min_withdraw: body.min_withdraw.unwrap_or(300),
    };
    let (client, secret) = clients::create_client(&state.db, &state.keys.addresses, new).await?;
    let detail = serde_json::json!({"name": client.name});
    audit::record(
        &state.db,
        &console.0.actor(),
        "game.create",
        Some(&client.id),
        &client.id,
        detail,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedGameResponse {
            client_id: client.id,
            client_secret: secret.expose().to_owned(),
            name: client.name,
        }),
    ))
}

/// A game's new secret (shown only now).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedSecretResponse {
    /// Client id.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// The new secret; the old one stopped working.
    #[serde(rename = "clientSecret")]
    pub client_secret: String,
}

/// Give a game a new secret (platform admins).
#[utoipa::path(post, path = "/console/api/games/{clientID}/rotate-secret", tag = "console",
    security(("console_session" = [])), params(("clientID" = String, Path, description = "Game")),
    responses((status = 200, description = "Rotated", body = RotatedSecretResponse),
              (status = 403, description = "Not a platform admin", body = ErrorBody),
              (status = 404, description = "Unknown game", body = ErrorBody)))]
pub async fn rotate_game_secret(
    State(state): State<AppState>,
    console: Console,
    PathParams(client_id): PathParams<String>,
) -> ApiResult<axum::Json<RotatedSecretResponse>> {
    console.game(&state, &client_id).await?;
    console.require_platform_admin()?;
    let secret = clients::rotate_secret(&state.db, &client_id).await?;
    let detail = serde_json::json!({});
    audit::record(
        &state.db,
        &console.0.actor(),
        "game.rotate_secret",
        Some(&client_id),
        &client_id,
        detail,
    )
    .await?;
    Ok(axum::Json(RotatedSecretResponse {
        client_id,
        client_secret: secret.expose().to_owned(),
    }))
}

/// Disable a game: its secret and its gamers' tokens stop working (platform admins).
#[utoipa::path(post, path = "/console/api/games/{clientID}/disable", tag = "console",
    security(("console_session" = [])), params(("clientID" = String, Path, description = "Game")),
    responses((status = 204, description = "Disabled"),
              (status = 403, description = "Not a platform admin", body = ErrorBody),
              (status = 404, description = "Unknown game", body = ErrorBody)))]
pub async fn disable_game(
    State(state): State<AppState>,
    console: Console,
    PathParams(client_id): PathParams<String>,
) -> ApiResult<StatusCode> {
    console.game(&state, &client_id).await?;
    console.require_platform_admin()?;
    clients::disable_client(&state.db, &client_id).await?;
    let detail = serde_json::json!({});
    audit::record(
        &state.db,
        &console.0.actor(),
        "game.disable",
        Some(&client_id),
        &client_id,
        detail,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of a game's event list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ConsoleEventsParams {
    /// `true` or `false` filters by `isActive`; absent lists all.
    #[serde(rename = "isActive")]
    #[param(value_type = Option<bool>)]
    pub is_active: Option<String>,
    /// Page size (default 50, above 500 reads as 500).
    #[param(value_type = Option<String>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// An event as the console reads it: the `/s2s` event object plus the budget
/// used.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsoleEventResponse {
    /// The `/s2s` event object.
    #[serde(flatten)]
    pub event: EventResponse,
    /// KCash paid out against `totalBudget`; null for an event without a budget
    /// (its claims per day are in the event's stats).
    #[serde(rename = "paidOut")]
    pub paid_out: Option<i64>,
}

impl From<crate::domain::events::Event> for ConsoleEventResponse {
    fn from(row: crate::domain::events::Event) -> ConsoleEventResponse {
        let paid_out = row.total_budget.map(|_| row.paid_out);
        ConsoleEventResponse {
            event: row.into(),
            paid_out,
        }
    }
}

/// A page of a game's events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsoleEventListResponse {
    /// The events, newest first.
    pub events: Vec<ConsoleEventResponse>,
    /// Cursor of the next page; "" on the last.
    pub cursor: String,
}

/// List a game's events.
#[utoipa::path(get, path = "/console/api/games/{clientID}/events", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), ConsoleEventsParams),
    responses((status = 200, description = "A page of events", body = ConsoleEventListResponse),
              (status = 400, description = "Bad filter, limit or cursor", body = ErrorBody),
              (status = 404, description = "Unknown game", body = ErrorBody)))]
pub async fn list_game_events(
    State(state): State<AppState>,
    console: Console,
    PathParams(client_id): PathParams<String>,
    Query(params): Query<ConsoleEventsParams>,
) -> ApiResult<axum::Json<ConsoleEventListResponse>> {
    console.game(&state, &client_id).await?;
    let is_active = match params.is_active.as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "isActive must be true or false".to_owned(),
            ))
        }
    };
    let limit = parse_limit(params.limit.as_deref())?;
    let (rows, cursor) = events::list_events(
        &state.db,
        &state.keys.cursors,
        &client_id,
        is_active,
        limit,
        params.cursor.as_deref(),
    )
    .await?;
    Ok(axum::Json(ConsoleEventListResponse {
        events: rows.into_iter().map(ConsoleEventResponse::from).collect(),
        cursor,
    }))
}

/// Create or replace a game's event (admins): the body and answers of the `/s2s` PUT.
#[utoipa::path(put, path = "/console/api/games/{clientID}/events", tag = "console",
    security(("console_session" = [])), params(("clientID" = String, Path, description = "Game")),
    request_body = UpsertEventRequest,
    responses((status = 201, description = "Created or replaced", body = EventResponse),
              (status = 400, description = "Invalid field", body = ErrorBody),
              (status = 403, description = "Viewer, or no CSRF token", body = ErrorBody),
              (status = 404, description = "Unknown game or eventID", body = ErrorBody),
              (status = 409, description = "BUDGET_EXHAUSTED: totalBudget below what the event has paid out", body = ErrorBody)))]
pub async fn upsert_game_event(
    State(state): State<AppState>,
    console: Console,
    PathParams(client_id): PathParams<String>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, axum::Json<EventResponse>)> {
    console.game(&state, &client_id).await?;
    console.require_admin()?;
    let input = parse_json::<UpsertEventRequest>(&body)?.into_input()?;
    let event = events::upsert_event(&state.db, &client_id, input).await?;
    let detail = serde_json::json!({"eventType": event.event_type, "eventName": event.event_name});
    audit::record(
        &state.db,
        &console.0.actor(),
        "event.upsert",
        Some(&client_id),
        &event.id,
        detail,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(event.into())))
}

/// Read a game's event.
#[utoipa::path(get, path = "/console/api/games/{clientID}/events/{eventID}", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), ("eventID" = String, Path, description = "Event")),
    responses((status = 200, description = "The event", body = ConsoleEventResponse),
              (status = 404, description = "Unknown game or event", body = ErrorBody)))]
pub async fn get_game_event(
    State(state): State<AppState>,
    console: Console,
    PathParams((client_id, event_id)): PathParams<(String, String)>,
) -> ApiResult<axum::Json<ConsoleEventResponse>> {
    console.game(&state, &client_id).await?;
    let event = events::get_event(&state.db, &client_id, &event_id).await?;
    Ok(axum::Json(event.into()))
}

/// Delete a game's event (admins).
#[utoipa::path(delete, path = "/console/api/games/{clientID}/events/{eventID}", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), ("eventID" = String, Path, description = "Event")),
    responses((status = 204, description = "Deleted"),
              (status = 403, description = "Viewer, or no CSRF token", body = ErrorBody),
              (status = 404, description = "Unknown game or event", body = ErrorBody)))]
pub async fn delete_game_event(
    State(state): State<AppState>,
    console: Console,
    PathParams((client_id, event_id)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    console.game(&state, &client_id).await?;
    console.require_admin()?;
    events::delete_event(&state.db, &client_id, &event_id).await?;
    let detail = serde_json::json!({});
    audit::record(
        &state.db,
        &console.0.actor(),
        "event.delete",
        Some(&client_id),
        &event_id,
        detail,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

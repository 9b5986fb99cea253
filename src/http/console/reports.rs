//! Read-only console reports: withdrawals across the operator's games, a game's
//! dashboard figures, and the audit log.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Console, PathParams};
use crate::domain::console::audit::AuditScope;
use crate::domain::console::withdrawals;
use crate::domain::console::{audit, stats};
use crate::domain::ledger::SyncStatus;
use crate::domain::time::rfc3339;
use crate::domain::Error;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{parse_limit, Query};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_console_withdrawals))
        .routes(routes!(get_game_stats))
        .routes(routes!(get_event_stats))
        .routes(routes!(list_audit_entries))
}

/// Query of the withdrawal list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct WithdrawalsParams {
    /// One game (default: every game the operator may see).
    #[serde(rename = "clientID")]
    pub client_id: Option<String>,
    /// PENDING, COMPLETED or FAILED (default: all).
    pub status: Option<String>,
    /// Page size (default 50, above 500 reads as 500).
    #[param(value_type = Option<String>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// A withdrawal in the console.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsoleWithdrawal {
    /// The game.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// The gamer.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Transaction uid.
    pub uid: String,
    /// Amount.
    pub amount: i64,
    /// PENDING, COMPLETED or FAILED.
    pub sync_status: String,
    /// Request time (RFC 3339).
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// Seconds since the request.
    #[serde(rename = "ageSeconds")]
    pub age_seconds: i64,
}

/// A page of withdrawals.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsoleWithdrawalsResponse {
    /// Newest first.
    pub withdrawals: Vec<ConsoleWithdrawal>,
    /// Cursor of the next page; "" at the end.
    pub cursor: String,
}

/// List withdrawals of the operator's games.
#[utoipa::path(get, path = "/console/api/withdrawals", tag = "console",
    security(("console_session" = [])), params(WithdrawalsParams),
    responses((status = 200, description = "A page of withdrawals", body = ConsoleWithdrawalsResponse),
              (status = 400, description = "Bad status, limit or cursor", body = ErrorBody),
              (status = 404, description = "Unknown game", body = ErrorBody)))]
pub async fn list_console_withdrawals(
    State(state): State<AppState>,
    console: Console,
    Query(params): Query<WithdrawalsParams>,
) -> ApiResult<axum::Json<ConsoleWithdrawalsResponse>> {
    let games: Vec<String> = match params.client_id.as_deref().filter(|c| !c.is_empty()) {
        Some(client_id) => vec![console.game(&state, client_id).await?.id],
        None if console.0.is_platform_admin() => crate::domain::clients::all_clients(&state.db)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect(),
        None => console.0.clients.clone(),
    };
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(SyncStatus::parse(text).ok_or_else(|| {
            ApiError::BadRequest("status must be PENDING, COMPLETED or FAILED".to_owned())
        })?),
    };
    let limit = parse_limit(params.limit.as_deref())?;
    let (rows, cursor) = withdrawals::list(
        &state.db,
        &state.keys.cursors,
        &games,
        status,
        limit,
        params.cursor.as_deref(),
    )
    .await?;
    let now = crate::domain::time::now();
    let withdrawals = rows
        .into_iter()
        .map(|row| ConsoleWithdrawal {
            client_id: row.client_id,
            user_id: row.user_id,
            uid: row.uid,
            amount: row.amount,
            sync_status: row.status.to_string(),
            created_at: rfc3339(row.created_at),
            age_seconds: (now - row.created_at).max(0) / 1_000_000_000,
        })
        .collect();
    Ok(axum::Json(ConsoleWithdrawalsResponse {
        withdrawals,
        cursor,
    }))
}

/// Query of the dashboard.
#[derive(Debug, Deserialize, IntoParams)]
pub struct StatsParams {
    /// Days to cover, 1-90 (default 30), ending today (UTC).
    #[param(value_type = Option<String>)]
    pub days: Option<String>,
}

/// One UTC day of a game.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatsDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// REWARDED claims.
    pub claims: i64,
    /// Their rewards.
    #[serde(rename = "kcashRewarded")]
    pub kcash_rewarded: i64,
    /// Welcome bonuses.
    #[serde(rename = "kcashBonus")]
    pub kcash_bonus: i64,
    /// Signed sum of adjustments.
    #[serde(rename = "kcashAdjusted")]
    pub kcash_adjusted: i64,
    /// Withdrawals requested and not FAILED.
    #[serde(rename = "kcashWithdrawn")]
    pub kcash_withdrawn: i64,
    /// Gamers created.
    #[serde(rename = "newGamers")]
    pub new_gamers: i64,
    /// Distinct gamers with a session, claim, drop or withdrawal.
    #[serde(rename = "activeGamers")]
    pub active_gamers: i64,
}

/// An event among the most claimed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopEvent {
    /// Event id.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Its name.
    #[serde(rename = "eventName")]
    pub event_name: String,
    /// Claims in the window.
    pub claims: i64,
    /// KCash they paid.
    pub kcash: i64,
}

/// The last `ledger verify` run (an addition to the contract's stats).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerVerifyRun {
    /// When it ran (RFC 3339).
    pub at: String,
    /// Whether every invariant held.
    pub ok: bool,
    /// What it printed.
    pub summary: String,
}

/// A game's dashboard.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatsResponse {
    /// Exactly N days, oldest first, ending today.
    pub days: Vec<StatsDay>,
    /// Sum of the gamers' lazy balances now.
    pub outstanding: i64,
    /// PENDING withdrawals.
    #[serde(rename = "pendingWithdrawals")]
    pub pending_withdrawals: i64,
    /// Age of the oldest PENDING withdrawal; null when none.
    #[serde(rename = "oldestPendingSeconds")]
    pub oldest_pending_seconds: Option<i64>,
    /// Up to 10 events by claims (then kcash, then id).
    #[serde(rename = "topEvents")]
    pub top_events: Vec<TopEvent>,
    /// The last `ledger verify` run; null when none was recorded.
    #[serde(rename = "lastLedgerVerify")]
    pub last_ledger_verify: Option<LedgerVerifyRun>,
}

/// A game's dashboard figures.
#[utoipa::path(get, path = "/console/api/games/{clientID}/stats", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), StatsParams),
    responses((status = 200, description = "The figures", body = StatsResponse),
              (status = 400, description = "days not 1-90", body = ErrorBody),
              (status = 404, description = "Unknown game", body = ErrorBody)))]
pub async fn get_game_stats(
    State(state): State<AppState>,
    console: Console,
    PathParams(client_id): PathParams<String>,
    Query(params): Query<StatsParams>,
) -> ApiResult<axum::Json<StatsResponse>> {
    console.game(&state, &client_id).await?;
    let days = match params.days.as_deref() {
        None => 30,
        Some(text)
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.len() <= 3 =>
        {
            text.parse().unwrap_or(0)
        }
        Some(_) => 0,
    };
    let figures = stats::game_stats(&state.db, &client_id, days).await?;
    let now = crate::domain::time::now();
    Ok(axum::Json(StatsResponse {
        days: figures
            .days
            .into_iter()
            .map(|d| StatsDay {
                date: crate::domain::time::from_nanos(d.day * stats::DAY_NANOS)
                    .format("%Y-%m-%d")
                    .to_string(),
                claims: d.claims,
                kcash_rewarded: d.kcash_rewarded,
                kcash_bonus: d.kcash_bonus,
                kcash_adjusted: d.kcash_adjusted,
                kcash_withdrawn: d.kcash_withdrawn,
                new_gamers: d.new_gamers,
                active_gamers: d.active_gamers,
            })
            .collect(),
        outstanding: figures.outstanding,
        pending_withdrawals: figures.pending_withdrawals,
        oldest_pending_seconds: figures
            .oldest_pending_at
            .map(|at| (now - at).max(0) / 1_000_000_000),
        top_events: figures
            .top_events
            .into_iter()
            .map(|e| TopEvent {
                event_id: e.event_id,
                event_name: e.event_name,
                claims: e.claims,
                kcash: e.kcash,
            })
            .collect(),
        last_ledger_verify: figures.last_verification.map(|v| LedgerVerifyRun {
            at: rfc3339(v.at),
            ok: v.ok,
            summary: v.summary,
        }),
    }))
}

/// One UTC day of an event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventStatsDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// REWARDED claims.
    pub claims: i64,
    /// KCash they paid.
    pub kcash: i64,
}

/// An event's claims per day and budget used (an addition to the contract).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventStatsResponse {
    /// Event id.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// KCash paid out against `totalBudget`; null without a budget.
    #[serde(rename = "paidOut")]
    pub paid_out: Option<i64>,
    /// The event's budget, or null.
    #[serde(rename = "totalBudget")]
    pub total_budget: Option<i64>,
    /// Exactly N days, oldest first, ending today.
    pub days: Vec<EventStatsDay>,
}

/// An event's claims per day (`days` 1-90, default 30) and budget used.
#[utoipa::path(get, path = "/console/api/games/{clientID}/events/{eventID}/stats", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), ("eventID" = String, Path, description = "Event"), StatsParams),
    responses((status = 200, description = "The figures", body = EventStatsResponse),
              (status = 400, description = "days not 1-90", body = ErrorBody),
              (status = 404, description = "Unknown game or event", body = ErrorBody)))]
pub async fn get_event_stats(
    State(state): State<AppState>,
    console: Console,
    PathParams((client_id, event_id)): PathParams<(String, String)>,
    Query(params): Query<StatsParams>,
) -> ApiResult<axum::Json<EventStatsResponse>> {
    console.game(&state, &client_id).await?;
    let event = crate::domain::events::get_event(&state.db, &client_id, &event_id).await?;
    let days = parse_days(params.days.as_deref());
    let series = stats::event_stats(&state.db, &client_id, &event_id, days).await?;
    Ok(axum::Json(EventStatsResponse {
        event_id: event.id,
        paid_out: event.total_budget.map(|_| event.paid_out),
        total_budget: event.total_budget,
        days: series
            .into_iter()
            .map(|(day, claims, kcash)| EventStatsDay {
                date: day_date(day),
                claims,
                kcash,
            })
            .collect(),
    }))
}

/// `days` as given (default 30); anything that is not 1-3 digits reads as 0 (400).
fn parse_days(text: Option<&str>) -> i64 {
    match text {
        None => 30,
        Some(text)
            if !text.is_empty() && text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse().unwrap_or(0)
        }
        Some(_) => 0,
    }
}

/// The `YYYY-MM-DD` of a UTC day number.
fn day_date(day: i64) -> String {
    crate::domain::time::from_nanos(day * stats::DAY_NANOS)
        .format("%Y-%m-%d")
        .to_string()
}

/// Query of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// One game (default: every entry the operator may see).
    #[serde(rename = "clientID")]
    pub client_id: Option<String>,
    /// Page size (default 50, above 500 reads as 500).
    #[param(value_type = Option<String>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// One audit entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// When (RFC 3339).
    pub at: String,
    /// Operator email, or `cli`.
    pub operator: String,
    /// e.g. `login`, `login.failed`, `event.upsert`, `adjustment`.
    pub action: String,
    /// The game, or null (logins, operator management).
    #[serde(rename = "clientID")]
    pub client_id: Option<String>,
    /// What it was done to.
    pub target: String,
    /// Details (an object).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A page of the audit log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditResponse {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Cursor of the next page; "" at the end.
    pub cursor: String,
}

/// The audit log (read-only).
#[utoipa::path(get, path = "/console/api/audit", tag = "console",
    security(("console_session" = [])), params(AuditParams),
    responses((status = 200, description = "A page of entries", body = AuditResponse),
              (status = 400, description = "Bad limit or cursor", body = ErrorBody),
              (status = 404, description = "Unknown game", body = ErrorBody)))]
pub async fn list_audit_entries(
    State(state): State<AppState>,
    console: Console,
    Query(params): Query<AuditParams>,
) -> ApiResult<axum::Json<AuditResponse>> {
    let filter = params.client_id.as_deref().filter(|c| !c.is_empty());
    if let Some(client_id) = filter {
        console.game(&state, client_id).await?;
    }
    let scope = match filter {
        Some(client_id) => AuditScope::Client(client_id),
        None if console.0.is_platform_admin() => AuditScope::All,
        None => AuditScope::Clients(&console.0.clients),
    };
    let limit = parse_limit(params.limit.as_deref())?;
    let (rows, cursor) = audit::list(
        &state.db,
        &state.keys.cursors,
        scope,
        limit,
        params.cursor.as_deref(),
    )
    .await
    .map_err(|e| match e {
        Error::BadRequest(m) => ApiError::BadRequest(m),
        other => other.into(),
    })?;
    let entries = rows
        .into_iter()
        .map(|row| AuditEntry {
            at: rfc3339(row.at),
            operator: row.operator,
            action: row.action,
            client_id: row.client_id,
            target: row.target,
            detail: serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(axum::Json(AuditResponse { entries, cursor }))
}

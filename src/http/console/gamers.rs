//! A game's gamers in the console: search, a gamer's page, its full ledger
//! history (addresses unmasked), adjustments and "revoke all sessions".

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Console, PathParams, RawBody};
use crate::domain::address::checksum_address;
use crate::domain::console::adjustments::{self, AdjustmentRequest};
use crate::domain::console::audit;
use crate::domain::console::gamers as domain;
use crate::domain::console::gamers::GamerQuery;
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::time::rfc3339;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{parse_json, parse_limit, Query};
use crate::http::wallet::{BalanceResponse, TransactionResponse};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_gamers))
        .routes(routes!(get_gamer))
        .routes(routes!(list_gamer_transactions))
        .routes(routes!(post_adjustment))
        .routes(routes!(revoke_gamer_sessions))
}

/// Query of the gamer search.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchGamersParams {
    /// User id prefix (case-sensitive), wallet address or KGeN id; absent lists all.
    pub q: Option<String>,
    /// Page size (default 50, above 500 reads as 500).
    #[param(value_type = Option<String>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// A gamer in a search result.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GamerListItem {
    /// The game's user id.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Custodial wallet address.
    #[serde(rename = "walletAddress")]
    pub wallet_address: String,
    /// Creation (RFC 3339).
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// earned + bonus + bought.
    #[serde(rename = "lazyBalance")]
    pub lazy_balance: i64,
}

/// A page of gamers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GamerListResponse {
    /// Newest first.
    pub gamers: Vec<GamerListItem>,
    /// Cursor of the next page; "" at the end.
    pub cursor: String,
}

/// The wallet address `text` names, in checksum case, if it is one.
fn as_wallet_address(text: &str) -> Option<String> {
    let hex_part = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    let bytes = hex::decode(hex_part).ok().filter(|b| b.len() == 20)?;
    Some(checksum_address(&bytes))
}

/// Search a game's gamers.
#[utoipa::path(get, path = "/console/api/games/{clientID}/gamers", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), SearchGamersParams),
    responses((status = 200, description = "A page of gamers", body = GamerListResponse),
              (status = 400, description = "Bad limit or cursor", body = ErrorBody),
              (status = 404, description = "Unknown game", body = ErrorBody)))]
pub async fn search_gamers(
    State(state): State<AppState>,
    console: Console,
    PathParams(client_id): PathParams<String>,
    Query(params): Query<SearchGamersParams>,
) -> ApiResult<axum::Json<GamerListResponse>> {
    console.game(&state, &client_id).await?;
    let limit = parse_limit(params.limit.as_deref())?;
    let q = params.q.unwrap_or_default();
    let wallet = as_wallet_address(q.trim());
    let query = if q.is_empty() {
        GamerQuery::All
    } else if wallet.is_some() || uuid::Uuid::parse_str(&q).is_ok() {
        GamerQuery::Exact {
            wallet_address: wallet.as_deref(),
            kgen_id: &q,
        }
    } else {
        GamerQuery::UserIdPrefix(&q)
    };
    let (rows, cursor) = domain::search(
        &state.db,
        &state.keys.cursors,
        &client_id,
        query,
        &q,
        limit,
        params.cursor.as_deref(),
    )
    .await?;
    let gamers = rows
        .into_iter()
        .map(|row| GamerListItem {
            user_id: row.user_id,
            wallet_address: row.wallet_address.unwrap_or_default(),
            created_at: rfc3339(row.created_at),
            lazy_balance: row.lazy_balance,
        })
        .collect();
    Ok(axum::Json(GamerListResponse { gamers, cursor }))
}

/// Live sessions of a gamer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GamerSessions {
    /// Sessions with an unexpired, unused refresh token, not revoked.
    pub active: i64,
}

/// A gamer's page.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GamerResponse {
    /// The game's user id.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// The profile fields of the session call (null when never sent).
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
    /// Custodial wallet address.
    #[serde(rename = "walletAddress")]
    pub wallet_address: String,
    /// The `/fe/wallet/balance` object.
    pub balance: BalanceResponse,
    /// `+`, country code, one `*` per hidden digit, last 4 digits; "" when not linked.
    #[serde(rename = "linkedPhone")]
    pub linked_phone: String,
    /// The linked KGeN account id, or null.
    #[serde(rename = "kgenID")]
    pub kgen_id: Option<String>,
    /// Creation (RFC 3339).
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// Sessions.
    pub sessions: GamerSessions,
}

/// A gamer's page: profile, balances, masked phone, sessions.
#[utoipa::path(get, path = "/console/api/games/{clientID}/gamers/{userID}", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), ("userID" = String, Path, description = "User id")),
    responses((status = 200, description = "The gamer", body = GamerResponse),
              (status = 404, description = "Unknown game or gamer", body = ErrorBody)))]
pub async fn get_gamer(
    State(state): State<AppState>,
    console: Console,
    PathParams((client_id, user_id)): PathParams<(String, String)>,
) -> ApiResult<axum::Json<GamerResponse>> {
    let client = console.game(&state, &client_id).await?;
    let page = domain::gamer_page(&state.db, &client_id, &user_id).await?;
    let wallet_address = page.gamer.wallet_address.clone().unwrap_or_default();
    let balance = page.balance;
    Ok(axum::Json(GamerResponse {
        user_id: page.gamer.user_id,
        profile: serde_json::to_value(&page.profile).unwrap_or_default(),
        wallet_address: wallet_address.clone(),
        balance: BalanceResponse::new(wallet_address, &balance, client.min_withdraw),
        linked_phone: page
            .gamer
            .kgen_phone
            .as_deref()
            .map(domain::mask_phone)
            .unwrap_or_default(),
        kgen_id: page.gamer.kgen_id,
        created_at: rfc3339(page.created_at),
        sessions: GamerSessions {
            active: page.active_sessions,
        },
    }))
}

/// Query of a gamer's history.
#[derive(Debug, Deserialize, IntoParams)]
pub struct GamerTransactionsParams {
    /// Page size (default 50, above 500 reads as 500).
    #[param(value_type = Option<String>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// A page of a gamer's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GamerTransactionsResponse {
    /// The `/fe/wallet/transactions` objects, newest first, addresses unmasked.
    pub transactions: Vec<TransactionResponse>,
    /// Cursor of the next page; "" at the end.
    pub cursor: String,
}

/// A gamer's full ledger history, addresses unmasked.
#[utoipa::path(get, path = "/console/api/games/{clientID}/gamers/{userID}/transactions", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), ("userID" = String, Path, description = "User id"), GamerTransactionsParams),
    responses((status = 200, description = "A page of transactions", body = GamerTransactionsResponse),
              (status = 400, description = "Bad limit or cursor", body = ErrorBody),
              (status = 404, description = "Unknown game or gamer", body = ErrorBody)))]
pub async fn list_gamer_transactions(
    State(state): State<AppState>,
    console: Console,
    PathParams((client_id, user_id)): PathParams<(String, String)>,
    Query(params): Query<GamerTransactionsParams>,
) -> ApiResult<axum::Json<GamerTransactionsResponse>> {
    console.game(&state, &client_id).await?;
    let limit = parse_limit(params.limit.as_deref())?;
    let (rows, cursor) = domain::transactions(
        &state.db,
        &state.keys.cursors,
        &client_id,
        &user_id,
        limit,
        params.cursor.as_deref(),
    )
    .await?;
    let transactions = rows
        .into_iter()
        .map(|row| {
            let (from, to) = (row.from_address.clone(), row.to_address.clone());
            let mut transaction = TransactionResponse::from(row);
            transaction.from_wallet = from;
            transaction.to_wallet = to;
            transaction
        })
        .collect();
    Ok(axum::Json(GamerTransactionsResponse {
        transactions,
        cursor,
    }))
}

/// Body of an adjustment.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AdjustmentBody {
    /// Non-zero whole number within ±1 000 000 000: positive credits BONUS,
    /// negative debits BONUS first, then EARNED.
    pub amount: i64,
    /// Why (1-500 characters); the history line's description.
    pub reason: String,
}

/// A posted adjustment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdjustmentResponse {
    /// Adjustment id (the history line's uid).
    #[serde(rename = "adjustmentID")]
    pub adjustment_id: String,
    /// The gamer.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Signed amount.
    pub amount: i64,
    /// Why.
    pub reason: String,
    /// Who posted it.
    pub operator: String,
    /// When (RFC 3339).
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// Credit or debit a gamer's wallet (admins); `Idempotency-Key` required.
#[utoipa::path(post, path = "/console/api/games/{clientID}/gamers/{userID}/adjustments", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), ("userID" = String, Path, description = "User id"),
           ("Idempotency-Key" = String, Header, description = "Required; scoped to the game for 24 h")),
    request_body = AdjustmentBody,
    responses((status = 201, description = "Posted (or the first answer replayed)", body = AdjustmentResponse),
              (status = 400, description = "Bad body or no Idempotency-Key", body = ErrorBody),
              (status = 403, description = "Viewer, or no CSRF token", body = ErrorBody),
              (status = 404, description = "Unknown game or gamer", body = ErrorBody),
              (status = 409, description = "Debit above bonus + earned", body = ErrorBody),
              (status = 422, description = "Key used for another adjustment", body = ErrorBody)))]
pub async fn post_adjustment(
    State(state): State<AppState>,
    console: Console,
    PathParams((client_id, user_id)): PathParams<(String, String)>,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, axum::Json<AdjustmentResponse>)> {
    console.game(&state, &client_id).await?;
    console.require_admin()?;
    let body: AdjustmentBody = parse_json(&body)?;
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| ApiError::BadRequest("the Idempotency-Key header is required".to_owned()))?
        .to_str()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".to_owned()))?;
    let key = IdempotencyKey::parse(key)?;
    let request = AdjustmentRequest {
        client_id,
        user_id: user_id.clone(),
        amount: body.amount,
        reason: body.reason,
        key: key.as_str().to_owned(),
    };
    let row = adjustments::post_adjustment(&state.db, &console.0.actor(), &request).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AdjustmentResponse {
            adjustment_id: row.id,
            user_id,
            amount: row.amount,
            reason: row.reason,
            operator: row.operator,
            created_at: rfc3339(row.created_at),
        }),
    ))
}

/// End every session of a gamer (admins): its access and refresh tokens stop working.
#[utoipa::path(post, path = "/console/api/games/{clientID}/gamers/{userID}/sessions/revoke", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game"), ("userID" = String, Path, description = "User id")),
    responses((status = 204, description = "Revoked"),
              (status = 403, description = "Viewer, or no CSRF token", body = ErrorBody),
              (status = 404, description = "Unknown game or gamer", body = ErrorBody)))]
pub async fn revoke_gamer_sessions(
    State(state): State<AppState>,
    console: Console,
    PathParams((client_id, user_id)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    console.game(&state, &client_id).await?;
    console.require_admin()?;
    let revoked = domain::revoke_sessions(&state.db, &state.sessions, &client_id, &user_id).await?;
    let detail = serde_json::json!({"sessions": revoked});
    audit::record(
        &state.db,
        &console.0.actor(),
        "sessions.revoke",
        Some(&client_id),
        &user_id,
        detail,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

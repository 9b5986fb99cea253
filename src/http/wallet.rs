//! `/fe/wallet/*`: balance, transaction history and withdrawal (CONTRACT section 4).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::GamerAuth;
use super::error::{ApiResult, ErrorBody};
use super::extract::{parse_limit, IdempotencyHeader, IdempotencyParams, Query};
use crate::domain::address::mask;
use crate::domain::cursor::Cursors;
use crate::domain::ledger::{Direction, WalletTransaction};
use crate::domain::time::rfc3339;
use crate::domain::{wallet, withdrawals};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_balance))
        .routes(routes!(list_transactions))
        .routes(routes!(withdraw))
}

/// Balances of the gamer's custodial wallet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceResponse {
    /// Custodial wallet address.
    pub wallet_address: String,
    /// Rewards of category EARNED.
    pub earned_balance: i64,
    /// Purchases.
    pub bought_balance: i64,
    /// Welcome bonus and rewards of category BONUS.
    pub bonus_balance: i64,
    /// earned + bought + bonus (the ledger balance).
    pub lazy_balance: i64,
    /// lazy_balance - lazy_balance_delta (what is settled).
    pub on_chain_balance: i64,
    /// Whether any transaction of this wallet FAILED.
    pub wallet_transaction_error: bool,
    /// Signed sum of PENDING transactions.
    pub lazy_balance_delta: i64,
    /// lazy_balance_delta == 0.
    pub is_lazy_balance_updated: bool,
    /// Wallet creation (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub modified_at: String,
    /// The game's withdrawal threshold.
    #[serde(rename = "minWalletBalToWithdraw")]
    pub min_wallet_bal_to_withdraw: i64,
}

/// Read the gamer's wallet balances.
#[utoipa::path(
    get,
    path = "/fe/wallet/balance",
    tag = "wallet",
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Balances", body = BalanceResponse),
        (status = 401, description = "Bad access token", body = ErrorBody),
    )
)]
pub async fn get_balance(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
) -> ApiResult<axum::Json<BalanceResponse>> {
    let balance = wallet::balance(&state.db, &state.wallets, &gamer).await?;
    Ok(axum::Json(BalanceResponse::new(
        gamer.wallet_address,
        &balance,
        gamer.min_withdraw,
    )))
}

impl BalanceResponse {
    /// The wire form of a wallet's balance (also shown on the console's gamer page).
    pub fn new(wallet_address: String, balance: &wallet::Balance, min_withdraw: i64) -> Self {
        BalanceResponse {
            wallet_address,
            earned_balance: balance.earned,
            bought_balance: balance.bought,
            bonus_balance: balance.bonus,
            lazy_balance: balance.lazy,
            on_chain_balance: balance.on_chain,
            wallet_transaction_error: balance.has_failed_transaction,
            lazy_balance_delta: balance.lazy_delta,
            is_lazy_balance_updated: balance.lazy_delta == 0,
            created_at: rfc3339(balance.created_at),
            modified_at: rfc3339(balance.modified_at),
            min_wallet_bal_to_withdraw: min_withdraw,
        }
    }
}

/// What a wallet transaction was, from this wallet's side.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionDescription {
    /// Amount.
    #[serde(rename = "platformProtocolsTxnAmount")]
    pub amount: i64,
    /// e.g. "Reward for DailyBonus".
    #[serde(rename = "platformProtocolsTxnDescription")]
    pub description: String,
    /// e.g. the event's name.
    #[serde(rename = "platformProtocolsTxnName")]
    pub name: String,
    /// WELCOME_BONUS, EVENT_REWARD or WITHDRAW.
    #[serde(rename = "type")]
    pub kind: String,
    /// CREDIT or DEBIT.
    #[serde(rename = "platformProtocolsTxnType")]
    pub direction: String,
}

/// One wallet transaction.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionResponse {
    /// Transaction uid.
    pub uid: String,
    /// Sender address, masked (`0x7d*****f0a2`).
    pub from_wallet: String,
    /// Receiver address, masked.
    pub to_wallet: String,
    /// Amount.
    pub amount: i64,
    /// PENDING, COMPLETED or FAILED.
    pub sync_status: String,
    /// What it was.
    pub description: TransactionDescription,
    /// RFC 3339.
    pub created_at: String,
}

impl From<WalletTransaction> for TransactionResponse {
    fn from(entry: WalletTransaction) -> TransactionResponse {
        TransactionResponse {
            uid: entry.uid,
            from_wallet: mask(&entry.from_address),
            to_wallet: mask(&entry.to_address),
            amount: entry.amount,
            sync_status: entry.sync_status.to_string(),
            description: TransactionDescription {
                amount: entry.amount,
                description: entry.description,
                name: entry.name,
                kind: entry.kind.to_string(),
                direction: entry.direction.to_string(),
            },
            created_at: rfc3339(entry.created_at),
        }
    }
}

/// Query of the transaction list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListTransactionsParams {
    /// Page size: a whole number from 1 (default 50; above 500 reads as 500).
    #[param(value_type = Option<String>, pattern = "^0*[1-9][0-9]*$")]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub last_evaluated_key: Option<String>,
}

/// A page of the wallet history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionListResponse {
    /// The debits of this page.
    #[serde(rename = "fromTransactions")]
    pub from_transactions: Vec<TransactionResponse>,
    /// The credits of this page.
    #[serde(rename = "toTransactions")]
    pub to_transactions: Vec<TransactionResponse>,
    /// The page, newest first.
    pub transactions: Vec<TransactionResponse>,
    /// Cursor of the next page; "" at the end.
    pub last_evaluated_key: String,
}

/// List the wallet's transactions, newest first.
#[utoipa::path(
    get,
    path = "/fe/wallet/transactions",
    tag = "wallet",
    params(ListTransactionsParams),
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of transactions", body = TransactionListResponse),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, description = "Bad access token", body = ErrorBody),
    )
)]
pub async fn list_transactions(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
    Query(params): Query<ListTransactionsParams>,
) -> ApiResult<Response> {
    let limit = parse_limit(params.limit.as_deref())?;
    let body = match Cursors::given(params.last_evaluated_key.as_deref()) {
        None => {
            wallet::first_page(
                &state.db,
                &state.keys.cursors,
                &state.wallets,
                &gamer,
                limit,
                render_page,
            )
            .await?
        }
        cursor => {
            let (rows, next) =
                wallet::transactions(&state.db, &state.keys.cursors, &gamer, limit, cursor).await?;
            render_page(rows, next)?
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The JSON of a history page.
fn render_page(rows: Vec<WalletTransaction>, next: String) -> crate::domain::Result<Bytes> {
    let page: Vec<TransactionResponse> = rows.into_iter().map(Into::into).collect();
    let pick = |direction: Direction| -> Vec<&TransactionResponse> {
        page.iter()
            .filter(|t| t.description.direction == direction.as_str())
            .collect()
    };
    // Serialized from borrows: each transaction is written twice (in
    // `transactions` and in one of the split lists) without being copied.
    let view = TransactionListView {
        from_transactions: pick(Direction::Debit),
        to_transactions: pick(Direction::Credit),
        transactions: &page,
        last_evaluated_key: &next,
    };
    let json = serde_json::to_vec(&view).map_err(anyhow::Error::from)?;
    Ok(Bytes::from(json))
}

/// [`TransactionListResponse`] as it is written: the same JSON, from borrows.
#[derive(Serialize)]
struct TransactionListView<'a> {
    #[serde(rename = "fromTransactions")]
    from_transactions: Vec<&'a TransactionResponse>,
    #[serde(rename = "toTransactions")]
    to_transactions: Vec<&'a TransactionResponse>,
    transactions: &'a [TransactionResponse],
    last_evaluated_key: &'a str,
}

/// Answer of a withdrawal.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WithdrawResponse {
    /// "wallet withdrawal successful".
    pub msg: String,
    /// KCash moved (earned + bonus).
    pub amount: i64,
    /// Transaction uid.
    pub uid: String,
    /// PENDING until settled.
    pub sync_status: String,
}

/// Withdraw the whole withdrawable balance to the linked KGeN wallet.
#[utoipa::path(
    post,
    path = "/fe/wallet/withdraw",
    tag = "wallet",
    params(IdempotencyParams),
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Withdrawal written, PENDING", body = WithdrawResponse),
        (status = 400, description = "Bad Idempotency-Key", body = ErrorBody),
        (status = 401, description = "Bad access token", body = ErrorBody),
        (status = 403, description = "PHONE_NOT_LINKED", body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_BALANCE", body = ErrorBody),
        (status = 422, description = "Idempotency-Key used for another request", body = ErrorBody),
    )
)]
pub async fn withdraw(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
    IdempotencyHeader(key): IdempotencyHeader,
) -> ApiResult<axum::Json<WithdrawResponse>> {
    let withdrawal = withdrawals::withdraw(&state.db, &gamer, key.as_ref()).await?;
    if !withdrawal.replayed {
        state
            .metrics
            .kcash_withdrawn
            .inc_by(u64::try_from(withdrawal.amount).unwrap_or(0));
    }
    Ok(axum::Json(WithdrawResponse {
        msg: "wallet withdrawal successful".to_owned(),
        amount: withdrawal.amount,
        uid: withdrawal.uid,
        sync_status: withdrawal.sync_status.to_string(),
    }))
}

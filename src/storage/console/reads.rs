//! The console's reads of games, gamers and withdrawals. Each is a bounded index
//! read: one client's gamers by id, a wallet address or KGeN id by its unique key,
//! withdrawals by (client, status, time).

use sqlx::AnyPool;

use crate::storage::clients::ClientRow;
use crate::storage::Backend;

/// Every client, oldest first.
pub async fn all_clients(pool: &AnyPool) -> Result<Vec<ClientRow>, sqlx::Error> {
    crate::storage::clients::list_clients(pool).await
}

/// A gamer as the console lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GamerListRow {
    /// Internal id (the list position).
    pub id: i64,
    /// The game's user id.
    pub user_id: String,
    /// Custodial wallet address.
    pub wallet_address: Option<String>,
    /// Creation, nanoseconds.
    pub created_at: i64,
    /// earned + bonus + bought.
    pub lazy_balance: i64,
}

const GAMER_LIST_SELECT: &str = "select g.id, g.user_id, g.wallet_address, g.created_at,
        (select cast(coalesce(sum(a.balance), 0) as bigint)
         from accounts a
         where a.kind in ('EARNED', 'BONUS', 'BOUGHT')
           and a.client_id = g.client_id
           and a.owner_id = g.id) as lazy_balance
    from gamers g";

/// What a gamer search looks for.
#[derive(Clone, Copy, Debug)]
pub enum GamerQuery<'a> {
    /// Every gamer.
    All,
    /// User ids starting with this text (case-sensitive).
    UserIdPrefix(&'a str),
    /// This wallet address (checksum case) or this KGeN id.
    Exact {
        /// Checksum-case wallet address, when the text is one.
        wallet_address: Option<&'a str>,
        /// The text as a KGeN id.
        kgen_id: &'a str,
    },
}

/// One page of a game's gamers matching `query`, newest first, `id` below `before`.
pub async fn search_gamers(
    pool: &AnyPool,
    backend: Backend,
    client_id: &str,
    query: GamerQuery<'_>,
    before: i64,
    limit: u32,
) -> Result<Vec<GamerListRow>, sqlx::Error> {
    let limit = i64::from(limit);
    match query {
        GamerQuery::All => {
            sqlx::query_as(&format!(
                "{GAMER_LIST_SELECT} where g.client_id = $1 and g.id < $2
                 order by g.id desc limit $3"
            ))
            .bind(client_id)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        GamerQuery::UserIdPrefix(prefix) => {
            // A range on the (client_id, user_id) key, then sorted: `+g.id` keeps
            // SQLite from walking all of the game's gamers in id order instead.
            // PostgreSQL compares bytes ("C") so that the range is exactly the
            // prefix whatever the collation.
            let collate = match backend {
                Backend::Sqlite => "",
                Backend::Postgres => " collate \"C\"",
            };
            let upper = format!("{prefix}\u{10FFFF}");
            sqlx::query_as(&format!(
                "{GAMER_LIST_SELECT} where g.client_id = $1
                   and g.user_id{collate} >= $2 and g.user_id{collate} < $3
                   and substr(g.user_id, 1, cast($4 as integer)) = $2
                   and +g.id < $5
                 order by +g.id desc limit $6"
            ))
            .bind(client_id)
            .bind(prefix)
            .bind(upper)
            .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        GamerQuery::Exact {
            wallet_address,
            kgen_id,
        } => {
            // Two unique-key lookups: an `or` of both would walk the game's gamers.
            let mut rows: Vec<GamerListRow> = sqlx::query_as(&format!(
                "{GAMER_LIST_SELECT} where g.client_id = $1 and g.wallet_address = $2"
            ))
            .bind(client_id)
            .bind(wallet_address.unwrap_or(""))
            .fetch_all(pool)
            .await?;
            let linked: Vec<GamerListRow> = sqlx::query_as(&format!(
                "{GAMER_LIST_SELECT} where g.client_id = $1
                   and g.kgen_account_id = (select k.id from kgen_accounts k where k.kgen_id = $2)"
            ))
            .bind(client_id)
            .bind(kgen_id)
            .fetch_all(pool)
            .await?;
            rows.extend(linked);
            rows.retain(|row| row.id < before);
            rows.sort_by_key(|row| std::cmp::Reverse(row.id));
            rows.dedup_by_key(|row| row.id);
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            Ok(rows)
        }
    }
}

/// The internal id of a game's gamer.
pub async fn gamer_id(
    pool: &AnyPool,
    client_id: &str,
    user_id: &str,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    sqlx::query_as("select id, created_at from gamers where client_id = $1 and user_id = $2")
        .bind(client_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// Sessions of a gamer with an unexpired, unused refresh token, not revoked.
pub async fn active_session_count(
    pool: &AnyPool,
    gamer_id: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*)
         from sessions s
         where s.gamer_id = $1
           and s.revoked_at is null
           and exists (select 1 from refresh_tokens r
                       where r.session_id = s.id and r.used_at is null and r.expires_at > $2)",
    )
    .bind(gamer_id)
    .bind(now)
    .fetch_one(pool)
    .await
}

/// The ids of a gamer's live (not revoked) sessions.
pub async fn live_session_ids(pool: &AnyPool, gamer_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select id from sessions where gamer_id = $1 and revoked_at is null")
        .bind(gamer_id)
        .fetch_all(pool)
        .await
}

/// A withdrawal as the console lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WithdrawalListRow {
    /// The game.
    pub client_id: String,
    /// The gamer's user id.
    pub user_id: String,
    /// Transaction uid.
    pub id: String,
    /// Amount.
    pub amount: i64,
    /// PENDING, COMPLETED or FAILED.
    pub status: String,
    /// Request time, nanoseconds (the list position).
    pub created_at: i64,
}

/// One page of a game's withdrawals (of one status, if given), newest first,
/// requested before `before`.
pub async fn list_withdrawals(
    pool: &AnyPool,
    client_id: &str,
    status: Option<&str>,
    before: i64,
    limit: u32,
) -> Result<Vec<WithdrawalListRow>, sqlx::Error> {
    let status_filter = if status.is_some() {
        "and w.status = $4"
    } else {
        "and $4 = ''"
    };
    sqlx::query_as(&format!(
        "select w.client_id, g.user_id, w.id, w.amount, w.status, w.created_at
         from withdrawals w
         join gamers g on g.id = w.gamer_id
         where w.client_id = $1
           and w.created_at < $2
           {status_filter}
         order by w.created_at desc
         limit $3"
    ))
    .bind(client_id)
    .bind(before)
    .bind(i64::from(limit))
    .bind(status.unwrap_or(""))
    .fetch_all(pool)
    .await
}

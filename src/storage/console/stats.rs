//! The dashboard's live figures for one game: the rows newer than the rollups'
//! watermark (an index range read on each table's time index, a few minutes of
//! rows once the rollups are caught up), and what is read whole every time:
//! `outstanding` (derived from the game's 16 issuing shards and its withdrawals
//! instead of summing every wallet) and the settlement queue.

use crate::storage::Tx;

/// Nanoseconds in a day: `created_at / DAY_NANOS` is the UTC day number.
pub const DAY_NANOS: i64 = 86_400_000_000_000;

/// A figure per day number.
pub type DayFigures = Vec<(i64, i64)>;

/// REWARDED claims per day: (day, claims, kcash).
pub async fn claims_per_day(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select cast(created_at / 86400000000000 as bigint) as day, count(*),
                cast(coalesce(sum(amount), 0) as bigint)
         from claims
         where client_id = $1
           and created_at >= $2
           and status = 'REWARDED'
         group by cast(created_at / 86400000000000 as bigint)",
    )
    .bind(client_id)
    .bind(since)
    .fetch_all(&mut **tx)
    .await
}

/// One event's REWARDED claims per day since `since`: (day, claims, kcash).
pub async fn event_claims_per_day(
    tx: &mut Tx,
    client_id: &str,
    event_id: &str,
    since: i64,
) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select cast(created_at / 86400000000000 as bigint) as day, count(*),
                cast(coalesce(sum(amount), 0) as bigint)
         from claims
         where created_at >= $2
           and client_id = $1
           and event_id = $3
           and status = 'REWARDED'
         group by cast(created_at / 86400000000000 as bigint)",
    )
    .bind(client_id)
    .bind(since)
    .bind(event_id)
    .fetch_all(&mut **tx)
    .await
}

/// New gamers per day.
pub async fn new_gamers_per_day(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
) -> Result<DayFigures, sqlx::Error> {
    sqlx::query_as(
        "select cast(created_at / 86400000000000 as bigint) as day, count(*)
         from gamers
         where client_id = $1
           and created_at >= $2
         group by cast(created_at / 86400000000000 as bigint)",
    )
    .bind(client_id)
    .bind(since)
    .fetch_all(&mut **tx)
    .await
}

/// Welcome bonuses paid per day (they are written with the gamer).
pub async fn bonus_per_day(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
) -> Result<DayFigures, sqlx::Error> {
    sqlx::query_as(
        "select cast(w.created_at / 86400000000000 as bigint) as day,
                cast(coalesce(sum(w.amount), 0) as bigint)
         from gamers g
         join wallet_entries w on w.gamer_id = g.id
         where g.client_id = $1
           and g.created_at >= $2
           and w.kind = 'WELCOME_BONUS'
         group by cast(w.created_at / 86400000000000 as bigint)",
    )
    .bind(client_id)
    .bind(since)
    .fetch_all(&mut **tx)
    .await
}

/// Signed sum of adjustments per day.
pub async fn adjusted_per_day(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
) -> Result<DayFigures, sqlx::Error> {
    sqlx::query_as(
        "select cast(created_at / 86400000000000 as bigint) as day,
                cast(coalesce(sum(amount), 0) as bigint)
         from adjustments
         where client_id = $1
           and created_at >= $2
         group by cast(created_at / 86400000000000 as bigint)",
    )
    .bind(client_id)
    .bind(since)
    .fetch_all(&mut **tx)
    .await
}

/// Withdrawals requested per day and not FAILED.
pub async fn withdrawn_per_day(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
) -> Result<DayFigures, sqlx::Error> {
    sqlx::query_as(
        "select cast(created_at / 86400000000000 as bigint) as day,
                cast(coalesce(sum(amount), 0) as bigint)
         from withdrawals
         where client_id = $1
           and created_at >= $2
           and status <> 'FAILED'
         group by cast(created_at / 86400000000000 as bigint)",
    )
    .bind(client_id)
    .bind(since)
    .fetch_all(&mut **tx)
    .await
}

/// An event's claims in the window.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TopEventRow {
    /// Event id.
    pub event_id: String,
    /// Its name ("" if unknown).
    pub event_name: String,
    /// REWARDED claims.
    pub claims: i64,
    /// KCash they paid.
    pub kcash: i64,
}

/// Every event's REWARDED claims since `since`.
pub async fn events_since(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
) -> Result<Vec<TopEventRow>, sqlx::Error> {
    sqlx::query_as(
        "select t.event_id, coalesce(e.event_name, '') as event_name, t.claims, t.kcash
         from (select event_id, count(*) as claims,
                      cast(coalesce(sum(amount), 0) as bigint) as kcash
               from claims
               where client_id = $1
                 and created_at >= $2
                 and status = 'REWARDED'
               group by event_id) t
         left join events e on e.id = t.event_id",
    )
    .bind(client_id)
    .bind(since)
    .fetch_all(&mut **tx)
    .await
}

/// KCash in the game's gamer wallets now: what its issuing shards gave out,
/// less what left for KGeN wallets (withdrawals not FAILED; a FAILED one came back).
pub async fn outstanding(tx: &mut Tx, client_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select cast(
             (select coalesce(-sum(balance), 0) from accounts
              where kind = 'ISSUING' and client_id = $1)
           - (select coalesce(sum(amount), 0) from withdrawals
              where client_id = $1 and status in ('PENDING', 'COMPLETED'))
           as bigint)",
    )
    .bind(client_id)
    .fetch_one(&mut **tx)
    .await
}

/// PENDING withdrawals of the game: how many, and the oldest request time.
pub async fn pending_withdrawals(
    tx: &mut Tx,
    client_id: &str,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "select count(*), cast(min(created_at) as bigint)
         from withdrawals
         where client_id = $1
           and status = 'PENDING'",
    )
    .bind(client_id)
    .fetch_one(&mut **tx)
    .await
}

//! The dashboard's rollups: per (game, day) totals, per (game, day, event) claim
//! counts and the (game, day, gamer) set of active gamers, brought up to a
//! watermark (a time) by adding the rows of each new time range exactly once.
//! The range is only ever one whose transactions have all committed (the caller
//! keeps a lag behind the clock), so no row is missed or counted twice.

use std::collections::HashMap;

use crate::storage::Tx;

const WATERMARK: &str = "stats";

/// Locks the watermark row for this transaction and returns its position.
pub async fn lock_watermark(tx: &mut Tx) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "update stats_watermarks set position = position where name = $1 returning position",
    )
    .bind(WATERMARK)
    .fetch_optional(&mut **tx)
    .await
}

/// Creates the watermark at `position` unless another server just did.
pub async fn insert_watermark(tx: &mut Tx, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into stats_watermarks (name, position) values ($1, $2)
         on conflict (name) do nothing",
    )
    .bind(WATERMARK)
    .bind(position)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves the watermark.
pub async fn set_watermark(tx: &mut Tx, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update stats_watermarks set position = $2 where name = $1")
        .bind(WATERMARK)
        .bind(position)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A read-only transaction that sees one snapshot of the database (SQLite's WAL
/// read transactions do; PostgreSQL needs REPEATABLE READ), so that the
/// watermark and the rollups read in it agree with each other.
pub async fn begin_snapshot(db: &crate::storage::Db) -> Result<Tx, sqlx::Error> {
    let mut tx = db.reader().begin().await?;
    if db.backend() == crate::storage::Backend::Postgres {
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// The watermark, without locking it.
pub async fn watermark(tx: &mut Tx) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select position from stats_watermarks where name = $1")
        .bind(WATERMARK)
        .fetch_optional(&mut **tx)
        .await
}

/// The time of the oldest row any rollup counts (each a min over an index).
pub async fn oldest_activity(tx: &mut Tx) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select cast(min(m) as bigint) from (
             select min(created_at) as m from claims
             union all select min(created_at) from gamers
             union all select min(created_at) from wallet_entries
             union all select min(created_at) from adjustments
             union all select min(created_at) from withdrawals
             union all select min(created_at) from sessions
             union all select min(created_at) from tracker_drops) oldest",
    )
    .fetch_one(&mut **tx)
    .await
}

/// Per (game, day) totals: each statement adds one source's rows of the range.
const DAILY_UPSERTS: [&str; 5] = [
    "insert into stats_daily (client_id, day, claims, kcash_rewarded)
     select client_id, cast(created_at / 86400000000000 as bigint), count(*),
            cast(sum(amount) as bigint)
     from claims
     where created_at > $1 and created_at <= $2 and status = 'REWARDED'
     group by client_id, cast(created_at / 86400000000000 as bigint)
     on conflict (client_id, day) do update
     set claims = stats_daily.claims + excluded.claims,
         kcash_rewarded = stats_daily.kcash_rewarded + excluded.kcash_rewarded",
    "insert into stats_daily (client_id, day, kcash_bonus)
     select g.client_id, cast(w.created_at / 86400000000000 as bigint),
            cast(sum(w.amount) as bigint)
     from wallet_entries w
     join gamers g on g.id = w.gamer_id
     where w.created_at > $1 and w.created_at <= $2 and w.kind = 'WELCOME_BONUS'
     group by g.client_id, cast(w.created_at / 86400000000000 as bigint)
     on conflict (client_id, day) do update
     set kcash_bonus = stats_daily.kcash_bonus + excluded.kcash_bonus",
    "insert into stats_daily (client_id, day, kcash_adjusted)
     select client_id, cast(created_at / 86400000000000 as bigint), cast(sum(amount) as bigint)
     from adjustments
     where created_at > $1 and created_at <= $2
     group by client_id, cast(created_at / 86400000000000 as bigint)
     on conflict (client_id, day) do update
     set kcash_adjusted = stats_daily.kcash_adjusted + excluded.kcash_adjusted",
    "insert into stats_daily (client_id, day, kcash_requested)
     select client_id, cast(created_at / 86400000000000 as bigint), cast(sum(amount) as bigint)
     from withdrawals
     where created_at > $1 and created_at <= $2
     group by client_id, cast(created_at / 86400000000000 as bigint)
     on conflict (client_id, day) do update
     set kcash_requested = stats_daily.kcash_requested + excluded.kcash_requested",
    "insert into stats_daily (client_id, day, new_gamers)
     select client_id, cast(created_at / 86400000000000 as bigint), count(*)
     from gamers
     where created_at > $1 and created_at <= $2
     group by client_id, cast(created_at / 86400000000000 as bigint)
     on conflict (client_id, day) do update
     set new_gamers = stats_daily.new_gamers + excluded.new_gamers",
];

const EVENT_UPSERT: &str = "insert into stats_event_daily (client_id, day, event_id, claims, kcash)
     select client_id, cast(created_at / 86400000000000 as bigint), event_id, count(*),
            cast(sum(amount) as bigint)
     from claims
     where created_at > $1 and created_at <= $2 and status = 'REWARDED'
     group by client_id, cast(created_at / 86400000000000 as bigint), event_id
     on conflict (client_id, day, event_id) do update
     set claims = stats_event_daily.claims + excluded.claims,
         kcash = stats_event_daily.kcash + excluded.kcash";

/// The sources of activity; each insert returns the (game, day) of the gamers
/// it newly made active.
const ACTIVE_SOURCES: [&str; 4] = ["sessions", "claims", "tracker_drops", "withdrawals"];

/// Adds the rows created in (`from`, `to`] to every rollup.
pub async fn roll_range(tx: &mut Tx, from: i64, to: i64) -> Result<(), sqlx::Error> {
    for sql in DAILY_UPSERTS.iter().chain([&EVENT_UPSERT]) {
        sqlx::query(sql)
            .bind(from)
            .bind(to)
            .execute(&mut **tx)
            .await?;
    }
    let mut newly_active: HashMap<(String, i64), i64> = HashMap::new();
    for source in ACTIVE_SOURCES {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "insert into stats_active (client_id, day, gamer_id)
             select distinct client_id, cast(created_at / 86400000000000 as bigint), gamer_id
             from {source}
             where created_at > $1 and created_at <= $2
             on conflict (client_id, day, gamer_id) do nothing
             returning client_id, day"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&mut **tx)
        .await?;
        for key in rows {
            *newly_active.entry(key).or_default() += 1;
        }
    }
    for ((client_id, day), count) in newly_active {
        sqlx::query(
            "insert into stats_daily (client_id, day, active_gamers) values ($1, $2, $3)
             on conflict (client_id, day) do update
             set active_gamers = stats_daily.active_gamers + excluded.active_gamers",
        )
        .bind(client_id)
        .bind(day)
        .bind(count)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A game's rolled-up day.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RolledDay {
    /// Day number.
    pub day: i64,
    /// REWARDED claims.
    pub claims: i64,
    /// Their rewards.
    pub kcash_rewarded: i64,
    /// Welcome bonuses.
    pub kcash_bonus: i64,
    /// Signed adjustments.
    pub kcash_adjusted: i64,
    /// Withdrawals requested (any status).
    pub kcash_requested: i64,
    /// Gamers created.
    pub new_gamers: i64,
    /// Distinct active gamers.
    pub active_gamers: i64,
}

/// A game's rolled-up days from `first_day` on.
pub async fn rolled_days(
    tx: &mut Tx,
    client_id: &str,
    first_day: i64,
) -> Result<Vec<RolledDay>, sqlx::Error> {
    sqlx::query_as(
        "select day, claims, kcash_rewarded, kcash_bonus, kcash_adjusted, kcash_requested,
                new_gamers, active_gamers
         from stats_daily
         where client_id = $1 and day >= $2",
    )
    .bind(client_id)
    .bind(first_day)
    .fetch_all(&mut **tx)
    .await
}

/// A game's rolled-up claims per event from `first_day` on.
pub async fn rolled_events(
    tx: &mut Tx,
    client_id: &str,
    first_day: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select event_id, cast(sum(claims) as bigint), cast(sum(kcash) as bigint)
         from stats_event_daily
         where client_id = $1 and day >= $2
         group by event_id",
    )
    .bind(client_id)
    .bind(first_day)
    .fetch_all(&mut **tx)
    .await
}

/// One event's rolled-up (day, claims, kcash) from `first_day` on.
pub async fn rolled_event_days(
    tx: &mut Tx,
    client_id: &str,
    event_id: &str,
    first_day: i64,
) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select day, claims, kcash
         from stats_event_daily
         where client_id = $1 and day >= $2 and event_id = $3",
    )
    .bind(client_id)
    .bind(first_day)
    .bind(event_id)
    .fetch_all(&mut **tx)
    .await
}

/// FAILED withdrawals requested in [`since`, `until`], per day (rolled-up
/// requests count them; the dashboard takes them out again).
pub async fn failed_per_day(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
    until: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select cast(created_at / 86400000000000 as bigint), cast(sum(amount) as bigint)
         from withdrawals
         where client_id = $1 and status = 'FAILED' and created_at >= $2 and created_at <= $3
         group by cast(created_at / 86400000000000 as bigint)",
    )
    .bind(client_id)
    .bind(since)
    .bind(until)
    .fetch_all(&mut **tx)
    .await
}

/// Gamers active after the watermark (`since` on) who are not yet in the
/// rolled-up set of that day, per day.
pub async fn tail_active_per_day(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select day, count(*)
         from (select cast(created_at / 86400000000000 as bigint) as day, gamer_id
               from sessions where client_id = $1 and created_at >= $2
               union
               select cast(created_at / 86400000000000 as bigint), gamer_id
               from claims where client_id = $1 and created_at >= $2
               union
               select cast(created_at / 86400000000000 as bigint), gamer_id
               from tracker_drops where client_id = $1 and created_at >= $2
               union
               select cast(created_at / 86400000000000 as bigint), gamer_id
               from withdrawals where client_id = $1 and created_at >= $2) tail
         where not exists (select 1 from stats_active a
                           where a.client_id = $1 and a.day = tail.day
                             and a.gamer_id = tail.gamer_id)
         group by day",
    )
    .bind(client_id)
    .bind(since)
    .fetch_all(&mut **tx)
    .await
}

/// The name of an event ("" if unknown).
pub async fn event_name(tx: &mut Tx, event_id: &str) -> Result<String, sqlx::Error> {
    let name: Option<String> = sqlx::query_scalar("select event_name from events where id = $1")
        .bind(event_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(name.unwrap_or_default())
}

//! Tracker drops (`POST /fe/analytics/px-tracker/events/{eventID}/drop`): an
//! append-only log per gamer, which activity-traced claims also read; the per-day
//! counters of the drop quota; and the batched deletes of retention.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyExecutor};

use super::{Backend, Db, Tx};

/// A statement with its arguments, for the Any driver.
type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// A drop to append.
#[derive(Clone, Copy, Debug)]
pub struct NewDrop<'a> {
    /// Owning client.
    pub client_id: &'a str,
    /// The gamer that dropped it.
    pub gamer_id: i64,
    /// The tracker event id of the path.
    pub event_id: &'a str,
    /// The attributes, as a JSON object.
    pub attributes: &'a str,
    /// Time, nanoseconds.
    pub now: i64,
}

/// Appends `drop` and counts it on its gamer's UTC day `day`, if the gamer has
/// stored fewer than `drops_max` drops that day; `false` (nothing written) if it
/// has not. The counter row stays locked until the write commits, so a gamer's
/// concurrent drops are counted one at a time, on every server.
///
/// PostgreSQL does both in one statement (one round trip: a transaction of
/// separate statements cost two thirds of the drop throughput); SQLite, which
/// has no writing CTEs but no round trips either, in one transaction.
pub async fn insert_drop_within_quota(
    db: &Db,
    drop: NewDrop<'_>,
    day: i64,
    drops_max: i64,
) -> Result<bool, sqlx::Error> {
    if db.backend() == Backend::Postgres {
        let result = sqlx::query(
            "with counted as (
                 insert into tracker_drop_days (gamer_id, day, drops)
                 select $2, $6, 1
                 where $7 > 0
                 on conflict (gamer_id, day) do update
                 set drops = tracker_drop_days.drops + 1
                 where tracker_drop_days.drops < $7
                 returning drops
             )
             insert into tracker_drops (client_id, gamer_id, event_id, attributes, created_at)
             select $1, $2, $3, $4, $5
             from counted",
        );
        let result = bind_drop(result, drop)
            .bind(day)
            .bind(drops_max)
            .execute(db.writer())
            .await?;
        return Ok(result.rows_affected() == 1);
    }
    let mut tx = db.begin().await?;
    if !count_drop_of_day(&mut tx, drop.gamer_id, day, drops_max).await? {
        return Ok(false);
    }
    insert_drop(&mut *tx, drop).await?;
    tx.commit().await?;
    Ok(true)
}

/// Binds a drop's columns as `$1` to `$5`.
fn bind_drop<'q>(query: AnyQuery<'q>, drop: NewDrop<'q>) -> AnyQuery<'q> {
    query
        .bind(drop.client_id)
        .bind(drop.gamer_id)
        .bind(drop.event_id)
        .bind(drop.attributes)
        .bind(drop.now)
}

/// Counts one more drop of `gamer_id` on UTC day `day` if it has stored fewer
/// than `drops_max` that day; `false` (nothing written) if it has not.
async fn count_drop_of_day(
    tx: &mut Tx,
    gamer_id: i64,
    day: i64,
    drops_max: i64,
) -> Result<bool, sqlx::Error> {
    let counted: Option<i64> = sqlx::query_scalar(
        "insert into tracker_drop_days (gamer_id, day, drops)
         select $1, $2, 1
         where $3 > 0
         on conflict (gamer_id, day) do update
         set drops = tracker_drop_days.drops + 1
         where tracker_drop_days.drops < $3
         returning drops",
    )
    .bind(gamer_id)
    .bind(day)
    .bind(drops_max)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(counted.is_some())
}

/// Appends a drop without counting it against the quota.
pub async fn insert_drop<'e>(
    executor: impl AnyExecutor<'e>,
    drop: NewDrop<'_>,
) -> Result<(), sqlx::Error> {
    let query = sqlx::query(
        "insert into tracker_drops (client_id, gamer_id, event_id, attributes, created_at)
         values ($1, $2, $3, $4, $5)",
    );
    bind_drop(query, drop).execute(executor).await?;
    Ok(())
}

/// Deletes at most `batch` of the oldest drops created before `before`; returns
/// how many it deleted. One short statement: it never holds locks for long.
pub async fn delete_drops_before<'e>(
    executor: impl AnyExecutor<'e>,
    before: i64,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "delete from tracker_drops
         where id in (
             select id
             from tracker_drops
             where created_at < $1
             order by created_at
             limit $2
         )",
    )
    .bind(before)
    .bind(batch)
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

/// Deletes at most `batch` quota counters of days before `day`; returns how many.
pub async fn delete_drop_days_before<'e>(
    executor: impl AnyExecutor<'e>,
    day: i64,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "delete from tracker_drop_days
         where (gamer_id, day) in (
             select gamer_id, day
             from tracker_drop_days
             where day < $1
             order by day
             limit $2
         )",
    )
    .bind(day)
    .bind(batch)
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

//! Tracker drops (`POST /fe/analytics/px-tracker/events/{eventID}/drop`): an
//! append-only log per gamer, which activity-traced claims also read; the per-day
//! counters of the drop quota; and the batched deletes of retention.

use sqlx::AnyExecutor;

use super::Tx;

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

/// Counts one more drop of `gamer_id` on UTC day `day` if it has stored fewer
/// than `drops_max` that day; `false` (nothing written) if it has not. The row
/// stays locked until the transaction ends, so a gamer's concurrent drops are
/// counted one at a time.
pub async fn count_drop_of_day(
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

/// Appends a drop.
pub async fn insert_drop<'e>(
    executor: impl AnyExecutor<'e>,
    drop: NewDrop<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into tracker_drops (client_id, gamer_id, event_id, attributes, created_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(drop.client_id)
    .bind(drop.gamer_id)
    .bind(drop.event_id)
    .bind(drop.attributes)
    .bind(drop.now)
    .execute(executor)
    .await?;
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

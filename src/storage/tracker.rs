//! Tracker drops (`POST /fe/analytics/px-tracker/events/{eventID}/drop`): an
//! append-only log per gamer, which activity-traced claims also read.

use sqlx::AnyExecutor;

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

//! Console adjustments: one row per posted adjustment, found again by its
//! idempotency key within 24 h.

use crate::storage::Tx;

/// A posted adjustment.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AdjustmentRow {
    /// Public id (also the transfer's uid).
    pub id: String,
    /// The game.
    pub client_id: String,
    /// The gamer (internal id).
    pub gamer_id: i64,
    /// Signed amount: positive credits the gamer.
    pub amount: i64,
    /// Why.
    pub reason: String,
    /// Who (operator email).
    pub operator: String,
    /// The request's Idempotency-Key.
    pub idempotency_key: String,
    /// Time, nanoseconds.
    pub created_at: i64,
}

/// The adjustment posted with `key` in this game since `since`, if any.
pub async fn find_by_key(
    tx: &mut Tx,
    client_id: &str,
    key: &str,
    since: i64,
) -> Result<Option<AdjustmentRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, client_id, gamer_id, amount, reason, operator, idempotency_key, created_at
         from adjustments
         where client_id = $1
           and idempotency_key = $2
           and created_at >= $3
         order by seq desc
         limit 1",
    )
    .bind(client_id)
    .bind(key)
    .bind(since)
    .fetch_optional(&mut **tx)
    .await
}

/// Records an adjustment.
pub async fn insert_adjustment(tx: &mut Tx, row: &AdjustmentRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into adjustments (id, client_id, gamer_id, amount, reason, operator,
                                  idempotency_key, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(&row.client_id)
    .bind(row.gamer_id)
    .bind(row.amount)
    .bind(&row.reason)
    .bind(&row.operator)
    .bind(&row.idempotency_key)
    .bind(row.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Serialises adjustments of one game (so that two requests with one key cannot
/// both post): locks the game's row for this transaction.
pub async fn lock_client(tx: &mut Tx, client_id: &str) -> Result<bool, sqlx::Error> {
    let locked = sqlx::query("update clients set name = name where id = $1")
        .bind(client_id)
        .execute(&mut **tx)
        .await?;
    Ok(locked.rows_affected() == 1)
}

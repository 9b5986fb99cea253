//! Idempotency keys of claims and withdrawals: the first successful answer,
//! stored in the transaction that produced it.

use super::Tx;

/// A stored idempotency key.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct IdempotencyRow {
    /// What the request was (method, path).
    pub fingerprint: String,
    /// The status of the first answer.
    pub status_code: i64,
    /// The first answer's outcome, JSON.
    pub response: String,
}

/// The live record of `key` for this gamer (younger than `since`); older records
/// are deleted so that the key can be used afresh.
pub async fn find_key(
    tx: &mut Tx,
    gamer_id: i64,
    key: &str,
    since: i64,
) -> Result<Option<IdempotencyRow>, sqlx::Error> {
    sqlx::query(
        "delete from idempotency_keys where gamer_id = $1 and key = $2 and created_at < $3",
    )
    .bind(gamer_id)
    .bind(key)
    .bind(since)
    .execute(&mut **tx)
    .await?;
    sqlx::query_as(
        "select fingerprint, status_code, response
         from idempotency_keys
         where gamer_id = $1
           and key = $2",
    )
    .bind(gamer_id)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await
}

/// Records the first successful answer for `key`.
pub async fn insert_key(
    tx: &mut Tx,
    gamer_id: i64,
    key: &str,
    record: &IdempotencyRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into idempotency_keys (gamer_id, key, fingerprint, status_code, response,
                                       created_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(gamer_id)
    .bind(key)
    .bind(&record.fingerprint)
    .bind(record.status_code)
    .bind(&record.response)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

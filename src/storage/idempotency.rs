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

/// [`find_key`]'s clean-up: `$1` gamer, `$2` key, `$3` oldest live time.
pub const DELETE_EXPIRED_KEY_SQL: &str =
    "delete from idempotency_keys where gamer_id = $1 and key = $2 and created_at < $3";

/// [`find_key`]: `$1` gamer, `$2` key.
pub const FIND_KEY_SQL: &str = "select fingerprint, status_code, response
         from idempotency_keys
         where gamer_id = $1
           and key = $2";

/// [`insert_key`]: `$1` gamer, `$2` key, `$3` fingerprint, `$4` status, `$5` response, `$6` time.
pub const INSERT_KEY_SQL: &str =
    "insert into idempotency_keys (gamer_id, key, fingerprint, status_code, response,
                                       created_at)
         values ($1, $2, $3, $4, $5, $6)";

/// The live record of `key` for this gamer (younger than `since`); older records
/// are deleted so that the key can be used afresh.
pub async fn find_key(
    tx: &mut Tx,
    gamer_id: i64,
    key: &str,
    since: i64,
) -> Result<Option<IdempotencyRow>, sqlx::Error> {
    sqlx::query(DELETE_EXPIRED_KEY_SQL)
        .bind(gamer_id)
        .bind(key)
        .bind(since)
        .execute(&mut **tx)
        .await?;
    sqlx::query_as(FIND_KEY_SQL)
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
    sqlx::query(INSERT_KEY_SQL)
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

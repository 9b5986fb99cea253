//! `Idempotency-Key` on claims and withdrawals (CONTRACT Part 2): a retry with the
//! same key by the same gamer within 24 h gets the first successful outcome and
//! changes nothing; the same key on a different request is 422. The key is
//! recorded in the transaction of the operation itself, so a refused or
//! rolled-back request leaves no key behind.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::text::{check_required_text, TextKind};
use super::{Error, Result};
use crate::storage::idempotency::{self as store, IdempotencyRow};
use crate::storage::lite::claims as lite;
use crate::storage::Tx;

/// How long a key is remembered, nanoseconds.
const KEY_LIFETIME_NANOS: i64 = 24 * 3600 * 1_000_000_000;

/// A validated `Idempotency-Key` header (1-255 visible characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header value.
    pub fn parse(text: &str) -> Result<IdempotencyKey> {
        check_required_text("Idempotency-Key", text, 255, TextKind::Identifier)?;
        Ok(IdempotencyKey(text.to_owned()))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The outcome stored for `key` if this gamer used it within 24 h for the same
/// request; 422 if it was used for another request; `None` if it is new.
pub async fn replay<T: DeserializeOwned>(
    tx: &mut Tx,
    gamer_id: i64,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
    now: i64,
) -> Result<Option<T>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let since = now - KEY_LIFETIME_NANOS;
    let Some(row) = store::find_key(tx, gamer_id, &key.0, since).await? else {
        return Ok(None);
    };
    decode(&row, fingerprint).map(Some)
}

/// [`replay`] from a record already read (PostgreSQL reads it with the claim's
/// other inputs): `record` is the key's row and its creation time, if any.
pub fn replay_record<T: DeserializeOwned>(
    record: Option<&(IdempotencyRow, i64)>,
    fingerprint: &str,
    now: i64,
) -> Result<Option<T>> {
    match record {
        Some((row, created_at)) if *created_at >= now - KEY_LIFETIME_NANOS => {
            decode(row, fingerprint).map(Some)
        }
        _ => Ok(None),
    }
}

/// Records the successful outcome of the request made with `key`.
pub async fn remember<T: Serialize>(
    tx: &mut Tx,
    gamer_id: i64,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
    status_code: u16,
    outcome: &T,
    now: i64,
) -> Result<()> {
    let Some(key) = key else {
        return Ok(());
    };
    let row = record(fingerprint, status_code, outcome)?;
    store::insert_key(tx, gamer_id, &key.0, &row, now).await?;
    Ok(())
}

/// [`replay`] on the SQLite writer's connection.
pub fn replay_on_writer<T: DeserializeOwned>(
    conn: &rusqlite::Connection,
    gamer_id: i64,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
    now: i64,
) -> Result<Option<T>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let since = now - KEY_LIFETIME_NANOS;
    let Some(row) = lite::find_key(conn, gamer_id, &key.0, since)? else {
        return Ok(None);
    };
    decode(&row, fingerprint).map(Some)
}

/// [`remember`] on the SQLite writer's connection.
pub fn remember_on_writer<T: Serialize>(
    conn: &rusqlite::Connection,
    gamer_id: i64,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
    status_code: u16,
    outcome: &T,
    now: i64,
) -> Result<()> {
    let Some(key) = key else {
        return Ok(());
    };
    lite::insert_key(
        conn,
        gamer_id,
        &key.0,
        &record(fingerprint, status_code, outcome)?,
        now,
    )?;
    Ok(())
}

/// The stored outcome, if it was stored for the same request.
fn decode<T: DeserializeOwned>(row: &IdempotencyRow, fingerprint: &str) -> Result<T> {
    if row.fingerprint != fingerprint {
        return Err(Error::IdempotencyKeyReused);
    }
    serde_json::from_str(&row.response).map_err(|error| {
        anyhow::anyhow!("stored idempotent response is unreadable: {error}").into()
    })
}

fn record<T: Serialize>(
    fingerprint: &str,
    status_code: u16,
    outcome: &T,
) -> Result<IdempotencyRow> {
    Ok(IdempotencyRow {
        fingerprint: fingerprint.to_owned(),
        status_code: i64::from(status_code),
        response: serde_json::to_string(outcome).map_err(anyhow::Error::from)?,
    })
}

//! The statements of a reward claim, on the SQLite writer's connection: the same
//! SQL text as the sqlx functions of `storage::{claims, events, ledger,
//! idempotency}` (their `*_SQL` constants), run through rusqlite.

use rusqlite::{Connection, Row};

use super::{execute, query_row};
use crate::storage::claims::{
    ClaimHistory, ClaimRow, CLAIM_HISTORY_SQL, COUNT_PAYOUT_SQL, INSERT_CLAIM_SQL,
};
use crate::storage::events::{EventRow, FIND_EVENT_SQL};
use crate::storage::idempotency::{
    IdempotencyRow, DELETE_EXPIRED_KEY_SQL, FIND_KEY_SQL, INSERT_KEY_SQL,
};
use crate::storage::ledger::{
    NewTransfer, TransferSides, WalletEntryRow, CREDIT_SQL, DEBIT_SQL, INSERT_TRANSFER_SQL,
    INSERT_WALLET_ENTRY_SQL,
};

/// A live event of `client_id`.
pub fn find_event(
    conn: &Connection,
    client_id: &str,
    id: &str,
) -> rusqlite::Result<Option<EventRow>> {
    query_row(conn, FIND_EVENT_SQL, &[&id, &client_id], |row| {
        Ok(EventRow {
            seq: row.get(0)?,
            id: row.get(1)?,
            client_id: row.get(2)?,
            event_type: row.get(3)?,
            event_name: row.get(4)?,
            event_description: row.get(5)?,
            reward_amount: row.get(6)?,
            reward_category: row.get(7)?,
            entity_type: row.get(8)?,
            entity_id: row.get(9)?,
            is_active: row.get(10)?,
            is_activity_trace_enabled: row.get(11)?,
            activity_trace_activity_id: row.get(12)?,
            max_claims_per_user: row.get(13)?,
            claim_period: row.get(14)?,
            cooldown_seconds: row.get(15)?,
            total_budget: row.get(16)?,
            starts_at: row.get(17)?,
            ends_at: row.get(18)?,
            paid_out: row.get(19)?,
            created_at: row.get(20)?,
            updated_at: row.get(21)?,
        })
    })
}

/// See `storage::claims::claim_history`.
pub fn claim_history(
    conn: &Connection,
    gamer_id: i64,
    event_id: &str,
    window_start: i64,
    trace_event_id: &str,
) -> rusqlite::Result<ClaimHistory> {
    let params: [&dyn rusqlite::ToSql; 4] = [&gamer_id, &event_id, &window_start, &trace_event_id];
    query_row(conn, CLAIM_HISTORY_SQL, &params, |row| {
        Ok(ClaimHistory {
            last_claim_at: row.get(0)?,
            last_watermark: row.get(1)?,
            claims_in_window: row.get(2)?,
            trace_drop: row.get(3)?,
            newest_drop: row.get(4)?,
        })
    })?
    .ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// See `storage::claims::count_payout`.
pub fn count_payout(conn: &Connection, event_id: &str, amount: i64) -> rusqlite::Result<bool> {
    let within = query_row(conn, COUNT_PAYOUT_SQL, &[&event_id, &amount], |row| {
        row.get::<_, i64>(0)
    })?;
    Ok(within != Some(0))
}

fn claim_row(row: &Row<'_>) -> rusqlite::Result<ClaimRow> {
    Ok(ClaimRow {
        seq: row.get(0)?,
        id: row.get(1)?,
        event_id: row.get(2)?,
        amount: row.get(3)?,
        status: row.get(4)?,
        trace_watermark: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

/// See `storage::claims::insert_claim`.
pub fn insert_claim(
    conn: &Connection,
    client_id: &str,
    gamer_id: i64,
    claim: &ClaimRow,
) -> rusqlite::Result<ClaimRow> {
    let params: [&dyn rusqlite::ToSql; 8] = [
        &claim.id,
        &client_id,
        &gamer_id,
        &claim.event_id,
        &claim.amount,
        &claim.status,
        &claim.trace_watermark,
        &claim.created_at,
    ];
    query_row(conn, INSERT_CLAIM_SQL, &params, claim_row)?
        .ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// See `storage::ledger::post_transfer`: `None` (nothing written) when the guarded
/// debit refuses.
pub fn post_transfer(
    conn: &Connection,
    transfer: &NewTransfer<'_>,
) -> rusqlite::Result<Option<TransferSides>> {
    let side = |row: &Row<'_>| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?));
    let (from, to) = (&transfer.from, &transfer.to);
    let debit: [&dyn rusqlite::ToSql; 5] = [
        &transfer.amount,
        &from.kind,
        &from.client_id,
        &from.owner_id,
        &transfer.now,
    ];
    let Some((debit_id, from_address)) = query_row(conn, DEBIT_SQL, &debit, side)? else {
        return Ok(None);
    };
    let credit: [&dyn rusqlite::ToSql; 5] = [
        &transfer.amount,
        &to.kind,
        &to.client_id,
        &to.owner_id,
        &transfer.now,
    ];
    let (credit_id, to_address) =
        query_row(conn, CREDIT_SQL, &credit, side)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    let row: [&dyn rusqlite::ToSql; 6] = [
        &transfer.uid,
        &transfer.kind,
        &debit_id,
        &credit_id,
        &transfer.amount,
        &transfer.now,
    ];
    execute(conn, INSERT_TRANSFER_SQL, &row)?;
    Ok(Some(TransferSides {
        from_address,
        to_address,
    }))
}

/// See `storage::ledger::insert_wallet_entry`.
pub fn insert_wallet_entry(conn: &Connection, entry: &WalletEntryRow) -> rusqlite::Result<()> {
    let params: [&dyn rusqlite::ToSql; 11] = [
        &entry.uid,
        &entry.gamer_id,
        &entry.kind,
        &entry.direction,
        &entry.amount,
        &entry.from_address,
        &entry.to_address,
        &entry.name,
        &entry.description,
        &entry.sync_status,
        &entry.created_at,
    ];
    execute(conn, INSERT_WALLET_ENTRY_SQL, &params)?;
    Ok(())
}

/// See `storage::idempotency::find_key`.
pub fn find_key(
    conn: &Connection,
    gamer_id: i64,
    key: &str,
    since: i64,
) -> rusqlite::Result<Option<IdempotencyRow>> {
    execute(conn, DELETE_EXPIRED_KEY_SQL, &[&gamer_id, &key, &since])?;
    query_row(conn, FIND_KEY_SQL, &[&gamer_id, &key], |row| {
        Ok(IdempotencyRow {
            fingerprint: row.get(0)?,
            status_code: row.get(1)?,
            response: row.get(2)?,
        })
    })
}

/// See `storage::idempotency::insert_key`.
pub fn insert_key(
    conn: &Connection,
    gamer_id: i64,
    key: &str,
    record: &IdempotencyRow,
    now: i64,
) -> rusqlite::Result<()> {
    let params: [&dyn rusqlite::ToSql; 6] = [
        &gamer_id,
        &key,
        &record.fingerprint,
        &record.status_code,
        &record.response,
        &now,
    ];
    execute(conn, INSERT_KEY_SQL, &params)?;
    Ok(())
}

//! The statements of a session start (the gamer, its wallet, the session and its
//! refresh token), on the SQLite writer's connection: the SQL text of
//! `storage::{gamers, ledger, sessions}` (their `*_SQL` constants), through rusqlite.

use rusqlite::Connection;

use super::{execute, query_row};
use crate::storage::gamers::{
    GamerRow, FIND_GAMER_SQL, INSERT_GAMER_SQL, LOCK_GAMER_SQL, SET_PROFILE_SQL,
    SET_WALLET_ADDRESS_SQL,
};
use crate::storage::ledger::INSERT_WALLET_ACCOUNTS_SQL;
use crate::storage::sessions::{INSERT_REFRESH_TOKEN_SQL, INSERT_SESSION_SQL};

/// See `storage::gamers::lock_gamer` (the writer needs no lock: it marks the row
/// changed, as the sqlx path does).
pub fn lock_gamer(
    conn: &Connection,
    client_id: &str,
    user_id: &str,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    query_row(conn, LOCK_GAMER_SQL, &[&client_id, &user_id, &now], |row| {
        row.get(0)
    })
}

/// Inserts a new gamer (see `storage::gamers::INSERT_GAMER_SQL`).
pub fn insert_gamer(
    conn: &Connection,
    client_id: &str,
    user_id: &str,
    profile: &str,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let params: [&dyn rusqlite::ToSql; 4] = [&client_id, &user_id, &profile, &now];
    query_row(conn, INSERT_GAMER_SQL, &params, |row| row.get(0))
}

/// Sets a new gamer's wallet address.
pub fn set_wallet_address(conn: &Connection, gamer_id: i64, address: &str) -> rusqlite::Result<()> {
    execute(conn, SET_WALLET_ADDRESS_SQL, &[&address, &gamer_id])?;
    Ok(())
}

/// Replaces a gamer's profile JSON.
pub fn set_profile(conn: &Connection, gamer_id: i64, profile: &str) -> rusqlite::Result<()> {
    execute(conn, SET_PROFILE_SQL, &[&profile, &gamer_id])?;
    Ok(())
}

/// See `storage::gamers::find_gamer`.
pub fn find_gamer(conn: &Connection, gamer_id: i64) -> rusqlite::Result<Option<GamerRow>> {
    query_row(conn, FIND_GAMER_SQL, &[&gamer_id], |row| {
        Ok(GamerRow {
            id: row.get(0)?,
            user_id: row.get(1)?,
            wallet_address: row.get(2)?,
            profile: row.get(3)?,
            kgen_id: row.get(4)?,
            kgen_wallet_address: row.get(5)?,
            kgen_phone: row.get(6)?,
        })
    })
}

/// Creates the three buckets of a gamer's custodial wallet.
pub fn insert_wallet_accounts(
    conn: &Connection,
    client_id: &str,
    gamer_id: i64,
    address: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let params: [&dyn rusqlite::ToSql; 4] = [&client_id, &gamer_id, &address, &now];
    execute(conn, INSERT_WALLET_ACCOUNTS_SQL, &params)?;
    Ok(())
}

/// See `storage::sessions::insert_session`.
pub fn insert_session(
    conn: &Connection,
    id: &str,
    client_id: &str,
    gamer_id: i64,
    now: i64,
) -> rusqlite::Result<()> {
    let params: [&dyn rusqlite::ToSql; 4] = [&id, &client_id, &gamer_id, &now];
    execute(conn, INSERT_SESSION_SQL, &params)?;
    Ok(())
}

/// See `storage::sessions::insert_refresh_token`.
pub fn insert_refresh_token(
    conn: &Connection,
    token_hash: &str,
    session_id: &str,
    expires_at: i64,
    now: i64,
) -> rusqlite::Result<()> {
    let params: [&dyn rusqlite::ToSql; 4] = [&token_hash, &session_id, &expires_at, &now];
    execute(conn, INSERT_REFRESH_TOKEN_SQL, &params)?;
    Ok(())
}

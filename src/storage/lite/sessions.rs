//! The statements of a session start (the gamer, its wallet, the session and its
//! refresh token), on the SQLite writer's connection: the SQL text of
//! `storage::{gamers, ledger, sessions}` (their `*_SQL` constants), through rusqlite.
//! A new gamer's id and wallet address are picked before its job reaches the
//! writer ([`GamerIds`]): deriving the address is an elliptic-curve multiplication,
//! a fifth of a session start's work on the writer thread, which every claim and
//! session waits for.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::OnceCell;

use super::{execute, query_row};
use crate::storage::gamers::{
    GamerRow, FIND_GAMER_SQL, INSERT_GAMER_SQL, LOCK_GAMER_SQL, SET_PROFILE_SQL,
    SET_WALLET_ADDRESS_SQL,
};
use crate::storage::ledger::INSERT_WALLET_ACCOUNTS_SQL;
use crate::storage::lock;
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

/// Inserts a new gamer with the id and wallet address [`GamerIds`] picked for it;
/// no row if that id or address is taken after all (or the user exists).
const INSERT_GAMER_AS_SQL: &str = "insert into gamers
         (id, client_id, user_id, wallet_address, profile, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $6)
     on conflict do nothing
     returning id";

/// See [`INSERT_GAMER_AS_SQL`].
pub fn insert_gamer_as(
    conn: &Connection,
    (id, address): (i64, &str),
    client_id: &str,
    user_id: &str,
    profile: &str,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let params: [&dyn rusqlite::ToSql; 6] = [&id, &client_id, &user_id, &address, &profile, &now];
    query_row(conn, INSERT_GAMER_AS_SQL, &params, |row| row.get(0))
}

/// New gamers' ids, with their wallet addresses, handed out before their session
/// starts reach the writer. The next id follows the largest the table has ever
/// had (read once, before any id is handed out); one server owns a SQLite file, so
/// nobody else hands ids out. An id a start did not need (its gamer existed) is
/// given back with its address for the next start; ids that die with the process
/// are gaps, as a rolled-back insert leaves. Should an id be taken after all, the
/// insert writes nothing and the start falls back to an id of SQLite's choosing
/// (see `domain::sessions::lite`).
#[derive(Debug, Default)]
pub struct GamerIds {
    /// The next id never handed out.
    next: OnceCell<AtomicI64>,
    /// Ids given back, with their addresses.
    spare: Mutex<Vec<(i64, String)>>,
}

/// Ids kept for reuse.
const SPARE_MAX: usize = 64;

/// The id after the largest one `gamers` ever had (`autoincrement` keeps it in
/// `sqlite_sequence`, even once that gamer is gone).
const NEXT_GAMER_ID_SQL: &str = "select 1 + max(
         coalesce((select seq from sqlite_sequence where name = 'gamers'), 0),
         coalesce((select max(id) from gamers), 0))";

impl GamerIds {
    /// An id no gamer has, and its address (`derive`d here, off the writer).
    pub async fn take(
        &self,
        reader: &sqlx::AnyPool,
        derive: impl FnOnce(i64) -> anyhow::Result<String>,
    ) -> anyhow::Result<(i64, String)> {
        if let Some(spare) = lock(&self.spare).pop() {
            return Ok(spare);
        }
        let next = self
            .next
            .get_or_try_init(|| async {
                let next: i64 = sqlx::query_scalar(NEXT_GAMER_ID_SQL)
                    .fetch_one(reader)
                    .await?;
                anyhow::Ok(AtomicI64::new(next))
            })
            .await?;
        let id = next.fetch_add(1, Ordering::Relaxed);
        Ok((id, derive(id)?))
    }

    /// Gives back an id that no gamer got.
    pub fn give_back(&self, unused: (i64, String)) {
        let mut spare = lock(&self.spare);
        if spare.len() < SPARE_MAX {
            spare.push(unused);
        }
    }
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

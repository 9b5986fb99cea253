//! Clients on SQLite: the rows of clients whose secret was presented lately
//! ([`KnownClients`], so that a session start's authentication reads nothing), and
//! the reads a session start's job makes on the writer's connection, inside its
//! transaction: the client row again, and the newest signing key.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::Connection;

use super::query_row;
use crate::storage::clients::{ClientRow, FIND_CLIENT_SQL};
use crate::storage::keys::NEWEST_KEY_ID_SQL;
use crate::storage::lock;

/// Most clients remembered; past that, all are forgotten and remembered again as
/// their secrets come in (a server serves a few games, not thousands).
const KNOWN_MAX: usize = 4096;

/// Client rows as they were when their secret last matched. Only a hint: a session
/// start that authenticated against a remembered row is checked again by its job
/// ([`find_client`] inside the write transaction), which refuses it if the secret
/// changed or the client was disabled meanwhile, even by another process.
#[derive(Debug, Default)]
pub struct KnownClients(Mutex<HashMap<String, ClientRow>>);

impl KnownClients {
    /// The remembered row of client `id`.
    pub fn get(&self, id: &str) -> Option<ClientRow> {
        lock(&self.0).get(id).cloned()
    }

    /// Remembers `row` (as read from the database).
    pub fn remember(&self, row: ClientRow) {
        let mut rows = lock(&self.0);
        if rows.len() >= KNOWN_MAX && !rows.contains_key(&row.id) {
            rows.clear();
        }
        rows.insert(row.id.clone(), row);
    }

    /// Forgets client `id` (its remembered row proved stale).
    pub fn forget(&self, id: &str) {
        lock(&self.0).remove(id);
    }
}

/// The client with this id, disabled or not (see `storage::clients::find_client`).
pub fn find_client(conn: &Connection, id: &str) -> rusqlite::Result<Option<ClientRow>> {
    query_row(conn, FIND_CLIENT_SQL, &[&id], |row| {
        Ok(ClientRow {
            id: row.get(0)?,
            name: row.get(1)?,
            secret_hash: row.get(2)?,
            welcome_bonus: row.get(3)?,
            min_withdraw: row.get(4)?,
            is_disabled: row.get(5)?,
            issuing_address: row.get(6)?,
            created_at: row.get(7)?,
        })
    })
}

/// The id of the newest signing key of `purpose` (see `storage::keys::newest_key_id`).
pub fn newest_key_id(conn: &Connection, purpose: &str) -> rusqlite::Result<Option<String>> {
    query_row(conn, NEWEST_KEY_ID_SQL, &[&purpose], |row| row.get(0))
}

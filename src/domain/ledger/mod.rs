//! The KCash ledger: every money move and every invariant.
//!
//! Each move of KCash — a welcome bonus, an event reward, a withdrawal, a failed
//! withdrawal's return, a console adjustment — is described once here, as a
//! [`Move`]: the transfers that carry one wallet transaction (which accounts, which
//! kind, how much) and the history line the gamer sees. Claims, sessions,
//! withdrawals and adjustments build their move here and post it with
//! [`post`] (sqlx, any backend) or [`post_on_writer`] (the SQLite group-commit
//! writer); the PostgreSQL claim writes the same move in one statement. The
//! skeleton of a gamer's money operation — lock the gamer, replay its idempotency
//! key, act, remember the answer, commit, mark the wallet changed — is
//! [`in_gamer_transaction`]. The invariants are checked by [`verify`].

mod moves;
mod verify;

pub use moves::{
    adjustment_credit, adjustment_debit, gamer_bucket, issuing_account, kgen_wallet, reward,
    welcome_bonus, withdrawal, withdrawal_return, EntrySpec, Leg, Move, RewardedEvent,
};
pub use verify::{verify, Report};

/// The ledger's vocabulary, decoded at the storage edge.
pub use crate::storage::kinds::{AccountKind, Direction, SyncStatus, TransferKind};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::retry_on_contention;
use super::idempotency::{self, IdempotencyKey};
use super::Result;
use crate::storage::ledger::{self as store, TransferSides, WalletEntryRow};
use crate::storage::lite::claims as lite;
use crate::storage::pg::lanes::BoxFuture;
use crate::storage::{gamers, Db, Tx};

/// Posts every leg of `money` and its history line, inside the caller's
/// transaction. False when a guarded debit refuses: the caller decides whether that
/// is the business's refusal or a broken invariant, and its error rolls back. A
/// move without legs (a reward of 0) writes nothing.
pub async fn post(tx: &mut Tx, money: &Move<'_>) -> Result<bool> {
    let mut sides = None;
    for leg in &money.legs {
        let Some(posted) = store::post_transfer(tx, money.transfer(leg)).await? else {
            return Ok(false);
        };
        sides = Some(posted);
    }
    if let Some(entry) = sides.and_then(|sides| money.entry(&sides)) {
        store::insert_wallet_entry(tx, &entry).await?;
    }
    Ok(true)
}

/// [`post`] on the SQLite group-commit writer's connection.
pub fn post_on_writer(conn: &rusqlite::Connection, money: &Move<'_>) -> Result<bool> {
    let mut sides = None;
    for leg in &money.legs {
        let Some(posted) = lite::post_transfer(conn, &money.transfer(leg))? else {
            return Ok(false);
        };
        sides = Some(posted);
    }
    if let Some(entry) = sides.and_then(|sides| money.entry(&sides)) {
        lite::insert_wallet_entry(conn, &entry)?;
    }
    Ok(true)
}

/// What [`in_gamer_transaction`] answered.
#[derive(Debug)]
pub struct Done<T> {
    /// The answer.
    pub value: T,
    /// Whether it replays an earlier request with the same key.
    pub replayed: bool,
}

/// One money operation of a gamer, run by [`in_gamer_transaction`].
pub trait GamerOperation: Sync {
    /// Its answer (remembered under the request's idempotency key).
    type Output: Serialize + DeserializeOwned + Send;

    /// Acts inside the transaction that holds the gamer's lock; an error rolls
    /// everything back.
    fn act<'t>(&'t self, tx: &'t mut Tx, now: i64) -> BoxFuture<'t, Result<Self::Output>>;
}

/// Runs one money operation of a gamer: in a transaction that first locks the
/// gamer (so the gamer's operations are serialised), a live idempotency record of
/// `key` answers instead; otherwise the operation acts, its answer is remembered
/// under the key with `status`, the transaction commits, and the wallet's cached
/// reads are dropped. Contention is retried.
pub async fn in_gamer_transaction<O: GamerOperation>(
    db: &Db,
    gamer_id: i64,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
    status: u16,
    operation: &O,
) -> Result<Done<O::Output>> {
    let result = retry_on_contention(|| async {
        let now = crate::storage::now_nanos();
        let mut tx = db.begin().await?;
        gamers::lock_gamer_by_id(&mut tx, gamer_id).await?;
        if let Some(previous) =
            idempotency::replay(&mut tx, gamer_id, key, fingerprint, now).await?
        {
            return Ok(Done {
                value: previous,
                replayed: true,
            });
        }
        let value = operation.act(&mut tx, now).await?;
        idempotency::remember(&mut tx, gamer_id, key, fingerprint, status, &value, now).await?;
        tx.commit().await?;
        Ok(Done {
            value,
            replayed: false,
        })
    })
    .await;
    // Whatever the outcome (a failed commit may still have landed), cached reads of
    // this wallet are stale now.
    db.wallet_changed(gamer_id);
    result
}

/// One line of a gamer's wallet history: one wallet transaction, however many
/// transfers carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletTransaction {
    /// Position in the history (grows with every line).
    pub position: i64,
    /// Transaction uid.
    pub uid: String,
    /// What it is (the history's `type`).
    pub kind: TransferKind,
    /// From the gamer wallet's side.
    pub direction: Direction,
    /// Amount (positive).
    pub amount: i64,
    /// Sender address.
    pub from_address: String,
    /// Receiver address.
    pub to_address: String,
    /// `platformProtocolsTxnName`.
    pub name: String,
    /// `platformProtocolsTxnDescription`.
    pub description: String,
    /// Settlement state.
    pub sync_status: SyncStatus,
    /// Time, nanoseconds.
    pub created_at: i64,
}

impl From<WalletEntryRow> for WalletTransaction {
    fn from(row: WalletEntryRow) -> WalletTransaction {
        WalletTransaction {
            position: row.id,
            uid: row.uid,
            kind: row.kind,
            direction: row.direction,
            amount: row.amount,
            from_address: row.from_address,
            to_address: row.to_address,
            name: row.name,
            description: row.description,
            sync_status: row.sync_status,
            created_at: row.created_at,
        }
    }
}

/// [`in_gamer_transaction`] as a job of the SQLite group-commit writer, inside the
/// savepoint the writer gives it (the writer runs one job at a time: no gamer lock
/// is needed). An error of `act` rolls the savepoint back.
pub fn in_writer_job<T, F>(
    conn: &rusqlite::Connection,
    gamer_id: i64,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
    status: u16,
    now: i64,
    act: F,
) -> Result<Done<T>>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T>,
{
    if let Some(previous) = idempotency::replay_on_writer(conn, gamer_id, key, fingerprint, now)? {
        return Ok(Done {
            value: previous,
            replayed: true,
        });
    }
    let value = act()?;
    idempotency::remember_on_writer(conn, gamer_id, key, fingerprint, status, &value, now)?;
    Ok(Done {
        value,
        replayed: false,
    })
}

/// The history line of `money` once its transfers are written: their addresses
/// fill it in.
fn entry_of(money: &Move<'_>, spec: &EntrySpec, sides: &TransferSides) -> WalletEntryRow {
    WalletEntryRow {
        id: 0,
        uid: money.uid.to_owned(),
        gamer_id: spec.gamer_id,
        kind: money.kind,
        direction: spec.direction,
        amount: spec.amount,
        from_address: sides.from_address.clone(),
        to_address: sides.to_address.clone(),
        name: spec.name.clone(),
        description: spec.description.clone(),
        sync_status: spec.sync_status,
        created_at: money.now,
    }
}

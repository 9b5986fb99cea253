//! A gamer's custodial wallet as the front end sees it: balances with the derived
//! figures of CONTRACT section 4, and the transaction history.

use super::{Error, Result};
use crate::storage::ledger::{self, WalletBalanceRow};
use crate::storage::sessions::SessionGamerRow;
use crate::storage::Db;

/// Balances of one wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    /// `earned` bucket.
    pub earned: i64,
    /// `bonus` bucket.
    pub bonus: i64,
    /// `bought` bucket.
    pub bought: i64,
    /// earned + bought + bonus.
    pub lazy: i64,
    /// Signed sum of PENDING transactions (a pending withdrawal of 350 is -350).
    pub lazy_delta: i64,
    /// lazy - lazy_delta: what is settled.
    pub on_chain: i64,
    /// Whether any transaction of the wallet FAILED.
    pub has_failed_transaction: bool,
    /// Creation time, nanoseconds.
    pub created_at: i64,
    /// Last change, nanoseconds.
    pub modified_at: i64,
}

impl From<WalletBalanceRow> for Balance {
    fn from(row: WalletBalanceRow) -> Balance {
        let lazy = row.earned + row.bonus + row.bought;
        Balance {
            earned: row.earned,
            bonus: row.bonus,
            bought: row.bought,
            lazy,
            lazy_delta: row.pending_delta,
            on_chain: lazy - row.pending_delta,
            has_failed_transaction: row.failed > 0,
            created_at: row.created_at,
            modified_at: row.modified_at,
        }
    }
}

/// The balances of the calling gamer's wallet.
pub async fn balance(db: &Db, gamer: &SessionGamerRow) -> Result<Balance> {
    let row = ledger::wallet_balance(db.reader(), &gamer.client_id, gamer.gamer_id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(row.into())
}

/// One page of the gamer's wallet history, newest first, and the next cursor.
pub async fn transactions(
    db: &Db,
    cursors: &super::cursor::Cursors,
    gamer: &SessionGamerRow,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<ledger::WalletEntryRow>, String)> {
    let scope = format!("transactions|{}|{}", gamer.client_id, gamer.gamer_id);
    let before = cursors.start(&scope, cursor)?;
    let rows = ledger::list_wallet_entries(db.reader(), gamer.gamer_id, before, limit + 1).await?;
    Ok(cursors.finish_page(&scope, rows, limit, |entry| entry.id))
}

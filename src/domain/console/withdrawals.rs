//! The console's withdrawal list: the withdrawals of one game or of several (an
//! operator's games, or every game for a platform admin), newest first, one page at
//! a time.

use crate::domain::cursor::Cursors;
use crate::domain::ledger::SyncStatus;
use crate::domain::Result;
use crate::storage::console::reads;
use crate::storage::Db;

/// One withdrawal as the console lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedWithdrawal {
    /// The game.
    pub client_id: String,
    /// The gamer's user id.
    pub user_id: String,
    /// Transaction uid.
    pub uid: String,
    /// Amount.
    pub amount: i64,
    /// Settlement state.
    pub status: SyncStatus,
    /// Request time, nanoseconds.
    pub created_at: i64,
}

/// One page of the withdrawals of `games` (of one `status`, if given), newest
/// first, and the next page's cursor.
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    games: &[String],
    status: Option<SyncStatus>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<ListedWithdrawal>, String)> {
    let status_text = status.map(SyncStatus::as_str);
    let scope = format!(
        "console-withdrawals|{}|{}",
        games.join(","),
        status_text.unwrap_or("")
    );
    let before = cursors.start(&scope, cursor)?;
    let mut rows = Vec::new();
    for client_id in games {
        rows.extend(
            reads::list_withdrawals(db.reader(), client_id, status_text, before, limit + 1).await?,
        );
    }
    rows.sort_by_key(|row| std::cmp::Reverse(row.created_at));
    rows.truncate(limit as usize + 1);
    let (rows, next) = cursors.finish_page(&scope, rows, limit, |row| row.created_at);
    let listed = rows
        .into_iter()
        .map(|row| {
            let status = SyncStatus::parse(&row.status).ok_or_else(|| {
                anyhow::anyhow!(
                    "withdrawal {} has an unknown status {:?}",
                    row.id,
                    row.status
                )
            })?;
            Ok(ListedWithdrawal {
                client_id: row.client_id,
                user_id: row.user_id,
                uid: row.id,
                amount: row.amount,
                status,
                created_at: row.created_at,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((listed, next))
}

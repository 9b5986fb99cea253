//! A gamer's custodial wallet as the front end sees it: balances with the derived
//! figures of CONTRACT section 4, and the transaction history.
//!
//! Both reads are cached per gamer ([`WalletCache`]): a game's front end polls the
//! balance and the first history page far more often than the wallet changes. A
//! cached read is reused only while its gamer's wallet generation is unchanged
//! (see `storage::changes`), so a gamer always sees the claims and withdrawals
//! this server has answered; other servers' writes are seen once their notice
//! arrives, and at the latest when the entry expires.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::auth::Gamer;
use super::ledger::WalletTransaction;
use super::{Error, Result};
use crate::storage::ledger::{self, WalletBalanceRow};
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

/// What one cache entry holds.
#[derive(Clone, Debug)]
enum View {
    Balance(Balance),
    /// The rendered first page of the history.
    Page(Bytes),
}

impl View {
    fn weight(&self) -> u32 {
        let payload = match self {
            View::Balance(_) => std::mem::size_of::<Balance>(),
            View::Page(body) => body.len(),
        };
        u32::try_from(payload + 64).unwrap_or(u32::MAX)
    }
}

#[derive(Debug)]
struct Entry {
    /// The gamer's wallet generation noted before the read.
    generation: u64,
    view: View,
}

/// Which read of a gamer's wallet: the balance, or the first page of `limit`.
type Key = (i64, u32);
const BALANCE: u32 = 0;

/// Recent wallet reads, per gamer, bounded in bytes.
#[derive(Clone, Debug)]
pub struct WalletCache {
    entries: Option<moka::sync::Cache<Key, Arc<Entry>>>,
}

impl WalletCache {
    /// A cache of at most `capacity_bytes` whose entries live at most `ttl`, and
    /// at most `idle` unread; a zero capacity caches nothing.
    pub fn new(capacity_bytes: u64, ttl: Duration, idle: Duration) -> WalletCache {
        let entries = (capacity_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|_key: &Key, entry: &Arc<Entry>| entry.view.weight())
                .time_to_live(ttl)
                .time_to_idle(idle)
                .build()
        });
        WalletCache { entries }
    }

    /// Drops expired entries now (moka otherwise does it only when the cache is
    /// used, so an idle server would keep them).
    pub fn run_pending_tasks(&self) {
        if let Some(entries) = &self.entries {
            entries.run_pending_tasks();
        }
    }

    /// Whether reads are cached at all.
    pub fn is_enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// The cached view under `key`, or the one `load` reads (cached when the
    /// generation noted before the read lets it be).
    async fn get_or_load<F, Fut>(&self, db: &Db, key: Key, load: F) -> Result<View>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<View>>,
    {
        let generation = db.wallet_changes().generation(key.0);
        let (Some(entries), Some(generation)) = (&self.entries, generation) else {
            return load().await;
        };
        if let Some(entry) = entries.get(&key) {
            if entry.generation == generation {
                return Ok(entry.view.clone());
            }
        }
        let view = load().await?;
        entries.insert(
            key,
            Arc::new(Entry {
                generation,
                view: view.clone(),
            }),
        );
        Ok(view)
    }
}

/// The balances of the calling gamer's wallet.
pub async fn balance(db: &Db, cache: &WalletCache, gamer: &Gamer) -> Result<Balance> {
    let view = cache
        .get_or_load(db, (gamer.gamer_id, BALANCE), || async {
            let row = ledger::wallet_balance(db.reader(), &gamer.client_id, gamer.gamer_id)
                .await?
                .ok_or(Error::NotFound)?;
            Ok(View::Balance(row.into()))
        })
        .await?;
    match view {
        View::Balance(balance) => Ok(balance),
        View::Page(_) => Err(anyhow::anyhow!("a history page cached as a balance").into()),
    }
}

/// The first page (no cursor) of the gamer's history, rendered by `render` from
/// its rows and next cursor; cached.
pub async fn first_page<R>(
    db: &Db,
    cursors: &super::cursor::Cursors,
    cache: &WalletCache,
    gamer: &Gamer,
    limit: u32,
    render: R,
) -> Result<Bytes>
where
    R: FnOnce(Vec<WalletTransaction>, String) -> Result<Bytes>,
{
    let view = cache
        .get_or_load(db, (gamer.gamer_id, limit.max(1)), || async {
            let (rows, next) = transactions(db, cursors, gamer, limit, None).await?;
            Ok(View::Page(render(rows, next)?))
        })
        .await?;
    match view {
        View::Page(body) => Ok(body),
        View::Balance(_) => Err(anyhow::anyhow!("a balance cached as a history page").into()),
    }
}

/// One page of the gamer's wallet history, newest first, and the next cursor.
pub async fn transactions(
    db: &Db,
    cursors: &super::cursor::Cursors,
    gamer: &Gamer,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<WalletTransaction>, String)> {
    let scope = format!("transactions|{}|{}", gamer.client_id, gamer.gamer_id);
    let before = cursors.start(&scope, cursor)?;
    let rows = ledger::list_wallet_entries(db.reader(), gamer.gamer_id, before, limit + 1).await?;
    let (rows, next) = cursors.finish_page(&scope, rows, limit, |entry| entry.id);
    Ok((
        rows.into_iter().map(WalletTransaction::from).collect(),
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_entry_is_swept_without_any_request() {
        let cache = WalletCache::new(
            1024 * 1024,
            Duration::from_secs(60),
            Duration::from_millis(50),
        );
        let entries = cache.entries.as_ref().unwrap();
        let entry = |generation| {
            Arc::new(Entry {
                generation,
                view: View::Page(Bytes::from_static(b"{}")),
            })
        };
        entries.insert((1, 50), entry(0));
        entries.insert((2, 50), entry(0));
        cache.run_pending_tasks();
        assert_eq!(entries.entry_count(), 2);
        std::thread::sleep(Duration::from_millis(120));
        cache.run_pending_tasks();
        assert_eq!(entries.entry_count(), 0, "both idle entries are gone");
    }

    #[test]
    fn entries_are_weighed_by_their_bytes() {
        let page = View::Page(Bytes::from(vec![b' '; 40_000]));
        assert!(page.weight() >= 40_000);
        let cache = WalletCache::new(100_000, Duration::from_secs(60), Duration::from_secs(60));
        let entries = cache.entries.as_ref().unwrap();
        for gamer in 0..10 {
            entries.insert(
                (gamer, 50),
                Arc::new(Entry {
                    generation: 0,
                    view: page.clone(),
                }),
            );
        }
        cache.run_pending_tasks();
        assert!(
            entries.weighted_size() <= 100_000,
            "at most the capacity in bytes: {}",
            entries.weighted_size()
        );
    }
}

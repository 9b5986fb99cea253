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

/// What a cached read weighs against the cache's byte budget.
trait Weigh {
    fn weight(&self) -> u32;
}

impl Weigh for Balance {
    fn weight(&self) -> u32 {
        entry_weight(std::mem::size_of::<Balance>())
    }
}

/// The rendered first page of the history.
impl Weigh for Bytes {
    fn weight(&self) -> u32 {
        entry_weight(self.len())
    }
}

/// A payload's bytes with the entry's own (key, generation, moka's bookkeeping).
fn entry_weight(payload: usize) -> u32 {
    u32::try_from(payload + 64).unwrap_or(u32::MAX)
}

#[derive(Debug)]
struct Entry<V> {
    /// The gamer's wallet generation noted before the read.
    generation: u64,
    view: V,
}

/// Recent reads of one kind, by a key whose first part is the gamer.
type Reads<K, V> = moka::sync::Cache<K, Arc<Entry<V>>>;

/// Balances get one part in this many of the byte budget: a balance weighs ~136
/// bytes and a page up to ~20 KB, so an eighth holds a balance for far more
/// gamers than the rest holds pages.
const BALANCE_SHARE: u64 = 8;

/// Recent wallet reads, per gamer, bounded in bytes.
#[derive(Clone, Debug)]
pub struct WalletCache {
    reads: Option<Kinds>,
}

/// The two kinds of read.
#[derive(Clone, Debug)]
struct Kinds {
    balances: Reads<i64, Balance>,
    /// First history pages, by gamer and `limit`.
    pages: Reads<(i64, u32), Bytes>,
}

impl WalletCache {
    /// A cache of at most `capacity_bytes` whose entries live at most `ttl`, and
    /// at most `idle` unread; a zero capacity caches nothing.
    pub fn new(capacity_bytes: u64, ttl: Duration, idle: Duration) -> WalletCache {
        fn reads<K, V>(capacity: u64, ttl: Duration, idle: Duration) -> Reads<K, V>
        where
            K: std::hash::Hash + Eq + Send + Sync + 'static,
            V: Weigh + Send + Sync + 'static,
        {
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .weigher(|_key: &K, entry: &Arc<Entry<V>>| entry.view.weight())
                .time_to_live(ttl)
                .time_to_idle(idle)
                .build()
        }
        let balances = capacity_bytes / BALANCE_SHARE;
        let reads = (capacity_bytes > 0).then(|| Kinds {
            balances: reads(balances.max(1), ttl, idle),
            pages: reads(capacity_bytes - balances, ttl, idle),
        });
        WalletCache { reads }
    }

    /// Drops expired entries now (moka otherwise does it only when the cache is
    /// used, so an idle server would keep them).
    pub fn run_pending_tasks(&self) {
        if let Some(kinds) = &self.reads {
            kinds.balances.run_pending_tasks();
            kinds.pages.run_pending_tasks();
        }
    }

    /// Whether reads are cached at all.
    pub fn is_enabled(&self) -> bool {
        self.reads.is_some()
    }
}

/// The read under `key` in `reads` (of gamer `gamer_id`), or the one `load` reads
/// (cached when the generation noted before the read lets it be).
async fn get_or_load<K, V, F, Fut>(
    db: &Db,
    reads: Option<&Reads<K, V>>,
    gamer_id: i64,
    key: K,
    load: F,
) -> Result<V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<V>>,
{
    let generation = db.wallet_changes().generation(gamer_id);
    let (Some(reads), Some(generation)) = (reads, generation) else {
        return load().await;
    };
    if let Some(entry) = reads.get(&key) {
        if entry.generation == generation {
            return Ok(entry.view.clone());
        }
    }
    let view = load().await?;
    reads.insert(
        key,
        Arc::new(Entry {
            generation,
            view: view.clone(),
        }),
    );
    Ok(view)
}

/// The balances of the calling gamer's wallet.
pub async fn balance(db: &Db, cache: &WalletCache, gamer: &Gamer) -> Result<Balance> {
    let reads = cache.reads.as_ref().map(|kinds| &kinds.balances);
    get_or_load(db, reads, gamer.gamer_id, gamer.gamer_id, || async {
        let row = ledger::wallet_balance(db.reader(), &gamer.client_id, gamer.gamer_id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(Balance::from(row))
    })
    .await
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
    let reads = cache.reads.as_ref().map(|kinds| &kinds.pages);
    get_or_load(
        db,
        reads,
        gamer.gamer_id,
        (gamer.gamer_id, limit),
        || async {
            let (rows, next) = transactions(db, cursors, gamer, limit, None).await?;
            render(rows, next)
        },
    )
    .await
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

    fn entry<V>(view: V) -> Arc<Entry<V>> {
        Arc::new(Entry {
            generation: 0,
            view,
        })
    }

    #[test]
    fn an_idle_entry_is_swept_without_any_request() {
        let cache = WalletCache::new(
            1024 * 1024,
            Duration::from_secs(60),
            Duration::from_millis(50),
        );
        let Kinds { balances, pages } = cache.reads.as_ref().unwrap();
        pages.insert((1, 50), entry(Bytes::from_static(b"{}")));
        pages.insert((2, 50), entry(Bytes::from_static(b"{}")));
        let row = WalletBalanceRow {
            earned: 1,
            bonus: 0,
            bought: 0,
            pending_delta: 0,
            failed: 0,
            created_at: 0,
            modified_at: 0,
        };
        balances.insert(1, entry(Balance::from(row)));
        cache.run_pending_tasks();
        assert_eq!((balances.entry_count(), pages.entry_count()), (1, 2));
        std::thread::sleep(Duration::from_millis(120));
        cache.run_pending_tasks();
        assert_eq!(
            (balances.entry_count(), pages.entry_count()),
            (0, 0),
            "every idle entry is gone"
        );
    }

    #[test]
    fn entries_are_weighed_by_their_bytes_within_the_budget() {
        let page = Bytes::from(vec![b' '; 40_000]);
        assert!(page.weight() >= 40_000);
        let cache = WalletCache::new(100_000, Duration::from_secs(60), Duration::from_secs(60));
        let pages = &cache.reads.as_ref().unwrap().pages;
        for gamer in 0..10 {
            pages.insert((gamer, 50), entry(page.clone()));
        }
        cache.run_pending_tasks();
        assert!(
            pages.weighted_size() <= 100_000 - 100_000 / BALANCE_SHARE,
            "at most the pages' share of the capacity in bytes: {}",
            pages.weighted_size()
        );
        assert!(pages.weighted_size() >= 40_000, "a page fits");
    }
}

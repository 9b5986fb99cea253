//! Which gamer wallets changed, so that reads may be reused while nothing did.
//!
//! Gamers are spread over shards, each with a generation counter. A reader notes
//! its gamer's generation *before* it reads the database and may reuse what it
//! read only while the generation is unchanged. A writer bumps the generation
//! *after* its transaction commits. So a read that raced a write is never reused:
//! either it began after the commit, or its noted generation is older than the
//! bump.
//!
//! Writes of this server bump at once. On PostgreSQL other servers write too:
//! triggers (migration 0002) announce every wallet change on channel
//! `kgen_wallet` when it commits, and [`follow_postgres`] bumps on each notice.
//! While that listener is not connected, notices could be missed, so no
//! generation is handed out and nothing is reused; on reconnecting, every
//! generation is bumped. SQLite has one server per database file: its own writes
//! are all there are.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::PgListener;

/// The channel the wallet triggers notify on.
pub const WALLET_CHANNEL: &str = "kgen_wallet";

/// Shards of gamers (a power of two); a change in one shard makes the others'
/// cached reads of that shard stale too, which costs a re-read, never a wrong answer.
const SHARDS: usize = 4096;

/// Generation counters of wallet changes.
#[derive(Debug)]
pub struct WalletChanges {
    generations: Box<[AtomicU64]>,
    /// Whether every change reaches this server (false while a PostgreSQL
    /// listener is down).
    complete: AtomicBool,
}

impl WalletChanges {
    /// Counters that start complete (SQLite) or not (PostgreSQL, until its
    /// listener is subscribed).
    pub fn new(complete: bool) -> WalletChanges {
        WalletChanges {
            generations: (0..SHARDS).map(|_| AtomicU64::new(0)).collect(),
            complete: AtomicBool::new(complete),
        }
    }

    fn shard(&self, gamer_id: i64) -> &AtomicU64 {
        // Gamer ids are sequential, so the low bits spread them evenly.
        &self.generations[(gamer_id as u64 as usize) & (SHARDS - 1)]
    }

    /// The generation of `gamer_id`'s wallet, or `None` when changes might go
    /// unseen and nothing read may be reused.
    pub fn generation(&self, gamer_id: i64) -> Option<u64> {
        if !self.complete.load(Ordering::Acquire) {
            return None;
        }
        Some(self.shard(gamer_id).load(Ordering::Acquire))
    }

    /// Records a committed change of `gamer_id`'s wallet.
    pub fn changed(&self, gamer_id: i64) {
        self.shard(gamer_id).fetch_add(1, Ordering::AcqRel);
    }

    /// Records that any wallet may have changed.
    pub fn changed_all(&self) {
        for generation in &*self.generations {
            generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn set_complete(&self, complete: bool) {
        self.complete.store(complete, Ordering::Release);
        // Whichever way it flips, what was read before may have missed a change.
        self.changed_all();
    }
}

/// Applies a notice's payload: a gamer id, or (unreadable) every wallet.
fn apply_notice(changes: &WalletChanges, payload: &str) {
    match payload.parse::<i64>() {
        Ok(gamer_id) => changes.changed(gamer_id),
        Err(_) => changes.changed_all(),
    }
}

/// Follows the wallet notices of a PostgreSQL database until the task is dropped,
/// reconnecting after a second when the connection is lost.
pub async fn follow_postgres(url: std::sync::Arc<str>, changes: std::sync::Arc<WalletChanges>) {
    loop {
        match subscribe(&url).await {
            Ok(mut listener) => {
                changes.set_complete(true);
                tracing::debug!("following wallet change notices");
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notice)) => apply_notice(&changes, notice.payload()),
                        // The connection was lost: notices in between are gone.
                        Ok(None) => break,
                        Err(error) => {
                            tracing::warn!(%error, "wallet change notices interrupted");
                            break;
                        }
                    }
                }
                changes.set_complete(false);
            }
            Err(error) => {
                tracing::warn!(%error, "cannot follow wallet change notices; wallet reads are not cached");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn subscribe(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(WALLET_CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_moves_the_generation_of_its_shard_only() {
        let changes = WalletChanges::new(true);
        let before = changes.generation(7).unwrap();
        let neighbour = changes.generation(8).unwrap();
        changes.changed(7);
        assert_ne!(changes.generation(7).unwrap(), before);
        assert_eq!(changes.generation(8).unwrap(), neighbour);
        apply_notice(&changes, "8");
        assert_ne!(changes.generation(8).unwrap(), neighbour);
    }

    #[test]
    fn an_unreadable_notice_or_a_lost_listener_moves_every_generation() {
        let changes = WalletChanges::new(true);
        let before: Vec<u64> = (0..10).map(|g| changes.generation(g).unwrap()).collect();
        apply_notice(&changes, "not a gamer");
        for (gamer, old) in before.iter().enumerate() {
            assert_ne!(changes.generation(gamer as i64).unwrap(), *old);
        }
        let noted = changes.generation(3).unwrap();
        changes.set_complete(false);
        assert_eq!(changes.generation(3), None, "nothing is reusable");
        changes.set_complete(true);
        assert_ne!(
            changes.generation(3),
            Some(noted),
            "reads from before are stale"
        );
    }

    #[test]
    fn incomplete_changes_hand_out_no_generation() {
        let changes = WalletChanges::new(false);
        assert_eq!(changes.generation(1), None);
    }
}

//! Settlement of PENDING withdrawals (CONTRACT Part 2, "Settlement"). A [`Settler`]
//! decides each withdrawal's fate — the default [`InternalSettler`] completes
//! internal KGeN-wallet transfers at once; an on-chain settler can implement the
//! same trait — and the worker records it in one transaction per withdrawal. PENDING
//! rows are simply read again on every pass, so a crash between the two steps loses
//! nothing: after a restart they are picked up again. Several servers may run the
//! worker: the status update is guarded (`where status = 'PENDING'`), so each
//! withdrawal settles exactly once; a settler with outside effects must therefore
//! be idempotent by withdrawal uid.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::withdrawals;
use super::Result;
use crate::storage::withdrawals::{pending_withdrawals, WithdrawalRow};
use crate::storage::Db;

/// What a settler decided for one withdrawal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Funds arrived: COMPLETED.
    Complete,
    /// Funds cannot arrive: FAILED, and the buckets get their KCash back.
    Fail,
    /// Not decided yet: stays PENDING and is asked again on the next pass.
    Wait,
}

/// A boxed settler answer.
pub type DecisionFuture<'a> = Pin<Box<dyn Future<Output = Decision> + Send + 'a>>;

/// Decides the fate of PENDING withdrawals.
pub trait Settler: Send + Sync + std::fmt::Debug {
    /// The decision for `withdrawal` (called outside any database transaction).
    fn settle<'a>(&'a self, withdrawal: &'a WithdrawalRow) -> DecisionFuture<'a>;
}

/// Completes internal transfers to KGeN wallets at once.
#[derive(Debug, Default)]
pub struct InternalSettler;

impl Settler for InternalSettler {
    fn settle<'a>(&'a self, _withdrawal: &'a WithdrawalRow) -> DecisionFuture<'a> {
        Box::pin(async { Decision::Complete })
    }
}

/// Withdrawals settled per pass at most.
const BATCH: i64 = 200;

/// Settles the PENDING withdrawals once; returns how many were settled. Stops
/// between two withdrawals (never inside one) when `stop` says so.
pub async fn settle_pending(
    db: &Db,
    settler: &dyn Settler,
    stop: &watch::Receiver<bool>,
) -> Result<usize> {
    let mut settled = 0;
    for withdrawal in pending_withdrawals(db.reader(), BATCH).await? {
        if *stop.borrow() {
            break;
        }
        let completed = match settler.settle(&withdrawal).await {
            Decision::Complete => true,
            Decision::Fail => false,
            Decision::Wait => continue,
        };
        if withdrawals::finish(db, &withdrawal, completed).await? {
            settled += 1;
        }
    }
    Ok(settled)
}

/// Runs [`settle_pending`] every `interval` until `stop` turns true.
pub async fn run_worker(
    db: Db,
    settler: Arc<dyn Settler>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match settle_pending(&db, settler.as_ref(), &stop).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "settled withdrawals"),
            Err(error) => tracing::warn!(%error, "settlement pass failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}

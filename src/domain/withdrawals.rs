//! Withdrawals (CONTRACT section 4): the gamer's whole withdrawable balance (earned
//! and bonus) moves from the custodial wallet to the linked KGeN account's wallet, as
//! one PENDING wallet transaction carried by one transfer per bucket. The
//! settlement worker later completes it, or fails it and returns each bucket what
//! it gave.

use serde::{Deserialize, Serialize};

use super::auth::Gamer;
use super::error::retry_on_contention;
use super::idempotency::IdempotencyKey;
use super::ledger;
use super::webhooks::{self, EventType};
use super::{Error, Result};
use crate::storage::gamers;
use crate::storage::ledger::{self as accounts, AccountKind, SyncStatus};
use crate::storage::pg::lanes::BoxFuture;
use crate::storage::withdrawals::{self as store, WithdrawalRow};
use crate::storage::{self, Db, Tx};

/// The outcome of a withdrawal request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Withdrawal {
    /// Transaction uid.
    pub uid: String,
    /// KCash moved.
    pub amount: i64,
    /// PENDING when written.
    pub sync_status: SyncStatus,
    /// Whether this answer replays an earlier request with the same key.
    #[serde(skip)]
    pub replayed: bool,
}

/// Buckets a withdrawal draws from, in order.
const WITHDRAWABLE: [AccountKind; 2] = [AccountKind::Earned, AccountKind::Bonus];

/// Withdraws the calling gamer's whole withdrawable balance.
pub async fn withdraw(db: &Db, gamer: &Gamer, key: Option<&IdempotencyKey>) -> Result<Withdrawal> {
    let operation = Withdraw { gamer };
    let done =
        ledger::in_gamer_transaction(db, gamer.gamer_id, key, "withdraw", 200, &operation).await?;
    Ok(Withdrawal {
        replayed: done.replayed,
        ..done.value
    })
}

/// A withdrawal, as one money operation of its gamer.
struct Withdraw<'g> {
    gamer: &'g Gamer,
}

impl ledger::GamerOperation for Withdraw<'_> {
    type Output = Withdrawal;

    fn act<'t>(&'t self, tx: &'t mut Tx, now: i64) -> BoxFuture<'t, Result<Withdrawal>> {
        Box::pin(async move {
            let gamer = self.gamer;
            let kgen_account_id = store::linked_kgen_account(tx, gamer.gamer_id)
                .await?
                .ok_or(Error::PhoneNotLinked)?;
            let row = move_to_kgen(tx, gamer, kgen_account_id, now).await?;
            announce(tx, &row, EventType::WithdrawalRequested, now).await?;
            Ok(Withdrawal {
                uid: row.id,
                amount: row.amount,
                sync_status: row.status,
                replayed: false,
            })
        })
    }
}

/// Checks the threshold, then writes the withdrawal, its transfers and its
/// history line (all under the gamer's lock taken by the caller).
async fn move_to_kgen(
    tx: &mut Tx,
    gamer: &Gamer,
    kgen_account_id: i64,
    now: i64,
) -> Result<WithdrawalRow> {
    let mut buckets = Vec::new();
    for bucket in WITHDRAWABLE {
        let account = ledger::gamer_bucket(&gamer.client_id, gamer.gamer_id, bucket);
        buckets.push((bucket, accounts::account_balance(tx, account).await?));
    }
    let total: i64 = buckets.iter().map(|(_, amount)| amount).sum();
    if total <= 0 || total < gamer.min_withdraw {
        return Err(Error::InsufficientBalance {
            balance: total,
            threshold: gamer.min_withdraw,
        });
    }
    let row = WithdrawalRow {
        id: super::ids::new_id().to_string(),
        client_id: gamer.client_id.clone(),
        gamer_id: gamer.gamer_id,
        kgen_account_id,
        amount: total,
        status: SyncStatus::Pending,
        created_at: now,
    };
    store::insert_withdrawal(tx, &row).await?;
    let money = ledger::withdrawal(
        &gamer.client_id,
        gamer.gamer_id,
        &buckets,
        kgen_account_id,
        &row.id,
        now,
    );
    if !ledger::post(tx, &money).await? {
        return Err(anyhow::anyhow!("a bucket changed under the gamer's lock").into());
    }
    Ok(row)
}

/// Settles a PENDING withdrawal: COMPLETED, or FAILED with every bucket given back
/// what it gave. False when it was no longer PENDING (settled elsewhere).
pub async fn finish(db: &Db, withdrawal: &WithdrawalRow, completed: bool) -> Result<bool> {
    let (status, event) = if completed {
        (SyncStatus::Completed, EventType::WithdrawalCompleted)
    } else {
        (SyncStatus::Failed, EventType::WithdrawalFailed)
    };
    let result = retry_on_contention(|| async {
        let now = storage::now_nanos();
        let mut tx = db.begin().await?;
        gamers::lock_gamer_by_id(&mut tx, withdrawal.gamer_id).await?;
        if !store::finish_withdrawal(&mut tx, &withdrawal.id, status, now).await? {
            return Ok(false);
        }
        if !completed {
            return_funds(&mut tx, withdrawal, now).await?;
        }
        let settled = WithdrawalRow {
            status,
            ..withdrawal.clone()
        };
        announce(&mut tx, &settled, event, now).await?;
        tx.commit().await?;
        Ok(true)
    })
    .await;
    db.wallet_changed(withdrawal.gamer_id);
    result
}

async fn return_funds(tx: &mut Tx, withdrawal: &WithdrawalRow, now: i64) -> Result<()> {
    let legs = store::withdrawal_legs(tx, &withdrawal.id).await?;
    let money = ledger::withdrawal_return(
        &withdrawal.client_id,
        withdrawal.gamer_id,
        &legs,
        withdrawal.kgen_account_id,
        &withdrawal.id,
        now,
    );
    if !ledger::post(tx, &money).await? {
        return Err(anyhow::anyhow!("the KGeN wallet no longer holds a pending withdrawal").into());
    }
    Ok(())
}

/// Writes a `withdrawal.*` webhook event to the outbox, in the withdrawal's own
/// transaction.
async fn announce(
    tx: &mut Tx,
    withdrawal: &WithdrawalRow,
    event: EventType,
    now: i64,
) -> Result<()> {
    let (user_id, kgen_address) = crate::storage::webhooks::withdrawal_parties(
        tx,
        withdrawal.gamer_id,
        withdrawal.kgen_account_id,
    )
    .await?;
    let data = serde_json::json!({
        "userID": user_id,
        "uid": withdrawal.id,
        "amount": withdrawal.amount,
        "sync_status": withdrawal.status.as_str(),
        "kgenWalletAddress": kgen_address,
    });
    webhooks::announce(tx, &withdrawal.client_id, event, data, now).await?;
    Ok(())
}

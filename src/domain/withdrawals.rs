//! Withdrawals (CONTRACT section 4): the gamer's whole withdrawable balance (earned
//! and bonus) moves from the custodial wallet to the linked KGeN account's wallet, as
//! one PENDING wallet transaction carried by one transfer per bucket. The
//! settlement worker later completes it, or fails it and returns each bucket what
//! it gave.

use serde::{Deserialize, Serialize};

use super::error::retry_on_contention;
use super::idempotency::{self, IdempotencyKey};
use super::webhooks::{self, EventType};
use super::{Error, Result};
use crate::storage::gamers;
use crate::storage::ledger::{self, kind, AccountKey, NewTransfer, WalletEntryRow};
use crate::storage::sessions::SessionGamerRow;
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
    pub sync_status: String,
    /// Whether this answer replays an earlier request with the same key.
    #[serde(skip)]
    pub replayed: bool,
}

/// Buckets a withdrawal draws from, in order.
const WITHDRAWABLE: [&str; 2] = [kind::EARNED, kind::BONUS];

/// Withdraws the calling gamer's whole withdrawable balance.
pub async fn withdraw(
    db: &Db,
    gamer: &SessionGamerRow,
    key: Option<&IdempotencyKey>,
) -> Result<Withdrawal> {
    const FINGERPRINT: &str = "withdraw";
    let result = retry_on_contention(|| async {
        let now = storage::now_nanos();
        let mut tx = db.begin().await?;
        gamers::lock_gamer_by_id(&mut tx, gamer.gamer_id).await?;
        if let Some(mut previous) =
            idempotency::replay::<Withdrawal>(&mut tx, gamer.gamer_id, key, FINGERPRINT, now)
                .await?
        {
            previous.replayed = true;
            return Ok(previous);
        }
        let kgen_account_id = store::linked_kgen_account(&mut tx, gamer.gamer_id)
            .await?
            .ok_or(Error::PhoneNotLinked)?;
        let withdrawal = move_to_kgen(&mut tx, gamer, kgen_account_id, now).await?;
        let row = WithdrawalRow {
            id: withdrawal.uid.clone(),
            client_id: gamer.client_id.clone(),
            gamer_id: gamer.gamer_id,
            kgen_account_id,
            amount: withdrawal.amount,
            status: "PENDING".to_owned(),
            created_at: now,
        };
        announce(&mut tx, &row, EventType::WithdrawalRequested, now).await?;
        idempotency::remember(
            &mut tx,
            gamer.gamer_id,
            key,
            FINGERPRINT,
            200,
            &withdrawal,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(withdrawal)
    })
    .await;
    db.wallet_changed(gamer.gamer_id);
    result
}

fn bucket<'a>(gamer: &'a SessionGamerRow, kind: &'static str) -> AccountKey<'a> {
    AccountKey {
        kind,
        client_id: &gamer.client_id,
        owner_id: gamer.gamer_id,
    }
}

fn kgen_wallet(kgen_account_id: i64) -> AccountKey<'static> {
    AccountKey {
        kind: kind::KGEN,
        client_id: "",
        owner_id: kgen_account_id,
    }
}

/// Checks the threshold, then writes the withdrawal, its transfers and its
/// history line (all under the gamer's lock taken by the caller).
async fn move_to_kgen(
    tx: &mut Tx,
    gamer: &SessionGamerRow,
    kgen_account_id: i64,
    now: i64,
) -> Result<Withdrawal> {
    let mut legs = Vec::new();
    for kind in WITHDRAWABLE {
        let amount = ledger::account_balance(tx, bucket(gamer, kind)).await?;
        legs.push((kind, amount));
    }
    let total: i64 = legs.iter().map(|(_, amount)| amount).sum();
    if total <= 0 || total < gamer.min_withdraw {
        return Err(Error::InsufficientBalance {
            balance: total,
            threshold: gamer.min_withdraw,
        });
    }
    let uid = uuid::Uuid::new_v4().to_string();
    store::insert_withdrawal(
        tx,
        &WithdrawalRow {
            id: uid.clone(),
            client_id: gamer.client_id.clone(),
            gamer_id: gamer.gamer_id,
            kgen_account_id,
            amount: total,
            status: "PENDING".to_owned(),
            created_at: now,
        },
    )
    .await?;
    let mut to_address = String::new();
    for (kind, amount) in legs.into_iter().filter(|(_, amount)| *amount > 0) {
        let transfer = NewTransfer {
            uid: &uid,
            kind: "WITHDRAW",
            from: bucket(gamer, kind),
            to: kgen_wallet(kgen_account_id),
            amount,
            now,
        };
        let sides = ledger::post_transfer(tx, transfer)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a bucket changed under the gamer's lock"))?;
        to_address = sides.to_address;
    }
    ledger::insert_wallet_entry(
        tx,
        &WalletEntryRow {
            id: 0,
            uid: uid.clone(),
            gamer_id: gamer.gamer_id,
            kind: "WITHDRAW".to_owned(),
            direction: "DEBIT".to_owned(),
            amount: total,
            from_address: gamer.wallet_address.clone(),
            to_address,
            name: "Withdrawal".to_owned(),
            description: "Withdrawal to the linked KGeN wallet".to_owned(),
            sync_status: "PENDING".to_owned(),
            created_at: now,
        },
    )
    .await?;
    Ok(Withdrawal {
        uid,
        amount: total,
        sync_status: "PENDING".to_owned(),
        replayed: false,
    })
}

/// Settles a PENDING withdrawal: COMPLETED, or FAILED with every bucket given back
/// what it gave. False when it was no longer PENDING (settled elsewhere).
pub async fn finish(db: &Db, withdrawal: &WithdrawalRow, completed: bool) -> Result<bool> {
    let result = retry_on_contention(|| async {
        let now = storage::now_nanos();
        let mut tx = db.begin().await?;
        gamers::lock_gamer_by_id(&mut tx, withdrawal.gamer_id).await?;
        let status = if completed { "COMPLETED" } else { "FAILED" };
        if !store::finish_withdrawal(&mut tx, &withdrawal.id, status, now).await? {
            return Ok(false);
        }
        if !completed {
            return_funds(&mut tx, withdrawal, now).await?;
        }
        let (event, row) = if completed {
            (EventType::WithdrawalCompleted, "COMPLETED")
        } else {
            (EventType::WithdrawalFailed, "FAILED")
        };
        let settled = WithdrawalRow {
            status: row.to_owned(),
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
    for (bucket_kind, amount) in store::withdrawal_legs(tx, &withdrawal.id).await? {
        let bucket_kind = match bucket_kind.as_str() {
            "EARNED" => kind::EARNED,
            "BONUS" => kind::BONUS,
            other => return Err(anyhow::anyhow!("withdrawal leg from {other}").into()),
        };
        let transfer = NewTransfer {
            uid: &withdrawal.id,
            kind: "WITHDRAW_RETURN",
            from: kgen_wallet(withdrawal.kgen_account_id),
            to: AccountKey {
                kind: bucket_kind,
                client_id: &withdrawal.client_id,
                owner_id: withdrawal.gamer_id,
            },
            amount,
            now,
        };
        ledger::post_transfer(tx, transfer).await?.ok_or_else(|| {
            anyhow::anyhow!("the KGeN wallet no longer holds a pending withdrawal")
        })?;
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
        "sync_status": withdrawal.status,
        "kgenWalletAddress": kgen_address,
    });
    webhooks::announce(tx, &withdrawal.client_id, event, data, now).await?;
    Ok(())
}

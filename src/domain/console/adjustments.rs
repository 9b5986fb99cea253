//! Balance adjustments from the console: a credit from the game's issuing account
//! into the gamer's BONUS bucket, or a debit of the gamer (BONUS first, then
//! EARNED) back to it. Each is one wallet history line of type ADJUSTMENT, written
//! with its transfers in one transaction; a debit never drives a bucket negative.
//! Idempotency keys are scoped to the game for 24 h.

use super::audit::{self, Actor};
use crate::domain::error::retry_on_contention;
use crate::domain::ledger;
use crate::domain::text::{check_required_text, TextKind};
use crate::domain::{Error, Result};
use crate::storage::console::adjustments::{self as store, AdjustmentRow};
use crate::storage::gamers;
use crate::storage::ledger::{self as accounts, AccountKind};
use crate::storage::{self, Db, Tx};

/// Largest adjustment, either way.
pub const ADJUSTMENT_MAX: i64 = 1_000_000_000;

/// How long an Idempotency-Key of an adjustment is remembered.
const KEY_LIFETIME_NANOS: i64 = 24 * 3600 * 1_000_000_000;

/// What an operator asks for.
#[derive(Clone, Debug)]
pub struct AdjustmentRequest {
    /// The game.
    pub client_id: String,
    /// The gamer's user id.
    pub user_id: String,
    /// Signed amount: positive credits the gamer.
    pub amount: i64,
    /// Why (1-500 characters).
    pub reason: String,
    /// The request's Idempotency-Key.
    pub key: String,
}

impl AdjustmentRequest {
    /// Checks the amount and the reason.
    pub fn check(&self) -> Result<()> {
        if self.amount == 0 || self.amount.abs() > ADJUSTMENT_MAX {
            return Err(Error::BadRequest(format!(
                "amount must be a non-zero whole number within ±{ADJUSTMENT_MAX}"
            )));
        }
        check_required_text("reason", &self.reason, 500, TextKind::Prose)?;
        Ok(())
    }
}

/// Posts an adjustment, or returns the one already posted with the same key.
pub async fn post_adjustment(
    db: &Db,
    actor: &Actor,
    request: &AdjustmentRequest,
) -> Result<AdjustmentRow> {
    request.check()?;
    let result = retry_on_contention(|| async {
        let now = storage::now_nanos();
        let mut tx = db.begin().await?;
        if !store::lock_client(&mut tx, &request.client_id).await? {
            return Err(Error::NotFound);
        }
        let id = gamers::lock_gamer(&mut tx, &request.client_id, &request.user_id, now)
            .await?
            .ok_or(Error::NotFound)?;
        let since = now - KEY_LIFETIME_NANOS;
        if let Some(first) =
            store::find_by_key(&mut tx, &request.client_id, &request.key, since).await?
        {
            let same = first.gamer_id == id
                && first.amount == request.amount
                && first.reason == request.reason;
            return if same {
                Ok(first)
            } else {
                Err(Error::IdempotencyKeyReused)
            };
        }
        let row = write_adjustment(&mut tx, actor, request, id, now).await?;
        let data = serde_json::json!({
            "adjustmentID": row.id,
            "userID": request.user_id,
            "amount": row.amount,
            "reason": row.reason,
            "operator": row.operator,
            "createdAt": crate::domain::time::rfc3339(row.created_at),
        });
        let event = crate::domain::webhooks::EventType::AdjustmentPosted;
        crate::domain::webhooks::announce(&mut tx, &request.client_id, event, data, now).await?;
        tx.commit().await?;
        Ok(row)
    })
    .await;
    if let Ok(row) = &result {
        db.wallet_changed(row.gamer_id);
    }
    result
}

/// Writes the transfers, the history line, the adjustment row and the audit entry.
async fn write_adjustment(
    tx: &mut Tx,
    actor: &Actor,
    request: &AdjustmentRequest,
    gamer_id: i64,
    now: i64,
) -> Result<AdjustmentRow> {
    let uid = uuid::Uuid::new_v4().to_string();
    let client_id = request.client_id.as_str();
    let (amount, reason) = (request.amount, request.reason.as_str());
    let money = if amount > 0 {
        ledger::adjustment_credit(client_id, gamer_id, amount, reason, &uid, now)
    } else {
        let buckets = (
            balance(tx, client_id, gamer_id, AccountKind::Bonus).await?,
            balance(tx, client_id, gamer_id, AccountKind::Earned).await?,
        );
        if buckets.0 + buckets.1 < -amount {
            return Err(Error::Overdraw {
                balance: buckets.0 + buckets.1,
            });
        }
        ledger::adjustment_debit(client_id, gamer_id, buckets, -amount, reason, &uid, now)
    };
    if !ledger::post(tx, &money).await? {
        return Err(anyhow::anyhow!("a bucket changed under the gamer's lock").into());
    }
    let row = AdjustmentRow {
        id: uid,
        client_id: client_id.to_owned(),
        gamer_id,
        amount: request.amount,
        reason: request.reason.clone(),
        operator: actor.name().to_owned(),
        idempotency_key: request.key.clone(),
        created_at: now,
    };
    store::insert_adjustment(tx, &row).await?;
    let detail =
        serde_json::json!({"adjustmentID": row.id, "amount": row.amount, "reason": row.reason});
    audit::record_in(
        tx,
        actor,
        "adjustment",
        Some(client_id),
        &request.user_id,
        detail,
        now,
    )
    .await?;
    Ok(row)
}

/// What one bucket of the gamer holds (under the gamer's lock).
async fn balance(tx: &mut Tx, client_id: &str, gamer_id: i64, bucket: AccountKind) -> Result<i64> {
    let account = ledger::gamer_bucket(client_id, gamer_id, bucket);
    Ok(accounts::account_balance(tx, account).await?)
}

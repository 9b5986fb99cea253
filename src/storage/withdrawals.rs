//! Withdrawals and their settlement state.

use sqlx::AnyExecutor;

use super::kinds::{AccountKind, SyncStatus};
use super::Tx;

/// A withdrawal waiting for (or done with) settlement.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WithdrawalRow {
    /// Transaction uid.
    pub id: String,
    /// Client.
    pub client_id: String,
    /// Gamer.
    pub gamer_id: i64,
    /// Receiving KGeN account (internal id).
    pub kgen_account_id: i64,
    /// Total amount.
    pub amount: i64,
    /// Settlement state.
    #[sqlx(try_from = "String")]
    pub status: SyncStatus,
    /// Time, nanoseconds.
    pub created_at: i64,
}

/// Inserts a PENDING withdrawal.
pub async fn insert_withdrawal(tx: &mut Tx, row: &WithdrawalRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into withdrawals (id, client_id, gamer_id, kgen_account_id, amount, status,
                                  created_at)
         values ($1, $2, $3, $4, $5, 'PENDING', $6)",
    )
    .bind(&row.id)
    .bind(&row.client_id)
    .bind(row.gamer_id)
    .bind(row.kgen_account_id)
    .bind(row.amount)
    .bind(row.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The oldest PENDING withdrawals.
pub async fn pending_withdrawals<'e>(
    executor: impl AnyExecutor<'e>,
    limit: i64,
) -> Result<Vec<WithdrawalRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, client_id, gamer_id, kgen_account_id, amount, status, created_at
         from withdrawals
         where status = 'PENDING'
         order by created_at
         limit $1",
    )
    .bind(limit)
    .fetch_all(executor)
    .await
}

/// Moves a PENDING withdrawal to `status` (and its history line with it); false
/// when it was not PENDING any more (another worker settled it).
pub async fn finish_withdrawal(
    tx: &mut Tx,
    id: &str,
    status: SyncStatus,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update withdrawals
         set status = $2, settled_at = $3
         where id = $1
           and status = 'PENDING'",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if result.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("update wallet_entries set sync_status = $2 where uid = $1")
        .bind(id)
        .bind(status.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// The bucket transfers of a withdrawal: (bucket kind, amount).
pub async fn withdrawal_legs(
    tx: &mut Tx,
    id: &str,
) -> Result<Vec<(AccountKind, i64)>, sqlx::Error> {
    let legs: Vec<(String, i64)> = sqlx::query_as(
        "select a.kind, t.amount
         from transfers t
         join accounts a on a.id = t.debit_account_id
         where t.uid = $1
           and t.kind = 'WITHDRAW'
         order by t.id",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    legs.into_iter()
        .map(|(kind, amount)| {
            let kind = AccountKind::try_from(kind).map_err(|e| sqlx::Error::Decode(e.into()))?;
            Ok((kind, amount))
        })
        .collect()
}

/// The KGeN account a gamer is linked to, read under the gamer's lock.
pub async fn linked_kgen_account(tx: &mut Tx, gamer_id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar::<_, Option<i64>>("select kgen_account_id from gamers where id = $1")
        .bind(gamer_id)
        .fetch_one(&mut **tx)
        .await
}

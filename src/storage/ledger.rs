//! Ledger accounts, transfers and the wallet history rows. Balances are a cache of
//! transfers, changed only here and always in the transaction that inserts the
//! transfer. Debits of accounts that must not go negative are guarded in SQL.

use super::Tx;

/// Issuing accounts per game. Claims of different gamers debit different shards,
/// so one game's issuing balance is never a row that every claim must lock.
pub const ISSUING_SHARDS: i64 = 16;

pub use super::kinds::{AccountKind, Direction, SyncStatus, TransferKind};

/// Creates the issuing shards of a new client.
pub async fn insert_issuing_accounts(
    tx: &mut Tx,
    client_id: &str,
    address: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    for shard in 0..ISSUING_SHARDS {
        sqlx::query(
            "insert into accounts (kind, client_id, owner_id, address, balance, created_at,
                                   updated_at)
             values ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(AccountKind::Issuing.as_str())
        .bind(client_id)
        .bind(shard)
        .bind(address)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Names one ledger account by its natural key.
#[derive(Clone, Copy, Debug)]
pub struct AccountKey<'a> {
    /// The account's kind.
    pub kind: AccountKind,
    /// Owning client ("" for KGeN wallets, which span games).
    pub client_id: &'a str,
    /// Gamer id, KGeN account id, or issuing shard number.
    pub owner_id: i64,
}

/// A transfer to write.
#[derive(Clone, Copy, Debug)]
pub struct NewTransfer<'a> {
    /// The wallet transaction (history `uid`) this transfer carries.
    pub uid: &'a str,
    /// What the transfer is for.
    pub kind: TransferKind,
    /// Debited account.
    pub from: AccountKey<'a>,
    /// Credited account.
    pub to: AccountKey<'a>,
    /// Positive amount.
    pub amount: i64,
    /// Time, nanoseconds.
    pub now: i64,
}

/// Addresses of the two sides of a written transfer.
#[derive(Clone, Debug)]
pub struct TransferSides {
    /// Debited account's address.
    pub from_address: String,
    /// Credited account's address.
    pub to_address: String,
}

/// [`post_transfer`]'s guarded debit: `$1` amount, `$2`-`$4` account key, `$5` time.
pub const DEBIT_SQL: &str = "update accounts
         set balance = balance - $1, updated_at = $5
         where kind = $2
           and client_id = $3
           and owner_id = $4
           and (kind = 'ISSUING' or balance >= $1)
         returning id, address";

/// [`post_transfer`]'s credit: `$1` amount, `$2`-`$4` account key, `$5` time.
pub const CREDIT_SQL: &str = "update accounts
         set balance = balance + $1, updated_at = $5
         where kind = $2
           and client_id = $3
           and owner_id = $4
         returning id, address";

/// [`post_transfer`]'s transfer row: `$1` uid, `$2` kind, `$3` debit, `$4` credit, `$5` amount, `$6` time.
pub const INSERT_TRANSFER_SQL: &str =
    "insert into transfers (uid, kind, debit_account_id, credit_account_id, amount, created_at)
         values ($1, $2, $3, $4, $5, $6)";

/// [`insert_wallet_entry`]: `$1`-`$11` the entry's columns after `id`, in order.
pub const INSERT_WALLET_ENTRY_SQL: &str =
    "insert into wallet_entries (uid, gamer_id, kind, direction, amount, from_address,
                                     to_address, name, description, sync_status, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Writes a transfer with both balance changes. The debit is guarded: an account
/// that may not go negative is debited only if it holds the amount. `None` (and
/// nothing written) when the guard refuses; the caller's error rolls back.
pub async fn post_transfer(
    tx: &mut Tx,
    transfer: NewTransfer<'_>,
) -> Result<Option<TransferSides>, sqlx::Error> {
    let debited: Option<(i64, String)> = sqlx::query_as(DEBIT_SQL)
        .bind(transfer.amount)
        .bind(transfer.from.kind.as_str())
        .bind(transfer.from.client_id)
        .bind(transfer.from.owner_id)
        .bind(transfer.now)
        .fetch_optional(&mut **tx)
        .await?;
    let Some((debit_id, from_address)) = debited else {
        return Ok(None);
    };
    let (credit_id, to_address): (i64, String) = sqlx::query_as(CREDIT_SQL)
        .bind(transfer.amount)
        .bind(transfer.to.kind.as_str())
        .bind(transfer.to.client_id)
        .bind(transfer.to.owner_id)
        .bind(transfer.now)
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query(INSERT_TRANSFER_SQL)
        .bind(transfer.uid)
        .bind(transfer.kind.as_str())
        .bind(debit_id)
        .bind(credit_id)
        .bind(transfer.amount)
        .bind(transfer.now)
        .execute(&mut **tx)
        .await?;
    Ok(Some(TransferSides {
        from_address,
        to_address,
    }))
}

/// Creates the three buckets of a gamer's custodial wallet: `$1` client, `$2`
/// gamer, `$3` address, `$4` time.
pub const INSERT_WALLET_ACCOUNTS_SQL: &str =
    "insert into accounts (kind, client_id, owner_id, address, balance, created_at,
                               updated_at)
         values ('EARNED', $1, $2, $3, 0, $4, $4),
                ('BONUS', $1, $2, $3, 0, $4, $4),
                ('BOUGHT', $1, $2, $3, 0, $4, $4)";

/// Creates a KGeN account's wallet account.
pub async fn insert_kgen_account(
    tx: &mut Tx,
    kgen_account_id: i64,
    address: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into accounts (kind, client_id, owner_id, address, balance, created_at,
                               updated_at)
         values ('KGEN', '', $1, $2, 0, $3, $3)",
    )
    .bind(kgen_account_id)
    .bind(address)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One line of a gamer's wallet history.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WalletEntryRow {
    /// Position in the history (grows with every entry).
    pub id: i64,
    /// Transaction uid.
    pub uid: String,
    /// Owning gamer.
    pub gamer_id: i64,
    /// What the transaction is (the history's `type`).
    #[sqlx(try_from = "String")]
    pub kind: TransferKind,
    /// From this wallet's side.
    #[sqlx(try_from = "String")]
    pub direction: Direction,
    /// Amount.
    pub amount: i64,
    /// Sender address.
    pub from_address: String,
    /// Receiver address.
    pub to_address: String,
    /// `platformProtocolsTxnName`.
    pub name: String,
    /// `platformProtocolsTxnDescription`.
    pub description: String,
    /// Settlement state.
    #[sqlx(try_from = "String")]
    pub sync_status: SyncStatus,
    /// Time, nanoseconds.
    pub created_at: i64,
}

/// Appends a line to a gamer's wallet history (`id` is assigned).
pub async fn insert_wallet_entry(tx: &mut Tx, entry: &WalletEntryRow) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_WALLET_ENTRY_SQL)
        .bind(&entry.uid)
        .bind(entry.gamer_id)
        .bind(entry.kind.as_str())
        .bind(entry.direction.as_str())
        .bind(entry.amount)
        .bind(&entry.from_address)
        .bind(&entry.to_address)
        .bind(&entry.name)
        .bind(&entry.description)
        .bind(entry.sync_status.as_str())
        .bind(entry.created_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Counts of each ledger invariant's violations over the whole database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvariantCounts {
    /// Accounts whose balance differs from the sum of their transfers.
    pub balance_mismatches: i64,
    /// Sum of every balance (must be 0).
    pub balance_sum: i64,
    /// Wallet (non-issuing) accounts below zero.
    pub negative_wallets: i64,
    /// REWARDED claims with a reward whose transfers are not exactly one of that amount.
    pub claims_without_one_transfer: i64,
    /// Withdrawals whose transfers do not move exactly their amount (and back, if FAILED).
    pub unbalanced_withdrawals: i64,
    /// Budgeted events whose claims paid out more than the budget.
    pub overspent_events: i64,
    /// Budgeted events whose recorded payout differs from their claims' rewards.
    pub miscounted_budgets: i64,
    /// Accounts in all, transfers in all (for the summary).
    pub accounts: i64,
    /// Transfers in all.
    pub transfers: i64,
}

/// Runs each invariant check as one aggregate query.
pub async fn count_invariant_violations(
    pool: &sqlx::AnyPool,
) -> Result<InvariantCounts, sqlx::Error> {
    let scalar =
        |sql: &'static str| async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await };
    Ok(InvariantCounts {
        // One pass over the transfers (each counted on both its sides), grouped by
        // account: no index by account is kept for this (migration 0008).
        balance_mismatches: scalar(
            "select count(*)
             from accounts a
             left join (select account_id, cast(sum(delta) as bigint) as net
                        from (select credit_account_id as account_id, amount as delta
                              from transfers
                              union all
                              select debit_account_id, -amount from transfers) sides
                        group by account_id) m on m.account_id = a.id
             where a.balance <> coalesce(m.net, 0)",
        )
        .await?,
        balance_sum: scalar("select cast(coalesce(sum(balance), 0) as bigint) from accounts")
            .await?,
        negative_wallets: scalar(
            "select count(*) from accounts where kind <> 'ISSUING' and balance < 0",
        )
        .await?,
        claims_without_one_transfer: scalar(
            "select count(*)
             from claims c
             where c.status = 'REWARDED'
               and c.amount > 0
               and (select count(*)
                    from transfers t
                    where t.uid = c.id and t.kind = 'EVENT_REWARD' and t.amount = c.amount) <> 1",
        )
        .await?,
        unbalanced_withdrawals: scalar(
            "select count(*)
             from withdrawals w
             where w.amount <>
                   (select cast(coalesce(sum(t.amount), 0) as bigint)
                    from transfers t where t.uid = w.id and t.kind = 'WITHDRAW')
                or (case when w.status = 'FAILED' then w.amount else 0 end) <>
                   (select cast(coalesce(sum(t.amount), 0) as bigint)
                    from transfers t where t.uid = w.id and t.kind = 'WITHDRAW_RETURN')",
        )
        .await?,
        overspent_events: scalar(
            "select count(*)
             from events e
             where e.total_budget is not null
               and e.total_budget <
                   (select cast(coalesce(sum(c.amount), 0) as bigint)
                    from claims c where c.event_id = e.id)",
        )
        .await?,
        miscounted_budgets: scalar(
            "select count(*)
             from events e
             where e.total_budget is not null
               and e.paid_out <>
                   (select cast(coalesce(sum(c.amount), 0) as bigint)
                    from claims c where c.event_id = e.id)",
        )
        .await?,
        accounts: scalar("select count(*) from accounts").await?,
        transfers: scalar("select count(*) from transfers").await?,
    })
}

/// A gamer wallet's balances and the derived figures of `GET /fe/wallet/balance`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WalletBalanceRow {
    /// `earned` bucket.
    pub earned: i64,
    /// `bonus` bucket.
    pub bonus: i64,
    /// `bought` bucket.
    pub bought: i64,
    /// Signed sum of this wallet's PENDING history entries.
    pub pending_delta: i64,
    /// Number of FAILED history entries.
    pub failed: i64,
    /// Wallet creation, nanoseconds.
    pub created_at: i64,
    /// Last balance change, nanoseconds.
    pub modified_at: i64,
}

/// The balances of a gamer's wallet.
pub async fn wallet_balance<'e>(
    executor: impl sqlx::AnyExecutor<'e>,
    client_id: &str,
    gamer_id: i64,
) -> Result<Option<WalletBalanceRow>, sqlx::Error> {
    sqlx::query_as(
        "select
             cast(sum(case when kind = 'EARNED' then balance else 0 end) as bigint) as earned,
             cast(sum(case when kind = 'BONUS' then balance else 0 end) as bigint) as bonus,
             cast(sum(case when kind = 'BOUGHT' then balance else 0 end) as bigint) as bought,
             (select cast(coalesce(sum(case when direction = 'DEBIT' then -amount
                                            else amount end), 0) as bigint)
              from wallet_entries
              where gamer_id = $2 and sync_status = 'PENDING') as pending_delta,
             (select count(*)
              from wallet_entries
              where gamer_id = $2 and sync_status = 'FAILED') as failed,
             cast(min(created_at) as bigint) as created_at,
             cast(max(updated_at) as bigint) as modified_at
         from accounts
         where client_id = $1
           and owner_id = $2
           and kind in ('EARNED', 'BONUS', 'BOUGHT')
         having count(*) = 3",
    )
    .bind(client_id)
    .bind(gamer_id)
    .fetch_optional(executor)
    .await
}

/// One page of a gamer's wallet history, newest first, with `id` below `before`.
pub async fn list_wallet_entries<'e>(
    executor: impl sqlx::AnyExecutor<'e>,
    gamer_id: i64,
    before: i64,
    limit: u32,
) -> Result<Vec<WalletEntryRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, uid, gamer_id, kind, direction, amount, from_address, to_address, name,
                description, sync_status, created_at
         from wallet_entries
         where gamer_id = $1
           and id < $2
         order by id desc
         limit $3",
    )
    .bind(gamer_id)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
}

/// The balance of one account.
pub async fn account_balance(tx: &mut Tx, account: AccountKey<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select balance
         from accounts
         where kind = $1
           and client_id = $2
           and owner_id = $3",
    )
    .bind(account.kind.as_str())
    .bind(account.client_id)
    .bind(account.owner_id)
    .fetch_one(&mut **tx)
    .await
}

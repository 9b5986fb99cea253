//! KGeN accounts (one per phone, shared across games) and the link from a gamer to
//! one (`gamers.kgen_account_id`, unique per client).

use sqlx::AnyExecutor;

use super::Tx;

/// The KGeN account of `phone`, if one exists.
pub async fn account_of_phone<'e>(
    executor: impl AnyExecutor<'e>,
    phone: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select id from kgen_accounts where phone = $1")
        .bind(phone)
        .fetch_optional(executor)
        .await
}

/// The KGeN account this gamer of `client_id` is linked to, if any.
pub async fn account_of_gamer<'e>(
    executor: impl AnyExecutor<'e>,
    client_id: &str,
    gamer_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let linked: Option<Option<i64>> = sqlx::query_scalar(
        "select kgen_account_id
         from gamers
         where id = $1
           and client_id = $2",
    )
    .bind(gamer_id)
    .bind(client_id)
    .fetch_optional(executor)
    .await?;
    Ok(linked.flatten())
}

/// The gamer of `client_id` linked to KGeN account `account_id`, if any.
pub async fn gamer_of_account<'e>(
    executor: impl AnyExecutor<'e>,
    client_id: &str,
    account_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select id
         from gamers
         where client_id = $1
           and kgen_account_id = $2",
    )
    .bind(client_id)
    .bind(account_id)
    .fetch_optional(executor)
    .await
}

/// Creates the KGeN account of `phone`; `None` if another transaction created it
/// first (its row is committed by the time this returns).
pub async fn insert_account(
    tx: &mut Tx,
    kgen_id: &str,
    phone: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "insert into kgen_accounts (kgen_id, phone, created_at)
         values ($1, $2, $3)
         on conflict (phone) do nothing
         returning id",
    )
    .bind(kgen_id)
    .bind(phone)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
}

/// Sets a new KGeN account's wallet address.
pub async fn set_wallet_address(
    tx: &mut Tx,
    account_id: i64,
    address: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update kgen_accounts set wallet_address = $1 where id = $2")
        .bind(address)
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Links a gamer of `client_id` to a KGeN account, unless it is linked to another
/// one. Returns whether the gamer is now linked to `account_id`. A unique violation
/// means another gamer of the client holds this account.
pub async fn link_gamer(
    tx: &mut Tx,
    client_id: &str,
    gamer_id: i64,
    account_id: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update gamers
         set kgen_account_id = $1
         where id = $2
           and client_id = $3
           and (kgen_account_id is null or kgen_account_id = $1)",
    )
    .bind(account_id)
    .bind(gamer_id)
    .bind(client_id)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

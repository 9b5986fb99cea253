//! Game clients (tenants).

use sqlx::{AnyExecutor, AnyPool};

use super::Tx;

/// A stored game client.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientRow {
    /// Client id (UUID or an explicit id).
    pub id: String,
    /// Display name (`third_party_client_name`).
    pub name: String,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// KCash credited to each new gamer.
    pub welcome_bonus: i64,
    /// `minWalletBalToWithdraw`.
    pub min_withdraw: i64,
    /// 1 when disabled.
    pub is_disabled: i64,
    /// Address of the issuing account.
    pub issuing_address: String,
    /// Creation time, nanoseconds.
    pub created_at: i64,
}

macro_rules! client_columns {
    () => {
        "id, name, secret_hash, welcome_bonus, min_withdraw, is_disabled, issuing_address, created_at"
    };
}

const CLIENT_COLUMNS: &str = client_columns!();

/// The client with id `$1`, disabled or not.
pub const FIND_CLIENT_SQL: &str =
    concat!("select ", client_columns!(), " from clients where id = $1");

/// The next free address index for an issuing account.
pub async fn next_address_index(tx: &mut Tx) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select cast(coalesce(max(address_index), 0) + 1 as bigint) from clients")
        .fetch_one(&mut **tx)
        .await
}

/// Inserts a client; a duplicate id is a unique violation.
pub async fn insert_client(
    tx: &mut Tx,
    client: &ClientRow,
    address_index: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into clients (id, name, secret_hash, welcome_bonus, min_withdraw, is_disabled,
                              address_index, issuing_address, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&client.id)
    .bind(&client.name)
    .bind(&client.secret_hash)
    .bind(client.welcome_bonus)
    .bind(client.min_withdraw)
    .bind(client.is_disabled)
    .bind(address_index)
    .bind(&client.issuing_address)
    .bind(client.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The client with this id, disabled or not.
pub async fn find_client<'e>(
    executor: impl AnyExecutor<'e>,
    id: &str,
) -> Result<Option<ClientRow>, sqlx::Error> {
    sqlx::query_as(FIND_CLIENT_SQL)
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// Every client, oldest first.
pub async fn list_clients(pool: &AnyPool) -> Result<Vec<ClientRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {CLIENT_COLUMNS} from clients order by created_at, id"
    ))
    .fetch_all(pool)
    .await
}

/// Replaces the secret hash; false when there is no such client.
pub async fn set_secret_hash(pool: &AnyPool, id: &str, hash: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("update clients set secret_hash = $1 where id = $2")
        .bind(hash)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Disables a client; false when there is no such client.
pub async fn disable_client(pool: &AnyPool, id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("update clients set is_disabled = 1 where id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() == 1)
}

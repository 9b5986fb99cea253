//! Gamers (one per client + user id) and the KGeN accounts they link to.

use sqlx::AnyExecutor;

use super::Tx;

/// [`lock_gamer`]: `$1` client, `$2` user id, `$3` time.
pub const LOCK_GAMER_SQL: &str = "update gamers
         set lock_version = lock_version + 1, updated_at = $3
         where client_id = $1
           and user_id = $2
         returning id";

/// Inserts a gamer (`$1` client, `$2` user id, `$3` profile, `$4` time); no row if
/// one exists. The SQLite session writer's (`storage::lite::sessions`).
pub const INSERT_GAMER_SQL: &str =
    "insert into gamers (client_id, user_id, profile, created_at, updated_at)
         values ($1, $2, $3, $4, $4)
         on conflict (client_id, user_id) do nothing
         returning id";

/// Sets a new gamer's wallet address: `$1` address, `$2` gamer.
pub const SET_WALLET_ADDRESS_SQL: &str = "update gamers set wallet_address = $1 where id = $2";

/// Replaces a gamer's profile JSON: `$1` profile, `$2` gamer.
pub const SET_PROFILE_SQL: &str = "update gamers set profile = $1 where id = $2";

/// A gamer as a session sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GamerRow {
    /// Internal id.
    pub id: i64,
    /// The game's user id.
    pub user_id: String,
    /// Custodial wallet address.
    pub wallet_address: Option<String>,
    /// Profile fields, JSON.
    pub profile: String,
    /// Linked KGeN account id (`kgen_id`), if any.
    pub kgen_id: Option<String>,
    /// Linked KGeN wallet address.
    pub kgen_wallet_address: Option<String>,
    /// Linked phone, E.164.
    pub kgen_phone: Option<String>,
}

macro_rules! gamer_select {
    () => {
        "select g.id, g.user_id, g.wallet_address, g.profile,
        k.kgen_id, k.wallet_address as kgen_wallet_address, k.phone as kgen_phone
    from gamers g
    left join kgen_accounts k on k.id = g.kgen_account_id"
    };
}

/// [`find_gamer`]: `$1` gamer.
pub const FIND_GAMER_SQL: &str = concat!(gamer_select!(), " where g.id = $1");

/// Locks an existing gamer row for this transaction (the first write of every
/// transaction that changes a gamer's money or profile) and returns its id.
pub async fn lock_gamer(
    tx: &mut Tx,
    client_id: &str,
    user_id: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(LOCK_GAMER_SQL)
        .bind(client_id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
}

/// Locks a gamer row by id (see [`lock_gamer`]).
pub async fn lock_gamer_by_id(tx: &mut Tx, gamer_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update gamers set lock_version = lock_version + 1 where id = $1")
        .bind(gamer_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A gamer with its linked KGeN account, by id.
pub async fn find_gamer<'e>(
    executor: impl AnyExecutor<'e>,
    gamer_id: i64,
) -> Result<Option<GamerRow>, sqlx::Error> {
    sqlx::query_as(FIND_GAMER_SQL)
        .bind(gamer_id)
        .fetch_optional(executor)
        .await
}

//! Sessions and refresh tokens, and the per-request lookup that turns an access
//! token's session id into the calling gamer.

use sqlx::AnyExecutor;

use super::lite::{self, reader::LiteReader, reader::ReadFailed};
use super::Tx;

/// The gamer behind a live session of an enabled client.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionGamerRow {
    /// Session id.
    pub session_id: String,
    /// Internal gamer id.
    pub gamer_id: i64,
    /// Client id.
    pub client_id: String,
    /// Client name.
    pub client_name: String,
    /// The client's withdrawal threshold.
    pub min_withdraw: i64,
    /// The game's user id.
    pub user_id: String,
    /// Custodial wallet address.
    pub wallet_address: String,
    /// Linked KGeN account (internal id), if any.
    pub kgen_account_id: Option<i64>,
}

/// [`insert_session`]: `$1` id, `$2` client, `$3` gamer, `$4` time.
pub const INSERT_SESSION_SQL: &str = "insert into sessions (id, client_id, gamer_id, created_at)
         values ($1, $2, $3, $4)";

/// [`insert_refresh_token`]: `$1` hash, `$2` session, `$3` expiry, `$4` time.
pub const INSERT_REFRESH_TOKEN_SQL: &str =
    "insert into refresh_tokens (token_hash, session_id, expires_at, created_at)
         values ($1, $2, $3, $4)";

/// Inserts a session.
pub async fn insert_session(
    tx: &mut Tx,
    id: &str,
    client_id: &str,
    gamer_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_SESSION_SQL)
        .bind(id)
        .bind(client_id)
        .bind(gamer_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts a refresh token (by hash).
pub async fn insert_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
    session_id: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_REFRESH_TOKEN_SQL)
        .bind(token_hash)
        .bind(session_id)
        .bind(expires_at)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Marks an unused, unexpired refresh token used; returns its session id.
pub async fn spend_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "update refresh_tokens
         set used_at = $2
         where token_hash = $1
           and used_at is null
           and expires_at > $2
         returning session_id",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
}

/// The session of a refresh token that was already used, if it is one.
pub async fn session_of_spent_token(
    tx: &mut Tx,
    token_hash: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select session_id
         from refresh_tokens
         where token_hash = $1
           and used_at is not null",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await
}

/// Revokes a session and every refresh token it still has.
pub async fn revoke_session(tx: &mut Tx, session_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update sessions set revoked_at = $2 where id = $1 and revoked_at is null")
        .bind(session_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("update refresh_tokens set used_at = $2 where session_id = $1 and used_at is null")
        .bind(session_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// [`find_session_gamer`]: `$1` the session id; the columns in
/// [`SessionGamerRow`]'s order.
const FIND_SESSION_GAMER_SQL: &str =
    "select s.id as session_id, g.id as gamer_id, c.id as client_id, c.name as client_name,
            c.min_withdraw, g.user_id, g.wallet_address, g.kgen_account_id
     from sessions s
     join gamers g on g.id = s.gamer_id
     join clients c on c.id = s.client_id
     where s.id = $1
       and s.revoked_at is null
       and c.is_disabled = 0";

/// The gamer of a live (not revoked) session whose client is enabled.
pub async fn find_session_gamer<'e>(
    executor: impl AnyExecutor<'e>,
    session_id: &str,
) -> Result<Option<SessionGamerRow>, sqlx::Error> {
    sqlx::query_as(FIND_SESSION_GAMER_SQL)
        .bind(session_id)
        .fetch_optional(executor)
        .await
}

/// [`find_session_gamer`] on SQLite through the reader thread (see
/// [`lite::reader`]): what a request whose session left the cache reads.
pub async fn find_session_gamer_lite(
    reader: &LiteReader,
    session_id: &str,
) -> Result<Option<SessionGamerRow>, ReadFailed> {
    let session_id = session_id.to_owned();
    reader
        .read(move |conn| {
            lite::query_row(conn, FIND_SESSION_GAMER_SQL, &[&session_id], |row| {
                Ok(SessionGamerRow {
                    session_id: row.get(0)?,
                    gamer_id: row.get(1)?,
                    client_id: row.get(2)?,
                    client_name: row.get(3)?,
                    min_withdraw: row.get(4)?,
                    user_id: row.get(5)?,
                    wallet_address: row.get(6)?,
                    kgen_account_id: row.get(7)?,
                })
            })
        })
        .await
}

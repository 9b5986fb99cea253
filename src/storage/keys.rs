//! Token signing keys.

use sqlx::AnyExecutor;

use super::Tx;

/// A stored signing key.
#[derive(Clone, sqlx::FromRow)]
pub struct KeyRow {
    /// Key id (`kid`).
    pub id: String,
    /// ACCESS or STORE.
    pub purpose: String,
    /// Key material, base64 (HS256 secret or Ed25519 PKCS#8).
    pub secret: String,
    /// Ed25519 public key, base64url; "" for HS256.
    pub public_key: String,
    /// Creation time, nanoseconds.
    pub created_at: i64,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRow({}, {})", self.id, self.purpose)
    }
}

/// Stores a key.
pub async fn insert_key(tx: &mut Tx, key: &KeyRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into signing_keys (id, purpose, secret, public_key, created_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(&key.id)
    .bind(&key.purpose)
    .bind(&key.secret)
    .bind(&key.public_key)
    .bind(key.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The query of the newest key's id of a purpose, given as SQL text (a parameter,
/// or a literal where a statement has no parameter for it): which key is the
/// newest is decided here once, for [`NEWEST_KEY_ID_SQL`] and for the PostgreSQL
/// session statement, which reads it in the round trip that starts the session.
macro_rules! newest_key_id_sql {
    ($purpose:literal) => {
        concat!(
            "select id
     from signing_keys
     where purpose = ",
            $purpose,
            "
     order by created_at desc, id desc
     limit 1"
        )
    };
}
pub(crate) use newest_key_id_sql;

/// The id of the newest key of purpose `$1`.
pub const NEWEST_KEY_ID_SQL: &str = newest_key_id_sql!("$1");

/// The id of the newest key of `purpose`.
pub async fn newest_key_id<'e>(
    executor: impl AnyExecutor<'e>,
    purpose: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(NEWEST_KEY_ID_SQL)
        .bind(purpose)
        .fetch_optional(executor)
        .await
}

/// The key with this id.
pub async fn find_key<'e>(
    executor: impl AnyExecutor<'e>,
    id: &str,
) -> Result<Option<KeyRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, purpose, secret, public_key, created_at
         from signing_keys
         where id = $1",
    )
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// Every key of `purpose`, newest first.
pub async fn keys_of_purpose<'e>(
    executor: impl AnyExecutor<'e>,
    purpose: &str,
) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, purpose, secret, public_key, created_at
         from signing_keys
         where purpose = $1
         order by created_at desc, id desc",
    )
    .bind(purpose)
    .fetch_all(executor)
    .await
}

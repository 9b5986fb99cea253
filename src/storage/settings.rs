//! Server-wide values generated once and shared by every server of one database.

use sqlx::AnyPool;

/// The stored value of `name`, first storing `make()` if there is none yet. Safe
/// when several servers start at once: the first insert wins, all read it back.
pub async fn get_or_insert(
    pool: &AnyPool,
    name: &str,
    make: impl FnOnce() -> String,
) -> Result<String, sqlx::Error> {
    sqlx::query(
        "insert into settings (name, value)
         values ($1, $2)
         on conflict (name) do nothing",
    )
    .bind(name)
    .bind(make())
    .execute(pool)
    .await?;
    sqlx::query_scalar("select value from settings where name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
}

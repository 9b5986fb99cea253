//! Console storage (issue 11): operators and their games, console sessions, login
//! failures, the audit log and `ledger verify` runs; the console's reads of
//! gamers, withdrawals and adjustments live in [`reads`] and [`adjustments`], the
//! dashboard's in [`stats`].

pub mod adjustments;
pub mod reads;
pub mod rollup;
pub mod stats;

use sqlx::{AnyExecutor, AnyPool};

use super::Tx;

/// A stored operator.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OperatorRow {
    /// Internal id.
    pub id: i64,
    /// Email as given at creation.
    pub email: String,
    /// PHC string of the Argon2id hash.
    pub password_hash: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// 1 when disabled.
    pub is_disabled: i64,
    /// Creation time, nanoseconds.
    pub created_at: i64,
}

const OPERATOR_COLUMNS: &str = "id, email, password_hash, role, is_disabled, created_at";

/// Inserts an operator; a duplicate email (case-insensitive) is a unique violation.
pub async fn insert_operator(
    tx: &mut Tx,
    email: &str,
    password_hash: &str,
    role: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into operators (email, email_lower, password_hash, role, created_at)
         values ($1, $2, $3, $4, $5)
         returning id",
    )
    .bind(email)
    .bind(email.to_lowercase())
    .bind(password_hash)
    .bind(role)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// Scopes an operator to one game.
pub async fn insert_operator_client(
    tx: &mut Tx,
    operator_id: i64,
    client_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into operator_clients (operator_id, client_id) values ($1, $2)")
        .bind(operator_id)
        .bind(client_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The operator with this email (compared lower-cased).
pub async fn find_operator_by_email<'e>(
    executor: impl AnyExecutor<'e>,
    email: &str,
) -> Result<Option<OperatorRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {OPERATOR_COLUMNS} from operators where email_lower = $1"
    ))
    .bind(email.to_lowercase())
    .fetch_optional(executor)
    .await
}

/// Every operator, oldest first.
pub async fn list_operators(pool: &AnyPool) -> Result<Vec<OperatorRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {OPERATOR_COLUMNS} from operators order by id"
    ))
    .fetch_all(pool)
    .await
}

/// The games an operator is scoped to, sorted.
pub async fn operator_clients<'e>(
    executor: impl AnyExecutor<'e>,
    operator_id: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select client_id from operator_clients where operator_id = $1 order by client_id",
    )
    .bind(operator_id)
    .fetch_all(executor)
    .await
}

/// Disables an operator; false when there is none with this email.
pub async fn disable_operator(tx: &mut Tx, email: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("update operators set is_disabled = 1 where email_lower = $1 returning id")
        .bind(email.to_lowercase())
        .fetch_optional(&mut **tx)
        .await
}

/// Sets an operator's password hash; `None` when there is none with this email.
pub async fn set_password_hash(
    tx: &mut Tx,
    email: &str,
    password_hash: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "update operators set password_hash = $2 where email_lower = $1 returning id",
    )
    .bind(email.to_lowercase())
    .bind(password_hash)
    .fetch_optional(&mut **tx)
    .await
}

/// A console session with its operator.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConsoleSessionRow {
    /// SHA-256 of the session id, hex.
    pub id_hash: String,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// Last use, nanoseconds.
    pub last_seen_at: i64,
    /// The operator's id.
    pub operator_id: i64,
    /// The operator's email.
    pub email: String,
    /// The operator's role.
    pub role: String,
    /// 1 when the operator is disabled.
    pub is_disabled: i64,
}

/// Inserts a console session.
pub async fn insert_session(
    tx: &mut Tx,
    id_hash: &str,
    operator_id: i64,
    csrf_token: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into console_sessions (id_hash, operator_id, csrf_token, created_at, last_seen_at)
         values ($1, $2, $3, $4, $4)",
    )
    .bind(id_hash)
    .bind(operator_id)
    .bind(csrf_token)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The session with this id hash and its operator.
pub async fn find_session<'e>(
    executor: impl AnyExecutor<'e>,
    id_hash: &str,
) -> Result<Option<ConsoleSessionRow>, sqlx::Error> {
    sqlx::query_as(
        "select s.id_hash, s.csrf_token, s.last_seen_at, o.id as operator_id, o.email, o.role,
                o.is_disabled
         from console_sessions s
         join operators o on o.id = s.operator_id
         where s.id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(executor)
    .await
}

/// Records a use of a session.
pub async fn touch_session(pool: &AnyPool, id_hash: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update console_sessions set last_seen_at = $2 where id_hash = $1")
        .bind(id_hash)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends one session.
pub async fn delete_session<'e>(
    executor: impl AnyExecutor<'e>,
    id_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from console_sessions where id_hash = $1")
        .bind(id_hash)
        .execute(executor)
        .await?;
    Ok(())
}

/// Ends every session of an operator.
pub async fn delete_operator_sessions(tx: &mut Tx, operator_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("delete from console_sessions where operator_id = $1")
        .bind(operator_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Times of the failed logins of an email since `since`, oldest first.
pub async fn login_failures_since<'e>(
    executor: impl AnyExecutor<'e>,
    email_lower: &str,
    since: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select failed_at
         from console_login_failures
         where email_lower = $1
           and failed_at >= $2
         order by failed_at",
    )
    .bind(email_lower)
    .bind(since)
    .fetch_all(executor)
    .await
}

/// Records a failed login.
pub async fn insert_login_failure<'e>(
    executor: impl AnyExecutor<'e>,
    email_lower: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into console_login_failures (email_lower, failed_at) values ($1, $2)")
        .bind(email_lower)
        .bind(now)
        .execute(executor)
        .await?;
    Ok(())
}

/// Clears an email's failed logins.
pub async fn clear_login_failures<'e>(
    executor: impl AnyExecutor<'e>,
    email_lower: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from console_login_failures where email_lower = $1")
        .bind(email_lower)
        .execute(executor)
        .await?;
    Ok(())
}

/// One audit log entry.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRow {
    /// Position (grows with every entry).
    pub id: i64,
    /// Time, nanoseconds.
    pub at: i64,
    /// Operator email, or `cli`.
    pub operator: String,
    /// What was done, e.g. `event.upsert`.
    pub action: String,
    /// The game it concerned, if any.
    pub client_id: Option<String>,
    /// What it was done to (an event id, a user id, an email).
    pub target: String,
    /// Details, JSON text.
    pub detail: String,
}

/// Appends an audit entry (`id` is assigned).
pub async fn insert_audit<'e>(
    executor: impl AnyExecutor<'e>,
    entry: &AuditRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into audit_log (at, operator, action, client_id, target, detail)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.at)
    .bind(&entry.operator)
    .bind(&entry.action)
    .bind(&entry.client_id)
    .bind(&entry.target)
    .bind(&entry.detail)
    .execute(executor)
    .await?;
    Ok(())
}

/// Which audit entries a page may show.
#[derive(Clone, Copy, Debug)]
pub enum AuditScope<'a> {
    /// Every entry (platform admins, no filter).
    All,
    /// The entries of one game.
    Client(&'a str),
    /// The entries of these games (a scoped operator, no filter).
    Clients(&'a [String]),
}

/// One page of the audit log, newest first, with `id` below `before`.
pub async fn list_audit(
    pool: &AnyPool,
    scope: AuditScope<'_>,
    before: i64,
    limit: u32,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    const COLUMNS: &str = "id, at, operator, action, client_id, target, detail";
    let limit = i64::from(limit);
    match scope {
        AuditScope::All => {
            sqlx::query_as(&format!(
                "select {COLUMNS} from audit_log where id < $1 order by id desc limit $2"
            ))
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        AuditScope::Client(client_id) => {
            sqlx::query_as(&format!(
                "select {COLUMNS} from audit_log where client_id = $1 and id < $2
                 order by id desc limit $3"
            ))
            .bind(client_id)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        AuditScope::Clients(clients) => {
            // A scoped operator has a handful of games: one bounded index read each.
            let mut rows = Vec::new();
            for client_id in clients {
                rows.extend(
                    Box::pin(list_audit(
                        pool,
                        AuditScope::Client(client_id),
                        before,
                        limit as u32,
                    ))
                    .await?,
                );
            }
            rows.sort_by_key(|row| std::cmp::Reverse(row.id));
            rows.truncate(limit as usize);
            Ok(rows)
        }
    }
}

/// Records one `ledger verify` run.
pub async fn insert_verification(
    pool: &AnyPool,
    at: i64,
    ok: bool,
    summary: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into ledger_verifications (at, ok, summary) values ($1, $2, $3)")
        .bind(at)
        .bind(i64::from(ok))
        .bind(summary)
        .execute(pool)
        .await?;
    Ok(())
}

/// The last `ledger verify` run: time, whether all held, the printed summary.
pub async fn last_verification(pool: &AnyPool) -> Result<Option<(i64, i64, String)>, sqlx::Error> {
    sqlx::query_as("select at, ok, summary from ledger_verifications order by id desc limit 1")
        .fetch_optional(pool)
        .await
}

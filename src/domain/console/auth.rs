//! Console sign-in: login with throttling per lower-cased email (counted in the
//! database, so it holds across servers), cookie sessions stored by the SHA-256 of
//! their random id, idle expiry, a CSRF token per session, logout.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::audit::{self, Actor};
use super::operators::{self, Role};
use crate::domain::{Error, Result};
use crate::storage::console::{self as store, ConsoleSessionRow};
use crate::storage::{self, Db};

/// Failed logins of one email that close it for a while.
pub const LOGIN_FAILURES_MAX: usize = 5;

/// The window over which failed logins count.
pub const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A session's last use is written again only after this long, so that a busy
/// page does not write on every request (idle expiry is this much coarser).
const TOUCH_INTERVAL_NANOS: i64 = 10_000_000_000;

/// An operator signed in through a console session.
#[derive(Clone, Debug)]
pub struct ConsoleOperator {
    /// Operator id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Scoped games (empty for a platform admin).
    pub clients: Vec<String>,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// SHA-256 of the session id (to end it).
    pub session_hash: String,
}

impl ConsoleOperator {
    /// An admin with no games named: every game, plus games and keys.
    pub fn is_platform_admin(&self) -> bool {
        self.role == Role::Admin && self.clients.is_empty()
    }

    /// Whether this operator may see `client_id` (not whether it exists).
    pub fn may_see(&self, client_id: &str) -> bool {
        self.is_platform_admin() || self.clients.iter().any(|c| c == client_id)
    }

    /// Who to write in the audit log.
    pub fn actor(&self) -> Actor {
        Actor::Operator(self.email.clone())
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        self.csrf_token.as_bytes().ct_eq(token.as_bytes()).into()
    }
}

/// A new login: the session id for the cookie, and who signed in.
#[derive(Debug)]
pub struct Login {
    /// The cookie value (shown once, stored only hashed).
    pub session_id: String,
    /// The operator.
    pub operator: ConsoleOperator,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_session_id(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// Refuses with 429 while `email_lower` has too many recent failures.
async fn check_throttle(db: &Db, email_lower: &str, now: i64) -> Result<()> {
    let window = nanos(LOGIN_FAILURE_WINDOW);
    let failures = store::login_failures_since(db.writer(), email_lower, now - window).await?;
    if failures.len() < LOGIN_FAILURES_MAX {
        return Ok(());
    }
    let oldest = failures[0];
    let wait = (oldest + window - now).max(1_000_000_000);
    Err(Error::TooManyRequests {
        retry_after: Duration::from_nanos(u64::try_from(wait).unwrap_or(1)),
    })
}

/// Checks an email and password; on success starts a new session.
pub async fn login(db: &Db, email: &str, password: &str) -> Result<Login> {
    let email_lower = email.trim().to_lowercase();
    let now = storage::now_nanos();
    check_throttle(db, &email_lower, now).await?;
    let operator = store::find_operator_by_email(db.reader(), &email_lower).await?;
    let stored = operator.as_ref().map_or_else(
        || operators::decoy_hash().to_owned(),
        |o| o.password_hash.clone(),
    );
    let password = password.to_owned();
    let matches =
        tokio::task::spawn_blocking(move || operators::password_matches(&password, &stored))
            .await
            .map_err(|e| anyhow::anyhow!("password check: {e}"))?;
    let operator = match operator {
        Some(operator) if matches && operator.is_disabled == 0 => operator,
        _ => {
            store::insert_login_failure(db.writer(), &email_lower, now).await?;
            let actor = Actor::Operator(email_lower.clone());
            let detail = serde_json::json!({});
            audit::record(db, &actor, "login.failed", None, &email_lower, detail).await?;
            return Err(Error::Unauthorized);
        }
    };
    let session_id = random_token();
    let csrf_token = random_token();
    let session_hash = hash_session_id(&session_id);
    let clients = store::operator_clients(db.reader(), operator.id).await?;
    let mut tx = db.begin().await?;
    store::clear_login_failures(&mut *tx, &email_lower).await?;
    store::insert_session(&mut tx, &session_hash, operator.id, &csrf_token, now).await?;
    let actor = Actor::Operator(operator.email.clone());
    let detail = serde_json::json!({});
    audit::record_in(&mut tx, &actor, "login", None, &operator.email, detail, now).await?;
    tx.commit().await?;
    Ok(Login {
        session_id,
        operator: ConsoleOperator {
            id: operator.id,
            email: operator.email,
            role: Role::parse(&operator.role)?,
            clients,
            csrf_token,
            session_hash,
        },
    })
}

/// The operator of a live session: not idle past `idle`, operator enabled.
pub async fn authenticate(db: &Db, session_id: &str, idle: Duration) -> Result<ConsoleOperator> {
    let session_hash = hash_session_id(session_id);
    let session: ConsoleSessionRow = store::find_session(db.reader(), &session_hash)
        .await?
        .ok_or(Error::Unauthorized)?;
    let now = storage::now_nanos();
    if session.is_disabled != 0 {
        return Err(Error::Unauthorized);
    }
    if now - session.last_seen_at > nanos(idle) {
        store::delete_session(db.writer(), &session_hash).await?;
        return Err(Error::Unauthorized);
    }
    if now - session.last_seen_at > TOUCH_INTERVAL_NANOS {
        store::touch_session(db.writer(), &session_hash, now).await?;
    }
    let clients = store::operator_clients(db.reader(), session.operator_id).await?;
    Ok(ConsoleOperator {
        id: session.operator_id,
        email: session.email,
        role: Role::parse(&session.role)?,
        clients,
        csrf_token: session.csrf_token,
        session_hash,
    })
}

/// Ends the operator's current session.
pub async fn logout(db: &Db, operator: &ConsoleOperator) -> Result<()> {
    store::delete_session(db.writer(), &operator.session_hash).await?;
    let detail = serde_json::json!({});
    audit::record(
        db,
        &operator.actor(),
        "logout",
        None,
        &operator.email,
        detail,
    )
    .await
}

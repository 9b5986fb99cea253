//! Operators: the people who use the console. Created, listed, disabled and given
//! new passwords by the `operators` CLI; passwords are generated, shown once and
//! stored as Argon2id hashes. Disabling or resetting ends the operator's console
//! sessions at once (sessions are database rows, checked on every request).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;

use super::audit::{self, Actor};
use crate::domain::clients::Secret;
use crate::domain::{Error, Result};
use crate::storage::console::{self as store, OperatorRow};
use crate::storage::{self, Db};

/// Length of a generated operator password (base62 characters, ~143 bits).
pub const PASSWORD_CHARS: usize = 24;

/// What an operator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads and changes.
    Admin,
}

impl Role {
    /// The role named `text` (`admin` or `viewer`).
    pub fn parse(text: &str) -> Result<Role> {
        match text {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(Error::BadRequest(format!(
                "role must be admin or viewer, not {other:?}"
            ))),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// An operator with the games it is scoped to.
#[derive(Clone, Debug)]
pub struct Operator {
    /// The stored row.
    pub row: OperatorRow,
    /// Its games (empty: every game, for an admin).
    pub clients: Vec<String>,
}

/// Hashes a password with Argon2id (the crate's defaults: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC hash (a broken hash never matches).
pub fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash no password is checked against successfully, so that an unknown email
/// costs the same time as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password(&generate_password()).expect("hashing a random password works")
    })
}

/// A new random password.
fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, PASSWORD_CHARS)
}

fn check_email(email: &str) -> Result<()> {
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "{email:?} is not an email address"
        )))
    }
}

/// Creates an operator with a generated password (returned, shown once).
pub async fn create_operator(
    db: &Db,
    email: &str,
    role: Role,
    clients: &[String],
) -> Result<(Operator, Secret)> {
    check_email(email)?;
    if role == Role::Viewer && clients.is_empty() {
        return Err(Error::BadRequest(
            "a viewer needs at least one --client".to_owned(),
        ));
    }
    let password = generate_password();
    let hash = hash_password(&password)?;
    let now = storage::now_nanos();
    let mut tx = db.begin().await?;
    let id = match store::insert_operator(&mut tx, email, &hash, role.as_str(), now).await {
        Err(error) if storage::is_unique_violation(&error) => {
            return Err(Error::BadRequest(format!(
                "an operator with email {email} already exists"
            )))
        }
        other => other?,
    };
    let mut scoped: Vec<String> = clients.to_vec();
    scoped.sort();
    scoped.dedup();
    for client_id in &scoped {
        if crate::storage::clients::find_client(&mut *tx, client_id)
            .await?
            .is_none()
        {
            return Err(Error::BadRequest(format!("unknown client {client_id}")));
        }
        store::insert_operator_client(&mut tx, id, client_id).await?;
    }
    let detail = serde_json::json!({"role": role.as_str(), "clients": scoped});
    audit::record_in(
        &mut tx,
        &Actor::Cli,
        "operator.create",
        None,
        email,
        detail,
        now,
    )
    .await?;
    tx.commit().await?;
    let row = OperatorRow {
        id,
        email: email.to_owned(),
        password_hash: hash,
        role: role.as_str().to_owned(),
        is_disabled: 0,
        created_at: now,
    };
    Ok((
        Operator {
            row,
            clients: scoped,
        },
        Secret::from_generated(password),
    ))
}

/// Every operator with its games, oldest first.
pub async fn list_operators(db: &Db) -> Result<Vec<Operator>> {
    let mut operators = Vec::new();
    for row in store::list_operators(db.reader()).await? {
        let clients = store::operator_clients(db.reader(), row.id).await?;
        operators.push(Operator { row, clients });
    }
    Ok(operators)
}

/// Disables an operator and ends its sessions.
pub async fn disable_operator(db: &Db, email: &str) -> Result<()> {
    let now = storage::now_nanos();
    let mut tx = db.begin().await?;
    let id = store::disable_operator(&mut tx, email)
        .await?
        .ok_or(Error::NotFound)?;
    store::delete_operator_sessions(&mut tx, id).await?;
    let detail = serde_json::json!({});
    audit::record_in(
        &mut tx,
        &Actor::Cli,
        "operator.disable",
        None,
        email,
        detail,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Gives an operator a new generated password, ends its sessions and clears its
/// failed logins.
pub async fn reset_password(db: &Db, email: &str) -> Result<Secret> {
    let password = generate_password();
    let hash = hash_password(&password)?;
    let now = storage::now_nanos();
    let mut tx = db.begin().await?;
    let id = store::set_password_hash(&mut tx, email, &hash)
        .await?
        .ok_or(Error::NotFound)?;
    store::delete_operator_sessions(&mut tx, id).await?;
    store::clear_login_failures(&mut *tx, &email.to_lowercase()).await?;
    let detail = serde_json::json!({});
    audit::record_in(
        &mut tx,
        &Actor::Cli,
        "operator.reset_password",
        None,
        email,
        detail,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Secret::from_generated(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches("correct horse", &hash));
        assert!(!password_matches("wrong horse", &hash));
        assert!(!password_matches("correct horse", "not a hash"));
    }

    #[test]
    fn roles_and_emails_are_checked() {
        assert_eq!(Role::parse("admin").unwrap(), Role::Admin);
        assert!(Role::parse("root").is_err());
        assert!(check_email("ops@studio.example").is_ok());
        assert!(check_email("no-at-sign").is_err());
        assert!(check_email("a b@c").is_err());
    }
}

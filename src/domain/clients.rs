//! Game clients: creation with a random secret (shown once, stored as SHA-256),
//! authentication of server-to-server calls, rotation and disabling.
//!
//! The secret is ~250 bits of randomness, so a fast hash is as safe as a slow KDF
//! here (nobody can brute-force the preimage) and keeps every s2s request cheap.

use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::address::{AddressDeriver, Branch};
use super::text::{check_required_text, TextKind};
use super::{Error, Result};
use crate::storage::clients::{self as store, ClientRow};
use crate::storage::console::reads;
use crate::storage::{self, ledger, Db};

/// Length of a generated client secret (base62 characters).
pub const SECRET_CHARS: usize = 42;

/// A secret that never shows itself in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, to show once to the operator.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Wraps a freshly generated secret (an operator password, say).
    pub fn from_generated(secret: String) -> Secret {
        Secret(secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What the operator asks for with `clients create`.
#[derive(Clone, Debug)]
pub struct NewClient {
    /// Explicit id (for migrations); a UUID when absent.
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// Welcome bonus for new gamers.
    pub welcome_bonus: i64,
    /// `minWalletBalToWithdraw`.
    pub min_withdraw: i64,
}

/// A new random client secret.
pub fn generate_secret() -> Secret {
    Secret(Alphanumeric.sample_string(&mut rand::rngs::OsRng, SECRET_CHARS))
}

/// SHA-256 of a secret, hex: what is stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored_hash`, compared in constant time.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    hash_secret(secret)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

fn check_client_id(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(Error::BadRequest(
            "client id must be 1-64 characters of A-Z, a-z, 0-9, '-', '_' or '.'".to_owned(),
        ))
    }
}

/// A game (tenant) as the domain sees it: what its gamers' requests need, and no
/// secret hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// Client id (UUID or an explicit id).
    pub id: String,
    /// Display name (`third_party_client_name`).
    pub name: String,
    /// KCash credited to each new gamer.
    pub welcome_bonus: i64,
    /// `minWalletBalToWithdraw`.
    pub min_withdraw: i64,
    /// Whether the operator disabled it.
    pub is_disabled: bool,
    /// Address of the issuing account.
    pub issuing_address: String,
    /// Creation time, nanoseconds.
    pub created_at: i64,
}

impl From<ClientRow> for Client {
    fn from(row: ClientRow) -> Client {
        Client {
            id: row.id,
            name: row.name,
            welcome_bonus: row.welcome_bonus,
            min_withdraw: row.min_withdraw,
            is_disabled: row.is_disabled != 0,
            issuing_address: row.issuing_address,
            created_at: row.created_at,
        }
    }
}

/// The client `id`, enabled or not.
pub async fn find_client(db: &Db, id: &str) -> Result<Option<Client>> {
    Ok(store::find_client(db.reader(), id).await?.map(Client::from))
}

/// Every client, for platform admins.
pub async fn all_clients(db: &Db) -> Result<Vec<Client>> {
    let rows = reads::all_clients(db.reader()).await?;
    Ok(rows.into_iter().map(Client::from).collect())
}

/// Creates a client with its issuing account; returns it with its secret.
pub async fn create_client(
    db: &Db,
    deriver: &AddressDeriver,
    new: NewClient,
) -> Result<(Client, Secret)> {
    let id = new.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    check_client_id(&id)?;
    check_required_text("name", &new.name, 128, TextKind::Line)?;
    for (field, value) in [
        ("welcome bonus", new.welcome_bonus),
        ("min withdraw", new.min_withdraw),
    ] {
        if !(0..=super::money::AMOUNT_MAX).contains(&value) {
            return Err(Error::BadRequest(format!(
                "{field} must be a whole number from 0 to {}",
                super::money::AMOUNT_MAX
            )));
        }
    }
    let secret = generate_secret();
    let mut tx = db.begin().await?;
    let address_index = store::next_address_index(&mut tx).await?;
    let now = storage::now_nanos();
    let client = ClientRow {
        id,
        name: new.name,
        secret_hash: hash_secret(secret.expose()),
        welcome_bonus: new.welcome_bonus,
        min_withdraw: new.min_withdraw,
        is_disabled: 0,
        issuing_address: deriver.address(Branch::Issuing, address_index)?,
        created_at: now,
    };
    match store::insert_client(&mut tx, &client, address_index).await {
        Err(error) if storage::is_unique_violation(&error) => {
            return Err(Error::BadRequest(format!(
                "a client with id {} already exists",
                client.id
            )))
        }
        other => other?,
    }
    ledger::insert_issuing_accounts(&mut tx, &client.id, &client.issuing_address, now).await?;
    tx.commit().await?;
    Ok((client.into(), secret))
}

/// The enabled client whose id and secret these are; `Unauthorized` otherwise.
pub async fn authenticate(db: &Db, id: &str, secret: &str) -> Result<Client> {
    Ok(authenticated_row(db, id, secret).await?.into())
}

/// The row of the enabled client whose id and secret these are, read now;
/// `Unauthorized` otherwise.
async fn authenticated_row(db: &Db, id: &str, secret: &str) -> Result<ClientRow> {
    let row = store::find_client(db.reader(), id)
        .await?
        .ok_or(Error::Unauthorized)?;
    if row.is_disabled != 0 || !secret_matches(secret, &row.secret_hash) {
        return Err(Error::Unauthorized);
    }
    Ok(row)
}

/// The client of a session start, with the hash of the secret that authenticated
/// it: on SQLite the session's job checks that hash against the client row again,
/// inside its write transaction (`domain::sessions`).
#[derive(Clone, Debug)]
pub struct SessionClient {
    /// The client, as read or remembered when its secret matched.
    pub client: Client,
    /// SHA-256 of the secret presented (hex), as the row stored it then.
    pub(crate) secret_hash: String,
}

/// Authenticates the client of a session start. On SQLite the row may come from
/// memory (`storage::lite::clients::KnownClients`) when the secret matches it: the
/// session's job reads the row again in its transaction, refuses the session if
/// the secret changed or the client was disabled since (by this server or another
/// process), and takes the client's name and welcome bonus from that read. A
/// secret that does not match what is remembered is checked against the database.
/// On PostgreSQL, as [`authenticate`].
pub async fn authenticate_session_start(db: &Db, id: &str, secret: &str) -> Result<SessionClient> {
    let Some(known) = db.lite().map(|writer| writer.known_clients()) else {
        return Ok(authenticated_row(db, id, secret).await?.into());
    };
    if let Some(row) = known.get(id) {
        if row.is_disabled == 0 && secret_matches(secret, &row.secret_hash) {
            return Ok(row.into());
        }
    }
    let row = authenticated_row(db, id, secret).await?;
    known.remember(row.clone());
    Ok(row.into())
}

impl From<ClientRow> for SessionClient {
    fn from(row: ClientRow) -> SessionClient {
        SessionClient {
            secret_hash: row.secret_hash.clone(),
            client: row.into(),
        }
    }
}

/// Drops what this server remembers of client `id` after it changed it (a change
/// by another process is caught by the session job's own read).
fn forget_known(db: &Db, id: &str) {
    if let Some(writer) = db.lite() {
        writer.known_clients().forget(id);
    }
}

/// A client as stored, for a session start without its secret: the operator's
/// own tools (the benchmark), which hold the database anyway.
pub async fn find_session_client(db: &Db, id: &str) -> Result<Option<SessionClient>> {
    Ok(store::find_client(db.reader(), id)
        .await?
        .map(SessionClient::from))
}

/// Gives a client a new secret; the old one stops working at once.
pub async fn rotate_secret(db: &Db, id: &str) -> Result<Secret> {
    let secret = generate_secret();
    if store::set_secret_hash(db.writer(), id, &hash_secret(secret.expose())).await? {
        forget_known(db, id);
        Ok(secret)
    } else {
        Err(Error::NotFound)
    }
}

/// Disables a client: its secret and its gamers' tokens stop working.
pub async fn disable_client(db: &Db, id: &str) -> Result<()> {
    if store::disable_client(db.writer(), id).await? {
        forget_known(db, id);
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_base62_and_hash_compare() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.expose().len(), SECRET_CHARS);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        let hash = hash_secret(a.expose());
        assert!(secret_matches(a.expose(), &hash));
        assert!(!secret_matches(b.expose(), &hash));
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn client_ids_allow_uuids_and_numbers_only() {
        assert!(check_client_id("d5b2e760-1b6c-4296-a89f-1da0ffe8c414").is_ok());
        assert!(check_client_id("2079857813").is_ok());
        assert!(check_client_id("").is_err());
        assert!(check_client_id("a#b").is_err());
        assert!(check_client_id("a b").is_err());
    }
}

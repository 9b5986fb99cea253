//! Gamer sessions (CONTRACT section 2 and "Tokens"): the first session of a user
//! creates the gamer, its custodial wallet and the welcome-bonus transfer, all in one
//! transaction; every session issues an access token and a refresh token. Refresh
//! tokens are single-use and rotated; presenting a spent one revokes the session.
//! The profile is in `profile`; a session start's writes in `lite` (SQLite, on the
//! group-commit writer) and `pg` (PostgreSQL, one statement); checking an access
//! token in `domain::auth`.

mod lite;
mod pg;
mod profile;

pub(crate) use profile::with_profile_fields;
pub use profile::{Profile, ScreenSize};

use std::time::Duration;

use super::address::Branch;
use super::auth::SessionCache;
use super::clients::{Client, SessionClient};
use super::error::retry_on_contention;
use super::ledger;
use super::secrets::ServerKeys;
use super::tokens::{self, AccessClaims, KeyRing, Purpose, SigningKey};
use super::{Error, Result};
use crate::storage::gamers::{self, GamerRow};
use crate::storage::sessions::{self as store, SessionGamerRow};
use crate::storage::{self, Db};

/// Token lifetimes from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct TokenTtls {
    /// Access token lifetime.
    pub access: Duration,
    /// Refresh token lifetime.
    pub refresh: Duration,
}

/// What a new session returns.
#[derive(Debug)]
pub struct StartedSession {
    /// The client, as the session's transaction read it.
    pub client: Client,
    /// Session id.
    pub session_id: String,
    /// The gamer, with its linked KGeN account.
    pub gamer: GamerRow,
    /// The gamer's profile after this session's update.
    pub profile: Profile,
    /// Whether this session created the gamer.
    pub is_new_user: bool,
    /// Access token (JWT).
    pub access_token: String,
    /// Opaque refresh token (shown once, stored hashed).
    pub refresh_token: String,
    /// Session start, nanoseconds.
    pub started_at: i64,
    /// KCash credited as welcome bonus by this session (0 for existing gamers).
    pub welcome_bonus_credited: i64,
}

/// A rotated token pair.
#[derive(Debug)]
pub struct RefreshedTokens {
    /// New access token (same `sid`).
    pub access_token: String,
    /// New refresh token.
    pub refresh_token: String,
    /// Access-token lifetime, seconds.
    pub expires_in: u64,
}

/// Starts a session for `user_id` of `client`, creating the gamer on first call.
pub async fn start_session(
    db: &Db,
    keys: &ServerKeys,
    ring: &KeyRing,
    ttls: TokenTtls,
    client: &SessionClient,
    user_id: &str,
    update: &Profile,
) -> Result<StartedSession> {
    let session_id = super::ids::new_id().to_string();
    let refresh_token = tokens::generate_refresh_token();
    let refresh_hash = tokens::hash_refresh_token(&refresh_token);
    let (written, client, key) = match db.lite() {
        Some(writer) => {
            let ids = writer.gamer_ids();
            let reserved = ids
                .take(db.reader(), |id| keys.addresses.address(Branch::Gamer, id))
                .await?;
            let job = lite::SessionJob {
                addresses: keys.addresses.clone(),
                ttls,
                client: client.clone(),
                user_id: user_id.to_owned(),
                update: update.clone(),
                session_id: session_id.clone(),
                refresh_hash,
                reserved: reserved.clone(),
            };
            let outcome = writer.write(move |conn| job.run(conn)).await?;
            let (written, fresh, kid) = match outcome {
                Ok(done) => done,
                Err(error) => {
                    ids.give_back(reserved);
                    if matches!(error, Error::Unauthorized) {
                        writer.known_clients().forget(&client.client.id);
                    }
                    return Err(error);
                }
            };
            if !written.2 {
                // The gamer existed: the next new one gets the id.
                ids.give_back(reserved);
            }
            let key = ring.listed(db, &kid).await?;
            (written, fresh, key)
        }
        None => {
            let (Some(lanes), Some(ids)) = (db.lanes(), db.gamer_ids()) else {
                return Err(
                    anyhow::anyhow!("a PostgreSQL database has lanes and gamer ids").into(),
                );
            };
            let start = pg::Start {
                addresses: &keys.addresses,
                ttls,
                client: &client.client,
                user_id,
                update,
                session_id: &session_id,
                refresh_hash: &refresh_hash,
            };
            let (written, kid) = retry_on_contention(|| start.run(db, lanes, ids)).await?;
            let key = ring.listed(db, &kid).await?;
            (written, client.client.clone(), key)
        }
    };
    let (gamer, profile, is_new_user, started_at, bonus) = written;
    if is_new_user {
        // The welcome bonus: a new wallet has no cached reads, but say so anyway.
        db.wallet_changed(gamer.id);
    }
    let claims = access_claims(
        &client.id,
        &client.name,
        &gamer,
        &session_id,
        is_new_user,
        started_at,
        ttls,
    );
    let access_token = tokens::sign_access(&key, &claims)?;
    Ok(StartedSession {
        client,
        session_id,
        gamer,
        profile,
        is_new_user,
        access_token,
        refresh_token,
        started_at,
        welcome_bonus_credited: bonus,
    })
}

/// The gamer, its profile, whether it is new, the start time and the bonus credited.
pub(crate) type WrittenSession = (GamerRow, Profile, bool, i64, i64);

/// The welcome bonus of a new gamer of `client`.
fn welcome_bonus<'a>(
    client: &'a Client,
    gamer_id: i64,
    uid: &'a str,
    now: i64,
) -> ledger::Move<'a> {
    ledger::welcome_bonus(
        &client.id,
        &client.name,
        gamer_id,
        client.welcome_bonus,
        uid,
        now,
    )
}

/// The `welcome_bonus.granted` webhook's data.
fn welcome_data(client: &Client, user_id: &str, uid: &str, address: &str) -> serde_json::Value {
    serde_json::json!({
        "userID": user_id,
        "amount": client.welcome_bonus,
        "uid": uid,
        "walletAddress": address,
    })
}

pub(crate) fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// The claims of an access token for this gamer's session.
fn access_claims(
    client_id: &str,
    client_name: &str,
    gamer: &GamerRow,
    session_id: &str,
    is_new_user: bool,
    now: i64,
    ttls: TokenTtls,
) -> AccessClaims {
    let iat = now.div_euclid(1_000_000_000);
    AccessClaims {
        sub: gamer.user_id.clone(),
        user_id: gamer.user_id.clone(),
        client_id: client_id.to_owned(),
        iss: client_id.to_owned(),
        third_party_client_id: client_id.to_owned(),
        third_party_client_name: client_name.to_owned(),
        namespaced_third_party_user_id: format!("{client_id}#{}", gamer.user_id),
        wallet_address: gamer.wallet_address.clone().unwrap_or_default(),
        is_new_user,
        iat,
        exp: iat.saturating_add(i64::try_from(ttls.access.as_secs()).unwrap_or(i64::MAX)),
        sid: session_id.to_owned(),
    }
}

/// Exchanges a refresh token for a new token pair of the same session. A spent
/// token revokes the session (theft detection); that revocation is committed even
/// though the request is refused.
pub async fn refresh(
    db: &Db,
    ring: &KeyRing,
    cache: &SessionCache,
    ttls: TokenTtls,
    refresh_token: &str,
) -> Result<RefreshedTokens> {
    let key: std::sync::Arc<SigningKey> = ring.current(db, Purpose::Access).await?;
    let hash = tokens::hash_refresh_token(refresh_token);
    let new_token = tokens::generate_refresh_token();
    let new_hash = tokens::hash_refresh_token(&new_token);
    let rotated = retry_on_contention(|| rotate_refresh_token(db, ttls, &hash, &new_hash)).await?;
    let (session, gamer) = match rotated {
        Rotation::Rotated(rotated) => *rotated,
        Rotation::Revoked(session_id) => {
            cache.invalidate(&session_id);
            return Err(Error::Unauthorized);
        }
        Rotation::Refused => return Err(Error::Unauthorized),
    };
    let now = storage::now_nanos();
    let claims = access_claims(
        &session.client_id,
        &session.client_name,
        &gamer,
        &session.session_id,
        false,
        now,
        ttls,
    );
    Ok(RefreshedTokens {
        access_token: tokens::sign_access(&key, &claims)?,
        refresh_token: new_token,
        expires_in: ttls.access.as_secs(),
    })
}

/// What presenting a refresh token did.
enum Rotation {
    /// Spent, and a new one issued: the session and its gamer.
    Rotated(Box<(SessionGamerRow, GamerRow)>),
    /// It was spent before: the session (id) is now revoked.
    Revoked(String),
    /// Unknown, expired, or of a dead session.
    Refused,
}

async fn rotate_refresh_token(
    db: &Db,
    ttls: TokenTtls,
    hash: &str,
    new_hash: &str,
) -> Result<Rotation> {
    let now = storage::now_nanos();
    let mut tx = db.begin().await?;
    let Some(session_id) = store::spend_refresh_token(&mut tx, hash, now).await? else {
        if let Some(session_id) = store::session_of_spent_token(&mut tx, hash).await? {
            tracing::warn!(session_id, "refresh token reused: revoking the session");
            store::revoke_session(&mut tx, &session_id, now).await?;
            tx.commit().await?;
            return Ok(Rotation::Revoked(session_id));
        }
        return Ok(Rotation::Refused);
    };
    let Some(session) = store::find_session_gamer(&mut *tx, &session_id).await? else {
        return Ok(Rotation::Refused);
    };
    let Some(gamer) = gamers::find_gamer(&mut *tx, session.gamer_id).await? else {
        return Ok(Rotation::Refused);
    };
    let expires_at = now.saturating_add(nanos(ttls.refresh));
    store::insert_refresh_token(&mut tx, new_hash, &session_id, expires_at, now).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated(Box::new((session, gamer))))
}

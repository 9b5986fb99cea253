//! Gamer sessions (CONTRACT section 2 and "Tokens"): the first session of a user
//! creates the gamer, its custodial wallet and the welcome-bonus transfer, all in one
//! transaction; every session issues an access token and a refresh token. Refresh
//! tokens are single-use and rotated; presenting a spent one revokes the session.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::address::Branch;
use super::error::retry_on_contention;
use super::secrets::ServerKeys;
use super::tokens::{self, AccessClaims, KeyRing, Purpose, SigningKey};
use super::webhooks::EventType;
use super::{Error, Result};
use crate::storage::clients::ClientRow;
use crate::storage::gamers::{self, GamerRow};
use crate::storage::ledger::{self, kind, AccountKey, NewTransfer, TransferSides, WalletEntryRow};
use crate::storage::sessions::{self as store, SessionGamerRow};
use crate::storage::{self, Db, Tx};

/// Profile fields a session may send; `None` leaves the stored value as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[expect(missing_docs, reason = "each field is the wire field of the same name")]
pub struct Profile {
    pub name: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub phonenumber: Option<String>,
    pub level: Option<i64>,
    pub rank: Option<i64>,
    pub date_joined: Option<String>,
    pub playertag: Option<String>,
    pub location: Option<String>,
    pub location_name: Option<String>,
    pub device_model: Option<String>,
    pub screen_height: Option<String>,
    pub screen_width: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub browser_name: Option<String>,
    pub fb_login: Option<String>,
    pub google_login: Option<String>,
    pub app_version: Option<String>,
}

impl Profile {
    /// This profile with every field that `update` sends replaced.
    pub fn merged(mut self, update: &Profile) -> Profile {
        macro_rules! take {
            ($($field:ident),*) => {
                $(if update.$field.is_some() { self.$field = update.$field.clone(); })*
            };
        }
        take!(
            name,
            username,
            email,
            device_id,
            phonenumber,
            level,
            rank,
            date_joined,
            playertag,
            location,
            location_name,
            device_model,
            screen_height,
            screen_width,
            os_name,
            os_version,
            browser_name,
            fb_login,
            google_login,
            app_version
        );
        self
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }

    pub(crate) fn from_json(json: &str) -> Profile {
        serde_json::from_str(json).unwrap_or_default()
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a profile serializes")
    }
}

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
    client: &ClientRow,
    user_id: &str,
    update: &Profile,
) -> Result<StartedSession> {
    let key = ring.current(db, Purpose::Access).await?;
    let session_id = uuid::Uuid::new_v4().to_string();
    let refresh_token = tokens::generate_refresh_token();
    let written = match db.lite() {
        Some(writer) => {
            let job = super::sessions_lite::SessionJob {
                addresses: keys.addresses.clone(),
                ttls,
                client: client.clone(),
                user_id: user_id.to_owned(),
                update: update.clone(),
                session_id: session_id.clone(),
                refresh_hash: tokens::hash_refresh_token(&refresh_token),
            };
            writer.write(move |conn| job.run(conn)).await??
        }
        None => {
            retry_on_contention(|| {
                write_session(
                    db,
                    keys,
                    ttls,
                    client,
                    user_id,
                    update,
                    &session_id,
                    &refresh_token,
                )
            })
            .await?
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

/// The session transaction: lock or create the gamer, merge the profile, insert the
/// session and its refresh token.
#[expect(
    clippy::too_many_arguments,
    reason = "one transaction's inputs, passed through"
)]
async fn write_session(
    db: &Db,
    keys: &ServerKeys,
    ttls: TokenTtls,
    client: &ClientRow,
    user_id: &str,
    update: &Profile,
    session_id: &str,
    refresh_token: &str,
) -> Result<WrittenSession> {
    let now = storage::now_nanos();
    let mut tx = db.begin().await?;
    let (gamer_id, is_new_user, bonus) = loop {
        if let Some(id) = gamers::lock_gamer(&mut tx, &client.id, user_id, now).await? {
            break (id, false, 0);
        }
        let profile = Profile::default().merged(update).to_json();
        if let Some(id) = gamers::insert_gamer(&mut tx, &client.id, user_id, &profile, now).await? {
            let bonus = create_wallet(&mut tx, keys, client, user_id, id, now).await?;
            break (id, true, bonus);
        }
        // Another transaction created this gamer between our two statements: its
        // row is committed now, so the next lock finds it.
    };
    let mut gamer = gamers::find_gamer(&mut *tx, gamer_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("gamer {gamer_id} vanished inside its transaction"))?;
    let profile = Profile::from_json(&gamer.profile).merged(update);
    if !is_new_user && !update.is_empty() {
        gamers::set_profile(&mut tx, gamer_id, &profile.to_json()).await?;
        gamer.profile = profile.to_json();
    }
    store::insert_session(&mut tx, session_id, &client.id, gamer_id, now).await?;
    let expires_at = now.saturating_add(nanos(ttls.refresh));
    let hash = tokens::hash_refresh_token(refresh_token);
    store::insert_refresh_token(&mut tx, &hash, session_id, expires_at, now).await?;
    tx.commit().await?;
    Ok((gamer, profile, is_new_user, now, bonus))
}

/// Gives a new gamer its wallet address and buckets, and credits the client's
/// welcome bonus with a ledger transfer. Returns the bonus credited.
async fn create_wallet(
    tx: &mut Tx,
    keys: &ServerKeys,
    client: &ClientRow,
    user_id: &str,
    gamer_id: i64,
    now: i64,
) -> Result<i64> {
    let address = keys.addresses.address(Branch::Gamer, gamer_id)?;
    gamers::set_wallet_address(tx, gamer_id, &address).await?;
    ledger::insert_wallet_accounts(tx, &client.id, gamer_id, &address, now).await?;
    if client.welcome_bonus == 0 {
        return Ok(0);
    }
    let uid = uuid::Uuid::new_v4().to_string();
    let sides = ledger::post_transfer(tx, welcome_transfer(client, gamer_id, &uid, now))
        .await?
        .ok_or_else(|| anyhow::anyhow!("issuing accounts are never refused a debit"))?;
    let data = welcome_data(client, user_id, &uid, &address);
    ledger::insert_wallet_entry(tx, &welcome_entry(client, gamer_id, uid, sides, now)).await?;
    super::webhooks::announce(tx, &client.id, EventType::WelcomeBonusGranted, data, now).await?;
    Ok(client.welcome_bonus)
}

/// The `welcome_bonus.granted` webhook's data.
pub(crate) fn welcome_data(
    client: &ClientRow,
    user_id: &str,
    uid: &str,
    address: &str,
) -> serde_json::Value {
    serde_json::json!({
        "userID": user_id,
        "amount": client.welcome_bonus,
        "uid": uid,
        "walletAddress": address,
    })
}

/// The welcome-bonus transfer of a new gamer.
pub(crate) fn welcome_transfer<'a>(
    client: &'a ClientRow,
    gamer_id: i64,
    uid: &'a str,
    now: i64,
) -> NewTransfer<'a> {
    NewTransfer {
        uid,
        kind: "WELCOME_BONUS",
        from: issuing_account(&client.id, gamer_id),
        to: AccountKey {
            kind: kind::BONUS,
            client_id: &client.id,
            owner_id: gamer_id,
        },
        amount: client.welcome_bonus,
        now,
    }
}

/// The wallet history line of a welcome bonus.
pub(crate) fn welcome_entry(
    client: &ClientRow,
    gamer_id: i64,
    uid: String,
    sides: TransferSides,
    now: i64,
) -> WalletEntryRow {
    WalletEntryRow {
        id: 0,
        uid,
        gamer_id,
        kind: "WELCOME_BONUS".to_owned(),
        direction: "CREDIT".to_owned(),
        amount: client.welcome_bonus,
        from_address: sides.from_address,
        to_address: sides.to_address,
        name: "Welcome bonus".to_owned(),
        description: format!("Welcome bonus from {}", client.name),
        sync_status: "COMPLETED".to_owned(),
        created_at: now,
    }
}

/// The issuing shard that pays this gamer: spreads one game's issuance over
/// several rows so that no single row serialises every claim of the game.
pub fn issuing_account(client_id: &str, gamer_id: i64) -> AccountKey<'_> {
    AccountKey {
        kind: kind::ISSUING,
        client_id,
        owner_id: gamer_id.rem_euclid(ledger::ISSUING_SHARDS),
    }
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

/// Live sessions recently looked up, by session id: saves a database read on
/// every front-end request. Entries live `KGEN_AUTH_CACHE_SECONDS` (at most 60,
/// the contract's bound for other servers to see a revocation); this server drops
/// an entry at once when it revokes the session.
#[derive(Clone, Debug)]
pub struct SessionCache {
    entries: Option<moka::sync::Cache<String, SessionGamerRow>>,
    /// Access tokens whose signature was checked, by their text: a gamer's front
    /// end sends the same token for minutes, and checking a signature (base64,
    /// HMAC, two JSON parses) costs more than the rest of a cached read.
    verified: Option<moka::sync::Cache<String, Arc<Verified>>>,
}

/// What authentication needs of an access token whose signature was checked.
#[derive(Debug)]
struct Verified {
    sid: String,
    client_id: String,
    user_id: String,
    /// Expiry, seconds since the Unix epoch.
    exp: i64,
}

/// Bytes of verified tokens kept (a token is about 1 KB with its entry).
const VERIFIED_TOKENS_BYTES: u64 = 8 * 1024 * 1024;

impl SessionCache {
    /// A cache whose entries live `ttl`; a zero `ttl` caches nothing.
    pub fn new(ttl: Duration) -> SessionCache {
        let entries = (!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(ttl)
                .build()
        });
        let verified = (!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(VERIFIED_TOKENS_BYTES)
                .weigher(|token: &String, _: &Arc<Verified>| {
                    u32::try_from(token.len() + 160).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .build()
        });
        SessionCache { entries, verified }
    }

    /// Drops expired entries now (moka otherwise does it only when the cache is
    /// used, so an idle server would keep them).
    pub fn run_pending_tasks(&self) {
        if let Some(entries) = &self.entries {
            entries.run_pending_tasks();
        }
        if let Some(verified) = &self.verified {
            verified.run_pending_tasks();
        }
    }

    /// The claims of `token` if its signature was checked recently and it has not
    /// expired since (with the leeway the check allows).
    fn verified(&self, token: &str) -> Option<Arc<Verified>> {
        let verified = self.verified.as_ref()?.get(token)?;
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).ok()?;
        let leeway = i64::try_from(tokens::LEEWAY_SECONDS).ok()?;
        (now < verified.exp.saturating_add(leeway)).then_some(verified)
    }

    fn remember_verified(&self, token: &str, verified: &Arc<Verified>) {
        if let Some(cache) = &self.verified {
            cache.insert(token.to_owned(), Arc::clone(verified));
        }
    }

    fn get(&self, session_id: &str) -> Option<SessionGamerRow> {
        self.entries.as_ref()?.get(session_id)
    }

    fn insert(&self, session: &SessionGamerRow) {
        if let Some(entries) = &self.entries {
            entries.insert(session.session_id.clone(), session.clone());
        }
    }

    /// Forgets a session (after revoking it).
    pub fn invalidate(&self, session_id: &str) {
        if let Some(entries) = &self.entries {
            entries.invalidate(session_id);
        }
    }
}

/// The gamer an access token speaks for: valid signature, live session, enabled
/// client, and claims that match the session. The returned row's
/// `kgen_account_id` may be up to the cache lifetime old: code that acts on the
/// link reads it again inside its transaction.
pub async fn authenticate(
    db: &Db,
    ring: &KeyRing,
    cache: &SessionCache,
    token: &str,
) -> Result<SessionGamerRow> {
    let claims = match cache.verified(token) {
        Some(verified) => verified,
        None => {
            let claims = tokens::verify_access(ring, db, token).await?;
            let verified = Arc::new(Verified {
                sid: claims.sid,
                client_id: claims.client_id,
                user_id: claims.user_id,
                exp: claims.exp,
            });
            cache.remember_verified(token, &verified);
            verified
        }
    };
    let session = match cache.get(&claims.sid) {
        Some(session) => session,
        None => {
            let session = store::find_session_gamer(db.reader(), &claims.sid)
                .await?
                .ok_or(Error::Unauthorized)?;
            cache.insert(&session);
            session
        }
    };
    if session.client_id != claims.client_id || session.user_id != claims.user_id {
        return Err(Error::Unauthorized);
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_session_updates_only_the_fields_it_sends() {
        let stored = Profile {
            name: Some("Asha".into()),
            level: Some(3),
            ..Profile::default()
        };
        let update = Profile {
            level: Some(4),
            os_name: Some("Android".into()),
            ..Profile::default()
        };
        let merged = stored.merged(&update);
        assert_eq!(merged.name.as_deref(), Some("Asha"));
        assert_eq!(merged.level, Some(4));
        assert_eq!(merged.os_name.as_deref(), Some("Android"));
    }

    #[test]
    fn a_verified_token_is_reused_only_until_it_expires() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap();
        let verified = |exp: i64| {
            Arc::new(Verified {
                sid: "s".into(),
                client_id: "c".into(),
                user_id: "u".into(),
                exp,
            })
        };
        cache.remember_verified("live", &verified(now + 60));
        cache.remember_verified("expired", &verified(now - 60));
        assert_eq!(cache.verified("live").map(|v| v.exp), Some(now + 60));
        assert!(cache.verified("expired").is_none());
        assert!(cache.verified("never seen").is_none());
        let off = SessionCache::new(Duration::ZERO);
        off.remember_verified("live", &verified(now + 60));
        assert!(
            off.verified("live").is_none(),
            "a zero lifetime caches nothing"
        );
    }

    #[test]
    fn issuing_shards_spread_gamers() {
        let shards: std::collections::HashSet<i64> =
            (0..64).map(|g| issuing_account("c", g).owner_id).collect();
        assert_eq!(shards.len() as i64, ledger::ISSUING_SHARDS);
    }
}

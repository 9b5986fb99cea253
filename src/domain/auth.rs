//! Who a front-end request speaks for: [`authenticate`] checks an access token
//! (signature, expiry, a live session of an enabled client, claims that match the
//! session) and gives the gamer, with the [`SessionCache`] that spares most requests
//! a signature check and a database read.

use std::sync::Arc;
use std::time::Duration;

use super::tokens::{self, KeyRing};
use super::{Error, Result};
use crate::storage::sessions::{self as store, SessionGamerRow};
use crate::storage::Db;

/// The gamer a front-end request speaks for: its session, its game and its wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gamer {
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
    /// Linked KGeN account (internal id), if any; may be up to the cache lifetime
    /// old, so code that acts on the link reads it again inside its transaction.
    pub kgen_account_id: Option<i64>,
}

impl From<SessionGamerRow> for Gamer {
    fn from(row: SessionGamerRow) -> Gamer {
        Gamer {
            session_id: row.session_id,
            gamer_id: row.gamer_id,
            client_id: row.client_id,
            client_name: row.client_name,
            min_withdraw: row.min_withdraw,
            user_id: row.user_id,
            wallet_address: row.wallet_address,
            kgen_account_id: row.kgen_account_id,
        }
    }
}

/// Live sessions recently looked up, by session id: saves a database read on
/// every front-end request. Entries live `KGEN_AUTH_CACHE_SECONDS` (at most 60,
/// the contract's bound for other servers to see a revocation); this server drops
/// an entry at once when it revokes the session.
#[derive(Clone, Debug)]
pub struct SessionCache {
    entries: Option<moka::sync::Cache<String, Gamer>>,
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

    fn get(&self, session_id: &str) -> Option<Gamer> {
        self.entries.as_ref()?.get(session_id)
    }

    fn insert(&self, session: &Gamer) {
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
/// client, and claims that match the session.
pub async fn authenticate(
    db: &Db,
    ring: &KeyRing,
    cache: &SessionCache,
    token: &str,
) -> Result<Gamer> {
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
            let found = match db.lite() {
                Some(lite) => store::find_session_gamer_lite(lite.reader(), &claims.sid).await?,
                None => store::find_session_gamer(db.reader(), &claims.sid).await?,
            };
            let session: Gamer = found.ok_or(Error::Unauthorized)?.into();
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
}

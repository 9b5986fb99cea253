//! Tokens: HS256 access tokens (JWT with a `kid`), EdDSA K-Store tokens whose public
//! keys are published as a JWKS, and opaque refresh tokens (stored as SHA-256).
//!
//! Signing keys live in the database so that they survive restarts and are shared by
//! every server. The newest key of a purpose signs; every stored key verifies until
//! its tokens expire, so `keys rotate` never invalidates a live token. Each server
//! reads which key is newest when it signs (one indexed read), so a rotation takes
//! effect from the next request on, everywhere; key material is cached by `kid`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Error, Result};
use crate::storage::keys::{self as store, KeyRow};
use crate::storage::{self, Db};

/// Audience of K-Store tokens.
pub const STORE_AUDIENCE: &str = "k-store";
/// Lifetime of a K-Store token, seconds.
pub const STORE_TOKEN_TTL_SECONDS: i64 = 600;
/// Clock skew tolerated when checking `exp`, seconds.
pub const LEEWAY_SECONDS: u64 = 5;

/// What a signing key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// HS256 access tokens.
    Access,
    /// EdDSA (Ed25519) K-Store tokens.
    Store,
}

impl Purpose {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Access => "ACCESS",
            Purpose::Store => "STORE",
        }
    }
}

/// The claims of an access token: exactly the contract's list. Nothing about the
/// linked phone or KGeN account rides in a token, which the front end can read.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The game's user id.
    pub sub: String,
    /// The game's user id.
    pub user_id: String,
    /// The client id.
    pub client_id: String,
    /// The client id (issuer).
    pub iss: String,
    /// The client id.
    pub third_party_client_id: String,
    /// The client's name.
    pub third_party_client_name: String,
    /// `<client_id>#<user_id>`.
    pub namespaced_third_party_user_id: String,
    /// The gamer's custodial wallet address.
    pub wallet_address: String,
    /// Whether the session created the gamer.
    pub is_new_user: bool,
    /// Issued at, seconds.
    pub iat: i64,
    /// Expires at, seconds.
    pub exp: i64,
    /// Session id.
    pub sid: String,
}

/// The claims of a K-Store token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoreClaims {
    /// `<client_id>#<user_id>`.
    pub sub: String,
    /// "k-store".
    pub aud: String,
    /// Issued at, seconds.
    pub iat: i64,
    /// Expires at, seconds.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// The gamer's custodial wallet address.
    pub wallet_address: String,
}

/// One loaded signing key.
pub struct SigningKey {
    /// Key id (`kid` header).
    pub kid: String,
    purpose: Purpose,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Ed25519 public key, base64url (JWK `x`); empty for HS256.
    pub public_x: String,
    /// Creation time, nanoseconds.
    pub created_at: i64,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {:?})", self.kid, self.purpose)
    }
}

impl SigningKey {
    fn from_row(row: &KeyRow) -> anyhow::Result<SigningKey> {
        let secret = STANDARD.decode(&row.secret)?;
        let (purpose, encoding, decoding, public_x) = match row.purpose.as_str() {
            "ACCESS" => (
                Purpose::Access,
                EncodingKey::from_secret(&secret),
                DecodingKey::from_secret(&secret),
                String::new(),
            ),
            "STORE" => {
                let public = URL_SAFE_NO_PAD.decode(&row.public_key)?;
                (
                    Purpose::Store,
                    EncodingKey::from_ed_der(&secret),
                    DecodingKey::from_ed_der(&public),
                    row.public_key.clone(),
                )
            }
            other => anyhow::bail!("unknown signing key purpose {other}"),
        };
        Ok(SigningKey {
            kid: row.id.clone(),
            purpose,
            encoding,
            decoding,
            public_x,
            created_at: row.created_at,
        })
    }
}

/// New key material for `purpose`, as a row to store.
fn generate_key(purpose: Purpose, now: i64) -> anyhow::Result<KeyRow> {
    let (secret, public_key) = match purpose {
        Purpose::Access => {
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            (secret.to_vec(), String::new())
        }
        Purpose::Store => {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| anyhow::anyhow!("generating an Ed25519 key failed"))?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                .map_err(|_| anyhow::anyhow!("reading the new Ed25519 key failed"))?;
            let public = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            (pkcs8.as_ref().to_vec(), public)
        }
    };
    Ok(KeyRow {
        id: uuid::Uuid::new_v4().simple().to_string(),
        purpose: purpose.as_str().to_owned(),
        secret: STANDARD.encode(secret),
        public_key,
        created_at: now,
    })
}

/// Adds a new access key and a new store key; they sign from the next request on.
/// Returns the new access key's id.
pub async fn rotate_keys(db: &Db) -> anyhow::Result<String> {
    let now = storage::now_nanos();
    let access = generate_key(Purpose::Access, now)?;
    let store_key = generate_key(Purpose::Store, now)?;
    let mut tx = db.begin().await?;
    store::insert_key(&mut tx, &access).await?;
    store::insert_key(&mut tx, &store_key).await?;
    tx.commit().await?;
    Ok(access.id)
}

/// Creates the first keys of a new database (no-op when keys exist).
pub async fn ensure_keys(db: &Db) -> anyhow::Result<()> {
    if store::newest_key_id(db.reader(), Purpose::Access.as_str())
        .await?
        .is_none()
        || store::newest_key_id(db.reader(), Purpose::Store.as_str())
            .await?
            .is_none()
    {
        rotate_keys(db).await?;
    }
    Ok(())
}

/// Cache of loaded signing keys, by `kid`.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: RwLock<HashMap<String, Arc<SigningKey>>>,
}

impl KeyRing {
    /// The key with this id, from the cache or the database.
    pub async fn by_kid(&self, db: &Db, kid: &str) -> Result<Option<Arc<SigningKey>>> {
        if let Some(key) = self.keys.read().expect("key cache lock").get(kid) {
            return Ok(Some(Arc::clone(key)));
        }
        // Key ids are 32 hex characters: anything else cannot be ours.
        if kid.len() != 32 || !kid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(row) = store::find_key(db.reader(), kid).await? else {
            return Ok(None);
        };
        let key = Arc::new(SigningKey::from_row(&row)?);
        self.keys
            .write()
            .expect("key cache lock")
            .insert(kid.to_owned(), Arc::clone(&key));
        Ok(Some(key))
    }

    /// The newest key of `purpose`: the one that signs now.
    pub async fn current(&self, db: &Db, purpose: Purpose) -> Result<Arc<SigningKey>> {
        let kid = store::newest_key_id(db.reader(), purpose.as_str())
            .await?
            .ok_or_else(|| anyhow::anyhow!("no {purpose:?} signing key in the database"))?;
        self.listed(db, &kid).await
    }

    /// The key `kid`, which the database listed as a signing key: its absence is an
    /// internal error, not a bad token.
    pub async fn listed(&self, db: &Db, kid: &str) -> Result<Arc<SigningKey>> {
        self.by_kid(db, kid)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("signing key {kid} vanished")))
    }

    /// The public keys that verify live K-Store tokens: the current one, and each
    /// older one that signed within the store-token lifetime (plus leeway).
    pub async fn store_public_keys(&self, db: &Db) -> Result<Vec<Arc<SigningKey>>> {
        let rows = store::keys_of_purpose(db.reader(), Purpose::Store.as_str()).await?;
        let cutoff = storage::now_nanos() - (STORE_TOKEN_TTL_SECONDS + 60) * 1_000_000_000;
        let mut keys = Vec::new();
        let mut successor_created_at: Option<i64> = None;
        for row in rows {
            if successor_created_at.is_some_and(|t| t < cutoff) {
                break;
            }
            successor_created_at = Some(row.created_at);
            if let Some(key) = self.by_kid(db, &row.id).await? {
                keys.push(key);
            }
        }
        Ok(keys)
    }
}

/// Signs access-token claims with `key`.
pub fn sign_access(key: &SigningKey, claims: &AccessClaims) -> Result<String> {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding)
        .map_err(|error| Error::Internal(error.into()))
}

/// Signs K-Store claims with an Ed25519 `key`.
pub fn sign_store(key: &SigningKey, claims: &StoreClaims) -> Result<String> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding)
        .map_err(|error| Error::Internal(error.into()))
}

/// The claims of a valid, unexpired access token signed by one of our keys;
/// `Unauthorized` for anything else (no `kid`, unknown `kid`, `alg: none`, another
/// algorithm, a bad signature, expired).
pub async fn verify_access(ring: &KeyRing, db: &Db, token: &str) -> Result<AccessClaims> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Error::Unauthorized)?;
    if header.alg != Algorithm::HS256 {
        return Err(Error::Unauthorized);
    }
    let kid = header.kid.ok_or(Error::Unauthorized)?;
    let key = ring.by_kid(db, &kid).await?.ok_or(Error::Unauthorized)?;
    if key.purpose != Purpose::Access {
        return Err(Error::Unauthorized);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = LEEWAY_SECONDS;
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
    let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
        .map_err(|_| Error::Unauthorized)?;
    let claims = data.claims;
    if claims.iss != claims.client_id || claims.sub != claims.user_id {
        return Err(Error::Unauthorized);
    }
    Ok(claims)
}

/// A new opaque refresh token (256 random bits, base64url).
pub fn generate_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a refresh token, hex: what is stored.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(purpose: Purpose) -> SigningKey {
        SigningKey::from_row(&generate_key(purpose, 0).unwrap()).unwrap()
    }

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            sub: "u".into(),
            user_id: "u".into(),
            client_id: "c".into(),
            iss: "c".into(),
            third_party_client_id: "c".into(),
            third_party_client_name: "n".into(),
            namespaced_third_party_user_id: "c#u".into(),
            wallet_address: "0x".into(),
            is_new_user: true,
            iat: 0,
            exp,
            sid: "s".into(),
        }
    }

    #[test]
    fn access_tokens_carry_the_kid_and_verify_with_their_key_only() {
        let a = key(Purpose::Access);
        let b = key(Purpose::Access);
        let token = sign_access(&a, &claims(i64::MAX / 2)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(a.kid.as_str()));
        assert_eq!(header.alg, Algorithm::HS256);
        let validation = Validation::new(Algorithm::HS256);
        assert!(jsonwebtoken::decode::<AccessClaims>(&token, &a.decoding, &validation).is_ok());
        assert!(jsonwebtoken::decode::<AccessClaims>(&token, &b.decoding, &validation).is_err());
    }

    #[test]
    fn store_tokens_verify_with_the_published_public_key() {
        let k = key(Purpose::Store);
        let store_claims = StoreClaims {
            sub: "c#u".into(),
            aud: STORE_AUDIENCE.into(),
            iat: 0,
            exp: i64::MAX / 2,
            jti: "j".into(),
            wallet_address: "0x".into(),
        };
        let token = sign_store(&k, &store_claims).unwrap();
        let public = DecodingKey::from_ed_components(&k.public_x).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[STORE_AUDIENCE]);
        let decoded = jsonwebtoken::decode::<StoreClaims>(&token, &public, &validation).unwrap();
        assert_eq!(decoded.claims, store_claims);
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = generate_refresh_token();
        assert_ne!(a, generate_refresh_token());
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_ne!(hash_refresh_token(&a), a);
    }
}

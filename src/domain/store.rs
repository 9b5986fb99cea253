//! The K-Store redirect (CONTRACT section 6): a short-lived EdDSA token for the
//! gamer, added as `sessionToken` to the configured store URL. The store verifies
//! it offline with the public keys of `GET /.well-known/jwks.json`.

use std::sync::Arc;

use super::auth::Gamer;
use super::tokens::{self, KeyRing, Purpose, SigningKey, StoreClaims};
use super::{Error, Result};
use crate::storage::{self, Db};

/// The query parameter that carries the token.
pub const SESSION_TOKEN_PARAMETER: &str = "sessionToken";

/// Checks the configured store URL once, at start-up.
pub fn check_store_url(store_url: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(store_url)
        .map_err(|error| anyhow::anyhow!("KGEN_STORE_URL is not a valid URL: {error}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "KGEN_STORE_URL must be an http:// or https:// URL"
    );
    Ok(())
}

/// `store_url` with a new store token for `gamer` as its `sessionToken` parameter
/// (replacing any `sessionToken` the base URL had, keeping its other parameters).
pub async fn redirect_url(
    db: &Db,
    ring: &KeyRing,
    store_url: &str,
    gamer: &Gamer,
) -> Result<String> {
    let key = ring.current(db, Purpose::Store).await?;
    let iat = storage::now_nanos().div_euclid(1_000_000_000);
    let claims = StoreClaims {
        sub: format!("{}#{}", gamer.client_id, gamer.user_id),
        aud: tokens::STORE_AUDIENCE.to_owned(),
        iat,
        exp: iat + tokens::STORE_TOKEN_TTL_SECONDS,
        jti: uuid::Uuid::new_v4().to_string(),
        wallet_address: gamer.wallet_address.clone(),
    };
    let token = tokens::sign_store(&key, &claims)?;
    let mut url = url::Url::parse(store_url)
        .map_err(|error| Error::Internal(anyhow::anyhow!("KGEN_STORE_URL: {error}")))?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| name != SESSION_TOKEN_PARAMETER)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(SESSION_TOKEN_PARAMETER, &token);
    Ok(url.into())
}

/// The public keys that verify live store tokens (current and previous).
pub async fn public_keys(db: &Db, ring: &KeyRing) -> Result<Vec<Arc<SigningKey>>> {
    ring.store_public_keys(db).await
}

//! `POST /fe/users/k-store/generate-redirect-uri` and `GET /.well-known/jwks.json`:
//! the K-Store redirect with a signed session token, and the public keys that
//! verify it (CONTRACT section 6).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::GamerAuth;
use super::error::{ApiResult, ErrorBody};
use crate::domain::store;
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(generate_store_redirect_uri))
        .routes(routes!(get_jwks))
}

/// The K-Store URL to send the gamer to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoreRedirectResponse {
    /// `KGEN_STORE_URL` with a `sessionToken` query parameter (EdDSA JWT, 10 minutes).
    pub url: String,
}

/// One public key (RFC 8037 OKP key).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    /// "OKP".
    pub kty: String,
    /// "Ed25519".
    pub crv: String,
    /// "EdDSA".
    pub alg: String,
    /// "sig".
    #[serde(rename = "use")]
    pub key_use: String,
    /// Key id: the `kid` header of the tokens it verifies.
    pub kid: String,
    /// The public key, base64url.
    pub x: String,
}

/// A JSON Web Key Set.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JwksResponse {
    /// The current key and the previous ones whose tokens may still be live.
    pub keys: Vec<Jwk>,
}

/// Build the K-Store URL for the gamer, with a fresh signed session token.
#[utoipa::path(
    post,
    path = "/fe/users/k-store/generate-redirect-uri",
    tag = "store",
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The store URL", body = StoreRedirectResponse),
        (status = 401, description = "Bad access token", body = ErrorBody),
    )
)]
pub async fn generate_store_redirect_uri(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
) -> ApiResult<axum::Json<StoreRedirectResponse>> {
    let url = store::redirect_url(&state.db, &state.ring, &state.config.store_url, &gamer).await?;
    Ok(axum::Json(StoreRedirectResponse { url }))
}

/// The public keys of K-Store session tokens (no credentials needed).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "store",
    responses(
        (status = 200, description = "The key set", body = JwksResponse),
    )
)]
pub async fn get_jwks(State(state): State<AppState>) -> ApiResult<axum::Json<JwksResponse>> {
    let keys = store::public_keys(&state.db, &state.ring).await?;
    let keys = keys
        .iter()
        .map(|key| Jwk {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            alg: "EdDSA".to_owned(),
            key_use: "sig".to_owned(),
            kid: key.kid.clone(),
            x: key.public_x.clone(),
        })
        .collect();
    Ok(axum::Json(JwksResponse { keys }))
}

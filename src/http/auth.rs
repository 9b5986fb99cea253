//! Who is calling: `ClientAuth` for server-to-server calls (client id + secret
//! headers, with the older spellings `x-clientid`/`x-clientsecret`) and
//! `GamerAuth` for front-end calls (the access token in `user-jwt-token` or
//! `Authorization: Bearer`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::ApiError;
use crate::domain::auth::Gamer;
use crate::domain::clients::{Client, SessionClient};
use crate::domain::{clients, Error};
use crate::state::AppState;

/// An authenticated, enabled game client.
pub struct ClientAuth(pub Client);

/// The first of `names` present in `headers`, as text.
pub fn header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|value| value.to_str().ok())
}

/// The client id and secret of a server-to-server request.
fn client_credentials(parts: &Parts) -> Result<(&str, &str), ApiError> {
    let id = header(&parts.headers, &["x-client-id", "x-clientid"]);
    let secret = header(&parts.headers, &["x-client-secret", "x-clientsecret"]);
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => Err(Error::Unauthorized.into()),
    }
}

impl FromRequestParts<AppState> for ClientAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (id, secret) = client_credentials(parts)?;
        let client = clients::authenticate(&state.db, id, secret).await?;
        state.limits.check_client(&client.id)?;
        Ok(ClientAuth(client))
    }
}

/// The calling game of a session start: as [`ClientAuth`], but possibly checked
/// against a remembered client row, which the session's write checks again
/// (`domain::clients::authenticate_session_start`).
pub struct SessionClientAuth(pub SessionClient);

impl FromRequestParts<AppState> for SessionClientAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (id, secret) = client_credentials(parts)?;
        let client = clients::authenticate_session_start(&state.db, id, secret).await?;
        state.limits.check_client(&client.client.id)?;
        Ok(SessionClientAuth(client))
    }
}

/// The gamer of a valid access token, from `user-jwt-token` or
/// `Authorization: Bearer`.
pub struct GamerAuth(pub Gamer);

/// The access token of a front-end request, if any.
pub fn access_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(token) = header(headers, &["user-jwt-token"]) {
        return Some(token.trim());
    }
    let authorization = header(headers, &["authorization"])?;
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl FromRequestParts<AppState> for GamerAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = access_token(&parts.headers).ok_or(Error::Unauthorized)?;
        let gamer =
            crate::domain::auth::authenticate(&state.db, &state.ring, &state.sessions, token)
                .await?;
        state.limits.check_gamer(gamer.gamer_id)?;
        Ok(GamerAuth(gamer))
    }
}

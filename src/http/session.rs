//! `POST /s2s/session` (CONTRACT section 2) and `POST /fe/users/auth/token/refresh`
//! ("Tokens" in Part 2).

use axum::extract::State;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ClientAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Json;
use super::schema::NO_CONTROL_CHARACTERS;
use crate::domain::sessions::{self, Profile};
use crate::domain::text::{check_required_text, check_text, TextKind};
use crate::domain::time::go_time_string;
use crate::state::AppState;

/// The server-to-server route of this area.
pub fn s2s_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start_session))
}

/// The front-end route of this area.
pub fn fe_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(refresh_token))
}

/// Reads a JSON string, or a JSON number as its decimal text (`user_id`, screen sizes).
fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
    integers_only: bool,
) -> Result<Option<String>, D::Error> {
    struct Text(bool);
    impl<'de> Visitor<'de> for Text {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if self.0 {
                f.write_str("a string or an integer")
            } else {
                f.write_str("a string or a number")
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Option<String>, E> {
            Ok(Some(value.to_owned()))
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Option<String>, E> {
            Ok(Some(value.to_string()))
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Option<String>, E> {
            Ok(Some(value.to_string()))
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Option<String>, E> {
            if self.0 {
                Err(E::invalid_type(de::Unexpected::Float(value), &self))
            } else {
                Ok(Some(value.to_string()))
            }
        }
    }
    deserializer.deserialize_any(Text(integers_only))
}

fn user_id_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string_or_number(d, true)
}

fn size_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string_or_number(d, false)
}

/// The schema of `user_id`: a string of 1-128 characters without control
/// characters, or an integer.
fn user_id_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(128))
                .pattern(Some(NO_CONTROL_CHARACTERS)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .build()
        .into()
}

/// The schema of a screen size: a string or a number.
fn size_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(256))
                .pattern(Some(NO_CONTROL_CHARACTERS)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

/// Body of `POST /s2s/session`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SessionRequest {
    /// The game's id for the gamer: 1-128 characters, or a JSON integer.
    #[serde(default, deserialize_with = "user_id_text")]
    #[schema(schema_with = user_id_schema, required = true)]
    pub user_id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Username.
    #[serde(default)]
    pub username: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Device id.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Phone number as the game knows it (not a linked phone).
    #[serde(default)]
    pub phonenumber: Option<String>,
    /// Level.
    #[serde(default)]
    pub level: Option<i64>,
    /// Rank.
    #[serde(default)]
    pub rank: Option<i64>,
    /// Join date, as the game writes it.
    #[serde(default)]
    pub date_joined: Option<String>,
    /// Player tag.
    #[serde(default)]
    pub playertag: Option<String>,
    /// Location.
    #[serde(default)]
    pub location: Option<String>,
    /// Location name.
    #[serde(default)]
    pub location_name: Option<String>,
    /// Device model.
    #[serde(default)]
    pub device_model: Option<String>,
    /// Screen height (string or number).
    #[serde(default, deserialize_with = "size_text")]
    #[schema(schema_with = size_schema)]
    pub screen_height: Option<String>,
    /// Screen width (string or number).
    #[serde(default, deserialize_with = "size_text")]
    #[schema(schema_with = size_schema)]
    pub screen_width: Option<String>,
    /// OS name.
    #[serde(default)]
    pub os_name: Option<String>,
    /// OS version.
    #[serde(default)]
    pub os_version: Option<String>,
    /// Browser name.
    #[serde(default)]
    pub browser_name: Option<String>,
    /// Facebook login id.
    #[serde(default)]
    pub fb_login: Option<String>,
    /// Google login id.
    #[serde(default)]
    pub google_login: Option<String>,
    /// App version.
    #[serde(default)]
    pub app_version: Option<String>,
}

impl SessionRequest {
    fn into_parts(self) -> ApiResult<(String, Profile)> {
        let user_id = self
            .user_id
            .ok_or_else(|| ApiError::BadRequest("user_id is required".to_owned()))?;
        check_required_text("user_id", &user_id, 128, TextKind::Identifier)?;
        let profile = Profile {
            name: self.name,
            username: self.username,
            email: self.email,
            device_id: self.device_id,
            phonenumber: self.phonenumber,
            level: self.level,
            rank: self.rank,
            date_joined: self.date_joined,
            playertag: self.playertag,
            location: self.location,
            location_name: self.location_name,
            device_model: self.device_model,
            screen_height: self.screen_height,
            screen_width: self.screen_width,
            os_name: self.os_name,
            os_version: self.os_version,
            browser_name: self.browser_name,
            fb_login: self.fb_login,
            google_login: self.google_login,
            app_version: self.app_version,
        };
        let texts = serde_json::to_value(&profile).expect("a profile serializes");
        for (field, value) in texts.as_object().expect("a profile is an object") {
            if let Some(text) = value.as_str() {
                check_text(field, text, 256, TextKind::Line)?;
            }
        }
        Ok((user_id, profile))
    }
}

/// Answer of `POST /s2s/session`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[expect(
    missing_docs,
    reason = "profile fields echo the wire fields of the same name"
)]
pub struct SessionResponse {
    /// New session id.
    pub session_id: String,
    /// The game's user id.
    pub user_id: String,
    pub name: String,
    pub username: String,
    pub email: String,
    pub device_id: String,
    pub phonenumber: String,
    pub level: i64,
    pub rank: i64,
    pub date_joined: String,
    pub playertag: String,
    pub location: String,
    pub location_name: String,
    pub device_model: String,
    pub screen_height: String,
    pub screen_width: String,
    pub os_name: String,
    pub os_version: String,
    pub browser_name: String,
    /// The linked KGeN account id, or null.
    pub indigg_id: Option<String>,
    /// The linked KGeN wallet address, or "".
    pub indigg_wallet_address: String,
    /// The client id.
    pub third_party_client_id: String,
    /// The client's name.
    pub third_party_client_name: String,
    /// `<client_id>#<user_id>`.
    pub namespaced_third_party_user_id: String,
    /// Custodial wallet address (EIP-55).
    pub wallet_address: String,
    /// True only on the call that created the gamer.
    pub is_new_user: bool,
    /// Access token (JWT).
    pub access_token: String,
    /// The same JWT (live integrations read this one).
    pub token: String,
    /// Opaque refresh token.
    pub refresh_token: String,
    /// Linked phone (E.164), or "".
    pub linked_phone: String,
    /// `2024-08-20 08:32:13.025599965 +0000 UTC`.
    pub session_start_time: String,
}

/// Start a session for a gamer, creating the gamer and its wallet on first call.
#[utoipa::path(
    post,
    path = "/s2s/session",
    tag = "sessions",
    request_body = SessionRequest,
    security(("client_id" = [], "client_secret" = [])),
    responses(
        (status = 200, description = "Session started", body = SessionResponse),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
    )
)]
pub async fn start_session(
    State(state): State<AppState>,
    ClientAuth(client): ClientAuth,
    Json(body): Json<SessionRequest>,
) -> ApiResult<axum::Json<SessionResponse>> {
    let (user_id, update) = body.into_parts()?;
    let started = sessions::start_session(
        &state.db,
        &state.keys,
        &state.ring,
        state.token_ttls(),
        &client,
        &user_id,
        &update,
    )
    .await?;
    state
        .metrics
        .kcash_credited
        .inc_by(u64::try_from(started.welcome_bonus_credited).unwrap_or(0));
    let profile = started.profile;
    let gamer = started.gamer;
    let text = |value: Option<String>| value.unwrap_or_default();
    Ok(axum::Json(SessionResponse {
        session_id: started.session_id,
        user_id: gamer.user_id.clone(),
        name: text(profile.name),
        username: text(profile.username),
        email: text(profile.email),
        device_id: text(profile.device_id),
        phonenumber: text(profile.phonenumber),
        level: profile.level.unwrap_or(0),
        rank: profile.rank.unwrap_or(0),
        date_joined: text(profile.date_joined),
        playertag: text(profile.playertag),
        location: text(profile.location),
        location_name: text(profile.location_name),
        device_model: text(profile.device_model),
        screen_height: text(profile.screen_height),
        screen_width: text(profile.screen_width),
        os_name: text(profile.os_name),
        os_version: text(profile.os_version),
        browser_name: text(profile.browser_name),
        indigg_id: gamer.kgen_id,
        indigg_wallet_address: text(gamer.kgen_wallet_address),
        third_party_client_id: client.id.clone(),
        third_party_client_name: client.name.clone(),
        namespaced_third_party_user_id: format!("{}#{}", client.id, gamer.user_id),
        wallet_address: text(gamer.wallet_address),
        is_new_user: started.is_new_user,
        token: started.access_token.clone(),
        access_token: started.access_token,
        refresh_token: started.refresh_token,
        linked_phone: text(gamer.kgen_phone),
        session_start_time: go_time_string(started.started_at),
    }))
}

/// Body of the token refresh.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token of the session.
    pub refresh_token: String,
}

/// A rotated token pair.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefreshResponse {
    /// New access token (same session id).
    pub access_token: String,
    /// The same JWT.
    pub token: String,
    /// New refresh token; the one presented is spent.
    pub refresh_token: String,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
}

/// Exchange a refresh token for a new access token and refresh token.
#[utoipa::path(
    post,
    path = "/fe/users/auth/token/refresh",
    tag = "sessions",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = RefreshResponse),
        (status = 400, description = "No refresh_token", body = ErrorBody),
        (status = 401, description = "Unknown, expired or reused refresh token", body = ErrorBody),
    )
)]
pub async fn refresh_token(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<axum::Json<RefreshResponse>> {
    if body.refresh_token.is_empty() || body.refresh_token.len() > 256 {
        return Err(crate::domain::Error::Unauthorized.into());
    }
    let tokens = sessions::refresh(
        &state.db,
        &state.ring,
        &state.sessions,
        state.token_ttls(),
        &body.refresh_token,
    )
    .await?;
    Ok(axum::Json(RefreshResponse {
        token: tokens.access_token.clone(),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_in: tokens.expires_in,
    }))
}

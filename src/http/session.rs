//! `POST /s2s/session` (CONTRACT section 2) and `POST /fe/users/auth/token/refresh`
//! ("Tokens" in Part 2).

use axum::extract::State;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::SessionClientAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Json;
use super::schema::NO_CONTROL_CHARACTERS;
use crate::domain::sessions::{self, with_profile_fields, Profile, ScreenSize};
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

/// Reads `user_id`: a JSON string, or a JSON integer as its decimal text.
fn user_id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Text;
    impl Visitor<'_> for Text {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or an integer")
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
    }
    deserializer.deserialize_any(Text)
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

/// A screen size on the wire: a string or a number.
impl utoipa::PartialSchema for ScreenSize {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let schema = OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(256))
                    .pattern(Some(NO_CONTROL_CHARACTERS)),
            )
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .build();
        utoipa::openapi::RefOr::T(schema.into())
    }
}

impl utoipa::ToSchema for ScreenSize {}

/// Declares the wire types of a session from the profile's field list.
macro_rules! declare_session_wire {
    (shown { $($shown:ident: $shown_type:ty = $shown_doc:literal,)* }
     kept { $($kept:ident: $kept_type:ty = $kept_doc:literal,)* }) => {
        /// Body of `POST /s2s/session`.
        #[derive(Debug, Deserialize, ToSchema)]
        pub struct SessionRequest {
            /// The game's id for the gamer: 1-128 characters, or a JSON integer.
            #[serde(default, deserialize_with = "user_id_text")]
            #[schema(schema_with = user_id_schema, required = true)]
            pub user_id: Option<String>,
            $(#[doc = $shown_doc] #[serde(default)] pub $shown: Option<$shown_type>,)*
            $(#[doc = $kept_doc] #[serde(default)] pub $kept: Option<$kept_type>,)*
        }

        impl SessionRequest {
            /// The profile fields the request sends.
            fn take_profile(&mut self) -> Profile {
                Profile {
                    $($shown: self.$shown.take(),)*
                    $($kept: self.$kept.take(),)*
                }
            }
        }

        /// The profile fields a session answer echoes ("" or 0 when never sent).
        #[derive(Debug, Serialize, Deserialize, ToSchema)]
        pub struct ProfileView {
            $(#[doc = $shown_doc] pub $shown: $shown_type,)*
        }

        impl From<Profile> for ProfileView {
            fn from(profile: Profile) -> ProfileView {
                ProfileView {
                    $($shown: profile.$shown.unwrap_or_default(),)*
                }
            }
        }
    };
}
with_profile_fields!(declare_session_wire);

impl SessionRequest {
    fn into_parts(mut self) -> ApiResult<(String, Profile)> {
        let profile = self.take_profile();
        let user_id = self
            .user_id
            .ok_or_else(|| ApiError::BadRequest("user_id is required".to_owned()))?;
        check_required_text("user_id", &user_id, 128, TextKind::Identifier)?;
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
pub struct SessionResponse {
    /// New session id.
    pub session_id: String,
    /// The game's user id.
    pub user_id: String,
    /// The gamer's profile after this session's update.
    #[serde(flatten)]
    pub profile: ProfileView,
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
    SessionClientAuth(client): SessionClientAuth,
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
    let (gamer, client) = (started.gamer, started.client);
    let text = |value: Option<String>| value.unwrap_or_default();
    Ok(axum::Json(SessionResponse {
        session_id: started.session_id,
        user_id: gamer.user_id.clone(),
        profile: started.profile.into(),
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

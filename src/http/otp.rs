//! `/fe/users/auth/otp/*` and `/fe/users/account/linked-mobile-number`: linking the
//! gamer of the access token to a phone's KGeN account by OTP (CONTRACT section 3).

use axum::extract::State;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::GamerAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Json;
use crate::domain::otp;
use crate::domain::phone::Phone;
use crate::domain::phone_link::{self, OtpSent, PhoneLink};
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_otp))
        .routes(routes!(resend_otp))
        .routes(routes!(verify_otp))
        .routes(routes!(get_linked_mobile_number))
}

/// A code as JSON sends it: a string as is, or a whole number (to be padded).
#[derive(Clone, Debug)]
pub enum CodeInput {
    /// A JSON string.
    Text(String),
    /// A JSON whole number ≥ 0.
    Number(u64),
}

impl<'de> Deserialize<'de> for CodeInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CodeInput, D::Error> {
        struct Code;
        impl Visitor<'_> for Code {
            type Value = CodeInput;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string of digits or a whole number")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<CodeInput, E> {
                Ok(CodeInput::Text(value.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<CodeInput, E> {
                Ok(CodeInput::Number(value))
            }
        }
        deserializer.deserialize_any(Code)
    }
}

impl CodeInput {
    /// The code as text: a number left-padded with zeros to `length` digits.
    fn into_code(self, field: &str, length: usize) -> ApiResult<String> {
        match self {
            CodeInput::Number(number) => Ok(otp::code_from_number(number, length)),
            CodeInput::Text(text) if text.len() <= 64 => Ok(text),
            CodeInput::Text(_) => Err(ApiError::BadRequest(format!(
                "{field} must be at most 64 characters"
            ))),
        }
    }
}

/// Reads a phone part: a JSON string, or a whole number as its decimal digits.
fn phone_part<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(
        Option::<CodeInput>::deserialize(deserializer)?.map(|part| match part {
            CodeInput::Text(text) => text,
            CodeInput::Number(number) => number.to_string(),
        }),
    )
}

/// Body of register and resend.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OtpSendRequest {
    /// The national number, digits (spaces and hyphens are ignored; a trunk
    /// prefix such as India's leading 0 is removed by libphonenumber's rules).
    #[serde(default, deserialize_with = "phone_part")]
    #[schema(value_type = String, example = "9876543219")]
    pub phone_number: Option<String>,
    /// The country calling code, with or without `+`.
    #[serde(rename = "countryCode", default, deserialize_with = "phone_part")]
    #[schema(value_type = String, example = "+91")]
    pub country_code: Option<String>,
}

impl OtpSendRequest {
    fn phone(&self) -> ApiResult<Phone> {
        Ok(Phone::parse(
            self.country_code.as_deref(),
            self.phone_number.as_deref(),
        )?)
    }
}

/// Answer of register and resend.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OtpSentResponse {
    /// The handle of this OTP request (8 digits).
    #[serde(rename = "authCode")]
    #[schema(example = "27358841")]
    pub auth_code: String,
    /// Whether the phone has no KGeN account yet.
    #[serde(rename = "isNewUser")]
    pub is_new_user: bool,
}

impl From<OtpSent> for OtpSentResponse {
    fn from(sent: OtpSent) -> OtpSentResponse {
        OtpSentResponse {
            auth_code: sent.auth_code,
            is_new_user: sent.is_new_user,
        }
    }
}

/// Body of verify.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyOtpRequest {
    /// The national number, as at register.
    #[serde(default, deserialize_with = "phone_part")]
    #[schema(value_type = String, example = "9876543219")]
    pub phone_number: Option<String>,
    /// The country calling code, as at register.
    #[serde(rename = "countryCode", default, deserialize_with = "phone_part")]
    #[schema(value_type = String, example = "+91")]
    pub country_code: Option<String>,
    /// The authCode of register (string or number).
    #[serde(rename = "authCode", default)]
    #[schema(value_type = String, example = "27358841")]
    pub auth_code: Option<CodeInput>,
    /// The OTP of the SMS (string or number; a number is left-padded to 6 digits).
    #[serde(default)]
    #[schema(value_type = String, example = "596097")]
    pub otp: Option<CodeInput>,
}

/// Answer of a successful verify.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyOtpResponse {
    /// "Users linked successfully".
    pub message: String,
}

/// The gamer's linked phone and KGeN account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LinkedMobileNumberResponse {
    /// The game's user id.
    #[serde(rename = "UserID")]
    pub user_id: String,
    /// `<client_id>#<user_id>`.
    #[serde(rename = "NameSpacedThirdPartyUserID")]
    pub namespaced_third_party_user_id: String,
    /// The custodial wallet address.
    #[serde(rename = "WalletAddress")]
    pub wallet_address: String,
    /// The KGeN account's wallet address.
    #[serde(rename = "IndiggWalletAddress")]
    pub indigg_wallet_address: String,
    /// The linked phone, E.164.
    #[serde(rename = "LinkedPhone")]
    pub linked_phone: String,
    /// The KGeN account id.
    #[serde(rename = "KGenID")]
    pub kgen_id: String,
}

/// The linking flows with this server's database, keys, sender and limits.
fn phone_link(state: &AppState) -> PhoneLink<'_> {
    PhoneLink {
        db: &state.db,
        keys: &state.keys,
        sender: state.sms.as_ref(),
        policy: state.otp_policy(),
    }
}

/// Send an OTP to a phone, opening a request to link it to the gamer.
#[utoipa::path(
    post,
    path = "/fe/users/auth/otp/register",
    tag = "phone linking",
    request_body = OtpSendRequest,
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "OTP sent", body = OtpSentResponse),
        (status = 400, description = "Not a valid phone number", body = ErrorBody),
        (status = 401, description = "Bad access token", body = ErrorBody),
        (status = 409, description = "PHONE_ALREADY_LINKED or ALREADY_LINKED", body = ErrorBody),
        (status = 429, description = "Send cooldown, or the phone's, gamer's or client's hourly limit (Retry-After)", body = ErrorBody),
        (status = 502, description = "SMS_DELIVERY_FAILED", body = ErrorBody),
    )
)]
pub async fn register_otp(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
    Json(body): Json<OtpSendRequest>,
) -> ApiResult<axum::Json<OtpSentResponse>> {
    let phone = body.phone()?;
    let sent = phone_link(&state).register(&gamer, &phone).await?;
    Ok(axum::Json(sent.into()))
}

/// Send a fresh OTP for the gamer's open request for a phone (same authCode).
#[utoipa::path(
    post,
    path = "/fe/users/auth/otp/resend",
    tag = "phone linking",
    request_body = OtpSendRequest,
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "OTP sent", body = OtpSentResponse),
        (status = 400, description = "Not a valid phone number", body = ErrorBody),
        (status = 401, description = "Bad access token", body = ErrorBody),
        (status = 404, description = "No open request for this phone", body = ErrorBody),
        (status = 409, description = "PHONE_ALREADY_LINKED or ALREADY_LINKED", body = ErrorBody),
        (status = 429, description = "Send cooldown, or the phone's, gamer's or client's hourly limit (Retry-After)", body = ErrorBody),
        (status = 502, description = "SMS_DELIVERY_FAILED", body = ErrorBody),
    )
)]
pub async fn resend_otp(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
    Json(body): Json<OtpSendRequest>,
) -> ApiResult<axum::Json<OtpSentResponse>> {
    let phone = body.phone()?;
    let sent = phone_link(&state).resend(&gamer, &phone).await?;
    Ok(axum::Json(sent.into()))
}

/// Check the OTP and link the gamer to the phone's KGeN account.
#[utoipa::path(
    post,
    path = "/fe/users/auth/otp/verify",
    tag = "phone linking",
    request_body = VerifyOtpRequest,
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Linked", body = VerifyOtpResponse),
        (status = 400, description = "Invalid phone or missing field", body = ErrorBody),
        (status = 401, description = "INVALID_OTP, OTP_EXPIRED or bad access token", body = ErrorBody),
        (status = 409, description = "PHONE_ALREADY_LINKED or ALREADY_LINKED", body = ErrorBody),
        (status = 429, description = "TOO_MANY_ATTEMPTS: the request is dead", body = ErrorBody),
    )
)]
pub async fn verify_otp(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
    Json(body): Json<VerifyOtpRequest>,
) -> ApiResult<axum::Json<VerifyOtpResponse>> {
    let phone = Phone::parse(body.country_code.as_deref(), body.phone_number.as_deref())?;
    let required = |field: &str| ApiError::BadRequest(format!("{field} is required"));
    let auth_code = body.auth_code.ok_or_else(|| required("authCode"))?;
    let auth_code = auth_code.into_code("authCode", otp::AUTH_CODE_LENGTH)?;
    let code = body.otp.ok_or_else(|| required("otp"))?;
    let code = code.into_code("otp", otp::OTP_LENGTH)?;
    phone_link(&state)
        .verify(&gamer, &phone, &auth_code, &code)
        .await?;
    Ok(axum::Json(VerifyOtpResponse {
        message: "Users linked successfully".to_owned(),
    }))
}

/// Read the gamer's linked phone and KGeN account.
#[utoipa::path(
    get,
    path = "/fe/users/account/linked-mobile-number",
    tag = "phone linking",
    security(("user_jwt" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The linked phone", body = LinkedMobileNumberResponse),
        (status = 401, description = "Bad access token", body = ErrorBody),
        (status = 404, description = "No phone linked", body = ErrorBody),
    )
)]
pub async fn get_linked_mobile_number(
    State(state): State<AppState>,
    GamerAuth(gamer): GamerAuth,
) -> ApiResult<axum::Json<LinkedMobileNumberResponse>> {
    let linked = phone_link::linked_account(&state.db, &gamer).await?;
    Ok(axum::Json(LinkedMobileNumberResponse {
        namespaced_third_party_user_id: format!("{}#{}", gamer.client_id, linked.user_id),
        user_id: linked.user_id,
        wallet_address: linked.wallet_address.unwrap_or_default(),
        indigg_wallet_address: linked.kgen_wallet_address.unwrap_or_default(),
        linked_phone: linked.kgen_phone.unwrap_or_default(),
        kgen_id: linked.kgen_id.unwrap_or_default(),
    }))
}

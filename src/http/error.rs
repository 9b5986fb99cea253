//! `ApiError`: every error the HTTP layer answers, rendered as the CONTRACT envelope
//! `{"code", "message"}`. One `match` gives each variant its status and code.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Error;

/// The body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `RECORD_NOT_FOUND`.
    pub code: String,
    /// Human-readable explanation (not stable API).
    pub message: String,
}

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A business or domain error.
    #[error(transparent)]
    Domain(#[from] Error),
    /// Malformed body, wrong type, missing field, bad query parameter.
    #[error("{0}")]
    BadRequest(String),
    /// No route for this path.
    #[error("no such endpoint")]
    RouteNotFound,
    /// The path exists but not for this method.
    #[error("method not allowed for this endpoint")]
    MethodNotAllowed,
    /// Body over 64 KiB.
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// The HTTP status and contract code of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::BadRequest(_) => (S::BAD_REQUEST, "BAD_REQUEST"),
            ApiError::RouteNotFound => (S::NOT_FOUND, "NOT_FOUND"),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            ApiError::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            ApiError::Domain(error) => match error {
                Error::BadRequest(_) => (S::BAD_REQUEST, "BAD_REQUEST"),
                Error::Unauthorized => (S::UNAUTHORIZED, "UN_AUTHORIZED"),
                Error::NotFound => (S::NOT_FOUND, "RECORD_NOT_FOUND"),
                Error::EventInactive => (S::CONFLICT, "EVENT_INACTIVE"),
                Error::EventNotOpen => (S::CONFLICT, "EVENT_NOT_OPEN"),
                Error::ActivityNotTraced => (S::CONFLICT, "ACTIVITY_NOT_TRACED"),
                Error::ClaimCooldown { .. } => (S::TOO_MANY_REQUESTS, "CLAIM_COOLDOWN"),
                Error::ClaimLimitReached => (S::CONFLICT, "CLAIM_LIMIT_REACHED"),
                Error::LimitReached => (S::CONFLICT, "LIMIT_REACHED"),
                Error::BudgetExhausted => (S::CONFLICT, "BUDGET_EXHAUSTED"),
                Error::PhoneNotLinked => (S::FORBIDDEN, "PHONE_NOT_LINKED"),
                Error::InsufficientBalance { .. } | Error::Overdraw { .. } => {
                    (S::CONFLICT, "INSUFFICIENT_BALANCE")
                }
                Error::Forbidden => (S::FORBIDDEN, "FORBIDDEN"),
                Error::PhoneAlreadyLinked => (S::CONFLICT, "PHONE_ALREADY_LINKED"),
                Error::AlreadyLinked => (S::CONFLICT, "ALREADY_LINKED"),
                Error::InvalidOtp => (S::UNAUTHORIZED, "INVALID_OTP"),
                Error::OtpExpired => (S::UNAUTHORIZED, "OTP_EXPIRED"),
                Error::TooManyAttempts => (S::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS"),
                Error::TooManyRequests { .. } | Error::RateLimited { .. } => {
                    (S::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS")
                }
                Error::SmsDeliveryFailed => (S::BAD_GATEWAY, "SMS_DELIVERY_FAILED"),
                Error::IdempotencyKeyReused => (S::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"),
                Error::Unavailable | Error::Busy => (S::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
                Error::Internal(_) => (S::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
            },
        }
    }

    /// Seconds to put in `Retry-After`, for the errors that have one.
    fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            ApiError::Domain(
                Error::ClaimCooldown { retry_after }
                | Error::TooManyRequests { retry_after }
                | Error::RateLimited { retry_after, .. },
            ) => Some(retry_after.as_secs_f64().ceil().max(1.0) as u64),
            ApiError::Domain(Error::Unavailable | Error::Busy) => Some(1),
            _ => None,
        }
    }

    /// The message shown to the caller: internal errors never show their cause.
    fn public_message(&self) -> String {
        match self {
            ApiError::Domain(Error::Internal(_)) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        ApiError::Domain(Error::from(error))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Domain(Error::Internal(cause)) = &self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let body = ErrorBody {
            code: code.to_owned(),
            message: self.public_message(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            if let ApiError::Domain(Error::RateLimited { limit, .. }) = &self {
                // IETF draft "RateLimit header fields for HTTP".
                let value = format!("limit={limit}, remaining=0, reset={seconds}");
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert("ratelimit", value);
                }
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_variant_has_the_contract_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::BadRequest("x".into()), 400, "BAD_REQUEST"),
            (ApiError::RouteNotFound, 404, "NOT_FOUND"),
            (ApiError::MethodNotAllowed, 405, "METHOD_NOT_ALLOWED"),
            (ApiError::PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE"),
            (Error::Unauthorized.into(), 401, "UN_AUTHORIZED"),
            (Error::NotFound.into(), 404, "RECORD_NOT_FOUND"),
            (Error::EventInactive.into(), 409, "EVENT_INACTIVE"),
            (Error::EventNotOpen.into(), 409, "EVENT_NOT_OPEN"),
            (Error::ActivityNotTraced.into(), 409, "ACTIVITY_NOT_TRACED"),
            (
                Error::ClaimCooldown {
                    retry_after: Duration::from_secs(3),
                }
                .into(),
                429,
                "CLAIM_COOLDOWN",
            ),
            (Error::ClaimLimitReached.into(), 409, "CLAIM_LIMIT_REACHED"),
            (Error::BudgetExhausted.into(), 409, "BUDGET_EXHAUSTED"),
            (Error::PhoneNotLinked.into(), 403, "PHONE_NOT_LINKED"),
            (
                Error::InsufficientBalance {
                    balance: 1,
                    threshold: 300,
                }
                .into(),
                409,
                "INSUFFICIENT_BALANCE",
            ),
            (
                Error::PhoneAlreadyLinked.into(),
                409,
                "PHONE_ALREADY_LINKED",
            ),
            (Error::AlreadyLinked.into(), 409, "ALREADY_LINKED"),
            (
                Error::Overdraw { balance: 5 }.into(),
                409,
                "INSUFFICIENT_BALANCE",
            ),
            (Error::Forbidden.into(), 403, "FORBIDDEN"),
            (Error::InvalidOtp.into(), 401, "INVALID_OTP"),
            (Error::OtpExpired.into(), 401, "OTP_EXPIRED"),
            (Error::TooManyAttempts.into(), 429, "TOO_MANY_ATTEMPTS"),
            (
                Error::TooManyRequests {
                    retry_after: Duration::from_secs(30),
                }
                .into(),
                429,
                "TOO_MANY_REQUESTS",
            ),
            (Error::SmsDeliveryFailed.into(), 502, "SMS_DELIVERY_FAILED"),
            (
                Error::RateLimited {
                    retry_after: Duration::from_secs(1),
                    limit: 5,
                }
                .into(),
                429,
                "TOO_MANY_REQUESTS",
            ),
            (
                Error::IdempotencyKeyReused.into(),
                422,
                "IDEMPOTENCY_KEY_REUSED",
            ),
            (Error::Unavailable.into(), 503, "SERVICE_UNAVAILABLE"),
            (
                Error::Internal(anyhow::anyhow!("secret detail")).into(),
                500,
                "INTERNAL_ERROR",
            ),
        ];
        for (error, status, code) in cases {
            let (actual_status, actual_code) = error.status_and_code();
            assert_eq!(
                (actual_status.as_u16(), actual_code),
                (status, code),
                "{error:?}"
            );
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let error = ApiError::from(Error::Internal(anyhow::anyhow!("password=hunter2")));
        assert_eq!(error.public_message(), "internal error");
    }
}

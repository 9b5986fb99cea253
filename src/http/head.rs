//! Checks on a request head before any handler sees it: a client's `x-request-id`
//! is kept only in the contract's form, and a declared body over the limit is
//! refused at once instead of after it has been sent.

use axum::extract::Request;
use axum::http::header;

use super::error::ApiError;
use super::{BODY_LIMIT_BYTES, REQUEST_ID};

/// Longest `x-request-id` a client may choose.
const REQUEST_ID_MAX_LEN: usize = 64;

/// Whether a client's request id may be echoed and logged: 1–64 characters of
/// `A-Z a-z 0-9 - _ .` (nothing that could forge a log field).
pub fn is_acceptable_request_id(id: &[u8]) -> bool {
    (1..=REQUEST_ID_MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Drops every `x-request-id` unless there is exactly one, of the acceptable
/// form; the server then makes its own.
pub async fn drop_forged_request_id(mut request: Request) -> Request {
    let ids = request.headers().get_all(&REQUEST_ID);
    let mut ids = ids.iter();
    let acceptable = match (ids.next(), ids.next()) {
        (Some(id), None) => is_acceptable_request_id(id.as_bytes()),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !acceptable {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// 413 PAYLOAD_TOO_LARGE as soon as the head declares a body over the limit.
pub async fn refuse_declared_oversized_body(request: Request) -> Result<Request, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > BODY_LIMIT_BYTES as u64 => Err(ApiError::PayloadTooLarge),
        _ => Ok(request),
    }
}

#[cfg(test)]
mod tests {
    use super::is_acceptable_request_id;

    #[test]
    fn a_request_id_is_1_to_64_characters_of_a_safe_alphabet() {
        for good in ["a", "Req-1_2.3", &"Z".repeat(64)] {
            assert!(is_acceptable_request_id(good.as_bytes()), "{good}");
        }
        for bad in ["", "a b", "otp=1", "a/b", "é", "a\u{202e}", &"Z".repeat(65)] {
            assert!(!is_acceptable_request_id(bad.as_bytes()), "{bad}");
        }
    }
}

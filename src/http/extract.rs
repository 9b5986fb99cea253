//! Our extractors: `Json<T>` reads the body bytes itself, so a missing
//! `Content-Type` is accepted and every rejection becomes an `ApiError` naming the
//! field; `Query<T>` does the same for query strings.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON request body (Content-Type optional; an empty body reads as `{}`).
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(format!("could not read the body: {rejection}"))
                }
            })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses a JSON body; the error names the offending field. A zero-length body
/// reads as `{}`; anything else (whitespace alone included) must be one JSON
/// object, without NUL characters.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(ApiError::BadRequest(
                "invalid JSON body: it is blank".to_owned(),
            ))
        }
        // serde would read an array into a struct by position: every body of the
        // protocol is an object, so anything else is refused before it is parsed.
        Some(b'{') => {}
        Some(_) => {
            return Err(ApiError::BadRequest(
                "invalid JSON body: it must be a JSON object".to_owned(),
            ))
        }
    }
    refuse_nul_in_json(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." || path == "?" || path.is_empty() {
            ApiError::BadRequest(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::BadRequest(format!("{path}: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::BadRequest(format!("invalid JSON body: {error}")))?;
    Ok(value)
}

/// Refuses a JSON body with a NUL character in any string or key: PostgreSQL
/// cannot store one, and no field of the protocol may hold one. JSON can only
/// carry NUL escaped, so bodies without the escape `\u0000` are not parsed twice.
fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    const ESCAPED_NUL: &[u8] = br"\u0000";
    if !bytes.windows(ESCAPED_NUL.len()).any(|w| w == ESCAPED_NUL) {
        return Ok(());
    }
    /// The path of the first string or key holding a NUL, if any.
    fn nul_at(value: &serde_json::Value, path: &str) -> Option<String> {
        match value {
            serde_json::Value::String(text) => text.contains('\0').then(|| path.to_owned()),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| nul_at(item, &format!("{path}[{i}]"))),
            serde_json::Value::Object(map) => map.iter().find_map(|(key, value)| {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if key.contains('\0') {
                    Some(here.replace('\0', "\\u0000"))
                } else {
                    nul_at(value, &here)
                }
            }),
            _ => None,
        }
    }
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => match nul_at(&value, "") {
            Some(field) => Err(ApiError::BadRequest(format!(
                "{field}: must not contain NUL characters (\\u0000)"
            ))),
            None => Ok(()),
        },
        // Not JSON: the typed parse below says what is wrong.
        Err(_) => Ok(()),
    }
}

/// A query string, parsed into `T`; a bad parameter is 400 BAD_REQUEST.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded_from_str(query).map(Query)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let decoded = url::form_urlencoded::parse(query.as_bytes());
    let mut map = serde_json::Map::new();
    for (key, value) in decoded {
        if key.contains('\0') || value.contains('\0') {
            return Err(ApiError::BadRequest(format!(
                "query {key}: must not contain NUL characters"
            )));
        }
        // Repeated parameters: the last one wins, as most frameworks do.
        map.insert(
            key.into_owned(),
            serde_json::Value::String(value.into_owned()),
        );
    }
    serde_path_to_error::deserialize(serde_json::Value::Object(map))
        .map_err(|error| ApiError::BadRequest(format!("query {}: {}", error.path(), error.inner())))
}

/// The `limit` and cursor parameters of a list endpoint, still unparsed.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageParams {
    /// Page size, 1..; above 500 is read as 500.
    pub limit: Option<String>,
}

/// Reads `limit`: default 50, above 500 read as 500, below 1 or not a number 400.
pub fn parse_limit(limit: Option<&str>) -> Result<u32, ApiError> {
    const DEFAULT: u32 = 50;
    const MAX: u32 = 500;
    let Some(text) = limit else {
        return Ok(DEFAULT);
    };
    let bad = || ApiError::BadRequest(format!("limit must be a whole number from 1 to {MAX}"));
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // A huge all-digit number is still "above 500".
    let value: u64 = text.parse().unwrap_or(u64::MAX);
    if value < 1 {
        return Err(bad());
    }
    Ok(value.min(u64::from(MAX)) as u32)
}

/// The single path parameter of a route, as text; undecodable input or a control
/// character (NUL included) is 400.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(params) =
            axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(|rejection| {
                    ApiError::BadRequest(format!("path parameter: {rejection}"))
                })?;
        let Some((name, value)) = params.into_iter().next() else {
            return Err(ApiError::BadRequest("missing path parameter".to_owned()));
        };
        // No id holds a control character (and PostgreSQL cannot even compare one
        // with NUL): refuse them before any lookup.
        if value.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(format!(
                "{name} must not contain control characters"
            )));
        }
        Ok(PathParam(value))
    }
}

/// The `Idempotency-Key` header, as documented in OpenAPI.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyParams {
    /// Retry key: a retry with the same key within 24 h returns the first answer.
    #[serde(rename = "Idempotency-Key")]
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]([ -~]*[!-~])?$"
    )]
    pub idempotency_key: Option<String>,
}

/// The optional `Idempotency-Key` header of claims and withdrawals.
pub struct IdempotencyHeader(pub Option<crate::domain::idempotency::IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyHeader(None));
        };
        let text = value.to_str().map_err(|_| {
            ApiError::BadRequest("Idempotency-Key must be visible ASCII".to_owned())
        })?;
        let key = crate::domain::idempotency::IdempotencyKey::parse(text)?;
        Ok(IdempotencyHeader(Some(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_caps_and_refuses() {
        assert_eq!(parse_limit(None).unwrap(), 50);
        assert_eq!(parse_limit(Some("7")).unwrap(), 7);
        assert_eq!(parse_limit(Some("501")).unwrap(), 500);
        assert_eq!(parse_limit(Some("99999999999999999999999")).unwrap(), 500);
        for bad in ["0", "-1", "abc", "", "1.5", " "] {
            assert!(
                parse_limit(Some(bad)).is_err(),
                "limit {bad:?} must be refused"
            );
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[serde(rename = "eventType")]
            _event_type: String,
        }
        let error = parse_json::<Body>(br#"{"eventType": 5}"#).unwrap_err();
        assert!(error.to_string().contains("eventType"), "{error}");
        let error = parse_json::<Body>(b"").unwrap_err();
        assert!(error.to_string().contains("eventType"), "{error}");
        assert!(parse_json::<Body>(br#"{"eventType": "a"} x"#).is_err());
    }

    #[test]
    fn only_objects_are_bodies_and_nul_is_refused_anywhere() {
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only the parse is tested")]
        struct Body(Option<String>, String);
        type Object = serde_json::Map<String, serde_json::Value>;
        assert!(
            parse_json::<Body>(br#"[null, "a"]"#).is_err(),
            "no positional structs"
        );
        for body in [&br#"[1]"#[..], br#""text""#, b"7", b"null", b" [{}]"] {
            let error = parse_json::<Object>(body).expect_err("not an object");
            assert!(error.to_string().contains("JSON object"), "{error}");
        }
        for body in [
            &br#"{"a": "1\u0000"}"#[..],
            br#"{"\u0000": 1}"#,
            br#"{"a": ["\u0000"]}"#,
        ] {
            let error = parse_json::<Object>(body).expect_err("a NUL");
            assert!(error.to_string().contains("NUL"), "{error}");
        }
        let literal = parse_json::<Object>(br#"{"a": "\\u0000"}"#).expect("no NUL, a backslash");
        assert_eq!(literal["a"], "\\u0000");
    }

    #[test]
    fn only_a_zero_length_body_reads_as_an_empty_object() {
        let empty = parse_json::<serde_json::Map<String, serde_json::Value>>(b"").unwrap();
        assert!(empty.is_empty());
        for blank in [&b"\n"[..], b" ", b"\r\n\t "] {
            let error = parse_json::<serde_json::Map<String, serde_json::Value>>(blank)
                .expect_err("a whitespace-only body is not JSON");
            assert!(error.to_string().contains("invalid JSON body"), "{error}");
        }
    }
}

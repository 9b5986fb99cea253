//! Timestamps. Stored as nanoseconds since the Unix epoch; shown as RFC 3339 UTC with
//! nine fractional digits, except `session_start_time`, which keeps the format of the
//! original service (Go's `time.Time.String()`).

use chrono::{DateTime, SecondsFormat, Utc};

use super::Error;

/// Nanoseconds since the Unix epoch.
pub type Nanos = i64;

/// The time now, nanoseconds since the Unix epoch (as the storage stamps rows).
pub fn now() -> Nanos {
    crate::storage::now_nanos()
}

/// Stored nanoseconds as a UTC time.
pub fn from_nanos(nanos: Nanos) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// `2024-08-20T07:52:35.660045104Z`.
pub fn rfc3339(nanos: Nanos) -> String {
    from_nanos(nanos).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// `2024-08-20 08:32:13.025599965 +0000 UTC`, as Go prints a UTC time (trailing
/// zeros of the fraction dropped, as Go does).
pub fn go_time_string(nanos: Nanos) -> String {
    let time = from_nanos(nanos);
    let fraction = format!("{:09}", time.timestamp_subsec_nanos());
    let fraction = fraction.trim_end_matches('0');
    let dot = if fraction.is_empty() { "" } else { "." };
    format!(
        "{}{dot}{fraction} +0000 UTC",
        time.format("%Y-%m-%d %H:%M:%S")
    )
}

/// Parses an RFC 3339 time of field `field` into nanoseconds.
pub fn parse_rfc3339(field: &str, text: &str) -> Result<Nanos, Error> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|time| time.with_timezone(&Utc).timestamp_nanos_opt())
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "{field} must be an RFC 3339 time between the years 1678 and 2261"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_original_service() {
        let nanos = parse_rfc3339("t", "2024-08-20T08:32:13.025599965Z").unwrap();
        assert_eq!(rfc3339(nanos), "2024-08-20T08:32:13.025599965Z");
        assert_eq!(
            go_time_string(nanos),
            "2024-08-20 08:32:13.025599965 +0000 UTC"
        );
        let round = parse_rfc3339("t", "2024-08-20T08:32:13.5+02:00").unwrap();
        assert_eq!(go_time_string(round), "2024-08-20 06:32:13.5 +0000 UTC");
        assert!(parse_rfc3339("t", "yesterday").is_err());
    }
}

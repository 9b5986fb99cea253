//! Tracker drops (CONTRACT section 6): a flat JSON object of attributes, checked
//! here and appended to the gamer's drop log, which activity-traced claims read;
//! the per-gamer daily quota that bounds how fast one token can grow the
//! database, and the retention task that deletes expired drops.
//!
//! The quota is a counter row per gamer and UTC day, incremented in the
//! transaction that inserts the drop and only while under the quota: concurrent
//! drops of one gamer, on one server or several, wait on that row, so exactly
//! the quota's number of drops is stored, and a refused drop stores nothing.

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::auth::Gamer;
use super::error::retry_on_contention;
use super::text::{check_required_text, check_text, TextKind};
use super::{Error, Result};
use crate::storage::tracker::{self, NewDrop};
use crate::storage::{self, Db};

/// One UTC day in nanoseconds.
const DAY_NANOS: i64 = 86_400 * 1_000_000_000;
/// Rows one retention statement deletes at most: a few milliseconds of work, so
/// that it never holds the SQLite writer or PostgreSQL locks for long.
const RETENTION_BATCH: i64 = 1000;
/// Pause between two retention batches, so that requests get the writer in turn.
const RETENTION_BATCH_PAUSE: Duration = Duration::from_millis(20);
/// Time between two retention passes.
const RETENTION_INTERVAL: Duration = Duration::from_secs(600);

/// Most attributes in one drop.
pub const ATTRIBUTES_MAX: usize = 64;
/// Longest attribute name, in characters.
pub const KEY_CHARS_MAX: usize = 64;
/// Longest string value, in characters.
pub const VALUE_CHARS_MAX: usize = 1024;
/// Longest tracker event id, in characters.
pub const EVENT_ID_CHARS_MAX: usize = 128;

/// Checks the path's event id: 1 to 128 characters, no control characters.
pub fn check_event_id(event_id: &str) -> Result<()> {
    check_required_text(
        "eventID",
        event_id,
        EVENT_ID_CHARS_MAX,
        TextKind::Identifier,
    )
}

/// Checks a drop's attributes: at most 64, names of 1 to 64 characters (not blank,
/// no invisible characters), values strings of at most 1024 characters or numbers.
pub fn check_attributes(attributes: &Map<String, Value>) -> Result<()> {
    let bad = |message: String| Err(Error::BadRequest(message));
    if attributes.len() > ATTRIBUTES_MAX {
        return bad(format!(
            "a drop has at most {ATTRIBUTES_MAX} attributes, not {}",
            attributes.len()
        ));
    }
    for (key, value) in attributes {
        if key.trim().is_empty() || key.chars().count() > KEY_CHARS_MAX {
            return bad(format!(
                "attribute names must be 1 to {KEY_CHARS_MAX} characters, not blank: {:?}",
                truncated(key)
            ));
        }
        check_text("attribute name", key, KEY_CHARS_MAX, TextKind::Identifier)?;
        let kind = match value {
            Value::Number(_) => continue,
            Value::String(text) if text.chars().count() <= VALUE_CHARS_MAX => continue,
            Value::String(_) => {
                return bad(format!(
                    "attribute {key:?} is longer than {VALUE_CHARS_MAX} characters"
                ))
            }
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
            Value::Object(_) => "an object",
            Value::Array(_) => "an array",
        };
        return bad(format!(
            "attribute {key:?} must be a string or a number, not {kind}"
        ));
    }
    Ok(())
}

/// The first characters of a long name, for an error message.
fn truncated(text: &str) -> String {
    text.chars().take(KEY_CHARS_MAX).collect::<String>() + "…"
}

/// The UTC day of `nanos` (days since 1970-01-01), and the time until it ends.
pub fn utc_day(nanos: i64) -> (i64, Duration) {
    let day = nanos.div_euclid(DAY_NANOS);
    let left = (day + 1) * DAY_NANOS - nanos;
    (day, Duration::from_nanos(left.unsigned_abs()))
}

/// Appends a drop of tracker event `event_id` by `gamer`, unless the gamer has
/// already stored `drops_per_day_max` drops this UTC day: then `TooManyRequests`
/// until 00:00 UTC, and nothing is stored.
pub async fn drop_event(
    db: &Db,
    gamer: &Gamer,
    event_id: &str,
    attributes: &Map<String, Value>,
    drops_per_day_max: u32,
) -> Result<()> {
    check_event_id(event_id)?;
    check_attributes(attributes)?;
    let attributes = serde_json::to_string(attributes)
        .map_err(|error| Error::Internal(anyhow::Error::new(error)))?;
    let attributes = attributes.as_str();
    retry_on_contention(|| async move {
        let now = storage::now_nanos();
        let (day, day_left) = utc_day(now);
        let drop = NewDrop {
            client_id: &gamer.client_id,
            gamer_id: gamer.gamer_id,
            event_id,
            attributes,
            now,
        };
        let quota = i64::from(drops_per_day_max);
        if tracker::insert_drop_within_quota(db, drop, day, quota).await? {
            Ok(())
        } else {
            Err(Error::TooManyRequests {
                retry_after: day_left,
            })
        }
    })
    .await
}

/// Deletes the drops older than `retention` (and the quota counters of past
/// days) in batches of [`RETENTION_BATCH`]; returns how many drops it deleted.
/// Stops between two batches when `stop` says so.
pub async fn delete_expired_drops(
    db: &Db,
    retention: Duration,
    stop: &watch::Receiver<bool>,
) -> Result<u64> {
    let now = storage::now_nanos();
    let before = now.saturating_sub(super::otp::nanos(retention));
    let mut deleted = 0;
    loop {
        let batch = tracker::delete_drops_before(db.writer(), before, RETENTION_BATCH).await?;
        deleted += batch;
        if batch < RETENTION_BATCH as u64 || *stop.borrow() {
            break;
        }
        tokio::time::sleep(RETENTION_BATCH_PAUSE).await;
    }
    // Only today's counter is ever read; yesterday's is kept for drops in flight
    // at midnight.
    let (today, _) = utc_day(now);
    while !*stop.borrow() {
        let batch =
            tracker::delete_drop_days_before(db.writer(), today - 1, RETENTION_BATCH).await?;
        if batch < RETENTION_BATCH as u64 {
            break;
        }
        tokio::time::sleep(RETENTION_BATCH_PAUSE).await;
    }
    Ok(deleted)
}

/// Runs [`delete_expired_drops`] at start and then every ten minutes, until
/// `stop` turns true.
pub async fn run_retention(db: Db, retention: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        match delete_expired_drops(&db, retention, &stop).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "deleted expired analytics drops"),
            Err(error) => tracing::warn!(%error, "analytics retention pass failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETENTION_INTERVAL) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn strings_and_numbers_pass_and_everything_else_is_named() {
        let good = json!({"attr1": "v", "level": 7, "score": 12.5, "neg": -3});
        assert!(check_attributes(&object(good)).is_ok());
        for (value, word) in [
            (json!(true), "boolean"),
            (json!(null), "null"),
            (json!({"a": 1}), "object"),
            (json!([1]), "array"),
        ] {
            let error = check_attributes(&object(json!({ "k": value }))).unwrap_err();
            assert!(error.to_string().contains(word), "{error}");
        }
    }

    #[test]
    fn limits_are_inclusive() {
        let many: Map<String, Value> = (0..ATTRIBUTES_MAX)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect();
        assert!(check_attributes(&many).is_ok());
        let mut too_many = many;
        too_many.insert("one more".to_owned(), json!(1));
        assert!(check_attributes(&too_many).is_err());
        let key = "k".repeat(KEY_CHARS_MAX);
        assert!(check_attributes(&object(json!({ key: 1 }))).is_ok());
        let key = "k".repeat(KEY_CHARS_MAX + 1);
        assert!(check_attributes(&object(json!({ key: 1 }))).is_err());
        let text = "é".repeat(VALUE_CHARS_MAX);
        assert!(check_attributes(&object(json!({ "k": text }))).is_ok());
        let text = "é".repeat(VALUE_CHARS_MAX + 1);
        assert!(check_attributes(&object(json!({ "k": text }))).is_err());
    }

    #[test]
    fn the_utc_day_ends_at_midnight() {
        let second = 1_000_000_000;
        assert_eq!(utc_day(0), (0, Duration::from_secs(86_400)));
        let (day, left) = utc_day(3 * DAY_NANOS + 3600 * second + 1);
        assert_eq!(day, 3);
        assert_eq!(left, Duration::from_nanos((23 * 3600 * second - 1) as u64));
        assert_eq!(utc_day(4 * DAY_NANOS - 1).0, 3, "the last instant of day 3");
    }

    #[test]
    fn event_ids_are_one_line_of_at_most_128_characters() {
        assert!(check_event_id("level_complete").is_ok());
        assert!(check_event_id(&"e".repeat(128)).is_ok());
        for bad in [
            String::new(),
            "e".repeat(129),
            "a\nb".to_owned(),
            "a\u{0}b".to_owned(),
        ] {
            assert!(check_event_id(&bad).is_err(), "{bad:?}");
        }
    }
}

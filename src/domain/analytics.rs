//! Tracker drops (CONTRACT section 6): a flat JSON object of attributes, checked
//! here and appended to the gamer's drop log, which activity-traced claims read.

use serde_json::{Map, Value};

use super::text::{check_required_text, check_text, TextKind};
use super::{Error, Result};
use crate::storage::sessions::SessionGamerRow;
use crate::storage::tracker::{self, NewDrop};
use crate::storage::{self, Db};

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

/// Appends a drop of tracker event `event_id` by `gamer`.
pub async fn drop_event(
    db: &Db,
    gamer: &SessionGamerRow,
    event_id: &str,
    attributes: &Map<String, Value>,
) -> Result<()> {
    check_event_id(event_id)?;
    check_attributes(attributes)?;
    let attributes = serde_json::to_string(attributes)
        .map_err(|error| Error::Internal(anyhow::Error::new(error)))?;
    let drop = NewDrop {
        client_id: &gamer.client_id,
        gamer_id: gamer.gamer_id,
        event_id,
        attributes: &attributes,
        now: storage::now_nanos(),
    };
    tracker::insert_drop(db.writer(), drop).await?;
    Ok(())
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

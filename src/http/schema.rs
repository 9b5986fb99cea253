//! Patterns for the OpenAPI document (ECMA-262 regular expressions), so that the
//! published schema refuses what `domain::text` refuses. (Derive attributes need
//! literals, so `http::events` spells the same patterns out.)

/// A line without control characters (`TextKind::Line`).
pub const NO_CONTROL_CHARACTERS: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

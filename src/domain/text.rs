//! Checks on free text from requests: lengths, and the characters that no field may
//! hold. A NUL byte cannot be stored by PostgreSQL, and control characters in an
//! identifier would let a caller forge log lines or headers, so both are refused
//! with 400 instead of reaching the database or the log.

use super::Error;

/// What a text field may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    /// An identifier or single-line name: no control characters at all.
    Line,
    /// Prose: tabs and line breaks allowed, other control characters not.
    Prose,
}

/// Checks `value` of field `field`: at most `max_chars` characters, of `kind`.
pub fn check_text(field: &str, value: &str, max_chars: usize, kind: TextKind) -> Result<(), Error> {
    if value.chars().count() > max_chars {
        return Err(Error::BadRequest(format!(
            "{field} must be at most {max_chars} characters"
        )));
    }
    let allowed = |c: char| match kind {
        TextKind::Line => !c.is_control(),
        TextKind::Prose => !c.is_control() || matches!(c, '\t' | '\n' | '\r'),
    };
    if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        return Err(Error::BadRequest(format!(
            "{field} must not contain the control character U+{:04X}",
            u32::from(bad)
        )));
    }
    Ok(())
}

/// Like `check_text`, and also refuses an empty (or all-blank) value.
pub fn check_required_text(
    field: &str,
    value: &str,
    max_chars: usize,
    kind: TextKind,
) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::BadRequest(format!("{field} must not be empty")));
    }
    check_text(field, value, max_chars, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_refuse_control_characters_and_prose_allows_newlines() {
        assert!(check_text("f", "héllo 👋", 10, TextKind::Line).is_ok());
        assert!(check_text("f", "a\nb", 10, TextKind::Line).is_err());
        assert!(check_text("f", "a\u{0}b", 10, TextKind::Prose).is_err());
        assert!(check_text("f", "a\u{1b}[31m", 10, TextKind::Prose).is_err());
        assert!(check_text("f", "a\nb\tc", 10, TextKind::Prose).is_ok());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(check_text("f", "ééé", 3, TextKind::Line).is_ok());
        assert!(check_text("f", "éééé", 3, TextKind::Line).is_err());
        assert!(check_required_text("f", "  ", 3, TextKind::Line).is_err());
    }
}

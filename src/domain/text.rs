//! Checks on free text from requests: lengths, and the characters that no field may
//! hold. A NUL byte cannot be stored by PostgreSQL, and control characters in an
//! identifier would let a caller forge log lines or headers, so both are refused
//! with 400 instead of reaching the database or the log. Identifiers also refuse
//! the invisible characters that make one id look like another or reorder a log
//! line (Unicode format and line/paragraph separators: U+200B, U+202E, U+2028 …).

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::Error;

/// What a text field may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    /// An identifier (`user_id`, an event id, a key): no control, format or
    /// line/paragraph separator characters (Unicode Cc, Cf, Zl, Zp).
    Identifier,
    /// A single-line name: no control characters at all.
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
        TextKind::Identifier => !matches!(
            c.general_category(),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        ),
        TextKind::Line => !c.is_control(),
        TextKind::Prose => !c.is_control() || matches!(c, '\t' | '\n' | '\r'),
    };
    if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        return Err(Error::BadRequest(format!(
            "{field} must not contain the invisible or control character U+{:04X}",
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
    fn identifiers_refuse_invisible_and_reordering_characters() {
        assert!(check_text("f", "FTC_User1-é", 20, TextKind::Identifier).is_ok());
        for bad in [
            "a\u{200B}b",
            "a\u{202E}b",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{FEFF}b",
            "a\u{0}b",
        ] {
            assert!(
                check_text("f", bad, 20, TextKind::Identifier).is_err(),
                "{bad:?}"
            );
        }
        // A name may hold a zero-width joiner (emoji sequences); an id may not.
        assert!(check_text("f", "👩\u{200D}💻", 20, TextKind::Line).is_ok());
        assert!(check_text("f", "👩\u{200D}💻", 20, TextKind::Identifier).is_err());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(check_text("f", "ééé", 3, TextKind::Line).is_ok());
        assert!(check_text("f", "éééé", 3, TextKind::Line).is_err());
        assert!(check_required_text("f", "  ", 3, TextKind::Line).is_err());
    }
}

//! The ledger's vocabulary as it is stored: account kinds, transfer kinds, history
//! directions and settlement statuses. The database holds them as text; these enums
//! are decoded here, at the storage edge, so no code above `storage` compares
//! strings. Their `serde` form is the stored text, which is also the wire text.

use serde::{Deserialize, Serialize};

/// Declares a stored-text enum: its variants with their text, `as_str`, `parse`,
/// `TryFrom<String>` (for `#[sqlx(try_from = "String")]`) and `rusqlite::ToSql`.
macro_rules! stored_text {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and wire) text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant stored as `text`, if any.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownText;

            fn try_from(text: String) -> Result<$name, UnknownText> {
                $name::parse(&text).ok_or(UnknownText {
                    what: stringify!($name),
                    text,
                })
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }
    };
}

/// A stored value that none of an enum's variants spells: the database holds a
/// value this build does not know (a newer migration, or a hand edit).
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {text:?} in the database")]
pub struct UnknownText {
    what: &'static str,
    text: String,
}

stored_text! {
    /// Kinds of ledger accounts.
    AccountKind {
        /// A game's issuing account shard (may go negative by what it issued).
        Issuing = "ISSUING",
        /// A gamer wallet's earned bucket.
        Earned = "EARNED",
        /// A gamer wallet's bonus bucket.
        Bonus = "BONUS",
        /// A gamer wallet's bought bucket.
        Bought = "BOUGHT",
        /// A KGeN account's wallet.
        Kgen = "KGEN",
    }
}

stored_text! {
    /// What a transfer (and its wallet history line) is for. The history's `type`.
    TransferKind {
        /// A new gamer's welcome bonus.
        WelcomeBonus = "WELCOME_BONUS",
        /// The reward of a claimed event.
        EventReward = "EVENT_REWARD",
        /// A withdrawal to the linked KGeN wallet.
        Withdraw = "WITHDRAW",
        /// A failed withdrawal's funds going back (ledger only, no history line).
        WithdrawReturn = "WITHDRAW_RETURN",
        /// A console adjustment.
        Adjustment = "ADJUSTMENT",
    }
}

stored_text! {
    /// A history line's direction, from the gamer wallet's side.
    Direction {
        /// KCash came in.
        Credit = "CREDIT",
        /// KCash went out.
        Debit = "DEBIT",
    }
}

stored_text! {
    /// Where a wallet transaction is in its settlement.
    SyncStatus {
        /// Written, not settled yet (withdrawals).
        Pending = "PENDING",
        /// Settled.
        Completed = "COMPLETED",
        /// Settlement failed; the funds went back.
        Failed = "FAILED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_reads_back_from_its_text_and_serde_agrees() {
        for kind in TransferKind::ALL {
            assert_eq!(TransferKind::parse(kind.as_str()), Some(*kind));
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        for status in SyncStatus::ALL {
            assert_eq!(
                SyncStatus::try_from(status.as_str().to_owned()).unwrap(),
                *status
            );
        }
        for kind in AccountKind::ALL {
            assert_eq!(AccountKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(Direction::parse("CREDIT"), Some(Direction::Credit));
    }

    #[test]
    fn unknown_text_is_an_error_naming_the_type() {
        let error = SyncStatus::try_from("SETTLED".to_owned()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown SyncStatus \"SETTLED\" in the database"
        );
        assert_eq!(Direction::parse("credit"), None, "the text is exact");
    }
}

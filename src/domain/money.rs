//! `Amount`: a count of KCash as it arrives on the wire: whole numbers only, from 0
//! to 1 000 000 000 (CONTRACT Part 1). No floats anywhere.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The largest amount the API accepts in a request.
pub const AMOUNT_MAX: i64 = 1_000_000_000;

/// A non-negative whole number of KCash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Amount(i64);

impl Amount {
    /// The amount as a number of KCash.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        deserializer
            .deserialize_any(WholeNumber { max: AMOUNT_MAX })
            .map(Amount)
    }
}

/// A JSON integer from 0 to `max`; floats (even `100.0`), strings and negatives fail.
pub struct WholeNumber {
    /// Largest value accepted.
    pub max: i64,
}

impl Visitor<'_> for WholeNumber {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number from 0 to {}", self.max)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
        match i64::try_from(value) {
            Ok(v) if v <= self.max => Ok(v),
            _ => Err(E::invalid_value(de::Unexpected::Unsigned(value), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
        if (0..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(E::invalid_value(de::Unexpected::Signed(value), &self))
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
        Err(E::invalid_type(de::Unexpected::Float(value), &self))
    }
}

/// Deserializes an optional whole number from 0 to `MAX` (`null` reads as absent).
pub fn optional_whole_number<'de, D, const MAX: i64>(
    deserializer: D,
) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    struct OptionalWhole<const MAX: i64>;
    impl<'de, const MAX: i64> Visitor<'de> for OptionalWhole<MAX> {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a whole number from 0 to {MAX} or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<i64>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<i64>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
            d.deserialize_any(WholeNumber { max: MAX }).map(Some)
        }
    }
    deserializer.deserialize_option(OptionalWhole::<MAX>)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Amount, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn accepts_whole_numbers_in_range() {
        assert_eq!(parse("0").unwrap().get(), 0);
        assert_eq!(parse("100").unwrap().get(), 100);
        assert_eq!(parse("1000000000").unwrap().get(), AMOUNT_MAX);
    }

    #[test]
    fn refuses_fractions_negatives_strings_and_too_large() {
        for bad in [
            "100.0",
            "1.5",
            "-1",
            "\"100\"",
            "1000000001",
            "1e3",
            "null",
            "true",
        ] {
            assert!(parse(bad).is_err(), "{bad} must be refused");
        }
    }
}

//! Phone numbers as OTP linking sees them (CONTRACT section 3): the request's
//! `countryCode` and `phone_number` normalised to one E.164 string by
//! libphonenumber's rules (the `phonenumber` crate), so that every limit, every
//! uniqueness check and every link sees one phone as one string whatever way it
//! was typed: `+91 9812345670`, `91` + `09812345670` and `+91 009812345670` are all
//! `+919812345670`, while Italy's leading 0 stays part of the number.
//!
//! Only numbers the library calls *valid* for their country are accepted. A
//! number that is merely *possible* (the right length, but in no range the
//! country has allocated) is refused: no SMS can reach it, and accepting it
//! would let one subscriber number be spelled several ways again (a leading 0 in
//! a country without a trunk prefix, an unallocated area code).

use std::str::FromStr;

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber};

use super::{Error, Result};

/// Most digits accepted in `phone_number` before normalisation: an E.164 number
/// has at most 15, plus room for a trunk prefix and stray leading zeros.
const NATIONAL_DIGITS_MAX: usize = 20;

/// A phone number in E.164 (`+` and 8 to 15 digits), valid for its country.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Normalises the request's `countryCode` (with or without `+`) and
    /// `phone_number` (digits; spaces and hyphens are ignored) to E.164.
    pub fn parse(country_code: Option<&str>, number: Option<&str>) -> Result<Phone> {
        let code = country_code_digits(country_code)?;
        let digits = national_digits(number)?;
        let e164 = normalise(code, &digits).ok_or_else(|| {
            Error::BadRequest(format!(
                "phone_number is not a valid phone number of country code +{code}"
            ))
        })?;
        let e164_digits = e164.len() - 1;
        if !e164.starts_with('+') || !(8..=15).contains(&e164_digits) {
            return Err(Error::BadRequest(
                "countryCode and phone_number must make + and 8 to 15 digits (E.164)".to_owned(),
            ));
        }
        Ok(Phone(e164))
    }

    /// The number as stored and shown: `+919876543219`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Loads the library's metadata now rather than on the first OTP request (it
/// takes a noticeable moment in a debug build).
pub fn load_metadata() {
    let _ = DATABASE.by_code(&91);
}

/// The country calling code: 1 to 3 digits, not starting with 0, `+` optional.
fn country_code_digits(country_code: Option<&str>) -> Result<u16> {
    let bad = || {
        Error::BadRequest("countryCode must be + and 1 to 3 digits, not starting with 0".to_owned())
    };
    let text = country_code
        .ok_or_else(|| Error::BadRequest("countryCode is required".to_owned()))?
        .trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || text.len() > 3 || text.starts_with('0') {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// The digits of `phone_number` once spaces and hyphens are gone. Anything else
/// (letters, `+`, parentheses) is refused here rather than interpreted by the
/// library, which would read letters as keypad digits or as an extension.
fn national_digits(number: Option<&str>) -> Result<String> {
    let number = number.ok_or_else(|| Error::BadRequest("phone_number is required".to_owned()))?;
    let digits: String = number
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadRequest(
            "phone_number must contain only digits, spaces and hyphens".to_owned(),
        ));
    }
    if digits.len() > NATIONAL_DIGITS_MAX {
        return Err(Error::BadRequest(format!(
            "phone_number has more than {NATIONAL_DIGITS_MAX} digits"
        )));
    }
    Ok(digits)
}

/// The E.164 form of a valid number, or `None`.
///
/// First as an international number, `+<code><digits>`: the library removes a
/// trunk prefix where the country has one and keeps a leading 0 that belongs to
/// the number. Then, for trunk prefixes it leaves in that form (the `1` of
/// `+1 1 202 …`), as a national number of the code's main region, accepted only
/// if it stays in that country: in national form a leading `00` is an
/// international prefix and would dial another country.
///
/// The library has panicked on odd input in past versions; a panic here makes
/// the number invalid (400) rather than the request a 500.
fn normalise(code: u16, digits: &str) -> Option<String> {
    std::panic::catch_unwind(|| {
        let valid = |number: &PhoneNumber| number.code().value() == code && number.is_valid();
        let international = phonenumber::parse(None, format!("+{code}{digits}")).ok();
        let national = || phonenumber::parse(Some(main_region(code)?), digits).ok();
        let number = international
            .filter(valid)
            .or_else(|| national().filter(valid))?;
        Some(number.format().mode(Mode::E164).to_string())
    })
    .ok()
    .flatten()
}

/// The main region of a country calling code (`US` for 1), if it has one.
fn main_region(code: u16) -> Option<Id> {
    let regions = DATABASE.by_code(&code)?;
    let main = regions
        .iter()
        .find(|meta| meta.is_main_country_for_code())
        .or_else(|| regions.first())?;
    Id::from_str(main.id()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(code: &str, number: &str) -> Result<String> {
        Phone::parse(Some(code), Some(number)).map(|phone| phone.0)
    }

    #[test]
    fn one_phone_typed_many_ways_is_one_e164_string() {
        // The last spelling dials India from India through the international
        // prefix 00: the same subscriber, so the same phone.
        for (code, number) in [
            ("+91", "9812345670"),
            ("91", "09812345670"),
            ("+91", "009812345670"),
            ("+91", "98123-45670"),
            (" +91 ", " 98123 45670 "),
            ("+91", "0091 98123 45670"),
        ] {
            assert_eq!(
                phone(code, number).unwrap(),
                "+919812345670",
                "{code} {number}"
            );
        }
        assert_eq!(phone("+44", "07911 123456").unwrap(), "+447911123456");
        assert_eq!(phone("+1", "1 202 555 0123").unwrap(), "+12025550123");
        assert_eq!(phone("1", "202-555-0123").unwrap(), "+12025550123");
    }

    #[test]
    fn a_leading_zero_that_is_part_of_the_number_is_kept() {
        assert_eq!(phone("+39", "02 1234 5678").unwrap(), "+390212345678");
        assert_eq!(phone("+39", "312 345 6789").unwrap(), "+393123456789");
    }

    #[test]
    fn invalid_or_merely_possible_numbers_are_refused() {
        for (code, number, why) in [
            ("+1", "2025550", "7 digits"),
            (
                "+1",
                "123 456 7890",
                "an unallocated US area code (possible, not valid)",
            ),
            ("+39", "002 1234 5678", "a second zero in Italy"),
            ("+91", "98765432190123", "16 digits"),
            ("+91", "98765x3219", "a letter"),
            ("+1", "800 FLOWERS", "keypad letters"),
            ("+91", "(98) 12345670", "parentheses"),
            ("+91", "+919876543219", "a plus in the number"),
            ("+0", "9876543219", "country code 0"),
            ("+999", "9876543219", "an unassigned country code"),
            ("+9123", "98765432", "4-digit country code"),
            ("", "9876543219", "empty country code"),
            ("+91", "", "empty number"),
            ("+91", &"9".repeat(21), "21 digits"),
        ] {
            assert!(
                matches!(phone(code, number), Err(Error::BadRequest(_))),
                "{why} must be refused"
            );
        }
        assert!(Phone::parse(None, Some("9876543219")).is_err());
        assert!(Phone::parse(Some("+91"), None).is_err());
    }

    #[test]
    fn every_country_code_with_any_digits_is_e164_or_400() {
        let numbers = [
            "0",
            "00000000",
            "0000000000000000",
            "12345678",
            "9812345670",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for code in 1..=999_usize {
            let random: String = (0..(seed % 20 + 1))
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(b'0' + (seed % 10) as u8)
                })
                .collect();
            let fixed = numbers[code % numbers.len()];
            for number in [fixed, random.as_str()] {
                match phone(&code.to_string(), number) {
                    Ok(e164) => assert!(e164.starts_with(&format!("+{code}")), "{e164}"),
                    Err(Error::BadRequest(_)) => {}
                    Err(other) => panic!("+{code} {number}: {other}"),
                }
            }
        }
    }
}

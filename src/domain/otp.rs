//! The pure parts of OTP phone linking (CONTRACT section 3): authCodes and OTPs
//! from the operating system's CSPRNG, the keyed hash an OTP is stored as, and the
//! send limits. Phones are normalised in `phone`; the flows are in `phone_link`.
//!
//! Choices where the contract leaves room: an authCode has 8 digits and never starts
//! with 0, so a number read back from JSON is the same code; the OTP hash is
//! HMAC-SHA256 over `<authCode>:<otp>`, so a hash is worthless for any other request.

use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::secrets::OtpKey;

/// Digits of an authCode.
pub const AUTH_CODE_LENGTH: usize = 8;
/// Digits of an OTP.
pub const OTP_LENGTH: usize = 6;
/// The window of the hourly send limit.
pub const SEND_WINDOW: Duration = Duration::from_secs(3600);

/// The OTP rules of the configuration.
#[derive(Clone, Copy, Debug)]
pub struct OtpPolicy {
    /// How long an OTP stays valid.
    pub ttl: Duration,
    /// Wrong tries before a request dies (at least 1).
    pub attempts_max: u32,
    /// Time between two sends to one phone.
    pub resend_cooldown: Duration,
    /// Sends to one phone per hour.
    pub sends_per_hour_max: u32,
    /// Sends one gamer may ask for per hour, whatever the phones.
    pub sends_per_gamer_per_hour_max: u32,
    /// Sends the gamers of one game client may cause per hour, in all (against
    /// SMS pumping).
    pub sends_per_client_per_hour_max: u32,
}

impl OtpPolicy {
    /// How far back any limit looks: sends older than this can be forgotten.
    pub fn memory(&self) -> Duration {
        SEND_WINDOW.max(self.resend_cooldown)
    }

    /// How long until the gamer may ask for one more send, given the times of its
    /// sends within the last hour, newest first; `None` if allowed now.
    pub fn gamer_send_wait(&self, sent_at_newest_first: &[i64], now: i64) -> Option<Duration> {
        let limit = self.sends_per_gamer_per_hour_max as usize;
        if sent_at_newest_first.len() < limit {
            return None;
        }
        // The send that must leave the window before another one fits.
        let blocking = match limit {
            0 => now,
            _ => sent_at_newest_first[limit - 1],
        };
        let free_at = blocking.saturating_add(nanos(SEND_WINDOW));
        Some(Duration::from_nanos(
            u64::try_from(free_at.saturating_sub(now)).unwrap_or(0),
        ))
    }

    /// How long until the client may cause one more send, given the time of the
    /// `sends_per_client_per_hour_max`-th newest of its sends within the last
    /// hour (`None`: it has fewer); `None` if allowed now.
    pub fn client_send_wait(&self, limit_th_newest: Option<i64>, now: i64) -> Option<Duration> {
        if self.sends_per_client_per_hour_max == 0 {
            return Some(SEND_WINDOW);
        }
        // That send must leave the window before another one fits.
        let free_at = limit_th_newest?.saturating_add(nanos(SEND_WINDOW));
        let wait = free_at.saturating_sub(now).max(1);
        Some(Duration::from_nanos(wait.unsigned_abs()))
    }

    /// How long until one more send to a phone is allowed, given the times of its
    /// sends within [`memory`](Self::memory), newest first; `None` if allowed now.
    pub fn send_wait(&self, sent_at_newest_first: &[i64], now: i64) -> Option<Duration> {
        let cooldown_ends = sent_at_newest_first
            .first()
            .map(|&latest| latest.saturating_add(nanos(self.resend_cooldown)));
        let window_start = now.saturating_sub(nanos(SEND_WINDOW));
        let in_window = sent_at_newest_first
            .iter()
            .take_while(|&&sent_at| sent_at > window_start);
        let limit = self.sends_per_hour_max as usize;
        let hourly_ends = if limit == 0 {
            Some(now.saturating_add(nanos(SEND_WINDOW)))
        } else {
            // The limit-th newest send of the window must leave it first.
            in_window
                .clone()
                .nth(limit - 1)
                .map(|&sent_at| sent_at.saturating_add(nanos(SEND_WINDOW)))
        };
        let allowed_at = cooldown_ends.max(hourly_ends)?;
        let wait = allowed_at.saturating_sub(now);
        (wait > 0).then(|| Duration::from_nanos(wait.unsigned_abs()))
    }
}

/// A duration as stored nanoseconds.
pub fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// A new authCode: 8 digits, never starting with 0.
pub fn generate_auth_code() -> String {
    let low = 10_u32.pow(AUTH_CODE_LENGTH as u32 - 1);
    rand::rngs::OsRng.gen_range(low..low * 10).to_string()
}

/// A new OTP: 6 uniformly random digits from the operating system's CSPRNG.
pub fn generate_otp() -> String {
    let code = rand::rngs::OsRng.gen_range(0..10_u32.pow(OTP_LENGTH as u32));
    format!("{code:0OTP_LENGTH$}")
}

/// A code that arrived as a JSON number: its decimal digits, left-padded with
/// zeros to `length`.
pub fn code_from_number(number: u64, length: usize) -> String {
    format!("{number:0length$}")
}

/// The stored form of `otp` for request `auth_code`: HMAC-SHA256, hex.
pub fn hash_otp(key: &OtpKey, auth_code: &str, otp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
    mac.update(auth_code.as_bytes());
    mac.update(b":");
    mac.update(otp.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `otp` matches the stored hash, compared in constant time.
pub fn otp_matches(key: &OtpKey, auth_code: &str, otp: &str, stored_hash: &str) -> bool {
    let candidate = hash_otp(key, auth_code, otp);
    bool::from(candidate.as_bytes().ct_eq(stored_hash.as_bytes()))
}

/// The text of the SMS that carries `otp`.
pub fn message_text(otp: &str, ttl: Duration) -> String {
    let seconds = ttl.as_secs();
    let validity = match seconds {
        60 => "1 minute".to_owned(),
        s if s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
        1 => "1 second".to_owned(),
        s => format!("{s} seconds"),
    };
    format!(
        "{otp} is your KGeN verification code. It is valid for {validity}. \
         Do not share it with anyone."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    fn policy(cooldown: u64, per_hour: u32) -> OtpPolicy {
        OtpPolicy {
            ttl: Duration::from_secs(300),
            attempts_max: 5,
            resend_cooldown: Duration::from_secs(cooldown),
            sends_per_hour_max: per_hour,
            sends_per_gamer_per_hour_max: 10,
            sends_per_client_per_hour_max: 1000,
        }
    }

    #[test]
    fn codes_have_their_fixed_lengths() {
        for _ in 0..1000 {
            let auth_code = generate_auth_code();
            assert_eq!(auth_code.len(), AUTH_CODE_LENGTH);
            assert!(!auth_code.starts_with('0'));
            let otp = generate_otp();
            assert_eq!(otp.len(), OTP_LENGTH);
            assert!(otp.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(code_from_number(12345, OTP_LENGTH), "012345");
        assert_eq!(code_from_number(596097, OTP_LENGTH), "596097");
    }

    #[test]
    fn otp_hashes_are_keyed_and_bound_to_their_request() {
        let key = OtpKey(vec![7; 32]);
        let hash = hash_otp(&key, "12345678", "596097");
        assert_ne!(hash, "596097");
        assert!(otp_matches(&key, "12345678", "596097", &hash));
        assert!(!otp_matches(&key, "12345678", "596098", &hash));
        assert!(!otp_matches(&key, "87654321", "596097", &hash));
        assert!(!otp_matches(
            &OtpKey(vec![8; 32]),
            "12345678",
            "596097",
            &hash
        ));
    }

    #[test]
    fn the_cooldown_and_the_hourly_limit_give_the_wait() {
        let now = 10_000 * SECOND;
        let limits = policy(30, 3);
        assert_eq!(limits.send_wait(&[], now), None);
        assert_eq!(
            limits.send_wait(&[now - 10 * SECOND], now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(limits.send_wait(&[now - 30 * SECOND], now), None);
        let three = [now - 100 * SECOND, now - 200 * SECOND, now - 3000 * SECOND];
        assert_eq!(
            limits.send_wait(&three, now),
            Some(Duration::from_secs(600)),
            "the oldest of the three leaves the hour first"
        );
        let old = [now - 100 * SECOND, now - 200 * SECOND, now - 3600 * SECOND];
        assert_eq!(limits.send_wait(&old, now), None, "an hour-old send is out");
        assert_eq!(
            policy(0, 0).send_wait(&[], now),
            Some(SEND_WINDOW),
            "a zero limit allows nothing"
        );
    }

    #[test]
    fn the_message_states_the_validity() {
        let text = message_text("596097", Duration::from_secs(300));
        assert!(
            text.contains("596097") && text.contains("5 minutes"),
            "{text}"
        );
        assert!(message_text("1", Duration::from_secs(90)).contains("90 seconds"));
    }

    #[test]
    fn a_gamer_over_its_hourly_sends_waits_for_the_oldest_to_leave_the_window() {
        let hour = nanos(Duration::from_secs(3600));
        let policy = policy(30, 5);
        let now = 10 * hour;
        let three_recent = [now - 100, now - 200, now - 300];
        let limited = OtpPolicy {
            sends_per_gamer_per_hour_max: 3,
            ..policy
        };
        let wait = limited
            .gamer_send_wait(&three_recent, now)
            .expect("at the limit");
        assert_eq!(wait, Duration::from_nanos((hour - 300) as u64));
        assert!(limited.gamer_send_wait(&three_recent[..2], now).is_none());
    }

    #[test]
    fn a_client_at_its_hourly_sends_waits_for_the_limit_th_newest_to_leave_the_window() {
        let now = 10_000 * SECOND;
        let limits = OtpPolicy {
            sends_per_client_per_hour_max: 3,
            ..policy(30, 5)
        };
        assert_eq!(limits.client_send_wait(None, now), None, "under the cap");
        assert_eq!(
            limits.client_send_wait(Some(now - 3000 * SECOND), now),
            Some(Duration::from_secs(600))
        );
        let off = OtpPolicy {
            sends_per_client_per_hour_max: 0,
            ..limits
        };
        assert_eq!(off.client_send_wait(None, now), Some(SEND_WINDOW));
    }
}

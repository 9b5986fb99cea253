//! Rate limits per client (`/s2s/*`) and per gamer (`/fe/*`), GCRA through the
//! `governor` crate. They are checked after authentication, so a caller who only
//! knows a client id cannot use up that client's allowance.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{Error, Result};

/// One keyed limiter with its configured rate.
#[derive(Debug)]
struct Limiter {
    limiter: DefaultKeyedRateLimiter<String>,
    per_second: u32,
    checks: AtomicU64,
}

impl Limiter {
    fn new(per_second: u32, burst: u32) -> Option<Limiter> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
        Some(Limiter {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            per_second,
            checks: AtomicU64::new(0),
        })
    }

    fn check(&self, key: &str) -> Result<()> {
        // Forget idle keys now and then so that memory follows active callers only.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Error::RateLimited {
                    retry_after: wait.max(Duration::from_millis(1)),
                    limit: self.per_second,
                }
            })
    }
}

/// The server's rate limits.
#[derive(Debug)]
pub struct RateLimits {
    clients: Option<Limiter>,
    gamers: Option<Limiter>,
}

impl RateLimits {
    /// Limits with these rates and bursts; a rate of 0 switches that limit off.
    pub fn new(client: (u32, u32), gamer: (u32, u32)) -> RateLimits {
        RateLimits {
            clients: Limiter::new(client.0, client.1),
            gamers: Limiter::new(gamer.0, gamer.1),
        }
    }

    /// Counts one request of this client; `RateLimited` when over its limit.
    pub fn check_client(&self, client_id: &str) -> Result<()> {
        self.clients.as_ref().map_or(Ok(()), |l| l.check(client_id))
    }

    /// Counts one request of this gamer; `RateLimited` when over its limit.
    pub fn check_gamer(&self, gamer_id: i64) -> Result<()> {
        self.gamers
            .as_ref()
            .map_or(Ok(()), |l| l.check(&gamer_id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_burst_is_limited_and_others_are_not() {
        let limits = RateLimits::new((1, 3), (0, 0));
        for _ in 0..3 {
            limits.check_client("a").unwrap();
        }
        let Err(Error::RateLimited { retry_after, limit }) = limits.check_client("a") else {
            panic!("the fourth request within a second is limited");
        };
        assert_eq!(limit, 1);
        assert!(retry_after <= Duration::from_secs(1));
        assert!(limits.check_client("b").is_ok(), "keys are separate");
        assert!(limits.check_gamer(7).is_ok(), "a rate of 0 is no limit");
    }
}

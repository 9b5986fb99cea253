//! The dashboard of one game: per-day figures over the last N UTC days (today
//! included), the top events of the window, what the gamers hold, the settlement
//! queue and the last `ledger verify` run.

use std::collections::HashMap;

use crate::domain::{Error, Result};
pub use crate::storage::console::stats::DAY_NANOS;
use crate::storage::console::stats::{self as store, TopEventRow};
use crate::storage::{self, Db};

/// Most days a dashboard covers.
pub const DAYS_MAX: i64 = 90;

/// One day's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayStats {
    /// UTC day number (days since 1970-01-01).
    pub day: i64,
    /// REWARDED claims.
    pub claims: i64,
    /// Their rewards.
    pub kcash_rewarded: i64,
    /// Welcome bonuses.
    pub kcash_bonus: i64,
    /// Signed sum of adjustments.
    pub kcash_adjusted: i64,
    /// Withdrawals requested and not FAILED.
    pub kcash_withdrawn: i64,
    /// Gamers created.
    pub new_gamers: i64,
    /// Distinct gamers with a session, claim, drop or withdrawal.
    pub active_gamers: i64,
}

/// The last `ledger verify` run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// When it ran, nanoseconds.
    pub at: i64,
    /// Whether every invariant held.
    pub ok: bool,
    /// What it printed.
    pub summary: String,
}

/// The dashboard of one game.
#[derive(Clone, Debug)]
pub struct GameStats {
    /// Exactly N days, oldest first, ending today.
    pub days: Vec<DayStats>,
    /// Sum of the gamers' lazy balances now.
    pub outstanding: i64,
    /// PENDING withdrawals.
    pub pending_withdrawals: i64,
    /// Request time of the oldest PENDING withdrawal, nanoseconds.
    pub oldest_pending_at: Option<i64>,
    /// Up to 10 events by claims in the window.
    pub top_events: Vec<TopEventRow>,
    /// The last `ledger verify` run, if any was recorded.
    pub last_verification: Option<Verification>,
}

/// Reads `days` of `days` (1-90 days) for one game.
pub async fn game_stats(db: &Db, client_id: &str, days: i64) -> Result<GameStats> {
    if !(1..=DAYS_MAX).contains(&days) {
        return Err(Error::BadRequest(format!(
            "days must be a whole number from 1 to {DAYS_MAX}"
        )));
    }
    let now = storage::now_nanos();
    let today = now.div_euclid(DAY_NANOS);
    let first = today - days + 1;
    let since = first * DAY_NANOS;
    let pool = db.reader();
    let mut by_day: HashMap<i64, DayStats> = (first..=today)
        .map(|day| {
            (
                day,
                DayStats {
                    day,
                    ..DayStats::default()
                },
            )
        })
        .collect();
    for (day, claims, kcash) in store::claims_per_day(pool, client_id, since).await? {
        if let Some(stats) = by_day.get_mut(&day) {
            stats.claims = claims;
            stats.kcash_rewarded = kcash;
        }
    }
    let figures = [
        store::bonus_per_day(pool, client_id, since).await?,
        store::adjusted_per_day(pool, client_id, since).await?,
        store::withdrawn_per_day(pool, client_id, since).await?,
        store::new_gamers_per_day(pool, client_id, since).await?,
        store::active_gamers_per_day(pool, client_id, since).await?,
    ];
    for (index, rows) in figures.into_iter().enumerate() {
        for (day, value) in rows {
            let Some(stats) = by_day.get_mut(&day) else {
                continue;
            };
            match index {
                0 => stats.kcash_bonus = value,
                1 => stats.kcash_adjusted = value,
                2 => stats.kcash_withdrawn = value,
                3 => stats.new_gamers = value,
                _ => stats.active_gamers = value,
            }
        }
    }
    let mut days: Vec<DayStats> = by_day.into_values().collect();
    days.sort_by_key(|d| d.day);
    let (pending_withdrawals, oldest_pending_at) =
        store::pending_withdrawals(pool, client_id).await?;
    let last_verification =
        crate::storage::console::last_verification(pool)
            .await?
            .map(|(at, ok, summary)| Verification {
                at,
                ok: ok != 0,
                summary,
            });
    Ok(GameStats {
        days,
        outstanding: store::outstanding(pool, client_id).await?,
        pending_withdrawals,
        oldest_pending_at,
        top_events: store::top_events(pool, client_id, since).await?,
        last_verification,
    })
}

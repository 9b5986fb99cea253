//! The dashboard of one game: per-day figures over the last N UTC days (today
//! included), the top events of the window, what the gamers hold, the settlement
//! queue and the last `ledger verify` run.

use std::collections::HashMap;

use crate::domain::{Error, Result};
use crate::storage::console::rollup;
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

/// Most time one catch-up adds to the rollups, so that the first dashboard on a
/// large database answers in bounded time (the rest is counted live until later
/// catch-ups get there).
const CATCH_UP_STEP_NANOS: i64 = 7 * DAY_NANOS;

/// Brings the rollups up to `now - lag` (by at most a week per call) and returns
/// the watermark: rows created at or before it are in the rollups, later ones
/// are not. `lag` must exceed the longest write transaction, so that no row
/// older than the watermark can still be uncommitted.
pub async fn catch_up(db: &Db, lag: std::time::Duration) -> Result<i64> {
    let cutoff = storage::now_nanos() - i64::try_from(lag.as_nanos()).unwrap_or(i64::MAX);
    let mut tx = db.begin().await?;
    let watermark = match rollup::lock_watermark(&mut tx).await? {
        Some(position) => position,
        None => {
            let start = rollup::oldest_activity(&mut tx)
                .await?
                .map_or(cutoff, |m| m - 1);
            rollup::insert_watermark(&mut tx, start.min(cutoff)).await?;
            rollup::lock_watermark(&mut tx)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the stats watermark was just inserted"))?
        }
    };
    if cutoff <= watermark {
        tx.commit().await?;
        return Ok(watermark);
    }
    let to = cutoff.min(watermark.saturating_add(CATCH_UP_STEP_NANOS));
    rollup::roll_range(&mut tx, watermark, to).await?;
    rollup::set_watermark(&mut tx, to).await?;
    tx.commit().await?;
    Ok(to)
}

/// The dashboard of one game over `days` (1-90) UTC days ending today.
pub async fn game_stats(
    db: &Db,
    client_id: &str,
    days: i64,
    lag: std::time::Duration,
) -> Result<GameStats> {
    if !(1..=DAYS_MAX).contains(&days) {
        return Err(Error::BadRequest(format!(
            "days must be a whole number from 1 to {DAYS_MAX}"
        )));
    }
    let watermark = catch_up(db, lag).await?;
    let today = storage::now_nanos().div_euclid(DAY_NANOS);
    let first = today - days + 1;
    let window_start = first * DAY_NANOS;
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
    add_rolled(db, client_id, first, window_start, watermark, &mut by_day).await?;
    let tail_since = window_start.max(watermark.saturating_add(1));
    add_tail(db, client_id, tail_since, &mut by_day).await?;
    let mut days: Vec<DayStats> = by_day.into_values().collect();
    days.sort_by_key(|d| d.day);
    let pool = db.reader();
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
        top_events: top_events(db, client_id, first, tail_since).await?,
        last_verification,
    })
}

/// Adds the rolled-up days (rows up to the watermark).
async fn add_rolled(
    db: &Db,
    client_id: &str,
    first: i64,
    window_start: i64,
    watermark: i64,
    by_day: &mut HashMap<i64, DayStats>,
) -> Result<()> {
    let pool = db.reader();
    for rolled in rollup::rolled_days(pool, client_id, first).await? {
        let Some(stats) = by_day.get_mut(&rolled.day) else {
            continue;
        };
        stats.claims += rolled.claims;
        stats.kcash_rewarded += rolled.kcash_rewarded;
        stats.kcash_bonus += rolled.kcash_bonus;
        stats.kcash_adjusted += rolled.kcash_adjusted;
        stats.kcash_withdrawn += rolled.kcash_requested;
        stats.new_gamers += rolled.new_gamers;
        stats.active_gamers += rolled.active_gamers;
    }
    for (day, failed) in rollup::failed_per_day(pool, client_id, window_start, watermark).await? {
        if let Some(stats) = by_day.get_mut(&day) {
            stats.kcash_withdrawn -= failed;
        }
    }
    Ok(())
}

/// Adds the rows after the watermark, counted live from the (client, time) indexes.
async fn add_tail(
    db: &Db,
    client_id: &str,
    since: i64,
    by_day: &mut HashMap<i64, DayStats>,
) -> Result<()> {
    let pool = db.reader();
    for (day, claims, kcash) in store::claims_per_day(pool, client_id, since).await? {
        if let Some(stats) = by_day.get_mut(&day) {
            stats.claims += claims;
            stats.kcash_rewarded += kcash;
        }
    }
    let figures = [
        store::bonus_per_day(pool, client_id, since).await?,
        store::adjusted_per_day(pool, client_id, since).await?,
        store::withdrawn_per_day(pool, client_id, since).await?,
        store::new_gamers_per_day(pool, client_id, since).await?,
        rollup::tail_active_per_day(pool, client_id, since).await?,
    ];
    for (index, rows) in figures.into_iter().enumerate() {
        for (day, value) in rows {
            let Some(stats) = by_day.get_mut(&day) else {
                continue;
            };
            match index {
                0 => stats.kcash_bonus += value,
                1 => stats.kcash_adjusted += value,
                2 => stats.kcash_withdrawn += value,
                3 => stats.new_gamers += value,
                _ => stats.active_gamers += value,
            }
        }
    }
    Ok(())
}

/// Up to 10 events by claims in the window (then kcash, then id), deleted ones included.
async fn top_events(
    db: &Db,
    client_id: &str,
    first: i64,
    tail_since: i64,
) -> Result<Vec<TopEventRow>> {
    let pool = db.reader();
    let mut totals: HashMap<String, (i64, i64)> = HashMap::new();
    for (event_id, claims, kcash) in rollup::rolled_events(pool, client_id, first).await? {
        let entry = totals.entry(event_id).or_default();
        entry.0 += claims;
        entry.1 += kcash;
    }
    for row in store::events_since(pool, client_id, tail_since).await? {
        let entry = totals.entry(row.event_id).or_default();
        entry.0 += row.claims;
        entry.1 += row.kcash;
    }
    let mut ranked: Vec<(String, i64, i64)> = totals
        .into_iter()
        .map(|(id, (claims, kcash))| (id, claims, kcash))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    ranked.truncate(10);
    let mut top = Vec::with_capacity(ranked.len());
    for (event_id, claims, kcash) in ranked {
        let event_name = rollup::event_name(pool, &event_id).await?;
        top.push(TopEventRow {
            event_id,
            event_name,
            claims,
            kcash,
        });
    }
    Ok(top)
}

/// One event's REWARDED claims and their KCash per day over `days` (1-90) UTC
/// days ending today: (day, claims, kcash), oldest first.
pub async fn event_stats(
    db: &Db,
    client_id: &str,
    event_id: &str,
    days: i64,
    lag: std::time::Duration,
) -> Result<Vec<(i64, i64, i64)>> {
    if !(1..=DAYS_MAX).contains(&days) {
        return Err(Error::BadRequest(format!(
            "days must be a whole number from 1 to {DAYS_MAX}"
        )));
    }
    let watermark = catch_up(db, lag).await?;
    let today = storage::now_nanos().div_euclid(DAY_NANOS);
    let first = today - days + 1;
    let tail_since = (first * DAY_NANOS).max(watermark.saturating_add(1));
    let mut by_day: HashMap<i64, (i64, i64)> = (first..=today).map(|day| (day, (0, 0))).collect();
    let rolled = rollup::rolled_event_days(db.reader(), client_id, event_id, first).await?;
    let tail = store::event_claims_per_day(db.reader(), client_id, event_id, tail_since).await?;
    for (day, claims, kcash) in rolled.into_iter().chain(tail) {
        if let Some(entry) = by_day.get_mut(&day) {
            entry.0 += claims;
            entry.1 += kcash;
        }
    }
    let mut series: Vec<(i64, i64, i64)> = by_day
        .into_iter()
        .map(|(day, (claims, kcash))| (day, claims, kcash))
        .collect();
    series.sort_by_key(|entry| entry.0);
    Ok(series)
}

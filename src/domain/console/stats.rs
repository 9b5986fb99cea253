//! The dashboard of one game: per-day figures over the last N UTC days (today
//! included), the top events of the window, what the gamers hold, the settlement
//! queue and the last `ledger verify` run.

use std::collections::HashMap;

use crate::domain::{Error, Result};
use crate::storage::console::rollup;
pub use crate::storage::console::stats::DAY_NANOS;
use crate::storage::console::stats::{self as store, TopEventRow};
use crate::storage::{self, Db, Tx};

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

/// Most time one catch-up step adds to the rollups, so that one transaction
/// stays short however far behind they are.
const CATCH_UP_STEP_NANOS: i64 = 3600 * 1_000_000_000;

/// One catch-up step: adds to the rollups the rows of at most an hour after the
/// watermark, up to `now - lag`, and returns the new watermark and whether
/// there is more to do. `lag` must exceed the longest write transaction, so
/// that no row older than the watermark can still be uncommitted.
pub async fn catch_up_step(db: &Db, lag: std::time::Duration) -> Result<(i64, bool)> {
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
        return Ok((watermark, false));
    }
    let to = cutoff.min(watermark.saturating_add(CATCH_UP_STEP_NANOS));
    rollup::roll_range(&mut tx, watermark, to).await?;
    rollup::set_watermark(&mut tx, to).await?;
    tx.commit().await?;
    Ok((to, to < cutoff))
}

/// Runs catch-up steps until the rollups reach `now - lag`; returns the watermark.
pub async fn catch_up(db: &Db, lag: std::time::Duration) -> Result<i64> {
    loop {
        let (watermark, more) = catch_up_step(db, lag).await?;
        if !more {
            return Ok(watermark);
        }
    }
}

/// Keeps the rollups caught up every `interval` until `stop` turns true (the
/// dashboard itself never writes; rows the task has not reached yet are
/// counted live).
pub async fn run_catch_up(
    db: Db,
    lag: std::time::Duration,
    interval: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(error) = catch_up(&db, lag).await {
            tracing::warn!(%error, "dashboard rollups could not catch up; retrying");
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// The dashboard of one game over `days` (1-90) UTC days ending today, read in
/// one snapshot: the rollups up to their watermark, then the rows after it.
pub async fn game_stats(db: &Db, client_id: &str, days: i64) -> Result<GameStats> {
    check_days(days)?;
    let today = storage::now_nanos().div_euclid(DAY_NANOS);
    let first = today - days + 1;
    let window_start = first * DAY_NANOS;
    let mut tx = rollup::begin_snapshot(db).await?;
    let watermark = rollup::watermark(&mut tx).await?.unwrap_or(i64::MIN);
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
    add_rolled(
        &mut tx,
        client_id,
        first,
        window_start,
        watermark,
        &mut by_day,
    )
    .await?;
    let tail_since = window_start.max(watermark.saturating_add(1));
    add_tail(&mut tx, client_id, tail_since, &mut by_day).await?;
    let mut days: Vec<DayStats> = by_day.into_values().collect();
    days.sort_by_key(|d| d.day);
    let (pending_withdrawals, oldest_pending_at) =
        store::pending_withdrawals(&mut tx, client_id).await?;
    let outstanding = store::outstanding(&mut tx, client_id).await?;
    let top_events = top_events(&mut tx, client_id, first, tail_since).await?;
    tx.commit().await?;
    let last_verification = crate::storage::console::last_verification(db.reader())
        .await?
        .map(|(at, ok, summary)| Verification {
            at,
            ok: ok != 0,
            summary,
        });
    Ok(GameStats {
        days,
        outstanding,
        pending_withdrawals,
        oldest_pending_at,
        top_events,
        last_verification,
    })
}

fn check_days(days: i64) -> Result<()> {
    if (1..=DAYS_MAX).contains(&days) {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "days must be a whole number from 1 to {DAYS_MAX}"
        )))
    }
}

/// Adds the rolled-up days (rows up to the watermark).
async fn add_rolled(
    tx: &mut Tx,
    client_id: &str,
    first: i64,
    window_start: i64,
    watermark: i64,
    by_day: &mut HashMap<i64, DayStats>,
) -> Result<()> {
    for rolled in rollup::rolled_days(tx, client_id, first).await? {
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
    for (day, failed) in rollup::failed_per_day(tx, client_id, window_start, watermark).await? {
        if let Some(stats) = by_day.get_mut(&day) {
            stats.kcash_withdrawn -= failed;
        }
    }
    Ok(())
}

/// Adds the rows after the watermark, counted live from the (client, time) indexes.
async fn add_tail(
    tx: &mut Tx,
    client_id: &str,
    since: i64,
    by_day: &mut HashMap<i64, DayStats>,
) -> Result<()> {
    for (day, claims, kcash) in store::claims_per_day(tx, client_id, since).await? {
        if let Some(stats) = by_day.get_mut(&day) {
            stats.claims += claims;
            stats.kcash_rewarded += kcash;
        }
    }
    let figures = [
        store::bonus_per_day(tx, client_id, since).await?,
        store::adjusted_per_day(tx, client_id, since).await?,
        store::withdrawn_per_day(tx, client_id, since).await?,
        store::new_gamers_per_day(tx, client_id, since).await?,
        rollup::tail_active_per_day(tx, client_id, since).await?,
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
    tx: &mut Tx,
    client_id: &str,
    first: i64,
    tail_since: i64,
) -> Result<Vec<TopEventRow>> {
    let mut totals: HashMap<String, (i64, i64)> = HashMap::new();
    for (event_id, claims, kcash) in rollup::rolled_events(tx, client_id, first).await? {
        let entry = totals.entry(event_id).or_default();
        entry.0 += claims;
        entry.1 += kcash;
    }
    for row in store::events_since(tx, client_id, tail_since).await? {
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
        let event_name = rollup::event_name(tx, &event_id).await?;
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
) -> Result<Vec<(i64, i64, i64)>> {
    check_days(days)?;
    let mut tx = rollup::begin_snapshot(db).await?;
    let watermark = rollup::watermark(&mut tx).await?.unwrap_or(i64::MIN);
    let today = storage::now_nanos().div_euclid(DAY_NANOS);
    let first = today - days + 1;
    let tail_since = (first * DAY_NANOS).max(watermark.saturating_add(1));
    let mut by_day: HashMap<i64, (i64, i64)> = (first..=today).map(|day| (day, (0, 0))).collect();
    let rolled = rollup::rolled_event_days(&mut tx, client_id, event_id, first).await?;
    let tail = store::event_claims_per_day(&mut tx, client_id, event_id, tail_since).await?;
    tx.commit().await?;
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

//! Rewardable events: what a gamer can be rewarded for, and the optional claim
//! policies of CONTRACT Part 2. Input arrives here already parsed; this module
//! applies the defaults and rules, and owns the upsert transaction.

use super::cursor::Cursors;
use super::error::retry_on_contention;
use super::{Error, Result};
use crate::storage::events::{self as store, EventRow};
use crate::storage::{self, Db};

/// The wallet bucket an event's reward credits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewardCategory {
    /// The `earned` bucket.
    Earned,
    /// The `bonus` bucket.
    Bonus,
}

impl RewardCategory {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardCategory::Earned => "EARNED",
            RewardCategory::Bonus => "BONUS",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Result<RewardCategory> {
        match text {
            "EARNED" => Ok(RewardCategory::Earned),
            "BONUS" => Ok(RewardCategory::Bonus),
            _ => Err(Error::BadRequest(
                "rewardCategory must be EARNED or BONUS".to_owned(),
            )),
        }
    }
}

/// The window `maxClaimsPerUser` counts over (UTC calendar windows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimPeriod {
    /// Forever.
    Lifetime,
    /// From 00:00 UTC.
    Daily,
    /// From Monday 00:00 UTC (ISO week).
    Weekly,
}

impl ClaimPeriod {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimPeriod::Lifetime => "LIFETIME",
            ClaimPeriod::Daily => "DAILY",
            ClaimPeriod::Weekly => "WEEKLY",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Result<ClaimPeriod> {
        match text {
            "LIFETIME" => Ok(ClaimPeriod::Lifetime),
            "DAILY" => Ok(ClaimPeriod::Daily),
            "WEEKLY" => Ok(ClaimPeriod::Weekly),
            _ => Err(Error::BadRequest(
                "claimPeriod must be LIFETIME, DAILY or WEEKLY".to_owned(),
            )),
        }
    }

    /// Start (nanoseconds) of the window that contains `now`.
    pub fn window_start(self, now: i64) -> i64 {
        const DAY: i64 = 86_400 * 1_000_000_000;
        match self {
            ClaimPeriod::Lifetime => i64::MIN,
            ClaimPeriod::Daily => now.div_euclid(DAY) * DAY,
            // 1970-01-01 was a Thursday: shift by 3 days so windows start on Monday.
            ClaimPeriod::Weekly => (now + 3 * DAY).div_euclid(7 * DAY) * 7 * DAY - 3 * DAY,
        }
    }
}

/// A rewardable event as the domain sees it: its flags are `bool`s and its
/// category and period enums, decoded from the stored row once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// List order (creation order).
    pub seq: i64,
    /// `eventID`.
    pub id: String,
    /// Owning client.
    pub client_id: String,
    /// `eventType`.
    pub event_type: String,
    /// `eventName`.
    pub event_name: String,
    /// `eventDescription`.
    pub event_description: String,
    /// `rewardAmount`.
    pub reward_amount: i64,
    /// `rewardCategory`.
    pub reward_category: RewardCategory,
    /// `entityType`.
    pub entity_type: String,
    /// `entityID`.
    pub entity_id: String,
    /// `isActive`.
    pub is_active: bool,
    /// `isActivityTraceEnabled`.
    pub is_activity_trace_enabled: bool,
    /// `activityTraceActivityID`.
    pub activity_trace_activity_id: String,
    /// `maxClaimsPerUser`.
    pub max_claims_per_user: Option<i64>,
    /// `claimPeriod`.
    pub claim_period: ClaimPeriod,
    /// `cooldownSeconds`.
    pub cooldown_seconds: Option<i64>,
    /// `totalBudget`.
    pub total_budget: Option<i64>,
    /// `startsAt`, nanoseconds.
    pub starts_at: Option<i64>,
    /// `endsAt`, nanoseconds (exclusive).
    pub ends_at: Option<i64>,
    /// KCash paid out so far (kept exact while the event has a budget).
    pub paid_out: i64,
    /// `createdAt`, nanoseconds.
    pub created_at: i64,
    /// `updatedAt`, nanoseconds.
    pub updated_at: i64,
}

impl TryFrom<EventRow> for Event {
    type Error = Error;

    fn try_from(row: EventRow) -> Result<Event> {
        let stored = |what: &str, text: &str| -> Error {
            anyhow::anyhow!("event {} has an unknown stored {what} {text:?}", row.id).into()
        };
        let reward_category = RewardCategory::parse(&row.reward_category)
            .map_err(|_| stored("rewardCategory", &row.reward_category))?;
        let claim_period = ClaimPeriod::parse(&row.claim_period)
            .map_err(|_| stored("claimPeriod", &row.claim_period))?;
        Ok(Event {
            seq: row.seq,
            id: row.id,
            client_id: row.client_id,
            event_type: row.event_type,
            event_name: row.event_name,
            event_description: row.event_description,
            reward_amount: row.reward_amount,
            reward_category,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            is_active: row.is_active != 0,
            is_activity_trace_enabled: row.is_activity_trace_enabled != 0,
            activity_trace_activity_id: row.activity_trace_activity_id,
            max_claims_per_user: row.max_claims_per_user,
            claim_period,
            cooldown_seconds: row.cooldown_seconds,
            total_budget: row.total_budget,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            paid_out: row.paid_out,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A validated event, as the PUT body describes it after defaults.
#[derive(Clone, Debug)]
pub struct EventInput {
    /// Update this event; `None` creates one.
    pub id: Option<String>,
    /// `eventType` (non-empty).
    pub event_type: String,
    /// `eventName`.
    pub event_name: String,
    /// `eventDescription`.
    pub event_description: String,
    /// `rewardAmount`.
    pub reward_amount: i64,
    /// `rewardCategory`.
    pub reward_category: RewardCategory,
    /// `entityType`.
    pub entity_type: String,
    /// `entityID`; the client id when `None`.
    pub entity_id: Option<String>,
    /// `isActive`.
    pub is_active: bool,
    /// `isActivityTraceEnabled`.
    pub is_activity_trace_enabled: bool,
    /// `activityTraceActivityID`.
    pub activity_trace_activity_id: String,
    /// `maxClaimsPerUser`.
    pub max_claims_per_user: Option<i64>,
    /// `claimPeriod`.
    pub claim_period: ClaimPeriod,
    /// `cooldownSeconds`.
    pub cooldown_seconds: Option<i64>,
    /// `totalBudget`.
    pub total_budget: Option<i64>,
    /// `startsAt`, nanoseconds.
    pub starts_at: Option<i64>,
    /// `endsAt`, nanoseconds.
    pub ends_at: Option<i64>,
}

impl EventInput {
    /// Cross-field rules: trace id required with trace, window not empty.
    pub fn check(&self) -> Result<()> {
        if self.is_activity_trace_enabled && self.activity_trace_activity_id.trim().is_empty() {
            return Err(Error::BadRequest(
                "activityTraceActivityID is required when isActivityTraceEnabled is true"
                    .to_owned(),
            ));
        }
        if let (Some(starts), Some(ends)) = (self.starts_at, self.ends_at) {
            if ends <= starts {
                return Err(Error::BadRequest(
                    "endsAt must be after startsAt".to_owned(),
                ));
            }
        }
        Ok(())
    }

    fn into_row(self, client_id: &str, id: String, now: i64) -> EventRow {
        EventRow {
            seq: 0,
            id,
            client_id: client_id.to_owned(),
            event_type: self.event_type,
            event_name: self.event_name,
            event_description: self.event_description,
            reward_amount: self.reward_amount,
            reward_category: self.reward_category.as_str().to_owned(),
            entity_type: self.entity_type,
            entity_id: self.entity_id.unwrap_or_else(|| client_id.to_owned()),
            is_active: i64::from(self.is_active),
            is_activity_trace_enabled: i64::from(self.is_activity_trace_enabled),
            activity_trace_activity_id: self.activity_trace_activity_id,
            max_claims_per_user: self.max_claims_per_user,
            claim_period: self.claim_period.as_str().to_owned(),
            cooldown_seconds: self.cooldown_seconds,
            total_budget: self.total_budget,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            paid_out: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Creates the event, or replaces the live event of this client with `input.id`.
pub async fn upsert_event(db: &Db, client_id: &str, input: EventInput) -> Result<Event> {
    input.check()?;
    let now = storage::now_nanos();
    match input.id.clone() {
        None => {
            let row = input.into_row(client_id, uuid::Uuid::new_v4().to_string(), now);
            store::insert_event(db.writer(), &row).await?.try_into()
        }
        Some(id) => {
            let row = input.into_row(client_id, id, now);
            retry_on_contention(|| replace_event(db, &row))
                .await?
                .try_into()
        }
    }
}

/// Replaces a live event in one transaction, keeping what it has paid out: read
/// from the locked row while it has a budget (each claim adds to it under the same
/// row lock), counted from its claims when a budget is added. A budget below that
/// is refused.
async fn replace_event(db: &Db, row: &EventRow) -> Result<EventRow> {
    let mut tx = db.begin().await?;
    let locked = store::lock_event(&mut tx, &row.client_id, &row.id)
        .await?
        .ok_or(Error::NotFound)?;
    let paid_out = match (locked.total_budget, row.total_budget) {
        (None, Some(_)) => store::claimed_total(&mut tx, &row.id).await?,
        _ => locked.paid_out,
    };
    if row.total_budget.is_some_and(|budget| budget < paid_out) {
        return Err(Error::BudgetExhausted);
    }
    let updated = store::replace_event(&mut tx, row, paid_out)
        .await?
        .ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(updated)
}

/// A live event of this client.
pub async fn get_event(db: &Db, client_id: &str, id: &str) -> Result<Event> {
    store::find_event(db.reader(), client_id, id)
        .await?
        .ok_or(Error::NotFound)?
        .try_into()
}

/// One page of this client's events, newest first, and the next page's cursor
/// ("" on the last page).
pub async fn list_events(
    db: &Db,
    cursors: &Cursors,
    client_id: &str,
    is_active: Option<bool>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Event>, String)> {
    let scope = format!("events|{client_id}|{is_active:?}");
    let before = cursors.start(&scope, cursor)?;
    let rows = store::list_events(db.reader(), client_id, is_active, before, limit + 1).await?;
    let rows = rows
        .into_iter()
        .map(Event::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(cursors.finish_page(&scope, rows, limit, |event| event.seq))
}

/// Soft-deletes an event of this client.
pub async fn delete_event(db: &Db, client_id: &str, id: &str) -> Result<()> {
    if store::delete_event(db.writer(), client_id, id, storage::now_nanos()).await? {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::parse_rfc3339;

    #[test]
    fn windows_start_at_utc_midnight_and_iso_monday() {
        // Wednesday 2024-08-21 15:00 UTC.
        let now = parse_rfc3339("t", "2024-08-21T15:00:00Z").unwrap();
        let day = parse_rfc3339("t", "2024-08-21T00:00:00Z").unwrap();
        let monday = parse_rfc3339("t", "2024-08-19T00:00:00Z").unwrap();
        assert_eq!(ClaimPeriod::Daily.window_start(now), day);
        assert_eq!(ClaimPeriod::Weekly.window_start(now), monday);
        assert_eq!(ClaimPeriod::Weekly.window_start(monday), monday);
        let sunday_night = parse_rfc3339("t", "2024-08-25T23:59:59Z").unwrap();
        assert_eq!(ClaimPeriod::Weekly.window_start(sunday_night), monday);
        assert_eq!(ClaimPeriod::Lifetime.window_start(now), i64::MIN);
    }
}

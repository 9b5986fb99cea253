//! Rewardable events. Deleted events stay (claims point at them) but every query
//! here that reads for the API skips them.

use sqlx::AnyExecutor;

use super::Tx;

/// A stored rewardable event.
#[derive(Clone, Debug, sqlx::FromRow, serde::Deserialize)]
pub struct EventRow {
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
    /// `rewardCategory`: EARNED or BONUS.
    pub reward_category: String,
    /// `entityType`.
    pub entity_type: String,
    /// `entityID`.
    pub entity_id: String,
    /// `isActive` as 0/1.
    pub is_active: i64,
    /// `isActivityTraceEnabled` as 0/1.
    pub is_activity_trace_enabled: i64,
    /// `activityTraceActivityID`.
    pub activity_trace_activity_id: String,
    /// `maxClaimsPerUser`.
    pub max_claims_per_user: Option<i64>,
    /// `claimPeriod`: LIFETIME, DAILY or WEEKLY.
    pub claim_period: String,
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

/// The columns of an [`EventRow`], in its field order.
macro_rules! event_columns {
    () => {
        "seq, id, client_id, event_type, event_name, event_description,
    reward_amount, reward_category, entity_type, entity_id, is_active,
    is_activity_trace_enabled, activity_trace_activity_id, max_claims_per_user, claim_period,
    cooldown_seconds, total_budget, starts_at, ends_at, paid_out, created_at, updated_at"
    };
}

const EVENT_COLUMNS: &str = event_columns!();

/// A live event of a client: `$1` event id, `$2` client id.
pub const FIND_EVENT_SQL: &str = concat!(
    "select ",
    event_columns!(),
    " from events where id = $1 and client_id = $2 and is_deleted = 0"
);

type EventQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Any, EventRow, sqlx::any::AnyArguments<'q>>;

/// Binds `$1`-`$18` of an insert or replace: id, client id, then every field in
/// column order.
fn bind_fields<'q>(query: EventQuery<'q>, event: &'q EventRow) -> EventQuery<'q> {
    query
        .bind(&event.id)
        .bind(&event.client_id)
        .bind(&event.event_type)
        .bind(&event.event_name)
        .bind(&event.event_description)
        .bind(event.reward_amount)
        .bind(&event.reward_category)
        .bind(&event.entity_type)
        .bind(&event.entity_id)
        .bind(event.is_active)
        .bind(event.is_activity_trace_enabled)
        .bind(&event.activity_trace_activity_id)
        .bind(event.max_claims_per_user)
        .bind(&event.claim_period)
        .bind(event.cooldown_seconds)
        .bind(event.total_budget)
        .bind(event.starts_at)
        .bind(event.ends_at)
}

/// Inserts a new event (its `seq` is assigned by the database).
pub async fn insert_event<'e>(
    executor: impl AnyExecutor<'e>,
    event: &EventRow,
) -> Result<EventRow, sqlx::Error> {
    let sql = format!(
        "insert into events (id, client_id, event_type, event_name, event_description,
            reward_amount, reward_category, entity_type, entity_id, is_active,
            is_activity_trace_enabled, activity_trace_activity_id, max_claims_per_user,
            claim_period, cooldown_seconds, total_budget, starts_at, ends_at, paid_out,
            created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, 0, $19, $19)
         returning {EVENT_COLUMNS}"
    );
    bind_fields(sqlx::query_as(&sql), event)
        .bind(event.created_at)
        .fetch_one(executor)
        .await
}

/// What a replacement of an event must keep: its payout so far and its budget.
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub struct LockedPayout {
    /// KCash paid out so far (exact while the event has a budget).
    pub paid_out: i64,
    /// The budget before the replacement.
    pub total_budget: Option<i64>,
}

/// Locks a live event of `client_id` for the rest of the transaction, before it is
/// replaced, and reads its payout as of the last committed claim; `None` when there
/// is no such event. A claim of a budgeted event holds this row from its payout
/// update to its commit, so the lock waits for it. On SQLite, where one writer at a
/// time serialises the same way, the lock is a no-op write, so that the transaction
/// takes the write lock first and never has to upgrade a read.
pub async fn lock_event(
    tx: &mut Tx,
    client_id: &str,
    id: &str,
) -> Result<Option<LockedPayout>, sqlx::Error> {
    let sql = if is_postgres(tx) {
        "select paid_out, total_budget
         from events
         where id = $1
           and client_id = $2
           and is_deleted = 0
         for update"
    } else {
        "update events
         set paid_out = paid_out
         where id = $1
           and client_id = $2
           and is_deleted = 0
         returning paid_out, total_budget"
    };
    sqlx::query_as(sql)
        .bind(id)
        .bind(client_id)
        .fetch_optional(&mut **tx)
        .await
}

/// What an event's claims have paid out in all, counting every claim in flight:
/// on PostgreSQL it first waits for every transaction that has written a claim to
/// commit, and holds back new claims until this transaction ends (they then see
/// what it wrote). Only needed when a budget is added to an event that had none:
/// a brief pause of claim writes, which studios cause rarely.
pub async fn claimed_total(tx: &mut Tx, event_id: &str) -> Result<i64, sqlx::Error> {
    if is_postgres(tx) {
        sqlx::query("lock table claims in share mode")
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query_scalar(
        "select cast(coalesce(sum(amount), 0) as bigint)
         from claims
         where event_id = $1",
    )
    .bind(event_id)
    .fetch_one(&mut **tx)
    .await
}

/// Replaces every field of a live event of `client_id` but its id and `createdAt`,
/// and sets what it has paid out to `paid_out` (read under [`lock_event`], or
/// counted by [`claimed_total`] when a budget is added, so that it counts the
/// rewards granted before).
/// `None` when there is no such event.
pub async fn replace_event(
    tx: &mut Tx,
    event: &EventRow,
    paid_out: i64,
) -> Result<Option<EventRow>, sqlx::Error> {
    let sql = format!(
        "update events
         set event_type = $3, event_name = $4, event_description = $5, reward_amount = $6,
             reward_category = $7, entity_type = $8, entity_id = $9, is_active = $10,
             is_activity_trace_enabled = $11, activity_trace_activity_id = $12,
             max_claims_per_user = $13, claim_period = $14, cooldown_seconds = $15,
             total_budget = $16, starts_at = $17, ends_at = $18, updated_at = $19,
             paid_out = $20
         where id = $1
           and client_id = $2
           and is_deleted = 0
         returning {EVENT_COLUMNS}"
    );
    bind_fields(sqlx::query_as(&sql), event)
        .bind(event.updated_at)
        .bind(paid_out)
        .fetch_optional(&mut **tx)
        .await
}

/// Whether this transaction runs on PostgreSQL (lock clauses are PostgreSQL's;
/// SQLite serialises writers instead).
fn is_postgres(tx: &Tx) -> bool {
    tx.backend_name() == "PostgreSQL"
}

/// A live event of `client_id`.
pub async fn find_event<'e>(
    executor: impl AnyExecutor<'e>,
    client_id: &str,
    id: &str,
) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(FIND_EVENT_SQL)
        .bind(id)
        .bind(client_id)
        .fetch_optional(executor)
        .await
}

/// One page of the live events of `client_id`, newest first, those with `seq`
/// below `before`, optionally only active or inactive ones.
pub async fn list_events<'e>(
    executor: impl AnyExecutor<'e>,
    client_id: &str,
    is_active: Option<bool>,
    before: i64,
    limit: u32,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {EVENT_COLUMNS}
         from events
         where client_id = $1
           and is_deleted = 0
           and seq < $2
           and ($3 < 0 or is_active = $3)
         order by seq desc
         limit $4"
    ))
    .bind(client_id)
    .bind(before)
    .bind(is_active.map_or(-1, i64::from))
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
}

/// Soft-deletes a live event; false when there is none.
pub async fn delete_event<'e>(
    executor: impl AnyExecutor<'e>,
    client_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update events
         set is_deleted = 1, updated_at = $3
         where id = $1
           and client_id = $2
           and is_deleted = 0",
    )
    .bind(id)
    .bind(client_id)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() == 1)
}

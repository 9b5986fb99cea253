//! Reward claims, and what the claim policies need to know about earlier claims
//! and tracker drops.

use sqlx::AnyExecutor;

/// A stored claim.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct ClaimRow {
    /// List order.
    pub seq: i64,
    /// `rewardID`.
    pub id: String,
    /// The event claimed.
    pub event_id: String,
    /// KCash granted.
    pub amount: i64,
    /// REWARDED.
    pub status: String,
    /// The gamer's newest tracker drop id when the claim was made.
    pub trace_watermark: Option<i64>,
    /// Time, nanoseconds.
    pub created_at: i64,
    /// Time, nanoseconds.
    pub updated_at: i64,
}

/// The columns of a [`ClaimRow`], in its field order.
macro_rules! claim_columns {
    () => {
        "seq, id, event_id, amount, status, trace_watermark, created_at, updated_at"
    };
}

const CLAIM_COLUMNS: &str = claim_columns!();

/// The SQLite claim's insert (`storage::lite::claims`): `$1` id, `$2` client, `$3` gamer, `$4` event, `$5` amount,
/// `$6` status, `$7` trace watermark, `$8` time.
pub const INSERT_CLAIM_SQL: &str = concat!(
    "insert into claims (id, client_id, gamer_id, event_id, amount, status, trace_watermark,
                         created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $8)
     returning ",
    claim_columns!()
);

/// What the claim policies need to know about a gamer's past, read in one query.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClaimHistory {
    /// Time of the gamer's latest claim of this event, if any.
    pub last_claim_at: Option<i64>,
    /// That claim's trace watermark.
    pub last_watermark: Option<i64>,
    /// Claims of this event since the window start.
    pub claims_in_window: i64,
    /// The gamer's newest drop with the event's trace id.
    pub trace_drop: Option<i64>,
    /// The gamer's newest drop of any id.
    pub newest_drop: Option<i64>,
}

/// The SQLite claim's history read: `$1` gamer, `$2` event, `$3` window start, `$4` trace event id.
pub const CLAIM_HISTORY_SQL: &str = "select
             (select created_at from claims
              where gamer_id = $1 and event_id = $2
              order by seq desc limit 1) as last_claim_at,
             (select trace_watermark from claims
              where gamer_id = $1 and event_id = $2
              order by seq desc limit 1) as last_watermark,
             (select count(*) from claims
              where gamer_id = $1 and event_id = $2 and created_at >= $3) as claims_in_window,
             (select max(id) from tracker_drops
              where gamer_id = $1 and event_id = $4) as trace_drop,
             (select max(id) from tracker_drops
              where gamer_id = $1) as newest_drop";

/// The SQLite claim's budget step, after the claim row is written: `$1` event id,
/// `$2` amount. An event without a budget is not written, so its claims never
/// contend on its row; a budget added meanwhile waits for this claim, then counts
/// it (`storage::events::claimed_total`), and a claim written after that sees the
/// budget here.
pub const COUNT_PAYOUT_SQL: &str = "update events
         set paid_out = paid_out + $2
         where id = $1
           and total_budget is not null
         returning case when paid_out <= total_budget then 1 else 0 end";

/// One page of a gamer's claims, newest first, with `seq` below `before`.
pub async fn list_claims<'e>(
    executor: impl AnyExecutor<'e>,
    gamer_id: i64,
    before: i64,
    limit: u32,
) -> Result<Vec<ClaimRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {CLAIM_COLUMNS}
         from claims
         where gamer_id = $1
           and seq < $2
         order by seq desc
         limit $3"
    ))
    .bind(gamer_id)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
}

//! A reward claim on PostgreSQL in two statements (see the module above).

use super::super::claims::{ClaimHistory, ClaimRow};
use super::super::events::EventRow;
use super::super::idempotency::IdempotencyRow;
use super::super::ledger::{AccountKind, TransferKind, WalletEntryRow};
use super::super::webhooks::NewEvent;
use super::super::Tx;

/// What a claim reads under its gamer's lock.
#[derive(Debug)]
pub struct ClaimScene {
    /// The live event, if the client has one of that id.
    pub event: Option<EventRow>,
    /// The gamer's past that the policies judge.
    pub history: ClaimHistory,
    /// The gamer's record of the idempotency key, if any (expired ones included).
    pub key: Option<(IdempotencyRow, i64)>,
}

#[derive(sqlx::FromRow)]
struct SceneRow {
    n: i64,
    event: Option<String>,
    last_claim_at: Option<i64>,
    last_watermark: Option<i64>,
    claims_in_window: i64,
    trace_drop: Option<i64>,
    newest_drop: Option<i64>,
    key_fingerprint: Option<String>,
    key_status_code: Option<i64>,
    key_response: Option<String>,
    key_created_at: Option<i64>,
}

/// What one claim asks the scene read for: whose, which event, which key, and
/// the start of the windows a claim limit may count over.
#[derive(Debug, serde::Serialize)]
pub struct SceneRequest<'a> {
    /// The claiming gamer (locked by the transaction).
    pub gamer_id: i64,
    /// The gamer's client.
    pub client_id: &'a str,
    /// The event claimed.
    pub event_id: &'a str,
    /// The idempotency key, if any.
    pub key: Option<&'a str>,
    /// 00:00 UTC today, nanoseconds.
    pub daily: i64,
    /// Monday 00:00 UTC this ISO week, nanoseconds.
    pub weekly: i64,
    /// The beginning of time.
    pub lifetime: i64,
}

/// [`read_scenes`]: `$1` a JSON array of [`SceneRequest`]s, each with its place
/// `n`. One row per request, in that order. The event comes as JSON so that a
/// missing one is one null column. Every lookup is its own index probe (a
/// `lateral` subquery with `limit 1`, which the planner does not flatten into a
/// join): a plan cached while a table was small would otherwise scan it all. The gamer's last claim of the event is the
/// newest by time, one step backwards on `claims_by_gamer_event` (ordering by
/// `seq` made the plan read every claim of the gamer for the event and sort them).
const SCENES_SQL: &str = "select
    r.n,
    to_jsonb(ev)::text as event,
    last.created_at as last_claim_at,
    last.trace_watermark as last_watermark,
    case when ev.max_claims_per_user is null then 0 else
        (select count(*) from claims c
         where c.gamer_id = r.gamer_id and c.event_id = r.event_id
           and c.created_at >= case ev.claim_period when 'DAILY' then r.daily
                                                    when 'WEEKLY' then r.weekly
                                                    else r.lifetime end)
    end as claims_in_window,
    (select max(t.id) from tracker_drops t
     where t.gamer_id = r.gamer_id and t.event_id = ev.activity_trace_activity_id) as trace_drop,
    (select max(t.id) from tracker_drops t where t.gamer_id = r.gamer_id) as newest_drop,
    k.fingerprint as key_fingerprint,
    k.status_code as key_status_code,
    k.response as key_response,
    k.created_at as key_created_at
  from json_to_recordset($1::json) as r(n bigint, gamer_id bigint, client_id text,
                                        event_id text, key text, daily bigint,
                                        weekly bigint, lifetime bigint)
  left join lateral (select e.* from events e
                     where e.id = r.event_id and e.client_id = r.client_id and e.is_deleted = 0
                     limit 1) ev on true
  left join lateral (select c.created_at, c.trace_watermark from claims c
                     where c.gamer_id = r.gamer_id and c.event_id = r.event_id
                     order by c.created_at desc limit 1) last on true
  left join lateral (select k.* from idempotency_keys k
                     where k.gamer_id = r.gamer_id and k.key = r.key limit 1) k on true
  order by r.n";

/// A request with its place in the batch, as the statements take it.
#[derive(serde::Serialize)]
struct Numbered<T> {
    n: usize,
    #[serde(flatten)]
    item: T,
}

/// The batch's items as one JSON array parameter, each with its place `n`.
pub(super) fn numbered<T: serde::Serialize>(
    items: impl IntoIterator<Item = T>,
) -> Result<String, sqlx::Error> {
    let items: Vec<Numbered<T>> = items
        .into_iter()
        .enumerate()
        .map(|(n, item)| Numbered { n, item })
        .collect();
    serde_json::to_string(&items).map_err(|error| sqlx::Error::Encode(Box::new(error)))
}

/// Reads, for every request, the event, the gamer's claim history for it and the
/// idempotency key's record, in one statement, in a transaction that holds the
/// gamers' locks. The scenes come back in the requests' order.
pub async fn read_scenes(
    tx: &mut Tx,
    requests: &[SceneRequest<'_>],
) -> Result<Vec<ClaimScene>, sqlx::Error> {
    let rows: Vec<SceneRow> = sqlx::query_as(SCENES_SQL)
        .bind(numbered(requests)?)
        .fetch_all(&mut **tx)
        .await?;
    if rows.len() != requests.len() || rows.iter().enumerate().any(|(n, row)| row.n != n as i64) {
        return Err(sqlx::Error::Protocol(format!(
            "{} claim scenes read for {} requests",
            rows.len(),
            requests.len()
        )));
    }
    rows.into_iter().map(ClaimScene::try_from).collect()
}

impl TryFrom<SceneRow> for ClaimScene {
    type Error = sqlx::Error;

    fn try_from(row: SceneRow) -> Result<ClaimScene, sqlx::Error> {
        let event = match row.event {
            Some(json) => Some(
                serde_json::from_str(&json)
                    .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
            ),
            None => None,
        };
        let key = match (row.key_fingerprint, row.key_status_code, row.key_response) {
            (Some(fingerprint), Some(status_code), Some(response)) => Some((
                IdempotencyRow {
                    fingerprint,
                    status_code,
                    response,
                },
                row.key_created_at.unwrap_or(0),
            )),
            _ => None,
        };
        Ok(ClaimScene {
            event,
            history: ClaimHistory {
                last_claim_at: row.last_claim_at,
                last_watermark: row.last_watermark,
                claims_in_window: row.claims_in_window,
                trace_drop: row.trace_drop,
                newest_drop: row.newest_drop,
            },
            key,
        })
    }
}

/// Everything the claim writes, decided by the domain.
#[derive(Debug)]
pub struct ClaimWrite<'a> {
    /// The claim (its `seq` is assigned).
    pub claim: &'a ClaimRow,
    /// Owning client.
    pub client_id: &'a str,
    /// The issuing shard debited.
    pub issuing_shard: i64,
    /// The wallet bucket credited (EARNED or BONUS).
    pub bucket: AccountKind,
    /// The history line (its addresses are the accounts').
    pub entry: &'a WalletEntryRow,
    /// The transfer's kind.
    pub transfer_kind: TransferKind,
    /// The idempotency key, its request fingerprint and answer status.
    pub key: Option<(&'a str, &'a str, i64)>,
    /// The outbox event announcing the claim (kept only when the client has an
    /// active webhook endpoint).
    pub announcement: &'a NewEvent,
}

/// [`write_claim`]: see the binds there. Every write depends on the one before
/// through its `RETURNING`, so a refused budget writes nothing at all; an expired
/// idempotency record of the same key is replaced (a live one was replayed). The
/// outbox event rides in the same statement, kept and queued when the client has
/// an active endpoint (as `storage::webhooks::PG_INSERT_EVENT_SQL`).
const WRITE_SQL: &str = "with payout as (
    update events set paid_out = paid_out + $5
    where id = $4 and total_budget is not null and paid_out + $5 <= total_budget
    returning 1
), granted as (
    select 1 where exists (select 1 from payout)
               or not exists (select 1 from events where id = $4 and total_budget is not null)
), claim as (
    insert into claims (id, client_id, gamer_id, event_id, amount, status, trace_watermark,
                        created_at, updated_at)
    select $1, $2, $3, $4, $5, $6, $7, $8, $8 from granted
    returning seq, id, event_id, amount, status, trace_watermark, created_at, updated_at
), debit as (
    update accounts set balance = balance - $5, updated_at = $8
    where kind = 'ISSUING' and client_id = $2 and owner_id = $9
      and $5 > 0 and exists (select 1 from claim)
    returning id, address
), credit as (
    update accounts set balance = balance + $5, updated_at = $8
    where kind = $10 and client_id = $2 and owner_id = $3
      and $5 > 0 and exists (select 1 from claim)
    returning id, address
), transfer as (
    insert into transfers (uid, kind, debit_account_id, credit_account_id, amount, created_at)
    select $1, $11, debit.id, credit.id, $5, $8 from debit, credit
    returning 1
), entry as (
    insert into wallet_entries (uid, gamer_id, kind, direction, amount, from_address,
                                to_address, name, description, sync_status, created_at)
    select $1, $3, $12, $13, $5, debit.address, credit.address, $14, $15, $16, $8
    from debit, credit
    returning 1
), remembered as (
    insert into idempotency_keys (gamer_id, key, fingerprint, status_code, response,
                                  created_at)
    select $3, $17, $18, $19, to_jsonb(claim)::text, $8 from claim where $17 is not null
    on conflict (gamer_id, key) do update
        set fingerprint = excluded.fingerprint, status_code = excluded.status_code,
            response = excluded.response, created_at = excluded.created_at
    returning 1
), announced as (
    insert into webhook_events (id, client_id, type, body, created_at)
    select $20, $2, $21, $22, $8 from claim
    where exists (select 1 from webhook_endpoints w
                  where w.client_id = $2 and w.is_active = 1 and w.is_deleted = 0)
    returning seq
), queued as (
    insert into webhook_queue (seq) select seq from announced
    returning 1
)
select claim.seq, claim.id, claim.event_id, claim.amount, claim.status,
       claim.trace_watermark, claim.created_at, claim.updated_at,
       (select count(*) from transfer) as transfers,
       (select count(*) from entry) as entries
from claim";

#[derive(sqlx::FromRow)]
struct WrittenRow {
    #[sqlx(flatten)]
    claim: ClaimRow,
    transfers: i64,
    entries: i64,
}

/// Writes the claim with everything it carries, in one statement. `None` (and
/// nothing written) when the event's budget cannot cover the reward.
pub async fn write_claim(
    tx: &mut Tx,
    write: &ClaimWrite<'_>,
) -> Result<Option<ClaimRow>, sqlx::Error> {
    let (claim, entry) = (write.claim, write.entry);
    let (key, fingerprint, status) = match write.key {
        Some((key, fingerprint, status)) => (Some(key), Some(fingerprint), Some(status)),
        None => (None, None, None),
    };
    let written: Option<WrittenRow> = sqlx::query_as(WRITE_SQL)
        .bind(&claim.id)
        .bind(write.client_id)
        .bind(entry.gamer_id)
        .bind(&claim.event_id)
        .bind(claim.amount)
        .bind(&claim.status)
        .bind(claim.trace_watermark)
        .bind(claim.created_at)
        .bind(write.issuing_shard)
        .bind(write.bucket.as_str())
        .bind(write.transfer_kind.as_str())
        .bind(entry.kind.as_str())
        .bind(entry.direction.as_str())
        .bind(&entry.name)
        .bind(&entry.description)
        .bind(entry.sync_status.as_str())
        .bind(key)
        .bind(fingerprint)
        .bind(status)
        .bind(&write.announcement.id)
        .bind(write.announcement.event_type)
        .bind(&write.announcement.body)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(written) = written else {
        return Ok(None);
    };
    let moved = i64::from(claim.amount > 0);
    if written.transfers != moved || written.entries != moved {
        // An account is missing: the statement must not commit half a claim.
        return Err(sqlx::Error::Protocol(format!(
            "claim {} wrote {} transfers and {} history lines, expected {moved}",
            claim.id, written.transfers, written.entries
        )));
    }
    Ok(Some(written.claim))
}

/// [`write_claims`]: `$1` a JSON array of [`SharedWrite`]s. The claims of one
/// batch, each of a different gamer, all of events that had no budget when
/// judged, written in one statement; a claim whose event has a budget by now is
/// left out whole (`ok`). The rest: their rows, one debit per issuing shard for the sum of its
/// claims, one credit per gamer, the transfers, the history lines, the
/// idempotency keys and the outbox events.
const WRITE_ALL_SQL: &str = "with j as (
    select * from json_to_recordset($1::json) as j(
        n bigint, id text, client_id text, gamer_id bigint, event_id text, amount bigint,
        status text, trace_watermark bigint, created_at bigint, shard bigint, bucket text,
        transfer_kind text, entry_kind text, direction text, name text, description text,
        sync_status text, key text, fingerprint text, status_code bigint,
        webhook_id text, webhook_type text, webhook_body text)
), ok as (
    select * from j
    where (select e.total_budget from events e where e.id = j.event_id limit 1) is null
), claim as (
    insert into claims (id, client_id, gamer_id, event_id, amount, status, trace_watermark,
                        created_at, updated_at)
    select id, client_id, gamer_id, event_id, amount, status, trace_watermark,
           created_at, created_at
    from ok order by n
    returning seq, id, event_id, amount, status, trace_watermark, created_at, updated_at
), debit as (
    update accounts a set balance = a.balance - d.total, updated_at = d.at
    from (select client_id, shard, sum(amount) as total, max(created_at) as at
          from ok where amount > 0 group by client_id, shard) d
    where a.kind = 'ISSUING' and a.client_id = d.client_id and a.owner_id = d.shard
    returning a.id, a.address, a.client_id, a.owner_id
), credit as (
    update accounts a set balance = a.balance + ok.amount, updated_at = ok.created_at
    from ok
    where a.kind = ok.bucket and a.client_id = ok.client_id and a.owner_id = ok.gamer_id
      and ok.amount > 0
    returning a.id, a.address, a.owner_id
), moved as (
    select ok.*, debit.id as debit_id, debit.address as debit_address,
           credit.id as credit_id, credit.address as credit_address
    from ok join debit on debit.client_id = ok.client_id and debit.owner_id = ok.shard
           join credit on credit.owner_id = ok.gamer_id
), transfer as (
    insert into transfers (uid, kind, debit_account_id, credit_account_id, amount, created_at)
    select id, transfer_kind, debit_id, credit_id, amount, created_at from moved order by n
    returning 1
), entry as (
    insert into wallet_entries (uid, gamer_id, kind, direction, amount, from_address,
                                to_address, name, description, sync_status, created_at)
    select id, gamer_id, entry_kind, direction, amount, debit_address, credit_address,
           name, description, sync_status, created_at
    from moved order by n
    returning 1
), remembered as (
    insert into idempotency_keys (gamer_id, key, fingerprint, status_code, response,
                                  created_at)
    select ok.gamer_id, ok.key, ok.fingerprint, ok.status_code, to_jsonb(claim)::text,
           ok.created_at
    from ok join claim on claim.id = ok.id where ok.key is not null
    on conflict (gamer_id, key) do update
        set fingerprint = excluded.fingerprint, status_code = excluded.status_code,
            response = excluded.response, created_at = excluded.created_at
    returning 1
), announced as (
    insert into webhook_events (id, client_id, type, body, created_at)
    select ok.webhook_id, ok.client_id, ok.webhook_type, ok.webhook_body, ok.created_at
    from ok join claim on claim.id = ok.id
    where exists (select 1 from webhook_endpoints w
                  where w.client_id = ok.client_id and w.is_active = 1 and w.is_deleted = 0)
    order by ok.n
    returning seq
), queued as (
    insert into webhook_queue (seq) select seq from announced
    returning 1
)
select claim.seq, claim.id, claim.event_id, claim.amount, claim.status,
       claim.trace_watermark, claim.created_at, claim.updated_at,
       (select count(*) from transfer) as transfers,
       (select count(*) from entry) as entries
from claim";

/// One claim of [`WRITE_ALL_SQL`], flat.
#[derive(serde::Serialize)]
struct SharedWrite<'a> {
    id: &'a str,
    client_id: &'a str,
    gamer_id: i64,
    event_id: &'a str,
    amount: i64,
    status: &'a str,
    trace_watermark: Option<i64>,
    created_at: i64,
    shard: i64,
    bucket: &'static str,
    transfer_kind: &'static str,
    entry_kind: &'static str,
    direction: &'static str,
    name: &'a str,
    description: &'a str,
    sync_status: &'static str,
    key: Option<&'a str>,
    fingerprint: Option<&'a str>,
    status_code: Option<i64>,
    webhook_id: &'a str,
    webhook_type: &'static str,
    webhook_body: &'a str,
}

impl<'a> From<&'a ClaimWrite<'a>> for SharedWrite<'a> {
    fn from(write: &'a ClaimWrite<'a>) -> SharedWrite<'a> {
        let (claim, entry) = (write.claim, write.entry);
        SharedWrite {
            id: &claim.id,
            client_id: write.client_id,
            gamer_id: entry.gamer_id,
            event_id: &claim.event_id,
            amount: claim.amount,
            status: &claim.status,
            trace_watermark: claim.trace_watermark,
            created_at: claim.created_at,
            shard: write.issuing_shard,
            bucket: write.bucket.as_str(),
            transfer_kind: write.transfer_kind.as_str(),
            entry_kind: entry.kind.as_str(),
            direction: entry.direction.as_str(),
            name: &entry.name,
            description: &entry.description,
            sync_status: entry.sync_status.as_str(),
            key: write.key.map(|(key, _, _)| key),
            fingerprint: write.key.map(|(_, fingerprint, _)| fingerprint),
            status_code: write.key.map(|(_, _, status)| status),
            webhook_id: &write.announcement.id,
            webhook_type: write.announcement.event_type,
            webhook_body: &write.announcement.body,
        }
    }
}

/// Writes the claims of a batch in one statement (see [`WRITE_ALL_SQL`]): each
/// of a different gamer, none of an event with a budget when it was judged (those
/// take [`write_claim`], whose guarded payout may refuse). Each write's claim, in
/// the writes' order; `None` for a claim not written because its event has a
/// budget now: one added since the claim was judged (the statement sees it, as it
/// takes its snapshot after waiting for the budget's `lock table claims`), so the
/// claim must be judged again and take the guarded path. A missing account fails
/// the statement: nothing is written.
pub async fn write_claims(
    tx: &mut Tx,
    writes: &[ClaimWrite<'_>],
) -> Result<Vec<Option<ClaimRow>>, sqlx::Error> {
    let rows: Vec<WrittenRow> = sqlx::query_as(WRITE_ALL_SQL)
        .bind(numbered(writes.iter().map(SharedWrite::from))?)
        .fetch_all(&mut **tx)
        .await?;
    let moved = rows.iter().filter(|row| row.claim.amount > 0).count() as i64;
    let counted = rows
        .first()
        .is_none_or(|row| row.transfers == moved && row.entries == moved);
    let written = rows.len();
    let mut by_id: std::collections::HashMap<String, ClaimRow> = rows
        .into_iter()
        .map(|row| (row.claim.id.clone(), row.claim))
        .collect();
    let claims: Vec<Option<ClaimRow>> = writes
        .iter()
        .map(|write| by_id.remove(&write.claim.id))
        .collect();
    if !by_id.is_empty() || !counted {
        // An account is missing: the statement must not commit half a batch.
        return Err(sqlx::Error::Protocol(format!(
            "a batch of {} claims wrote {written} of them, {moved} of which should move money, \
             but not with every transfer and history line",
            writes.len(),
        )));
    }
    Ok(claims)
}

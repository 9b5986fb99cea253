//! A reward claim on PostgreSQL in two statements (see the module above).

use super::super::claims::{ClaimHistory, ClaimRow};
use super::super::events::EventRow;
use super::super::idempotency::IdempotencyRow;
use super::super::ledger::{AccountKind, TransferKind, WalletEntryRow};
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

/// [`read_scene`]: `$1` gamer, `$2` client, `$3` event, `$4` idempotency key (or
/// null), `$5`/`$6`/`$7` the start of the current DAILY/WEEKLY/LIFETIME window. The event comes
/// as JSON so that a missing one is one null column.
const SCENE_SQL: &str = "select
    (select to_jsonb(e)::text from events e
     where e.id = $3 and e.client_id = $2 and e.is_deleted = 0) as event,
    last.created_at as last_claim_at,
    last.trace_watermark as last_watermark,
    case when ev.max_claims_per_user is null then 0 else
        (select count(*) from claims c
         where c.gamer_id = $1 and c.event_id = $3
           and c.created_at >= case ev.claim_period when 'DAILY' then $5
                                                    when 'WEEKLY' then $6
                                                    else $7 end)
    end as claims_in_window,
    (select max(t.id) from tracker_drops t
     where t.gamer_id = $1 and t.event_id = ev.activity_trace_activity_id) as trace_drop,
    (select max(t.id) from tracker_drops t where t.gamer_id = $1) as newest_drop,
    k.fingerprint as key_fingerprint,
    k.status_code as key_status_code,
    k.response as key_response,
    k.created_at as key_created_at
  from gamers g
  left join events ev on ev.id = $3 and ev.client_id = $2 and ev.is_deleted = 0
  left join lateral (select c.created_at, c.trace_watermark from claims c
                     where c.gamer_id = $1 and c.event_id = $3
                     order by c.seq desc limit 1) last on true
  left join idempotency_keys k on k.gamer_id = g.id and k.key = $4
  where g.id = $1";

/// The start of the windows a claim limit may count over.
#[derive(Clone, Copy, Debug)]
pub struct Windows {
    /// 00:00 UTC today, nanoseconds.
    pub daily: i64,
    /// Monday 00:00 UTC this ISO week, nanoseconds.
    pub weekly: i64,
    /// The beginning of time.
    pub lifetime: i64,
}

/// Reads the event, the gamer's claim history for it and the idempotency key's
/// record, in a transaction that holds the gamer's lock (`Db::begin_locking_gamer`).
pub async fn read_scene(
    tx: &mut Tx,
    client_id: &str,
    gamer_id: i64,
    event_id: &str,
    key: Option<&str>,
    windows: Windows,
) -> Result<ClaimScene, sqlx::Error> {
    let row: SceneRow = sqlx::query_as(SCENE_SQL)
        .bind(gamer_id)
        .bind(client_id)
        .bind(event_id)
        .bind(key)
        .bind(windows.daily)
        .bind(windows.weekly)
        .bind(windows.lifetime)
        .fetch_one(&mut **tx)
        .await?;
    let event = match row.event {
        Some(json) => Some(
            serde_json::from_str(&json).map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
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
}

/// [`write_claim`]: see the binds there. Every write depends on the one before
/// through its `RETURNING`, so a refused budget writes nothing at all; an expired
/// idempotency record of the same key is replaced (a live one was replayed).
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

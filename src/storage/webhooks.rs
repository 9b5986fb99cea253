//! Webhook endpoints, the outbox of events to announce and its queue, deliveries
//! and attempts (migrations 0007 and 0009). Tenant-scoped like every other
//! table: a foreign id is a missing one.

use std::collections::HashMap;

use sqlx::AnyExecutor;

use super::{lite, Backend, Db, Tx};

/// A stored endpoint.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EndpointRow {
    /// `webhookID`.
    pub id: String,
    /// Owning client.
    pub client_id: String,
    /// Where deliveries go.
    pub url: String,
    /// JSON array of subscribed types (or `["*"]`).
    pub event_types: String,
    /// Free text.
    pub description: String,
    /// 0/1.
    pub is_active: i64,
    /// `whsec_…`.
    pub secret: String,
    /// The secret before the last rotation, while it still signs.
    pub previous_secret: Option<String>,
    /// Until when it signs, nanoseconds.
    pub previous_until: Option<i64>,
    /// Time of the first failed attempt since the last success, nanoseconds.
    pub failing_since: Option<i64>,
    /// Nanoseconds.
    pub created_at: i64,
    /// Nanoseconds.
    pub updated_at: i64,
}

const ENDPOINT_COLUMNS: &str = "id, client_id, url, event_types, description, is_active, secret,
     previous_secret, previous_until, failing_since, created_at, updated_at";

/// The outbox insert: `$1` id, `$2` client, `$3` type, `$4` body, `$5` time, `$6`
/// only this endpoint (or null). Written only when the client has an active
/// endpoint, so that games without webhooks pay one index probe. On SQLite a
/// trigger queues the event (migration 0009); see [`PG_INSERT_EVENT_SQL`].
pub const INSERT_EVENT_SQL: &str =
    "insert into webhook_events (id, client_id, type, body, only_endpoint, created_at)
     select $1, $2, $3, $4, $6, $5
     where exists (select 1 from webhook_endpoints
                   where client_id = $2 and is_active = 1 and is_deleted = 0)";

/// Whether client `$1` has an active endpoint (1 or 0): the probe of
/// [`INSERT_EVENT_SQL`], made first on SQLite so that no event is built for a
/// client without one.
pub const ANY_ACTIVE_ENDPOINT_SQL: &str = "select exists (select 1 from webhook_endpoints
     where client_id = $1 and is_active = 1 and is_deleted = 0)";

/// [`INSERT_EVENT_SQL`] without its probe, for the SQLite writer's transaction
/// that has just made it ([`ANY_ACTIVE_ENDPOINT_SQL`]): the writer is the only
/// one, so nothing can change between the two.
pub const INSERT_PROBED_EVENT_SQL: &str =
    "insert into webhook_events (id, client_id, type, body, only_endpoint, created_at)
     values ($1, $2, $3, $4, $6, $5)";

/// [`INSERT_EVENT_SQL`] on PostgreSQL: the statement queues the event itself.
const PG_INSERT_EVENT_SQL: &str = "with event as (
         insert into webhook_events (id, client_id, type, body, only_endpoint, created_at)
         select $1, $2, $3, $4, $6, $5
         where exists (select 1 from webhook_endpoints
                       where client_id = $2 and is_active = 1 and is_deleted = 0)
         returning seq)
     insert into webhook_queue (seq) select seq from event";

/// The event insert for the connection's database.
fn insert_event_sql(conn: &sqlx::AnyConnection) -> &'static str {
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        PG_INSERT_EVENT_SQL
    } else {
        INSERT_EVENT_SQL
    }
}

/// An event for the outbox, written by the statement of the change it announces
/// (`storage::pg::claims`).
#[derive(Debug, serde::Serialize)]
pub struct NewEvent {
    /// Event id (`webhook-id`).
    pub id: String,
    /// Event type.
    pub event_type: &'static str,
    /// The delivered body.
    pub body: String,
}

/// Writes an event to the outbox, in the transaction of the change it announces.
pub async fn insert_event(
    tx: &mut Tx,
    id: &str,
    client_id: &str,
    event_type: &str,
    body: &str,
    now: i64,
    only_endpoint: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(insert_event_sql(tx))
        .bind(id)
        .bind(client_id)
        .bind(event_type)
        .bind(body)
        .bind(now)
        .bind(only_endpoint)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Endpoints of a client, deleted ones excluded, oldest first.
pub async fn list_endpoints<'e>(
    executor: impl AnyExecutor<'e>,
    client_id: &str,
) -> Result<Vec<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {ENDPOINT_COLUMNS} from webhook_endpoints
         where client_id = $1 and is_deleted = 0 order by seq"
    ))
    .bind(client_id)
    .fetch_all(executor)
    .await
}

/// One endpoint of a client.
pub async fn find_endpoint<'e>(
    executor: impl AnyExecutor<'e>,
    client_id: &str,
    id: &str,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {ENDPOINT_COLUMNS} from webhook_endpoints
         where id = $1 and client_id = $2 and is_deleted = 0"
    ))
    .bind(id)
    .bind(client_id)
    .fetch_optional(executor)
    .await
}

/// Locks the client's endpoint list (its client row) so that the limit of 20 is
/// counted exactly, and returns how many endpoints it has.
pub async fn lock_and_count(tx: &mut Tx, client_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query("update clients set name = name where id = $1")
        .bind(client_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query_scalar(
        "select count(*) from webhook_endpoints where client_id = $1 and is_deleted = 0",
    )
    .bind(client_id)
    .fetch_one(&mut **tx)
    .await
}

/// Inserts an endpoint.
pub async fn insert_endpoint(tx: &mut Tx, row: &EndpointRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into webhook_endpoints (id, client_id, url, event_types, description,
             is_active, secret, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&row.id)
    .bind(&row.client_id)
    .bind(&row.url)
    .bind(&row.event_types)
    .bind(&row.description)
    .bind(row.is_active)
    .bind(&row.secret)
    .bind(row.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Replaces an endpoint's settings; false if there is no such endpoint. Enabling
/// clears the failure clock.
pub async fn replace_endpoint<'e>(
    executor: impl AnyExecutor<'e>,
    client_id: &str,
    row: &EndpointRow,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update webhook_endpoints
         set url = $3, event_types = $4, description = $5, is_active = $6, updated_at = $7,
             failing_since = case when $6 = 1 then null else failing_since end
         where id = $1 and client_id = $2 and is_deleted = 0",
    )
    .bind(&row.id)
    .bind(client_id)
    .bind(&row.url)
    .bind(&row.event_types)
    .bind(&row.description)
    .bind(row.is_active)
    .bind(row.updated_at)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes an endpoint (it gets nothing more); false if there is none.
pub async fn delete_endpoint<'e>(
    executor: impl AnyExecutor<'e>,
    client_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update webhook_endpoints set is_deleted = 1, is_active = 0, updated_at = $3
         where id = $1 and client_id = $2 and is_deleted = 0",
    )
    .bind(id)
    .bind(client_id)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores a rotated secret set.
pub async fn set_secrets<'e>(
    executor: impl AnyExecutor<'e>,
    row: &EndpointRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update webhook_endpoints
         set secret = $2, previous_secret = $3, previous_until = $4, updated_at = $5
         where id = $1",
    )
    .bind(&row.id)
    .bind(&row.secret)
    .bind(&row.previous_secret)
    .bind(row.previous_until)
    .bind(row.updated_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// An event of the outbox, for deliveries created at once (a test event).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OutboxEvent {
    /// Event id (`webhook-id`).
    pub id: String,
    /// Owning client.
    pub client_id: String,
    /// Event type.
    #[sqlx(rename = "type")]
    pub event_type: String,
    /// Only this endpoint (test events), if set.
    pub only_endpoint: Option<String>,
    /// Nanoseconds.
    pub created_at: i64,
}

/// What the deliverer has to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Queued events not leased.
    pub queued: bool,
    /// PENDING deliveries due and not leased.
    pub due: bool,
}

/// What the deliverer has to do now: a read, so that an idle deliverer never takes
/// the write lock (SQLite), and a busy one writes only what it has to.
pub async fn work(db: &Db, now: i64) -> Result<Work, sqlx::Error> {
    let (queued, due): (i64, i64) = sqlx::query_as(
        "select case when exists (select 1 from webhook_queue where locked_until <= $1)
                     then 1 else 0 end,
                case when exists (select 1 from webhook_deliveries
                                  where status = 'PENDING' and next_attempt_at <= $1
                                    and locked_until <= $1)
                     then 1 else 0 end",
    )
    .bind(now)
    .fetch_one(db.reader())
    .await?;
    Ok(Work {
        queued: queued == 1,
        due: due == 1,
    })
}

/// Creates the deliveries of an event and takes it off the queue; returns their ids.
pub async fn fan_out(
    tx: &mut Tx,
    event: &OutboxEvent,
    endpoint_ids: &[String],
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let mut ids = Vec::with_capacity(endpoint_ids.len());
    for endpoint in endpoint_ids {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "insert into webhook_deliveries (id, endpoint_id, event_id, status,
                 next_attempt_at, created_at, updated_at)
             values ($1, $2, $3, 'PENDING', $4, $4, $4)",
        )
        .bind(&id)
        .bind(endpoint)
        .bind(&event.id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        ids.push(id);
    }
    sqlx::query(
        "delete from webhook_queue where seq = (select seq from webhook_events where id = $1)",
    )
    .bind(&event.id)
    .execute(&mut **tx)
    .await?;
    Ok(ids)
}

/// A delivery taken for an attempt, with what the attempt needs.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DueDelivery {
    /// Delivery id.
    pub id: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event (`webhook-id`).
    pub event_id: String,
    /// The event's body, byte-identical on every attempt.
    pub body: String,
}

/// One delivery of a client's endpoint, for an attempt on demand (retry).
pub async fn find_delivery(
    db: &Db,
    client_id: &str,
    endpoint_id: &str,
    delivery_id: &str,
) -> Result<Option<DueDelivery>, sqlx::Error> {
    sqlx::query_as(
        "select d.id, d.attempts, d.endpoint_id, d.event_id, e.body
         from webhook_deliveries d
         join webhook_events e on e.id = d.event_id
         join webhook_endpoints p on p.id = d.endpoint_id
         where d.id = $1 and d.endpoint_id = $2 and p.client_id = $3 and p.is_deleted = 0",
    )
    .bind(delivery_id)
    .bind(endpoint_id)
    .bind(client_id)
    .fetch_optional(db.reader())
    .await
}

/// An attempt's outcome to record.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// Nanoseconds.
    pub at: i64,
    /// HTTP status, if an answer came.
    pub status_code: Option<i64>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// An endpoint by id alone (the deliverer's view).
pub async fn endpoint_by_id<'e>(
    executor: impl AnyExecutor<'e>,
    id: &str,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {ENDPOINT_COLUMNS} from webhook_endpoints where id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// A delivery as listed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    /// List order.
    pub seq: i64,
    /// Delivery id.
    pub id: String,
    /// Event id.
    pub event_id: String,
    /// Event type.
    #[sqlx(rename = "type")]
    pub event_type: String,
    /// PENDING, SUCCEEDED or FAILED.
    pub status: String,
    /// Nanoseconds, while PENDING.
    pub next_attempt_at: Option<i64>,
    /// Nanoseconds.
    pub created_at: i64,
}

/// A page of an endpoint's deliveries, newest first, `seq` below `before`.
pub async fn list_deliveries<'e>(
    executor: impl AnyExecutor<'e>,
    endpoint_id: &str,
    status: Option<&str>,
    before: i64,
    limit: u32,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(
        "select d.seq, d.id, d.event_id, e.type, d.status, d.next_attempt_at, d.created_at
         from webhook_deliveries d join webhook_events e on e.id = d.event_id
         where d.endpoint_id = $1 and d.seq < $2 and ($3 is null or d.status = $3)
         order by d.seq desc limit $4",
    )
    .bind(endpoint_id)
    .bind(before)
    .bind(status)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
}

/// The attempts of a delivery, oldest first: the one kept in the delivery's row
/// (its first, when it was attempted straight from the queue), then its rows of
/// `webhook_attempts`.
pub async fn list_attempts<'e>(
    executor: impl AnyExecutor<'e>,
    delivery_id: &str,
) -> Result<Vec<Attempt>, sqlx::Error> {
    let rows: Vec<(i64, Option<i64>, Option<String>, i64)> = sqlx::query_as(
        "select at, status_code, error, duration_ms from (
             select 0 as part, seq, first_at as at, first_status_code as status_code,
                    first_error as error, first_duration_ms as duration_ms
             from webhook_deliveries where id = $1 and first_at is not null
             union all
             select 1, seq, at, status_code, error, duration_ms
             from webhook_attempts where delivery_id = $1) attempts
         order by part, seq",
    )
    .bind(delivery_id)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, status_code, error, duration_ms)| Attempt {
            at,
            status_code,
            error,
            duration_ms,
        })
        .collect())
}

/// Queue depth (PENDING deliveries and queued events, whose first attempt may be
/// in flight) and the time of the oldest of them (nanoseconds), for metrics.
pub async fn queue_state(db: &Db) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "select (select count(*) from webhook_deliveries where status = 'PENDING')
              + (select count(*) from webhook_queue),
                (select min(t) from (
                    select min(created_at) as t from webhook_deliveries where status = 'PENDING'
                    union all
                    select (select e.created_at from webhook_events e where e.seq = q.seq)
                    from webhook_queue q order by q.seq limit 1) oldest)",
    )
    .fetch_one(db.reader())
    .await
}

/// Deletes events older than `before`, with their deliveries and attempts.
pub async fn prune(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "delete from webhook_attempts where delivery_id in
           (select d.id from webhook_deliveries d join webhook_events e on e.id = d.event_id
            where e.created_at < $1)",
    )
    .bind(before)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "delete from webhook_deliveries where event_id in
           (select id from webhook_events where created_at < $1)",
    )
    .bind(before)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "delete from webhook_queue where seq in
           (select seq from webhook_events where created_at < $1)",
    )
    .bind(before)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query("delete from webhook_events where created_at < $1")
        .bind(before)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// A withdrawal's gamer (`user_id`) and the address of its KGeN wallet.
pub async fn withdrawal_parties(
    tx: &mut Tx,
    gamer_id: i64,
    kgen_account_id: i64,
) -> Result<(String, String), sqlx::Error> {
    sqlx::query_as(
        "select g.user_id, coalesce((select a.address from accounts a
                                     where a.kind = 'KGEN' and a.owner_id = $2), '')
         from gamers g where g.id = $1",
    )
    .bind(gamer_id)
    .bind(kgen_account_id)
    .fetch_one(&mut **tx)
    .await
}

/// The public `kgenID` of a KGeN account.
pub async fn kgen_id_of(tx: &mut Tx, kgen_account_id: i64) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select kgen_id from kgen_accounts where id = $1")
        .bind(kgen_account_id)
        .fetch_one(&mut **tx)
        .await
}

// --- The deliverer's batches -----------------------------------------------------
//
// The deliverer writes in few, large transactions: one fan-out of many events, one
// lease of many deliveries, one record of many attempts. On PostgreSQL each is one
// transaction of the pool with set-wise statements; on SQLite each is one job of
// the group-commit writer (`storage::lite`), so that it joins the claims' batch and
// commit (one fsync for both) instead of taking SQLite's write lock as a second
// writer.

/// An event leased from the queue by [`take_events`].
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TakenEvent {
    /// Outbox order, and its queue row.
    pub seq: i64,
    /// Event id (`webhook-id`).
    pub id: String,
    /// Owning client.
    pub client_id: String,
    /// Event type.
    #[sqlx(rename = "type")]
    pub event_type: String,
    /// Only this endpoint (test events), if set.
    pub only_endpoint: Option<String>,
    /// Nanoseconds.
    pub created_at: i64,
    /// The body every attempt sends.
    pub body: String,
}

/// A delivery to create PENDING: `locked_until` is 0, or the lease of the server
/// that attempts it at once.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    /// Delivery id.
    pub id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event.
    pub event_id: String,
    /// Nanoseconds.
    pub locked_until: i64,
}

/// Events leased from the queue, with their clients' endpoints.
#[derive(Debug, Default)]
pub struct Taken {
    /// In outbox order.
    pub events: Vec<TakenEvent>,
    /// The endpoints of the events' clients (deleted ones excluded), by client.
    pub endpoints: HashMap<String, Vec<EndpointRow>>,
}

/// Leases up to `$3` queued events until `$2` (PostgreSQL skips the rows another
/// server is leasing), with the events, in one statement. The lease is in no
/// index: PostgreSQL rewrites the queue row in place.
/// `= any(array(…))`, not `in (…)`: the planner may join an `in` by hashing a seq
/// scan of the whole table, and the queue's heap holds every dead row since the
/// last vacuum.
const PG_TAKE_EVENTS_SQL: &str = "with taken as (
         update webhook_queue set locked_until = $2
         where seq = any(array(select seq from webhook_queue where locked_until <= $1
                               order by seq limit $3 for update skip locked))
         returning seq)
     select e.seq, e.id, e.client_id, e.type, e.only_endpoint, e.created_at, e.body
     from taken join webhook_events e on e.seq = taken.seq";

/// The same on SQLite (the writer's transaction is the only one: nothing to skip),
/// the lease then set row by row.
const LITE_TAKE_EVENTS_SQL: &str =
    "select e.seq, e.id, e.client_id, e.type, e.only_endpoint, e.created_at, e.body
     from webhook_queue q join webhook_events e on e.seq = q.seq
     where q.locked_until <= $1 order by q.seq limit $2";

const LITE_LEASE_EVENT_SQL: &str = "update webhook_queue set locked_until = $2 where seq = $1";

/// Leases up to `$3` due deliveries of active endpoints until `$2`, in one
/// statement, with the event's body. `{skip}`: endpoints left out (enough in
/// flight). The endpoint is checked by a subquery, not a join, so that the only way
/// to the rows is the small index of PENDING deliveries (a join let the planner
/// scan all of an endpoint's deliveries through `webhook_deliveries_by_endpoint`);
/// `{in}…{end}`: `= any(array(…))` on PostgreSQL for the reason given at
/// [`PG_TAKE_EVENTS_SQL`], `in (…)` on SQLite.
const LEASE_SQL: &str = "update webhook_deliveries set locked_until = $2
     where id {in}
         select d.id from webhook_deliveries d
         where d.status = 'PENDING' and d.next_attempt_at <= $1 and d.locked_until <= $1
           and (select p.is_active from webhook_endpoints p where p.id = d.endpoint_id) = 1{skip}
         order by d.next_attempt_at limit $3{lock}{end}
     returning id, attempts, endpoint_id, event_id,
               (select e.body from webhook_events e
                where e.id = webhook_deliveries.event_id) as body";

const INSERT_DELIVERY_SQL: &str = "insert into webhook_deliveries (id, endpoint_id, event_id,
         status, next_attempt_at, locked_until, created_at, updated_at)
     values ($1, $2, $3, 'PENDING', $5, $4, $5, $5)";

/// A delivery written after its first attempt, in the state it left it in, with
/// that attempt inline (migration 0010): `$7` its time, `$8` status code, `$9`
/// error, `$10` duration.
const INSERT_ATTEMPTED_SQL: &str = "insert into webhook_deliveries (id, endpoint_id, event_id,
         status, attempts, next_attempt_at, locked_until, created_at, updated_at,
         first_at, first_status_code, first_error, first_duration_ms)
     values ($1, $2, $3, $4, 1, $5, 0, $6, $7, $7, $8, $9, $10)";

const DEQUEUE_SQL: &str = "delete from webhook_queue where seq = $1";

const INSERT_ATTEMPT_SQL: &str =
    "insert into webhook_attempts (delivery_id, at, status_code, error, duration_ms)
     values ($1, $2, $3, $4, $5)";

const UPDATE_DELIVERY_SQL: &str = "update webhook_deliveries
     set status = $2, attempts = attempts + 1, next_attempt_at = $3, locked_until = 0,
         updated_at = $4
     where id = $1";

const ENDPOINT_HEALTH_SQL: &str =
    "select client_id, failing_since, is_active from webhook_endpoints where id = $1";

const SET_HEALTH_SQL: &str =
    "update webhook_endpoints set failing_since = $2, is_active = $3, updated_at = $4
     where id = $1";

/// Rows per multi-row statement (PostgreSQL), well below its 65 535 parameters.
const ROWS_PER_STATEMENT: usize = 200;

fn lock_clause(backend: Backend, of: &str) -> String {
    match backend {
        Backend::Postgres => format!(" for update{of} skip locked"),
        Backend::Sqlite => String::new(),
    }
}

/// `, $first, $first+1, …` for `count` placeholders.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn lease_sql(backend: Backend, skip: usize) -> String {
    let skip = if skip == 0 {
        String::new()
    } else {
        format!(" and d.endpoint_id not in ({})", placeholders(4, skip))
    };
    let (within, end) = match backend {
        Backend::Postgres => ("= any(array(", "))"),
        Backend::Sqlite => ("in (", ")"),
    };
    LEASE_SQL
        .replace("{in}", within)
        .replace("{end}", end)
        .replace("{skip}", &skip)
        .replace("{lock}", &lock_clause(backend, " of d"))
}

fn lite_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("the SQLite writer: {error}")
}

/// Leases up to `limit` queued events until `lease_until`, and reads their
/// clients' endpoints: one transaction. A leased event is written off the queue by
/// [`queue_deliveries`] or by the record of its attempt ([`Recorded::queued`]); if
/// neither comes (the server died), its lease runs out and it is taken again.
pub async fn take_events(db: &Db, limit: i64, now: i64, lease_until: i64) -> anyhow::Result<Taken> {
    if let Some(lite) = db.lite() {
        return lite
            .write(move |conn| lite_take_events(conn, limit, now, lease_until))
            .await
            .map_err(lite_error)?
            .map_err(lite_error);
    }
    let mut tx = db.begin().await?;
    let mut events: Vec<TakenEvent> = sqlx::query_as(PG_TAKE_EVENTS_SQL)
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    if events.is_empty() {
        tx.rollback().await?;
        return Ok(Taken::default());
    }
    events.sort_by_key(|e| e.seq);
    let mut endpoints = HashMap::new();
    for event in &events {
        if !endpoints.contains_key(&event.client_id) {
            let list = list_endpoints(&mut *tx, &event.client_id).await?;
            endpoints.insert(event.client_id.clone(), list);
        }
    }
    tx.commit().await?;
    Ok(Taken { events, endpoints })
}

fn lite_take_events(
    conn: &rusqlite::Connection,
    limit: i64,
    now: i64,
    lease_until: i64,
) -> rusqlite::Result<Taken> {
    let mut events = Vec::new();
    {
        let mut stmt = lite::statement(conn, LITE_TAKE_EVENTS_SQL, &[&now, &limit])?;
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            events.push(TakenEvent {
                seq: row.get(0)?,
                id: row.get(1)?,
                client_id: row.get(2)?,
                event_type: row.get(3)?,
                only_endpoint: row.get(4)?,
                created_at: row.get(5)?,
                body: row.get(6)?,
            });
        }
    }
    let mut endpoints = HashMap::new();
    let list_sql = format!(
        "select {ENDPOINT_COLUMNS} from webhook_endpoints
         where client_id = $1 and is_deleted = 0 order by seq"
    );
    for event in &events {
        lite::execute(conn, LITE_LEASE_EVENT_SQL, &[&event.seq, &lease_until])?;
        if !endpoints.contains_key(&event.client_id) {
            let mut list = Vec::new();
            let mut stmt = lite::statement(conn, &list_sql, &[&event.client_id])?;
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next()? {
                list.push(lite_endpoint(row)?);
            }
            endpoints.insert(event.client_id.clone(), list);
        }
    }
    Ok(Taken { events, endpoints })
}

/// Creates PENDING deliveries and writes the events `done` (by seq) off the
/// queue: one transaction. For the events that are not attempted straight from
/// the queue (several endpoints, or one with no room in flight), and those that
/// go to no endpoint.
pub async fn queue_deliveries(
    db: &Db,
    now: i64,
    deliveries: Vec<NewDelivery>,
    done: Vec<i64>,
) -> anyhow::Result<()> {
    if deliveries.is_empty() && done.is_empty() {
        return Ok(());
    }
    if let Some(lite) = db.lite() {
        return lite
            .write(move |conn| {
                for d in &deliveries {
                    lite::execute(
                        conn,
                        INSERT_DELIVERY_SQL,
                        &[&d.id, &d.endpoint_id, &d.event_id, &d.locked_until, &now],
                    )?;
                }
                for seq in &done {
                    lite::execute(conn, DEQUEUE_SQL, &[seq])?;
                }
                Ok::<_, rusqlite::Error>(())
            })
            .await
            .map_err(lite_error)?
            .map_err(lite_error);
    }
    let mut tx = db.begin().await?;
    for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
        let rows = (0..chunk.len())
            .map(|i| {
                let n = 2 + i * 4;
                format!(
                    "(${}, ${}, ${}, 'PENDING', $1, ${}, $1, $1)",
                    n,
                    n + 1,
                    n + 2,
                    n + 3
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "insert into webhook_deliveries (id, endpoint_id, event_id, status,
                 next_attempt_at, locked_until, created_at, updated_at) values {rows}"
        );
        let mut query = sqlx::query(&sql).bind(now);
        for delivery in chunk {
            query = query
                .bind(&delivery.id)
                .bind(&delivery.endpoint_id)
                .bind(&delivery.event_id)
                .bind(delivery.locked_until);
        }
        query.execute(&mut *tx).await?;
    }
    dequeue(&mut tx, &done).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes the queue rows of `seqs` (PostgreSQL).
async fn dequeue(tx: &mut Tx, seqs: &[i64]) -> Result<(), sqlx::Error> {
    for chunk in seqs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "delete from webhook_queue where seq in ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for seq in chunk {
            query = query.bind(*seq);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

fn lite_endpoint(row: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointRow> {
    Ok(EndpointRow {
        id: row.get(0)?,
        client_id: row.get(1)?,
        url: row.get(2)?,
        event_types: row.get(3)?,
        description: row.get(4)?,
        is_active: row.get(5)?,
        secret: row.get(6)?,
        previous_secret: row.get(7)?,
        previous_until: row.get(8)?,
        failing_since: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
    })
}

/// Leases up to `limit` due deliveries of active endpoints (not of the endpoints
/// in `skip`) until `lease_until`, and reads their endpoints: one transaction.
pub async fn lease_batch(
    db: &Db,
    now: i64,
    lease_until: i64,
    limit: i64,
    skip: Vec<String>,
) -> anyhow::Result<(Vec<DueDelivery>, HashMap<String, EndpointRow>)> {
    let sql = lease_sql(db.backend(), skip.len());
    if let Some(lite) = db.lite() {
        return lite
            .write(move |conn| lite_lease(conn, &sql, now, lease_until, limit, &skip))
            .await
            .map_err(lite_error)?
            .map_err(lite_error);
    }
    let mut tx = db.begin().await?;
    let mut query = sqlx::query_as(&sql).bind(now).bind(lease_until).bind(limit);
    for endpoint in &skip {
        query = query.bind(endpoint);
    }
    let due: Vec<DueDelivery> = query.fetch_all(&mut *tx).await?;
    let mut endpoints = HashMap::new();
    for delivery in &due {
        if !endpoints.contains_key(&delivery.endpoint_id) {
            if let Some(row) = endpoint_by_id(&mut *tx, &delivery.endpoint_id).await? {
                endpoints.insert(row.id.clone(), row);
            }
        }
    }
    tx.commit().await?;
    Ok((due, endpoints))
}

fn lite_lease(
    conn: &rusqlite::Connection,
    sql: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
    skip: &[String],
) -> rusqlite::Result<(Vec<DueDelivery>, HashMap<String, EndpointRow>)> {
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&now, &lease_until, &limit];
    params.extend(skip.iter().map(|s| s as &dyn rusqlite::ToSql));
    let mut due = Vec::new();
    {
        let mut stmt = lite::statement(conn, sql, &params)?;
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            due.push(DueDelivery {
                id: row.get(0)?,
                attempts: row.get(1)?,
                endpoint_id: row.get(2)?,
                event_id: row.get(3)?,
                body: row.get(4)?,
            });
        }
    }
    let by_id = format!("select {ENDPOINT_COLUMNS} from webhook_endpoints where id = $1");
    let mut endpoints = HashMap::new();
    for delivery in &due {
        if !endpoints.contains_key(&delivery.endpoint_id) {
            if let Some(row) =
                lite::query_row(conn, &by_id, &[&delivery.endpoint_id], lite_endpoint)?
            {
                endpoints.insert(row.id.clone(), row);
            }
        }
    }
    Ok((due, endpoints))
}

/// An attempt to record, with the delivery's state after it (`next_attempt_at`
/// null when it is no longer PENDING).
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The delivery.
    pub delivery_id: String,
    /// Its endpoint.
    pub endpoint_id: String,
    /// The attempt.
    pub attempt: Attempt,
    /// PENDING, SUCCEEDED or FAILED.
    pub status: &'static str,
    /// When the next attempt is due, while PENDING.
    pub next_attempt_at: Option<i64>,
    /// Set for a first attempt made straight from the queue: the delivery does not
    /// exist yet and is written now, and the event written off the queue.
    pub queued: Option<Queued>,
}

/// A delivery attempted straight from the queue (its event's only one).
#[derive(Clone, Debug)]
pub struct Queued {
    /// The event's queue row.
    pub seq: i64,
    /// The event (`webhook-id`).
    pub event_id: String,
    /// When the delivery was planned (its `createdAt`), nanoseconds.
    pub created_at: i64,
}

/// An endpoint's health as stored.
#[derive(Clone, Debug)]
pub struct Health {
    /// Owning client.
    pub client_id: String,
    /// First failure since the last success.
    pub failing_since: Option<i64>,
    /// Whether it gets deliveries.
    pub is_active: bool,
}

/// What an endpoint's attempts change about it.
#[derive(Clone, Debug)]
pub struct HealthChange {
    /// The new health.
    pub health: Health,
    /// Nanoseconds, the time of the change.
    pub at: i64,
    /// An event to write to the outbox (`id`, `type`, `body`) with it.
    pub event: Option<(String, &'static str, String)>,
}

/// A batch's attempts, bound as one JSON array (sqlx's `Any` driver binds no
/// arrays): one prepared statement whatever the batch's size, where a multi-row
/// `VALUES` was parsed and planned again for every size. It writes every attempt,
/// the deliveries attempted straight from the queue (in the state their attempt
/// left them in) and takes their events off the queue; the deliveries that
/// existed are updated after it.
const PG_RECORD_SQL: &str = "with r as (
    select * from json_to_recordset($1::json) as r(
        n bigint, delivery_id text, endpoint_id text, status text, next_attempt_at bigint,
        at bigint, status_code bigint, error text, duration_ms bigint,
        seq bigint, event_id text, created_at bigint)
), fresh as (
    insert into webhook_deliveries (id, endpoint_id, event_id, status, attempts,
                                    next_attempt_at, locked_until, created_at, updated_at,
                                    first_at, first_status_code, first_error, first_duration_ms)
    select delivery_id, endpoint_id, event_id, status, 1, next_attempt_at, 0, created_at, at,
           at, status_code, error, duration_ms
    from r where seq is not null order by n
    returning 1
), dequeued as (
    delete from webhook_queue
    where seq = any(array(select seq from r where seq is not null))
    returning 1
)
insert into webhook_attempts (delivery_id, at, status_code, error, duration_ms)
select delivery_id, at, status_code, error, duration_ms from r where seq is null order by n";

/// One element of [`PG_RECORD_SQL`]'s array.
#[derive(serde::Serialize)]
struct RecordRow<'a> {
    n: usize,
    delivery_id: &'a str,
    endpoint_id: &'a str,
    status: &'a str,
    next_attempt_at: Option<i64>,
    at: i64,
    status_code: Option<i64>,
    error: Option<&'a str>,
    duration_ms: i64,
    seq: Option<i64>,
    event_id: Option<&'a str>,
    created_at: Option<i64>,
}

impl<'a> RecordRow<'a> {
    fn new(n: usize, r: &'a Recorded) -> RecordRow<'a> {
        RecordRow {
            n,
            delivery_id: &r.delivery_id,
            endpoint_id: &r.endpoint_id,
            status: r.status,
            next_attempt_at: r.next_attempt_at,
            at: r.attempt.at,
            status_code: r.attempt.status_code,
            error: r.attempt.error.as_deref(),
            duration_ms: r.attempt.duration_ms,
            seq: r.queued.as_ref().map(|q| q.seq),
            event_id: r.queued.as_ref().map(|q| q.event_id.as_str()),
            created_at: r.queued.as_ref().map(|q| q.created_at),
        }
    }
}

/// Records attempts, their deliveries' new states (each lease released) and what
/// they change about their endpoints (`judge`: given the endpoint's stored health
/// and its attempts of this batch, oldest first; `None`: nothing): one transaction.
pub async fn record_batch<J>(db: &Db, batch: Vec<Recorded>, judge: J) -> anyhow::Result<()>
where
    J: Fn(&Health, &[&Recorded]) -> Option<HealthChange> + Send + 'static,
{
    if batch.is_empty() {
        return Ok(());
    }
    if let Some(lite) = db.lite() {
        return lite
            .write(move |conn| lite_record(conn, &batch, &judge))
            .await
            .map_err(lite_error)?
            .map_err(lite_error);
    }
    let mut tx = db.begin().await?;
    let rows: Vec<RecordRow<'_>> = batch
        .iter()
        .enumerate()
        .map(|(n, r)| RecordRow::new(n, r))
        .collect();
    let rows =
        serde_json::to_string(&rows).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    sqlx::query(PG_RECORD_SQL)
        .bind(rows)
        .execute(&mut *tx)
        .await?;
    let known = batch.iter().filter(|r| r.queued.is_none());
    // A retry that succeeded (the common one), in one statement per chunk.
    let (done, others): (Vec<&Recorded>, Vec<&Recorded>) =
        known.partition(|r| r.status == "SUCCEEDED");
    for chunk in done.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "update webhook_deliveries
             set status = 'SUCCEEDED', attempts = attempts + 1, next_attempt_at = null,
                 locked_until = 0, updated_at = $1
             where id in ({})",
            placeholders(2, chunk.len())
        );
        let at = chunk.iter().map(|r| r.attempt.at).max().unwrap_or_default();
        let mut query = sqlx::query(&sql).bind(at);
        for r in chunk {
            query = query.bind(&r.delivery_id);
        }
        query.execute(&mut *tx).await?;
    }
    for r in others {
        sqlx::query(UPDATE_DELIVERY_SQL)
            .bind(&r.delivery_id)
            .bind(r.status)
            .bind(r.next_attempt_at)
            .bind(r.attempt.at)
            .execute(&mut *tx)
            .await?;
    }
    for (endpoint_id, attempts) in by_endpoint(&batch) {
        let stored: Option<(String, Option<i64>, i64)> = sqlx::query_as(ENDPOINT_HEALTH_SQL)
            .bind(endpoint_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((client_id, failing_since, is_active)) = stored else {
            continue;
        };
        let health = Health {
            client_id,
            failing_since,
            is_active: is_active == 1,
        };
        let Some(change) = judge(&health, &attempts) else {
            continue;
        };
        sqlx::query(SET_HEALTH_SQL)
            .bind(endpoint_id)
            .bind(change.health.failing_since)
            .bind(i64::from(change.health.is_active))
            .bind(change.at)
            .execute(&mut *tx)
            .await?;
        if let Some((id, event_type, body)) = &change.event {
            sqlx::query(PG_INSERT_EVENT_SQL)
                .bind(id)
                .bind(&health.client_id)
                .bind(*event_type)
                .bind(body)
                .bind(change.at)
                .bind(None::<String>)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The batch's attempts by endpoint, each endpoint's oldest first.
fn by_endpoint(batch: &[Recorded]) -> Vec<(&str, Vec<&Recorded>)> {
    let mut groups: HashMap<&str, Vec<&Recorded>> = HashMap::new();
    for r in batch {
        groups.entry(&r.endpoint_id).or_default().push(r);
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    for (_, attempts) in &mut groups {
        attempts.sort_by_key(|r| r.attempt.at);
    }
    groups.sort_by(|a, b| a.0.cmp(b.0));
    groups
}

fn lite_record<J>(
    conn: &rusqlite::Connection,
    batch: &[Recorded],
    judge: &J,
) -> rusqlite::Result<()>
where
    J: Fn(&Health, &[&Recorded]) -> Option<HealthChange>,
{
    for r in batch {
        if let Some(queued) = &r.queued {
            lite::execute(
                conn,
                INSERT_ATTEMPTED_SQL,
                &[
                    &r.delivery_id,
                    &r.endpoint_id,
                    &queued.event_id,
                    &r.status,
                    &r.next_attempt_at,
                    &queued.created_at,
                    &r.attempt.at,
                    &r.attempt.status_code,
                    &r.attempt.error,
                    &r.attempt.duration_ms,
                ],
            )?;
            lite::execute(conn, DEQUEUE_SQL, &[&queued.seq])?;
            continue;
        }
        lite::execute(
            conn,
            INSERT_ATTEMPT_SQL,
            &[
                &r.delivery_id,
                &r.attempt.at,
                &r.attempt.status_code,
                &r.attempt.error,
                &r.attempt.duration_ms,
            ],
        )?;
        lite::execute(
            conn,
            UPDATE_DELIVERY_SQL,
            &[&r.delivery_id, &r.status, &r.next_attempt_at, &r.attempt.at],
        )?;
    }
    for (endpoint_id, attempts) in by_endpoint(batch) {
        let stored = lite::query_row(conn, ENDPOINT_HEALTH_SQL, &[&endpoint_id], |row| {
            Ok(Health {
                client_id: row.get(0)?,
                failing_since: row.get(1)?,
                is_active: row.get::<_, i64>(2)? == 1,
            })
        })?;
        let Some(health) = stored else {
            continue;
        };
        let Some(change) = judge(&health, &attempts) else {
            continue;
        };
        lite::execute(
            conn,
            SET_HEALTH_SQL,
            &[
                &endpoint_id,
                &change.health.failing_since,
                &i64::from(change.health.is_active),
                &change.at,
            ],
        )?;
        if let Some((id, event_type, body)) = &change.event {
            lite::execute(
                conn,
                INSERT_EVENT_SQL,
                &[
                    id,
                    &health.client_id,
                    event_type,
                    body,
                    &change.at,
                    &None::<String>,
                ],
            )?;
        }
    }
    Ok(())
}

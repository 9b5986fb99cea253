//! Webhook endpoints, the outbox of events to announce, deliveries and attempts
//! (migration 0007). Tenant-scoped like every other table: a foreign id is a
//! missing one.

use sqlx::AnyExecutor;

use super::{Backend, Db, Tx};

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
/// endpoint, so that games without webhooks pay one index probe.
pub const INSERT_EVENT_SQL: &str =
    "insert into webhook_events (id, client_id, type, body, only_endpoint, created_at)
     select $1, $2, $3, $4, $6, $5
     where exists (select 1 from webhook_endpoints
                   where client_id = $2 and is_active = 1 and is_deleted = 0)";

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
    sqlx::query(INSERT_EVENT_SQL)
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

/// An event waiting in the outbox to be fanned out.
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

/// Whether the deliverer has anything to do: events to fan out or deliveries due.
/// A read, so that an idle deliverer never takes the write lock (SQLite).
pub async fn has_work(db: &Db, now: i64) -> Result<bool, sqlx::Error> {
    let work: i64 = sqlx::query_scalar(
        "select case when exists (select 1 from webhook_events where fanned_out = 0)
                       or exists (select 1 from webhook_deliveries
                                  where status = 'PENDING' and next_attempt_at <= $1
                                    and locked_until <= $1)
                     then 1 else 0 end",
    )
    .bind(now)
    .fetch_one(db.reader())
    .await?;
    Ok(work == 1)
}

/// Takes up to `limit` events not yet fanned out, locking them (PostgreSQL: rows
/// another server holds are skipped).
pub async fn take_unfanned(
    tx: &mut Tx,
    backend: Backend,
    limit: i64,
) -> Result<Vec<OutboxEvent>, sqlx::Error> {
    let lock = match backend {
        Backend::Postgres => " for update skip locked",
        Backend::Sqlite => "",
    };
    sqlx::query_as(&format!(
        "select id, client_id, type, only_endpoint, created_at from webhook_events
         where fanned_out = 0 order by seq limit $1{lock}"
    ))
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// Creates the deliveries of an event and marks it fanned out; returns their ids.
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
    sqlx::query("update webhook_events set fanned_out = 1 where id = $1")
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

/// Leases up to `limit` due deliveries of active endpoints until `lease_until`.
pub async fn lease_due(
    db: &Db,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<DueDelivery>, sqlx::Error> {
    let lock = match db.backend() {
        Backend::Postgres => " for update of d skip locked",
        Backend::Sqlite => "",
    };
    let mut tx = db.begin().await?;
    let due: Vec<DueDelivery> = sqlx::query_as(&format!(
        "select d.id, d.attempts, d.endpoint_id, d.event_id, e.body
         from webhook_deliveries d
         join webhook_events e on e.id = d.event_id
         join webhook_endpoints p on p.id = d.endpoint_id
         where d.status = 'PENDING' and d.next_attempt_at <= $1 and d.locked_until <= $1
           and p.is_active = 1
         order by d.next_attempt_at limit $2{lock}"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for delivery in &due {
        sqlx::query("update webhook_deliveries set locked_until = $2 where id = $1")
            .bind(&delivery.id)
            .bind(lease_until)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(due)
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

/// Records an attempt and the delivery's new state (`next_attempt_at` null when it
/// is no longer PENDING); releases the lease.
pub async fn record_attempt(
    tx: &mut Tx,
    delivery_id: &str,
    attempt: &Attempt,
    status: &str,
    next_attempt_at: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into webhook_attempts (delivery_id, at, status_code, error, duration_ms)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(delivery_id)
    .bind(attempt.at)
    .bind(attempt.status_code)
    .bind(&attempt.error)
    .bind(attempt.duration_ms)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "update webhook_deliveries
         set status = $2, attempts = attempts + 1, next_attempt_at = $3, locked_until = 0,
             updated_at = $4
         where id = $1",
    )
    .bind(delivery_id)
    .bind(status)
    .bind(next_attempt_at)
    .bind(attempt.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets or clears an endpoint's failure clock, or disables it.
pub async fn set_endpoint_health(
    tx: &mut Tx,
    endpoint_id: &str,
    failing_since: Option<i64>,
    is_active: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update webhook_endpoints set failing_since = $2, is_active = $3, updated_at = $4
         where id = $1",
    )
    .bind(endpoint_id)
    .bind(failing_since)
    .bind(i64::from(is_active))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
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
pub async fn list_deliveries(
    db: &Db,
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
    .fetch_all(db.reader())
    .await
}

/// The attempts of a delivery, oldest first.
pub async fn list_attempts(db: &Db, delivery_id: &str) -> Result<Vec<Attempt>, sqlx::Error> {
    let rows: Vec<(i64, Option<i64>, Option<String>, i64)> = sqlx::query_as(
        "select at, status_code, error, duration_ms from webhook_attempts
         where delivery_id = $1 order by seq",
    )
    .bind(delivery_id)
    .fetch_all(db.reader())
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

/// Queue depth (PENDING deliveries and events not fanned out yet) and the time of
/// the oldest of them (nanoseconds), for metrics.
pub async fn queue_state(db: &Db) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "select (select count(*) from webhook_deliveries where status = 'PENDING')
              + (select count(*) from webhook_events where fanned_out = 0),
                (select min(t) from (
                    select min(created_at) as t from webhook_deliveries where status = 'PENDING'
                    union all
                    select min(created_at) from webhook_events where fanned_out = 0) oldest)",
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

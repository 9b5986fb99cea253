//! Outbound webhooks (CONTRACT Part 2, "Webhooks"): endpoints a game registers,
//! events written to an outbox in the transaction of the change they announce
//! ([`announce`]), and a background deliverer (`deliver`) that fans events out to
//! the endpoints subscribed when they occurred and POSTs them, signed the Standard
//! Webhooks way, at least once, with retries.

pub mod deliver;
pub mod signing;
pub mod target;

use std::time::Duration;

use serde_json::json;

use super::cursor::Cursors;
use super::time::rfc3339;
use super::{Error, Result};
use crate::storage::webhooks::{self as store, Attempt, DeliveryRow, EndpointRow};
use crate::storage::{self, Db, Tx};
pub use target::TargetPolicy;

/// Most endpoints per client, disabled ones included.
pub const ENDPOINTS_MAX: i64 = 20;

/// How long a rotated-out secret keeps signing.
const ROTATION_OVERLAP_NANOS: i64 = 24 * 3600 * 1_000_000_000;

/// The event types of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// A claim was rewarded.
    RewardGranted,
    /// A new gamer got a welcome bonus.
    WelcomeBonusGranted,
    /// A withdrawal was requested.
    WithdrawalRequested,
    /// A withdrawal settled.
    WithdrawalCompleted,
    /// A withdrawal failed (its buckets were refunded).
    WithdrawalFailed,
    /// A phone was linked.
    PhoneLinked,
    /// An operator posted an adjustment.
    AdjustmentPosted,
    /// An endpoint was disabled.
    EndpointDisabled,
    /// `POST …/test`.
    Test,
}

impl EventType {
    /// Every type, as subscribable.
    pub const ALL: [EventType; 9] = [
        EventType::RewardGranted,
        EventType::WelcomeBonusGranted,
        EventType::WithdrawalRequested,
        EventType::WithdrawalCompleted,
        EventType::WithdrawalFailed,
        EventType::PhoneLinked,
        EventType::AdjustmentPosted,
        EventType::EndpointDisabled,
        EventType::Test,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RewardGranted => "reward.granted",
            EventType::WelcomeBonusGranted => "welcome_bonus.granted",
            EventType::WithdrawalRequested => "withdrawal.requested",
            EventType::WithdrawalCompleted => "withdrawal.completed",
            EventType::WithdrawalFailed => "withdrawal.failed",
            EventType::PhoneLinked => "phone.linked",
            EventType::AdjustmentPosted => "adjustment.posted",
            EventType::EndpointDisabled => "webhook.endpoint_disabled",
            EventType::Test => "webhook.test",
        }
    }

    fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The operator's webhook settings.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Which URLs are allowed.
    pub policy: TargetPolicy,
    /// How long an attempt may take.
    pub timeout: Duration,
    /// Waits after each failed attempt.
    pub schedule: Vec<Duration>,
    /// Disable an endpoint failing this long.
    pub disable_after: Duration,
}

impl WebhookSettings {
    /// From the server's configuration: parsed once, when the server starts
    /// (`AppState::new`), so that a bad retry schedule stops it there.
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<WebhookSettings> {
        let schedule = config
            .webhook_retry_schedule
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                    anyhow::anyhow!(
                        "KGEN_WEBHOOK_RETRY_SCHEDULE must be comma-separated whole seconds \
                         (like 5,300,1800); {part:.32?} is not"
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(WebhookSettings {
            policy: TargetPolicy {
                allow_http: config.webhook_allow_http,
                allow_private: config.webhook_allow_private,
            },
            timeout: Duration::from_secs(config.webhook_timeout_seconds),
            schedule,
            disable_after: Duration::from_secs(config.webhook_disable_after_hours * 3600),
        })
    }
}

/// What a register or replace asks for, validated by [`EndpointInput::check`].
#[derive(Clone, Debug)]
pub struct EndpointInput {
    /// Target URL.
    pub url: String,
    /// Subscribed types, or `["*"]`.
    pub event_types: Vec<String>,
    /// Free text (at most 500 characters).
    pub description: String,
    /// Whether it receives deliveries.
    pub is_active: bool,
}

impl EndpointInput {
    async fn check(&self, policy: TargetPolicy) -> Result<()> {
        if self.event_types.is_empty() {
            return Err(bad("eventTypes must list at least one type, or be [\"*\"]"));
        }
        let star = self.event_types.iter().any(|t| t == "*");
        if star && self.event_types.len() > 1 {
            return Err(bad("\"*\" stands alone in eventTypes"));
        }
        let mut seen = std::collections::HashSet::new();
        for name in &self.event_types {
            if name != "*" && EventType::parse(name).is_none() {
                return Err(bad(&format!(
                    "unknown event type in eventTypes: {name:.64}"
                )));
            }
            if !seen.insert(name) {
                return Err(bad("eventTypes must be distinct"));
            }
        }
        super::text::check_text(
            "description",
            &self.description,
            500,
            super::text::TextKind::Prose,
        )?;
        target::resolve(&self.url, policy).await?;
        Ok(())
    }

    fn types_json(&self) -> String {
        serde_json::to_string(&self.event_types).unwrap_or_else(|_| "[]".to_owned())
    }
}

fn bad(message: &str) -> Error {
    Error::BadRequest(message.to_owned())
}

/// Whether an endpoint subscribes to `event_type`.
pub fn subscribes(endpoint: &EndpointRow, event_type: &str) -> bool {
    let types: Vec<String> = serde_json::from_str(&endpoint.event_types).unwrap_or_default();
    types
        .iter()
        .any(|t| t == "*" && event_type != EventType::Test.as_str() || t == event_type)
}

/// An endpoint as the API shows it: its subscribed types parsed, `is_active` a
/// `bool`, and its current secret (answered only on registration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `webhookID`.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Subscribed types (or `["*"]`).
    pub event_types: Vec<String>,
    /// Free text.
    pub description: String,
    /// Whether it gets deliveries.
    pub is_active: bool,
    /// The current `whsec_…` secret.
    pub secret: String,
    /// Nanoseconds.
    pub created_at: i64,
    /// Nanoseconds.
    pub updated_at: i64,
}

impl From<EndpointRow> for Endpoint {
    fn from(row: EndpointRow) -> Endpoint {
        Endpoint {
            id: row.id,
            url: row.url,
            // Written by `EndpointInput::types_json` only: always a list of strings.
            event_types: serde_json::from_str(&row.event_types).unwrap_or_default(),
            description: row.description,
            is_active: row.is_active != 0,
            secret: row.secret,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Registers an endpoint; returns it with its secret.
pub async fn register(
    db: &Db,
    policy: TargetPolicy,
    client_id: &str,
    input: EndpointInput,
) -> Result<Endpoint> {
    input.check(policy).await?;
    let now = storage::now_nanos();
    let row = EndpointRow {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: client_id.to_owned(),
        url: input.url.clone(),
        event_types: input.types_json(),
        description: input.description.clone(),
        is_active: 1,
        secret: signing::new_secret(),
        previous_secret: None,
        previous_until: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = db.begin().await?;
    if store::lock_and_count(&mut tx, client_id).await? >= ENDPOINTS_MAX {
        return Err(Error::LimitReached);
    }
    store::insert_endpoint(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(row.into())
}

/// The client's endpoints.
pub async fn list(db: &Db, client_id: &str) -> Result<Vec<Endpoint>> {
    let rows = store::list_endpoints(db.reader(), client_id).await?;
    Ok(rows.into_iter().map(Endpoint::from).collect())
}

/// One endpoint.
pub async fn get(db: &Db, client_id: &str, id: &str) -> Result<Endpoint> {
    Ok(find_row(db, client_id, id).await?.into())
}

/// One endpoint's stored row.
async fn find_row(db: &Db, client_id: &str, id: &str) -> Result<EndpointRow> {
    store::find_endpoint(db.reader(), client_id, id)
        .await?
        .ok_or(Error::NotFound)
}

/// Replaces an endpoint's settings (not its secret).
pub async fn replace(
    db: &Db,
    policy: TargetPolicy,
    client_id: &str,
    id: &str,
    input: EndpointInput,
) -> Result<Endpoint> {
    let current = find_row(db, client_id, id).await?;
    input.check(policy).await?;
    let row = EndpointRow {
        url: input.url.clone(),
        event_types: input.types_json(),
        description: input.description.clone(),
        is_active: i64::from(input.is_active),
        updated_at: storage::now_nanos(),
        ..current
    };
    if !store::replace_endpoint(db.writer(), client_id, &row).await? {
        return Err(Error::NotFound);
    }
    get(db, client_id, id).await
}

/// Deletes an endpoint.
pub async fn delete(db: &Db, client_id: &str, id: &str) -> Result<()> {
    if store::delete_endpoint(db.writer(), client_id, id, storage::now_nanos()).await? {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// Rotates the secret: the new one signs at once, the previous one alongside for
/// 24 h; the one before that stops.
pub async fn rotate_secret(db: &Db, client_id: &str, id: &str) -> Result<String> {
    let current = find_row(db, client_id, id).await?;
    let now = storage::now_nanos();
    let row = EndpointRow {
        secret: signing::new_secret(),
        previous_secret: Some(current.secret.clone()),
        previous_until: Some(now + ROTATION_OVERLAP_NANOS),
        updated_at: now,
        ..current
    };
    store::set_secrets(db.writer(), &row).await?;
    Ok(row.secret)
}

/// The secrets that sign now: the current one, and the previous one while its
/// overlap lasts.
pub fn signing_secrets(endpoint: &EndpointRow, now: i64) -> Vec<&str> {
    let mut secrets = vec![endpoint.secret.as_str()];
    if let (Some(previous), Some(until)) = (&endpoint.previous_secret, endpoint.previous_until) {
        if now < until {
            secrets.push(previous);
        }
    }
    secrets
}

/// Queues a `webhook.test` event for this endpoint only; returns its delivery's
/// event id (the delivery is created by the deliverer's next fan-out).
pub async fn send_test(db: &Db, client_id: &str, id: &str) -> Result<String> {
    let endpoint = get(db, client_id, id).await?;
    let now = storage::now_nanos();
    let event_id = new_event_id();
    let mut tx = db.begin().await?;
    let body = body(EventType::Test, now, json!({}));
    store::insert_event(
        &mut tx,
        &event_id,
        client_id,
        EventType::Test.as_str(),
        &body,
        now,
        Some(&endpoint.id),
    )
    .await?;
    // Fan out at once, so that the answer can name the delivery.
    let event = store::OutboxEvent {
        id: event_id.clone(),
        client_id: client_id.to_owned(),
        event_type: EventType::Test.as_str().to_owned(),
        only_endpoint: Some(endpoint.id.clone()),
        created_at: now,
    };
    let delivery_id =
        store::fan_out(&mut tx, &event, std::slice::from_ref(&endpoint.id), now).await?;
    tx.commit().await?;
    Ok(delivery_id.into_iter().next().unwrap_or_default())
}

/// A delivery with its attempts, as listed.
#[derive(Clone, Debug)]
pub struct DeliveryView {
    /// The delivery.
    pub delivery: DeliveryRow,
    /// Its attempts, oldest first.
    pub attempts: Vec<Attempt>,
}

/// One page of an endpoint's deliveries, newest first.
pub async fn list_deliveries(
    db: &Db,
    cursors: &Cursors,
    client_id: &str,
    id: &str,
    status: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<DeliveryView>, String)> {
    let endpoint = get(db, client_id, id).await?;
    if let Some(status) = status {
        if !matches!(status, "PENDING" | "SUCCEEDED" | "FAILED") {
            return Err(bad("status must be PENDING, SUCCEEDED or FAILED"));
        }
    }
    let scope = format!(
        "deliveries|{client_id}|{}|{}",
        endpoint.id,
        status.unwrap_or("")
    );
    let before = cursors.start(&scope, cursor)?;
    // One snapshot: a delivery's state and its attempts agree even while the
    // deliverer records a new attempt.
    let mut tx = db.begin_snapshot().await?;
    let rows = store::list_deliveries(&mut *tx, &endpoint.id, status, before, limit + 1).await?;
    let (rows, next) = cursors.finish_page(&scope, rows, limit, |row| row.seq);
    let mut views = Vec::with_capacity(rows.len());
    for delivery in rows {
        let attempts = store::list_attempts(&mut *tx, &delivery.id).await?;
        views.push(DeliveryView { delivery, attempts });
    }
    tx.commit().await?;
    Ok((views, next))
}

/// A new event id (`webhook-id`).
pub fn new_event_id() -> String {
    format!("evt_{}", super::ids::new_id().simple())
}

/// The delivered body: `{"type", "timestamp", "data"}`.
pub fn body(event_type: EventType, now: i64, data: serde_json::Value) -> String {
    json!({"type": event_type.as_str(), "timestamp": rfc3339(now), "data": data}).to_string()
}

/// Writes an event to the outbox in the transaction of the change it announces
/// (nothing when the client has no active endpoint). Its only error is the
/// database's: the transaction is lost with it.
pub async fn announce(
    tx: &mut Tx,
    client_id: &str,
    event_type: EventType,
    data: serde_json::Value,
    now: i64,
) -> std::result::Result<(), sqlx::Error> {
    let body = body(event_type, now, data);
    let id = new_event_id();
    store::insert_event(tx, &id, client_id, event_type.as_str(), &body, now, None).await
}

/// An event for the outbox that the statement of its change writes (the claims
/// of `storage::pg::claims`): the same id and body as [`announce`] writes.
pub fn new_event(event_type: EventType, data: serde_json::Value, now: i64) -> store::NewEvent {
    store::NewEvent {
        id: new_event_id(),
        event_type: event_type.as_str(),
        body: body(event_type, now, data),
    }
}

/// [`announce`] on the SQLite group-commit writer's connection. The event's data
/// is built (`data`) only when the client has an active endpoint: a game without
/// webhooks pays one index probe, not the JSON of every claim's event.
pub fn announce_on_writer(
    conn: &rusqlite::Connection,
    client_id: &str,
    event_type: EventType,
    data: impl FnOnce() -> serde_json::Value,
    now: i64,
) -> Result<()> {
    let listening = crate::storage::lite::query_row(
        conn,
        store::ANY_ACTIVE_ENDPOINT_SQL,
        &[&client_id],
        |row| row.get::<_, i64>(0),
    )?;
    if listening != Some(1) {
        return Ok(());
    }
    let body = body(event_type, now, data());
    crate::storage::lite::execute(
        conn,
        store::INSERT_PROBED_EVENT_SQL,
        &[
            &new_event_id(),
            &client_id,
            &event_type.as_str(),
            &body,
            &now,
            &None::<String>,
        ],
    )?;
    Ok(())
}

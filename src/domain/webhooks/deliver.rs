//! The deliverer: a background task of every server. Each pass it fans new outbox
//! events out to the endpoints subscribed to them, leases the deliveries that are
//! due (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two servers never take the same
//! one; a lease outlives any attempt), and attempts each in a task of its own, at
//! most [`PER_ENDPOINT`] at once per endpoint, so a slow or dead endpoint delays
//! nobody else. No HTTP call is made while a database transaction is open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng as _;
use tokio::sync::{watch, Semaphore};

use super::{signing, subscribes, target, EventType, WebhookSettings};
use crate::metrics::{Metrics, OutcomeLabels};
use crate::storage::webhooks::{self as store, Attempt, DueDelivery, EndpointRow};
use crate::storage::{self, Db};

/// Attempts in flight at once per endpoint.
pub const PER_ENDPOINT: usize = 4;

/// Deliveries leased per pass.
const LEASE_BATCH: i64 = 64;

/// Events fanned out per pass.
const FAN_OUT_BATCH: i64 = 256;

/// How long between passes when there is nothing to do.
const IDLE_PAUSE: Duration = Duration::from_millis(200);

/// Events are kept this long.
const RETENTION_NANOS: i64 = 30 * 86_400 * 1_000_000_000;

/// The longest wait a `Retry-After` may ask for.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);

/// What the deliverer shares with its attempt tasks.
#[derive(Clone)]
pub struct Deliverer {
    db: Db,
    settings: Arc<WebhookSettings>,
    metrics: Arc<Metrics>,
    lanes: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Deliverer {
    /// A deliverer of `db`'s webhooks.
    pub fn new(db: Db, settings: Arc<WebhookSettings>, metrics: Arc<Metrics>) -> Deliverer {
        Deliverer {
            db,
            settings,
            metrics,
            lanes: Arc::default(),
        }
    }

    /// Runs passes until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut last_prune = Instant::now();
        let mut last_gauges = Instant::now() - Duration::from_secs(60);
        loop {
            if last_gauges.elapsed() > Duration::from_secs(2) {
                last_gauges = Instant::now();
                self.update_gauges().await;
            }
            let busy = match self.pass().await {
                Ok(busy) => busy,
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery pass failed");
                    false
                }
            };
            if last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = Instant::now();
                let before = storage::now_nanos() - RETENTION_NANOS;
                if let Err(error) = store::prune(&self.db, before).await {
                    tracing::warn!(%error, "pruning old webhook events failed");
                }
            }
            if *stop.borrow() {
                return;
            }
            if !busy {
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(IDLE_PAUSE) => {}
                }
            }
        }
    }

    async fn update_gauges(&self) {
        match store::queue_state(&self.db).await {
            Ok((depth, oldest)) => {
                self.metrics.webhook_queue_depth.set(depth);
                let age = oldest.map_or(0, |at| (storage::now_nanos() - at) / 1_000_000_000);
                self.metrics.webhook_oldest_pending_seconds.set(age.max(0));
            }
            Err(error) => tracing::debug!(%error, "webhook queue state unavailable"),
        }
    }

    /// One pass; true when it found work (the next pass follows at once).
    async fn pass(&self) -> anyhow::Result<bool> {
        if !store::has_work(&self.db, storage::now_nanos()).await? {
            return Ok(false);
        }
        let fanned = self.fan_out().await?;
        let now = storage::now_nanos();
        // Longer than an attempt can take (its lookup, the request, the record);
        // a server killed mid-attempt holds its leases this long.
        let lease = self.settings.timeout * 2 + Duration::from_secs(10);
        let lease_until = now + i64::try_from(lease.as_nanos()).unwrap_or(i64::MAX);
        let due = store::lease_due(&self.db, now, lease_until, LEASE_BATCH).await?;
        let found = fanned > 0 || !due.is_empty();
        for delivery in due {
            let semaphore = self.endpoint_lane(&delivery.endpoint_id);
            let deliverer = self.clone();
            tokio::spawn(async move {
                let Ok(_permit) = semaphore.acquire_owned().await else {
                    return;
                };
                if let Err(error) = deliverer.attempt(&delivery).await {
                    tracing::warn!(%error, delivery = %delivery.id, "recording a webhook attempt failed");
                }
            });
        }
        Ok(found)
    }

    fn endpoint_lane(&self, endpoint_id: &str) -> Arc<Semaphore> {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            lanes
                .entry(endpoint_id.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(PER_ENDPOINT))),
        )
    }

    /// Creates the deliveries of new outbox events: one per endpoint of the client
    /// that is active and subscribed now.
    async fn fan_out(&self) -> anyhow::Result<usize> {
        let mut tx = self.db.begin().await?;
        let events = store::take_unfanned(&mut tx, self.db.backend(), FAN_OUT_BATCH).await?;
        let mut endpoints: HashMap<String, Vec<EndpointRow>> = HashMap::new();
        let now = storage::now_nanos();
        for event in &events {
            if !endpoints.contains_key(&event.client_id) {
                let list = store::list_endpoints(&mut *tx, &event.client_id).await?;
                endpoints.insert(event.client_id.clone(), list);
            }
            let targets: Vec<String> = endpoints[&event.client_id]
                .iter()
                .filter(|e| e.is_active == 1 && e.created_at <= event.created_at)
                .filter(|e| match &event.only_endpoint {
                    Some(only) => &e.id == only,
                    None => subscribes(e, &event.event_type),
                })
                .map(|e| e.id.clone())
                .collect();
            store::fan_out(&mut tx, event, &targets, now).await?;
        }
        tx.commit().await?;
        Ok(events.len())
    }

    /// Makes one attempt of a delivery and records it (also a retry asked for
    /// through the API, whatever the delivery's status: its outcome sets it).
    pub async fn attempt(&self, delivery: &DueDelivery) -> anyhow::Result<()> {
        let Some(endpoint) = store::endpoint_by_id(self.db.reader(), &delivery.endpoint_id).await?
        else {
            return Ok(());
        };
        let started = Instant::now();
        let at = storage::now_nanos();
        let outcome = post(&self.settings, &endpoint, delivery, at).await;
        let attempt = Attempt {
            at,
            status_code: outcome.status.map(i64::from),
            error: outcome.error.clone(),
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        self.record(&endpoint, delivery, &attempt, &outcome).await
    }

    async fn record(
        &self,
        endpoint: &EndpointRow,
        delivery: &DueDelivery,
        attempt: &Attempt,
        outcome: &Outcome,
    ) -> anyhow::Result<()> {
        let made = delivery.attempts + 1;
        let spent = usize::try_from(made).unwrap_or(usize::MAX) > self.settings.schedule.len();
        let gone = outcome.status == Some(410);
        let (status, next) = if outcome.succeeded() {
            ("SUCCEEDED", None)
        } else if gone || spent {
            ("FAILED", None)
        } else {
            let index = usize::try_from(delivery.attempts)
                .unwrap_or(0)
                .min(self.settings.schedule.len().saturating_sub(1));
            let wait = jittered(
                self.settings
                    .schedule
                    .get(index)
                    .copied()
                    .unwrap_or_default(),
            );
            let wait = outcome
                .retry_after
                .map_or(wait, |asked| asked.min(RETRY_AFTER_MAX).max(wait));
            (
                "PENDING",
                Some(attempt.at + i64::try_from(wait.as_nanos()).unwrap_or(i64::MAX)),
            )
        };
        let disabled_reason = if gone {
            Some("the endpoint answered 410 Gone".to_owned())
        } else if !outcome.succeeded() {
            endpoint.failing_since.and_then(|since| {
                let limit =
                    i64::try_from(self.settings.disable_after.as_nanos()).unwrap_or(i64::MAX);
                (attempt.at - since >= limit).then(|| {
                    format!(
                        "no 2xx for {} hours",
                        self.settings.disable_after.as_secs() / 3600
                    )
                })
            })
        } else {
            None
        };
        let outcome_label = match status {
            "SUCCEEDED" => "succeeded",
            "FAILED" => "failed",
            _ => "retrying",
        };
        self.metrics
            .webhook_attempts
            .get_or_create(&OutcomeLabels {
                outcome: outcome_label,
            })
            .inc();
        let mut tx = self.db.begin().await?;
        store::record_attempt(&mut tx, &delivery.id, attempt, status, next).await?;
        let failing_since = if outcome.succeeded() {
            None
        } else {
            Some(endpoint.failing_since.unwrap_or(attempt.at))
        };
        let active = endpoint.is_active == 1 && disabled_reason.is_none();
        store::set_endpoint_health(&mut tx, &endpoint.id, failing_since, active, attempt.at)
            .await?;
        if let (Some(reason), true) = (&disabled_reason, endpoint.is_active == 1) {
            tracing::warn!(endpoint = %endpoint.id, %reason, "webhook endpoint disabled");
            let data = serde_json::json!({"webhookID": endpoint.id, "reason": reason});
            super::announce(
                &mut tx,
                &endpoint.client_id,
                EventType::EndpointDisabled,
                data,
                attempt.at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// What an attempt came to.
#[derive(Debug, Default)]
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    retry_after: Option<Duration>,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            error: Some(error.into()),
            ..Outcome::default()
        }
    }
}

/// POSTs a delivery, checking its target again first and connecting only to the
/// addresses checked.
async fn post(
    settings: &WebhookSettings,
    endpoint: &EndpointRow,
    delivery: &DueDelivery,
    now: i64,
) -> Outcome {
    let (url, addresses) = match target::resolve(&endpoint.url, settings.policy).await {
        Ok(resolved) => resolved,
        Err(error) => return Outcome::failed(format!("target refused: {error}")),
    };
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout);
    if let Some(url::Host::Domain(name)) = url.host() {
        builder = builder.resolve_to_addrs(name, &addresses);
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(error) => return Outcome::failed(format!("client: {error}")),
    };
    let timestamp = now.div_euclid(1_000_000_000);
    let secrets = super::signing_secrets(endpoint, now);
    let signature =
        signing::signature_header(&secrets, &delivery.event_id, timestamp, &delivery.body);
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("kgen-loyalty/", env!("CARGO_PKG_VERSION")),
        )
        .header("webhook-id", &delivery.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.body.clone())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Outcome {
                status: Some(status),
                error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
                retry_after,
            }
        }
        Err(error) if error.is_timeout() => Outcome::failed("timed out"),
        Err(error) => Outcome::failed(format!("request failed: {}", describe(error))),
    }
}

/// A request error with its causes ("error sending request: … Connection
/// refused"), without the URL.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `wait` ± 10 %.
fn jittered(wait: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.9..=1.1);
    wait.mul_f64(factor)
}

//! The deliverer: a background task of every server. Each pass it leases events
//! from the outbox's queue and the deliveries that are due (PostgreSQL: `FOR
//! UPDATE SKIP LOCKED`, so two servers never take the same one; a lease outlives
//! any attempt), each in one transaction for the whole batch. An event for one
//! endpoint with room in flight is attempted straight from the queue, and its
//! delivery written once, in the state that attempt left it in, in the
//! transaction that takes the event off the queue; other events get PENDING
//! deliveries first. Each attempt runs in a task of its own, at most
//! [`PER_ENDPOINT`] at once per endpoint, so a slow or dead endpoint delays nobody
//! else; a recorder task writes the outcomes of the attempts finished meanwhile in
//! one transaction. A server that dies between an attempt and its record loses
//! nothing: the lease runs out and the event or delivery is attempted again, with
//! the same `webhook-id`. On SQLite those transactions are jobs of the
//! group-commit writer: they share the claims' commits. No HTTP call is made while
//! a database transaction is open.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng as _;
use tokio::sync::{mpsc, watch, Semaphore};

use super::{signing, subscribes, target, EventType, WebhookSettings};
use crate::metrics::{Metrics, OutcomeLabels};
use crate::storage::webhooks::{
    self as store, Attempt, DueDelivery, EndpointRow, Health, HealthChange, NewDelivery, Queued,
    Recorded,
};
use crate::storage::{self, lock, Db};

/// Attempts in flight at once per endpoint.
pub const PER_ENDPOINT: usize = 4;

/// Deliveries of one endpoint leased and not recorded yet, beyond which the
/// deliverer leases no more of them (they wait for their lane). Deep enough that
/// a steady stream of claims to one endpoint stays on the direct path (one
/// delivery row, written once): with 256, an endpoint taking ~5 000 events/s
/// through its lanes overflowed it between two fan-outs, and the overflow took
/// the PENDING path (insert, lease, update: three writes per delivery).
const PER_ENDPOINT_BACKLOG: usize = 1024;

/// Deliveries leased and not recorded yet, at most, over all endpoints.
const IN_FLIGHT_MAX: usize = 2048;

/// Deliveries leased per pass at most.
const LEASE_BATCH: usize = 256;

/// Events fanned out per pass at most.
const FAN_OUT_BATCH: i64 = 512;

/// Between passes that found work but not a full batch: lets the next batch grow.
const BUSY_PAUSE: Duration = Duration::from_millis(20);

/// Between passes when there is nothing to do.
const IDLE_PAUSE: Duration = Duration::from_millis(200);

/// How long the recorder waits after an outcome for more to record with it.
const RECORD_LINGER: Duration = Duration::from_millis(20);

/// Outcomes recorded in one transaction at most.
const RECORD_BATCH: usize = 512;

/// How long a stopping deliverer waits for the outcomes of attempts in flight.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// HTTP clients kept (one per target host and addresses) before they are dropped.
const CLIENTS_MAX: usize = 1024;

/// Response body bytes read (so that the connection can be reused) at most.
const RESPONSE_READ_MAX: usize = 64 * 1024;

/// Events are kept this long.
const RETENTION_NANOS: i64 = 30 * 86_400 * 1_000_000_000;

/// The longest wait a `Retry-After` may ask for.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);

/// Which HTTP client serves a target: its host name (when not an address) and
/// the checked addresses it may connect to.
type ClientKey = (Option<String>, Vec<SocketAddr>);

/// What the deliverer shares with its attempt tasks (and the API's retries).
#[derive(Clone)]
pub struct Deliverer {
    db: Db,
    settings: Arc<WebhookSettings>,
    metrics: Arc<Metrics>,
    lanes: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// Leased, not recorded yet, by endpoint.
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
    /// Keep-alive clients: an attempt reuses the connection of the previous one.
    clients: Arc<Mutex<HashMap<ClientKey, reqwest::Client>>>,
    /// Targets checked lately (see [`target::Resolved`]).
    resolved: Arc<Mutex<target::Resolved>>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// How soon the next pass should follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pace {
    /// A full batch: more is waiting.
    AtOnce,
    /// Some work: let the next batch grow a little.
    Soon,
    /// Nothing to do.
    Idle,
}

impl Deliverer {
    /// A deliverer of `db`'s webhooks.
    pub fn new(db: Db, settings: Arc<WebhookSettings>, metrics: Arc<Metrics>) -> Deliverer {
        Deliverer {
            db,
            settings,
            metrics,
            lanes: Arc::default(),
            in_flight: Arc::default(),
            clients: Arc::default(),
            resolved: Arc::default(),
        }
    }

    /// The settings it delivers with.
    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Runs passes until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let (results, outcomes) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(self.clone().record_loop(outcomes));
        let mut last_prune = Instant::now();
        let mut last_gauges = Instant::now() - Duration::from_secs(60);
        loop {
            if last_gauges.elapsed() > Duration::from_secs(2) {
                last_gauges = Instant::now();
                self.update_gauges().await;
            }
            let pace = match self.pass(&results).await {
                Ok(pace) => pace,
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery pass failed");
                    Pace::Idle
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
                break;
            }
            let pause = match pace {
                Pace::AtOnce => continue,
                Pace::Soon => BUSY_PAUSE,
                Pace::Idle => IDLE_PAUSE,
            };
            tokio::select! {
                _ = stop.changed() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        // Attempts in flight hold the other senders: their outcomes are recorded
        // if they finish soon; the others' leases expire and they are retried.
        drop(results);
        tokio::time::timeout(STOP_GRACE, recorder).await.ok();
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

    /// One pass: a fan-out, then a lease, each of a batch and each only when there
    /// is something to take.
    async fn pass(&self, results: &mpsc::UnboundedSender<Recorded>) -> anyhow::Result<Pace> {
        let now = storage::now_nanos();
        let work = store::work(&self.db, now).await?;
        if work == store::Work::default() {
            return Ok(Pace::Idle);
        }
        // Longer than an attempt can take (its wait for its lane, the request, the
        // record); a server killed mid-attempt holds its leases this long.
        let lease = self.settings.timeout * 2 + Duration::from_secs(10);
        let lease_until = now + i64::try_from(lease.as_nanos()).unwrap_or(i64::MAX);
        let (fanned, waiting) = if work.queued {
            self.fan_out(now, lease_until, results).await?
        } else {
            (0, false)
        };
        let (leased, limit, saturated) = if work.due || waiting {
            self.lease(now, lease_until, results).await?
        } else {
            (0, 0, false)
        };
        let full = fanned == usize::try_from(FAN_OUT_BATCH).unwrap_or(usize::MAX)
            || (leased == LEASE_BATCH && limit == LEASE_BATCH);
        Ok(if full {
            Pace::AtOnce
        } else if fanned > 0 || leased > 0 || saturated {
            Pace::Soon
        } else {
            Pace::Idle
        })
    }

    fn endpoint_lane(&self, endpoint_id: &str) -> Arc<Semaphore> {
        let mut lanes = lock(&self.lanes);
        Arc::clone(
            lanes
                .entry(endpoint_id.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(PER_ENDPOINT))),
        )
    }

    fn in_flight(&self) -> HashMap<String, usize> {
        lock(&self.in_flight).clone()
    }

    /// Forgets deliveries in flight: recorded, or given up.
    fn release<'a>(&self, endpoints: impl IntoIterator<Item = &'a str>) {
        let mut in_flight = lock(&self.in_flight);
        for endpoint in endpoints {
            if let Some(count) = in_flight.get_mut(endpoint) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    in_flight.remove(endpoint);
                }
            }
        }
    }

    /// Starts the attempt of a leased delivery in a task of its own, behind its
    /// endpoint's lane; its outcome goes to the recorder.
    fn start(
        &self,
        delivery: DueDelivery,
        queued: Option<Queued>,
        endpoint: Arc<EndpointRow>,
        results: &mpsc::UnboundedSender<Recorded>,
    ) {
        *lock(&self.in_flight)
            .entry(endpoint.id.clone())
            .or_default() += 1;
        let lane = self.endpoint_lane(&endpoint.id);
        let deliverer = self.clone();
        let results = results.clone();
        tokio::spawn(async move {
            let Ok(_permit) = lane.acquire_owned().await else {
                deliverer.release([endpoint.id.as_str()]);
                return;
            };
            let mut recorded = deliverer.try_once(&endpoint, &delivery).await;
            recorded.queued = queued;
            if results.send(recorded).is_err() {
                deliverer.release([endpoint.id.as_str()]);
            }
        });
    }

    /// Takes queued events and plans their deliveries: one per endpoint of the
    /// client that is active and subscribed now. An event for one endpoint with
    /// room in flight (the common case) is attempted straight from the queue: its
    /// delivery is written once, with the outcome of that attempt. The others get
    /// PENDING deliveries at once, those of endpoints with room leased and started.
    /// Returns how many events it took, and whether it left deliveries due and not
    /// leased (of endpoints with no room).
    async fn fan_out(
        &self,
        now: i64,
        lease_until: i64,
        results: &mpsc::UnboundedSender<Recorded>,
    ) -> anyhow::Result<(usize, bool)> {
        let taken = store::take_events(&self.db, FAN_OUT_BATCH, now, lease_until).await?;
        if taken.events.is_empty() {
            return Ok((0, false));
        }
        let mut counts = self.in_flight();
        let mut total: usize = counts.values().sum();
        let endpoints: HashMap<&str, Arc<EndpointRow>> = taken
            .endpoints
            .values()
            .flatten()
            .map(|e| (e.id.as_str(), Arc::new(e.clone())))
            .collect();
        let mut direct = Vec::new();
        let mut pending = Vec::new();
        let mut done = Vec::new();
        for event in &taken.events {
            let targets: Vec<&EndpointRow> = taken
                .endpoints
                .get(&event.client_id)
                .into_iter()
                .flatten()
                .filter(|e| e.is_active == 1 && e.created_at <= event.created_at)
                .filter(|e| match &event.only_endpoint {
                    Some(only) => &e.id == only,
                    None => subscribes(e, &event.event_type),
                })
                .collect();
            let mut room = |endpoint: &EndpointRow| {
                let count = counts.entry(endpoint.id.clone()).or_default();
                let free = *count < PER_ENDPOINT_BACKLOG && total < IN_FLIGHT_MAX;
                if free {
                    *count += 1;
                    total += 1;
                }
                free
            };
            if let [only] = targets.as_slice() {
                if room(only) {
                    direct.push((event, only.id.as_str()));
                    continue;
                }
            }
            done.push(event.seq);
            for endpoint in targets {
                pending.push(NewDelivery {
                    id: crate::domain::ids::new_id().to_string(),
                    endpoint_id: endpoint.id.clone(),
                    event_id: event.id.clone(),
                    locked_until: if room(endpoint) { lease_until } else { 0 },
                });
            }
        }
        let started: Vec<NewDelivery> = pending
            .iter()
            .filter(|d| d.locked_until != 0)
            .cloned()
            .collect();
        let waiting = started.len() < pending.len();
        store::queue_deliveries(&self.db, now, pending, done).await?;
        let bodies: HashMap<&str, &str> = taken
            .events
            .iter()
            .map(|e| (e.id.as_str(), e.body.as_str()))
            .collect();
        for delivery in started {
            let (Some(endpoint), Some(body)) = (
                endpoints.get(delivery.endpoint_id.as_str()),
                bodies.get(delivery.event_id.as_str()),
            ) else {
                continue;
            };
            let due = DueDelivery {
                id: delivery.id,
                attempts: 0,
                endpoint_id: delivery.endpoint_id,
                event_id: delivery.event_id,
                body: (*body).to_owned(),
            };
            self.start(due, None, Arc::clone(endpoint), results);
        }
        for (event, endpoint_id) in direct {
            let Some(endpoint) = endpoints.get(endpoint_id) else {
                continue;
            };
            let due = DueDelivery {
                id: crate::domain::ids::new_id().to_string(),
                attempts: 0,
                endpoint_id: endpoint_id.to_owned(),
                event_id: event.id.clone(),
                body: event.body.clone(),
            };
            let queued = Queued {
                seq: event.seq,
                event_id: event.id.clone(),
                created_at: now,
            };
            self.start(due, Some(queued), Arc::clone(endpoint), results);
        }
        Ok((taken.events.len(), waiting))
    }

    /// Leases the due deliveries of endpoints with room in flight and starts them.
    /// Returns how many it leased, how many it asked for, and whether some
    /// endpoint (or the whole deliverer) had no room.
    async fn lease(
        &self,
        now: i64,
        lease_until: i64,
        results: &mpsc::UnboundedSender<Recorded>,
    ) -> anyhow::Result<(usize, usize, bool)> {
        let counts = self.in_flight();
        let total: usize = counts.values().sum();
        let skip: Vec<String> = counts
            .into_iter()
            .filter(|(_, count)| *count >= PER_ENDPOINT_BACKLOG)
            .map(|(endpoint, _)| endpoint)
            .collect();
        let limit = IN_FLIGHT_MAX.saturating_sub(total).min(LEASE_BATCH);
        let saturated = !skip.is_empty() || limit < LEASE_BATCH;
        if limit == 0 {
            return Ok((0, 0, true));
        }
        let (due, endpoints) = store::lease_batch(
            &self.db,
            now,
            lease_until,
            i64::try_from(limit).unwrap_or(i64::MAX),
            skip,
        )
        .await?;
        let leased = due.len();
        let endpoints: HashMap<String, Arc<EndpointRow>> = endpoints
            .into_iter()
            .map(|(id, row)| (id, Arc::new(row)))
            .collect();
        for delivery in due {
            // An endpoint gone meanwhile: its lease expires, its delivery waits.
            if let Some(endpoint) = endpoints.get(&delivery.endpoint_id) {
                self.start(delivery, None, Arc::clone(endpoint), results);
            }
        }
        Ok((leased, limit, saturated))
    }

    /// Records outcomes as they come, those finished meanwhile together.
    async fn record_loop(self, mut outcomes: mpsc::UnboundedReceiver<Recorded>) {
        while let Some(first) = outcomes.recv().await {
            let mut batch = vec![first];
            let until = tokio::time::Instant::now() + RECORD_LINGER;
            while batch.len() < RECORD_BATCH {
                match tokio::time::timeout_at(until, outcomes.recv()).await {
                    Ok(Some(recorded)) => batch.push(recorded),
                    Ok(None) | Err(_) => break,
                }
            }
            let endpoints: Vec<String> = batch.iter().map(|r| r.endpoint_id.clone()).collect();
            if let Err(error) = self.record(batch).await {
                tracing::warn!(%error, "recording webhook attempts failed");
            }
            self.release(endpoints.iter().map(String::as_str));
        }
    }

    /// The retry API: attempts one delivery of a client's endpoint now, in the
    /// background (the answer does not wait for the receiver), with the same
    /// `webhook-id`. Its id, or `NotFound` for an unknown, deleted or foreign one.
    pub async fn retry(
        &self,
        client_id: &str,
        endpoint_id: &str,
        delivery_id: &str,
    ) -> crate::domain::Result<String> {
        let delivery = store::find_delivery(&self.db, client_id, endpoint_id, delivery_id)
            .await?
            .ok_or(crate::domain::Error::NotFound)?;
        let deliverer = self.clone();
        let id = delivery.id.clone();
        tokio::spawn(async move {
            if let Err(error) = deliverer.attempt(&delivery).await {
                tracing::warn!(%error, "recording a retried webhook attempt failed");
            }
        });
        Ok(id)
    }

    /// Makes one attempt of a delivery and records it at once (a retry asked for
    /// through the API, whatever the delivery's status: its outcome sets it).
    pub async fn attempt(&self, delivery: &DueDelivery) -> anyhow::Result<()> {
        let Some(endpoint) = store::endpoint_by_id(self.db.reader(), &delivery.endpoint_id).await?
        else {
            return Ok(());
        };
        let recorded = self.try_once(&endpoint, delivery).await;
        self.record(vec![recorded]).await
    }

    /// Makes one attempt; what to record of it.
    async fn try_once(&self, endpoint: &EndpointRow, delivery: &DueDelivery) -> Recorded {
        let started = Instant::now();
        let at = storage::now_nanos();
        let outcome = self.post(endpoint, delivery, at).await;
        let attempt = Attempt {
            at,
            status_code: outcome.status.map(i64::from),
            error: outcome.error.clone(),
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        let (status, next_attempt_at) = self.next_state(delivery, &attempt, &outcome);
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
        Recorded {
            delivery_id: delivery.id.clone(),
            endpoint_id: endpoint.id.clone(),
            attempt,
            status,
            next_attempt_at,
            queued: None,
        }
    }

    /// The delivery's status after an attempt, and when the next is due.
    fn next_state(
        &self,
        delivery: &DueDelivery,
        attempt: &Attempt,
        outcome: &Outcome,
    ) -> (&'static str, Option<i64>) {
        let made = delivery.attempts + 1;
        let spent = usize::try_from(made).unwrap_or(usize::MAX) > self.settings.schedule.len();
        if outcome.succeeded() {
            return ("SUCCEEDED", None);
        }
        if outcome.status == Some(410) || spent {
            return ("FAILED", None);
        }
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
    }

    /// Records attempts, their deliveries' states and their endpoints' health.
    async fn record(&self, batch: Vec<Recorded>) -> anyhow::Result<()> {
        let settings = Arc::clone(&self.settings);
        store::record_batch(&self.db, batch, move |health, attempts| {
            judge_endpoint(&settings, health, attempts)
        })
        .await
    }

    /// The HTTP client for a checked target: kept, so that its connections are
    /// reused; one per host and set of addresses, so that it connects only to the
    /// addresses checked.
    fn client_for(
        &self,
        url: &url::Url,
        addresses: &[SocketAddr],
    ) -> Result<reqwest::Client, String> {
        let host = match url.host() {
            Some(url::Host::Domain(name)) => Some(name.to_owned()),
            _ => None,
        };
        let key = (host, addresses.to_vec());
        let mut clients = lock(&self.clients);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.settings.timeout)
            .connect_timeout(self.settings.timeout);
        if let Some(name) = &key.0 {
            builder = builder.resolve_to_addrs(name, addresses);
        }
        let client = builder
            .build()
            .map_err(|error| format!("client: {error}"))?;
        if clients.len() >= CLIENTS_MAX {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// A target checked by [`target::resolve`] in the last [`target::RESOLVED_FOR`],
    /// or checked now.
    async fn resolve(&self, url: &str) -> crate::domain::Result<(url::Url, Vec<SocketAddr>)> {
        if let Some(kept) = lock(&self.resolved).get(url, Instant::now()) {
            return Ok(kept);
        }
        let checked = target::resolve(url, self.settings.policy).await?;
        lock(&self.resolved).put(url, &checked, Instant::now());
        Ok(checked)
    }

    /// POSTs a delivery, checking its target again first (a check of the last
    /// [`target::RESOLVED_FOR`] counts) and connecting only to the addresses checked.
    async fn post(&self, endpoint: &EndpointRow, delivery: &DueDelivery, now: i64) -> Outcome {
        let (url, addresses) = match self.resolve(&endpoint.url).await {
            Ok(resolved) => resolved,
            Err(error) => return Outcome::failed(format!("target refused: {error}")),
        };
        let client = match self.client_for(&url, &addresses) {
            Ok(client) => client,
            Err(error) => return Outcome::failed(error),
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
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                // Read (a little of) the body, so that the connection can serve the
                // next attempt.
                let mut read = 0;
                while read <= RESPONSE_READ_MAX {
                    match response.chunk().await {
                        Ok(Some(chunk)) => read += chunk.len(),
                        Ok(None) | Err(_) => break,
                    }
                }
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
}

/// What a batch of an endpoint's attempts (oldest first) changes about it: a
/// success clears its failure clock, a failure starts it; a 410, or a failure
/// `disable_after` after the clock started, disables it (once, announced to the
/// client's other endpoints). `None` when nothing changes.
fn judge_endpoint(
    settings: &WebhookSettings,
    stored: &Health,
    attempts: &[&Recorded],
) -> Option<HealthChange> {
    let limit = i64::try_from(settings.disable_after.as_nanos()).unwrap_or(i64::MAX);
    let mut failing_since = stored.failing_since;
    let mut reason = None;
    let mut at = 0;
    for recorded in attempts {
        at = recorded.attempt.at;
        if recorded.attempt.error.is_none() {
            failing_since = None;
            continue;
        }
        if reason.is_none() {
            if recorded.attempt.status_code == Some(410) {
                reason = Some("the endpoint answered 410 Gone".to_owned());
            } else if failing_since.is_some_and(|since| at - since >= limit) {
                reason = Some(format!(
                    "no 2xx for {} hours",
                    settings.disable_after.as_secs() / 3600
                ));
            }
        }
        failing_since = Some(failing_since.unwrap_or(at));
    }
    let disabling = stored.is_active && reason.is_some();
    let is_active = stored.is_active && !disabling;
    if failing_since == stored.failing_since && is_active == stored.is_active {
        return None;
    }
    let event = if disabling {
        let reason = reason.unwrap_or_default();
        let endpoint = attempts.first().map_or("", |r| r.endpoint_id.as_str());
        tracing::warn!(endpoint = %endpoint, %reason, "webhook endpoint disabled");
        let data = serde_json::json!({"webhookID": endpoint, "reason": reason});
        Some((
            super::new_event_id(),
            EventType::EndpointDisabled.as_str(),
            super::body(EventType::EndpointDisabled, at, data),
        ))
    } else {
        None
    };
    Some(HealthChange {
        health: Health {
            client_id: stored.client_id.clone(),
            failing_since,
            is_active,
        },
        at,
        event,
    })
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

//! Prometheus metrics: request counts and latency histograms by method, route and
//! status (each label from a fixed set), and the KCash that moved. Rendered as
//! text at `GET /metrics`.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of one request series. Every value comes from a fixed set, so that no
/// request, however made up its method or path, can add a series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method: one of [`KNOWN_METHODS`], else `other`.
    pub method: &'static str,
    /// Matched route template (`/s2s/loyalty/rewardable-events/{eventID}`), never
    /// the raw path; `other` when no route matched.
    pub route: String,
    /// Status: the exact code when the server answers it on purpose, else the class.
    pub status: &'static str,
}

/// The methods that get a label of their own.
pub const KNOWN_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// The label of a request's method.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    KNOWN_METHODS
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

/// The statuses the server answers on purpose: each has a label of its own.
const EXACT_STATUSES: [&str; 23] = [
    "200", "201", "204", "302", "303", "304", "307", "400", "401", "403", "404", "405", "408",
    "409", "413", "415", "422", "429", "431", "500", "502", "503", "504",
];

/// The label of a response status: the exact code for those the server sends
/// on purpose, the class (`1xx` … `5xx`) for anything else.
pub fn status_label(status: axum::http::StatusCode) -> &'static str {
    if let Some(exact) = EXACT_STATUSES
        .into_iter()
        .find(|code| *code == status.as_str())
    {
        return exact;
    }
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Label of a webhook attempt's outcome: `succeeded`, `retrying` (failed, another
/// attempt is scheduled) or `failed` (the delivery gave up).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// One of the three outcomes.
    pub outcome: &'static str,
}

/// The server's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency, seconds.
    pub latency: Family<RequestLabels, Histogram>,
    /// KCash credited to gamer wallets (welcome bonuses and rewards).
    pub kcash_credited: Counter,
    /// KCash withdrawn to KGeN wallets (settled or pending).
    pub kcash_withdrawn: Counter,
    /// Webhook attempts by outcome.
    pub webhook_attempts: Family<OutcomeLabels, Counter>,
    /// Webhook deliveries still PENDING and events still queued (their first
    /// attempt not recorded yet; all servers), as of the last look.
    pub webhook_queue_depth: Gauge,
    /// Age in seconds of the oldest PENDING webhook delivery (0: none).
    pub webhook_oldest_pending_seconds: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("kgen");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        let kcash_credited = Counter::default();
        let kcash_withdrawn = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "kcash_credited",
            "KCash credited to gamer wallets",
            kcash_credited.clone(),
        );
        registry.register(
            "kcash_withdrawn",
            "KCash withdrawn to KGeN wallets",
            kcash_withdrawn.clone(),
        );
        let webhook_attempts = Family::<OutcomeLabels, Counter>::default();
        let webhook_queue_depth = Gauge::default();
        let webhook_oldest_pending_seconds = Gauge::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts by outcome",
            webhook_attempts.clone(),
        );
        registry.register(
            "webhook_queue_depth",
            "Webhook deliveries waiting (PENDING)",
            webhook_queue_depth.clone(),
        );
        registry.register(
            "webhook_oldest_pending_seconds",
            "Age of the oldest PENDING webhook delivery",
            webhook_oldest_pending_seconds.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            kcash_credited,
            kcash_withdrawn,
            webhook_attempts,
            webhook_queue_depth,
            webhook_oldest_pending_seconds,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .expect("metrics registry lock is never poisoned");
        encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use super::*;

    #[test]
    fn labels_come_from_a_fixed_set() {
        let made_up = Method::from_bytes(b"MADEUPMETHOD").unwrap();

        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(status_label(StatusCode::NOT_FOUND), "404");
        assert_eq!(status_label(StatusCode::IM_A_TEAPOT), "4xx");
        assert_eq!(status_label(StatusCode::from_u16(599).unwrap()), "5xx");
    }
}

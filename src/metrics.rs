//! Prometheus metrics: request counts and latency histograms by route and status,
//! and the KCash that moved. Rendered as text at `GET /metrics`.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of one request series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Matched route template (`/s2s/loyalty/rewardable-events/{eventID}`), never
    /// the raw path, so ids do not explode the series count.
    pub route: String,
    /// Status code.
    pub status: u16,
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
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            kcash_credited,
            kcash_withdrawn,
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

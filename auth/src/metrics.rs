//! Prometheus metrics: decisions by result and reason, key fetches by issuer and
//! result, the verification latency, and token cache hits.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of one decision.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `allowed` or `refused`.
    pub result: &'static str,
    /// Why refused (see `Reason::as_str`), or `ok`.
    pub reason: &'static str,
}

/// Labels of a key fetch.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    /// The issuer URL.
    pub issuer: String,
    /// `ok` or `error`.
    pub result: &'static str,
}

/// Labels of a token cache lookup.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Every metric the verifier exports.
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    fetches: Family<FetchLabels, Counter>,
    cache: Family<CacheLabels, Counter>,
    latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric under the `oam_traefik_auth` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("oam_traefik_auth");
        let decisions = Family::<DecisionLabels, Counter>::default();
        let fetches = Family::<FetchLabels, Counter>::default();
        let cache = Family::<CacheLabels, Counter>::default();
        // 50 µs .. ~1.6 s.
        let latency = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "decisions",
            "Verify requests answered, by result and reason",
            decisions.clone(),
        );
        registry.register(
            "key_fetches",
            "Discovery and JWKS fetches, by issuer and result",
            fetches.clone(),
        );
        registry.register(
            "token_cache_lookups",
            "Verified-token cache lookups, by result",
            cache.clone(),
        );
        registry.register(
            "verify_duration_seconds",
            "Time to decide one verify request",
            latency.clone(),
        );
        Self {
            registry,
            decisions,
            fetches,
            cache,
            latency,
        }
    }

    /// Count one decision and its latency.
    pub fn decision(&self, reason: Option<&'static str>, seconds: f64) {
        let labels = DecisionLabels {
            result: if reason.is_none() {
                "allowed"
            } else {
                "refused"
            },
            reason: reason.unwrap_or("ok"),
        };
        self.decisions.get_or_create(&labels).inc();
        self.latency.observe(seconds);
    }

    /// Count one key fetch.
    pub fn key_fetch(&self, issuer: &str, ok: bool) {
        let labels = FetchLabels {
            issuer: issuer.to_string(),
            result: if ok { "ok" } else { "error" },
        };
        self.fetches.get_or_create(&labels).inc();
    }

    /// Count one token cache lookup.
    pub fn cache_lookup(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&CacheLabels { result }).inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "metrics not encoded");
        }
        out
    }
}

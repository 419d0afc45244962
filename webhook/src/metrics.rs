//! Prometheus metrics: requests by kind, operation and decision; latency; violations
//! by rule id; reloads by result.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of one admission request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `validate` or `mutate`.
    pub webhook: &'static str,
    /// The object's kind, or `unhandled`/`invalid`.
    pub kind: &'static str,
    /// CREATE, UPDATE, DELETE, CONNECT, or empty.
    pub operation: &'static str,
    /// What was decided: allowed, denied, patched, exempt, unhandled, invalid.
    pub decision: &'static str,
}

/// Labels of the latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// `validate` or `mutate`.
    pub webhook: &'static str,
}

/// Labels of a rule that fired.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    /// The rule id (`OT001`).
    pub rule: &'static str,
    /// `deny` or `warn`.
    pub level: &'static str,
}

/// Labels of a reload.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `policy` or `certificate`.
    pub file: &'static str,
    /// `applied` or `refused`.
    pub result: &'static str,
}

/// Every metric the webhook exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<WebhookLabels, Histogram, fn() -> Histogram>,
    violations: Family<RuleLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric under the `oam_traefik_webhook` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("oam_traefik_webhook");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Family<WebhookLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let violations = Family::<RuleLabels, Counter>::default();
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission reviews answered, by webhook, kind, operation and decision",
            requests.clone(),
        );
        registry.register(
            "admission_duration_seconds",
            "Time from request body read to response, by webhook",
            latency.clone(),
        );
        registry.register(
            "violations",
            "Rules that fired, by rule id and level",
            violations.clone(),
        );
        registry.register(
            "reloads",
            "Reloads of the policy and certificate files, by result",
            reloads.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            violations,
            reloads,
        }
    }

    /// Count one answered review.
    pub fn request(&self, labels: RequestLabels, seconds: f64) {
        self.latency
            .get_or_create(&WebhookLabels {
                webhook: labels.webhook,
            })
            .observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }

    /// Count a rule that fired.
    pub fn violation(&self, rule: &'static str, level: &'static str) {
        self.violations
            .get_or_create(&RuleLabels { rule, level })
            .inc();
    }

    /// Count a reload.
    pub fn reload(&self, file: &'static str, applied: bool) {
        let result = if applied { "applied" } else { "refused" };
        self.reloads
            .get_or_create(&ReloadLabels { file, result })
            .inc();
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Buckets from 50 µs to about 1.6 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

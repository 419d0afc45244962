//! Prometheus metrics: requests by kind, operation and decision; latency; violations
//! by rule id; reloads by result; the phase of each watch cache and its re-lists; when the
//! certificate served expires.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use std::sync::{Arc, OnceLock};

use crate::cache_status::Phase;
use crate::tls::CertResolver;

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

/// Labels of a watch cache's phase.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// The kind (`Middleware`).
    pub kind: &'static str,
    /// `pending`, `synced`, `stale`, `re-listing`, `absent` or `forbidden`.
    pub state: &'static str,
}

/// Labels of a kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The kind (`Middleware`).
    pub kind: &'static str,
}

/// Every metric the webhook exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<WebhookLabels, Histogram, fn() -> Histogram>,
    violations: Family<RuleLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    cache_state: Family<CacheLabels, Gauge>,
    relists: Family<KindLabels, Counter>,
    cert_expiry: Gauge,
    cert: OnceLock<Arc<CertResolver>>,
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
        let cache_state = Family::<CacheLabels, Gauge>::default();
        let relists = Family::<KindLabels, Counter>::default();
        let cert_expiry = Gauge::default();
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
        // Every series exists from the start at 0: an alert on increase() sees the first
        // refused reload (a series born at 1 shows no increase).
        for file in ["policy", "certificate"] {
            for result in ["applied", "refused"] {
                let _ = reloads.get_or_create(&ReloadLabels { file, result });
            }
        }
        registry.register(
            "watch_cache_state",
            "1 for the phase each kind's watch cache is in (stale: answering from the last state seen)",
            cache_state.clone(),
        );
        registry.register(
            "watch_cache_relists",
            "Fresh lists of a kind after its watch broke",
            relists.clone(),
        );
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "When the serving certificate in use expires (its notAfter), in Unix seconds",
            cert_expiry.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            violations,
            reloads,
            cache_state,
            relists,
            cert_expiry,
            cert: OnceLock::new(),
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

    /// Set the one-hot phase gauge of `kind`'s watch cache.
    pub fn cache_phase(&self, kind: &'static str, phase: Phase) {
        for p in Phase::ALL {
            self.cache_state
                .get_or_create(&CacheLabels {
                    kind,
                    state: p.as_str(),
                })
                .set(i64::from(p == phase));
        }
    }

    /// Count a fresh list of `kind` after its watch broke.
    pub fn relist(&self, kind: &'static str) {
        self.relists.get_or_create(&KindLabels { kind }).inc();
    }

    /// Report the expiry of whatever certificate `resolver` serves at each scrape (it
    /// changes on reload and renewal).
    pub fn watch_certificate(&self, resolver: Arc<CertResolver>) {
        let _ = self.cert.set(resolver);
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        if let Some(not_after) = self.cert.get().and_then(|r| r.not_after()) {
            self.cert_expiry.set(not_after);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_is_in_one_state_at_a_time() {
        let m = Metrics::new();
        m.cache_phase("Middleware", Phase::Synced);
        m.cache_phase("Middleware", Phase::Stale);
        m.relist("Middleware");
        let text = m.encode();
        assert!(
            text.contains(r#"watch_cache_state{kind="Middleware",state="stale"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"watch_cache_state{kind="Middleware",state="synced"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"watch_cache_relists_total{kind="Middleware"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn refused_reloads_are_counted_from_zero() {
        let m = Metrics::new();
        let text = m.encode();
        assert!(
            text.contains(r#"reloads_total{file="policy",result="refused"} 0"#),
            "{text}"
        );
        m.reload("policy", false);
        let text = m.encode();
        assert!(
            text.contains(r#"reloads_total{file="policy",result="refused"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn the_certificate_expiry_follows_the_certificate_served() {
        let issue = |days: u64| {
            let b = crate::certs::issue(
                &["localhost".to_string()],
                std::time::Duration::from_secs(days * 86_400),
            )
            .expect("certificate");
            crate::tls::pair_from_pem(b.cert_pem.as_bytes(), b.key_pem.as_bytes()).expect("pair")
        };
        let expiry = |text: &str| -> i64 {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix("oam_traefik_webhook_certificate_expiry_timestamp_seconds ")
                })
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no expiry gauge in:\n{text}"))
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let m = Metrics::new();
        let resolver = Arc::new(CertResolver::new(issue(10)));
        m.watch_certificate(resolver.clone());
        let first = expiry(&m.encode());
        assert!(
            (first - (now + 10 * 86_400)).abs() < 120,
            "{first} vs {now}"
        );
        resolver.replace(issue(2));
        let renewed = expiry(&m.encode());
        assert!(
            (renewed - (now + 2 * 86_400)).abs() < 120,
            "{renewed} vs {now}"
        );
    }
}

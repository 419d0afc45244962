//! The HTTP routes: admission endpoints and probes on the TLS port, metrics on the plain one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oam_traefik_policy::Lookup;

use crate::admission::{self, Endpoint};
use crate::cache::{CacheState, ClusterCache};
use crate::log;
use crate::metrics::{Metrics, RequestLabels};
use crate::policy_store::PolicyStore;

/// What the handlers share.
pub struct AppState {
    /// The policy in force.
    pub policy: Arc<PolicyStore>,
    /// Answers about other objects.
    pub lookup: Arc<dyn Lookup + Send + Sync>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// What /readyz reports.
    pub readiness: Arc<Readiness>,
}

/// Whether the webhook should receive traffic.
pub struct Readiness {
    /// The watch caches; `None` under --no-cluster.
    pub cache: Option<Arc<ClusterCache>>,
    /// Set on SIGTERM: stop taking new traffic while in-flight requests finish.
    pub draining: AtomicBool,
}

/// The admission router: POST /validate, POST /mutate, GET /healthz, GET /readyz.
pub fn admission_router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// The metrics router: GET /metrics.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(metrics)
}

async fn validate(State(s): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    review(s, Endpoint::Validate, body).await
}

async fn mutate(State(s): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    review(s, Endpoint::Mutate, body).await
}

/// How long one review may take: well under the API server's webhook timeout (the chart's
/// default is 5 s), so that an answer always arrives and says why.
pub const REVIEW_DEADLINE: Duration = Duration::from_secs(2);

/// Answer one AdmissionReview. The rules run on the blocking pool, so that an expensive
/// review never holds up the async workers (health checks, other reviews); one that does
/// not finish within [`REVIEW_DEADLINE`] is refused with a message that says so.
async fn review(
    s: Arc<AppState>,
    endpoint: Endpoint,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let text = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "request body is larger than --max-body-bytes".to_string()
            } else {
                rejection.body_text()
            };
            return refuse(&s, endpoint, start, status, text);
        }
    };
    let incoming = match admission::parse(&body) {
        Ok(incoming) => Arc::new(incoming),
        Err(e) => return refuse(&s, endpoint, start, StatusCode::BAD_REQUEST, e.to_string()),
    };
    let work = tokio::task::spawn_blocking({
        let s = s.clone();
        let incoming = incoming.clone();
        move || {
            let policy = s.policy.current();
            admission::decide(endpoint, &incoming.request, &policy, &*s.lookup)
        }
    });
    let decision = match tokio::time::timeout(REVIEW_DEADLINE, work).await {
        Ok(Ok(decision)) => decision,
        Ok(Err(e)) => {
            return refuse(
                &s,
                endpoint,
                start,
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the review failed: {e}"),
            );
        }
        Err(_) => admission::Decision::unfinished(REVIEW_DEADLINE),
    };
    let bytes = admission::respond(&incoming, &decision);
    let latency = start.elapsed();

    s.metrics.request(
        RequestLabels {
            webhook: endpoint.as_str(),
            kind: decision.kind.map_or("unhandled", |k| k.as_str()),
            operation: decision
                .operation
                .map_or("", oam_traefik_policy::Operation::as_str),
            decision: decision.outcome.as_str(),
        },
        latency.as_secs_f64(),
    );
    if let (Endpoint::Validate, Some(v)) = (endpoint, &decision.verdict) {
        for violation in v.violations.iter().chain(&v.warnings) {
            s.metrics
                .violation(violation.rule.as_str(), violation.level.as_str());
        }
    }
    log::decision(endpoint, &incoming.request, &decision, latency);
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A request that is not a review we can answer: counted, logged, and told why.
fn refuse(
    s: &AppState,
    endpoint: Endpoint,
    start: Instant,
    status: StatusCode,
    text: String,
) -> Response {
    s.metrics.request(
        RequestLabels {
            webhook: endpoint.as_str(),
            kind: "invalid",
            operation: "",
            decision: "invalid",
        },
        start.elapsed().as_secs_f64(),
    );
    tracing::warn!(
        target: "decision",
        webhook = endpoint.as_str(),
        status = status.as_u16(),
        reason = %text,
        "bad admission request"
    );
    (status, text).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    let r = &s.readiness;
    if r.draining.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    match &r.cache {
        None => (StatusCode::OK, "ready; no cluster: lookups unanswered\n").into_response(),
        Some(cache) if cache.settled() => {
            let unavailable: Vec<String> = cache
                .states()
                .into_iter()
                .filter(|(_, st)| *st != CacheState::Synced)
                .map(|(kind, st)| format!("{kind} {st:?}"))
                .collect();
            if unavailable.is_empty() {
                (StatusCode::OK, "ready\n").into_response()
            } else {
                let text = format!(
                    "ready; unanswered lookups for: {}\n",
                    unavailable.join(", ")
                );
                (StatusCode::OK, text).into_response()
            }
        }
        Some(cache) => {
            let pending: Vec<&str> = cache
                .states()
                .into_iter()
                .filter(|(_, st)| *st == CacheState::Pending)
                .map(|(kind, _)| kind)
                .collect();
            let text = format!("waiting for watch caches: {}\n", pending.join(", "));
            (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
        }
    }
}

async fn metrics_text(State(m): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

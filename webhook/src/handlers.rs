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
use crate::cache::ClusterCache;
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

/// How long a review that arrives before the watch caches' first sync waits for it: under
/// the API server's webhook timeout (the chart sets 5 s; Kubernetes' default is 10 s).
pub const FIRST_SYNC_WAIT: Duration = Duration::from_secs(3);

async fn validate(State(s): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    review(s, Endpoint::Validate, body).await
}

async fn mutate(State(s): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    review(s, Endpoint::Mutate, body).await
}

/// How long one review may take: well under the API server's webhook timeout (the chart's
/// default is 5 s), so that an answer always arrives and says why.
pub const REVIEW_DEADLINE: Duration = Duration::from_secs(2);

/// The most a review may take in all, first-sync wait included: under the chart's 5 s.
pub const ANSWER_BUDGET: Duration = Duration::from_secs(4);

/// Reviews whose body is at most this size are decided on the async worker that read
/// them. A review's cost is linear in its input (BENCHMARKS.md), so this bounds the time
/// one holds a worker to a fraction of a millisecond, while the hand-off to the blocking
/// pool and back (two thread wake-ups) costs more than such a review itself. Larger bodies
/// go to the blocking pool, under [`REVIEW_DEADLINE`].
pub const INLINE_BODY_BYTES: usize = 16 * 1024;

/// Answer one AdmissionReview. Before the caches' first sync it waits for them (at most
/// [`FIRST_SYNC_WAIT`]) rather than deciding without them. A small review is decided in
/// place; a larger one runs on the blocking pool, so that an expensive review never holds
/// up the async workers (health checks, other reviews), and one that does not finish
/// within [`REVIEW_DEADLINE`] is refused with a message that says so.
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
    if let Some(cache) = &s.readiness.cache
        && !cache.settled()
        && !cache.wait_settled(FIRST_SYNC_WAIT).await
    {
        let text = format!(
            "oam-traefik-webhook cannot decide yet: its watch caches have not synced ({}); the API server applies the webhook's failurePolicy",
            cache.pending().join(", ")
        );
        return refuse(&s, endpoint, start, StatusCode::SERVICE_UNAVAILABLE, text);
    }
    let (decision, stale) = if body.len() <= INLINE_BODY_BYTES {
        decide(&s, endpoint, &incoming)
    } else {
        let work = tokio::task::spawn_blocking({
            let s = s.clone();
            let incoming = incoming.clone();
            move || decide(&s, endpoint, &incoming)
        });
        let deadline = REVIEW_DEADLINE.min(ANSWER_BUDGET.saturating_sub(start.elapsed()));
        match tokio::time::timeout(deadline, work).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                return refuse(
                    &s,
                    endpoint,
                    start,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the review failed: {e}"),
                );
            }
            Err(_) => (admission::Decision::unfinished(deadline), Vec::new()),
        }
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
    log::decision(endpoint, &incoming.request, &decision, &stale, latency);
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// The decision on `incoming` under the policy in force, and the kinds whose cached
/// answers it used while they were out of date.
fn decide(
    s: &AppState,
    endpoint: Endpoint,
    incoming: &admission::Incoming,
) -> (admission::Decision, Vec<String>) {
    let policy = s.policy.current();
    match &s.readiness.cache {
        Some(cache) => {
            let lookup = cache.consulting();
            let decision = admission::decide(endpoint, &incoming.request, &policy, &lookup);
            (decision, lookup.stale())
        }
        None => (
            admission::decide(endpoint, &incoming.request, &policy, &*s.lookup),
            Vec::new(),
        ),
    }
}

/// A request that is not a review we can answer: counted, logged, and told why.
fn refuse(
    s: &AppState,
    endpoint: Endpoint,
    start: Instant,
    status: StatusCode,
    text: String,
) -> Response {
    let unavailable = status == StatusCode::SERVICE_UNAVAILABLE;
    let what = if unavailable {
        "unavailable"
    } else {
        "invalid"
    };
    s.metrics.request(
        RequestLabels {
            webhook: endpoint.as_str(),
            kind: what,
            operation: "",
            decision: what,
        },
        start.elapsed().as_secs_f64(),
    );
    tracing::warn!(
        target: "decision",
        webhook = endpoint.as_str(),
        status = status.as_u16(),
        reason = %text,
        "{}",
        if unavailable { "admission request not decided" } else { "bad admission request" }
    );
    (status, text).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// 200 once every watch cache has synced once (or is known unavailable), 503 before and
/// while draining; the body has one line per kind: synced, stale since T, re-listing, …
async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    let r = &s.readiness;
    if r.draining.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    // Said on every answer: an operator should know that any forwardAuth counts.
    let pinned = if s.policy.current().trusted_auth_services.is_empty() {
        "auth services: none pinned (trustedAuthServices is empty), any forwardAuth address counts\n"
    } else {
        ""
    };
    let Some(cache) = &r.cache else {
        return (
            StatusCode::OK,
            format!("ready; no cluster: lookups unanswered\n{pinned}"),
        )
            .into_response();
    };
    let snapshots = cache.snapshots();
    let mut text = if cache.settled() {
        let stale: Vec<&str> = snapshots
            .iter()
            .filter(|k| k.phase.is_stale())
            .map(|k| k.kind)
            .collect();
        let unanswered: Vec<String> = snapshots
            .iter()
            .filter(|k| !k.phase.answers())
            .map(|k| format!("{} {}", k.kind, k.phase.as_str()))
            .collect();
        let mut head = "ready".to_string();
        if !stale.is_empty() {
            head.push_str(&format!(
                "; stale (answering from the last state seen): {}",
                stale.join(", ")
            ));
        }
        if !unanswered.is_empty() {
            head.push_str(&format!(
                "; unanswered lookups for: {}",
                unanswered.join(", ")
            ));
        }
        head
    } else {
        format!("waiting for watch caches: {}", cache.pending().join(", "))
    };
    text.push('\n');
    text.push_str(pinned);
    for k in &snapshots {
        text.push_str(&k.line());
        text.push('\n');
    }
    let status = if cache.settled() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, text).into_response()
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

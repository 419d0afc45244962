//! The HTTP endpoints: `GET /verify` (Traefik's forwardAuth), `/healthz`, `/readyz`
//! and, when no separate metrics listener is given, `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::allowed::NO_TRUSTED_ISSUER;
use crate::claims::Identity;
use crate::log;
use crate::metrics::Metrics;
use crate::refusal::{Reason, Refusal};
use crate::verify::Verifier;

/// `X-Forwarded-User`: the token's `sub`.
pub const USER: HeaderName = HeaderName::from_static("x-forwarded-user");
/// `X-Forwarded-Email`: the token's `email`, empty when it has none.
pub const EMAIL: HeaderName = HeaderName::from_static("x-forwarded-email");
/// `X-Forwarded-Groups`: the caller's groups, comma-separated, empty when none.
pub const GROUPS: HeaderName = HeaderName::from_static("x-forwarded-groups");

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Decides verify requests.
    pub verifier: Arc<Verifier>,
    /// Counts them.
    pub metrics: Arc<Metrics>,
}

/// The verifier's endpoints; with `metrics`, `/metrics` too.
pub fn router(state: AppState, metrics: bool) -> Router {
    let mut router = Router::new()
        .route("/verify", get(verify))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz));
    if metrics {
        router = router.route("/metrics", get(metrics_text));
    }
    router.with_state(state)
}

/// `/metrics` alone, for the metrics listener.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

async fn verify(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let started = Instant::now();
    // The rule comes from this request's own query, which the Middleware's address sets.
    let mut decision = state.verifier.verify(uri.query(), &headers).await;
    let answer = match &decision.outcome {
        Ok(identity) => allowed(identity),
        Err(refusal) => Err(refusal.clone()),
    };
    let response = match answer {
        Ok(response) => response,
        Err(refusal) => {
            let response = refused(&refusal);
            // The log and metrics record what was answered.
            decision.outcome = Err(refusal);
            response
        }
    };
    let latency = started.elapsed();
    let reason = decision.outcome.as_ref().err().map(|r| r.reason.as_str());
    state.metrics.decision(reason, latency.as_secs_f64());
    log::write_decision(&log::decision_line(&decision, &headers, latency));
    response
}

/// 200 with the caller's identity in the headers Traefik copies to the backend. All three
/// are always set, so a client cannot slip its own through when a claim is absent.
fn allowed(identity: &Identity) -> Result<Response, Refusal> {
    // Bytes, not str: a UTF-8 name or address is fine (obs-text); control characters are not.
    let value = |text: &str, what: &str| {
        HeaderValue::from_bytes(text.as_bytes()).map_err(|_| {
            Refusal::new(
                Reason::Malformed,
                format!("the token's {what} cannot be sent as a header value"),
            )
        })
    };
    let headers = [
        (USER, value(&identity.subject, "sub")?),
        (
            EMAIL,
            value(identity.email.as_deref().unwrap_or(""), "email")?,
        ),
        (GROUPS, value(&identity.groups.join(","), "groups")?),
    ];
    Ok((StatusCode::OK, headers, "ok\n").into_response())
}

/// The refusal's status, challenge and a body naming the requirement that failed.
fn refused(refusal: &Refusal) -> Response {
    let body = format!("{}: {}\n", refusal.reason.as_str(), refusal.description);
    let mut response = (refusal.reason.status(), body).into_response();
    if let Some(challenge) = refusal.challenge()
        && let Ok(value) = HeaderValue::from_str(&challenge)
    {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

async fn readyz(State(state): State<AppState>) -> Response {
    let allowed = state.verifier.allowed_issuers();
    let statuses = state.verifier.keys().status();
    let (ready, reason) = if allowed.is_empty() {
        (false, Some(NO_TRUSTED_ISSUER.to_string()))
    } else {
        // Every allowed issuer has keys, or discovery said it is a prefix, not an issuer.
        let waiting: Vec<&str> = allowed
            .iter()
            .filter(|prefix| {
                !statuses
                    .iter()
                    .any(|s| &s.issuer == *prefix && (s.keys > 0 || s.not_an_issuer))
            })
            .map(String::as_str)
            .collect();
        if waiting.is_empty() {
            (true, None)
        } else {
            (
                false,
                Some(format!("no keys loaded yet for {}", waiting.join(", "))),
            )
        }
    };
    let body = serde_json::json!({"ready": ready, "reason": reason, "issuers": statuses});
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

//! Logging: JSON lines on stdout; one decision line per verify request, with what
//! Traefik says about the original request (for the record only: never for deciding).

use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

use crate::verify::Decision;

/// JSON lines on stdout for everything but decisions; `RUST_LOG` filters (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .try_init();
}

/// The decision line: when, which rule, who, from where, and allowed or why not. The
/// token is never part of it.
pub fn decision_line(decision: &Decision, headers: &HeaderMap, latency: Duration) -> Value {
    let header = |name: &str| -> Value {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map_or(Value::Null, |v| Value::String(v.to_string()))
    };
    // Traefik appends the peer it saw last; earlier entries are what the client claimed.
    let client_ip = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map_or(Value::Null, |ip| Value::String(ip.trim().to_string()));
    let mut line = json!({
        "time": now_rfc3339(),
        "msg": "decision",
        "issuer": decision.rule.as_ref().and_then(|r| r.issuer.clone()),
        "rule": decision.rule,
        "client_ip": client_ip,
        "host": header("x-forwarded-host"),
        "method": header("x-forwarded-method"),
        // The path only: a client's query may carry a token (`?access_token=`), never logged.
        "path": path(headers),
        "subject": decision.subject,
        "allowed": decision.outcome.is_ok(),
        "cached": decision.cached,
        "latency_us": latency.as_micros() as u64,
    });
    if let Err(refusal) = &decision.outcome {
        line["reason"] = Value::String(refusal.reason.as_str().to_string());
        line["description"] = Value::String(refusal.description.clone());
    }
    line
}

/// Write one decision line to stdout.
pub fn write_decision(line: &Value) {
    println!("{line}");
}

/// The original request's path from `X-Forwarded-Uri`, without its query or fragment.
fn path(headers: &HeaderMap) -> Value {
    headers
        .get("x-forwarded-uri")
        .and_then(|v| v.to_str().ok())
        .map(|uri| uri.split(['?', '#']).next().unwrap_or_default())
        .map_or(Value::Null, |p| Value::String(p.to_string()))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

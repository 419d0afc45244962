//! Logging: JSON lines on stdout, and one decision line per admission request.

use std::time::Duration;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::admission::{Decision, Endpoint, Request, describe_exemption};

/// Lines waiting for the writer thread; past this, request handlers wait (no line is dropped).
const BUFFERED_LINES: usize = 16 * 1024;

/// JSON lines on stdout; `RUST_LOG` filters (default `info`). Lines are written by a
/// dedicated thread in batches, so request handlers do not make a write(2) per decision;
/// keep the guard until exit, dropping it flushes what is left.
pub fn init() -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = quiet_library_dumps(filter);
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("oam-traefik-log")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .init();
    guard
}

/// kube's client warns `eof in poll: Custom { kind: UnexpectedEof, .. }` (a Debug dump)
/// when a watch connection ends; the watch resumes by itself, and when it cannot, the
/// caches log the failure with its URL. Unless `RUST_LOG` names kube_client, keep its
/// client module to errors.
fn quiet_library_dumps(filter: EnvFilter) -> EnvFilter {
    let named = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("kube_client"));
    match "kube_client::client=error".parse() {
        Ok(directive) if !named => filter.add_directive(directive),
        _ => filter,
    }
}

/// The one line that records a decision: who asked, what, what was decided and why.
/// `stale` names the kinds whose cached answers the decision used while they were out of date.
pub fn decision(
    endpoint: Endpoint,
    request: &Request,
    decision: &Decision,
    stale: &[String],
    latency: Duration,
) {
    let verdict = decision.verdict.as_ref();
    let rules = verdict
        .map(|v| {
            v.rule_ids()
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let injected = verdict.map(|v| v.injected.join(",")).unwrap_or_default();
    let unresolved = verdict.map(|v| v.unresolved.join("; ")).unwrap_or_default();
    let exemption = verdict
        .and_then(|v| v.exemption.as_ref())
        .map(describe_exemption)
        .unwrap_or_default();
    let kind = decision
        .kind
        .map(|k| k.as_str().to_string())
        .unwrap_or_else(|| format!("{}/{}", request.kind.group, request.kind.kind));
    let name = match (&request.name, &decision.object_name) {
        (name, _) if !name.is_empty() => name.clone(),
        (_, Some(name)) => name.clone(),
        _ => object_name(request),
    };
    tracing::info!(
        target: "decision",
        webhook = endpoint.as_str(),
        uid = %request.uid,
        user = %request.user_info.username,
        groups = %request.user_info.groups.join(","),
        operation = %request.operation,
        kind = %kind,
        namespace = %request.namespace,
        name = %name,
        dry_run = request.dry_run.unwrap_or(false),
        allowed = decision.allowed(),
        decision = decision.outcome.as_str(),
        rules = %rules,
        injected = %injected,
        unresolved = %unresolved,
        exemption = %exemption,
        note = %decision.note.as_deref().unwrap_or(""),
        stale_cache = %stale.join("; "),
        latency_us = latency.as_micros() as u64,
        "admission decision"
    );
}

/// An error and its causes on one line, `what: why: root cause`, each said once (many
/// errors repeat their source's text in their own).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The object's name when the request carries none (CREATE with generateName).
fn object_name(request: &Request) -> String {
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(default)]
        metadata: oam_traefik_policy::Meta,
    }
    request
        .object
        .as_deref()
        .and_then(|o| serde_json::from_str::<Named>(o.get()).ok())
        .filter(|n| !n.metadata.name.is_empty() || n.metadata.generate_name.is_some())
        .map(|n| n.metadata.display_name())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("watch of Middleware failed: {0}")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_says_each_cause_once() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(
            chain(&e),
            "watch of Middleware failed: connection refused",
            "the source is already in the text"
        );
    }
}

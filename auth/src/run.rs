//! Wiring: the policy, the issuers' keys and their refresher, the verifier, and the
//! listeners, until SIGTERM; then a graceful drain.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use oam_traefik_policy::Policy;
use tokio::net::TcpListener;

use crate::allowed::NO_TRUSTED_ISSUER;
use crate::cli::Cli;
use crate::fetch::Fetcher;
use crate::handlers::{self, AppState};
use crate::issuers::{KeyStore, REFETCH_INTERVAL};
use crate::metrics::Metrics;
use crate::policy_file::{self, PolicyFile};
use crate::server;
use crate::verify::{Settings, Verifier};

/// The handlers' state for `cli` with `policy`: nothing is fetched yet.
pub fn state(cli: &Cli, policy: &Policy) -> anyhow::Result<AppState> {
    let metrics = Arc::new(Metrics::new());
    let fetcher = Fetcher::new(cli.ca_file.as_deref()).context("--ca-file")?;
    let keys = Arc::new(KeyStore::new(fetcher, metrics.clone(), REFETCH_INTERVAL));
    let settings = Settings {
        allowed_issuers: policy.allowed_issuers.clone(),
        leeway: cli.leeway,
        groups_claim: cli.groups_claim.clone(),
    };
    let verifier = Arc::new(Verifier::new(
        settings,
        keys,
        cli.token_cache_size,
        metrics.clone(),
    ));
    Ok(AppState { verifier, metrics })
}

/// Serve until SIGTERM or Ctrl-C, then drain.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let (policy_file, policy) = PolicyFile::open(&cli.policy)?;
    if policy.allowed_issuers.is_empty() {
        tracing::warn!("{NO_TRUSTED_ISSUER}; every verify request is refused");
    }
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
        _ => None,
    };
    let state = state(&cli, &policy)?;
    let watcher = policy_file.watch(state.verifier.clone(), policy_file::POLL);
    let refresher = state
        .verifier
        .keys()
        .spawn_refresher(Duration::from_secs(cli.jwks_refresh.max(10)));
    let listener = TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("binding --listen {}", cli.listen))?;
    let metrics_listener = match cli.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --metrics-listen {addr}"))?,
        ),
        None => None,
    };
    tracing::info!(
        listen = %cli.listen,
        tls = tls.is_some(),
        metrics_listen = ?cli.metrics_listen,
        allowed_issuers = ?policy.allowed_issuers,
        "oam-traefik-auth serving"
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let main = server::serve(
        listener,
        tls,
        handlers::router(state.clone(), metrics_listener.is_none()),
        until_stopped(stopped.clone()),
    );
    let metrics = async {
        if let Some(listener) = metrics_listener {
            server::serve(
                listener,
                None,
                handlers::metrics_router(state.clone()),
                until_stopped(stopped.clone()),
            )
            .await;
        }
    };
    let signal = async {
        server::shutdown_signal().await;
        if cli.shutdown_delay > 0 {
            tracing::info!(
                seconds = cli.shutdown_delay,
                "still serving until the endpoints are updated"
            );
            tokio::time::sleep(Duration::from_secs(cli.shutdown_delay)).await;
        }
        let _ = stop.send(true);
    };
    tokio::join!(main, metrics, signal);
    refresher.abort();
    watcher.abort();
    tracing::info!("oam-traefik-auth stopped");
    Ok(())
}

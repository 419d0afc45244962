//! Wiring: load TLS and policy, start the caches and the file watch, serve until SIGTERM.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use oam_traefik_policy::{Lookup, NoLookup};
use tokio::net::TcpListener;

use crate::cache::ClusterCache;
use crate::config::{Cluster, Config, Tls};
use crate::handlers::{self, AppState, Readiness};
use crate::metrics::Metrics;
use crate::policy_store::{PolicyReload, PolicyStore};
use crate::server;
use crate::tls::{self, CertFiles, CertResolver};
use crate::watch::{self, Reload};

/// Run the webhook until SIGTERM, then drain.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let (client, server) = match &config.cluster {
        Cluster::None => (None, String::new()),
        cluster => {
            let (client, server) = kube_client(cluster).await?;
            (Some(client), server)
        }
    };
    let (resolver, certs) = match &config.tls {
        Tls::Files { cert, key } => {
            let files =
                Arc::new(CertFiles::open(cert, key).context("loading the TLS certificate")?);
            (files.resolver(), Some(files))
        }
        Tls::SelfSigned(ss) => {
            let client = client
                .as_ref()
                .context("--self-signed-secret needs a cluster")?;
            let material = ss
                .ensure(client)
                .await
                .context("preparing the self-signed certificate")?;
            let pair = tls::pair_from_pem(material.cert.as_bytes(), material.key.as_bytes())
                .context("the Secret's certificate")?;
            let resolver = Arc::new(CertResolver::new(pair));
            tokio::spawn(
                ss.clone()
                    .maintain(client.clone(), resolver.clone(), material),
            );
            (resolver, None)
        }
    };
    metrics.watch_certificate(resolver.clone());
    let tls = tls::server_config(resolver).context("configuring TLS")?;
    let policy = Arc::new(
        PolicyStore::open(config.policy.as_deref(), config.namespace.as_deref())
            .context("loading the policy")?,
    );
    match config.policy.as_deref() {
        Some(p) => tracing::info!(file = %p.display(), "policy loaded"),
        None => tracing::info!("no --policy: the default policy applies"),
    }

    let cache = match client {
        None => {
            tracing::warn!(
                "no cluster: lookups unanswered (rules that need no lookup still apply)"
            );
            None
        }
        Some(client) => Some(ClusterCache::start(client, &server, metrics.clone())),
    };
    let lookup: Arc<dyn Lookup + Send + Sync> = match &cache {
        Some(c) => c.clone(),
        None => Arc::new(NoLookup),
    };

    let mut files: Vec<&Path> = certs
        .as_ref()
        .map(|c| c.paths().to_vec())
        .unwrap_or_default();
    if let Some(p) = policy.path() {
        files.push(p);
    }
    let _watching = {
        let (certs, policy, metrics) = (certs.clone(), policy.clone(), metrics.clone());
        watch::watch(&files, move || reload(certs.as_deref(), &policy, &metrics))
            .context("watching the certificate and policy files")?
    };

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    if let Some(addr) = config.metrics_listen {
        let metrics_listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr} for metrics"))?;
        let router = handlers::metrics_router(metrics.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics_listener, router).await {
                tracing::error!(error = %e, "metrics server stopped");
            }
        });
        tracing::info!(%addr, "serving /metrics over plain HTTP");
    }

    let readiness = Arc::new(Readiness {
        cache,
        draining: AtomicBool::new(false),
    });
    let state = Arc::new(AppState {
        policy,
        lookup,
        metrics,
        readiness: readiness.clone(),
    });
    let app = handlers::admission_router(state, config.max_body_bytes);
    tracing::info!(addr = %config.listen, "serving /validate and /mutate over HTTPS");
    if let (Some(ca), Some(review)) = (config.dev_ca(), config.dev_review()) {
        let try_it = format!(
            "curl --cacert {} -H 'content-type: application/json' --data @{} https://{}/validate",
            ca.display(),
            review.display(),
            config.listen
        );
        tracing::info!(ca = %ca.display(), try_it = %try_it, "development mode: self-signed certificate, no cluster");
        // Also plainly on stderr, for a human at a terminal.
        eprintln!(
            "\noam-traefik-webhook (development mode) on https://{}\ntry:\n  {try_it}\n",
            config.listen
        );
    }
    let delay = config.shutdown_delay;
    let shutdown = async move {
        server::shutdown_signal().await;
        readiness.draining.store(true, Ordering::Release);
        if !delay.is_zero() {
            // The API server may still route reviews here until the endpoints drop this
            // pod (the readiness probe's period times its failure threshold, and more).
            tracing::info!(
                seconds = delay.as_secs(),
                "/readyz now fails; still serving reviews until the endpoints are updated"
            );
            tokio::time::sleep(delay).await;
        }
    };
    server::serve_tls(listener, tls, app, shutdown).await;
    Ok(())
}

/// A client for the watch caches, and the API server's URL for the logs.
pub async fn kube_client(cluster: &Cluster) -> anyhow::Result<(kube::Client, String)> {
    let mut config = match cluster {
        Cluster::Kubeconfig(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        _ => kube::Config::infer().await.context(
            "no in-cluster service account and no kubeconfig (use --no-cluster to run without one)",
        )?,
    };
    // A watch the API server stopped answering (a half-open connection) fails instead of
    // hanging: the API server ends every watch sooner (relist::WATCH_SECONDS).
    config.read_timeout = Some(crate::relist::READ_TIMEOUT);
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    Ok((client, server))
}

/// Look at the certificate and the policy files again; what does not load is refused and
/// logged once. Returns when to look again for content that must first stay the same.
fn reload(certs: Option<&CertFiles>, policy: &PolicyStore, metrics: &Metrics) -> Option<Duration> {
    let mut again = None;
    if let Some(certs) = certs {
        let [cert, key] = certs.paths();
        match certs.reload() {
            Ok(Reload::Applied) => {
                metrics.reload("certificate", true);
                tracing::info!(cert = %cert.display(), key = %key.display(), "certificate reloaded: new TLS handshakes get it");
            }
            Ok(Reload::Unchanged) => {}
            Ok(Reload::Settling(d)) => again = Some(d),
            Err(e) => {
                metrics.reload("certificate", false);
                tracing::error!(error = %e, "certificate refused; the previous one stays in use");
            }
        }
    }
    let file = policy
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match policy.reload() {
        Ok(PolicyReload::Applied(changes)) => {
            metrics.reload("policy", true);
            let loosened: Vec<String> = changes
                .iter()
                .filter(|c| c.loosens)
                .map(ToString::to_string)
                .collect();
            let all = changes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            if loosened.is_empty() {
                tracing::info!(file = %file, changes = %all, "policy reloaded");
            } else {
                tracing::warn!(
                    file = %file,
                    changes = %all,
                    loosened = %loosened.join("; "),
                    "policy reloaded; it LOOSENS the rules: check that this was meant"
                );
            }
        }
        Ok(PolicyReload::Unchanged) => {}
        Ok(PolicyReload::Settling(d)) => again = Some(again.map_or(d, |a: Duration| a.min(d))),
        Err(e) => {
            metrics.reload("policy", false);
            tracing::error!(error = %e, "policy refused; the previous one stays in force");
        }
    }
    again
}

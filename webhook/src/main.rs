//! `oam-traefik-webhook`: parse the command line, log JSON, run.

use clap::Parser;
use oam_traefik_webhook::config::{Cluster, Config};
use oam_traefik_webhook::{cli::Cli, log, run, self_test};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _log = log::init()?;
    // kube's client and our server both use rustls; settle the process-wide provider once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Some(namespace) = cli.self_test.clone() {
        return self_test(cli, &namespace).await;
    }
    let config = Config::from_cli(cli, std::env::var("POD_NAMESPACE").ok())?;
    if let Err(e) = run::run(config).await {
        tracing::error!(error = format!("{e:#}"), "oam-traefik-webhook stopped");
        return Err(e);
    }
    Ok(())
}

/// `--self-test NAMESPACE`: one dry run through the API server; the verdict on stdout.
async fn self_test(cli: Cli, namespace: &str) -> anyhow::Result<()> {
    let cluster = cli.kubeconfig.map_or(Cluster::Infer, Cluster::Kubeconfig);
    let (client, server) = run::kube_client(&cluster).await?;
    let denial = self_test::run(client, namespace).await?;
    println!(
        "ok: {server} refused an Ingress with no identity in namespace {namespace}:\n{denial}"
    );
    Ok(())
}

//! `oam-traefik-webhook`: parse the command line, log JSON, run.

use clap::Parser;
use oam_traefik_webhook::{cli::Cli, config::Config, log, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _log = log::init();
    // kube's client and our server both use rustls; settle the process-wide provider once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = Config::from_cli(cli, std::env::var("POD_NAMESPACE").ok())?;
    if let Err(e) = run::run(config).await {
        tracing::error!(error = format!("{e:#}"), "oam-traefik-webhook stopped");
        return Err(e);
    }
    Ok(())
}

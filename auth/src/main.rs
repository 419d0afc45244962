//! `oam-traefik-auth`: parse the command line, log JSON, serve.

use clap::Parser;
use oam_traefik_auth::{cli::Cli, log, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    log::init();
    // reqwest and our server both use rustls; settle the process-wide provider once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Err(e) = run::run(cli).await {
        tracing::error!(error = format!("{e:#}"), "oam-traefik-auth stopped");
        return Err(e);
    }
    Ok(())
}

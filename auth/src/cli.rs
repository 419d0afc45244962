//! The command line of `oam-traefik-auth`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// The forwardAuth verifier of oam-traefik: Traefik calls `GET /verify?provider=..&issuer=..
/// &audience=..&scope=..&group=..` for every request to a route with an identity rule, and
/// this answers 200 (with X-Forwarded-User), 401 or 403.
#[derive(Debug, Clone, Parser)]
#[command(name = "oam-traefik-auth", version)]
pub struct Cli {
    /// Address of /verify, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// PEM certificate chain to serve TLS with (plain HTTP without it).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The AdmissionPolicy file (the webhook's); its allowedIssuers are the only issuers trusted.
    #[arg(long)]
    pub policy: PathBuf,
    /// PEM certificates trusted for reaching issuers, besides the system roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Address of /metrics; without it /metrics is served on --listen.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Clock skew allowed on exp, nbf and iat, in seconds.
    #[arg(long, default_value_t = 60)]
    pub leeway: u64,
    /// The token claim that lists the caller's groups.
    #[arg(long, default_value = "groups")]
    pub groups_claim: String,
    /// Issuers' keys are refreshed in the background this often, in seconds.
    #[arg(long, default_value_t = 300)]
    pub jwks_refresh: u64,
    /// On SIGTERM, keep accepting for this many seconds before draining, while Kubernetes
    /// takes the pod out of the Service's endpoints and Traefik stops calling it.
    #[arg(long, default_value_t = 0)]
    pub shutdown_delay: u64,
    /// Tokens verified are remembered (keyed by a hash of token and rule, never past exp); 0 disables.
    #[arg(long, default_value_t = 10_000)]
    pub token_cache_size: usize,
}

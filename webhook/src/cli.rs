//! The command line; every flag can also come from an `OAM_TRAEFIK_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};

/// Three mebibytes: the API server's own limit on an object is 3 MiB (etcd's request size).
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The oam-traefik admission webhook: rejects routes without a declared identity and
/// injects Traefik auth middleware into those that declare one.
#[derive(Debug, Clone, Parser)]
#[command(name = "oam-traefik-webhook", version, about, long_about = None)]
pub struct Cli {
    /// HTTPS address for /validate, /mutate, /healthz and /readyz.
    #[arg(
        long,
        env = "OAM_TRAEFIK_LISTEN",
        value_name = "ADDR",
        required_unless_present_any = ["dev_self_signed", "self_test"]
    )]
    pub listen: Option<SocketAddr>,

    /// PEM certificate chain served on --listen; reloaded when it changes on disk.
    #[arg(
        long,
        env = "OAM_TRAEFIK_TLS_CERT",
        value_name = "FILE",
        required_unless_present_any = ["dev_self_signed", "self_signed_secret", "self_test"]
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert; reloaded when it changes on disk.
    #[arg(
        long,
        env = "OAM_TRAEFIK_TLS_KEY",
        value_name = "FILE",
        required_unless_present_any = ["dev_self_signed", "self_signed_secret", "self_test"]
    )]
    pub tls_key: Option<PathBuf>,

    /// AdmissionPolicy YAML file; reloaded when it changes. Without it, the safe defaults apply.
    #[arg(long, env = "OAM_TRAEFIK_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Plain-HTTP address for GET /metrics (Prometheus text format).
    #[arg(long, env = "OAM_TRAEFIK_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Kubeconfig for the watch caches; without it, the in-cluster service account (or the default kubeconfig).
    #[arg(
        long,
        env = "OAM_TRAEFIK_KUBECONFIG",
        value_name = "FILE",
        conflicts_with = "no_cluster"
    )]
    pub kubeconfig: Option<PathBuf>,

    /// Run without a cluster: lookups of other objects are unanswered (no violation by themselves).
    #[arg(long, env = "OAM_TRAEFIK_NO_CLUSTER", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub no_cluster: bool,

    /// Largest request body accepted, in bytes; larger ones get HTTP 413.
    #[arg(long, env = "OAM_TRAEFIK_MAX_BODY_BYTES", value_name = "N", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// The webhook's own namespace, never intercepted (default: $POD_NAMESPACE).
    #[arg(long, env = "OAM_TRAEFIK_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,

    /// Try it out: serve a fresh self-signed certificate from a temporary directory, with
    /// --no-cluster, on --listen (default 127.0.0.1:8443).
    #[arg(long, env = "OAM_TRAEFIK_DEV_SELF_SIGNED", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), conflicts_with_all = ["tls_cert", "tls_key", "kubeconfig", "self_signed_secret"])]
    pub dev_self_signed: bool,

    /// In-cluster TLS without cert-manager: keep a CA and serving certificate in this Secret
    /// (NAMESPACE/NAME), made if absent and renewed at 2/3 of its lifetime, and serve it.
    #[arg(long, env = "OAM_TRAEFIK_SELF_SIGNED_SECRET", value_name = "NAMESPACE/NAME", conflicts_with_all = ["tls_cert", "tls_key", "no_cluster"], requires = "service_name")]
    pub self_signed_secret: Option<String>,

    /// With --self-signed-secret: the webhook configurations whose caBundle to keep current.
    #[arg(
        long,
        env = "OAM_TRAEFIK_WEBHOOK_CONFIGURATIONS",
        value_name = "MUTATING_NAME,VALIDATING_NAME",
        requires = "self_signed_secret"
    )]
    pub webhook_configurations: Option<String>,

    /// With --self-signed-secret: the Service whose DNS names the certificate covers.
    #[arg(
        long,
        env = "OAM_TRAEFIK_SERVICE_NAME",
        value_name = "NAME",
        requires = "self_signed_secret"
    )]
    pub service_name: Option<String>,

    /// On SIGTERM, answer /readyz with 503 but keep serving reviews for this many seconds,
    /// while the Service's endpoints drop this pod and the API server stops calling it;
    /// then drain. No shell or preStop hook needed.
    #[arg(
        long,
        env = "OAM_TRAEFIK_SHUTDOWN_DELAY",
        value_name = "SECONDS",
        default_value_t = 0
    )]
    pub shutdown_delay: u64,

    /// Check a running installation instead of serving (the chart's `helm test`): send a
    /// server-side dry-run create of a Traefik Ingress with no identity to NAMESPACE and
    /// exit 0 only if the webhook refuses it.
    #[arg(long, value_name = "NAMESPACE", conflicts_with_all = ["dev_self_signed", "no_cluster", "self_signed_secret"])]
    pub self_test: Option<String>,

    /// With --self-signed-secret: seconds between checks of the Secret and the caBundles.
    #[arg(
        long,
        env = "OAM_TRAEFIK_SELF_SIGNED_CHECK_SECONDS",
        value_name = "SECONDS",
        default_value_t = 60,
        hide = true
    )]
    pub self_signed_check_seconds: u64,
}

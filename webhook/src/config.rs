//! The settled configuration: the command line resolved, defaults filled in, and the
//! development certificate made when asked for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::certs;
use crate::cli::Cli;
use crate::self_signed::SelfSigned;

/// Where `--dev-self-signed` listens when --listen is not given.
pub const DEV_LISTEN: &str = "127.0.0.1:8443";

/// Where the watch caches get their cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cluster {
    /// `--no-cluster`: lookups are unanswered.
    None,
    /// `--kubeconfig FILE`.
    Kubeconfig(PathBuf),
    /// In-cluster service account, else the default kubeconfig.
    Infer,
}

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum Tls {
    /// PEM files, watched for changes.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// A Secret the webhook keeps itself (`--self-signed-secret`).
    SelfSigned(SelfSigned),
}

/// Everything the webhook runs with.
#[derive(Debug)]
pub struct Config {
    /// HTTPS address.
    pub listen: SocketAddr,
    /// Where the serving certificate comes from.
    pub tls: Tls,
    /// Policy file, if any.
    pub policy: Option<PathBuf>,
    /// Plain-HTTP metrics address, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// Cluster for lookups.
    pub cluster: Cluster,
    /// Body limit in bytes.
    pub max_body_bytes: usize,
    /// The webhook's own namespace, exempt.
    pub namespace: Option<String>,
    /// How long to keep serving after SIGTERM with /readyz failing, before the drain.
    pub shutdown_delay: Duration,
    /// The temporary directory of `--dev-self-signed`, removed on exit.
    pub dev_dir: Option<tempfile::TempDir>,
}

impl Config {
    /// Resolve the command line; `pod_namespace` is `$POD_NAMESPACE`.
    pub fn from_cli(cli: Cli, pod_namespace: Option<String>) -> anyhow::Result<Config> {
        let namespace = cli.namespace.or(pod_namespace).filter(|n| !n.is_empty());
        let mut dev_dir = None;
        let cluster = match (cli.no_cluster, cli.kubeconfig.clone()) {
            (true, _) => Cluster::None,
            (false, Some(k)) => Cluster::Kubeconfig(k),
            (false, None) => Cluster::Infer,
        };
        let (tls, cluster, listen) = if cli.dev_self_signed {
            let dir = tempfile::Builder::new()
                .prefix("oam-traefik-webhook-dev-")
                .tempdir()
                .context("creating a temporary directory for the development certificate")?;
            let names = ["localhost".to_string(), "127.0.0.1".to_string()];
            let bundle = certs::issue(&names, Duration::from_secs(7 * 24 * 3600))
                .context("generating the development certificate")?;
            let (ca, cert, key) = (
                dir.path().join("ca.crt"),
                dir.path().join("tls.crt"),
                dir.path().join("tls.key"),
            );
            std::fs::write(&ca, bundle.ca_pem).context("writing ca.crt")?;
            std::fs::write(&cert, bundle.cert_pem).context("writing tls.crt")?;
            std::fs::write(&key, bundle.key_pem).context("writing tls.key")?;
            std::fs::write(dir.path().join("review.json"), SAMPLE_REVIEW)
                .context("writing review.json")?;
            dev_dir = Some(dir);
            let listen = match cli.listen {
                Some(l) => l,
                None => DEV_LISTEN.parse().context("default dev address")?,
            };
            (Tls::Files { cert, key }, Cluster::None, listen)
        } else if let Some(secret) = &cli.self_signed_secret {
            let service = cli
                .service_name
                .as_deref()
                .context("--service-name is required")?;
            let mut ss = SelfSigned::new(secret, service, cli.webhook_configurations.as_deref())?;
            ss.check_every = Duration::from_secs(cli.self_signed_check_seconds);
            (
                Tls::SelfSigned(ss),
                cluster,
                cli.listen.context("--listen is required")?,
            )
        } else {
            let tls = Tls::Files {
                cert: cli.tls_cert.context("--tls-cert is required")?,
                key: cli.tls_key.context("--tls-key is required")?,
            };
            (tls, cluster, cli.listen.context("--listen is required")?)
        };
        Ok(Config {
            listen,
            tls,
            policy: cli.policy,
            metrics_listen: cli.metrics_listen,
            cluster,
            max_body_bytes: cli.max_body_bytes,
            namespace,
            shutdown_delay: Duration::from_secs(cli.shutdown_delay),
            dev_dir,
        })
    }

    /// The sample review of `--dev-self-signed`, for `curl --data @review.json`.
    pub fn dev_review(&self) -> Option<PathBuf> {
        self.dev_dir.as_ref().map(|d| d.path().join("review.json"))
    }

    /// The CA file of `--dev-self-signed`, for `curl --cacert`.
    pub fn dev_ca(&self) -> Option<PathBuf> {
        self.dev_dir.as_ref().map(|d| d.path().join("ca.crt"))
    }
}

/// What `--dev-self-signed` offers to post: an app exposing a route with no identity rule (OT001).
const SAMPLE_REVIEW: &str = r#"{
  "apiVersion": "admission.k8s.io/v1",
  "kind": "AdmissionReview",
  "request": {
    "uid": "dev-1",
    "kind": {"group": "core.oam.dev", "version": "v1beta1", "kind": "Application"},
    "resource": {"group": "core.oam.dev", "version": "v1beta1", "resource": "applications"},
    "name": "orders",
    "namespace": "shop",
    "operation": "CREATE",
    "userInfo": {"username": "dev", "groups": ["system:authenticated"]},
    "object": {
      "apiVersion": "core.oam.dev/v1beta1",
      "kind": "Application",
      "metadata": {"name": "orders", "namespace": "shop"},
      "spec": {"components": [{
        "name": "web",
        "type": "webservice",
        "properties": {"image": "example/orders:1"},
        "traits": [{"type": "gateway", "properties": {"domain": "orders.example.com", "http": {"/": 8080}, "class": "traefik"}}]
      }]}
    }
  }
}
"#;

//! The real `oam-traefik-webhook` binary, served on loopback and registered with the
//! control plane through the chart's own webhook configurations.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;

use crate::certs::PemFiles;
use crate::control_plane::{ControlPlane, https_client};
use crate::ports::free_port;
use crate::process::{Process, wait_until};

/// Namespace the webhook would run in: the chart excludes it, and so does the webhook.
pub const WEBHOOK_NAMESPACE: &str = "oam-traefik-system";
/// Helm release name used to render the chart's webhook configurations.
pub const RELEASE: &str = "e2e";
/// How long the webhook may take to load its certificate, policy and caches.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running webhook (or a stopped one that can be restarted on the same port).
pub struct Webhook {
    bin: PathBuf,
    port: u16,
    tls: PemFiles,
    policy: Option<PathBuf>,
    /// The cluster it watches; `None`: `--no-cluster`.
    kubeconfig: Option<PathBuf>,
    ca_file: PathBuf,
    log: PathBuf,
    process: Option<Process>,
}

impl Webhook {
    /// Starts the webhook against `cp` with a serving certificate for 127.0.0.1 from the
    /// control plane's CA and, if given, `policy` (AdmissionPolicy YAML) as its policy
    /// file; waits until `/readyz` answers.
    pub fn start(cp: &ControlPlane, policy: Option<&str>) -> Result<Self> {
        let mut webhook = Self::spawn(cp, policy, None)?;
        webhook.wait_ready()?;
        Ok(webhook)
    }

    /// Like [`start`](Self::start), but `--no-cluster`: no watch caches, lookups of other
    /// objects unanswered (the certificate still comes from `cp`'s CA).
    pub fn start_no_cluster(cp: &ControlPlane, policy: Option<&str>) -> Result<Self> {
        let mut webhook = Self::new(cp, policy, None)?;
        webhook.launch()?;
        webhook.wait_ready()?;
        Ok(webhook)
    }

    /// Like [`start`](Self::start), watching the cluster through `kubeconfig` (the control
    /// plane's by default), and without waiting for `/readyz`.
    pub fn spawn(
        cp: &ControlPlane,
        policy: Option<&str>,
        kubeconfig: Option<&Path>,
    ) -> Result<Self> {
        let kubeconfig = kubeconfig.unwrap_or(cp.kubeconfig()).to_owned();
        let mut webhook = Self::new(cp, policy, Some(kubeconfig))?;
        webhook.launch()?;
        Ok(webhook)
    }

    /// A stopped webhook: its port, certificate and policy file made, watching
    /// `kubeconfig`'s cluster (none: `--no-cluster`).
    fn new(cp: &ControlPlane, policy: Option<&str>, kubeconfig: Option<PathBuf>) -> Result<Self> {
        let bin = binary()?;
        let port = free_port()?;
        let dir = cp.dir().join(format!("webhook-{port}"));
        std::fs::create_dir_all(&dir)?;
        let tls = cp
            .ca()
            .serving("oam-traefik-webhook", &["127.0.0.1", "localhost"])?
            .write(&dir, "serving")?;
        let policy = match policy {
            Some(text) => {
                let path = dir.join("policy.yaml");
                std::fs::write(&path, text)?;
                Some(path)
            }
            None => None,
        };
        Ok(Self {
            bin,
            port,
            tls,
            policy,
            kubeconfig,
            ca_file: cp.ca_file().to_owned(),
            log: dir.join("webhook.log"),
            process: None,
        })
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&mut self) -> Result<()> {
        let url = self.url();
        let process = self.process.as_mut().context("the webhook is stopped")?;
        wait_ready(process, &url, &self.ca_file)
    }

    /// The webhook's process id, to tell that it was not restarted.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::pid)
    }

    /// The serving certificate and key files.
    pub fn tls_files(&self) -> &PemFiles {
        &self.tls
    }

    /// An HTTPS client that trusts the webhook's certificate (the control plane's CA).
    pub fn client(&self) -> Result<reqwest::blocking::Client> {
        https_client(&self.ca_file, None)
    }

    /// `GET /readyz`: the status code and the text.
    pub fn readyz(&self) -> Result<(u16, String)> {
        let resp = self
            .client()?
            .get(format!("{}/readyz", self.url()))
            .send()?;
        Ok((resp.status().as_u16(), resp.text()?))
    }

    /// `https://127.0.0.1:<port>`, the base of the registered URLs.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The policy file the webhook watches, if any.
    pub fn policy_file(&self) -> Option<&Path> {
        self.policy.as_deref()
    }

    /// Stops the webhook process; the registration stays, so the API server now fails
    /// to call it.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// Starts the webhook again on the same port and waits until it is ready.
    pub fn restart(&mut self) -> Result<()> {
        self.launch()?;
        self.wait_ready()
    }

    fn launch(&mut self) -> Result<()> {
        self.stop();
        let listen = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut cmd = command(&self.bin, listen, &self.tls, self.kubeconfig.as_deref());
        if let Some(policy) = &self.policy {
            cmd.arg("--policy").arg(policy);
        }
        self.process = Some(Process::spawn("oam-traefik-webhook", cmd, &self.log)?);
        Ok(())
    }

    /// Everything the webhook has logged so far (its decision log among it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Registers the chart's MutatingWebhookConfiguration and ValidatingWebhookConfiguration
    /// with `clientConfig.url` pointing at this webhook and the control plane's CA.
    pub fn register(&self, cp: &ControlPlane) -> Result<()> {
        let ca = base64::engine::general_purpose::STANDARD.encode(cp.ca().cert_pem());
        let rendered = render_chart_webhooks(cp.dir(), &self.url(), &ca)?;
        cp.kubectl()
            .run_stdin(&["apply", "-f", "-"], &rendered)?
            .ok()
            .context("registering the webhook configurations")?;
        Ok(())
    }
}

/// The webhook `bin` serving on `listen` with `tls`, watching the cluster of `kubeconfig`
/// (`--no-cluster` without one), in [`WEBHOOK_NAMESPACE`], logging at info.
pub fn command(
    bin: &Path,
    listen: SocketAddr,
    tls: &PemFiles,
    kubeconfig: Option<&Path>,
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--listen")
        .arg(listen.to_string())
        .arg("--tls-cert")
        .arg(&tls.cert)
        .arg("--tls-key")
        .arg(&tls.key);
    match kubeconfig {
        Some(kubeconfig) => cmd.arg("--kubeconfig").arg(kubeconfig),
        None => cmd.arg("--no-cluster"),
    };
    cmd.arg("--namespace")
        .arg(WEBHOOK_NAMESPACE)
        .env("RUST_LOG", "info");
    cmd
}

/// Removes the chart's webhook configurations from `cp`, whoever registered them.
pub fn unregister(cp: &ControlPlane) -> Result<()> {
    let rendered = render_chart_webhooks(cp.dir(), "https://127.0.0.1:1", "Cg==")?;
    cp.kubectl()
        .run_stdin(&["delete", "--ignore-not-found", "-f", "-"], &rendered)?
        .ok()
        .context("removing the webhook configurations")?;
    Ok(())
}

/// Polls the webhook's `/readyz` over TLS, trusting only the control plane's CA.
fn wait_ready(process: &mut Process, url: &str, ca: &Path) -> Result<()> {
    let client = https_client(ca, None)?;
    let readyz = format!("{url}/readyz");
    wait_until(process, READY_TIMEOUT, Duration::from_millis(100), || {
        client
            .get(&readyz)
            .send()
            .is_ok_and(|r| r.status().is_success())
    })
}

/// The chart's `templates/webhooks.yaml`, rendered by helm for a webhook outside the
/// cluster at `url`, trusted through `ca_bundle` (base64 PEM).
pub fn render_chart_webhooks(workdir: &Path, url: &str, ca_bundle: &str) -> Result<String> {
    render_chart_webhooks_with(
        workdir,
        &serde_json::json!({"webhook": {"url": url, "caBundle": ca_bundle}}),
    )
}

/// The chart's `templates/webhooks.yaml` for release [`RELEASE`] in [`WEBHOOK_NAMESPACE`],
/// with `tls.mode=external` and `values` (JSON, merged over the chart's defaults).
pub fn render_chart_webhooks_with(workdir: &Path, values: &serde_json::Value) -> Result<String> {
    let mut doc = serde_json::json!({
        "tls": {"mode": "external"},
        // Only the webhook configurations are wanted; the TraitDefinition needs an auth
        // service address that this suite has no use for.
        "identity": {"traitDefinition": {"enabled": false}},
    });
    merge(&mut doc, values);
    crate::tools::helm_template(workdir, &doc, "templates/webhooks.yaml")
}

/// Merges `over` into `base` the way helm merges a second values file: maps key by key,
/// anything else replaced.
fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// The `oam-traefik-webhook` binary (`OAM_TRAEFIK_WEBHOOK_BIN` names a prebuilt one).
pub fn binary() -> Result<PathBuf> {
    crate::binaries::workspace_binary("oam-traefik-webhook", "OAM_TRAEFIK_WEBHOOK_BIN")
}

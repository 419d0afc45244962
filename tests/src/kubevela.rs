//! KubeVela's real core controller (vela-core v1.10.6, `cmd/core`), built from the Go
//! module proxy by `tests/tools/kubevela/build.sh` and run against the test's API server.
//!
//! What a KubeVela install puts in a cluster comes from KubeVela's own chart (in the
//! module's source), rendered with the real helm: its CRDs, the built-in definitions, the
//! `*-view` ConfigMaps, its ServiceAccount and role binding. Its own admission webhooks
//! and multi-cluster gateway are off. The controller authenticates with a token of its
//! ServiceAccount (`vela-system:kubevela-vela-core`), so the oam-traefik webhook sees the
//! same requester as in a cluster: the policy's default trusted controller.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::control_plane::ControlPlane;
use crate::crds::{self, CrdSource};
use crate::harness::repo_root;
use crate::ports::free_port;
use crate::process::Process;
use crate::tools;

/// KubeVela's namespace for its controller and system definitions.
pub const VELA_SYSTEM: &str = "vela-system";
/// The Helm release name of KubeVela's chart, which names its ServiceAccount.
pub const RELEASE: &str = "kubevela";
/// The ServiceAccount vela-core runs as: `<release>-vela-core`.
pub const SERVICE_ACCOUNT: &str = "kubevela-vela-core";
/// vela-core's user name at the API server: the policy's default trusted controller.
pub const CONTROLLER_USER: &str = "system:serviceaccount:vela-system:kubevela-vela-core";

/// For suites that write objects as vela-core (`kubectl --as`) without running it: what
/// KubeVela's chart grants its controller, which writes any object an app renders.
pub const CONTROLLER_BINDING: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubevela-vela-core}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
  - {kind: ServiceAccount, name: kubevela-vela-core, namespace: vela-system}
"#;
/// Where KubeVela's chart is in its module.
const CHART: &str = "charts/vela-core";
/// How long vela-core may take to answer its health endpoint.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The KubeVela module, whose source holds the chart and the CRDs.
const MODULE: CrdSource = CrdSource {
    module: "github.com/oam-dev/kubevela",
    version: "v1.10.6",
    files: &["charts/vela-core/crds/"],
};

/// Kinds taken from KubeVela's rendered chart: what the controller needs to run, not the
/// Deployment (this suite runs the binary), its webhooks or its multi-cluster gateway.
const INSTALLED_KINDS: [&str; 10] = [
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "ComponentDefinition",
    "TraitDefinition",
    "PolicyDefinition",
    "WorkflowStepDefinition",
];

/// A running vela-core.
pub struct VelaCore {
    process: Process,
    log: PathBuf,
}

impl VelaCore {
    /// Installs what KubeVela's chart installs (but the controller's Deployment) and the
    /// oam-traefik chart's identity definitions as its defaults render them, then starts
    /// vela-core as its ServiceAccount and waits until it is ready.
    pub fn start(cp: &ControlPlane) -> Result<Self> {
        Self::start_with(cp, &json!({}))
    }

    /// As [`VelaCore::start`], with the identity definitions rendered from the oam-traefik
    /// chart with `chart_values` (for example the verifier's address).
    pub fn start_with(cp: &ControlPlane, chart_values: &Value) -> Result<Self> {
        let bin = ensure_built()?;
        let dir = cp.dir().join("vela-core");
        std::fs::create_dir_all(&dir)?;
        install_kubevela(cp, &dir)?;
        install_identity_definitions(cp, &dir, chart_values)?;

        let kubeconfig = cp.service_account_kubeconfig(VELA_SYSTEM, SERVICE_ACCOUNT, &dir)?;
        let health = free_port()?;
        let metrics = free_port()?;
        let log = dir.join("vela-core.log");
        let mut cmd = Command::new(&bin);
        cmd.arg(format!("--health-addr=127.0.0.1:{health}"))
            .arg(format!("--metrics-addr=127.0.0.1:{metrics}"))
            .arg(format!("--system-definition-namespace={VELA_SYSTEM}"))
            // A test waits on conditions: retry a failed or waiting workflow within seconds,
            // not the minutes a cluster is given.
            .arg("--max-workflow-wait-backoff-time=5")
            .arg("--max-workflow-failed-backoff-time=5")
            .arg("--feature-gates=PreDispatchDryRun=true")
            // No cluster-gateway here: the bootstrap would wait for it.
            .arg("--feature-gates=DisableBootstrapClusterInfo=true")
            // It reads KUBECONFIG only (it has no --kubeconfig flag).
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", &dir);
        let mut process = Process::spawn("vela-core", cmd, &log)?;
        wait_healthy(&mut process, health)?;
        Ok(Self { process, log })
    }

    /// The last lines of vela-core's log, for a failing test's message.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// The log file.
    pub fn log_file(&self) -> &Path {
        &self.log
    }
}

/// Builds vela-core if needed (`tests/tools/kubevela/build.sh`, once per test process).
pub fn ensure_built() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn build() -> Result<PathBuf> {
    let script = repo_root().join("tests/tools/kubevela/build.sh");
    let status = Command::new("bash").arg(&script).status()?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(tools::bin_dir().join("vela-core"))
}

/// The objects kubectl printed (one JSON document per object, or a List) whose `kind` is
/// in `kinds`.
fn select_kinds(printed: &str, kinds: &[&str]) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    for doc in serde_json::Deserializer::from_str(printed).into_iter::<Value>() {
        let doc = doc.context("kubectl printed no JSON")?;
        match doc["items"].as_array() {
            Some(items) if doc["kind"] == "List" => objects.extend(items.iter().cloned()),
            _ => objects.push(doc),
        }
    }
    objects.retain(|o| o["kind"].as_str().is_some_and(|k| kinds.contains(&k)));
    Ok(objects)
}

/// KubeVela's CRDs, then its chart's ServiceAccount, RBAC, view ConfigMaps and definitions.
fn install_kubevela(cp: &ControlPlane, dir: &Path) -> Result<()> {
    let kubectl = cp.kubectl();
    let mut args = vec![
        "apply".to_string(),
        "--server-side".into(),
        "--force-conflicts".into(),
        "-o".into(),
        "name".into(),
    ];
    for file in crds::files(&MODULE, dir)? {
        args.push("-f".into());
        args.push(file.display().to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let applied = kubectl.run(&argv)?.ok()?;
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=120s"];
    wait.extend(applied.stdout.lines());
    kubectl.run(&wait)?.ok()?;

    kubectl
        .run(&["create", "namespace", VELA_SYSTEM])?
        .ok()
        .context("creating vela-system")?;
    let chart = crds::module_dir(&MODULE, dir)?.join(CHART);
    let rendered = tools::helm_template_chart(
        dir,
        RELEASE,
        VELA_SYSTEM,
        &chart,
        &json!({
            "admissionWebhooks": {"enabled": false},
            "multicluster": {"enabled": false},
        }),
        &[],
    )?;
    // kubectl turns the multi-document YAML into one List to pick kinds from. Both are
    // files in the test's folder, to be read after a failing run (OAM_TRAEFIK_E2E_KEEP=1).
    let chart_file = dir.join("kubevela.yaml");
    std::fs::write(&chart_file, &rendered)?;
    let chart_path = chart_file.display().to_string();
    let listed = kubectl
        .run(&[
            "create",
            "--dry-run=client",
            "-o",
            "json",
            "-f",
            &chart_path,
        ])?
        .ok()
        .context("reading KubeVela's rendered chart")?;
    let objects = select_kinds(&listed.stdout, &INSTALLED_KINDS)?;
    if objects.is_empty() {
        bail!("KubeVela's chart rendered none of {INSTALLED_KINDS:?}");
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    let list_file = dir.join("kubevela-installed.json");
    std::fs::write(&list_file, list.to_string())?;
    let list_path = list_file.display().to_string();
    kubectl
        .run(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &list_path,
        ])?
        .ok()
        .context("applying KubeVela's definitions and RBAC")?;
    Ok(())
}

/// The oam-traefik chart's `identity` TraitDefinition and PolicyDefinition, rendered with
/// `values` (with none, they point at the chart's verifier).
fn install_identity_definitions(cp: &ControlPlane, dir: &Path, values: &Value) -> Result<()> {
    let rendered = tools::helm_template_chart(
        dir,
        "oam-traefik",
        "oam-traefik-system",
        &repo_root().join("charts/oam-traefik"),
        values,
        &[
            "--show-only",
            "templates/traitdefinition.yaml",
            "--show-only",
            "templates/policydefinition.yaml",
        ],
    )?;
    cp.kubectl()
        .run_stdin(&["apply", "-f", "-"], &rendered)?
        .ok()
        .context("applying the identity definitions")?;
    Ok(())
}

/// Polls vela-core's `/readyz` (controller-runtime's health endpoint) until it answers 200.
fn wait_healthy(process: &mut Process, port: u16) -> Result<()> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if process.exited().is_some() {
            return Err(process.died());
        }
        if let Ok(resp) = client.get(&url).send()
            && resp.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "vela-core not ready after {READY_TIMEOUT:?}; last log lines:\n{}",
                process.log_tail(30)
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
}

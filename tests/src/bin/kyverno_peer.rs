//! `oam-traefik-kyverno-peer`: Kyverno's real admission controller, ready to answer
//! AdmissionReviews, for the webhook's side-by-side benchmark (webhook/scripts/side-by-side.sh).
//!
//! ```text
//! oam-traefik-kyverno-peer --controller BIN --install YAML --policy YAML
//! ```
//!
//! Starts a real etcd and kube-apiserver on loopback with the upstream CRDs, applies
//! Kyverno's own install manifest (`--install`: its namespace, ConfigMaps, CRDs and RBAC;
//! not its Deployments and Services, since no kubelet runs), the ClusterPolicy `--policy`,
//! and runs the controller `--controller` (Kyverno's `cmd/kyverno`) out of cluster against
//! that API server, as Kyverno runs with `--serverIP`: it makes its own CA and serving
//! certificate, loads the policy from the API server into its policy cache, and serves
//! `POST /validate` over HTTPS. It registers its webhooks as in a cluster, pointing at itself;
//! nothing writes the policy's kinds through the API server: the benchmark posts the
//! reviews to Kyverno itself. Once the controller has denied an Application
//! under the policy, it prints `url https://127.0.0.1:PORT/validate` and `ready` on stdout,
//! then waits; SIGTERM, SIGINT or the end of its standard input stops everything.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use oam_traefik_e2e::ControlPlane;
use oam_traefik_e2e::admission::review;
use oam_traefik_e2e::ports::free_port;
use oam_traefik_e2e::process::{Process, wait_until};
use serde_json::{Value, json};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The namespace and names Kyverno's install manifest uses.
const NAMESPACE: &str = "kyverno";

/// The admission controller's arguments in Kyverno's install manifest
/// (config/install-latest-testing.yaml) that apply out of cluster.
const ADMISSION_CONTROLLER_ARGS: &[&str] = &[
    "--caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca",
    "--tlsSecretName=kyverno-svc.kyverno.svc.kyverno-tls-pair",
    "--tlsKeyAlgorithm=RSA",
    "--backgroundServiceAccountName=system:serviceaccount:kyverno:kyverno-background-controller",
    "--reportsServiceAccountName=system:serviceaccount:kyverno:kyverno-reports-controller",
    "--resyncPeriod=15m",
    "--crdWatcher=false",
    "--disableMetrics=false",
    "--otelConfig=prometheus",
    "--excludeBootstrapResources=false",
    "--enableConfigMapCaching=true",
    "--enableDeferredLoading=true",
    "--dumpPayload=false",
    "--forceFailurePolicyIgnore=false",
    "--maxAPICallResponseLength=2000000",
    "--apiCallTimeout=30s",
    "--loggingFormat=text",
    "--v=2",
    "--omitEvents=PolicyApplied,PolicySkipped",
    "--enablePolicyException=false",
    "--protectManagedResources=false",
];

fn main() {
    if let Err(e) = run() {
        eprintln!("kyverno-peer: {e:#}");
        std::process::exit(1);
    }
}

struct Args {
    controller: PathBuf,
    install: PathBuf,
    policy: PathBuf,
}

fn args() -> Result<Args> {
    let mut controller = None;
    let mut install = None;
    let mut policy = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--controller" => controller = Some(PathBuf::from(value)),
            "--install" => install = Some(PathBuf::from(value)),
            "--policy" => policy = Some(PathBuf::from(value)),
            other => bail!("unknown flag {other} (--controller, --install, --policy)"),
        }
    }
    let usage = "usage: oam-traefik-kyverno-peer --controller BIN --install YAML --policy YAML";
    Ok(Args {
        controller: controller.context(usage)?,
        install: install.context(usage)?,
        policy: policy.context(usage)?,
    })
}

fn run() -> Result<()> {
    let args = args()?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    let handler = on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t;
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    // The end of standard input stops us too (the script's way when it dies).
    thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        STOP.store(true, Ordering::SeqCst);
    });

    eprintln!("kyverno-peer: starting etcd and kube-apiserver ...");
    let cp = ControlPlane::start()?;
    cp.install_crds()?;
    eprintln!("kyverno-peer: applying Kyverno's namespace, ConfigMaps, CRDs and RBAC ...");
    install(&cp, &args.install)?;
    let k = cp.kubectl();
    k.run(&["apply", "-f", &args.policy.display().to_string()])?
        .ok()
        .context("applying the ClusterPolicy")?;

    let port = free_port()?;
    let metrics = free_port()?;
    let mut cmd = Command::new(&args.controller);
    cmd.env("KUBECONFIG", cp.kubeconfig())
        .env("KYVERNO_NAMESPACE", NAMESPACE)
        .env("KYVERNO_POD_NAME", "kyverno-admission-controller-bench")
        .env(
            "KYVERNO_SERVICEACCOUNT_NAME",
            "kyverno-admission-controller",
        )
        .env("KYVERNO_ROLE_NAME", "kyverno:admission-controller")
        .env("KYVERNO_DEPLOYMENT", "kyverno-admission-controller")
        .env("KYVERNO_SVC", "kyverno-svc")
        .env("INIT_CONFIG", "kyverno")
        .env("METRICS_CONFIG", "kyverno-metrics")
        .arg(format!("--kubeconfig={}", cp.kubeconfig().display()))
        // The webhook configurations Kyverno registers for its own objects (leases,
        // policies) point at https://<serverIP>: here, itself; its serving certificate
        // names that IP.
        .arg(format!("--serverIP=127.0.0.1:{port}"))
        .arg("--webhookServerHost=127.0.0.1")
        .arg(format!("--webhookServerPort={port}"))
        .arg("--metricsHost=127.0.0.1")
        .arg(format!("--metricsPort={metrics}"))
        // Not its job here: writing a report object per admission, generating
        // ValidatingAdmissionPolicies, its second metrics server. (It does register its
        // webhooks, pointing at itself, for the policy's kinds as in a cluster;
        // `--autoUpdateWebhooks=false` would register one for every write instead, its own
        // leases and certificate Secret included, which then fail until it serves.)
        .arg("--admissionReports=false")
        .arg("--generateValidatingAdmissionPolicy=false")
        .arg("--controllerRuntimeMetricsAddress=0")
        // The rest as Kyverno's own install manifest runs its admission controller.
        .args(ADMISSION_CONTROLLER_ARGS);
    let log = cp.dir().join("kyverno.log");
    eprintln!(
        "kyverno-peer: starting Kyverno's admission controller (log {}) ...",
        log.display()
    );
    let mut controller = Process::spawn("kyverno", cmd, &log)?;
    let url = format!("https://127.0.0.1:{port}/validate");
    let client = reqwest::blocking::Client::builder()
        // Kyverno's own CA, made at start; the benchmark's client (wrk) does not verify either.
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()?;
    let started = Instant::now();
    wait_until(
        &mut controller,
        Duration::from_secs(180),
        Duration::from_millis(500),
        || denies(&client, &url),
    )?;
    eprintln!(
        "kyverno-peer: Kyverno denies under the policy after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("url {url}");
    println!("ready");

    while !STOP.load(Ordering::SeqCst) {
        if let Some(status) = controller.exited() {
            bail!(
                "Kyverno exited ({status}); last log lines:\n{}",
                controller.log_tail(30)
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
    eprintln!("kyverno-peer: stopping Kyverno, kube-apiserver and etcd ...");
    drop(controller);
    drop(cp);
    Ok(())
}

/// Applies what Kyverno's install manifest holds but its workloads (Deployments and
/// Services: no kubelet runs them), server-side (its CRDs are too large for client-side
/// apply), and waits for the CRDs.
fn install(cp: &ControlPlane, manifest: &Path) -> Result<()> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let kept: Vec<&str> = text
        .split("\n---")
        .filter(|doc| {
            let kind = doc
                .lines()
                .find_map(|l| l.strip_prefix("kind: "))
                .unwrap_or("");
            !matches!(kind.trim(), "Deployment" | "Service" | "")
        })
        .collect();
    ensure!(
        kept.len() > 20,
        "{} holds {} objects to apply: not Kyverno's install manifest",
        manifest.display(),
        kept.len()
    );
    let k = cp.kubectl();
    k.run_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        &kept.join("\n---\n"),
    )?
    .ok()
    .context("applying Kyverno's manifest")?;
    k.run(&[
        "wait",
        "--for=condition=established",
        "--timeout=60s",
        "crd",
        "--all",
    ])?
    .ok()
    .context("waiting for Kyverno's CRDs")?;
    Ok(())
}

/// Whether Kyverno answers an Application without identity with a denial (its policy
/// cache has the policy): the sign that it is ready for the benchmark.
fn denies(client: &reqwest::blocking::Client, url: &str) -> bool {
    let app = json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {"components": [{
            "name": "web",
            "type": "webservice",
            "traits": [{"type": "gateway", "properties": {"domain": "probe.example.com"}}],
        }]},
    });
    let mut review = review(
        "probe",
        "CREATE",
        "default",
        ("core.oam.dev", "v1beta1", "Application"),
        app,
        Value::Null,
    );
    // Kyverno maps the request's resource to its kind, as the API server sends it.
    review["request"]["resource"] =
        json!({"group": "core.oam.dev", "version": "v1beta1", "resource": "applications"});
    let Ok(answer) = client.post(url).json(&review).send() else {
        return false;
    };
    answer
        .json::<Value>()
        .is_ok_and(|v| v["response"]["allowed"] == false)
}

//! Rollouts without a failed admission: two webhook processes behind the chart's own Service
//! (a selector-less Service and one EndpointSlice per process, at this machine's non-loopback
//! address, resolved by the API server through `--enable-aggregator-routing`), the chart's
//! webhook configurations with `failurePolicy: Fail`, and a stream of admissions through the
//! real API server while each process in turn gets SIGTERM and comes back. This test plays
//! the kubelet and the endpoint-slice controller: it probes each process's `/readyz` every
//! `PROBE_PERIOD` and marks its endpoint ready or not. Every admission must get the webhook's
//! own verdict: not one "failed calling webhook".
//!
//! Also here, because it needs a webhook on a real cluster: every metric that the chart's
//! PrometheusRule names is one the webhook exports, with the value the rule expects.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use base64::Engine;
use oam_traefik_e2e::ControlPlane;
use oam_traefik_e2e::certs::PemFiles;
use oam_traefik_e2e::control_plane::https_client;
use oam_traefik_e2e::endpoints;
use oam_traefik_e2e::harness::repo_root;
use oam_traefik_e2e::ports::free_port;
use oam_traefik_e2e::process::Process;
use oam_traefik_e2e::webhook::{self, RELEASE, WEBHOOK_NAMESPACE};
use serde_json::{Value, json};

/// The chart's Service for release [`RELEASE`]; its port as the chart sets it.
const SERVICE: &str = "e2e-oam-traefik";
const SERVICE_PORT: u16 = 443;
/// How often the test probes `/readyz`, with a failure threshold of 1.
const PROBE_PERIOD: Duration = Duration::from_millis(500);
/// `--shutdown-delay`: well above the probe period plus the time a slice update takes to
/// reach the API server's informer.
const SHUTDOWN_DELAY_SECONDS: u64 = 4;
/// Threads sending admissions at once.
const CLIENTS: usize = 4;

/// One webhook process that can be stopped and started again on the same address.
struct Replica {
    name: &'static str,
    bin: PathBuf,
    address: IpAddr,
    port: u16,
    metrics_port: u16,
    tls: PemFiles,
    kubeconfig: PathBuf,
    dir: PathBuf,
    starts: usize,
    process: Option<Process>,
}

impl Replica {
    fn start(&mut self) -> Result<()> {
        self.starts += 1;
        let listen = SocketAddr::new(self.address, self.port);
        let mut cmd = webhook::command(&self.bin, listen, &self.tls, Some(&self.kubeconfig));
        cmd.arg("--metrics-listen")
            .arg(format!("127.0.0.1:{}", self.metrics_port))
            .arg("--shutdown-delay")
            .arg(SHUTDOWN_DELAY_SECONDS.to_string());
        let log = self.log_path(self.starts);
        self.process = Some(Process::spawn(
            &format!("oam-traefik-webhook-{}", self.name),
            cmd,
            &log,
        )?);
        Ok(())
    }

    /// SIGTERM, and wait until it has exited (after its shutdown delay and drain).
    fn stop(&mut self) -> Duration {
        let began = Instant::now();
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
        began.elapsed()
    }

    fn log_path(&self, start: usize) -> PathBuf {
        self.dir.join(format!("webhook-{}-{start}.log", self.name))
    }

    fn log(&self, start: usize) -> String {
        std::fs::read_to_string(self.log_path(start)).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("https://{}:{}", self.address, self.port)
    }
}

/// What the admissions got.
#[derive(Default)]
struct Tally {
    denied: AtomicUsize,
    allowed: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

/// A dry-run create of an Ingress through the API server as admin: `traefik` class with no
/// middleware is refused by the webhook (OT006); class `nginx` is not Traefik's and admitted.
fn admit(client: &reqwest::blocking::Client, api: &str, ns: &str, n: usize, tally: &Tally) {
    let traefik = n.is_multiple_of(2);
    let ingress = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": format!("r-{n}"), "namespace": ns},
        "spec": {
            "ingressClassName": if traefik { "traefik" } else { "nginx" },
            "rules": [{"host": "orders.example.com", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "orders", "port": {"number": 80}}}
            }]}}]
        }
    });
    let url = format!("{api}/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses?dryRun=All");
    let outcome = client
        .post(&url)
        .json(&ingress)
        .send()
        .and_then(|r| Ok((r.status().as_u16(), r.text()?)));
    let failure = match outcome {
        Ok((403, body))
            if traefik
                && body.contains("admission webhook \\\"validate.oam-traefik.io\\\" denied")
                && body.contains("OT006") =>
        {
            tally.denied.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Ok((201, _)) if !traefik => {
            tally.allowed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Ok((status, body)) => format!(
            "#{n} ({}): HTTP {status} {body}",
            ingress["spec"]["ingressClassName"]
        ),
        Err(e) => format!("#{n}: {e}"),
    };
    tally
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(failure);
}

/// Whether `/readyz` answers 200 now.
fn ready(client: &reqwest::blocking::Client, replica_url: &str) -> bool {
    client
        .get(format!("{replica_url}/readyz"))
        .timeout(Duration::from_secs(1))
        .send()
        .is_ok_and(|r| r.status().is_success())
}

#[test]
fn rolling_restarts_of_the_webhook_fail_no_admission() -> Result<()> {
    let host = endpoints::host_address()?;
    let cp = ControlPlane::start()?;
    let kubectl = cp.kubectl().clone();
    cp.namespace(WEBHOOK_NAMESPACE, &[])?;
    let ns = cp.namespace("rollout", &[])?;
    let bin = webhook::binary()?;

    // The API server calls `<service>.<namespace>.svc` at the endpoint's address.
    let dns = format!("{SERVICE}.{WEBHOOK_NAMESPACE}.svc");
    let host_text = host.to_string();
    let tls = cp
        .ca()
        .serving("oam-traefik-webhook", &[&dns, &host_text])?
        .write(cp.dir(), "rollout-serving")?;
    let mut replicas: Vec<Replica> = ["a", "b"]
        .into_iter()
        .map(|name| {
            Ok(Replica {
                name,
                bin: bin.clone(),
                address: host,
                port: free_port()?,
                metrics_port: free_port()?,
                tls: tls.clone(),
                kubeconfig: cp.kubeconfig().to_owned(),
                dir: cp.dir().to_owned(),
                starts: 0,
                process: None,
            })
        })
        .collect::<Result<_>>()?;
    let probe = https_client(cp.ca_file(), None)?;
    for r in &mut replicas {
        r.start()?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !replicas.iter().all(|r| ready(&probe, &r.url())) {
        if Instant::now() > deadline {
            bail!(
                "replicas not ready:\n{}\n{}",
                replicas[0].log(1),
                replicas[1].log(1)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }

    // The chart's Service and webhook configurations, with one slice per replica.
    endpoints::create_service(
        &kubectl,
        WEBHOOK_NAMESPACE,
        SERVICE,
        endpoints::WEBHOOK_PORT_NAME,
        SERVICE_PORT,
        host,
        replicas[0].port,
    )?;
    let slices = [
        format!("{SERVICE}-{}", replicas[0].port),
        endpoints::add_endpoint(
            &kubectl,
            WEBHOOK_NAMESPACE,
            SERVICE,
            endpoints::WEBHOOK_PORT_NAME,
            host,
            replicas[1].port,
        )?,
    ];
    let ca = base64::engine::general_purpose::STANDARD.encode(cp.ca().cert_pem());
    let rendered = webhook::render_chart_webhooks_with(
        cp.dir(),
        &json!({"webhook": {"caBundle": ca, "failurePolicy": "Fail"}}),
    )?;
    assert!(
        rendered.contains(&format!("name: {SERVICE}")) && !rendered.contains("url:"),
        "the chart did not render a Service clientConfig:\n{rendered}"
    );
    kubectl.run_stdin(&["apply", "-f", "-"], &rendered)?.ok()?;

    let api_client = {
        let admin = cp.admin_cert();
        https_client(cp.ca_file(), Some(admin))?
    };
    let api = cp.url().to_owned();
    // Registration takes a moment to reach the API server's webhook informer.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = Tally::default();
        admit(&api_client, &api, &ns, 0, &t);
        if t.denied.load(Ordering::Relaxed) == 1 {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the webhook never answered through the Service: {:?}",
                t.failures.lock().map(|f| f.clone())
            );
        }
        thread::sleep(Duration::from_millis(200));
    }

    // The endpoint-slice controller, as far as this test needs one.
    let stop = Arc::new(AtomicBool::new(false));
    let (flips_tx, flips_rx) = mpsc::channel::<String>();
    let prober = {
        let stop = stop.clone();
        let urls: Vec<String> = replicas.iter().map(Replica::url).collect();
        let slices = slices.clone();
        let kubectl = kubectl.clone();
        let probe = probe.clone();
        thread::spawn(move || -> Result<()> {
            let mut marked = [true, true];
            while !stop.load(Ordering::Relaxed) {
                for i in 0..2 {
                    let now = ready(&probe, &urls[i]);
                    if now != marked[i] {
                        endpoints::set_ready(&kubectl, WEBHOOK_NAMESPACE, &slices[i], now)?;
                        marked[i] = now;
                        let _ = flips_tx.send(format!("{} ready={now}", slices[i]));
                    }
                }
                thread::sleep(PROBE_PERIOD);
            }
            Ok(())
        })
    };

    let tally = Arc::new(Tally::default());
    let next = Arc::new(AtomicUsize::new(1));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, tally, next) = (stop.clone(), tally.clone(), next.clone());
            let (client, api, ns) = (api_client.clone(), api.clone(), ns.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    admit(&client, &api, &ns, n, &tally);
                }
            })
        })
        .collect();

    // The rollout: each replica in turn stops (SIGTERM) and comes back on the same address.
    thread::sleep(Duration::from_secs(2));
    let mut stopped_after = Vec::new();
    for replica in &mut replicas {
        stopped_after.push(replica.stop());
        thread::sleep(Duration::from_millis(500));
        replica.start()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(&probe, &replica.url()) {
            if Instant::now() > deadline {
                bail!(
                    "replica {} did not come back:\n{}",
                    replica.name,
                    replica.log(2)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        // Until the prober has put it back and it has taken traffic.
        thread::sleep(Duration::from_secs(3));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
    }
    prober
        .join()
        .map_err(|_| anyhow::anyhow!("the prober panicked"))??;
    let flips: Vec<String> = flips_rx.try_iter().collect();

    let failures = tally
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let (denied, allowed) = (
        tally.denied.load(Ordering::Relaxed),
        tally.allowed.load(Ordering::Relaxed),
    );
    eprintln!(
        "rollout: {} admissions ({denied} denied by the webhook, {allowed} allowed), {} failed; \
         stops took {stopped_after:?}; endpoint changes: {flips:?}",
        denied + allowed + failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} admissions failed during the rollout, first ones:\n{}\napiserver:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        cp.apiserver_log_tail(20)
    );
    // The rollout really happened: each replica left the endpoints and came back...
    for s in &slices {
        assert!(
            flips.contains(&format!("{s} ready=false")),
            "{s} never went unready: {flips:?}"
        );
        assert!(
            flips.contains(&format!("{s} ready=true")),
            "{s} never came back: {flips:?}"
        );
    }
    // ...after serving out its delay, and both of its lives answered reviews.
    for r in &replicas {
        let first = r.log(1);
        assert!(first.contains("/readyz now fails"), "{}: {first}", r.name);
        assert!(first.contains("drained"), "{}: {first}", r.name);
        for life in [1, 2] {
            assert!(
                r.log(life).contains("\"decision\""),
                "replica {} answered no review in life {life}:\n{}",
                r.name,
                r.log(life)
            );
        }
    }
    for took in &stopped_after {
        assert!(
            *took >= Duration::from_secs(SHUTDOWN_DELAY_SECONDS),
            "a replica exited before its shutdown delay: {stopped_after:?}"
        );
    }
    assert!(
        denied + allowed >= 40,
        "too few admissions to tell: {denied} + {allowed}"
    );

    prometheus_rule_metrics_are_exported(&replicas[0], &tls)?;
    helm_test_passes_only_while_the_webhook_refuses(&cp, &ns, &bin)?;
    Ok(())
}

/// The chart's `helm test` pod, run as the binary with the pod's arguments and as the pod's
/// ServiceAccount with only the Role the chart gives it: passes while the webhook refuses the
/// route, fails (naming why) once the validating webhook is gone.
fn helm_test_passes_only_while_the_webhook_refuses(
    cp: &ControlPlane,
    ns: &str,
    bin: &Path,
) -> Result<()> {
    let rendered = helm(&[
        "--show-only",
        "templates/tests/self-test.yaml",
        "--set",
        &format!("test.namespace={ns}"),
    ])?;
    let docs: Vec<Value> = rendered
        .split("\n---")
        .filter(|d| d.contains("kind:"))
        .map(|d| {
            let out = cp
                .kubectl()
                .run_stdin(&["create", "--dry-run=client", "-o", "json", "-f", "-"], d)?
                .ok()?;
            Ok(serde_json::from_str(&out.stdout)?)
        })
        .collect::<Result<_>>()?;
    let pod = docs
        .iter()
        .find(|d| d["kind"] == "Pod")
        .context("no test Pod")?;
    assert_eq!(pod["metadata"]["annotations"]["helm.sh/hook"], "test");
    let account = pod["spec"]["serviceAccountName"]
        .as_str()
        .context("no ServiceAccount")?;
    let args: Vec<String> = pod["spec"]["containers"][0]["args"]
        .as_array()
        .context("no args")?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    assert_eq!(args, ["--self-test", ns]);
    for kind in ["ServiceAccount", "Role", "RoleBinding"] {
        let object = docs
            .iter()
            .find(|d| d["kind"] == kind)
            .with_context(|| format!("no {kind}"))?;
        cp.kubectl()
            .run_stdin(&["apply", "-f", "-"], &object.to_string())?
            .ok()?;
    }
    let kubeconfig = cp.service_account_kubeconfig(WEBHOOK_NAMESPACE, account, cp.dir())?;
    let self_test = || -> Result<std::process::Output> {
        Ok(Command::new(bin)
            .args(&args)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .output()?)
    };

    let out = self_test()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "helm test failed with the webhook in place:\n{stdout}{stderr}"
    );
    assert!(
        stdout.starts_with("ok: ") && stdout.contains("OT006"),
        "{stdout}"
    );
    // A dry run: nothing was stored.
    let list = cp
        .kubectl()
        .run(&["get", "ingresses", "-n", ns, "-o", "name"])?
        .ok()?;
    assert!(list.stdout.trim().is_empty(), "{}", list.stdout);

    cp.kubectl()
        .run(&["delete", "validatingwebhookconfiguration", SERVICE])?
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = self_test()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && stderr.contains("was admitted") {
            assert!(
                stderr.contains("validate.oam-traefik.io is not enforcing"),
                "{stderr}"
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "helm test kept passing without the validating webhook: {}{stderr}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        thread::sleep(Duration::from_millis(300));
    }
}

/// Every `oam_traefik_webhook_*` metric that the chart's PrometheusRule names is exported by
/// the running webhook, and the certificate gauge is the served certificate's notAfter.
fn prometheus_rule_metrics_are_exported(replica: &Replica, tls: &PemFiles) -> Result<()> {
    let rule = render_prometheus_rule()?;
    let named: BTreeSet<String> = rule
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("oam_traefik_webhook_"))
        .map(str::to_owned)
        .collect();
    assert!(
        named.len() >= 4,
        "the rule names too few metrics: {named:?}\n{rule}"
    );
    let text =
        reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", replica.metrics_port))?
            .text()?;
    for metric in &named {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{metric}{{"))
                    || l.starts_with(&format!("{metric} "))),
            "the PrometheusRule uses {metric}, which the webhook does not export:\n{text}"
        );
    }
    // Synced caches report state="synced" 1, as the stale-cache alert reads them (this control
    // plane has no CRDs: the built-in Ingress is what it caches).
    assert!(
        text.contains("oam_traefik_webhook_watch_cache_state{kind=\"Ingress\",state=\"synced\"} 1"),
        "{text}"
    );
    assert!(text.contains("decision=\"denied\""), "{text}");
    let expiry: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("oam_traefik_webhook_certificate_expiry_timestamp_seconds "))
        .context("no certificate expiry")?
        .trim()
        .parse()?;
    let not_after = not_after_of(&tls.cert)?;
    assert_eq!(
        expiry, not_after,
        "the gauge is not the served certificate's notAfter"
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    assert!(expiry > now, "{expiry} is not in the future");
    Ok(())
}

/// The chart's PrometheusRule, rendered by the real helm.
fn render_prometheus_rule() -> Result<String> {
    helm(&[
        "--show-only",
        "templates/prometheusrule.yaml",
        "--set",
        "metrics.prometheusRule.enabled=true",
    ])
}

/// `helm template` of the chart as release [`RELEASE`] in [`WEBHOOK_NAMESPACE`] with `args`.
fn helm(args: &[&str]) -> Result<String> {
    let repo = repo_root();
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rollout-helm");
    // Built by tests/tools/build.sh, which render_chart_webhooks_with has run.
    let bin = std::env::var_os("OAM_TRAEFIK_TOOLS_BIN")
        .map_or_else(|| repo.join(".cache/bin"), PathBuf::from);
    let out = Command::new(bin.join("helm"))
        .args(["template", RELEASE])
        .arg(repo.join("charts/oam-traefik"))
        .args(["--namespace", WEBHOOK_NAMESPACE])
        .args(args)
        .env("HELM_CACHE_HOME", scratch.join("cache"))
        .env("HELM_CONFIG_HOME", scratch.join("config"))
        .env("HELM_DATA_HOME", scratch.join("data"))
        .output()?;
    if !out.status.success() {
        bail!("helm template: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// notAfter of the PEM certificate at `path`, in Unix seconds, as openssl reads it.
fn not_after_of(path: &Path) -> Result<i64> {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(path)
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!("openssl: {}", String::from_utf8_lossy(&out.stderr));
    }
    // notAfter=2027-11-29 16:20:00Z
    let text = String::from_utf8(out.stdout)?;
    let date = text
        .trim()
        .strip_prefix("notAfter=")
        .context("no notAfter")?;
    let out = Command::new("date")
        .args(["-u", "-d", date, "+%s"])
        .output()?;
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

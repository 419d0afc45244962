//! Faults, as an operator meets them, each under a stream of admissions whose failures are
//! counted: the API server stopped and restarted, the self-signed CA rotated, a policy
//! written in two pieces, files left alone, a webhook started before its caches sync.
//! Speed is never asserted: only generous bounds on waits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use oam_traefik_e2e::admission::review;
use oam_traefik_e2e::control_plane::https_client;
use oam_traefik_e2e::process::Process;
use oam_traefik_e2e::webhook::{self, WEBHOOK_NAMESPACE};
use oam_traefik_e2e::{ControlPlane, Webhook};
use serde_json::{Value, json};

/// Issuers under login.example.com only.
const POLICY: &str = r#"apiVersion: oam-traefik.io/v1alpha1
kind: AdmissionPolicy
spec:
  allowedIssuers: ["https://login.example.com/"]
"#;

/// Tests that register the chart's webhook configurations on the shared control plane
/// take turns: the configurations have fixed names.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes the webhook configurations when a test ends, also on panic: a registration
/// left behind would send the next test's writes to a webhook that is gone.
struct Registered<'a>(&'a ControlPlane);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if let Err(e) = webhook::unregister(self.0) {
            eprintln!("unregistering the webhook: {e:#}");
        }
    }
}

/// What the API server answered to a dry-run create.
#[derive(Debug)]
enum Answer {
    Allowed,
    /// The webhook refused it: the message.
    Denied(String),
    /// The webhook could not be called, or said something else: status and message.
    Failed(String),
    /// The API server itself did not answer (it is down).
    Unreachable(String),
}

/// The API server as the admin, over HTTPS, for dry-run creates (no kubectl process per request).
struct Api {
    url: String,
    client: reqwest::blocking::Client,
}

impl Api {
    fn new(cp: &ControlPlane) -> Self {
        Self {
            url: cp.url().to_string(),
            client: https_client(cp.ca_file(), Some(cp.admin_cert())).expect("client"),
        }
    }

    /// POST `object` to `path` (`apis/group/version/namespaces/ns/plural`); `dry_run` or for real.
    fn create(&self, path: &str, object: &Value, dry_run: bool) -> Answer {
        let query = if dry_run { "?dryRun=All" } else { "" };
        let resp = match self
            .client
            .post(format!("{}/{path}{query}", self.url))
            .json(object)
            .send()
        {
            Ok(r) => r,
            Err(e) => return Answer::Unreachable(format!("{e}")),
        };
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or_default().to_string();
        match status {
            200 | 201 => Answer::Allowed,
            _ if message.contains("denied the request") => Answer::Denied(message),
            _ if message.contains("failed calling webhook") => {
                Answer::Failed(format!("{status}: {message}"))
            }
            _ => Answer::Unreachable(format!("{status}: {message}")),
        }
    }

    fn app(&self, ns: &str, app: &Value) -> Answer {
        let path = format!("apis/core.oam.dev/v1beta1/namespaces/{ns}/applications");
        self.create(&path, app, true)
    }
}

/// An Application exposing a route under an identity rule from `issuer`, granting `scopes`.
fn app(name: &str, issuer: &str, scopes: &[&str]) -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {"components": [{
            "name": "web",
            "type": "webservice",
            "properties": {"image": "ghcr.io/example/web:1.0"},
            "traits": [
                {"type": "gateway", "properties": {"domain": "web.example.com", "class": "traefik", "http": {"/": 8080}}},
                {"type": "identity", "properties": {
                    "version": "v1", "provider": "oidc", "issuer": issuer,
                    "audiences": ["web"], "scopes": scopes, "groups": ["team-web"]
                }}
            ]
        }]}
    })
}

fn good_app(name: &str) -> Value {
    app(name, "https://login.example.com/realms/prod", &["web:read"])
}

fn forward_auth(name: &str) -> Value {
    json!({
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": name},
        "spec": {"forwardAuth": {"address": "http://auth.platform.svc:4180/verify"}}
    })
}

/// An IngressRoute `api` whose only middleware is `middleware`.
fn route(middleware: &str) -> Value {
    json!({
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": "api"},
        "spec": {
            "entryPoints": ["websecure"],
            "routes": [{
                "match": "Host(`api.example.com`)",
                "kind": "Rule",
                "services": [{"name": "api", "port": 8080}],
                "middlewares": [{"name": middleware}]
            }]
        }
    })
}

/// Counts of what a stream of admissions got.
#[derive(Default)]
struct Tally {
    allowed: AtomicUsize,
    denied: AtomicUsize,
    failed: Mutex<Vec<String>>,
}

/// Sends `next()` as dry-run creates of Applications in `ns`, in `threads` threads, until stopped.
struct Stream {
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Stream {
    fn start(cp: &ControlPlane, ns: &str, threads: usize, object: Value) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let threads = (0..threads)
            .map(|_| {
                let (stop, tally, ns, object) =
                    (stop.clone(), tally.clone(), ns.to_string(), object.clone());
                let api = Api::new(cp);
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match api.app(&ns, &object) {
                            Answer::Allowed => {
                                tally.allowed.fetch_add(1, Ordering::Relaxed);
                            }
                            Answer::Denied(_) => {
                                tally.denied.fetch_add(1, Ordering::Relaxed);
                            }
                            Answer::Failed(m) => tally
                                .failed
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(m),
                            // The API server is down: no admission happened.
                            Answer::Unreachable(_) => thread::sleep(Duration::from_millis(100)),
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            tally,
            threads,
        }
    }

    /// Stop and return (allowed, denied, failures).
    fn finish(self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let failed =
            std::mem::take(&mut *self.tally.failed.lock().unwrap_or_else(|e| e.into_inner()));
        (
            self.tally.allowed.load(Ordering::Relaxed),
            self.tally.denied.load(Ordering::Relaxed),
            failed,
        )
    }
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + limit;
    loop {
        if check().is_none() {
            return;
        }
        if Instant::now() > deadline {
            panic!("{what}: gave up after {limit:?}; last: {:?}", check());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn after_an_api_server_outage_the_caches_catch_up_without_a_restart() {
    let mut cp = ControlPlane::start().expect("control plane");
    cp.install_crds().expect("CRDs");
    let hook = Webhook::start(&cp, Some(POLICY)).expect("webhook");
    hook.register(&cp).expect("registered");
    let ns = cp.namespace("outage", &[]).expect("namespace");
    let api = Api::new(&cp);
    let routes = format!("apis/traefik.io/v1alpha1/namespaces/{ns}/ingressroutes");
    let middlewares = format!("apis/traefik.io/v1alpha1/namespaces/{ns}/middlewares");

    // Before: a route to a Middleware that does not exist is refused.
    wait_for(
        "OT004 for a missing Middleware",
        Duration::from_secs(30),
        || match api.create(&routes, &route("sso"), true) {
            Answer::Denied(m) if m.contains("OT004") => None,
            other => Some(format!("{other:?}")),
        },
    );
    let pid = hook.pid();
    let stream = Stream::start(&cp, &ns, 2, good_app("steady"));
    thread::sleep(Duration::from_secs(2));

    cp.stop_apiserver();
    let down = Instant::now();
    let mut stale = String::new();
    wait_for(
        "/readyz to show the stale caches",
        Duration::from_secs(30),
        || match hook.readyz() {
            Ok((_, text)) if text.contains("Middleware: stale since") => {
                stale = text;
                None
            }
            other => Some(format!("{other:?}")),
        },
    );
    eprintln!("/readyz while the API server is down:\n{stale}");
    // A review decided meanwhile (straight to the webhook) says it used a stale cache.
    let mut object = route("sso");
    object["metadata"]["namespace"] = json!(ns);
    let body = review(
        "during-outage",
        "CREATE",
        &ns,
        ("traefik.io", "v1alpha1", "IngressRoute"),
        object,
        Value::Null,
    );
    // Decided, not 503: the caches of kinds the harness does not serve (Traefik v2's
    // traefik.containo.us group) stay "absent" while the API server is unreachable; they
    // do not fall back to "not synced".
    let (status, text) = post(&hook.client().expect("client"), &hook.url(), &body);
    assert_eq!(status, 200, "{text}");
    wait_for("the decision line", Duration::from_secs(10), || {
        let log = hook.log();
        let Some(line) = log.lines().find(|l| l.contains(r#""uid":"during-outage""#)) else {
            return Some("no decision line yet".to_string());
        };
        (!line.contains(r#""stale_cache":"Middleware stale since"#)).then(|| line.to_string())
    });
    thread::sleep(Duration::from_secs(20).saturating_sub(down.elapsed()));
    cp.start_apiserver().expect("the API server comes back");
    eprintln!("API server down for {:.1} s", down.elapsed().as_secs_f64());

    // Just after recovery: the Middleware is created, and the webhook must see it.
    let created = Instant::now();
    wait_for(
        "the Middleware created",
        Duration::from_secs(30),
        || match api.create(&middlewares, &forward_auth("sso"), false) {
            Answer::Allowed => None,
            Answer::Unreachable(why) => Some(format!("API server not answering yet: {why}")),
            other => Some(format!("{other:?}")),
        },
    );
    let mut wrong = 0;
    let limit = Duration::from_secs(20);
    loop {
        match api.create(&routes, &route("sso"), true) {
            Answer::Allowed => break,
            Answer::Denied(m) if m.contains("OT004") => wrong += 1,
            other => eprintln!("meanwhile: {other:?}"),
        }
        assert!(
            created.elapsed() < limit,
            "the webhook still says the Middleware does not exist {limit:?} after it was created ({wrong} wrong refusals); /readyz: {:?}; webhook log:\n{}",
            hook.readyz(),
            hook.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "the route was admitted {:.1} s after the Middleware was created ({wrong} refusals before)",
        created.elapsed().as_secs_f64()
    );
    for _ in 0..10 {
        assert!(matches!(
            api.create(&routes, &route("sso"), true),
            Answer::Allowed
        ));
    }
    // Every kind catches up (the Middleware's first: the route was admitted).
    wait_for(
        "every cache synced again",
        Duration::from_secs(30),
        || match hook.readyz() {
            Ok((200, text)) if !text.contains("stale") && text.contains("Middleware: synced") => {
                None
            }
            other => Some(format!("{other:?}")),
        },
    );
    assert_eq!(hook.pid(), pid, "the webhook was not restarted");
    let log = hook.log();
    assert!(log.contains("watch broke"), "{log}");
    assert!(log.contains("watch cache re-synced"), "{log}");

    let (allowed, denied, failed) = stream.finish();
    eprintln!(
        "stream: {allowed} allowed, {denied} denied, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "admissions failed: {failed:?}");
    assert_eq!(denied, 0, "a good app was refused");
    assert!(
        allowed > 10,
        "too few admissions to prove anything: {allowed}"
    );
}

/// The self-signed mode of the webhook, served on loopback: `--service-name 127.0.0.1`
/// puts 127.0.0.1 in the certificate, so the API server can call it by address.
fn start_self_signed(cp: &ControlPlane, port: u16, configurations: &str, log: &Path) -> Process {
    let mut cmd = Command::new(webhook::binary().expect("binary"));
    cmd.args(["--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--self-signed-secret",
            &format!("{WEBHOOK_NAMESPACE}/rotation-tls"),
        ])
        .args(["--service-name", "127.0.0.1"])
        .args(["--webhook-configurations", configurations])
        .args(["--self-signed-check-seconds", "1"])
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args(["--namespace", WEBHOOK_NAMESPACE])
        .env("RUST_LOG", "info");
    Process::spawn("oam-traefik-webhook", cmd, log).expect("webhook starts")
}

fn names(cp: &ControlPlane, kind: &str) -> String {
    let out = cp
        .kubectl()
        .run(&["get", kind, "-o", "jsonpath={.items[*].metadata.name}"])
        .expect("kubectl")
        .ok()
        .expect("names");
    out.stdout.trim().to_string()
}

#[test]
fn a_self_signed_ca_rotation_under_load_fails_no_admission() {
    let _serial = serial();
    let cp = ControlPlane::shared();
    let k = cp.kubectl();
    let _ = k.create_namespace(WEBHOOK_NAMESPACE, &[]);
    let ns = cp.namespace("ca-rotation", &[]).expect("namespace");
    let port = oam_traefik_e2e::ports::free_port().expect("port");
    let url = format!("https://127.0.0.1:{port}");
    // Registered with a CA that did not sign anything the webhook serves: it publishes its own.
    let wrong = base64::engine::general_purpose::STANDARD.encode(cp.ca().cert_pem());
    let rendered = webhook::render_chart_webhooks(cp.dir(), &url, &wrong).expect("chart");
    k.run_stdin(&["apply", "-f", "-"], &rendered)
        .expect("kubectl")
        .ok()
        .expect("registered");
    let _registered = Registered(cp);
    let configurations = format!(
        "{},{}",
        names(cp, "mutatingwebhookconfigurations"),
        names(cp, "validatingwebhookconfigurations")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("webhook.log");
    let _hook = start_self_signed(cp, port, &configurations, &log);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let api = Api::new(cp);
    wait_for(
        "admissions through the self-signed webhook",
        Duration::from_secs(60),
        || match api.app(&ns, &good_app("first")) {
            Answer::Allowed => None,
            other => Some(format!("{other:?}\n{}", read_log())),
        },
    );

    let stream = Stream::start(cp, &ns, 2, good_app("steady"));
    thread::sleep(Duration::from_secs(2));
    let secret = |key: &str| -> Option<String> {
        let s = k
            .get_json(WEBHOOK_NAMESPACE, "secret", "rotation-tls")
            .ok()?;
        let b = base64::engine::general_purpose::STANDARD
            .decode(s["data"][key].as_str()?)
            .ok()?;
        String::from_utf8(b).ok()
    };
    let cert = secret("tls.crt").expect("tls.crt");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    k.run(&[
        "annotate",
        "-n",
        WEBHOOK_NAMESPACE,
        "secret",
        "rotation-tls",
        "--overwrite",
        &format!("oam-traefik.io/not-after={}", now + 1),
    ])
    .expect("kubectl")
    .ok()
    .expect("annotated");
    wait_for("a renewed certificate", Duration::from_secs(60), || {
        (secret("tls.crt").as_deref() == Some(cert.as_str())).then(read_log)
    });
    wait_for(
        "the renewed certificate served",
        Duration::from_secs(60),
        || (!read_log().contains("serving the renewed certificate")).then(read_log),
    );
    wait_for("the old CA dropped", Duration::from_secs(90), || {
        (!read_log().contains("caBundle now trusts the current CA only")).then(read_log)
    });
    let ca = secret("ca.crt").expect("ca.crt");
    assert_eq!(ca.matches("BEGIN CERTIFICATE").count(), 1, "{ca}");
    thread::sleep(Duration::from_secs(3));
    let (allowed, denied, failed) = stream.finish();
    eprintln!(
        "stream: {allowed} allowed, {denied} denied, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "admissions failed during the rotation: {failed:?}"
    );
    assert_eq!(denied, 0);
    assert!(
        allowed > 20,
        "too few admissions to prove anything: {allowed}"
    );
}

#[test]
fn a_policy_written_in_two_pieces_never_loosens_the_rules() {
    let _serial = serial();
    let cp = ControlPlane::shared();
    let hook = Webhook::start(cp, Some(POLICY)).expect("webhook");
    hook.register(cp).expect("registered");
    let _registered = Registered(cp);
    let ns = cp.namespace("policy-pieces", &[]).expect("namespace");
    let api = Api::new(cp);
    let outsider = app(
        "outsider",
        "https://evil.example.com/realms/x",
        &["web:read"],
    );
    wait_for(
        "the strict policy in force",
        Duration::from_secs(30),
        || match api.app(&ns, &outsider) {
            Answer::Denied(m) if m.contains("OT002") => None,
            other => Some(format!("{other:?}")),
        },
    );

    let stream = Stream::start(cp, &ns, 2, outsider);
    thread::sleep(Duration::from_secs(1));
    let file = hook.policy_file().expect("policy file");
    // Rewritten in place, in two pieces: the first is valid but all defaults (any issuer).
    std::fs::write(
        file,
        "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n",
    )
    .expect("first piece");
    thread::sleep(Duration::from_millis(1500));
    std::fs::write(file, format!("{POLICY}  deniedScopes: [admin]\n")).expect("second piece");

    let admin = app("admin", "https://login.example.com/realms/prod", &["admin"]);
    wait_for(
        "the new strict policy in force",
        Duration::from_secs(30),
        || match api.app(&ns, &admin) {
            Answer::Denied(m) if m.contains("OT003") => None,
            other => Some(format!("{other:?}")),
        },
    );
    thread::sleep(Duration::from_secs(1));
    let (allowed, denied, failed) = stream.finish();
    eprintln!(
        "stream: {allowed} allowed, {denied} denied, {} failed",
        failed.len()
    );
    assert_eq!(
        allowed, 0,
        "the half-written policy was in force: {allowed} outsiders admitted"
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        denied > 10,
        "too few admissions to prove anything: {denied}"
    );
    let log = hook.log();
    let reloads: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("policy reloaded"))
        .collect();
    assert_eq!(
        reloads.len(),
        1,
        "one reload, of the whole file: {reloads:?}"
    );
    assert!(reloads[0].contains("deniedScopes: added"), "{}", reloads[0]);
    assert!(!reloads[0].contains("LOOSENS"), "{}", reloads[0]);
}

/// POST a review straight to the webhook: (HTTP status, body).
fn post(client: &reqwest::blocking::Client, url: &str, body: &Value) -> (u16, String) {
    let client = client.clone();
    match client
        .post(format!("{url}/validate"))
        .json(body)
        .timeout(Duration::from_secs(20))
        .send()
    {
        Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

#[test]
fn files_left_alone_are_not_reloaded_or_logged() {
    let cp = ControlPlane::shared();
    let hook = Webhook::start(cp, Some(POLICY)).expect("webhook");
    let client = hook.client().expect("client");
    thread::sleep(Duration::from_secs(1));
    let before = hook.log().lines().count();
    let body = review(
        "quiet",
        "CREATE",
        "quiet",
        ("core.oam.dev", "v1beta1", "Application"),
        good_app("quiet"),
        Value::Null,
    );
    let until = Instant::now() + Duration::from_secs(10);
    let mut answered = 0;
    while Instant::now() < until {
        let (status, text) = post(&client, &hook.url(), &body);
        assert_eq!(status, 200, "{text}");
        answered += 1;
        thread::sleep(Duration::from_millis(50));
    }
    let log = hook.log();
    let other: Vec<&str> = log
        .lines()
        .skip(before)
        .filter(|l| !l.contains("admission decision"))
        .collect();
    assert!(answered > 20, "{answered}");
    assert!(
        other.is_empty(),
        "lines besides decisions while nothing changed: {other:#?}"
    );
    assert!(!log.contains("reloaded"), "{log}");
}

/// A TCP proxy to `upstream` that holds every connection until opened, and that can make
/// the connections it has so far go silent (a half-open connection: nothing passes, nothing closes).
struct Gate {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    /// Connections numbered below this pass nothing any more.
    silent_below: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

impl Gate {
    fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let open = Arc::new(AtomicBool::new(false));
        let silent_below = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (gate, silent, count) = (open.clone(), silent_below.clone(), accepted.clone());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let id = count.fetch_add(1, Ordering::SeqCst);
                let (gate, silent) = (gate.clone(), silent.clone());
                thread::spawn(move || {
                    while !gate.load(Ordering::Relaxed) {
                        thread::sleep(Duration::from_millis(20));
                    }
                    let Ok(server) = TcpStream::connect(upstream) else {
                        return;
                    };
                    pipe(client, server, move || id < silent.load(Ordering::SeqCst));
                });
            }
        });
        Self {
            addr,
            open,
            silent_below,
            accepted,
        }
    }

    /// The switch that lets connections through.
    fn opener(&self) -> Arc<AtomicBool> {
        self.open.clone()
    }

    /// Every connection made so far goes silent, for good; new ones pass.
    fn silence(&self) {
        self.silent_below
            .store(self.accepted.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

fn pipe(a: TcpStream, b: TcpStream, silent: impl Fn() -> bool + Clone + Send + 'static) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let copy = move |mut from: TcpStream, mut to: TcpStream, silent: &dyn Fn() -> bool| {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if silent() {
                // Swallow everything, close nothing: the peer hears silence.
                loop {
                    thread::sleep(Duration::from_secs(3600));
                }
            }
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    };
    let other = silent.clone();
    thread::spawn(move || copy(a, b2, &other));
    copy(b, a2, &silent);
}

/// A kubeconfig like the control plane's that reaches the API server through `gate`.
fn kubeconfig_through(cp: &ControlPlane, gate: &Gate, dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(cp.kubeconfig()).expect("kubeconfig");
    let path = dir.join(format!("kubeconfig-{}", gate.addr.port()));
    std::fs::write(
        &path,
        text.replace(cp.url(), &format!("https://{}", gate.addr)),
    )
    .expect("write");
    path
}

#[test]
fn a_webhook_started_before_its_caches_sync_decides_nothing_without_them() {
    let _serial = serial();
    let cp = ControlPlane::shared();
    let k = cp.kubectl();
    let ns = cp.namespace("early", &[]).expect("namespace");
    // No webhook is registered (the others take turns and unregister): plain creates.
    k.apply(&ns, &forward_auth("sso").to_string())
        .expect("kubectl")
        .ok()
        .expect("middleware");
    k.apply(&ns, &route("sso").to_string())
        .expect("kubectl")
        .ok()
        .expect("route");
    let mut mw = forward_auth("sso");
    mw["metadata"]["namespace"] = json!(ns);
    // Deleting a Middleware that a route depends on: refused (OT008) by a webhook that knows
    // the routes; a webhook deciding from empty caches would have to let it through.
    let body = review(
        "early",
        "DELETE",
        &ns,
        ("traefik.io", "v1alpha1", "Middleware"),
        Value::Null,
        mw,
    );
    let upstream: SocketAddr = cp
        .url()
        .trim_start_matches("https://")
        .parse()
        .expect("address");
    let dir = tempfile::tempdir().expect("tempdir");

    // The API server is out of reach until half a second after the review arrives.
    let gate = Gate::start(upstream);
    let kubeconfig = kubeconfig_through(cp, &gate, dir.path());
    let hook = Webhook::spawn(cp, Some(POLICY), Some(&kubeconfig)).expect("webhook");
    let client = hook.client().expect("client");
    wait_for(
        "the webhook to listen",
        Duration::from_secs(60),
        || match hook.readyz() {
            Ok((503, text)) if text.contains("waiting for watch caches") => None,
            other => Some(format!("{other:?}")),
        },
    );
    let opener = {
        let open = gate.opener();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(500));
            open.store(true, Ordering::Relaxed);
        })
    };
    let (status, text) = post(&client, &hook.url(), &body);
    let _ = opener.join();
    eprintln!("early review: HTTP {status}: {text}");
    if status == 200 {
        let r: Value = serde_json::from_str(&text).expect("review");
        assert_eq!(
            r["response"]["allowed"], false,
            "decided without the caches: {text}"
        );
        assert!(text.contains("OT008"), "{text}");
    } else {
        // The caches did not sync in time on a slow machine: no decision, which is also right.
        assert_eq!(status, 503, "{text}");
    }
    drop(hook);

    // An API server that never answers: the review is not decided at all.
    let closed = Gate::start(upstream);
    let kubeconfig = kubeconfig_through(cp, &closed, dir.path());
    let hook = Webhook::spawn(cp, Some(POLICY), Some(&kubeconfig)).expect("webhook");
    wait_for(
        "the webhook to listen",
        Duration::from_secs(60),
        || match hook.readyz() {
            Ok((503, _)) => None,
            other => Some(format!("{other:?}")),
        },
    );
    let (status, text) = post(&client, &hook.url(), &body);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("not synced"), "{text}");
    // The log line is written by the log thread, possibly just after the answer went out.
    wait_for("the undecided line", Duration::from_secs(10), || {
        let log = hook.log();
        (!log.contains("admission request not decided")).then_some(log)
    });
}

#[test]
fn a_watch_that_goes_silent_is_replaced() {
    let _serial = serial();
    let cp = ControlPlane::shared();
    let k = cp.kubectl();
    let ns = cp.namespace("silent", &[]).expect("namespace");
    let upstream: SocketAddr = cp
        .url()
        .trim_start_matches("https://")
        .parse()
        .expect("address");
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = Gate::start(upstream);
    gate.opener().store(true, Ordering::Relaxed);
    let kubeconfig = kubeconfig_through(cp, &gate, dir.path());
    let mut hook = Webhook::spawn(cp, Some(POLICY), Some(&kubeconfig)).expect("webhook");
    hook.wait_ready().expect("ready");
    let client = hook.client().expect("client");
    let mut object = route("sso");
    object["metadata"]["namespace"] = json!(ns);
    let body = review(
        "silent",
        "CREATE",
        &ns,
        ("traefik.io", "v1alpha1", "IngressRoute"),
        object,
        Value::Null,
    );
    let allowed = |client: &reqwest::blocking::Client| {
        let (status, text) = post(client, &hook.url(), &body);
        assert_eq!(status, 200, "{text}");
        let r: Value = serde_json::from_str(&text).expect("review");
        (r["response"]["allowed"] == true, text)
    };
    let (ok, text) = allowed(&client);
    assert!(
        !ok && text.contains("OT004"),
        "the Middleware does not exist yet: {text}"
    );

    // Every connection to the API server goes silent without closing (a network that
    // drops packets); only new connections get through. Then the Middleware appears.
    gate.silence();
    k.apply(&ns, &forward_auth("sso").to_string())
        .expect("kubectl")
        .ok()
        .expect("middleware");
    let created = Instant::now();
    let limit = Duration::from_secs(180);
    loop {
        let (ok, text) = allowed(&client);
        if ok {
            break;
        }
        assert!(
            created.elapsed() < limit,
            "the webhook never saw the Middleware over its silent watch: {text}\n{}",
            hook.log()
        );
        thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "the silent watch was replaced and the Middleware seen after {:.1} s",
        created.elapsed().as_secs_f64()
    );
}

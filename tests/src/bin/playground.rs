//! `cargo playground`: what the tests start, left running for a person to try.
//!
//! A real etcd and kube-apiserver on loopback with the upstream CRDs, the real
//! `oam-traefik-webhook` registered through the chart's webhook configurations, KubeVela's
//! real controller (vela-core) with its definitions and the chart's `identity` definitions,
//! rendering what the webhook admitted; and the request path: a real Traefik watching the
//! API server, the real `oam-traefik-auth` as the identity Middleware's forwardAuth, a real
//! OpenID provider (ory/hydra) and a backend that echoes what it receives. It prints the
//! kubeconfig, a token of the OpenID provider and what to try, then waits; Ctrl-C (or
//! SIGTERM) stops every process it started and removes its folder (set
//! `OAM_TRAEFIK_E2E_KEEP=1` to keep it).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use oam_traefik_e2e::backend::{self, HttpServer};
use oam_traefik_e2e::hydra::{Hydra, HydraConfig};
use oam_traefik_e2e::kubevela::VelaCore;
use oam_traefik_e2e::traefik::Traefik;
use oam_traefik_e2e::verifier::Verifier;
use oam_traefik_e2e::{ControlPlane, Webhook, endpoints, harness};
use serde_json::json;

/// The request path's app: its namespace, name, component and host.
const NAMESPACE: &str = "playground";
const APP: &str = "hello";
const COMPONENT: &str = "web";
const HOST: &str = "hello.playground.test";
/// The port the gateway trait's Service exposes, and its name as the trait writes it.
const PORT: u16 = 8080;
const PORT_NAME: &str = "port-8080";

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() {
    if let Err(e) = run() {
        eprintln!("playground: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    // Before anything starts, so that an early Ctrl-C still stops what did start.
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    let handler = on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t;
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }

    eprintln!("playground: building the webhook and the plugin (cargo test --no-run) ...");
    let webhook_bin = oam_traefik_e2e::webhook::binary()?;
    let bin_dir = webhook_bin
        .parent()
        .context("the webhook binary has no folder")?
        .to_owned();
    eprintln!("playground: starting etcd and kube-apiserver ...");
    let cp = ControlPlane::start()?;
    cp.install_crds()?;
    eprintln!("playground: starting the webhook and registering it ...");
    let webhook = Webhook::start(&cp, None)?;
    webhook.register(&cp)?;
    eprintln!("playground: starting the OpenID provider (ory/hydra) and oam-traefik-auth ...");
    let path = RequestPath::start(&cp)?;
    eprintln!("playground: installing KubeVela's definitions and starting vela-core ...");
    let vela = VelaCore::start_with(
        &cp,
        &json!({"identity": {"authService": {"address": path.verifier.verify_url()}}}),
    )?;

    print_welcome(&cp, &webhook, &path, &bin_dir);
    while !STOP.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "\nplayground: stopping vela-core, Traefik, oam-traefik-auth, hydra, the webhook, \
         kube-apiserver and etcd ..."
    );
    // Drop order: the controllers and the request path first, then the control plane
    // (API server before etcd).
    drop(vela);
    drop(path);
    drop(webhook);
    drop(cp);
    Ok(())
}

/// Traefik, the verifier, the OpenID provider and the backend, with the app's namespace
/// and the backend's endpoint ready for the app a person applies.
struct RequestPath {
    traefik: Traefik,
    verifier: Verifier,
    idp: Hydra,
    backend: HttpServer,
    app_file: PathBuf,
    token: String,
}

impl RequestPath {
    fn start(cp: &ControlPlane) -> Result<Self> {
        let host_ip = endpoints::host_address()?;
        let idp = Hydra::start(cp.dir(), "idp", cp.ca(), &HydraConfig::default())?;
        // The verifier trusts the playground's OpenID provider only.
        let port = std::net::TcpListener::bind((host_ip, 0))?
            .local_addr()?
            .port();
        let policy = format!(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  allowedIssuers: [\"{}\"]\n",
            idp.issuer()
        );
        let verifier = Verifier::start(cp.dir(), host_ip, port, &policy, cp.ca_file(), 60)?;
        let traefik = Traefik::start(cp)?;
        let backend = backend::echo(host_ip)?;
        // The gateway trait's Service selects pods that never run here (no kubelet): its
        // EndpointSlice, made ahead of the app, points at the backend.
        let k = cp.kubectl();
        k.run(&["create", "namespace", NAMESPACE])?
            .ok()
            .context("creating the playground namespace")?;
        endpoints::add_endpoint(
            k,
            NAMESPACE,
            COMPONENT,
            PORT_NAME,
            host_ip,
            backend.addr().port(),
        )?;
        let client = idp.create_client("playground", &["hello:read"], &["hello"], None)?;
        let token = idp.token(&client, &["hello:read"], &["hello"])?;
        let app_file = cp.dir().join("hello-app.yaml");
        std::fs::write(&app_file, app(idp.issuer()))?;
        Ok(Self {
            traefik,
            verifier,
            idp,
            backend,
            app_file,
            token,
        })
    }
}

/// An app whose route Traefik serves on `HOST`, and whose identity names `issuer`.
fn app(issuer: &str) -> String {
    format!(
        r#"# An app whose identity rule names the playground's OpenID provider.
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: {APP}
  namespace: {NAMESPACE}
spec:
  components:
    - name: {COMPONENT}
      type: webservice
      properties:
        image: ghcr.io/example/hello:1.0
        port: {PORT}
      traits:
        - type: gateway
          properties:
            domain: {HOST}
            class: traefik
            http:
              /: {PORT}
        - type: identity
          properties:
            version: v1
            provider: oidc
            issuer: {issuer}
            audiences: [hello]
            scopes: [hello:read]
"#
    )
}

fn print_welcome(cp: &ControlPlane, webhook: &Webhook, path: &RequestPath, bin_dir: &Path) {
    let repo = harness::repo_root();
    let examples = repo.join("examples");
    println!(
        r#"
oam-traefik playground: a real kube-apiserver ({api}) with the webhook ({hook}) registered,
KubeVela's controller (vela-core) rendering Applications, and the request path:
Traefik (http://127.0.0.1:{web}) -> oam-traefik-auth ({verify}) -> the app's backend ({backend}),
with ory/hydra ({issuer}) as the OpenID provider.

In another shell:

  export KUBECONFIG={kubeconfig}
  export PATH={bin}:$PATH          # kubectl finds the plugin kubectl-oam_traefik here
  export TOKEN={token}   # hydra's access token: aud hello, scope hello:read, 1 hour

  # 1. refused: an Ingress of class traefik that nobody authenticates (rule OT006)
  kubectl apply -f {examples}/good/00-namespace.yaml
  kubectl apply -f {examples}/bad/ot006-rogue-ingress.yaml

  # 2. accepted: apps and routes that declare an identity (the app is patched)
  kubectl apply -f {examples}/good/
  kubectl get application orders -n shop -o jsonpath='{{.spec.components[0].traits}}'
  # vela-core renders the app: the Ingress with the reference, and the identity Middleware
  kubectl wait --for=create ingresses.networking.k8s.io/api -n shop --timeout=180s
  kubectl wait --for=create middlewares.traefik.io/orders-api-identity -n shop --timeout=180s

  # 3. the routes as Traefik will serve them, and who may reach each
  kubectl oam-traefik routes -A

  # 4. the request path: an app whose identity names hydra, then requests through Traefik
  kubectl apply -f {app_file}
  kubectl wait --for=create middlewares.traefik.io/{APP}-{COMPONENT}-identity -n {NAMESPACE} --timeout=180s
  curl -s -o /dev/null -w '%{{http_code}}\n' -H 'Host: {HOST}' http://127.0.0.1:{web}/    # 401: no token
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Host: {HOST}' http://127.0.0.1:{web}/    # 200: the backend sees X-Forwarded-User

Logs and certificates: {dir}
Ctrl-C stops everything."#,
        api = cp.url(),
        hook = webhook.url(),
        kubeconfig = cp.kubeconfig().display(),
        bin = bin_dir.display(),
        examples = examples.display(),
        dir = cp.dir().display(),
        web = path.traefik.web_port(),
        backend = path.backend.url(),
        verify = path.verifier.verify_url(),
        issuer = path.idp.issuer(),
        token = path.token,
        app_file = path.app_file.display(),
    );
}

//! `cargo playground`: what the tests start, left running for a person to try.
//!
//! A real etcd and kube-apiserver on loopback with the upstream CRDs, the real
//! `oam-traefik-webhook` registered through the chart's webhook configurations, and
//! KubeVela's real controller (vela-core) with its definitions and the chart's `identity`
//! definitions, rendering what the webhook admitted. It prints
//! the kubeconfig and three things to try, then waits; Ctrl-C (or SIGTERM) stops every
//! process it started and removes its folder (set `OAM_TRAEFIK_E2E_KEEP=1` to keep it).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use oam_traefik_e2e::kubevela::VelaCore;
use oam_traefik_e2e::{ControlPlane, Webhook, harness};

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
    eprintln!("playground: installing KubeVela's definitions and starting vela-core ...");
    let vela = VelaCore::start(&cp)?;

    print_welcome(&cp, &webhook, &bin_dir);
    while !STOP.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(200));
    }
    eprintln!("\nplayground: stopping vela-core, the webhook, kube-apiserver and etcd ...");
    // Drop order: vela-core and the webhook first, then the control plane (API server
    // before etcd).
    drop(vela);
    drop(webhook);
    drop(cp);
    Ok(())
}

fn print_welcome(cp: &ControlPlane, webhook: &Webhook, bin_dir: &Path) {
    let repo = harness::repo_root();
    let examples = repo.join("examples");
    println!(
        r#"
oam-traefik playground: a real kube-apiserver ({api}) with the webhook ({hook}) registered
and KubeVela's controller (vela-core) rendering Applications.

In another shell:

  export KUBECONFIG={kubeconfig}
  export PATH={bin}:$PATH          # kubectl finds the plugin kubectl-oam_traefik here

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

Logs and certificates: {dir}
Ctrl-C stops everything."#,
        api = cp.url(),
        hook = webhook.url(),
        kubeconfig = cp.kubeconfig().display(),
        bin = bin_dir.display(),
        examples = examples.display(),
        dir = cp.dir().display(),
    );
}

//! The control plane itself: it starts, serves the upstream CRDs, takes an Application
//! through the real kubectl, and leaves no process behind when it stops.

use std::path::Path;

use oam_traefik_e2e::ControlPlane;

const APP: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: orders
spec:
  components:
    - name: orders
      type: webservice
      properties:
        image: ghcr.io/example/orders:1.0
"#;

fn alive(pid: u32) -> bool {
    // A reaped child has no /proc entry; a zombie would still count as left behind.
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn control_plane_serves_crds_and_stops_cleanly() {
    let cp = ControlPlane::start().expect("control plane starts");
    eprintln!("control plane started in {:.1} s", cp.startup.as_secs_f64());
    let kubectl = cp.kubectl();

    let crds = cp
        .install_crds()
        .expect("CRDs install and become Established");
    for expected in [
        "applications.core.oam.dev",
        "traitdefinitions.core.oam.dev",
        "ingressroutes.traefik.io",
        "middlewares.traefik.io",
        "httproutes.gateway.networking.k8s.io",
        "gateways.gateway.networking.k8s.io",
    ] {
        assert!(
            crds.iter().any(|c| c == expected),
            "{expected} missing from {crds:?}"
        );
    }

    let ns = cp.namespace("smoke", &[]).expect("namespace");
    let out = kubectl.apply(&ns, APP).expect("kubectl runs");
    assert!(out.success(), "apply failed: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "application.core.oam.dev/orders created");
    let stored = kubectl
        .get_json(&ns, "application", "orders")
        .expect("stored");
    assert_eq!(stored["spec"]["components"][0]["name"], "orders");

    let dir = cp.dir().to_owned();
    let pids = cp.pids();
    assert!(pids.iter().all(|&p| alive(p)));
    drop(cp);
    for pid in pids {
        assert!(!alive(pid), "process {pid} is still there after drop");
    }
    assert!(!dir.exists(), "{} is still there after drop", dir.display());
}

#[test]
fn shared_control_plane_is_started_once() {
    let first = ControlPlane::shared();
    let second = ControlPlane::shared();
    assert!(std::ptr::eq(first, second));
    let out = first
        .kubectl()
        .run(&["get", "--raw", "/readyz"])
        .expect("kubectl runs");
    assert_eq!(out.stdout.trim(), "ok");
}

//! The control plane itself: it starts, serves the upstream CRDs, takes an Application
//! through the real kubectl, and leaves no process behind, whether it is dropped, kept
//! in a static until the test binary exits, or the test binary is killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use oam_traefik_e2e::ControlPlane;
use oam_traefik_e2e::control_plane::KEEP_ENV;

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

/// Whether the folders are kept on purpose (`OAM_TRAEFIK_E2E_KEEP`).
fn keeping() -> bool {
    std::env::var_os(KEEP_ENV).is_some()
}

/// Whether `pid` is a live process (a zombie has exited: only its parent's wait is due).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn all_gone_within(pids: &[u32], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn control_plane_serves_crds_and_stops_cleanly_when_dropped() {
    let cp = ControlPlane::start().expect("control plane starts");
    eprintln!("control plane started in {:.1} s", cp.startup.as_secs_f64());
    let kubectl = cp.kubectl();

    let began = Instant::now();
    let crds = cp
        .install_crds()
        .expect("CRDs install and become Established");
    eprintln!("CRDs established in {:.1} s", began.elapsed().as_secs_f64());
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

    // A large input whose answer outgrows a pipe before kubectl has read all of it: the
    // harness feeds stdin while it reads stdout, so neither side waits on the other.
    let many: String = (0..1500)
        .map(|i| {
            format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\ndata: {{k: v}}\n"
            )
        })
        .collect();
    let out = kubectl
        .run_stdin(
            &[
                "create",
                "--dry-run=client",
                "-o",
                "json",
                "-n",
                &ns,
                "-f",
                "-",
            ],
            &many,
        )
        .expect("kubectl runs")
        .ok()
        .expect("kubectl prints every ConfigMap");
    assert!(out.stdout.len() > 128 * 1024, "{} bytes", out.stdout.len());
    assert!(out.stdout.contains("cm-1499"));

    let dir = cp.dir().to_owned();
    let pids = cp.pids();
    assert!(pids.iter().all(|&p| alive(p)));
    let began = Instant::now();
    drop(cp);
    eprintln!(
        "control plane stopped in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    for pid in pids {
        assert!(!alive(pid), "process {pid} is still there after drop");
    }
    assert!(
        keeping() || !dir.exists(),
        "{} is still there after drop",
        dir.display()
    );
}

/// Run in a child test process by the two tests below: starts the shared control plane,
/// prints its pids and folder, then exits, or hangs when asked to so it can be killed.
#[test]
#[ignore = "a probe that the cleanup tests run in a child process"]
fn probe_shared_control_plane() {
    let cp = ControlPlane::shared();
    let [etcd, apiserver] = cp.pids();
    println!("PROBE {etcd} {apiserver} {}", cp.dir().display());
    if std::env::var_os("E2E_PROBE_HANG").is_some() {
        thread::sleep(Duration::from_secs(600));
    }
}

/// Starts the probe in a child test process; returns it with the pids and folder it printed.
fn start_probe(hang: bool) -> (Child, Vec<u32>, PathBuf) {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([
        "--exact",
        "probe_shared_control_plane",
        "--ignored",
        "--nocapture",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if hang {
        cmd.env("E2E_PROBE_HANG", "1");
    }
    let mut child = cmd.spawn().expect("probe starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    while let Some(Ok(line)) = lines.next() {
        if let Some(rest) = line.strip_prefix("PROBE ") {
            let parts: Vec<&str> = rest.splitn(3, ' ').collect();
            let pids = parts[..2].iter().map(|p| p.parse().expect("pid")).collect();
            // Keep reading: a closed pipe would fail the probe's last prints.
            thread::spawn(move || lines.for_each(drop));
            return (child, pids, PathBuf::from(parts[2]));
        }
    }
    panic!("the probe printed no pids: {:?}", child.wait());
}

#[test]
fn shared_control_plane_is_stopped_when_the_test_binary_exits() {
    let (mut probe, pids, dir) = start_probe(false);
    let status = probe.wait().expect("probe exits");
    assert!(status.success(), "probe failed: {status}");
    // The exit hook stopped and reaped them before the probe exited.
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} outlived the test binary");
    }
    assert!(
        keeping() || !dir.exists(),
        "{} outlived the test binary",
        dir.display()
    );
}

#[test]
fn control_plane_dies_with_a_killed_test_binary() {
    let (mut probe, pids, dir) = start_probe(true);
    assert!(pids.iter().all(|&p| alive(p)));
    probe.kill().expect("SIGKILL the probe");
    probe.wait().expect("probe reaped");
    assert!(
        all_gone_within(&pids, Duration::from_secs(10)),
        "processes {pids:?} outlived a killed test binary"
    );
    // Nothing could remove the folder; the next control plane would, as a stale one.
    if !keeping() {
        assert!(Path::new(&dir).join("owner.pid").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The real Traefik, built from the Go module proxy (`tests/tools/traefik`), with its
//! `kubernetescrd` and `kubernetesingress` providers watching the test's kube-apiserver.
//!
//! It authenticates as a ServiceAccount bound to the ClusterRole that Traefik's own docs
//! give (read from the pinned module, never copied), with a token from
//! `kubectl create token`; it serves one HTTP entrypoint on a free loopback port.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::control_plane::ControlPlane;
use crate::crds;
use crate::ports::free_port;
use crate::process::{Process, wait_until};
use crate::tools;

/// Traefik's RBAC for its CRD and Ingress providers, in its docs (ServiceAccount
/// `traefik-ingress-controller` in `default`).
const RBAC_FILE: &str = "docs/content/reference/dynamic-configuration/kubernetes-crd-rbac.yml";
/// The ServiceAccount that file binds.
const SERVICE_ACCOUNT: &str = "traefik-ingress-controller";

/// The IngressClass Traefik's Helm chart installs: `spec.ingressClassName: traefik`
/// selects Traefik through it.
const INGRESS_CLASS: &str = r#"apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: traefik
spec:
  controller: traefik.io/ingress-controller
"#;

/// How long Traefik may take to start and answer its ping.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Traefik.
pub struct Traefik {
    process: Process,
    web: u16,
    log: PathBuf,
}

impl Traefik {
    /// Grants Traefik's RBAC, installs the `traefik` IngressClass and starts Traefik
    /// against `cp`; waits until its ping answers.
    pub fn start(cp: &ControlPlane) -> Result<Self> {
        let bin = tools::traefik()?;
        let k = cp.kubectl();
        let dir = cp.dir().join("traefik");
        std::fs::create_dir_all(&dir)?;
        let module = crds::module_dir(&crds::TRAEFIK, cp.dir())?;
        let rbac = std::fs::read_to_string(module.join(RBAC_FILE))
            .with_context(|| format!("reading Traefik's {RBAC_FILE}"))?;
        let account = format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {SERVICE_ACCOUNT}, namespace: default}}\n"
        );
        k.run_stdin(&["apply", "-f", "-"], &account)?.ok()?;
        k.run_stdin(&["apply", "-f", "-"], &rbac)?.ok()?;
        k.run_stdin(&["apply", "-f", "-"], INGRESS_CLASS)?.ok()?;
        let token = k
            .run(&[
                "create",
                "token",
                SERVICE_ACCOUNT,
                "-n",
                "default",
                "--duration=2h",
            ])?
            .ok()?
            .stdout
            .trim()
            .to_owned();

        // A file, not the flag's value: Traefik reads either, and a file stays out of `ps`.
        let token_file = dir.join("token");
        std::fs::write(&token_file, token)?;
        let (web, ping) = (free_port()?, free_port()?);
        let log = dir.join("traefik.log");
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--entrypoints.web.address=127.0.0.1:{web}"))
            .arg(format!("--entrypoints.ping.address=127.0.0.1:{ping}"))
            .arg("--ping.entrypoint=ping")
            .arg("--log.level=INFO")
            .arg("--accesslog=true")
            .arg("--global.checknewversion=false")
            .arg("--global.sendanonymoususage=false");
        for provider in ["kubernetescrd", "kubernetesingress"] {
            cmd.arg(format!("--providers.{provider}.endpoint={}", cp.url()))
                .arg(format!(
                    "--providers.{provider}.token={}",
                    token_file.display()
                ))
                .arg(format!(
                    "--providers.{provider}.certauthfilepath={}",
                    cp.ca_file().display()
                ));
        }
        let mut process = Process::spawn("traefik", cmd, &log)?;
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let ping_url = format!("http://127.0.0.1:{ping}/ping");
        wait_until(
            &mut process,
            READY_TIMEOUT,
            Duration::from_millis(200),
            || {
                client
                    .get(&ping_url)
                    .send()
                    .is_ok_and(|r| r.status().is_success())
            },
        )?;
        Ok(Self { process, web, log })
    }

    /// The `web` entrypoint's port on 127.0.0.1.
    pub fn web_port(&self) -> u16 {
        self.web
    }

    /// A client that sends requests for `host` to Traefik's `web` entrypoint, the way
    /// DNS pointing `host` at Traefik would.
    pub fn client_for(&self, host: &str) -> Result<reqwest::blocking::Client> {
        Ok(reqwest::blocking::Client::builder()
            .resolve(host, ([127, 0, 0, 1], self.web).into())
            .timeout(Duration::from_secs(10))
            .build()?)
    }

    /// Traefik's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything Traefik logged so far (its access log among it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log file.
    pub fn log_file(&self) -> &Path {
        &self.log
    }
}

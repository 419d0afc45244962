//! A real control plane: etcd and kube-apiserver on loopback, a kubeconfig, the CRDs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::apiserver::{ApiServer, ApiServerFiles};
use crate::certs::{Ca, PemFiles, ServiceAccountKey};
use crate::crds;
use crate::etcd::Etcd;
use crate::harness;
use crate::kubeconfig;
use crate::kubectl::Kubectl;
use crate::process;

/// Prefix of the folders in the temp dir that hold a control plane.
const DIR_PREFIX: &str = "oam-traefik-e2e-";
/// File in that folder with the pid of the test process that owns it.
const OWNER_FILE: &str = "owner.pid";

/// Set it to keep each control plane's folder (logs, certificates, kubeconfig) after
/// the tests, for a look at what went wrong.
pub const KEEP_ENV: &str = "OAM_TRAEFIK_E2E_KEEP";

/// How long kube-apiserver may take to become ready (a loaded 2-core CI machine).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running etcd + kube-apiserver, reachable with [`ControlPlane::kubectl`].
///
/// Dropping it stops both processes and removes its folder.
pub struct ControlPlane {
    // Field order is drop order: the API server stops before its etcd.
    apiserver: ApiServer,
    etcd: Etcd,
    ca: Ca,
    kubectl: Kubectl,
    admin: PemFiles,
    ca_file: PathBuf,
    /// How long `start` took, for the figures.
    pub startup: Duration,
    dir: TempDir,
}

impl ControlPlane {
    /// Builds the harness if needed, starts etcd and kube-apiserver with fresh
    /// certificates, waits for `/readyz` and writes a kubeconfig. No CRDs yet.
    pub fn start() -> Result<Self> {
        let bins = harness::ensure_built()?;
        let began = Instant::now();
        remove_stale_dirs();
        let keep = keep_dirs();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .disable_cleanup(keep)
            .tempdir()?;
        let d = dir.path();
        if keep {
            eprintln!("{KEEP_ENV} is set: keeping {}", d.display());
        } else {
            std::fs::write(d.join(OWNER_FILE), std::process::id().to_string())?;
        }

        let ca = Ca::new("oam-traefik-e2e-ca")?;
        let ca_file = d.join("ca.crt");
        std::fs::write(&ca_file, ca.cert_pem())?;
        let serving = ca
            .serving("kube-apiserver", &["127.0.0.1", "localhost"])?
            .write(d, "apiserver")?;
        let admin = ca.client("admin", &["system:masters"])?.write(d, "admin")?;
        let sa = ServiceAccountKey::generate()?;
        let sa_private = d.join("sa.key");
        let sa_public = d.join("sa.pub");
        std::fs::write(&sa_private, &sa.private)?;
        std::fs::write(&sa_public, &sa.public)?;

        let mut etcd = Etcd::start(&bins.etcd, d)?;
        let files = ApiServerFiles {
            ca_cert: ca_file.clone(),
            serving_cert: serving.cert,
            serving_key: serving.key,
            sa_private,
            sa_public,
        };
        let mut apiserver = ApiServer::start(&bins.kube_apiserver, d, &etcd.url, &files)?;
        wait_ready(&mut apiserver, &mut etcd, &ca_file, &admin)?;

        let kubeconfig_path = d.join("kubeconfig");
        kubeconfig::write(
            &kubeconfig_path,
            &apiserver.url,
            &ca_file,
            &admin.cert,
            &admin.key,
        )?;
        let kubectl = Kubectl::new(&kubeconfig_path, &d.join("kubectl-cache"));
        Ok(Self {
            apiserver,
            etcd,
            ca,
            kubectl,
            admin,
            ca_file,
            startup: began.elapsed(),
            dir,
        })
    }

    /// The control plane shared by every test of this test binary, with the CRDs
    /// installed; started on first use, stopped when the test binary exits.
    ///
    /// Panics (failing the calling test) if it cannot start; every later caller gets
    /// the same error without trying again.
    pub fn shared() -> &'static ControlPlane {
        static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
        let started = SHARED.get_or_init(|| {
            let cp = ControlPlane::start().map_err(|e| format!("{e:#}"))?;
            cp.install_crds().map_err(|e| format!("{e:#}"))?;
            // Statics are never dropped: the exit hook stops the processes (they are
            // registered) and removes the folder.
            if !keep_dirs() {
                process::remove_at_exit(cp.dir.path().to_owned());
            }
            eprintln!(
                "control plane ready in {:.1} s at {} (folder {})",
                cp.startup.as_secs_f64(),
                cp.url(),
                cp.dir().display()
            );
            Ok(cp)
        });
        match started {
            Ok(cp) => cp,
            Err(e) => panic!("the shared control plane did not start: {e}"),
        }
    }

    /// Installs the upstream CRDs and waits until they are Established.
    pub fn install_crds(&self) -> Result<Vec<String>> {
        crds::install(&self.kubectl, self.dir.path())
    }

    /// kubectl configured for this control plane as `system:masters`.
    pub fn kubectl(&self) -> &Kubectl {
        &self.kubectl
    }

    /// The kubeconfig file (admin).
    pub fn kubeconfig(&self) -> &Path {
        self.kubectl.kubeconfig()
    }

    /// `https://127.0.0.1:<port>` of kube-apiserver.
    pub fn url(&self) -> &str {
        &self.apiserver.url
    }

    /// The CA that signed every certificate of this control plane.
    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    /// The CA certificate file.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The folder holding certificates, data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Process ids of etcd and kube-apiserver, for tests that check the cleanup.
    pub fn pids(&self) -> [u32; 2] {
        [self.etcd.process.pid(), self.apiserver.process.pid()]
    }

    /// The last lines of kube-apiserver's log, for a failing test's message.
    pub fn apiserver_log_tail(&self, lines: usize) -> String {
        self.apiserver.process.log_tail(lines)
    }

    /// Creates a namespace for one test, with `labels` (`key=value`), and returns it.
    pub fn namespace(&self, name: &str, labels: &[&str]) -> Result<String> {
        self.kubectl.create_namespace(name, labels)?;
        Ok(name.to_owned())
    }

    /// Stops kube-apiserver; etcd keeps running. [`start_apiserver`](Self::start_apiserver)
    /// brings it back on the same address.
    pub fn stop_apiserver(&mut self) {
        self.apiserver.stop();
    }

    /// Starts kube-apiserver again on the same address and waits until it is ready.
    pub fn start_apiserver(&mut self) -> Result<()> {
        self.apiserver.restart()?;
        wait_ready(
            &mut self.apiserver,
            &mut self.etcd,
            &self.ca_file,
            &self.admin,
        )
    }

    /// The admin client certificate files.
    pub fn admin_cert(&self) -> &PemFiles {
        &self.admin
    }

    /// Creates each `(path, object)` by a POST to `path` under the API server, as the
    /// admin, eight at a time (no kubectl: a benchmark's thousands of objects load in
    /// seconds). Fails on the first write the API server does not accept.
    pub fn create_all(&self, objects: &[(String, serde_json::Value)]) -> Result<()> {
        let http = https_client(&self.ca_file, Some(&self.admin))?;
        let chunk = objects.len().div_ceil(8).max(1);
        thread::scope(|s| {
            let workers: Vec<_> = objects
                .chunks(chunk)
                .map(|part| {
                    let http = &http;
                    s.spawn(move || -> Result<()> {
                        for (path, object) in part {
                            let url = format!("{}{path}", self.url());
                            let resp = http.post(&url).json(object).send()?;
                            if !resp.status().is_success() {
                                bail!("POST {url}: {}", resp.text().unwrap_or_default());
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a loader thread panicked"))?
            })
        })
    }

    /// A kubeconfig in `dir` that authenticates as ServiceAccount `namespace/account` with a
    /// TokenRequest token (valid 2 h), as a pod running as it would.
    pub fn service_account_kubeconfig(
        &self,
        namespace: &str,
        account: &str,
        dir: &Path,
    ) -> Result<PathBuf> {
        let token = self
            .kubectl
            .run(&["create", "token", account, "-n", namespace, "--duration=2h"])?
            .ok()?
            .stdout;
        let path = dir.join(format!("{account}.kubeconfig"));
        kubeconfig::write_token(
            &path,
            self.url(),
            &self.ca_file,
            account,
            token.trim(),
            namespace,
        )?;
        Ok(path)
    }
}

fn keep_dirs() -> bool {
    std::env::var_os(KEEP_ENV).is_some()
}

/// Removes control-plane folders whose test process was killed before it could clean
/// up (its children died with it; only the files stay).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with(DIR_PREFIX);
        let owner = std::fs::read_to_string(path.join(OWNER_FILE)).ok();
        if let (true, Some(pid)) = (ours, owner.as_deref().map(str::trim))
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Polls `/readyz` until it answers 200, failing early if either process dies.
fn wait_ready(
    apiserver: &mut ApiServer,
    etcd: &mut Etcd,
    ca: &Path,
    admin: &PemFiles,
) -> Result<()> {
    let client = https_client(ca, Some(admin))?;
    let url = format!("{}/readyz", apiserver.url);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if etcd.process.exited().is_some() {
            return Err(etcd.process.died());
        }
        if apiserver.process.exited().is_some() {
            return Err(apiserver.process.died());
        }
        if let Ok(resp) = client.get(&url).send()
            && resp.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "kube-apiserver not ready after {READY_TIMEOUT:?}; last log lines:\n{}",
                apiserver.process.log_tail(30)
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// An HTTPS client that trusts only `ca`, optionally presenting a client certificate.
pub fn https_client(ca: &Path, identity: Option<&PemFiles>) -> Result<reqwest::blocking::Client> {
    let ca_pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem)?)
        .timeout(Duration::from_secs(5));
    if let Some(files) = identity {
        let mut pem = std::fs::read(&files.cert)?;
        pem.extend(std::fs::read(&files.key)?);
        builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
    }
    Ok(builder.build()?)
}

//! kube-apiserver on loopback, served with the control plane's certificates.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::ports::free_port;
use crate::process::Process;

/// The files kube-apiserver is started with.
#[derive(Clone, Debug)]
pub struct ApiServerFiles {
    /// CA that signed the serving and client certificates.
    pub ca_cert: PathBuf,
    /// Serving certificate for 127.0.0.1 and localhost.
    pub serving_cert: PathBuf,
    /// Its key.
    pub serving_key: PathBuf,
    /// Service-account token signing key (private).
    pub sa_private: PathBuf,
    /// Service-account token verification key (public).
    pub sa_public: PathBuf,
}

/// A running kube-apiserver.
pub struct ApiServer {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The process.
    pub process: Process,
    /// How it was started, to start it again on the same port.
    start: Start,
}

struct Start {
    bin: PathBuf,
    dir: PathBuf,
    etcd_url: String,
    files: ApiServerFiles,
    port: u16,
}

impl ApiServer {
    /// Starts kube-apiserver against `etcd_url`; logs go to `dir/kube-apiserver.log`.
    pub fn start(bin: &Path, dir: &Path, etcd_url: &str, files: &ApiServerFiles) -> Result<Self> {
        let start = Start {
            bin: bin.to_owned(),
            dir: dir.to_owned(),
            etcd_url: etcd_url.to_owned(),
            files: files.clone(),
            port: free_port()?,
        };
        let process = spawn(&start)?;
        Ok(Self {
            url: format!("https://127.0.0.1:{}", start.port),
            process,
            start,
        })
    }

    /// Stops kube-apiserver (SIGTERM, as a rolling restart does).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts it again on the same port, with the same flags; does not wait for it.
    pub fn restart(&mut self) -> Result<()> {
        self.process.stop();
        self.process = spawn(&self.start)?;
        Ok(())
    }
}

fn spawn(start: &Start) -> Result<Process> {
    let Start {
        bin,
        dir,
        etcd_url,
        files,
        port,
    } = start;
    {
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--etcd-servers={etcd_url}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg("--advertise-address=127.0.0.1")
            // No kube-controller-manager runs, so nothing would maintain the
            // `kubernetes` Endpoints; and there is only one API server.
            .arg("--endpoint-reconciler-type=none")
            .arg("--authorization-mode=RBAC")
            // Resolve a webhook's Service through its EndpointSlices, not its ClusterIP:
            // nothing here routes ClusterIPs (no kube-proxy).
            .arg("--enable-aggregator-routing=true")
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg(format!(
                "--cert-dir={}",
                dir.join("apiserver-certs").display()
            ))
            .arg(format!("--tls-cert-file={}", files.serving_cert.display()))
            .arg(format!(
                "--tls-private-key-file={}",
                files.serving_key.display()
            ))
            .arg(format!("--client-ca-file={}", files.ca_cert.display()))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!(
                "--service-account-key-file={}",
                files.sa_public.display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                files.sa_private.display()
            ))
            // Without a token controller no ServiceAccount exists for pods; this suite
            // runs no pods, and the plugin would only get in the way (as in envtest).
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--profiling=false")
            .arg("-v=1");
        Process::spawn("kube-apiserver", cmd, &dir.join("kube-apiserver.log"))
    }
}

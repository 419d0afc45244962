//! etcd on loopback, data in the control plane's folder.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::ports::free_port;
use crate::process::Process;

/// A running etcd.
pub struct Etcd {
    /// The client URL, for `--etcd-servers`.
    pub url: String,
    /// The process.
    pub process: Process,
}

impl Etcd {
    /// Starts etcd with its data under `dir/etcd`.
    ///
    /// Plain HTTP on 127.0.0.1, as envtest does: only the API server talks to it, and
    /// the TLS that matters to this suite is the API server's and the webhook's.
    pub fn start(bin: &Path, dir: &Path) -> Result<Self> {
        let client = format!("http://127.0.0.1:{}", free_port()?);
        let peer = format!("http://127.0.0.1:{}", free_port()?);
        let mut cmd = Command::new(bin);
        cmd.arg("--name=e2e")
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=e2e={peer}"))
            // A throwaway cluster: durability buys nothing and fsync costs seconds.
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn");
        let process = Process::spawn("etcd", cmd, &dir.join("etcd.log"))?;
        Ok(Self {
            url: client,
            process,
        })
    }
}

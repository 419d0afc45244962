//! The real `oam-traefik-auth` binary: the forwardAuth verifier that Traefik calls.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::process::{Process, wait_until};

/// How long the verifier may take to load the allowed issuers' keys.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running verifier.
pub struct Verifier {
    process: Process,
    base: String,
    log: PathBuf,
}

impl Verifier {
    /// Starts the verifier on `ip:port` (plain HTTP) with `policy` (AdmissionPolicy
    /// YAML), trusting `ca_file` for reaching issuers, with `leeway` seconds of clock
    /// skew; waits until `/readyz` says the allowed issuers' keys are loaded.
    pub fn start(
        dir: &Path,
        ip: IpAddr,
        port: u16,
        policy: &str,
        ca_file: &Path,
        leeway: u64,
    ) -> Result<Self> {
        let bin = binary()?;
        let dir = dir.join(format!("verifier-{port}"));
        std::fs::create_dir_all(&dir)?;
        let policy_file = dir.join("policy.yaml");
        std::fs::write(&policy_file, policy)?;
        let log = dir.join("verifier.log");
        let mut cmd = Command::new(bin);
        cmd.arg("--listen")
            .arg(format!("{ip}:{port}"))
            .arg("--policy")
            .arg(&policy_file)
            .arg("--ca-file")
            .arg(ca_file)
            .arg("--leeway")
            .arg(leeway.to_string())
            .env("RUST_LOG", "info");
        let mut process = Process::spawn("oam-traefik-auth", cmd, &log)?;
        let base = format!("http://{ip}:{port}");
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let readyz = format!("{base}/readyz");
        wait_until(
            &mut process,
            READY_TIMEOUT,
            Duration::from_millis(100),
            || {
                client
                    .get(&readyz)
                    .send()
                    .is_ok_and(|r| r.status().is_success())
            },
        )?;
        Ok(Self { process, base, log })
    }

    /// `http://<ip>:<port>/verify`: the forwardAuth address (without the rule's query).
    pub fn verify_url(&self) -> String {
        format!("{}/verify", self.base)
    }

    /// The verifier's process id, to tell that it was not restarted.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its decision lines so far (JSON lines with `"msg": "decision"`), oldest first.
    pub fn decisions(&self) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["msg"] == "decision")
            .collect()
    }
}

/// The `oam-traefik-auth` binary (`OAM_TRAEFIK_AUTH_BIN` names a prebuilt one).
pub fn binary() -> Result<PathBuf> {
    crate::binaries::workspace_binary("oam-traefik-auth", "OAM_TRAEFIK_AUTH_BIN")
}

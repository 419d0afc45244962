//! The real kubectl, run the way a user runs it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// kubectl bound to one control plane's kubeconfig.
#[derive(Clone, Debug)]
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache_dir: PathBuf,
}

/// What one kubectl run printed, and how it exited.
#[derive(Debug)]
pub struct Output {
    /// The exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error: where kubectl prints denials and warnings.
    pub stderr: String,
}

impl Output {
    /// Whether kubectl exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// This output if kubectl succeeded, else an error carrying what it printed.
    pub fn ok(self) -> Result<Self> {
        if !self.success() {
            bail!(
                "kubectl failed ({}):\n{}{}",
                self.status,
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }
}

impl Kubectl {
    /// kubectl (`KUBECTL`, else `kubectl` on PATH) for `kubeconfig`; its discovery
    /// cache lives in `cache_dir`, not in the user's home.
    pub fn new(kubeconfig: &Path, cache_dir: &Path) -> Self {
        let bin =
            std::env::var_os("KUBECTL").map_or_else(|| PathBuf::from("kubectl"), PathBuf::from);
        Self {
            bin,
            kubeconfig: kubeconfig.to_owned(),
            cache_dir: cache_dir.to_owned(),
        }
    }

    /// The kubeconfig this kubectl uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Runs `kubectl <args>`.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        self.run_with_stdin(args, None)
    }

    /// Runs `kubectl <args>` with `stdin` as its standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Result<Output> {
        self.run_with_stdin(args, Some(stdin))
    }

    fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        let mut child = Command::new(&self.bin)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!("--cache-dir={}", self.cache_dir.display()))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {} {}", self.bin.display(), args.join(" ")))?;
        // Written from a thread of its own while the output is read here: kubectl may
        // answer before it has read all of its input, and a full pipe each way would
        // leave both sides waiting.
        let writer = match (stdin, child.stdin.take()) {
            (Some(text), Some(mut pipe)) => {
                let text = text.to_owned();
                Some(std::thread::spawn(move || pipe.write_all(text.as_bytes())))
            }
            _ => None,
        };
        let out = child.wait_with_output()?;
        if let Some(writer) = writer {
            match writer.join() {
                Ok(Ok(())) => {}
                // kubectl stopped reading (it failed early): its own output says why.
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => anyhow::bail!("the thread writing kubectl's input panicked"),
            }
        }
        Ok(Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `kubectl apply -n <namespace> -f -` with `manifest` (YAML or JSON).
    pub fn apply(&self, namespace: &str, manifest: &str) -> Result<Output> {
        self.run_stdin(&["apply", "-n", namespace, "-f", "-"], manifest)
    }

    /// The stored object, as `kubectl get -o json` prints it.
    pub fn get_json(&self, namespace: &str, resource: &str, name: &str) -> Result<Value> {
        let out = self
            .run(&["get", "-n", namespace, resource, name, "-o", "json"])?
            .ok()?;
        serde_json::from_str(&out.stdout).context("kubectl get printed no JSON")
    }

    /// The stored object, or `None` while it does not exist.
    pub fn find_json(&self, namespace: &str, resource: &str, name: &str) -> Result<Option<Value>> {
        let out = self
            .run(&[
                "get",
                "-n",
                namespace,
                resource,
                name,
                "-o",
                "json",
                "--ignore-not-found",
            ])?
            .ok()?;
        if out.stdout.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(
            serde_json::from_str(&out.stdout).context("kubectl get printed no JSON")?,
        ))
    }

    /// Creates namespace `name` with `labels` (`key=value`).
    pub fn create_namespace(&self, name: &str, labels: &[&str]) -> Result<()> {
        self.run(&["create", "namespace", name])?.ok()?;
        if !labels.is_empty() {
            let mut args = vec!["label", "namespace", name];
            args.extend_from_slice(labels);
            self.run(&args)?.ok()?;
        }
        Ok(())
    }
}

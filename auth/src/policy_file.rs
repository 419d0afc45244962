//! The policy file, read at start and polled for changes (a mounted ConfigMap is swapped
//! in place): a changed `allowedIssuers` takes effect without a restart, and a file that
//! does not parse is refused while the policy in force stays, as in the webhook.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oam_traefik_policy::{Policy, PolicyError};

use crate::verify::Verifier;

/// How often the file is read again.
pub const POLL: Duration = Duration::from_secs(5);

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    /// It cannot be read.
    #[error("reading --policy {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It does not parse, or says something that cannot be enforced.
    #[error("--policy {path}: {source}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: PolicyError,
    },
}

/// The policy file and the text of the policy in force.
pub struct PolicyFile {
    path: PathBuf,
    loaded: Mutex<String>,
}

impl PolicyFile {
    /// Read and parse the file; an error here means the verifier cannot start.
    pub fn open(path: &Path) -> Result<(Self, Policy), PolicyFileError> {
        let text = read(path)?;
        let policy = parse(path, &text)?;
        let file = Self {
            path: path.to_path_buf(),
            loaded: Mutex::new(text),
        };
        Ok((file, policy))
    }

    /// Read the file again: `Some` policy when it changed and parses, `None` when it is
    /// unchanged; an error leaves the policy in force (and is retried at the next change).
    pub fn reload(&self) -> Result<Option<Policy>, PolicyFileError> {
        let text = read(&self.path)?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if *loaded == text {
            return Ok(None);
        }
        let parsed = parse(&self.path, &text);
        // Remember refused text too, so it is reported once, not at every poll.
        *loaded = text;
        parsed.map(Some)
    }

    /// Poll the file every `every` and hand a changed `allowedIssuers` to `verifier`.
    pub fn watch(self, verifier: Arc<Verifier>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match self.reload() {
                    Ok(None) => {}
                    Ok(Some(policy)) => {
                        tracing::info!(allowed_issuers = ?policy.allowed_issuers, "policy reloaded");
                        verifier.set_allowed_issuers(policy.allowed_issuers);
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = %e,
                            "policy refused; the one in force stays"
                        )
                    }
                }
            }
        })
    }
}

fn read(path: &Path) -> Result<String, PolicyFileError> {
    std::fs::read_to_string(path).map_err(|source| PolicyFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse(path: &Path, text: &str) -> Result<Policy, PolicyFileError> {
    Policy::from_yaml(text).map_err(|source| PolicyFileError::Policy {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(issuers: &str) -> String {
        format!(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  allowedIssuers: {issuers}\n"
        )
    }

    #[test]
    fn a_changed_file_is_applied_and_a_broken_one_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, policy("[\"https://a.example\"]")).expect("write");
        let (file, first) = PolicyFile::open(&path).expect("opens");
        assert_eq!(first.allowed_issuers, ["https://a.example"]);
        assert!(file.reload().expect("reads").is_none(), "unchanged");
        std::fs::write(&path, policy("[]")).expect("write");
        let changed = file.reload().expect("reads").expect("changed");
        assert!(changed.allowed_issuers.is_empty());
        std::fs::write(&path, policy("[\"http://not-https\"]")).expect("write");
        let err = file.reload().expect_err("refused");
        assert!(err.to_string().contains("allowedIssuers"), "{err}");
        assert!(file.reload().expect("reads").is_none(), "reported once");
        std::fs::write(&path, "kind: Nope\n").expect("write");
        assert!(PolicyFile::open(&path).is_err());
    }
}

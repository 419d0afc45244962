//! The policy in force. A file that does not load is refused and the last good one stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use oam_traefik_policy::{Policy, PolicyError};

use crate::watch::Reload;

/// Why a policy file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading policy file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It does not parse or says something unenforceable.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        source: PolicyError,
    },
}

/// The current policy, read lock-free by every request.
pub struct PolicyStore {
    current: ArcSwap<Policy>,
    /// Bytes of the file in force, to skip reloads that change nothing.
    loaded: std::sync::Mutex<Option<Vec<u8>>>,
    path: Option<PathBuf>,
    own_namespace: Option<String>,
}

impl PolicyStore {
    /// Load the policy from `path` (the defaults without one); `own_namespace` is always exempt.
    pub fn open(path: Option<&Path>, own_namespace: Option<&str>) -> Result<Self, LoadError> {
        let store = Self {
            current: ArcSwap::from_pointee(with_own(Policy::default(), own_namespace)),
            loaded: std::sync::Mutex::new(None),
            path: path.map(Path::to_path_buf),
            own_namespace: own_namespace.map(str::to_string),
        };
        store.reload()?;
        Ok(store)
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    /// The watched file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Read the file again; on error the policy in force stays.
    pub fn reload(&self) -> Result<Reload, LoadError> {
        let Some(path) = &self.path else {
            return Ok(Reload::Unchanged);
        };
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if loaded.as_deref() == Some(&bytes[..]) {
            return Ok(Reload::Unchanged);
        }
        let text = String::from_utf8_lossy(&bytes);
        let policy = Policy::from_yaml(&text).map_err(|source| LoadError::Invalid {
            path: path.clone(),
            source,
        })?;
        self.current
            .store(Arc::new(with_own(policy, self.own_namespace.as_deref())));
        *loaded = Some(bytes);
        Ok(Reload::Applied)
    }
}

fn with_own(policy: Policy, own_namespace: Option<&str>) -> Policy {
    match own_namespace {
        Some(ns) if !ns.is_empty() => policy.with_exempt_namespace(ns),
        _ => policy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oam_traefik_policy::{Level, RuleId};

    const HEADER: &str = "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\n";

    #[test]
    fn bad_file_keeps_the_last_good_policy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, format!("{HEADER}spec:\n  rules:\n    OT010: deny\n"))
            .expect("write");
        let store = PolicyStore::open(Some(&path), Some("oam-traefik")).expect("loads");
        assert_eq!(store.current().level(RuleId::OT010), Level::Deny);
        assert!(store.current().is_exempt("oam-traefik"));

        std::fs::write(&path, "{{{ not yaml").expect("write");
        assert!(store.reload().is_err());
        assert_eq!(store.current().level(RuleId::OT010), Level::Deny);

        std::fs::write(&path, format!("{HEADER}spec:\n  rules:\n    OT010: warn\n"))
            .expect("write");
        assert_eq!(store.reload().expect("reloads"), Reload::Applied);
        assert_eq!(store.current().level(RuleId::OT010), Level::Warn);
        assert!(store.current().is_exempt("oam-traefik"));
        assert_eq!(store.reload().expect("reloads"), Reload::Unchanged);
    }

    #[test]
    fn a_broken_file_at_start_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, format!("{HEADER}spec:\n  maxScopes: many\n")).expect("write");
        let err = PolicyStore::open(Some(&path), None).err().expect("refused");
        assert!(err.to_string().contains("maxScopes"), "{err}");
    }
}

//! The policy in force. A file that does not load is refused and the last good one stays;
//! a plain file is taken only once its content has stayed the same for [`SETTLE`], so a
//! file written in pieces is never in force half-written (the kubelet's `..data` swap of a
//! mounted ConfigMap is atomic and is taken at once).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use oam_traefik_policy::{Policy, PolicyError};

use crate::policy_diff::{self, Change};
use crate::watch::{content_hash, is_atomic_mount};

/// How long a plain policy file's content must stay the same before it is taken.
pub const SETTLE: Duration = Duration::from_secs(3);

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

/// What a look at the policy file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyReload {
    /// New content is in force; what changed, each loosening flagged.
    Applied(Vec<Change>),
    /// The file holds what is in force, or what was already refused (and logged).
    Unchanged,
    /// The content changed and must stay the same this much longer before it is taken.
    Settling(Duration),
}

/// The file's content as last seen.
#[derive(Debug, Default)]
struct Seen {
    /// Hash of the content in force.
    loaded: Option<u64>,
    /// Hash of the last content (or read error) refused, so it is reported once.
    refused: Option<u64>,
    /// New content waiting to stay the same: its hash and when it was first seen.
    candidate: Option<(u64, Instant)>,
}

/// The current policy, read lock-free by every request.
pub struct PolicyStore {
    current: ArcSwap<Policy>,
    seen: Mutex<Seen>,
    path: Option<PathBuf>,
    own_namespace: Option<String>,
}

impl PolicyStore {
    /// Load the policy from `path` (the defaults without one); `own_namespace` is always exempt.
    pub fn open(path: Option<&Path>, own_namespace: Option<&str>) -> Result<Self, LoadError> {
        let store = Self {
            current: ArcSwap::from_pointee(with_own(Policy::default(), own_namespace)),
            seen: Mutex::new(Seen::default()),
            path: path.map(Path::to_path_buf),
            own_namespace: own_namespace.map(str::to_string),
        };
        if let Some(path) = &store.path {
            let bytes = read(path)?;
            store.take(path, &bytes)?;
        }
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

    /// Look at the file again; on error the policy in force stays. An error is returned
    /// once per distinct content: the same broken file again is `Unchanged`.
    pub fn reload(&self) -> Result<PolicyReload, LoadError> {
        self.reload_with(SETTLE)
    }

    fn reload_with(&self, settle: Duration) -> Result<PolicyReload, LoadError> {
        let Some(path) = &self.path else {
            return Ok(PolicyReload::Unchanged);
        };
        let bytes = match read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                let hash = content_hash(e.to_string().as_bytes());
                let mut seen = self.lock();
                if seen.refused == Some(hash) {
                    return Ok(PolicyReload::Unchanged);
                }
                seen.refused = Some(hash);
                return Err(e);
            }
        };
        let hash = content_hash(&bytes);
        {
            let mut seen = self.lock();
            if seen.loaded == Some(hash) {
                seen.candidate = None;
                return Ok(PolicyReload::Unchanged);
            }
            if seen.refused == Some(hash) {
                return Ok(PolicyReload::Unchanged);
            }
            if !is_atomic_mount(path) {
                match seen.candidate {
                    Some((h, first)) if h == hash => {
                        let stable = first.elapsed();
                        if stable < settle {
                            return Ok(PolicyReload::Settling(settle - stable));
                        }
                    }
                    _ if settle.is_zero() => {}
                    _ => {
                        seen.candidate = Some((hash, Instant::now()));
                        return Ok(PolicyReload::Settling(settle));
                    }
                }
            }
        }
        self.take(path, &bytes).map(PolicyReload::Applied)
    }

    /// Parse `bytes` and put them in force; returns what changed.
    fn take(&self, path: &Path, bytes: &[u8]) -> Result<Vec<Change>, LoadError> {
        let hash = content_hash(bytes);
        let mut seen = self.lock();
        seen.candidate = None;
        let text = String::from_utf8_lossy(bytes);
        let policy = match Policy::from_yaml(&text) {
            Ok(p) => with_own(p, self.own_namespace.as_deref()),
            Err(source) => {
                seen.refused = Some(hash);
                return Err(LoadError::Invalid {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let changes = policy_diff::diff(&self.current(), &policy);
        self.current.store(Arc::new(policy));
        seen.loaded = Some(hash);
        seen.refused = None;
        Ok(changes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })
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
    fn bad_file_keeps_the_last_good_policy_and_is_reported_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, format!("{HEADER}spec:\n  rules:\n    OT010: deny\n"))
            .expect("write");
        let store = PolicyStore::open(Some(&path), Some("oam-traefik")).expect("loads");
        assert_eq!(store.current().level(RuleId::OT010), Level::Deny);
        assert!(store.current().is_exempt("oam-traefik"));

        std::fs::write(&path, "{{{ not yaml").expect("write");
        assert!(store.reload_with(Duration::ZERO).is_err());
        assert_eq!(
            store.reload_with(Duration::ZERO).expect("quiet"),
            PolicyReload::Unchanged,
            "the same broken content is reported once"
        );
        assert_eq!(store.current().level(RuleId::OT010), Level::Deny);

        std::fs::write(&path, format!("{HEADER}spec:\n  rules:\n    OT010: warn\n"))
            .expect("write");
        let PolicyReload::Applied(changes) = store.reload_with(Duration::ZERO).expect("reloads")
        else {
            panic!("not applied")
        };
        assert_eq!(changes.len(), 1);
        assert!(changes[0].loosens, "{changes:?}");
        assert_eq!(store.current().level(RuleId::OT010), Level::Warn);
        assert!(store.current().is_exempt("oam-traefik"));
        assert_eq!(
            store.reload_with(Duration::ZERO).expect("reloads"),
            PolicyReload::Unchanged
        );
    }

    #[test]
    fn a_plain_file_is_taken_only_once_it_stays_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yaml");
        let strict = format!("{HEADER}spec:\n  rules:\n    OT010: deny\n");
        std::fs::write(&path, &strict).expect("write");
        let store = PolicyStore::open(Some(&path), None).expect("loads");

        // The first piece of a rewrite: valid, but all defaults.
        std::fs::write(&path, format!("{HEADER}spec:\n")).expect("write");
        let settle = Duration::from_secs(3600);
        assert!(matches!(
            store.reload_with(settle).expect("settling"),
            PolicyReload::Settling(_)
        ));
        assert!(matches!(
            store.reload_with(settle).expect("settling"),
            PolicyReload::Settling(_)
        ));
        assert_eq!(store.current().level(RuleId::OT010), Level::Deny);
        // The rest of it: back to what is in force, so nothing changes.
        std::fs::write(&path, &strict).expect("write");
        assert_eq!(
            store.reload_with(settle).expect("same"),
            PolicyReload::Unchanged
        );
        // A new content that stays the same over the window is taken.
        std::fs::write(&path, format!("{HEADER}spec:\n  maxScopes: 2\n")).expect("write");
        let settle = Duration::from_millis(50);
        assert!(matches!(
            store.reload_with(settle).expect("first sight"),
            PolicyReload::Settling(_)
        ));
        std::thread::sleep(settle);
        assert!(matches!(
            store.reload_with(settle).expect("stable"),
            PolicyReload::Applied(_)
        ));
        assert_eq!(store.current().max_scopes, 2);
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

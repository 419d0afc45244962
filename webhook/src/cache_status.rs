//! Where each watch cache stands (pending, synced, stale since T, re-listing, absent,
//! forbidden), for lookups, `/readyz`, the metrics and the decision log.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

/// The phase of one kind's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Never listed yet (or the API server was unreachable from the start): answers are `Unknown`.
    Pending = 0,
    /// Listed and watching: answers are authoritative.
    Synced = 1,
    /// The watch broke after a sync: answers come from the last state seen until a re-list.
    Stale = 2,
    /// A re-list after a broken watch is under way: answers still come from the last state seen.
    Relisting = 3,
    /// The API server has no such resource (CRD not installed): answers are `Unknown`.
    Absent = 4,
    /// RBAC forbids listing it: answers are `Unknown`.
    Forbidden = 5,
}

impl Phase {
    /// Every phase, for the one-hot gauge.
    pub const ALL: [Phase; 6] = [
        Phase::Pending,
        Phase::Synced,
        Phase::Stale,
        Phase::Relisting,
        Phase::Absent,
        Phase::Forbidden,
    ];

    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Synced,
            2 => Phase::Stale,
            3 => Phase::Relisting,
            4 => Phase::Absent,
            5 => Phase::Forbidden,
            _ => Phase::Pending,
        }
    }

    /// The phase's name in `/readyz`, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Synced => "synced",
            Phase::Stale => "stale",
            Phase::Relisting => "re-listing",
            Phase::Absent => "absent",
            Phase::Forbidden => "forbidden",
        }
    }

    /// Whether lookups are answered from what the cache holds (possibly out of date).
    pub fn answers(self) -> bool {
        matches!(self, Phase::Synced | Phase::Stale | Phase::Relisting)
    }

    /// Whether answers may be out of date.
    pub fn is_stale(self) -> bool {
        matches!(self, Phase::Stale | Phase::Relisting)
    }

    /// Whether the first sync is behind us, or known never to come.
    pub fn settled(self) -> bool {
        self != Phase::Pending
    }
}

/// A copy of one kind's status, for `/readyz`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The kind (`Middleware`).
    pub kind: &'static str,
    /// Its phase.
    pub phase: Phase,
    /// Since when its answers may be out of date.
    pub stale_since: Option<SystemTime>,
    /// The last error of the watch, while it is not synced.
    pub last_error: Option<String>,
}

impl Snapshot {
    /// One line for `/readyz`: `Middleware: stale since 2026-11-29T13:40:01Z (12 s), re-listing`.
    pub fn line(&self) -> String {
        let mut line = format!("{}: {}", self.kind, self.phase.as_str());
        if let Some(since) = self.stale_since {
            let ago = since.elapsed().map_or(0, |d| d.as_secs());
            line = format!(
                "{}: stale since {} ({ago} s){}",
                self.kind,
                rfc3339(since),
                if self.phase == Phase::Relisting {
                    ", re-listing"
                } else {
                    ", retrying"
                }
            );
        }
        if let Some(e) = &self.last_error
            && self.phase != Phase::Synced
        {
            line.push_str(&format!("; last error: {e}"));
        }
        line
    }
}

/// The status of one kind's cache, read on every lookup.
#[derive(Debug)]
pub struct Status {
    phase: AtomicU8,
    detail: Mutex<Detail>,
}

#[derive(Debug, Default)]
struct Detail {
    stale_since: Option<SystemTime>,
    last_error: Option<String>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            phase: AtomicU8::new(Phase::Pending as u8),
            detail: Mutex::new(Detail::default()),
        }
    }
}

impl Status {
    /// The phase now.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Move to `phase`; returns the phase before. Going stale records when; syncing clears it.
    pub fn set(&self, phase: Phase, error: Option<String>) -> Phase {
        let mut d = self.detail.lock().unwrap_or_else(|p| p.into_inner());
        match phase {
            Phase::Stale | Phase::Relisting => {
                d.stale_since.get_or_insert_with(SystemTime::now);
            }
            _ => d.stale_since = None,
        }
        if error.is_some() || phase == Phase::Synced {
            d.last_error = error;
        }
        Phase::from_u8(self.phase.swap(phase as u8, Ordering::AcqRel))
    }

    /// Since when answers may be out of date.
    pub fn stale_since(&self) -> Option<SystemTime> {
        self.detail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stale_since
    }

    /// A copy for `/readyz`.
    pub fn snapshot(&self, kind: &'static str) -> Snapshot {
        let d = self.detail.lock().unwrap_or_else(|p| p.into_inner());
        Snapshot {
            kind,
            phase: self.phase(),
            stale_since: d.stale_since,
            last_error: d.last_error.clone(),
        }
    }
}

/// `2026-11-29T13:40:01Z`.
pub fn rfc3339(t: SystemTime) -> String {
    k8s_openapi::jiff::Timestamp::try_from(t)
        .map(|t| format!("{t:.0}"))
        .unwrap_or_else(|_| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn going_stale_records_the_time_once_and_a_sync_clears_it() {
        let s = Status::default();
        assert!(!s.phase().settled());
        s.set(Phase::Synced, None);
        assert!(s.stale_since().is_none());
        s.set(Phase::Stale, Some("connection refused".into()));
        let since = s.stale_since().expect("stale");
        s.set(Phase::Relisting, None);
        assert_eq!(s.stale_since(), Some(since), "the first moment counts");
        let line = s.snapshot("Middleware").line();
        assert!(line.starts_with("Middleware: stale since 20"), "{line}");
        assert!(
            line.contains("re-listing") && line.contains("connection refused"),
            "{line}"
        );
        assert_eq!(s.set(Phase::Synced, None), Phase::Relisting);
        assert!(s.stale_since().is_none());
        assert_eq!(s.snapshot("Middleware").line(), "Middleware: synced");
    }
}

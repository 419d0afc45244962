//! The keys of every issuer in use, cached: fetched on first use, refreshed in the
//! background and on an unknown `kid`, at most once per [`REFETCH_INTERVAL`] per issuer
//! and by one request at a time (single flight). A failed fetch keeps the keys in force.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::fetch::{FetchError, Fetcher};
use crate::keys::KeySet;
use crate::metrics::Metrics;

/// An issuer's keys are fetched at most this often, however many unknown `kid`s arrive.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// The most issuers whose keys are kept (each must be under `allowedIssuers` anyway).
pub const MAX_ISSUERS: usize = 64;

/// One issuer's keys and the state of fetching them.
pub struct IssuerKeys {
    issuer: String,
    min_interval: Duration,
    current: ArcSwapOption<KeySet>,
    /// When keys were last loaded, and the last fetch's error if it failed.
    state: Mutex<FetchState>,
    /// Held by the one fetch in flight; holds when the last fetch ended.
    gate: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Default)]
struct FetchState {
    loaded_at: Option<Instant>,
    last_error: Option<String>,
    /// The issuer answered discovery with 404: a prefix in `allowedIssuers`, not an issuer.
    not_an_issuer: bool,
}

/// What `/readyz` reports of one issuer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuerStatus {
    /// The issuer URL.
    pub issuer: String,
    /// How many keys are in force; 0 when none was ever loaded.
    pub keys: usize,
    /// Seconds since the keys in force were loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<u64>,
    /// Why the last fetch failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Discovery answered 404: a URL prefix, not an issuer.
    pub not_an_issuer: bool,
}

impl IssuerKeys {
    fn new(issuer: &str, min_interval: Duration) -> Self {
        Self {
            issuer: issuer.to_string(),
            min_interval,
            current: ArcSwapOption::empty(),
            state: Mutex::new(FetchState::default()),
            gate: tokio::sync::Mutex::new(None),
        }
    }

    /// The keys in force; `None` when none was ever loaded.
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        self.current.load_full()
    }

    /// Why the last fetch failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.lock_state().last_error.clone()
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, FetchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fetch the keys unless a fetch started less than the minimum interval ago; callers
    /// that arrive while a fetch is in flight wait for it instead of starting another.
    /// Returns the keys in force afterwards.
    pub async fn refresh(&self, fetcher: &Fetcher, metrics: &Metrics) -> Option<Arc<KeySet>> {
        let mut last_fetch = self.gate.lock().await;
        // Measured from the end of the last fetch: callers that waited for it do not fetch again.
        if last_fetch.is_some_and(|t| t.elapsed() < self.min_interval) {
            return self.keys();
        }
        let result = fetcher.keys(&self.issuer).await;
        *last_fetch = Some(Instant::now());
        metrics.key_fetch(&self.issuer, result.is_ok());
        let mut state = self.lock_state();
        match result {
            Ok(set) => {
                tracing::info!(issuer = %self.issuer, keys = set.keys.len(), "issuer keys loaded");
                self.current.store(Some(Arc::new(set)));
                state.loaded_at = Some(Instant::now());
                state.last_error = None;
                state.not_an_issuer = false;
            }
            Err(e) => {
                // Keys already in force stay: an issuer briefly unreachable breaks nothing.
                tracing::warn!(issuer = %self.issuer, error = %e, kept = self.keys().is_some(), "issuer keys not fetched");
                state.not_an_issuer = matches!(e, FetchError::Status { status: 404, .. })
                    && self.current.load().is_none();
                state.last_error = Some(e.to_string());
            }
        }
        drop(state);
        self.keys()
    }

    fn due(&self, every: Duration) -> bool {
        let state = self.lock_state();
        state.loaded_at.is_none_or(|t| t.elapsed() >= every) && !state.not_an_issuer
    }

    fn status(&self) -> IssuerStatus {
        let state = self.lock_state();
        IssuerStatus {
            issuer: self.issuer.clone(),
            keys: self.keys().map_or(0, |k| k.keys.len()),
            age_seconds: state.loaded_at.map(|t| t.elapsed().as_secs()),
            last_error: state.last_error.clone(),
            not_an_issuer: state.not_an_issuer,
        }
    }
}

/// The keys of every issuer in use.
pub struct KeyStore {
    fetcher: Fetcher,
    min_interval: Duration,
    metrics: Arc<Metrics>,
    issuers: Mutex<HashMap<String, Arc<IssuerKeys>>>,
}

impl KeyStore {
    /// An empty store that fetches with `fetcher`, each issuer at most once per `min_interval`
    /// ([`REFETCH_INTERVAL`] in production).
    pub fn new(fetcher: Fetcher, metrics: Arc<Metrics>, min_interval: Duration) -> Self {
        Self {
            fetcher,
            min_interval,
            metrics,
            issuers: Mutex::new(HashMap::new()),
        }
    }

    /// The entry of `issuer`, made on first use; `None` past [`MAX_ISSUERS`].
    pub fn issuer(&self, issuer: &str) -> Option<Arc<IssuerKeys>> {
        let mut issuers = self.issuers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = issuers.get(issuer) {
            return Some(entry.clone());
        }
        if issuers.len() >= MAX_ISSUERS {
            return None;
        }
        let entry = Arc::new(IssuerKeys::new(issuer, self.min_interval));
        issuers.insert(issuer.to_string(), entry.clone());
        Some(entry)
    }

    /// Track `issuers` (the policy's allowed entries) so the background refresher loads
    /// their keys before the first request, and `/readyz` can report them.
    pub fn prefetch(&self, issuers: &[String]) {
        for issuer in issuers {
            let _ = self.issuer(issuer);
        }
    }

    /// The keys of `entry`, fetched if none was ever loaded.
    pub async fn keys(&self, entry: &IssuerKeys) -> Option<Arc<KeySet>> {
        match entry.keys() {
            Some(keys) => Some(keys),
            None => entry.refresh(&self.fetcher, &self.metrics).await,
        }
    }

    /// Fetch `entry`'s keys again (an unknown `kid`), within the refetch limit.
    pub async fn refetch(&self, entry: &IssuerKeys) -> Option<Arc<KeySet>> {
        entry.refresh(&self.fetcher, &self.metrics).await
    }

    /// Refresh every issuer whose keys are older than `every` or were never loaded.
    pub async fn refresh_due(&self, every: Duration) {
        let entries: Vec<Arc<IssuerKeys>> = self
            .issuers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for entry in entries.iter().filter(|e| e.due(every)) {
            entry.refresh(&self.fetcher, &self.metrics).await;
        }
    }

    /// Refresh in the background: every minimum interval, the issuers that are due.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(store.min_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                store.refresh_due(every).await;
            }
        })
    }

    /// The state of every issuer in use, sorted by URL.
    pub fn status(&self) -> Vec<IssuerStatus> {
        let mut all: Vec<IssuerStatus> = self
            .issuers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|e| e.status())
            .collect();
        all.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        all
    }
}

//! One kind's watch: list, then watch; on any error the watch is dropped and the kind is
//! listed afresh after a short, bounded backoff, so a cache is never more than a few
//! seconds behind an API server that answers again. While it is out of date the cache
//! keeps answering from what it last saw, and says so (stale since T).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use tokio::sync::Notify;

use crate::cache::{Cache, Store};
use crate::cache_status::Phase;
use crate::log::chain;
use crate::metrics::Metrics;

/// The API server ends each watch after this many seconds, and the watch is started again
/// from where it was: a stream that stays silent longer than [`READ_TIMEOUT`] is dead.
pub const WATCH_SECONDS: u32 = 20;
/// The client gives up on a connection that sends nothing for this long (set on the client).
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The first retry after an error.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest wait between two attempts while the API server does not answer.
const MAX_RETRY: Duration = Duration::from_secs(2);
/// The wait between two attempts at a resource the API server does not serve or RBAC hides.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(10);

/// Why a watch ended.
enum Ended {
    /// The API server has no such resource (404) or forbids it (403).
    Unavailable(Phase, String),
    /// The watch's resource version is too old (410 Gone, after etcd compaction): routine,
    /// a fresh list follows at once.
    Expired(String),
    /// Anything else: connection refused, reset, timed out, 5xx; whether the API server
    /// answered (with an HTTP status) at all.
    Broken(String, bool),
}

/// Keep `cache` current for as long as the process runs.
pub(crate) async fn run(
    cache: Arc<Cache>,
    client: Client,
    server: String,
    changed: Arc<Notify>,
    metrics: Arc<Metrics>,
) {
    let what = cache.what;
    let api: Api<DynamicObject> = Api::all_with(client, &what.api_resource());
    let url = format!("{}{}", server.trim_end_matches('/'), api.resource_url());
    let mut retry = FIRST_RETRY;
    // Set from the first failure of a run of failures until the next sync: logged once each.
    let mut failing_since: Option<Instant> = None;
    let mut ever_synced = false;
    // Whether the last attempt got an HTTP answer: once the API server answers again after
    // being unreachable, the backoff starts over, so the cache catches up in well under 2 s.
    let mut answering = true;
    loop {
        if ever_synced {
            set(&cache, &changed, &metrics, Phase::Relisting, None);
        }
        let ended = watch_once(
            &cache,
            &api,
            &changed,
            &metrics,
            &mut ever_synced,
            &mut retry,
            &mut failing_since,
        )
        .await;
        let answered = !matches!(ended, Ended::Broken(_, false));
        if answered && !answering {
            retry = FIRST_RETRY;
        }
        answering = answered;
        let wait = match ended {
            Ended::Expired(error) => {
                tracing::debug!(kind = what.name(), url = %url, error = %error, "watch expired; listing afresh");
                FIRST_RETRY
            }
            Ended::Unavailable(phase, error) if !ever_synced => {
                if cache.status.phase() != phase {
                    match phase {
                        Phase::Absent => tracing::warn!(
                            kind = what.name(),
                            url = %url,
                            "the API server does not serve this resource (CRD not installed?): its lookups stay unanswered; checking again every {} s",
                            UNAVAILABLE_RETRY.as_secs()
                        ),
                        _ => tracing::warn!(
                            kind = what.name(),
                            url = %url,
                            error = %error,
                            "not allowed to list this resource (RBAC): its lookups stay unanswered; checking again every {} s",
                            UNAVAILABLE_RETRY.as_secs()
                        ),
                    }
                }
                set(&cache, &changed, &metrics, phase, Some(error));
                UNAVAILABLE_RETRY
            }
            // After a sync, a 404 or 403 is most likely an API server still starting up:
            // keep the last state seen, as for any broken watch.
            Ended::Unavailable(_, error) | Ended::Broken(error, _) => {
                if failing_since.is_none() {
                    failing_since = Some(Instant::now());
                    if ever_synced {
                        tracing::warn!(
                            kind = what.name(),
                            url = %url,
                            error = %error,
                            "watch broke; lookups answer from the last state seen (stale) until a fresh list succeeds; retrying every {} s at most",
                            MAX_RETRY.as_secs()
                        );
                    } else {
                        tracing::warn!(
                            kind = what.name(),
                            url = %url,
                            error = %error,
                            "cannot list this resource; its lookups stay unanswered until it can; retrying every {} s at most",
                            MAX_RETRY.as_secs()
                        );
                    }
                }
                let phase = match cache.status.phase() {
                    _ if ever_synced => Phase::Stale,
                    // The API server said it does not serve the kind, or forbids it; while
                    // it cannot be reached, nothing can create such objects either: that
                    // answer stands (a settled cache), it does not turn into "not synced".
                    known @ (Phase::Absent | Phase::Forbidden) => known,
                    _ => Phase::Pending,
                };
                set(&cache, &changed, &metrics, phase, Some(error));
                let wait = retry;
                retry = (retry * 2).min(MAX_RETRY);
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// List and watch until the first error.
async fn watch_once(
    cache: &Cache,
    api: &Api<DynamicObject>,
    changed: &Notify,
    metrics: &Metrics,
    ever_synced: &mut bool,
    retry: &mut Duration,
    failing_since: &mut Option<Instant>,
) -> Ended {
    let what = cache.what;
    let config = watcher::Config::default().timeout(WATCH_SECONDS);
    let mut stream = std::pin::pin!(watcher::watcher(api.clone(), config));
    let mut fresh: Option<Store> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => fresh = Some(Store::default()),
            Ok(Event::InitApply(o)) => {
                if let Some(fresh) = fresh.as_mut() {
                    cache.insert_into(fresh, &o);
                }
            }
            Ok(Event::InitDone) => {
                let count = cache.replace(fresh.take().unwrap_or_default());
                let before = set(cache, changed, metrics, Phase::Synced, None);
                match (before, failing_since.take()) {
                    (Phase::Pending, _) => {
                        tracing::info!(kind = what.name(), objects = count, "watch cache synced")
                    }
                    (_, Some(since)) => tracing::info!(
                        kind = what.name(),
                        objects = count,
                        stale_seconds = since.elapsed().as_secs(),
                        "watch cache re-synced: lookups are current again"
                    ),
                    _ => tracing::debug!(
                        kind = what.name(),
                        objects = count,
                        "watch cache re-listed"
                    ),
                }
                if *ever_synced {
                    metrics.relist(what.name());
                }
                *ever_synced = true;
                *retry = FIRST_RETRY;
            }
            Ok(Event::Apply(o)) => cache.apply(&o),
            Ok(Event::Delete(o)) => cache.delete(&o),
            Err(e) => return ended(&e),
        }
    }
    Ended::Broken("the watch stream ended".to_string(), true)
}

fn ended(e: &watcher::Error) -> Ended {
    let code = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        _ => None,
    };
    match code {
        Some(404) => Ended::Unavailable(Phase::Absent, chain(e)),
        Some(403) => Ended::Unavailable(Phase::Forbidden, chain(e)),
        Some(410) => Ended::Expired(chain(e)),
        Some(_) => Ended::Broken(chain(e), true),
        None => Ended::Broken(chain(e), false),
    }
}

/// Move the cache to `phase`, tell the gauge and whoever waits for a sync.
fn set(
    cache: &Cache,
    changed: &Notify,
    metrics: &Metrics,
    phase: Phase,
    error: Option<String>,
) -> Phase {
    let before = cache.status.set(phase, error);
    if before != phase {
        metrics.cache_phase(cache.what.name(), phase);
        changed.notify_waiters();
    }
    before
}

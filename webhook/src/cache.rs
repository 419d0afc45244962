//! Watch caches (kube-runtime reflectors) of the objects the rules ask about, and the
//! `Lookup` they answer. A kind answers `Unknown` until its cache has synced; a kind
//! whose CRD is not installed (or that RBAC hides) stays `Unknown` and is logged once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use oam_traefik_policy::classes::{Gateway, GatewayClass, IngressClass};
use oam_traefik_policy::error::from_value;
use oam_traefik_policy::lookup::{Answer, Lookup};
use oam_traefik_policy::naming;
use oam_traefik_policy::{Application, Kind, Middleware, Object, ObjectRef as PolicyRef};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The kinds the webhook watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// KubeVela Applications.
    Application,
    /// Traefik Middlewares.
    Middleware,
    /// Ingresses.
    Ingress,
    /// Traefik IngressRoutes.
    IngressRoute,
    /// Gateway API HTTPRoutes.
    HttpRoute,
    /// IngressClasses.
    IngressClass,
    /// Gateway API Gateways.
    Gateway,
    /// Gateway API GatewayClasses.
    GatewayClass,
}

impl Watched {
    /// Every watched kind.
    pub const ALL: [Watched; 8] = [
        Watched::Application,
        Watched::Middleware,
        Watched::Ingress,
        Watched::IngressRoute,
        Watched::HttpRoute,
        Watched::IngressClass,
        Watched::Gateway,
        Watched::GatewayClass,
    ];

    /// group, version, kind, plural.
    fn gvkp(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Watched::Application => ("core.oam.dev", "v1beta1", "Application", "applications"),
            Watched::Middleware => ("traefik.io", "v1alpha1", "Middleware", "middlewares"),
            Watched::Ingress => ("networking.k8s.io", "v1", "Ingress", "ingresses"),
            Watched::IngressRoute => ("traefik.io", "v1alpha1", "IngressRoute", "ingressroutes"),
            Watched::HttpRoute => ("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
            Watched::IngressClass => ("networking.k8s.io", "v1", "IngressClass", "ingressclasses"),
            Watched::Gateway => ("gateway.networking.k8s.io", "v1", "Gateway", "gateways"),
            Watched::GatewayClass => (
                "gateway.networking.k8s.io",
                "v1",
                "GatewayClass",
                "gatewayclasses",
            ),
        }
    }

    /// The API resource to list and watch.
    pub fn api_resource(self) -> ApiResource {
        let (group, version, kind, plural) = self.gvkp();
        ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: format!("{group}/{version}"),
            kind: kind.to_string(),
            plural: plural.to_string(),
        }
    }

    fn kind(self) -> &'static str {
        self.gvkp().2
    }
}

/// Where a cache stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CacheState {
    /// Not listed yet (or the API server is unreachable).
    Pending = 0,
    /// Listed and watching: answers are authoritative.
    Synced = 1,
    /// The API server has no such resource (CRD not installed): answers are `Unknown`.
    Absent = 2,
    /// RBAC forbids listing it: answers are `Unknown`.
    Forbidden = 3,
}

impl CacheState {
    fn from_u8(v: u8) -> CacheState {
        match v {
            1 => CacheState::Synced,
            2 => CacheState::Absent,
            3 => CacheState::Forbidden,
            _ => CacheState::Pending,
        }
    }
}

struct Cache {
    what: Watched,
    resource: ApiResource,
    store: Store<DynamicObject>,
    state: Arc<AtomicU8>,
}

impl Cache {
    fn state(&self) -> CacheState {
        CacheState::from_u8(self.state.load(Ordering::Acquire))
    }

    fn get(&self, namespace: Option<&str>, name: &str) -> Answer<Arc<DynamicObject>> {
        if self.state() != CacheState::Synced {
            return Answer::Unknown;
        }
        let mut key = ObjectRef::<DynamicObject>::new_with(name, self.resource.clone());
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        match self.store.get(&key) {
            Some(o) => Answer::Found(o),
            None => Answer::Missing,
        }
    }

    /// A typed view of a cached object; one that does not parse is `Unknown`.
    fn view<T>(
        &self,
        namespace: Option<&str>,
        name: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Answer<T> {
        match self.get(namespace, name) {
            Answer::Found(o) => match serde_json::to_value(&*o).ok().and_then(|v| parse(&v)) {
                Some(t) => Answer::Found(t),
                None => {
                    tracing::debug!(
                        kind = self.what.kind(),
                        name,
                        "cached object does not parse"
                    );
                    Answer::Unknown
                }
            },
            Answer::Missing => Answer::Missing,
            Answer::Unknown => Answer::Unknown,
        }
    }
}

/// The watch caches of one cluster.
pub struct ClusterCache {
    caches: Vec<Cache>,
}

impl ClusterCache {
    /// Start a reflector per watched kind; they run until the process ends.
    pub fn start(client: Client) -> Arc<ClusterCache> {
        let caches = Watched::ALL
            .iter()
            .map(|&what| {
                let resource = what.api_resource();
                let writer = reflector::store::Writer::new(resource.clone());
                let store = writer.as_reader();
                let state = Arc::new(AtomicU8::new(CacheState::Pending as u8));
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
                let stream = watcher(api).default_backoff().modify(slim).reflect(writer);
                tokio::spawn(run(what, stream, state.clone()));
                Cache {
                    what,
                    resource,
                    store,
                    state,
                }
            })
            .collect();
        Arc::new(ClusterCache { caches })
    }

    fn cache(&self, what: Watched) -> &Cache {
        // ALL built every cache in order.
        &self.caches[Watched::ALL.iter().position(|w| *w == what).unwrap_or(0)]
    }

    /// Whether every cache has synced or is known to be unavailable.
    pub fn settled(&self) -> bool {
        self.caches.iter().all(|c| c.state() != CacheState::Pending)
    }

    /// Each kind and where its cache stands.
    pub fn states(&self) -> Vec<(&'static str, CacheState)> {
        self.caches
            .iter()
            .map(|c| (c.what.kind(), c.state()))
            .collect()
    }

    fn typed<T: DeserializeOwned>(
        &self,
        what: Watched,
        namespace: Option<&str>,
        name: &str,
    ) -> Answer<T> {
        self.cache(what)
            .view(namespace, name, |v| from_value::<T>(v).ok())
    }
}

fn watcher(
    api: Api<DynamicObject>,
) -> impl futures::Stream<Item = watcher::Result<Event<DynamicObject>>> {
    watcher::watcher(api, watcher::Config::default())
}

/// Drop what the rules never read and what makes objects big.
fn slim(o: &mut DynamicObject) {
    o.metadata.managed_fields = None;
    if let Some(a) = o.metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Drive one reflector, tracking its state and logging each change of state once.
async fn run(
    what: Watched,
    stream: impl futures::Stream<Item = watcher::Result<Event<DynamicObject>>>,
    state: Arc<AtomicU8>,
) {
    let mut stream = std::pin::pin!(stream);
    let mut last = CacheState::Pending;
    // Set while a run of watch errors lasts: each run is logged once, and so is its end.
    let mut failing = false;
    while let Some(event) = stream.next().await {
        if event.is_ok() && failing {
            tracing::info!(kind = what.kind(), "watch recovered");
            failing = false;
        }
        let now = match event {
            Ok(Event::InitDone) => CacheState::Synced,
            Ok(_) => continue,
            Err(e) => match api_code(&e) {
                Some(404) => CacheState::Absent,
                Some(403) => CacheState::Forbidden,
                _ => {
                    if !failing {
                        tracing::warn!(
                            kind = what.kind(),
                            error = %e,
                            synced = last == CacheState::Synced,
                            "watch failed; retrying (a synced cache keeps answering from what it last saw)"
                        );
                        failing = true;
                    }
                    continue;
                }
            },
        };
        if now != last {
            match now {
                CacheState::Synced => tracing::info!(kind = what.kind(), "watch cache synced"),
                CacheState::Absent => tracing::warn!(
                    kind = what.kind(),
                    "resource not served by the API server (CRD not installed?): its lookups stay unanswered"
                ),
                CacheState::Forbidden => tracing::warn!(
                    kind = what.kind(),
                    "not allowed to list this resource (RBAC): its lookups stay unanswered"
                ),
                CacheState::Pending => {}
            }
            state.store(now as u8, Ordering::Release);
            last = now;
        }
    }
}

fn api_code(e: &watcher::Error) -> Option<u16> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        _ => None,
    }
}

impl Lookup for ClusterCache {
    fn middleware(&self, namespace: &str, name: &str) -> Answer<Arc<Middleware>> {
        self.typed::<Middleware>(Watched::Middleware, Some(namespace), name)
            .map(Arc::new)
    }

    fn application(&self, namespace: &str, name: &str) -> Answer<Arc<Application>> {
        self.cache(Watched::Application)
            .view(Some(namespace), name, |v| Application::from_value(v).ok())
            .map(Arc::new)
    }

    fn middlewares_by_key(&self, key: &str) -> Answer<Vec<Arc<Middleware>>> {
        let cache = self.cache(Watched::Middleware);
        match cache.state() {
            CacheState::Synced => {}
            // Without the Middleware CRD no Middleware can exist, and Traefik has none either.
            CacheState::Absent => return Answer::Found(Vec::new()),
            CacheState::Pending | CacheState::Forbidden => return Answer::Unknown,
        }
        let found = cache
            .store
            .state()
            .iter()
            .filter(|o| {
                let (Some(ns), Some(name)) = (&o.metadata.namespace, &o.metadata.name) else {
                    return false;
                };
                naming::crd_key(ns, name) == key
            })
            .filter_map(|o| {
                serde_json::to_value(&**o)
                    .ok()
                    .and_then(|v| Object::parse(Kind::Middleware, &v).ok())
            })
            .filter_map(|o| match o {
                Object::Middleware(mw) => Some(Arc::new(mw)),
                _ => None,
            })
            .collect();
        Answer::Found(found)
    }

    fn routes_using_middleware(&self, namespace: &str, name: &str) -> Answer<Vec<PolicyRef>> {
        let wanted = naming::crd_key(namespace, name);
        let mut found = Vec::new();
        for (what, kind) in [
            (Watched::Ingress, Kind::Ingress),
            (Watched::IngressRoute, Kind::IngressRoute),
            (Watched::HttpRoute, Kind::HttpRoute),
        ] {
            let cache = self.cache(what);
            match cache.state() {
                CacheState::Synced => {}
                // No such resource in the cluster, so no route of this kind uses it.
                CacheState::Absent => continue,
                CacheState::Pending | CacheState::Forbidden => return Answer::Unknown,
            }
            for o in cache.store.state().iter() {
                let route_ns = o.metadata.namespace.clone().unwrap_or_default();
                let Some(route) = serde_json::to_value(&**o)
                    .ok()
                    .and_then(|v| Object::parse(kind, &v).ok())
                else {
                    continue;
                };
                if route
                    .middleware_targets(&route_ns)
                    .iter()
                    .any(|t| t.key().as_deref() == Some(wanted.as_str()))
                {
                    found.push(route.object_ref(&route_ns));
                }
            }
        }
        Answer::Found(found)
    }

    fn ingress_class_controller(&self, name: &str) -> Answer<String> {
        self.typed::<IngressClass>(Watched::IngressClass, None, name)
            .map(|c| c.spec.controller)
    }

    fn gateway_class(&self, namespace: &str, name: &str) -> Answer<String> {
        self.typed::<Gateway>(Watched::Gateway, Some(namespace), name)
            .map(|g| g.spec.gateway_class_name)
    }

    fn gateway_class_controller(&self, name: &str) -> Answer<String> {
        self.typed::<GatewayClass>(Watched::GatewayClass, None, name)
            .map(|c| c.spec.controller_name)
    }
}

//! Watch caches of the objects the rules ask about, and the `Lookup` they answer. Each
//! object is parsed into its typed view once, when its watch event arrives; lookups read
//! those views. A kind answers `Unknown` until its first sync; after a broken watch it
//! keeps answering from the last state seen (stale) while it re-lists, and says so.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::Client;
use kube::api::{ApiResource, DynamicObject};
use oam_traefik_policy::classes::{Gateway, GatewayClass, IngressClass};
use oam_traefik_policy::error::from_value;
use oam_traefik_policy::lookup::{Answer, Lookup};
use oam_traefik_policy::middleware::Target;
use oam_traefik_policy::trait_definition::TraitDefinition;
use oam_traefik_policy::{Application, Kind, Middleware, Object, ObjectRef as PolicyRef, naming};
use serde_json::Value;
use tokio::sync::Notify;

use crate::cache_status::{Phase, Snapshot, Status};
use crate::metrics::Metrics;
use crate::relist;

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
    /// KubeVela TraitDefinitions: which traits render routes.
    TraitDefinition,
    /// Gateway API GRPCRoutes (they attach Middlewares through `ExtensionRef` filters).
    GrpcRoute,
    /// Traefik v2's `traefik.containo.us` Middlewares, which Traefik v2 files under the
    /// same keys as `traefik.io` ones.
    LegacyMiddleware,
    /// Traefik v2's `traefik.containo.us` IngressRoutes.
    LegacyIngressRoute,
}

impl Watched {
    /// Every watched kind, in declaration order (a cache's index in the list).
    pub const ALL: [Watched; 12] = [
        Watched::Application,
        Watched::Middleware,
        Watched::Ingress,
        Watched::IngressRoute,
        Watched::HttpRoute,
        Watched::IngressClass,
        Watched::Gateway,
        Watched::GatewayClass,
        Watched::TraitDefinition,
        Watched::GrpcRoute,
        Watched::LegacyMiddleware,
        Watched::LegacyIngressRoute,
    ];

    /// The kinds of route that attach (HTTP) Middlewares.
    const ROUTES: [Watched; 5] = [
        Watched::Ingress,
        Watched::IngressRoute,
        Watched::LegacyIngressRoute,
        Watched::HttpRoute,
        Watched::GrpcRoute,
    ];

    /// The kinds of Middleware, in the order a name is looked up.
    const MIDDLEWARES: [Watched; 2] = [Watched::Middleware, Watched::LegacyMiddleware];

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
            Watched::TraitDefinition => (
                "core.oam.dev",
                "v1beta1",
                "TraitDefinition",
                "traitdefinitions",
            ),
            Watched::GrpcRoute => ("gateway.networking.k8s.io", "v1", "GRPCRoute", "grpcroutes"),
            Watched::LegacyMiddleware => (
                "traefik.containo.us",
                "v1alpha1",
                "Middleware",
                "middlewares",
            ),
            Watched::LegacyIngressRoute => (
                "traefik.containo.us",
                "v1alpha1",
                "IngressRoute",
                "ingressroutes",
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

    /// The kind as Kubernetes spells it.
    pub fn kind(self) -> &'static str {
        self.gvkp().2
    }

    /// The kind and its group where the kind alone is ambiguous (`Middleware.traefik.containo.us`),
    /// for `/readyz`, metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Watched::LegacyMiddleware => "Middleware.traefik.containo.us",
            Watched::LegacyIngressRoute => "IngressRoute.traefik.containo.us",
            other => other.kind(),
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// What the rules need of one cached object, parsed when its event arrived.
#[derive(Debug)]
pub(crate) enum View {
    /// A Middleware, with the key Traefik files it under.
    Middleware {
        middleware: Arc<Middleware>,
        key: String,
    },
    Application(Arc<Application>),
    /// A route: itself, and the Traefik keys of the Middlewares it attaches.
    Route {
        reference: PolicyRef,
        keys: Vec<String>,
    },
    /// An IngressClass's or GatewayClass's controller, or a Gateway's class.
    Name(String),
    /// Whether a TraitDefinition renders a route.
    RendersRoute(bool),
    /// An object that does not fit its typed view: lookups of it are `Unknown`.
    Unreadable,
}

impl View {
    fn parse(what: Watched, namespace: &str, value: &Value) -> View {
        let parsed = match what {
            Watched::Middleware | Watched::LegacyMiddleware => {
                from_value::<Middleware>(value).ok().map(|mut m| {
                    m.metadata.namespace = Some(namespace.to_string());
                    let key = naming::crd_key(namespace, &m.metadata.name);
                    View::Middleware {
                        middleware: Arc::new(m),
                        key,
                    }
                })
            }
            Watched::Application => Application::from_value(value)
                .ok()
                .map(|a| View::Application(Arc::new(a))),
            Watched::Ingress
            | Watched::IngressRoute
            | Watched::LegacyIngressRoute
            | Watched::HttpRoute
            | Watched::GrpcRoute => {
                let kind = match what {
                    Watched::Ingress => Kind::Ingress,
                    Watched::IngressRoute | Watched::LegacyIngressRoute => Kind::IngressRoute,
                    Watched::GrpcRoute => Kind::GrpcRoute,
                    _ => Kind::HttpRoute,
                };
                Object::parse(kind, value).ok().map(|route| View::Route {
                    reference: route.object_ref(namespace),
                    keys: route
                        .middleware_targets(namespace)
                        .iter()
                        .filter_map(Target::key)
                        .collect(),
                })
            }
            Watched::IngressClass => from_value::<IngressClass>(value)
                .ok()
                .map(|c| View::Name(c.spec.controller)),
            Watched::Gateway => from_value::<Gateway>(value)
                .ok()
                .map(|g| View::Name(g.spec.gateway_class_name)),
            Watched::GatewayClass => from_value::<GatewayClass>(value)
                .ok()
                .map(|c| View::Name(c.spec.controller_name)),
            Watched::TraitDefinition => from_value::<TraitDefinition>(value)
                .ok()
                .map(|d| View::RendersRoute(d.renders_route())),
        };
        parsed.unwrap_or_else(|| {
            tracing::debug!(
                kind = what.name(),
                namespace,
                "cached object does not fit its typed view; its lookups stay unanswered"
            );
            View::Unreadable
        })
    }
}

/// Typed views by namespace (empty for cluster-scoped kinds), then name.
type Objects = HashMap<String, HashMap<String, View>>;

/// A namespace and a name.
type Id = (String, String);

impl View {
    /// The Traefik keys this view is found by: a Middleware's own key, or the keys of the
    /// Middlewares a route attaches.
    fn keys(&self) -> &[String] {
        match self {
            View::Middleware { key, .. } => std::slice::from_ref(key),
            View::Route { keys, .. } => keys,
            _ => &[],
        }
    }
}

/// One kind's objects, and an index from Traefik keys to the objects found by them, so
/// that "which routes use this Middleware" and "which Middlewares are filed under this
/// key" cost a lookup, not a scan of the kind.
#[derive(Default)]
pub(crate) struct Store {
    objects: Objects,
    by_key: HashMap<String, BTreeSet<Id>>,
}

impl Store {
    fn insert(&mut self, namespace: String, name: String, view: View) {
        let id = (namespace, name);
        for key in view.keys() {
            self.by_key
                .entry(key.clone())
                .or_default()
                .insert(id.clone());
        }
        let (namespace, name) = id;
        let old = self
            .objects
            .entry(namespace.clone())
            .or_default()
            .insert(name.clone(), view);
        if let Some(old) = old {
            let id = (namespace, name);
            let kept = self.objects[&id.0][&id.1].keys();
            for key in old.keys().iter().filter(|k| !kept.contains(k)) {
                unindex(&mut self.by_key, key, &id);
            }
        }
    }

    fn remove(&mut self, namespace: &str, name: &str) {
        let Some(names) = self.objects.get_mut(namespace) else {
            return;
        };
        let Some(old) = names.remove(name) else {
            return;
        };
        if names.is_empty() {
            self.objects.remove(namespace);
        }
        let id = (namespace.to_string(), name.to_string());
        for key in old.keys() {
            unindex(&mut self.by_key, key, &id);
        }
    }

    fn len(&self) -> usize {
        self.objects.values().map(HashMap::len).sum()
    }

    fn view(&self, id: &Id) -> Option<&View> {
        self.objects.get(&id.0).and_then(|names| names.get(&id.1))
    }

    /// The views found by `key`, in namespace and name order.
    fn under(&self, key: &str) -> impl Iterator<Item = &View> {
        self.by_key
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.view(id))
    }
}

fn unindex(by_key: &mut HashMap<String, BTreeSet<Id>>, key: &str, id: &Id) {
    if let Some(ids) = by_key.get_mut(key) {
        ids.remove(id);
        if ids.is_empty() {
            by_key.remove(key);
        }
    }
}

/// One kind's cache: its views and where it stands.
pub(crate) struct Cache {
    pub(crate) what: Watched,
    store: RwLock<Store>,
    pub(crate) status: Status,
}

impl Cache {
    fn new(what: Watched) -> Self {
        Self {
            what,
            store: RwLock::new(Store::default()),
            status: Status::default(),
        }
    }

    /// Parse `o` and add (or replace) it in `store`.
    pub(crate) fn insert_into(&self, store: &mut Store, o: &DynamicObject) {
        let Some(name) = o.metadata.name.clone() else {
            return;
        };
        let namespace = o.metadata.namespace.clone().unwrap_or_default();
        let view = match serde_json::to_value(o) {
            Ok(mut value) => {
                slim(&mut value);
                View::parse(self.what, &namespace, &value)
            }
            Err(_) => View::Unreadable,
        };
        store.insert(namespace, name, view);
    }

    /// Add or replace one object.
    pub(crate) fn apply(&self, o: &DynamicObject) {
        let mut store = self.store.write().unwrap_or_else(|p| p.into_inner());
        self.insert_into(&mut store, o);
    }

    /// Remove one object.
    pub(crate) fn delete(&self, o: &DynamicObject) {
        let namespace = o.metadata.namespace.clone().unwrap_or_default();
        let Some(name) = &o.metadata.name else {
            return;
        };
        let mut store = self.store.write().unwrap_or_else(|p| p.into_inner());
        store.remove(&namespace, name);
    }

    /// Replace everything with a fresh list; returns how many objects it holds.
    pub(crate) fn replace(&self, fresh: Store) -> usize {
        let count = fresh.len();
        *self.store.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        count
    }

    /// The views found by `key`, mapped by `pick`: `Unknown` until the kind has synced;
    /// nothing when the kind is not served by the cluster.
    fn under<T>(&self, key: &str, pick: impl Fn(&View) -> Option<T>) -> Answer<Vec<T>> {
        match self.status.phase() {
            p if p.answers() => {}
            Phase::Absent => return Answer::Found(Vec::new()),
            _ => return Answer::Unknown,
        }
        let store = self.store.read().unwrap_or_else(|p| p.into_inner());
        Answer::Found(store.under(key).filter_map(pick).collect())
    }

    fn get<T>(
        &self,
        namespace: Option<&str>,
        name: &str,
        pick: impl FnOnce(&View) -> Option<T>,
    ) -> Answer<T> {
        if !self.status.phase().answers() {
            return Answer::Unknown;
        }
        let store = self.store.read().unwrap_or_else(|p| p.into_inner());
        match store
            .objects
            .get(namespace.unwrap_or_default())
            .and_then(|names| names.get(name))
        {
            None => Answer::Missing,
            Some(view) => pick(view).map_or(Answer::Unknown, Answer::Found),
        }
    }
}

/// Drop what the rules never read and what makes objects big, before parsing.
fn slim(value: &mut Value) {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
}

/// The watch caches of one cluster.
pub struct ClusterCache {
    caches: Vec<Arc<Cache>>,
    /// Woken on every change of a cache's phase.
    changed: Arc<Notify>,
}

impl ClusterCache {
    /// Start a watch per kind against the API server at `server` (for the logs); the
    /// watches run until the process ends.
    pub fn start(client: Client, server: &str, metrics: Arc<Metrics>) -> Arc<ClusterCache> {
        let changed = Arc::new(Notify::new());
        let caches: Vec<Arc<Cache>> = Watched::ALL
            .iter()
            .map(|&what| {
                let cache = Arc::new(Cache::new(what));
                metrics.cache_phase(what.name(), Phase::Pending);
                tokio::spawn(relist::run(
                    cache.clone(),
                    client.clone(),
                    server.to_string(),
                    changed.clone(),
                    metrics.clone(),
                ));
                cache
            })
            .collect();
        Arc::new(ClusterCache { caches, changed })
    }

    fn cache(&self, what: Watched) -> &Cache {
        // ALL built every cache in order.
        &self.caches[what as usize]
    }

    /// Whether every cache has synced once or is known to be unavailable.
    pub fn settled(&self) -> bool {
        self.caches.iter().all(|c| c.status.phase().settled())
    }

    /// Wait until [`settled`](Self::settled), at most `limit`; returns whether it is.
    pub async fn wait_settled(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.changed.notified();
            if self.settled() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.settled();
            }
        }
    }

    /// Each kind and where its cache stands.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.caches
            .iter()
            .map(|c| c.status.snapshot(c.what.name()))
            .collect()
    }

    /// The kinds still waiting for their first sync.
    pub fn pending(&self) -> Vec<&'static str> {
        self.caches
            .iter()
            .filter(|c| !c.status.phase().settled())
            .map(|c| c.what.name())
            .collect()
    }

    /// A lookup for one review that remembers which kinds it asked about.
    pub fn consulting(&self) -> Consulted<'_> {
        Consulted {
            cache: self,
            asked: std::cell::Cell::new(0),
        }
    }

    /// Routes in any namespace whose references Traefik resolves by the key of `namespace/name`.
    fn routes_using(&self, namespace: &str, name: &str) -> Answer<Vec<PolicyRef>> {
        let wanted = naming::crd_key(namespace, name);
        let mut found = Vec::new();
        for what in Watched::ROUTES {
            let routes = self.cache(what).under(&wanted, |view| match view {
                View::Route { reference, .. } => Some(reference.clone()),
                _ => None,
            });
            match routes {
                Answer::Found(routes) => found.extend(routes),
                _ => return Answer::Unknown,
            }
        }
        Answer::Found(found)
    }

    /// Whether a TraitDefinition named `name`, in any namespace (KubeVela looks in the
    /// app's namespace, then its own), renders a route: exposure is assumed, never protection.
    fn trait_renders_route(&self, name: &str) -> Answer<bool> {
        let cache = self.cache(Watched::TraitDefinition);
        if !cache.status.phase().answers() {
            return Answer::Unknown;
        }
        let store = cache.store.read().unwrap_or_else(|p| p.into_inner());
        let mut found = false;
        for names in store.objects.values() {
            match names.get(name) {
                Some(View::RendersRoute(true)) => return Answer::Found(true),
                Some(_) => found = true,
                None => {}
            }
        }
        if found {
            Answer::Found(false)
        } else {
            Answer::Missing
        }
    }

    /// Every Middleware Traefik files under `key`, in any namespace and either group.
    fn middlewares_under(&self, key: &str) -> Answer<Vec<Arc<Middleware>>> {
        let mut found = Vec::new();
        for what in Watched::MIDDLEWARES {
            let middlewares = self.cache(what).under(key, |view| match view {
                View::Middleware { middleware, .. } => Some(middleware.clone()),
                _ => None,
            });
            match middlewares {
                Answer::Found(middlewares) => found.extend(middlewares),
                _ => return Answer::Unknown,
            }
        }
        Answer::Found(found)
    }

    /// The Middleware `namespace/name`: the `traefik.io` one, else Traefik v2's
    /// `traefik.containo.us` one when that group is served.
    fn middleware_named(&self, namespace: &str, name: &str) -> Answer<Arc<Middleware>> {
        let pick = |v: &View| match v {
            View::Middleware { middleware, .. } => Some(middleware.clone()),
            _ => None,
        };
        let current = self
            .cache(Watched::Middleware)
            .get(Some(namespace), name, pick);
        if matches!(current, Answer::Found(_)) {
            return current;
        }
        let legacy = self.cache(Watched::LegacyMiddleware);
        if legacy.status.phase() == Phase::Absent {
            return current;
        }
        match legacy.get(Some(namespace), name, pick) {
            Answer::Missing => current,
            other => other,
        }
    }
}

/// A [`Lookup`] over the caches that records the kinds one review asked about, so the
/// decision log can say whether any of them was stale.
pub struct Consulted<'a> {
    cache: &'a ClusterCache,
    asked: std::cell::Cell<u16>,
}

impl Consulted<'_> {
    fn ask(&self, what: Watched) -> &Cache {
        self.asked.set(self.asked.get() | what.bit());
        self.cache.cache(what)
    }

    /// The kinds asked about whose answers may have been out of date (`Middleware stale since …`).
    pub fn stale(&self) -> Vec<String> {
        Watched::ALL
            .iter()
            .filter(|w| self.asked.get() & w.bit() != 0)
            .filter_map(|&w| {
                let status = &self.cache.cache(w).status;
                status.phase().is_stale().then(|| {
                    let since = status
                        .stale_since()
                        .map(crate::cache_status::rfc3339)
                        .unwrap_or_default();
                    format!("{} stale since {since}", w.name())
                })
            })
            .collect()
    }
}

impl Lookup for Consulted<'_> {
    fn middleware(&self, namespace: &str, name: &str) -> Answer<Arc<Middleware>> {
        for what in Watched::MIDDLEWARES {
            self.ask(what);
        }
        self.cache.middleware_named(namespace, name)
    }

    fn middlewares_by_key(&self, key: &str) -> Answer<Vec<Arc<Middleware>>> {
        for what in Watched::MIDDLEWARES {
            self.ask(what);
        }
        self.cache.middlewares_under(key)
    }

    fn application(&self, namespace: &str, name: &str) -> Answer<Arc<Application>> {
        self.ask(Watched::Application)
            .get(Some(namespace), name, |v| match v {
                View::Application(a) => Some(a.clone()),
                _ => None,
            })
    }

    fn routes_using_middleware(&self, namespace: &str, name: &str) -> Answer<Vec<PolicyRef>> {
        for what in Watched::ROUTES {
            self.ask(what);
        }
        self.cache.routes_using(namespace, name)
    }

    fn ingress_class_controller(&self, name: &str) -> Answer<String> {
        self.ask(Watched::IngressClass).get(None, name, name_of)
    }

    fn gateway_class(&self, namespace: &str, name: &str) -> Answer<String> {
        self.ask(Watched::Gateway)
            .get(Some(namespace), name, name_of)
    }

    fn gateway_class_controller(&self, name: &str) -> Answer<String> {
        self.ask(Watched::GatewayClass).get(None, name, name_of)
    }

    fn trait_renders_route(&self, name: &str) -> Answer<bool> {
        self.ask(Watched::TraitDefinition);
        self.cache.trait_renders_route(name)
    }
}

impl Lookup for ClusterCache {
    fn middleware(&self, namespace: &str, name: &str) -> Answer<Arc<Middleware>> {
        self.consulting().middleware(namespace, name)
    }

    fn middlewares_by_key(&self, key: &str) -> Answer<Vec<Arc<Middleware>>> {
        self.middlewares_under(key)
    }

    fn application(&self, namespace: &str, name: &str) -> Answer<Arc<Application>> {
        self.consulting().application(namespace, name)
    }

    fn routes_using_middleware(&self, namespace: &str, name: &str) -> Answer<Vec<PolicyRef>> {
        self.routes_using(namespace, name)
    }

    fn ingress_class_controller(&self, name: &str) -> Answer<String> {
        self.consulting().ingress_class_controller(name)
    }

    fn gateway_class(&self, namespace: &str, name: &str) -> Answer<String> {
        self.consulting().gateway_class(namespace, name)
    }

    fn gateway_class_controller(&self, name: &str) -> Answer<String> {
        self.consulting().gateway_class_controller(name)
    }

    fn trait_renders_route(&self, name: &str) -> Answer<bool> {
        self.consulting().trait_renders_route(name)
    }
}

fn name_of(v: &View) -> Option<String> {
    match v {
        View::Name(n) => Some(n.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> DynamicObject {
        serde_json::from_value(v).expect("object")
    }

    fn cluster(caches: Vec<Arc<Cache>>) -> ClusterCache {
        ClusterCache {
            caches,
            changed: Arc::new(Notify::new()),
        }
    }

    #[test]
    fn views_are_parsed_on_arrival_and_answer_by_phase() {
        let caches: Vec<Arc<Cache>> = Watched::ALL
            .iter()
            .map(|&w| Arc::new(Cache::new(w)))
            .collect();
        let c = cluster(caches);
        let mw = object(json!({
            "apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
            "metadata": {"name": "sso", "namespace": "shop", "managedFields": [{"manager": "x"}]},
            "spec": {"forwardAuth": {"address": "https://auth.example.com/verify"}}
        }));
        let ing = object(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop",
                "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": "shop-sso@kubernetescrd"}},
            "spec": {"ingressClassName": "traefik"}
        }));
        c.cache(Watched::Middleware).apply(&mw);
        c.cache(Watched::Ingress).apply(&ing);
        assert_eq!(
            c.middleware("shop", "sso"),
            Answer::Unknown,
            "not synced yet"
        );

        for w in Watched::ALL {
            c.cache(w).status.set(Phase::Synced, None);
        }
        assert!(matches!(c.middleware("shop", "sso"), Answer::Found(_)));
        assert_eq!(c.middleware("shop", "other"), Answer::Missing);
        let routes = c
            .routes_using_middleware("shop", "sso")
            .found()
            .expect("found");
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].name, "web");

        // A broken watch: the last state seen keeps answering, and a review says it used it.
        c.cache(Watched::Middleware)
            .status
            .set(Phase::Stale, Some("connection refused".into()));
        let consulted = c.consulting();
        assert!(matches!(
            consulted.middleware("shop", "sso"),
            Answer::Found(_)
        ));
        let stale = consulted.stale();
        assert_eq!(stale.len(), 1);
        assert!(stale[0].starts_with("Middleware stale since "), "{stale:?}");
        assert!(
            c.consulting().stale().is_empty(),
            "nothing asked, nothing stale"
        );

        c.cache(Watched::Middleware).delete(&mw);
        assert_eq!(c.middleware("shop", "sso"), Answer::Missing);
    }

    fn synced_cluster() -> ClusterCache {
        let c = cluster(
            Watched::ALL
                .iter()
                .map(|&w| Arc::new(Cache::new(w)))
                .collect(),
        );
        for w in Watched::ALL {
            c.cache(w).status.set(Phase::Synced, None);
        }
        c
    }

    fn ingress(name: &str, middlewares: &str) -> DynamicObject {
        object(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "shop",
                "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": middlewares}},
            "spec": {"ingressClassName": "traefik"}
        }))
    }

    fn names(answer: Answer<Vec<PolicyRef>>) -> Vec<String> {
        answer
            .found()
            .expect("found")
            .into_iter()
            .map(|r| format!("{}/{}", r.kind, r.name))
            .collect()
    }

    #[test]
    fn the_key_index_follows_updates_deletes_and_relists() {
        let c = synced_cluster();
        let ingresses = c.cache(Watched::Ingress);
        ingresses.apply(&ingress("a", "shop-sso@kubernetescrd"));
        ingresses.apply(&ingress(
            "b",
            "shop-sso@kubernetescrd,shop-headers@kubernetescrd",
        ));
        assert_eq!(
            names(c.routes_using_middleware("shop", "sso")),
            ["Ingress/a", "Ingress/b"]
        );
        // An update that drops the reference drops the route from the key's list.
        ingresses.apply(&ingress("a", "shop-headers@kubernetescrd"));
        assert_eq!(
            names(c.routes_using_middleware("shop", "sso")),
            ["Ingress/b"]
        );
        assert_eq!(
            names(c.routes_using_middleware("shop", "headers")),
            ["Ingress/a", "Ingress/b"]
        );
        ingresses.delete(&ingress("b", ""));
        assert!(names(c.routes_using_middleware("shop", "sso")).is_empty());
        assert_eq!(
            names(c.routes_using_middleware("shop", "headers")),
            ["Ingress/a"]
        );
        // A relist replaces the index with the fresh list's.
        let mut fresh = Store::default();
        ingresses.insert_into(&mut fresh, &ingress("c", "shop-sso@kubernetescrd"));
        assert_eq!(ingresses.replace(fresh), 1);
        assert_eq!(
            names(c.routes_using_middleware("shop", "sso")),
            ["Ingress/c"]
        );
        assert!(names(c.routes_using_middleware("shop", "headers")).is_empty());
    }

    #[test]
    fn grpc_routes_and_traefik_v2_ingress_routes_count_as_users_of_a_middleware() {
        let c = synced_cluster();
        c.cache(Watched::GrpcRoute).apply(&object(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": {"name": "rpc", "namespace": "shop"},
            "spec": {"rules": [{"filters": [{"type": "ExtensionRef",
                "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": "sso"}}]}]}
        })));
        c.cache(Watched::LegacyIngressRoute).apply(&object(json!({
            "apiVersion": "traefik.containo.us/v1alpha1", "kind": "IngressRoute",
            "metadata": {"name": "v2", "namespace": "shop"},
            "spec": {"routes": [{"match": "Host(`v2.example.com`)", "kind": "Rule",
                "middlewares": [{"name": "sso"}], "services": [{"name": "web", "port": 80}]}]}
        })));
        assert_eq!(
            names(c.routes_using_middleware("shop", "sso")),
            ["IngressRoute/v2", "GRPCRoute/rpc"]
        );
        // A kind that has not synced yet leaves the answer open.
        c.cache(Watched::GrpcRoute).status.set(Phase::Pending, None);
        assert_eq!(c.routes_using_middleware("shop", "sso"), Answer::Unknown);
        // A kind the cluster does not serve holds no route.
        c.cache(Watched::GrpcRoute).status.set(Phase::Absent, None);
        assert_eq!(
            names(c.routes_using_middleware("shop", "sso")),
            ["IngressRoute/v2"]
        );
    }

    #[test]
    fn a_traefik_v2_middleware_answers_when_the_traefik_io_group_has_none() {
        let c = synced_cluster();
        let legacy = object(json!({
            "apiVersion": "traefik.containo.us/v1alpha1", "kind": "Middleware",
            "metadata": {"name": "sso", "namespace": "shop"},
            "spec": {"forwardAuth": {"address": "https://auth.example.com/verify"}}
        }));
        assert_eq!(c.middleware("shop", "sso"), Answer::Missing);
        c.cache(Watched::LegacyMiddleware).apply(&legacy);
        assert!(matches!(c.middleware("shop", "sso"), Answer::Found(_)));
        assert_eq!(
            c.middlewares_by_key("shop-sso").found().map(|m| m.len()),
            Some(1)
        );
        // Not synced: not Missing, but open.
        c.cache(Watched::LegacyMiddleware)
            .status
            .set(Phase::Pending, None);
        assert_eq!(c.middleware("shop", "other"), Answer::Unknown);
        // Not served (Traefik v3 clusters): the traefik.io answer stands.
        c.cache(Watched::LegacyMiddleware)
            .status
            .set(Phase::Absent, None);
        assert_eq!(c.middleware("shop", "other"), Answer::Missing);
        assert_eq!(
            c.middlewares_by_key("shop-sso").found().map(|m| m.len()),
            Some(0)
        );
    }
}

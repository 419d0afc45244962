//! What the rules ask of the world: answered from watch caches (webhook), one list per
//! kind (plugin), the given files (`check`), or nothing (`--no-cluster`).

use std::sync::Arc;

use crate::application::Application;
use crate::meta::ObjectRef;
use crate::middleware::Middleware;

/// An answer to a lookup.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    /// The thing exists, and here it is.
    Found(T),
    /// The thing surely does not exist.
    Missing,
    /// Nobody can say: no cluster, or an object outside the files checked. Never proof of
    /// anything: an unknown Middleware guards nothing.
    Unknown,
}

impl<T> Answer<T> {
    /// Map the found value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Found(t) => Answer::Found(f(t)),
            Answer::Missing => Answer::Missing,
            Answer::Unknown => Answer::Unknown,
        }
    }

    /// The found value, if any.
    pub fn found(self) -> Option<T> {
        match self {
            Answer::Found(t) => Some(t),
            _ => None,
        }
    }
}

/// The questions the rules ask about other objects.
pub trait Lookup {
    /// The Middleware `namespace/name`.
    fn middleware(&self, namespace: &str, name: &str) -> Answer<Arc<Middleware>>;

    /// Every Middleware, in any namespace, that Traefik files under the `kubernetescrd` key
    /// `key` (`naming::crd_key`): more than one is a collision.
    fn middlewares_by_key(&self, key: &str) -> Answer<Vec<Arc<Middleware>>>;

    /// The Application `namespace/name`.
    fn application(&self, namespace: &str, name: &str) -> Answer<Arc<Application>>;

    /// The route objects, in any namespace, whose references Traefik resolves to the
    /// Middleware `namespace/name` (by its key; use `Object::middleware_targets` to index them).
    fn routes_using_middleware(&self, namespace: &str, name: &str) -> Answer<Vec<ObjectRef>>;

    /// The `spec.controller` of IngressClass `name`.
    fn ingress_class_controller(&self, name: &str) -> Answer<String>;

    /// The `spec.gatewayClassName` of Gateway `namespace/name`.
    fn gateway_class(&self, namespace: &str, name: &str) -> Answer<String>;

    /// The `spec.controllerName` of GatewayClass `name`.
    fn gateway_class_controller(&self, name: &str) -> Answer<String>;

    /// Whether the TraitDefinition of trait type `name` renders a route Traefik serves.
    /// Without one to read, nobody can say: the policy's `routeTraits` decide alone.
    fn trait_renders_route(&self, name: &str) -> Answer<bool> {
        let _ = name;
        Answer::Unknown
    }
}

/// The lookup of a webhook without a cluster: every answer is `Unknown`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLookup;

impl Lookup for NoLookup {
    fn middleware(&self, _: &str, _: &str) -> Answer<Arc<Middleware>> {
        Answer::Unknown
    }
    fn middlewares_by_key(&self, _: &str) -> Answer<Vec<Arc<Middleware>>> {
        Answer::Unknown
    }
    fn application(&self, _: &str, _: &str) -> Answer<Arc<Application>> {
        Answer::Unknown
    }
    fn routes_using_middleware(&self, _: &str, _: &str) -> Answer<Vec<ObjectRef>> {
        Answer::Unknown
    }
    fn ingress_class_controller(&self, _: &str) -> Answer<String> {
        Answer::Unknown
    }
    fn gateway_class(&self, _: &str, _: &str) -> Answer<String> {
        Answer::Unknown
    }
    fn gateway_class_controller(&self, _: &str) -> Answer<String> {
        Answer::Unknown
    }
}

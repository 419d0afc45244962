//! An in-memory [`Lookup`] over a set of documents: what `check` resolves references
//! against, and what the tests of the rules use in place of a cluster.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::application::Application;
use crate::classes::{Gateway, GatewayClass, IngressClass};
use crate::error::{ParseError, from_value};
use crate::lookup::{Answer, Lookup};
use crate::meta::ObjectRef;
use crate::middleware::{Middleware, Target};
use crate::naming;
use crate::object::Object;
use crate::trait_definition::TraitDefinition;

type Key = (String, String);

/// Objects indexed for lookups. When `complete`, an object not in the index surely does
/// not exist (`Missing`); otherwise nobody can say (`Unknown`).
#[derive(Debug, Clone, Default)]
pub struct Index {
    complete: bool,
    middlewares: HashMap<Key, Arc<Middleware>>,
    middlewares_by_key: HashMap<String, Vec<Arc<Middleware>>>,
    applications: HashMap<Key, Arc<Application>>,
    routes_by_key: HashMap<String, Vec<ObjectRef>>,
    ingress_classes: HashMap<String, String>,
    route_traits: HashMap<String, bool>,
    gateways: HashMap<Key, String>,
    gateway_classes: HashMap<String, String>,
}

impl Index {
    /// An empty index; `complete` says whether absence means `Missing`.
    pub fn new(complete: bool) -> Self {
        Self {
            complete,
            ..Self::default()
        }
    }

    /// Add a parsed object, whose namespace defaults to `namespace`.
    pub fn insert(&mut self, object: &Object, namespace: &str) {
        let ns = object.meta().namespace_or(namespace).to_string();
        let name = object.meta().name.clone();
        match object {
            Object::Application(app) => {
                self.applications.insert((ns, name), Arc::new(app.clone()));
            }
            Object::Middleware(mw) => {
                let mut mw = mw.clone();
                mw.metadata.namespace = Some(ns.clone());
                let mw = Arc::new(mw);
                let key = naming::crd_key(&ns, &name);
                let same_key = self.middlewares_by_key.entry(key).or_default();
                same_key.retain(|m| {
                    m.metadata.name != name || m.metadata.namespace != mw.metadata.namespace
                });
                same_key.push(mw.clone());
                self.middlewares.insert((ns, name), mw);
            }
            route => {
                let reference = route.object_ref(&ns);
                for key in route.middleware_targets(&ns).iter().filter_map(Target::key) {
                    self.routes_by_key
                        .entry(key)
                        .or_default()
                        .push(reference.clone());
                }
            }
        }
    }

    /// Add any document: the kinds of [`Object`], or an IngressClass, Gateway,
    /// GatewayClass or TraitDefinition; other kinds are ignored. Returns the parsed object, if it is one.
    pub fn insert_value(
        &mut self,
        value: &Value,
        namespace: &str,
    ) -> Result<Option<Object>, ParseError> {
        if let Some(object) = Object::from_value(value)? {
            self.insert(&object, namespace);
            return Ok(Some(object));
        }
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        match (
            group,
            value.get("kind").and_then(Value::as_str).unwrap_or(""),
        ) {
            ("networking.k8s.io", "IngressClass") => {
                let class: IngressClass = from_value(value)?;
                self.ingress_classes
                    .insert(class.metadata.name, class.spec.controller);
            }
            ("gateway.networking.k8s.io", "Gateway") => {
                let gw: Gateway = from_value(value)?;
                let ns = gw.metadata.namespace_or(namespace).to_string();
                self.gateways
                    .insert((ns, gw.metadata.name), gw.spec.gateway_class_name);
            }
            ("core.oam.dev", "TraitDefinition") => {
                let def: TraitDefinition = from_value(value)?;
                self.route_traits
                    .insert(def.metadata.name.clone(), def.renders_route());
            }
            ("gateway.networking.k8s.io", "GatewayClass") => {
                let class: GatewayClass = from_value(value)?;
                self.gateway_classes
                    .insert(class.metadata.name, class.spec.controller_name);
            }
            _ => {}
        }
        Ok(None)
    }

    fn answer<T: Clone>(&self, found: Option<&T>) -> Answer<T> {
        match found {
            Some(t) => Answer::Found(t.clone()),
            None if self.complete => Answer::Missing,
            None => Answer::Unknown,
        }
    }
}

fn key(namespace: &str, name: &str) -> Key {
    (namespace.to_string(), name.to_string())
}

impl Lookup for Index {
    fn middleware(&self, namespace: &str, name: &str) -> Answer<Arc<Middleware>> {
        self.answer(self.middlewares.get(&key(namespace, name)))
    }

    fn middlewares_by_key(&self, key: &str) -> Answer<Vec<Arc<Middleware>>> {
        match self.middlewares_by_key.get(key) {
            Some(found) => Answer::Found(found.clone()),
            None if self.complete => Answer::Found(Vec::new()),
            None => Answer::Unknown,
        }
    }

    fn application(&self, namespace: &str, name: &str) -> Answer<Arc<Application>> {
        self.answer(self.applications.get(&key(namespace, name)))
    }

    fn routes_using_middleware(&self, namespace: &str, name: &str) -> Answer<Vec<ObjectRef>> {
        match self.routes_by_key.get(&naming::crd_key(namespace, name)) {
            Some(routes) => Answer::Found(routes.clone()),
            None if self.complete => Answer::Found(Vec::new()),
            None => Answer::Unknown,
        }
    }

    fn ingress_class_controller(&self, name: &str) -> Answer<String> {
        self.answer(self.ingress_classes.get(name))
    }

    fn gateway_class(&self, namespace: &str, name: &str) -> Answer<String> {
        self.answer(self.gateways.get(&key(namespace, name)))
    }

    fn gateway_class_controller(&self, name: &str) -> Answer<String> {
        self.answer(self.gateway_classes.get(name))
    }

    fn trait_renders_route(&self, name: &str) -> Answer<bool> {
        // An index without the definition says nothing: the policy's list decides.
        match self.route_traits.get(name) {
            Some(renders) => Answer::Found(*renders),
            None => Answer::Unknown,
        }
    }
}

//! Traefik `IngressRoute` (`traefik.io/v1alpha1`).

use serde::Deserialize;
use serde_json::Value;

use crate::meta::{Meta, null_as_default};
use crate::middleware::{MiddlewareRef, Target, dedup_targets};

/// An IngressRoute.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IngressRoute {
    /// `metadata`.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`.
    #[serde(default)]
    pub spec: IngressRouteSpec,
}

/// `spec` of an IngressRoute.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRouteSpec {
    /// `spec.entryPoints`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub entry_points: Vec<String>,
    /// `spec.routes`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub routes: Vec<Route>,
    /// `spec.tls`, as written; its presence makes the routes HTTPS.
    #[serde(default)]
    pub tls: Option<Value>,
}

/// One route of an IngressRoute.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Route {
    /// `match`: Traefik's rule expression.
    #[serde(rename = "match", default)]
    pub match_: String,
    /// `kind` (`Rule`).
    #[serde(default)]
    pub kind: Option<String>,
    /// `middlewares`; `None` when the field is absent.
    #[serde(default)]
    pub middlewares: Option<Vec<MiddlewareRef>>,
    /// `services`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub services: Vec<RouteService>,
}

/// A backend of a route.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RouteService {
    /// Service (or TraefikService) name.
    #[serde(default)]
    pub name: String,
    /// Its namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `kind`: `Service` (default) or `TraefikService`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Port, number or name.
    #[serde(default)]
    pub port: Option<Value>,
}

impl Route {
    /// The middleware references of this route, in order.
    pub fn middleware_refs(&self) -> &[MiddlewareRef] {
        self.middlewares.as_deref().unwrap_or_default()
    }

    /// The Middlewares this route runs, resolved from `namespace`, in order.
    pub fn targets(&self, namespace: &str) -> Vec<Target> {
        dedup_targets(
            self.middleware_refs()
                .iter()
                .map(|m| Target::from_ref(m, namespace)),
        )
    }
}

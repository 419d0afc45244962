//! Gateway API `HTTPRoute` (`gateway.networking.k8s.io/v1`).

use serde::Deserialize;
use serde_json::Value;

use crate::meta::{Meta, null_as_default};
use crate::middleware::{Target, dedup_targets};

/// API group of Traefik's CRDs, as ExtensionRef filters name it.
pub const TRAEFIK_GROUP: &str = "traefik.io";
/// API group of the Gateway API.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// An HTTPRoute.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HttpRoute {
    /// `metadata`.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`.
    #[serde(default)]
    pub spec: HttpRouteSpec,
}

/// `spec` of an HTTPRoute.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    /// `spec.parentRefs`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub parent_refs: Vec<ParentRef>,
    /// `spec.hostnames`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hostnames: Vec<String>,
    /// `spec.rules`; `None` when absent.
    #[serde(default)]
    pub rules: Option<Vec<HttpRouteRule>>,
}

/// A parent (Gateway) reference.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    /// `group` (default the Gateway API group).
    #[serde(default)]
    pub group: Option<String>,
    /// `kind` (default `Gateway`).
    #[serde(default)]
    pub kind: Option<String>,
    /// `namespace` (default the route's).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `sectionName`.
    #[serde(default)]
    pub section_name: Option<String>,
}

/// One rule of an HTTPRoute.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRule {
    /// `matches`, as written.
    #[serde(default, deserialize_with = "null_as_default")]
    pub matches: Vec<Value>,
    /// `filters`; `None` when absent.
    #[serde(default)]
    pub filters: Option<Vec<HttpRouteFilter>>,
    /// `backendRefs`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub backend_refs: Vec<BackendRef>,
}

/// A filter of a rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteFilter {
    /// `type`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `extensionRef`, for `type: ExtensionRef`.
    #[serde(default)]
    pub extension_ref: Option<LocalRef>,
}

/// A same-namespace object reference.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LocalRef {
    /// `group`.
    #[serde(default)]
    pub group: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// `name`.
    #[serde(default)]
    pub name: String,
}

/// A backend of a rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct BackendRef {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `port`.
    #[serde(default)]
    pub port: Option<i64>,
}

impl ParentRef {
    /// Whether this parent is a Gateway (the default kind and group).
    pub fn is_gateway(&self) -> bool {
        self.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
            && self.kind.as_deref().unwrap_or("Gateway") == "Gateway"
    }
}

impl HttpRouteFilter {
    /// The Traefik Middleware this filter attaches, if it is an ExtensionRef to one.
    pub fn middleware_name(&self) -> Option<&str> {
        let r = self.extension_ref.as_ref()?;
        (self.type_ == "ExtensionRef" && r.group == TRAEFIK_GROUP && r.kind == "Middleware")
            .then_some(r.name.as_str())
    }
}

impl HttpRouteRule {
    /// The Middleware names this rule's ExtensionRef filters attach, in order.
    pub fn middleware_names(&self) -> impl Iterator<Item = &str> {
        self.filters
            .iter()
            .flatten()
            .filter_map(HttpRouteFilter::middleware_name)
    }

    /// The path values of its matches (`None` for a match without a path, or a regular
    /// expression, which may match anything); `[None]` without matches.
    pub fn paths(&self) -> Vec<Option<String>> {
        if self.matches.is_empty() {
            return vec![None];
        }
        self.matches
            .iter()
            .map(|m| {
                let kind = m
                    .pointer("/path/type")
                    .and_then(Value::as_str)
                    .unwrap_or("PathPrefix");
                m.pointer("/path/value")
                    .and_then(Value::as_str)
                    .filter(|_| kind == "PathPrefix" || kind == "Exact")
                    .map(str::to_string)
            })
            .collect()
    }

    /// Whether the rule forwards to a backend: one with a `RequestRedirect` filter and no
    /// `backendRefs` answers every request with a redirect.
    pub fn forwards(&self) -> bool {
        let redirects = self
            .filters
            .iter()
            .flatten()
            .any(|f| f.type_ == "RequestRedirect");
        !(redirects && self.backend_refs.is_empty())
    }

    /// The Middlewares this rule runs (same namespace only, as ExtensionRef allows), in order.
    pub fn targets(&self, namespace: &str) -> Vec<Target> {
        dedup_targets(self.middleware_names().map(|name| Target::Crd {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }))
    }
}

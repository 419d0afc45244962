//! Traefik `Middleware` (`traefik.io/v1alpha1`) and references to Middlewares.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::meta::Meta;
use crate::naming;

/// A Traefik Middleware.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Middleware {
    /// `metadata`.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`: one key per middleware kind (`forwardAuth`, `headers`, `chain`, `plugin`, ...).
    #[serde(default, deserialize_with = "crate::meta::null_as_default")]
    pub spec: BTreeMap<String, Value>,
}

impl Middleware {
    /// The middleware kinds this object configures (the keys of `spec`).
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.spec.keys().map(String::as_str)
    }

    /// The members of a `chain` middleware, in order.
    pub fn chain(&self) -> Vec<MiddlewareRef> {
        self.spec
            .get("chain")
            .and_then(|c| c.get("middlewares"))
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default()
    }

    /// The plugin names of a `plugin` middleware.
    pub fn plugins(&self) -> Vec<&str> {
        self.spec
            .get("plugin")
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

/// A reference to a Middleware as IngressRoutes and chains write it: `{name, namespace}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct MiddlewareRef {
    /// The Middleware's name, possibly provider-qualified (`sso@file`).
    #[serde(default)]
    pub name: String,
    /// Its namespace; the referring object's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Where a middleware reference leads, resolved against the referring object's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A Middleware object in this namespace with this name.
    Crd {
        /// Namespace of the Middleware.
        namespace: String,
        /// Name of the Middleware.
        name: String,
    },
    /// A provider-qualified reference that no Kubernetes object answers (`sso@file`).
    External(String),
    /// An Ingress annotation reference whose namespace prefix is not the Ingress's namespace.
    ForeignNamespace(String),
}

impl Target {
    /// Resolve an IngressRoute or chain reference made from `namespace`.
    pub fn from_ref(reference: &MiddlewareRef, namespace: &str) -> Target {
        match naming::split_provider(&reference.name) {
            (name, None) => Target::Crd {
                namespace: reference
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| namespace.to_string()),
                name: name.to_string(),
            },
            (qualified, Some("kubernetescrd")) => Target::from_qualified(qualified, namespace),
            _ => Target::External(reference.name.clone()),
        }
    }

    /// Resolve one entry of the Ingress annotation `router.middlewares` made from `namespace`.
    pub fn from_annotation_entry(entry: &str, namespace: &str) -> Target {
        match naming::split_provider(entry) {
            (qualified, Some("kubernetescrd")) => Target::from_qualified(qualified, namespace),
            _ => Target::External(entry.to_string()),
        }
    }

    /// `<namespace>-<name>` as Traefik qualifies it; only the referrer's own namespace is resolvable.
    fn from_qualified(qualified: &str, namespace: &str) -> Target {
        let prefix = format!("{}-", naming::normalize(namespace));
        match qualified.strip_prefix(&prefix) {
            Some(name) if !name.is_empty() => Target::Crd {
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
            _ => Target::ForeignNamespace(format!("{qualified}@kubernetescrd")),
        }
    }

    /// How the reference reads in a message.
    pub fn describe(&self) -> String {
        match self {
            Target::Crd { namespace, name } => format!("Middleware {namespace}/{name}"),
            Target::External(r) => format!("middleware {r}"),
            Target::ForeignNamespace(r) => format!("middleware {r}"),
        }
    }
}

/// The targets in order, each once (Traefik runs a middleware once per router).
pub(crate) fn dedup_targets(targets: impl IntoIterator<Item = Target>) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    for t in targets {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_entry_in_own_namespace_resolves() {
        assert_eq!(
            Target::from_annotation_entry("shop-orders-sso@kubernetescrd", "shop"),
            Target::Crd {
                namespace: "shop".into(),
                name: "orders-sso".into()
            }
        );
    }

    #[test]
    fn annotation_entry_of_other_namespace_is_foreign() {
        assert!(matches!(
            Target::from_annotation_entry("other-sso@kubernetescrd", "shop"),
            Target::ForeignNamespace(_)
        ));
        assert!(matches!(
            Target::from_annotation_entry("sso@file", "shop"),
            Target::External(_)
        ));
    }

    #[test]
    fn ingressroute_ref_defaults_to_own_namespace() {
        let r = MiddlewareRef {
            name: "sso".into(),
            namespace: None,
        };
        assert_eq!(
            Target::from_ref(&r, "shop"),
            Target::Crd {
                namespace: "shop".into(),
                name: "sso".into()
            }
        );
    }
}

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

/// Where a middleware reference leads, as Traefik resolves it. Traefik files every
/// Middleware object under one key, `normalize(<namespace>-<name>)`, and looks every
/// reference up by that key: an IngressRoute's `{name, namespace}`, a chain member, an
/// HTTPRoute `ExtensionRef` and an Ingress annotation's `<key>@kubernetescrd` alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A Middleware object named by namespace and name.
    Crd {
        /// Namespace of the Middleware.
        namespace: String,
        /// Name of the Middleware.
        name: String,
    },
    /// A `kubernetescrd` provider key as an Ingress annotation writes it (`shop-orders-sso`).
    Key(String),
    /// A reference to another provider (`sso@file`, `api@internal`): only the policy's
    /// `trustedMiddlewares` make one count, since nothing in the cluster says what it is.
    External(String),
    /// A reference Traefik can never resolve (a bare name in an Ingress annotation, an
    /// empty name): the router is refused, or worse, served by whatever takes the name later.
    Unresolvable(String),
}

/// The provider suffix of Traefik's Kubernetes CRD provider.
pub const CRD_PROVIDER: &str = "kubernetescrd";

impl Target {
    /// Resolve an IngressRoute or chain reference made from `namespace`.
    pub fn from_ref(reference: &MiddlewareRef, namespace: &str) -> Target {
        match naming::split_provider(&reference.name) {
            ("", _) => Target::Unresolvable(reference.name.clone()),
            (name, None) => Target::Crd {
                namespace: reference
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| namespace.to_string()),
                name: name.to_string(),
            },
            (key, Some(CRD_PROVIDER)) => Target::Key(key.to_string()),
            _ => Target::External(reference.name.clone()),
        }
    }

    /// Resolve one entry of the Ingress annotation `router.middlewares`.
    pub fn from_annotation_entry(entry: &str) -> Target {
        match naming::split_provider(entry) {
            ("", _) | (_, None) => Target::Unresolvable(entry.to_string()),
            (key, Some(CRD_PROVIDER)) => Target::Key(key.to_string()),
            _ => Target::External(entry.to_string()),
        }
    }

    /// The `kubernetescrd` key Traefik looks this reference up by, if it is one.
    pub fn key(&self) -> Option<String> {
        match self {
            Target::Crd { namespace, name } => Some(naming::crd_key(namespace, name)),
            // Traefik compares the annotation's key as written with its normalised keys.
            Target::Key(key) => Some(key.clone()),
            Target::External(_) | Target::Unresolvable(_) => None,
        }
    }

    /// How the reference reads in a message.
    pub fn describe(&self) -> String {
        match self {
            Target::Crd { namespace, name } => format!("Middleware {namespace}/{name}"),
            Target::Key(key) => format!("middleware {key}@{CRD_PROVIDER}"),
            Target::External(r) | Target::Unresolvable(r) => format!("middleware {r:?}"),
        }
    }

    /// The reference as a table shows it: `namespace/name`, else as written.
    pub fn display_name(&self) -> String {
        match self {
            Target::Crd { namespace, name } => format!("{namespace}/{name}"),
            Target::Key(key) => format!("{key}@{CRD_PROVIDER}"),
            Target::External(r) | Target::Unresolvable(r) => r.clone(),
        }
    }
}

/// The targets in order, each once (Traefik runs a middleware once per router). Linear.
pub(crate) fn dedup_targets(targets: impl IntoIterator<Item = Target>) -> Vec<Target> {
    let all: Vec<Target> = targets.into_iter().collect();
    let first: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity(all.len());
        all.iter().map(|t| seen.insert(t)).collect()
    };
    all.into_iter()
        .zip(first)
        .filter_map(|(t, first)| first.then_some(t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_entries_are_keys_or_other_providers() {
        assert_eq!(
            Target::from_annotation_entry("shop-orders-sso@kubernetescrd"),
            Target::Key("shop-orders-sso".into())
        );
        assert!(matches!(
            Target::from_annotation_entry("sso@file"),
            Target::External(_)
        ));
        assert!(matches!(
            Target::from_annotation_entry("api@internal"),
            Target::External(_)
        ));
        // Without a provider Traefik qualifies the name with the Ingress provider, which
        // has no middlewares: the reference can never resolve.
        assert!(matches!(
            Target::from_annotation_entry("shop-orders-sso"),
            Target::Unresolvable(_)
        ));
    }

    #[test]
    fn crd_reference_and_annotation_share_traefiks_key() {
        let by_ref = Target::Crd {
            namespace: "shop".into(),
            name: "orders.sso".into(),
        };
        assert_eq!(by_ref.key().as_deref(), Some("shop-orders-sso"));
        assert_eq!(
            Target::from_annotation_entry("shop-orders-sso@kubernetescrd").key(),
            by_ref.key()
        );
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

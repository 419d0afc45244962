//! Whether a middleware reference authenticates: the one answer behind OT004, OT005,
//! OT006, OT008 and the plugin's views.
//!
//! What counts is what Traefik will run. A reference resolves through Traefik's own
//! naming (one key per Middleware, collisions included), and a Middleware authenticates
//! only with real configuration: a `forwardAuth` with an address (under a trusted auth
//! service when the policy pins them), a `basicAuth`/`digestAuth` with a secret, an allowed
//! plugin with a configuration, or a chain that holds one of these. Anything nobody can
//! resolve guards nothing.

use std::sync::Arc;

use serde_json::Value;

use crate::config::Policy;
use crate::lookup::{Answer, Lookup};
use crate::middleware::{Middleware, Target};

/// How deep `chain` middlewares are followed; Traefik itself refuses longer cycles.
const MAX_CHAIN_DEPTH: usize = 8;

/// What a middleware reference turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// It resolves to one Middleware that authenticates, or to a trusted reference.
    Auth,
    /// It resolves to one Middleware that does not authenticate.
    NotAuth,
    /// No Middleware answers to it.
    Missing,
    /// It resolves to a Middleware in another namespace.
    OtherNamespace,
    /// Several Middlewares share the key Traefik files it under; which one runs is not defined.
    Ambiguous {
        /// How many share the key.
        count: usize,
    },
    /// Another provider's middleware (`@file`, `@internal`) that the policy does not trust.
    Untrusted,
    /// A reference Traefik can never resolve.
    Unresolvable,
    /// Nobody can say (no cluster to ask, or the referenced object is outside the files checked).
    Unknown,
}

impl Resolution {
    /// Whether this reference guards a router.
    pub fn guards(&self) -> bool {
        matches!(self, Resolution::Auth)
    }

    /// Whether the reference itself is wrong (OT004), whatever else the router runs.
    pub fn is_broken(&self) -> bool {
        matches!(
            self,
            Resolution::Missing
                | Resolution::OtherNamespace
                | Resolution::Ambiguous { .. }
                | Resolution::Unresolvable
        )
    }
}

/// Whether `middleware` authenticates under `policy`. `Unknown` when only a chain member
/// nobody can look up could make it authenticate.
pub fn is_auth(middleware: &Middleware, policy: &Policy, lookup: &dyn Lookup) -> Answer<bool> {
    is_auth_at(middleware, policy, lookup, 0)
}

fn is_auth_at(mw: &Middleware, policy: &Policy, lookup: &dyn Lookup, depth: usize) -> Answer<bool> {
    if mw
        .spec
        .iter()
        .any(|(kind, config)| configured(kind, config, policy))
    {
        return Answer::Found(true);
    }
    if depth >= MAX_CHAIN_DEPTH {
        return Answer::Found(false);
    }
    let namespace = mw.metadata.namespace.as_deref().unwrap_or_default();
    let mut unknown = false;
    for member in mw.chain() {
        match resolve_at(
            &Target::from_ref(&member, namespace),
            namespace,
            policy,
            lookup,
            depth + 1,
        ) {
            Resolution::Auth => return Answer::Found(true),
            Resolution::Unknown => unknown = true,
            _ => {}
        }
    }
    if unknown {
        Answer::Unknown
    } else {
        Answer::Found(false)
    }
}

/// Whether one `spec` entry of a Middleware is an authenticator with real configuration.
fn configured(kind: &str, config: &Value, policy: &Policy) -> bool {
    if kind != "plugin" && !policy.auth_middleware_kinds.iter().any(|k| k == kind) {
        return false;
    }
    match kind {
        "forwardAuth" => config
            .get("address")
            .and_then(Value::as_str)
            .map(str::trim)
            .is_some_and(|address| !address.is_empty() && policy.trusts_auth_service(address)),
        "basicAuth" | "digestAuth" => config
            .get("secret")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty()),
        "plugin" => config.as_object().is_some_and(|plugins| {
            plugins
                .iter()
                .any(|(name, cfg)| policy.auth_plugins.iter().any(|p| p == name) && cfg.is_object())
        }),
        // A kind the policy adds to the auth kinds (a newer Traefik's) counts when configured.
        other => other != "chain" && config.as_object().is_some_and(|o| !o.is_empty()),
    }
}

/// Resolve a reference made by an object in `namespace`.
pub fn resolve(
    target: &Target,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
) -> Resolution {
    resolve_at(target, namespace, policy, lookup, 0)
}

fn resolve_at(
    target: &Target,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
    depth: usize,
) -> Resolution {
    match target {
        Target::Unresolvable(_) => Resolution::Unresolvable,
        Target::External(r) if policy.trusted_middlewares.iter().any(|t| t == r) => {
            Resolution::Auth
        }
        Target::External(_) => Resolution::Untrusted,
        Target::Crd { namespace: ns, .. } if ns != namespace => Resolution::OtherNamespace,
        Target::Crd { .. } | Target::Key(_) => {
            let Some(key) = target.key() else {
                return Resolution::Unresolvable;
            };
            match lookup.middlewares_by_key(&key) {
                Answer::Unknown => Resolution::Unknown,
                Answer::Missing => Resolution::Missing,
                Answer::Found(found) => match found.as_slice() {
                    [] => Resolution::Missing,
                    [one] => judge(one, namespace, policy, lookup, depth),
                    many => Resolution::Ambiguous { count: many.len() },
                },
            }
        }
    }
}

fn judge(
    mw: &Arc<Middleware>,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
    depth: usize,
) -> Resolution {
    if mw
        .metadata
        .namespace
        .as_deref()
        .is_some_and(|ns| ns != namespace)
    {
        return Resolution::OtherNamespace;
    }
    match is_auth_at(mw, policy, lookup, depth) {
        Answer::Found(true) => Resolution::Auth,
        Answer::Found(false) => Resolution::NotAuth,
        Answer::Missing | Answer::Unknown => Resolution::Unknown,
    }
}

//! Whether a middleware reference authenticates: the question behind OT005, OT006 and OT008.

use crate::config::Policy;
use crate::lookup::{Answer, Lookup};
use crate::middleware::{Middleware, Target};

/// How deep `chain` middlewares are followed; Traefik itself refuses longer cycles.
const MAX_CHAIN_DEPTH: usize = 8;

/// What a middleware reference turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// It exists and authenticates.
    Auth,
    /// It exists and does not authenticate.
    NotAuth,
    /// No such Middleware.
    Missing,
    /// It points into another namespace.
    OtherNamespace,
    /// Nobody can say (no cluster, or an untrusted provider-qualified reference).
    Unknown,
}

/// Whether `middleware` authenticates under `policy`: an auth kind, an allowed plugin,
/// or a chain with such a member. `Unknown` when a chain member cannot be looked up.
pub fn is_auth(middleware: &Middleware, policy: &Policy, lookup: &dyn Lookup) -> Answer<bool> {
    is_auth_at(middleware, policy, lookup, 0)
}

fn is_auth_at(mw: &Middleware, policy: &Policy, lookup: &dyn Lookup, depth: usize) -> Answer<bool> {
    if mw
        .kinds()
        .any(|k| policy.auth_middleware_kinds.iter().any(|a| a == k))
        || mw
            .plugins()
            .iter()
            .any(|p| policy.auth_plugins.iter().any(|a| a == p))
    {
        return Answer::Found(true);
    }
    if depth >= MAX_CHAIN_DEPTH {
        return Answer::Found(false);
    }
    let namespace = mw.metadata.namespace.as_deref().unwrap_or_default();
    let mut unknown = false;
    for member in mw.chain() {
        match resolve(
            &Target::from_ref(&member, namespace),
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

/// Resolve a reference made by an object in `namespace`.
pub fn resolve_from(
    target: &Target,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
) -> Resolution {
    match target {
        Target::Crd { namespace: ns, .. } if ns != namespace => Resolution::OtherNamespace,
        _ => resolve(target, policy, lookup, 0),
    }
}

fn resolve(target: &Target, policy: &Policy, lookup: &dyn Lookup, depth: usize) -> Resolution {
    match target {
        Target::ForeignNamespace(_) => Resolution::OtherNamespace,
        Target::External(r) if policy.trusted_middlewares.iter().any(|t| t == r) => {
            Resolution::Auth
        }
        Target::External(_) => Resolution::Unknown,
        Target::Crd { namespace, name } => match lookup.middleware(namespace, name) {
            Answer::Found(mw) => match is_auth_at(&mw, policy, lookup, depth) {
                Answer::Found(true) => Resolution::Auth,
                Answer::Found(false) => Resolution::NotAuth,
                Answer::Missing | Answer::Unknown => Resolution::Unknown,
            },
            Answer::Missing => Resolution::Missing,
            Answer::Unknown => Resolution::Unknown,
        },
    }
}

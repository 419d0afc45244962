//! OT011: a Middleware under a name reserved for generated identity Middlewares.
//!
//! Routes rendered for an app are bound to `<app>-<component>-identity`; whoever writes
//! a Middleware under that name (or one Traefik normalises to it) decides who gets in.

use crate::Policy;
use crate::auth;
use crate::config::Level;
use crate::evaluate::{Findings, Requester};
use crate::lookup::{Answer, Lookup};
use crate::middleware::Middleware;
use crate::naming;
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT011,
    title: "reserved identity Middleware",
    rejects: "a Middleware named like a generated identity Middleware (…-identity) written by anyone but a trusted controller, or one that does not authenticate",
    hint: "let the `identity` trait generate <app>-<component>-identity, or give your own Middleware a name that does not end in -identity and reference it with `middleware:`",
    default_level: Level::Deny,
};

pub(crate) fn check(
    mw: &Middleware,
    namespace: &str,
    requester: &Requester,
    policy: &Policy,
    lookup: &dyn Lookup,
    out: &mut Findings,
) {
    let name = &mw.metadata.name;
    if !naming::is_reserved_identity_name(name) {
        return;
    }
    let subject = format!("Middleware {namespace}/{name}");
    if !policy.is_trusted_controller(&requester.username) {
        out.add(
            RuleId::OT011,
            subject,
            "/metadata/name".to_string(),
            format!(
                "uses a name reserved for generated identity Middlewares, which only trusted controllers ({}) write; user {:?} is not one",
                policy.trusted_controllers.join(", "),
                requester.username
            ),
        );
        return;
    }
    let mut scoped = mw.clone();
    scoped.metadata.namespace = Some(namespace.to_string());
    if auth::is_auth(&scoped, policy, lookup) == Answer::Found(false) {
        out.add(
            RuleId::OT011,
            subject,
            "/spec".to_string(),
            "is a generated identity Middleware that does not authenticate".to_string(),
        );
    }
}

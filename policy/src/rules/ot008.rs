//! OT008: an update that makes an auth Middleware that routes depend on non-auth, or deletes it.

use crate::Policy;
use crate::auth;
use crate::config::Level;
use crate::evaluate::Findings;
use crate::lookup::{Answer, Lookup};
use crate::middleware::Middleware;
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT008,
    title: "auth middleware removed",
    rejects: "an update that turns an auth Middleware that routes depend on into a non-auth one, or its deletion",
    hint: "keep the Middleware an auth middleware, or first move the routes that use it to another auth Middleware",
    default_level: Level::Deny,
};

/// `new` is `None` for a deletion.
pub(crate) fn check(
    old: &Middleware,
    new: Option<&Middleware>,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
    out: &mut Findings,
) {
    if auth::is_auth(old, policy, lookup) != Answer::Found(true) {
        return;
    }
    let change = match new {
        None => "deleting it",
        Some(new) => match auth::is_auth(new, policy, lookup) {
            Answer::Found(false) => "this change makes it a non-auth middleware",
            _ => return,
        },
    };
    let name = &old.metadata.name;
    match lookup.routes_using_middleware(namespace, name) {
        Answer::Found(routes) if !routes.is_empty() => {
            let list: Vec<String> = routes.iter().map(ToString::to_string).collect();
            out.add(
                RuleId::OT008,
                format!("Middleware {namespace}/{name}"),
                if new.is_some() {
                    "/spec"
                } else {
                    "/metadata/name"
                }
                .to_string(),
                format!(
                    "authenticates {} route(s) ({}); {change} would leave them open",
                    routes.len(),
                    list.join(", ")
                ),
            );
        }
        Answer::Unknown => out.unresolved(format!("routes that use Middleware {namespace}/{name}")),
        _ => {}
    }
}

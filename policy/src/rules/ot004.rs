//! OT004: a middleware reference to another namespace, or to a Middleware that does not exist.

use crate::Policy;
use crate::auth::{self, Resolution};
use crate::config::Level;
use crate::evaluate::{Findings, RuleSite};
use crate::lookup::{Answer, Lookup};
use crate::rules::{RuleId, RuleInfo, ot005};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT004,
    title: "middleware reference",
    rejects: "a middleware reference to another namespace, or to a Middleware that does not exist",
    hint: "reference an auth Middleware that exists in the same namespace as the route or app",
    default_level: Level::Deny,
};

/// The `middleware:` of an identity rule must name an existing auth Middleware in `namespace`.
pub(crate) fn check_identity(
    site: &RuleSite,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
    out: &mut Findings,
) {
    let Some(name) = site.rule.middleware.as_deref().filter(|m| !m.is_empty()) else {
        return;
    };
    if name.contains('/') || name.contains('@') {
        out.add(
            RuleId::OT004,
            site.subject(),
            site.field("middleware"),
            format!("names middleware {name:?} outside namespace {namespace:?}; give the name of a Middleware in the app's namespace"),
        );
        return;
    }
    match lookup.middleware(namespace, name) {
        Answer::Missing => out.add(
            RuleId::OT004,
            site.subject(),
            site.field("middleware"),
            format!("names Middleware {namespace}/{name}, which does not exist"),
        ),
        Answer::Found(mw) => match auth::is_auth(&mw, policy, lookup) {
            Answer::Found(false) => ot005::report(site, namespace, name, out),
            Answer::Found(true) => {}
            _ => out.unresolved(format!(
                "whether Middleware {namespace}/{name} authenticates"
            )),
        },
        Answer::Unknown => out.unresolved(format!("Middleware {namespace}/{name}")),
    }
}

/// Report a route's reference that resolved to another namespace or to nothing.
pub(crate) fn report_route_ref(
    subject: &str,
    path: &str,
    described: &str,
    resolution: &Resolution,
    out: &mut Findings,
) {
    let message = match resolution {
        Resolution::OtherNamespace => {
            format!("attaches {described}, which is in another namespace")
        }
        Resolution::Missing => format!("attaches {described}, which does not exist"),
        _ => return,
    };
    out.add(
        RuleId::OT004,
        subject.to_string(),
        path.to_string(),
        message,
    );
}

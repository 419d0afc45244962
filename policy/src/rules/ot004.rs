//! OT004: a middleware reference that does not resolve, through Traefik's naming, to
//! exactly one Middleware in the referrer's namespace.

use crate::auth::Resolution;
use crate::config::Level;
use crate::evaluate::{Findings, RuleSite};
use crate::middleware::Target;
use crate::plan::{Guard, RoutePlan};
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT004,
    title: "middleware reference",
    rejects: "a middleware reference to another namespace, to a Middleware that does not exist, to a key several Middlewares share, or one Traefik can never resolve",
    hint: "reference one auth Middleware that exists in the same namespace as the route or app (Ingress annotation: <namespace>-<name>@kubernetescrd)",
    default_level: Level::Deny,
};

/// What is wrong with a reference that resolved this way, if anything.
fn problem(described: &str, resolution: &Resolution) -> Option<String> {
    Some(match resolution {
        Resolution::OtherNamespace => format!("{described}, which is in another namespace"),
        Resolution::Missing => format!("{described}, which does not exist"),
        Resolution::Ambiguous { count } => format!(
            "{described}, a key that {count} Middlewares share in Traefik, so which one runs is not defined"
        ),
        Resolution::Unresolvable => format!(
            "{described}, which Traefik can never resolve (an Ingress annotation entry needs a provider: <namespace>-<name>@kubernetescrd)"
        ),
        _ => return None,
    })
}

/// The `middleware:` of an identity rule, resolved once by the caller.
pub(crate) fn check_identity(
    site: &RuleSite,
    target: &Target,
    resolution: &Resolution,
    out: &mut Findings,
) {
    if let Some(message) = problem(&format!("names {}", target.describe()), resolution) {
        out.add(RuleId::OT004, site.subject(), site.field("middleware"), message);
    }
}

/// Every broken reference of a route object, each once, at the first router that uses it.
/// The proven owner's generated Middleware, which its controller creates with the route,
/// is not broken for being missing yet.
pub(crate) fn check_route(plan: &RoutePlan, subject: &str, out: &mut Findings) {
    let pending: Vec<&str> = plan
        .routers
        .iter()
        .filter_map(|r| match &r.guard {
            Guard::PendingIdentity(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    for (path, target, resolution) in plan.references() {
        if *resolution == Resolution::Missing && pending.contains(&target.display_name().as_str()) {
            continue;
        }
        if let Some(message) = problem(&format!("attaches {}", target.describe()), resolution) {
            out.add(RuleId::OT004, subject.to_string(), path.to_string(), message);
        }
    }
}

/// A middleware named in a `gateway` trait's `router.middlewares` annotation, which
/// KubeVela copies onto the Ingress it renders: refused when the app is applied, not
/// first when the controller renders the Ingress (after which the app only fails).
pub(crate) fn check_gateway_annotation(
    component: &str,
    path: &str,
    target: &Target,
    resolution: &Resolution,
    out: &mut Findings,
) {
    if let Some(message) = problem(
        &format!(
            "its gateway trait's Ingress annotation attaches {}",
            target.describe()
        ),
        resolution,
    ) {
        out.add(
            RuleId::OT004,
            crate::evaluate::Subject::Component(component.to_string()),
            path.to_string(),
            message,
        );
    }
}

//! OT006: a route served by Traefik that nobody authenticates (a rogue endpoint).

use crate::config::Level;
use crate::evaluate::Findings;
use crate::plan::{Guard, RoutePlan};
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT006,
    title: "rogue endpoint",
    rejects: "a route served by Traefik (Ingress, IngressRoute, HTTPRoute, GRPCRoute, or any TCP route) without an auth middleware and not rendered for an app with an identity rule",
    hint: "attach an auth Middleware (Ingress: annotation traefik.ingress.kubernetes.io/router.middlewares; IngressRoute: routes[].middlewares; HTTPRoute: an ExtensionRef filter), or render the route from an OAM app whose component declares an identity rule",
    default_level: Level::Deny,
};

/// Every open router of the plan, each on its own: one guarded route does not vouch for
/// its siblings. Routers that only something nobody could look up would guard are noted.
pub(crate) fn check(plan: &RoutePlan, subject: &str, out: &mut Findings) {
    for router in &plan.routers {
        match &router.guard {
            Guard::Open(why) => out.add(
                RuleId::OT006,
                subject.to_string(),
                router.router.path.clone(),
                format!("is served by Traefik but nobody authenticates it: {why}"),
            ),
            Guard::Undetermined(what) => out.unresolved(what.clone()),
            _ => {}
        }
    }
}

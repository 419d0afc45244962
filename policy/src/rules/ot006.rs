//! OT006: a route served by Traefik that nobody authenticates (a rogue endpoint).

use crate::config::Level;
use crate::evaluate::Findings;
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT006,
    title: "rogue endpoint",
    rejects: "an Ingress, IngressRoute or HTTPRoute served by Traefik without an auth middleware and not owned by an app with an identity rule",
    hint: "attach an auth Middleware (Ingress: annotation traefik.ingress.kubernetes.io/router.middlewares; IngressRoute: routes[].middlewares; HTTPRoute: an ExtensionRef filter), or render the route from an OAM app whose component declares an identity rule",
    default_level: Level::Deny,
};

/// Why the route counts as unauthenticated, for the message.
pub(crate) fn report(subject: &str, path: &str, why: &str, out: &mut Findings) {
    out.add(
        RuleId::OT006,
        subject.to_string(),
        path.to_string(),
        format!("is served by Traefik but nobody authenticates it: {why}"),
    );
}

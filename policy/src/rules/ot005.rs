//! OT005: an identity rule whose `middleware` does not authenticate.

use crate::auth::Resolution;
use crate::config::Level;
use crate::evaluate::{Findings, RuleSite};
use crate::middleware::Target;
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT005,
    title: "not an auth middleware",
    rejects: "an identity rule whose `middleware` is not an auth middleware with real configuration",
    hint: "point `middleware:` at a Middleware that authenticates: a forwardAuth with an address (under the policy's trustedAuthServices when set), a basicAuth or digestAuth with a secret, an allowed plugin, or a chain that contains one",
    default_level: Level::Deny,
};

/// The `middleware:` of an identity rule, resolved once by the caller.
pub(crate) fn check_identity(
    site: &RuleSite,
    target: &Target,
    resolution: &Resolution,
    out: &mut Findings,
) {
    let why = match resolution {
        Resolution::NotAuth => "which does not authenticate",
        Resolution::Untrusted => "which the policy does not list in trustedMiddlewares",
        _ => return,
    };
    out.add(
        RuleId::OT005,
        site.subject(),
        site.field("middleware"),
        format!("names {}, {why}", target.describe()),
    );
}

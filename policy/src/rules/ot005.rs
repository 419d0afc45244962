//! OT005: a referenced Middleware that is not an auth middleware.

use crate::config::Level;
use crate::evaluate::{Findings, RuleSite};
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT005,
    title: "not an auth middleware",
    rejects: "an identity rule whose `middleware` is not an auth middleware",
    hint: "point `middleware:` at a Middleware of an auth kind (forwardAuth, basicAuth, digestAuth, an allowed plugin, or a chain that contains one)",
    default_level: Level::Deny,
};

pub(crate) fn report(site: &RuleSite, namespace: &str, name: &str, out: &mut Findings) {
    out.add(
        RuleId::OT005,
        site.subject(),
        site.field("middleware"),
        format!("names Middleware {namespace}/{name}, which does not authenticate"),
    );
}

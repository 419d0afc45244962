//! OT009: a `public` rule without a reason, or in a namespace not allowed to publish.

use crate::Policy;
use crate::config::Level;
use crate::evaluate::{Findings, RuleSite};
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT009,
    title: "public route",
    rejects: "a `public` identity rule without a reason, or in a namespace not allowed to publish",
    hint: "write `reason:` saying why the route is public, and publish only from a namespace in the policy's publicNamespaces",
    default_level: Level::Deny,
};

pub(crate) fn check(site: &RuleSite, namespace: &str, policy: &Policy, out: &mut Findings) {
    if !site.rule.is_public() {
        return;
    }
    if site
        .rule
        .reason
        .as_deref()
        .is_none_or(|r| r.trim().is_empty())
    {
        out.add(
            RuleId::OT009,
            site.subject(),
            site.field("reason"),
            "is public but gives no reason",
        );
    }
    if !policy.public_namespaces.iter().any(|n| n == namespace) {
        out.add(
            RuleId::OT009,
            site.subject(),
            site.field("provider"),
            format!("is public, but namespace {namespace:?} may not publish public routes"),
        );
    }
}

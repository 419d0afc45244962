//! OT003: overbroad scopes.

use crate::Policy;
use crate::config::Level;
use crate::evaluate::{Findings, RuleSite};
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT003,
    title: "overbroad scopes",
    rejects: "an identity rule with a wildcard scope, a denied scope, or more scopes than the policy's maximum",
    hint: "list only the exact scopes the route needs: no `*`, none of the policy's deniedScopes, at most maxScopes",
    default_level: Level::Deny,
};

pub(crate) fn check(site: &RuleSite, policy: &Policy, out: &mut Findings) {
    for (i, scope) in site.rule.scopes.iter().enumerate() {
        if scope.contains('*') {
            out.add(
                RuleId::OT003,
                site.subject(),
                site.field(&format!("scopes/{i}")),
                format!("scope {scope:?} is a wildcard"),
            );
        } else if policy.denied_scopes.iter().any(|d| d == scope) {
            out.add(
                RuleId::OT003,
                site.subject(),
                site.field(&format!("scopes/{i}")),
                format!("scope {scope:?} is denied by the policy"),
            );
        }
    }
    if site.rule.scopes.len() > policy.max_scopes {
        out.add(
            RuleId::OT003,
            site.subject(),
            site.field("scopes"),
            format!(
                "lists {} scopes, more than the maximum of {}",
                site.rule.scopes.len(),
                policy.max_scopes
            ),
        );
    }
}

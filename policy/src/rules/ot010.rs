//! OT010: an identity rule without `version`.

use crate::config::Level;
use crate::evaluate::{Findings, RuleSite};
use crate::identity::IdentityRule;
use crate::rules::{RuleId, RuleInfo};

/// The identity rule versions this release understands.
const VERSIONS: [&str; 1] = ["v1"];

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT010,
    title: "unversioned identity",
    rejects: "an identity rule without `version`, or with a version this release does not know",
    hint: "add `version: v1` to the identity rule",
    default_level: Level::Warn,
};

pub(crate) fn check(site: &RuleSite, out: &mut Findings) {
    let rule: &IdentityRule = site.rule;
    match rule.version.as_deref() {
        None | Some("") => out.add(
            RuleId::OT010,
            site.subject(),
            site.field("version"),
            "declares no version",
        ),
        Some(v) if !VERSIONS.contains(&v) => out.add(
            RuleId::OT010,
            site.subject(),
            site.field("version"),
            format!(
                "declares unknown version {v:?} (known: {})",
                VERSIONS.join(", ")
            ),
        ),
        Some(_) => {}
    }
}

//! OT007: a break-glass annotation set by a requester outside the allowed groups.

use crate::Policy;
use crate::config::Level;
use crate::evaluate::{Exemption, Findings, Requester};
use crate::meta::Meta;
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT007,
    title: "break-glass",
    rejects: "a break-glass annotation set or changed by a requester outside the policy's break-glass groups, or without a reason",
    hint: "remove the break-glass annotation, or have a member of the break-glass groups set it with the reason as its value",
    default_level: Level::Deny,
};

/// The exemption the annotation grants, if the requester may set it; a violation otherwise.
/// An annotation carried over unchanged from the old object keeps its exemption, so that
/// controllers updating the object are not refused for what a human set.
pub(crate) fn check(
    meta: &Meta,
    old: Option<&Meta>,
    requester: &Requester,
    subject: &str,
    policy: &Policy,
    out: &mut Findings,
) -> Option<Exemption> {
    let key = &policy.break_glass.annotation;
    let reason = meta.annotation(key)?;
    let path = crate::patch::pointer(&["metadata", "annotations", key]).to_string();
    let unchanged = old.and_then(|o| o.annotation(key)) == Some(reason);
    let allowed = requester
        .groups
        .iter()
        .any(|g| policy.break_glass.groups.iter().any(|a| a == g));
    if reason.trim().is_empty() {
        out.add(
            RuleId::OT007,
            subject.to_string(),
            path,
            format!("sets {key} without a reason"),
        );
        return None;
    }
    if allowed || unchanged {
        return Some(Exemption::BreakGlass {
            reason: reason.to_string(),
            user: requester.username.clone(),
        });
    }
    out.add(
        RuleId::OT007,
        subject.to_string(),
        path,
        format!(
            "sets {key}, but user {:?} is not in the break-glass groups{}",
            requester.username,
            if policy.break_glass.groups.is_empty() {
                " (the policy allows nobody)".to_string()
            } else {
                format!(" ({})", policy.break_glass.groups.join(", "))
            }
        ),
    );
    None
}

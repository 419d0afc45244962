//! OT007: a break-glass annotation set by a requester outside the allowed groups.

use std::collections::HashSet;

use crate::Policy;
use crate::config::Level;
use crate::evaluate::{Exemption, Findings, Requester, Violation};
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
/// What the break-glass annotation does for this write.
pub(crate) enum BreakGlass {
    /// No annotation, or one refused (the violation is recorded): the rules apply.
    None,
    /// Set or kept by an allowed requester: the rules do not apply.
    Exempt(Exemption),
    /// Carried over unchanged by someone else: exempt only if the edit opens nothing new.
    Kept(Exemption),
}

pub(crate) fn check(
    meta: &Meta,
    old: Option<&Meta>,
    requester: &Requester,
    subject: &str,
    policy: &Policy,
    out: &mut Findings,
) -> BreakGlass {
    let key = &policy.break_glass.annotation;
    let Some(reason) = meta.annotation(key) else {
        return BreakGlass::None;
    };
    let path = crate::patch::pointer(&["metadata", "annotations", key]).to_string();
    let unchanged = old.and_then(|o| o.annotation(key)) == Some(reason);
    if reason.trim().is_empty() {
        out.add(
            RuleId::OT007,
            subject.to_string(),
            path,
            format!("sets {key} without a reason"),
        );
        return BreakGlass::None;
    }
    let exemption = Exemption::BreakGlass {
        reason: reason.to_string(),
        user: requester.username.clone(),
    };
    if allowed(requester, policy) {
        return BreakGlass::Exempt(exemption);
    }
    if unchanged {
        return BreakGlass::Kept(exemption);
    }
    out.add(
        RuleId::OT007,
        subject.to_string(),
        path,
        format!(
            "sets {key}, but user {:?} is not in the break-glass groups{}",
            requester.username,
            groups(policy)
        ),
    );
    BreakGlass::None
}

/// An annotation carried over unchanged by someone outside the groups covers an edit only
/// if it breaks no rule that the stored object did not already break (`now` against
/// `before`, by rule and path); otherwise the new findings stand, with the reason.
pub(crate) fn kept(
    exemption: Exemption,
    now: Vec<Violation>,
    before: &[Violation],
    requester: &Requester,
    subject: &str,
    policy: &Policy,
    out: &mut Findings,
) -> Option<Exemption> {
    let known: HashSet<(RuleId, &str)> = before.iter().map(|v| (v.rule, v.path.as_str())).collect();
    let loosened: Vec<Violation> = now
        .into_iter()
        .filter(|v| !known.contains(&(v.rule, v.path.as_str())))
        .collect();
    if loosened.is_empty() {
        return Some(exemption);
    }
    let key = &policy.break_glass.annotation;
    out.add(
        RuleId::OT007,
        subject.to_string(),
        crate::patch::pointer(&["metadata", "annotations", key]).to_string(),
        format!(
            "keeps {key}, but this edit by {:?}, who is not in the break-glass groups{}, breaks rules the object did not break before",
            requester.username,
            groups(policy)
        ),
    );
    for v in loosened {
        out.push(v);
    }
    None
}

fn allowed(requester: &Requester, policy: &Policy) -> bool {
    requester
        .groups
        .iter()
        .any(|g| policy.break_glass.groups.iter().any(|a| a == g))
}

fn groups(policy: &Policy) -> String {
    if policy.break_glass.groups.is_empty() {
        " (the policy allows nobody)".to_string()
    } else {
        format!(" ({})", policy.break_glass.groups.join(", "))
    }
}

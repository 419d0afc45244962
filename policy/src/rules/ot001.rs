//! OT001: a component with a route trait and no identity rule.

use crate::config::Level;
use crate::evaluate::Findings;
use crate::rules::{RuleId, RuleInfo};
use crate::{Application, Policy};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT001,
    title: "route without identity",
    rejects: "a component with a route trait and no identity rule",
    hint: "add a trait `type: identity` (version, provider, issuer, audiences) to the component, or an `identity` policy to spec.policies",
    default_level: Level::Deny,
};

pub(crate) fn check(app: &Application, policy: &Policy, out: &mut Findings) {
    for (i, component) in app.spec.components.iter().enumerate() {
        let Some((t, route)) = component.route_traits(&policy.route_traits).next() else {
            continue;
        };
        if app.identity_of(i).is_none() {
            out.add(
                RuleId::OT001,
                format!("component \"{}\"", component.name),
                format!("/spec/components/{i}/traits/{t}"),
                format!(
                    "exposes a route through trait \"{}\" but declares no identity rule",
                    route.type_
                ),
            );
        }
    }
}

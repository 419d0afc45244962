//! OT001: a component that exposes a route and declares no identity rule.
//!
//! Every way an app exposes HTTP counts: a route trait on the component (named in the
//! policy's `routeTraits`, or whose TraitDefinition renders a route kind), one an
//! `override` policy adds to it, and a route object embedded in it (`k8s-objects`, `raw`)
//! that does not authenticate on its own. Route objects that workflow steps apply belong
//! to no component: they must authenticate on their own (OT006).

use crate::config::Level;
use crate::evaluate::{Findings, Requester, Subject};
use crate::lookup::{Answer, Lookup};
use crate::object::Object;
use crate::owner::Writer;
use crate::plan::{self, Guard};
use crate::rules::{RuleId, RuleInfo};
use crate::{Application, Policy};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT001,
    title: "route without identity",
    rejects: "a component that exposes a route (a route trait, one added by an override policy, or an embedded route object) and declares no identity rule",
    hint: "add a trait `type: identity` (version, provider, issuer, audiences) to the component, or an `identity` policy to spec.policies",
    default_level: Level::Deny,
};

pub(crate) fn check(
    app: &Application,
    namespace: &str,
    requester: &Requester,
    policy: &Policy,
    lookup: &dyn Lookup,
    out: &mut Findings,
) {
    for (i, component) in app.spec.components.iter().enumerate() {
        if app.identity_of(i).is_some() {
            continue;
        }
        // By name from the policy, or by what its TraitDefinition renders.
        let is_route_trait = |t: &str| {
            policy.route_traits.iter().any(|r| r == t)
                || lookup.trait_renders_route(t) == Answer::Found(true)
        };
        if let Some(first) = app.route_traits_of(i, is_route_trait).first() {
            out.add(
                RuleId::OT001,
                Subject::Component(component.name.clone()),
                first.path.clone(),
                format!(
                    "exposes a route through trait \"{}\" but declares no identity rule",
                    first.type_
                ),
            );
        }
    }
    for embedded in app.embedded_objects() {
        if embedded.component.is_some_and(|i| app.identity_of(i).is_some()) {
            // Rendered for a component with an identity rule: bound to it when written.
            continue;
        }
        // An embedded object that does not parse is refused by the API server when applied.
        let Ok(Some(object)) = Object::from_value(embedded.value) else {
            continue;
        };
        let Some(plan) = plan::plan(&object, namespace, Writer::Requester(requester), policy, lookup)
        else {
            continue;
        };
        for router in &plan.routers {
            let Guard::Open(why) = &router.guard else {
                continue;
            };
            let path = format!("{}{}", embedded.path, router.router.path);
            match embedded.component.and_then(|i| app.spec.components.get(i)) {
                Some(component) => out.add(
                    RuleId::OT001,
                    Subject::Component(component.name.clone()),
                    path,
                    format!(
                        "embeds {}, which nobody authenticates ({why}), but declares no identity rule",
                        plan.object
                    ),
                ),
                None => out.add(
                    RuleId::OT006,
                    format!("workflow step of Application {namespace}/{}", app.metadata.display_name()),
                    path,
                    format!("applies {}, which is served by Traefik but nobody authenticates it: {why}", plan.object),
                ),
            }
        }
    }
}

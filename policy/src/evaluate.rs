//! `evaluate`: one review in, one verdict out. The webhook and `check` both call it.

use json_patch::{Patch, PatchOperation};
use serde::Serialize;

use crate::application::Application;
use crate::auth::{self, Resolution};
use crate::config::{Level, Policy};
use crate::identity::IdentityRule;
use crate::lookup::Lookup;
use crate::middleware::Target;
use crate::naming;
use crate::object::Object;
use crate::owner::Owner;
use crate::patch;
use crate::rules::{RuleId, ot001, ot002, ot003, ot004, ot006, ot007, ot008, ot009, ot010};
use crate::traefik;

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// CREATE.
    Create,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// CONNECT.
    Connect,
}

impl Operation {
    /// Parse the operation as AdmissionReview spells it (`CREATE`).
    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "CREATE" => Some(Operation::Create),
            "UPDATE" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            "CONNECT" => Some(Operation::Connect),
            _ => None,
        }
    }

    /// The operation as AdmissionReview spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// Who asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Requester {
    /// The user name.
    pub username: String,
    /// The user's groups.
    pub groups: Vec<String>,
}

/// One admission question.
#[derive(Debug, Clone, Copy)]
pub struct Review<'a> {
    /// What is being done.
    pub operation: Operation,
    /// The request's namespace (objects that name none live here).
    pub namespace: &'a str,
    /// The object as it would be stored; `None` on DELETE.
    pub object: Option<&'a Object>,
    /// The object as it is stored; on UPDATE and DELETE.
    pub old_object: Option<&'a Object>,
    /// Who asked.
    pub requester: &'a Requester,
}

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule.
    pub rule: RuleId,
    /// Deny or warn, from the policy.
    pub level: Level,
    /// The component, identity rule or route it is about (`component "orders"`).
    pub subject: String,
    /// JSON pointer into the object.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} (at {}); fix: {}",
            self.rule, self.subject, self.message, self.path, self.hint
        )
    }
}

/// Why the rules were not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Exemption {
    /// The namespace is exempt.
    Namespace {
        /// The namespace.
        namespace: String,
    },
    /// An allowed requester set the break-glass annotation.
    BreakGlass {
        /// The annotation's value.
        reason: String,
        /// Who set or kept it.
        user: String,
    },
}

/// The answer to a review.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Rules at level deny that fired.
    pub violations: Vec<Violation>,
    /// Rules at level warn that fired.
    pub warnings: Vec<Violation>,
    /// The mutation, empty when nothing is to change.
    pub patch: Patch,
    /// The middleware references the patch injects.
    pub injected: Vec<String>,
    /// Set when the rules were not applied.
    pub exemption: Option<Exemption>,
    /// Questions about other objects that nobody could answer (no violation by themselves).
    pub unresolved: Vec<String>,
}

impl Verdict {
    /// Whether the object may be admitted.
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Every rule id that fired, deny and warn, in order and without repeats.
    pub fn rule_ids(&self) -> Vec<RuleId> {
        let mut ids: Vec<RuleId> = self
            .violations
            .iter()
            .chain(&self.warnings)
            .map(|v| v.rule)
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The denial as the API server shows it to the user: one line per violation.
    pub fn denial_message(&self) -> String {
        let mut lines = vec![format!(
            "oam-traefik refused this object ({} violation{}):",
            self.violations.len(),
            if self.violations.len() == 1 { "" } else { "s" }
        )];
        lines.extend(self.violations.iter().map(|v| format!("- {v}")));
        lines.join("\n")
    }
}

/// What the rules collect while they run.
pub(crate) struct Findings<'p> {
    policy: &'p Policy,
    items: Vec<Violation>,
    unresolved: Vec<String>,
}

impl<'p> Findings<'p> {
    fn new(policy: &'p Policy) -> Self {
        Self {
            policy,
            items: Vec::new(),
            unresolved: Vec::new(),
        }
    }

    /// Record that `rule` fired.
    pub(crate) fn add(
        &mut self,
        rule: RuleId,
        subject: String,
        path: String,
        message: impl Into<String>,
    ) {
        self.items.push(Violation {
            rule,
            level: self.policy.level(rule),
            subject,
            path,
            message: message.into(),
            hint: rule.info().hint.to_string(),
        });
    }

    /// Record a question nobody could answer.
    pub(crate) fn unresolved(&mut self, what: String) {
        if !self.unresolved.contains(&what) {
            self.unresolved.push(what);
        }
    }
}

/// An identity rule and where it stands in the Application.
pub(crate) struct RuleSite<'a> {
    pub(crate) rule: &'a IdentityRule,
    subject: String,
    /// JSON pointer of the trait or policy that holds the rule.
    base: String,
}

impl RuleSite<'_> {
    pub(crate) fn subject(&self) -> String {
        self.subject.clone()
    }

    /// JSON pointer of `properties/<field>`.
    pub(crate) fn field(&self, field: &str) -> String {
        format!("{}/properties/{field}", self.base)
    }
}

/// Evaluate one review under `policy`, asking `lookup` about other objects.
pub fn evaluate(review: &Review, policy: &Policy, lookup: &dyn Lookup) -> Verdict {
    let Some(subject_obj) = review.object.or(review.old_object) else {
        return Verdict::default();
    };
    let namespace = subject_obj
        .meta()
        .namespace_or(review.namespace)
        .to_string();
    if policy.is_exempt(&namespace) {
        return Verdict {
            exemption: Some(Exemption::Namespace { namespace }),
            ..Verdict::default()
        };
    }
    let mut out = Findings::new(policy);
    let mut ops: Vec<PatchOperation> = Vec::new();
    let mut injected: Vec<String> = Vec::new();
    let mut exemption = None;

    match (review.operation, review.object) {
        (Operation::Delete, _) => {
            if let Some(Object::Middleware(old)) = review.old_object {
                ot008::check(old, None, &namespace, policy, lookup, &mut out);
            }
        }
        (Operation::Create | Operation::Update, Some(object)) => {
            let subject = subject_of(object, &namespace);
            exemption = ot007::check(
                object.meta(),
                review.old_object.map(Object::meta),
                review.requester,
                &subject,
                policy,
                &mut out,
            );
            if exemption.is_none() {
                match object {
                    Object::Application(app) => {
                        check_application(app, &namespace, policy, lookup, &mut out);
                        for (op, reference) in application_patch(app, &namespace, policy) {
                            ops.push(op);
                            injected.push(reference);
                        }
                    }
                    Object::Middleware(new) => {
                        if let Some(Object::Middleware(old)) = review.old_object {
                            ot008::check(old, Some(new), &namespace, policy, lookup, &mut out);
                        }
                    }
                    route => {
                        if let Some((route_ops, reference)) =
                            check_route(route, &namespace, &subject, policy, lookup, &mut out)
                        {
                            ops.extend(route_ops);
                            injected.push(reference);
                        }
                    }
                }
            }
        }
        _ => {}
    }

    let (violations, warnings) = out.items.into_iter().partition(|v| v.level == Level::Deny);
    Verdict {
        violations,
        warnings,
        patch: Patch(ops),
        injected,
        exemption,
        unresolved: out.unresolved,
    }
}

/// How a message names the object.
fn subject_of(object: &Object, namespace: &str) -> String {
    match object {
        Object::Application(app) => {
            format!("Application {namespace}/{}", app.metadata.display_name())
        }
        other => other.object_ref(namespace).to_string(),
    }
}

/// Every identity rule of the app, each once: component traits, then app policies.
fn identity_sites(app: &Application) -> Vec<RuleSite<'_>> {
    let mut sites = Vec::new();
    for (i, component) in app.spec.components.iter().enumerate() {
        for (j, t) in component.traits.iter().enumerate() {
            if let Some(rule) = &t.identity {
                sites.push(RuleSite {
                    rule,
                    subject: format!("component \"{}\" identity", component.name),
                    base: format!("/spec/components/{i}/traits/{j}"),
                });
            }
        }
    }
    for (p, policy) in app.spec.policies.iter().enumerate() {
        if let Some(rule) = &policy.identity {
            sites.push(RuleSite {
                rule,
                subject: format!("policy \"{}\" identity", policy.name),
                base: format!("/spec/policies/{p}"),
            });
        }
    }
    sites
}

fn check_application(
    app: &Application,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
    out: &mut Findings,
) {
    ot001::check(app, policy, out);
    for site in identity_sites(app) {
        ot002::check(&site, policy, out);
        ot003::check(&site, policy, out);
        ot004::check_identity(&site, namespace, policy, lookup, out);
        ot009::check(&site, namespace, policy, out);
        ot010::check(&site, out);
    }
}

/// The trait type whose properties carry Ingress annotations (KubeVela's built-in `gateway`).
const GATEWAY_TRAIT: &str = "gateway";

/// For every component with a non-public identity rule, its middleware reference in the
/// annotations of each of its `gateway` traits.
fn application_patch(
    app: &Application,
    namespace: &str,
    policy: &Policy,
) -> Vec<(PatchOperation, String)> {
    let mut ops = Vec::new();
    for (i, component) in app.spec.components.iter().enumerate() {
        let Some((_, rule)) = app.identity_of(i) else {
            continue;
        };
        let middleware = rule.middleware_name(&app.metadata.name, &component.name);
        if rule.is_public() || middleware.contains('/') || middleware.contains('@') {
            continue;
        }
        let reference = naming::ingress_middleware_ref(namespace, &middleware);
        let index = i.to_string();
        for (j, t) in component.route_traits(&policy.route_traits) {
            if t.type_ != GATEWAY_TRAIT {
                continue;
            }
            let trait_index = j.to_string();
            let path = ["spec", "components", &index, "traits", &trait_index];
            if let Some(op) = patch::gateway_trait(&path, t.properties.as_ref(), &reference) {
                ops.push((op, reference.clone()));
            }
        }
    }
    ops
}

/// Rules for a route object; returns the patch that attaches the owner's identity middleware.
/// Every router of the object is judged on its own: one guarded route does not vouch for
/// its siblings.
fn check_route(
    route: &Object,
    namespace: &str,
    subject: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
    out: &mut Findings,
) -> Option<(Vec<PatchOperation>, String)> {
    if !traefik::serves(route, namespace, policy, lookup) {
        return None;
    }
    let meta = route.meta();
    let owner = Owner::of(meta, namespace, lookup);
    let generated = Owner::generated_middleware(meta);
    let mut resolved: Vec<(Target, Resolution)> = Vec::new();
    // Routers nobody authenticates: their path, and whether they run any middleware at all.
    let mut open_routers: Vec<(String, bool)> = Vec::new();
    for router in route.routers(namespace) {
        let has_middleware = !router.targets.is_empty();
        let mut auth = false;
        let mut unknown = false;
        for target in router.targets {
            let resolution = match resolved.iter().find(|(t, _)| *t == target) {
                Some((_, r)) => r.clone(),
                None => {
                    let r = auth::resolve_from(&target, namespace, policy, lookup);
                    match (&r, &target) {
                        (Resolution::Missing, Target::Crd { name, .. })
                            if Some(name) == generated.as_ref() => {}
                        (Resolution::Unknown, _) => out.unresolved(target.describe()),
                        _ => ot004::report_route_ref(
                            subject,
                            &router.path,
                            &target.describe(),
                            &r,
                            out,
                        ),
                    }
                    resolved.push((target.clone(), r.clone()));
                    r
                }
            };
            match (&resolution, &target) {
                (Resolution::Auth, _) => auth = true,
                // KubeVela creates the generated identity Middleware after admitting the route.
                (Resolution::Missing, Target::Crd { name, .. })
                    if Some(name) == generated.as_ref() =>
                {
                    auth |= matches!(owner, Owner::Identity { public: false, .. });
                }
                (Resolution::Unknown, _) => unknown = true,
                _ => {}
            }
        }
        if !auth && !unknown {
            open_routers.push((router.path, has_middleware));
        }
    }
    match owner {
        Owner::Identity {
            middleware,
            public: false,
            ..
        } => {
            let (ops, reference) = route_patch(route, namespace, &middleware);
            (!ops.is_empty()).then_some((ops, reference))
        }
        Owner::Identity { public: true, .. } => None,
        Owner::Unknown { app } => {
            out.unresolved(format!(
                "Application {namespace}/{app} that owns this route"
            ));
            None
        }
        Owner::None | Owner::NoIdentity { .. } => {
            for (path, has_middleware) in open_routers {
                let why = match (&owner, has_middleware) {
                    (Owner::NoIdentity { app, component }, _) => format!(
                        "its owner, component \"{component}\" of app \"{app}\", declares no identity rule, and it attaches no auth middleware"
                    ),
                    (_, false) => "it attaches no middleware and no OAM app with an identity rule owns it".to_string(),
                    (_, true) => "none of its middlewares authenticates and no OAM app with an identity rule owns it".to_string(),
                };
                ot006::report(subject, &path, &why, out);
            }
            None
        }
    }
}

/// The patch that attaches Middleware `name` to a route object, with the reference as injected.
fn route_patch(route: &Object, namespace: &str, name: &str) -> (Vec<PatchOperation>, String) {
    match route {
        Object::Ingress(ingress) => {
            let reference = naming::ingress_middleware_ref(namespace, name);
            let ops = patch::annotation(
                &["metadata"],
                ingress.metadata.annotations.as_ref(),
                &reference,
            )
            .into_iter()
            .collect();
            (ops, reference)
        }
        Object::IngressRoute(r) => (
            patch::ingress_route(r, namespace, name),
            format!("{namespace}/{name}"),
        ),
        Object::HttpRoute(h) => (patch::http_route(h, name), format!("{namespace}/{name}")),
        Object::Application(_) | Object::Middleware(_) => (Vec::new(), String::new()),
    }
}

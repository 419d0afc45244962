//! `evaluate`: one review in, one verdict out. The webhook and `check` both call it.

use json_patch::{Patch, PatchOperation};
use serde::Serialize;

use crate::application::Application;
use crate::auth::{self, Resolution};
use crate::config::{Level, Policy};
use crate::identity::IdentityRule;
use crate::ingress::{MIDDLEWARES_ANNOTATION, split_middleware_list};
use crate::lookup::Lookup;
use crate::middleware::Target;
use crate::naming;
use crate::object::Object;
use crate::owner::{Owner, Writer};
use crate::patch;
use crate::plan;
use crate::rules::ot007::BreakGlass;
use crate::rules::{
    RuleId, ot001, ot002, ot003, ot004, ot005, ot006, ot007, ot008, ot009, ot010, ot011, ot012,
};

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
    /// The component, identity rule or object it is about (`component "orders"`).
    pub subject: Subject,
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

/// What a violation is about: typed, so that no code reads it back out of a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A component of the Application.
    Component(String),
    /// The identity rule of a component (its own trait).
    ComponentIdentity(String),
    /// An app-level identity policy, by name.
    PolicyIdentity(String),
    /// A whole object or a part of it that is not a component (`Ingress shop/web`).
    Object(String),
}

impl Subject {
    /// The component it is about, if any.
    pub fn component(&self) -> Option<&str> {
        match self {
            Subject::Component(c) | Subject::ComponentIdentity(c) => Some(c),
            Subject::PolicyIdentity(_) | Subject::Object(_) => None,
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Component(c) => write!(f, "component \"{c}\""),
            Subject::ComponentIdentity(c) => write!(f, "component \"{c}\" identity"),
            Subject::PolicyIdentity(p) => write!(f, "policy \"{p}\" identity"),
            Subject::Object(o) => f.write_str(o),
        }
    }
}

impl Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl From<String> for Subject {
    fn from(object: String) -> Self {
        Subject::Object(object)
    }
}

impl From<&str> for Subject {
    fn from(object: &str) -> Self {
        Subject::Object(object.to_string())
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

/// The most findings of one rule a verdict lists one by one; the rest are counted in one
/// line, so that a denial stays readable (and its size bounded) however big the object.
pub const MAX_FINDINGS_PER_RULE: usize = 20;

/// What the rules collect while they run.
pub(crate) struct Findings<'p> {
    policy: &'p Policy,
    items: Vec<Violation>,
    unresolved: Vec<String>,
    /// Findings per rule, and those past [`MAX_FINDINGS_PER_RULE`] not listed.
    counts: std::collections::BTreeMap<RuleId, (usize, usize)>,
}

impl<'p> Findings<'p> {
    pub(crate) fn new(policy: &'p Policy) -> Self {
        Self {
            policy,
            items: Vec::new(),
            unresolved: Vec::new(),
            counts: std::collections::BTreeMap::new(),
        }
    }

    /// Record a finding made already (by a run of the rules on its own).
    pub(crate) fn push(&mut self, violation: Violation) {
        self.items.push(violation);
    }

    /// Record that `rule` fired.
    pub(crate) fn add(
        &mut self,
        rule: RuleId,
        subject: impl Into<Subject>,
        path: String,
        message: impl Into<String>,
    ) {
        let (listed, more) = self.counts.entry(rule).or_default();
        if *listed == MAX_FINDINGS_PER_RULE {
            *more += 1;
            return;
        }
        *listed += 1;
        self.items.push(Violation {
            rule,
            level: self.policy.level(rule),
            subject: subject.into(),
            path,
            message: message.into(),
            hint: rule.info().hint.to_string(),
        });
    }

    /// Record a question nobody could answer (the first few; each once).
    pub(crate) fn unresolved(&mut self, what: String) {
        if self.unresolved.len() < MAX_FINDINGS_PER_RULE && !self.unresolved.contains(&what) {
            self.unresolved.push(what);
        }
    }

    /// The findings, with one line per rule that had more than could be listed.
    fn finish(mut self) -> (Vec<Violation>, Vec<String>) {
        for (rule, (_, more)) in std::mem::take(&mut self.counts) {
            if more > 0 {
                self.items.push(Violation {
                    rule,
                    level: self.policy.level(rule),
                    subject: Subject::Object("and more".to_string()),
                    path: String::new(),
                    message: format!("{more} more {rule} findings on this object are not listed"),
                    hint: rule.info().hint.to_string(),
                });
            }
        }
        (self.items, self.unresolved)
    }
}

/// An identity rule and where it stands in the Application.
pub(crate) struct RuleSite<'a> {
    pub(crate) rule: &'a IdentityRule,
    subject: Subject,
    /// JSON pointer of the trait or policy that holds the rule.
    base: String,
}

impl RuleSite<'_> {
    pub(crate) fn subject(&self) -> Subject {
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
    let mut mutation = Mutation::default();
    let mut exemption = None;

    match (review.operation, review.object) {
        (Operation::Delete, _) => {
            if let Some(Object::Middleware(old)) = review.old_object {
                ot008::check(old, None, &namespace, policy, lookup, &mut out);
            }
        }
        (Operation::Create | Operation::Update, Some(object)) => {
            let subject = subject_of(object, &namespace);
            let old_meta = review.old_object.map(Object::meta);
            match ot007::check(
                object.meta(),
                old_meta,
                review.requester,
                &subject,
                policy,
                &mut out,
            ) {
                BreakGlass::None => {
                    object_rules(
                        object,
                        review,
                        &namespace,
                        &subject,
                        policy,
                        lookup,
                        &mut out,
                        &mut mutation,
                    );
                }
                BreakGlass::Exempt(e) => exemption = Some(e),
                BreakGlass::Kept(e) => {
                    let findings = |obj: &Object| {
                        let mut f = Findings::new(policy);
                        object_rules(
                            obj,
                            review,
                            &namespace,
                            &subject,
                            policy,
                            lookup,
                            &mut f,
                            &mut Mutation::default(),
                        );
                        f.finish().0
                    };
                    let before = review.old_object.map(findings).unwrap_or_default();
                    exemption = ot007::kept(
                        e,
                        findings(object),
                        &before,
                        review.requester,
                        &subject,
                        policy,
                        &mut out,
                    );
                }
            }
        }
        _ => {}
    }

    let (items, unresolved) = out.finish();
    let (violations, warnings) = items.into_iter().partition(|v| v.level == Level::Deny);
    Verdict {
        violations,
        warnings,
        patch: Patch(mutation.ops),
        injected: mutation.injected,
        exemption,
        unresolved,
    }
}

/// The patch being built, with the references it injects.
#[derive(Default)]
struct Mutation {
    ops: Vec<PatchOperation>,
    injected: Vec<String>,
}

/// The rules for one object of any kind, as if no break-glass applied.
#[allow(clippy::too_many_arguments)]
fn object_rules(
    object: &Object,
    review: &Review,
    namespace: &str,
    subject: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
    out: &mut Findings,
    mutation: &mut Mutation,
) {
    match object {
        Object::Application(app) => {
            check_application(app, namespace, review.requester, policy, lookup, out);
            for (op, reference) in application_patch(app, namespace, policy, out) {
                mutation.ops.push(op);
                mutation.injected.push(reference);
            }
            mutation.ops.extend(policy_identity_traits(app));
        }
        Object::Middleware(new) => {
            ot011::check(new, namespace, review.requester, policy, lookup, out);
            ot012::check(new, namespace, lookup, out);
            if let Some(Object::Middleware(old)) = review.old_object {
                ot008::check(old, Some(new), namespace, policy, lookup, out);
            }
        }
        route => {
            let Some(plan) = plan::plan(
                route,
                namespace,
                Writer::Requester(review.requester),
                policy,
                lookup,
            ) else {
                return;
            };
            ot004::check_route(&plan, subject, out);
            ot006::check(&plan, subject, out);
            if let Owner::Identity {
                middleware,
                public: false,
                ..
            } = &plan.owner
            {
                let (ops, reference) = route_patch(route, namespace, middleware.as_str());
                if !ops.is_empty() {
                    mutation.ops.extend(ops);
                    mutation.injected.push(reference);
                }
            }
        }
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
                    subject: Subject::ComponentIdentity(component.name.clone()),
                    base: format!("/spec/components/{i}/traits/{j}"),
                });
            }
        }
    }
    for (p, policy) in app.spec.policies.iter().enumerate() {
        if let Some(rule) = &policy.identity {
            sites.push(RuleSite {
                rule,
                subject: Subject::PolicyIdentity(policy.name.clone()),
                base: format!("/spec/policies/{p}"),
            });
        }
    }
    sites
}

fn check_application(
    app: &Application,
    namespace: &str,
    requester: &Requester,
    policy: &Policy,
    lookup: &dyn Lookup,
    out: &mut Findings,
) {
    ot001::check(app, namespace, requester, policy, lookup, out);
    for site in identity_sites(app) {
        ot002::check(&site, policy, out);
        ot003::check(&site, policy, out);
        if let Some(name) = site.rule.middleware.as_deref().filter(|m| !m.is_empty()) {
            let target = match name.split_once('/') {
                // `namespace/name`: Traefik lets no route use another namespace's Middleware.
                Some((ns, n)) => Target::Crd {
                    namespace: ns.to_string(),
                    name: n.to_string(),
                },
                None => Target::from_ref(
                    &crate::middleware::MiddlewareRef {
                        name: name.to_string(),
                        namespace: None,
                    },
                    namespace,
                ),
            };
            let resolution = auth::resolve(&target, namespace, policy, lookup);
            match resolution {
                Resolution::Unknown => out.unresolved(target.describe()),
                _ => {
                    ot004::check_identity(&site, &target, &resolution, out);
                    ot005::check_identity(&site, &target, &resolution, out);
                }
            }
        }
        ot009::check(&site, namespace, policy, out);
        ot010::check(&site, out);
    }
    gateway_annotation_references(app, namespace, policy, lookup, out);
}

/// The middlewares that `gateway` traits name in their Ingress annotations, resolved as
/// Traefik will resolve them on the rendered Ingress; the component's own identity
/// reference is left to its rule (the generated Middleware comes with the app).
fn gateway_annotation_references(
    app: &Application,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
    out: &mut Findings,
) {
    for (i, component) in app.spec.components.iter().enumerate() {
        let own = app.identity_of(i).map(|(_, rule)| {
            naming::ingress_middleware_ref(
                namespace,
                &rule.middleware_name(&app.metadata.name, &component.name),
            )
        });
        for (j, t) in component.traits.iter().enumerate() {
            if t.type_ != GATEWAY_TRAIT {
                continue;
            }
            let Some(list) = t
                .property("annotations")
                .and_then(|a| a.get(MIDDLEWARES_ANNOTATION))
                .and_then(serde_json::Value::as_str)
            else {
                continue;
            };
            let index = i.to_string();
            let trait_index = j.to_string();
            let path = patch::pointer(&[
                "spec",
                "components",
                &index,
                "traits",
                &trait_index,
                "properties",
                "annotations",
                MIDDLEWARES_ANNOTATION,
            ])
            .to_string();
            for entry in split_middleware_list(list) {
                if own.as_deref() == Some(entry) {
                    continue;
                }
                let target = Target::from_annotation_entry(entry);
                match auth::resolve(&target, namespace, policy, lookup) {
                    Resolution::Unknown => out.unresolved(target.describe()),
                    resolution => ot004::check_gateway_annotation(
                        &component.name,
                        &path,
                        &target,
                        &resolution,
                        out,
                    ),
                }
            }
        }
    }
}

/// The trait type whose properties carry Ingress annotations (KubeVela's built-in `gateway`).
const GATEWAY_TRAIT: &str = "gateway";

/// For every component with a non-public identity rule, its middleware reference in the
/// annotations of each of its `gateway` traits. A reference that cannot be attached is
/// refused (OT004), never skipped in silence.
fn application_patch(
    app: &Application,
    namespace: &str,
    policy: &Policy,
    out: &mut Findings,
) -> Vec<(PatchOperation, String)> {
    let mut ops = Vec::new();
    for (i, component) in app.spec.components.iter().enumerate() {
        let Some((_, rule)) = app.identity_of(i) else {
            continue;
        };
        if rule.is_public() {
            continue;
        }
        let mut gateways = component
            .route_traits(&policy.route_traits)
            .filter(|(_, t)| t.type_ == GATEWAY_TRAIT)
            .peekable();
        if gateways.peek().is_none() {
            continue;
        }
        if app.metadata.name.is_empty() && rule.middleware.as_deref().is_none_or(str::is_empty) {
            out.add(
                RuleId::OT004,
                Subject::Component(component.name.clone()),
                "/metadata/name".to_string(),
                "cannot be bound to its generated identity Middleware <app>-<component>-identity: the Application has no name yet (generateName); set metadata.name",
            );
            continue;
        }
        let middleware = rule.middleware_name(&app.metadata.name, &component.name);
        if middleware.contains('/') {
            // Refused by OT004: there is nothing a route in this namespace could attach.
            continue;
        }
        // A provider-qualified name (`sso@file`) is attached as written.
        let reference = if middleware.contains('@') {
            middleware
        } else {
            naming::ingress_middleware_ref(namespace, &middleware)
        };
        let index = i.to_string();
        for (j, t) in gateways {
            let trait_index = j.to_string();
            let path = ["spec", "components", &index, "traits", &trait_index];
            match patch::gateway_trait(&path, t.properties.as_ref(), &reference) {
                Ok(Some(op)) => ops.push((op, reference.clone())),
                Ok(None) => {}
                Err(why) => out.add(
                    RuleId::OT004,
                    Subject::Component(component.name.clone()),
                    patch::pointer(&path).to_string(),
                    format!("cannot carry its identity middleware reference {reference}: {why}"),
                ),
            }
        }
    }
    ops
}

/// The app-level `identity` policy copied onto every component without a rule of its own,
/// as an `identity` trait: KubeVela renders a Middleware per trait, not per policy.
fn policy_identity_traits(app: &Application) -> Vec<PatchOperation> {
    let Some((p, _)) = app.app_identity() else {
        return Vec::new();
    };
    let policy = &app.spec.policies[p];
    app.spec
        .components
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            patch::policy_identity_trait(i, c, &policy.name, policy.properties.as_ref())
        })
        .collect()
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
        Object::HttpRoute(h) | Object::GrpcRoute(h) => {
            (patch::http_route(h, name), format!("{namespace}/{name}"))
        }
        // Nothing to attach to: TCP routes run no HTTP middleware (OT006 refuses them).
        _ => (Vec::new(), String::new()),
    }
}

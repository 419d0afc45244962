//! The plan of a route object: each router Traefik builds from it, the middlewares it runs
//! resolved through Traefik's naming, its proven owner, and what guards it. Computed once
//! per object; OT004 and OT006, `routes`, `identities` and `explain` all read it, so there
//! is one answer to "is this route protected".

use std::collections::HashMap;

use crate::auth::{self, Resolution};
use crate::config::Policy;
use crate::lookup::{Answer, Lookup};
use crate::meta::ObjectRef;
use crate::middleware::Target;
use crate::naming;
use crate::object::{Object, Router};
use crate::owner::{Owner, Writer};
use crate::traefik;

/// The path prefix of cert-manager's ACME HTTP-01 solver.
pub const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// What guards one router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// An auth middleware runs before the backend (its reference, for a human).
    Auth(String),
    /// The proven owner's generated identity Middleware, which its controller creates with the route.
    PendingIdentity(String),
    /// The proven owner's identity rule is `public`, on purpose.
    Public,
    /// cert-manager's solver, serving only ACME challenges.
    AcmeSolver,
    /// It reaches no backend: it only redirects.
    NoBackend(String),
    /// Nothing authenticates it; why.
    Open(String),
    /// It would be guarded only by something nobody could look up; what.
    Undetermined(String),
}

impl Guard {
    /// Whether the router is served without a declared identity.
    pub fn is_open(&self) -> bool {
        matches!(self, Guard::Open(_))
    }
}

/// One router with its resolved middlewares and guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRouter {
    /// The router as the object defines it (its targets moved into `middlewares`).
    pub router: Router,
    /// Each middleware it runs, in order, with what it resolved to.
    pub middlewares: Vec<(Target, Resolution)>,
    /// What guards it.
    pub guard: Guard,
}

/// The plan of one route object that Traefik serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    /// The route object.
    pub object: ObjectRef,
    /// Its namespace.
    pub namespace: String,
    /// Its owner, proven or not.
    pub owner: Owner,
    /// Its routers, in the object's order.
    pub routers: Vec<PlannedRouter>,
}

impl RoutePlan {
    /// Every distinct reference of the object with its resolution, in first-use order.
    pub fn references(&self) -> impl Iterator<Item = (&str, &Target, &Resolution)> {
        let mut seen = std::collections::HashSet::new();
        self.routers.iter().flat_map(move |r| {
            r.middlewares
                .iter()
                .filter(|(t, _)| seen.insert(t))
                .map(|(t, res)| (r.router.path.as_str(), t, res))
                .collect::<Vec<_>>()
        })
    }
}

/// Plan `object` (in `namespace`, written by `writer`); `None` when Traefik does not serve it.
pub fn plan(
    object: &Object,
    namespace: &str,
    writer: Writer<'_>,
    policy: &Policy,
    lookup: &dyn Lookup,
) -> Option<RoutePlan> {
    if !object.kind().is_route() || !traefik::serves(object, namespace, policy, lookup) {
        return None;
    }
    let ns = object.meta().namespace_or(namespace).to_string();
    let owner = Owner::of(object.meta(), &ns, writer, policy, lookup);
    let pending_key = match writer {
        // Only at admission may a trusted controller's route run ahead of its Middleware.
        Writer::Requester(_) => owner
            .pending_middleware()
            .map(|name| naming::crd_key(&ns, name)),
        Writer::Admitted => None,
    };
    let acme_solver = match writer {
        Writer::Requester(r) => policy.acme_solvers.contains(&r.username),
        Writer::Admitted => object
            .meta()
            .label("acme.cert-manager.io/http01-solver")
            .is_some(),
    } && matches!(object, Object::Ingress(_) | Object::HttpRoute(_));

    // One resolution per distinct reference: the cost stays linear in the references.
    // A router's own references are distinct already; only several routers share any.
    let routers = object.routers(&ns);
    let shared = routers.len() > 1;
    let mut resolved: HashMap<Target, Resolution> = HashMap::new();
    let routers = routers
        .into_iter()
        .map(|mut router| {
            let middlewares: Vec<(Target, Resolution)> = std::mem::take(&mut router.targets)
                .into_iter()
                .map(|t| {
                    let r = if shared {
                        resolved
                            .entry(t.clone())
                            .or_insert_with(|| auth::resolve(&t, &ns, policy, lookup))
                            .clone()
                    } else {
                        auth::resolve(&t, &ns, policy, lookup)
                    };
                    (t, r)
                })
                .collect();
            let guard = guard(
                &router,
                &middlewares,
                &owner,
                pending_key.as_deref(),
                acme_solver,
                &ns,
                lookup,
            );
            PlannedRouter {
                router,
                middlewares,
                guard,
            }
        })
        .collect();
    Some(RoutePlan {
        object: object.object_ref(&ns),
        namespace: ns,
        owner,
        routers,
    })
}

fn guard(
    router: &Router,
    middlewares: &[(Target, Resolution)],
    owner: &Owner,
    pending_key: Option<&str>,
    acme_solver: bool,
    namespace: &str,
    lookup: &dyn Lookup,
) -> Guard {
    if !router.http {
        return Guard::Open(
            "it is a TCP route: Traefik passes its bytes through, so no HTTP middleware can authenticate it"
                .to_string(),
        );
    }
    if let Some((t, _)) = middlewares.iter().find(|(_, r)| r.guards()) {
        return Guard::Auth(t.display_name());
    }
    if acme_solver
        && router.paths.iter().all(|p| {
            p.as_deref()
                .is_some_and(|p| p.starts_with(ACME_CHALLENGE_PREFIX))
        })
    {
        return Guard::AcmeSolver;
    }
    if !router.forwards {
        return Guard::NoBackend("it only redirects (RequestRedirect, no backendRefs)".to_string());
    }
    if let Some((first, _)) = middlewares.first()
        && !router.tls
        && redirects_to_https(first, namespace, lookup)
    {
        return Guard::NoBackend(format!(
            "its first middleware, {}, redirects every plain-HTTP request to https",
            first.display_name()
        ));
    }
    if let Owner::Identity { public: true, .. } = owner {
        return Guard::Public;
    }
    if let Some(key) = pending_key
        && let Some((t, _)) = middlewares
            .iter()
            .find(|(t, r)| *r == Resolution::Missing && t.key().as_deref() == Some(key))
    {
        return Guard::PendingIdentity(t.display_name());
    }
    if let Some((t, _)) = middlewares.iter().find(|(_, r)| *r == Resolution::Unknown) {
        return Guard::Undetermined(format!("whether {} authenticates", t.describe()));
    }
    if let Owner::Unknown { app } = owner {
        return Guard::Undetermined(format!(
            "Application {namespace}/{app} that owns this route"
        ));
    }
    let owner_note = match owner {
        Owner::NoIdentity { app, component } => format!(
            "its owner, component \"{component}\" of app \"{app}\", declares no identity rule"
        ),
        Owner::Unproven { why, .. } => why.clone(),
        _ => "no OAM app with an identity rule owns it".to_string(),
    };
    let middleware_note = if middlewares.is_empty() {
        "it attaches no middleware".to_string()
    } else if middlewares.iter().any(|(_, r)| *r == Resolution::Untrusted) {
        "none of its middlewares authenticates (references to other providers count only when listed in the policy's trustedMiddlewares)".to_string()
    } else {
        "none of its middlewares authenticates".to_string()
    };
    Guard::Open(format!("{middleware_note}, and {owner_note}"))
}

/// Whether `target` is a Middleware that redirects plain HTTP to https and does nothing else.
fn redirects_to_https(target: &Target, namespace: &str, lookup: &dyn Lookup) -> bool {
    let Some(key) = target.key() else {
        return false;
    };
    let Answer::Found(found) = lookup.middlewares_by_key(&key) else {
        return false;
    };
    let [mw] = found.as_slice() else {
        return false;
    };
    mw.metadata
        .namespace
        .as_deref()
        .is_none_or(|ns| ns == namespace)
        && mw.spec.len() == 1
        && mw
            .spec
            .get("redirectScheme")
            .and_then(|r| r.get("scheme"))
            .and_then(serde_json::Value::as_str)
            == Some("https")
}

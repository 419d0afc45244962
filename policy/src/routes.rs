//! Effective routes: what Traefik will really serve for each route object, who may reach
//! it, and why. The domain of `kubectl oam-traefik routes`, `identities` and `explain`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::application::Application;
use crate::auth::Resolution;
use crate::config::Policy;
use crate::evaluate::{Operation, Requester, Review, Violation, evaluate};
use crate::identity::IdentityRule;
use crate::lookup::{Answer, Lookup};
use crate::meta::{Meta, ObjectRef};
use crate::object::Object;
use crate::owner::{APP_NAME_LABEL, APP_NAMESPACE_LABEL, COMPONENT_LABEL, Owner, Writer};
use crate::plan::{self, Guard};

/// Whether a route is guarded, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// An auth middleware runs before the backend.
    Protected,
    /// Traefik serves it to anyone, and nobody declared that on purpose.
    Unprotected,
    /// A middleware it depends on is missing, in another namespace, or does not authenticate.
    Broken,
    /// Its namespace is exempt, or it carries the break-glass annotation.
    Exempt,
    /// Its owner's identity rule is `public`, on purpose.
    Public,
}

impl Status {
    /// The status as the table prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Protected => "protected",
            Status::Unprotected => "unprotected",
            Status::Broken => "broken",
            Status::Exempt => "exempt",
            Status::Public => "public",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a middleware reference of a route resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MiddlewareState {
    /// It exists and authenticates.
    Auth,
    /// It exists and does not authenticate.
    NotAuth,
    /// No such Middleware.
    Missing,
    /// It points into another namespace, which Traefik does not allow by default.
    OtherNamespace,
    /// Several Middlewares share its Traefik key.
    Ambiguous,
    /// Another provider's middleware that the policy does not trust.
    Untrusted,
    /// Traefik can never resolve it.
    Unresolvable,
    /// Nobody can say (no lookup, or outside the files checked).
    Unknown,
}

impl MiddlewareState {
    /// The state as a human reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            MiddlewareState::Auth => "authenticates",
            MiddlewareState::NotAuth => "does not authenticate",
            MiddlewareState::Missing => "missing",
            MiddlewareState::OtherNamespace => "other namespace",
            MiddlewareState::Ambiguous => "ambiguous key",
            MiddlewareState::Untrusted => "untrusted provider",
            MiddlewareState::Unresolvable => "unresolvable",
            MiddlewareState::Unknown => "unknown",
        }
    }
}

impl From<&Resolution> for MiddlewareState {
    fn from(r: &Resolution) -> Self {
        match r {
            Resolution::Auth => MiddlewareState::Auth,
            Resolution::NotAuth => MiddlewareState::NotAuth,
            Resolution::Missing => MiddlewareState::Missing,
            Resolution::OtherNamespace => MiddlewareState::OtherNamespace,
            Resolution::Ambiguous { .. } => MiddlewareState::Ambiguous,
            Resolution::Untrusted => MiddlewareState::Untrusted,
            Resolution::Unresolvable => MiddlewareState::Unresolvable,
            Resolution::Unknown => MiddlewareState::Unknown,
        }
    }
}

/// One middleware a route attaches, in Traefik's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachedMiddleware {
    /// `namespace/name` for a Middleware object, else the reference as written.
    pub name: String,
    /// What it resolved to.
    pub state: MiddlewareState,
}

/// Who may reach a route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `oidc`, `jwt`, `basic`, `forward-auth`, `public`, or the auth middleware kind
    /// (`forwardAuth`) when no identity rule is declared.
    pub provider: String,
    /// Token issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// Required scopes.
    pub scopes: Vec<String>,
    /// Required groups.
    pub groups: Vec<String>,
}

impl Identity {
    /// The identity an identity rule declares.
    pub fn from_rule(rule: &IdentityRule) -> Identity {
        Identity {
            provider: rule
                .provider
                .map_or("unspecified", |p| p.as_str())
                .to_string(),
            issuer: rule.issuer.clone().filter(|i| !i.is_empty()),
            audiences: rule.audiences.clone(),
            scopes: rule.scopes.clone(),
            groups: rule.groups.clone(),
        }
    }

    /// One line for a table: `oidc https://idp aud=a scopes=s groups=g`.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.provider.clone()];
        parts.extend(self.issuer.clone());
        for (label, items) in [
            ("aud", &self.audiences),
            ("scopes", &self.scopes),
            ("groups", &self.groups),
        ] {
            if !items.is_empty() {
                parts.push(format!("{label}={}", items.join(",")));
            }
        }
        parts.join(" ")
    }
}

/// Who can reach a route in the end.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Reach {
    /// Callers with this identity.
    Identity {
        /// The identity.
        #[serde(flatten)]
        identity: Identity,
    },
    /// Everyone: the route is public or unprotected.
    Anyone,
    /// Nobody: Traefik refuses to serve a router whose middleware is missing.
    Nobody,
}

impl Reach {
    /// One line for a table.
    pub fn summary(&self) -> String {
        match self {
            Reach::Identity { identity } => identity.summary(),
            Reach::Anyone => "anyone".to_string(),
            Reach::Nobody => "nobody (router not served)".to_string(),
        }
    }
}

/// HTTP or HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http`, default port 80.
    Http,
    /// `https`, default port 443.
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A URL as `vela status --endpoint` prints it: the default port of the scheme left out,
/// the root path `/` left out, `*` for a route that matches every host.
pub fn url(scheme: Scheme, host: Option<&str>, port: Option<u16>, path: Option<&str>) -> String {
    let host = host.filter(|h| !h.is_empty()).unwrap_or("*");
    let port = match port {
        Some(p) if p != scheme.default_port() => format!(":{p}"),
        _ => String::new(),
    };
    let path = match path.filter(|p| !p.is_empty() && *p != "/") {
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("/{p}"),
        None => String::new(),
    };
    format!("{}://{host}{port}{path}", scheme.as_str())
}

/// One route that Traefik serves: a host and path of a route object, with its guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveRoute {
    /// The route object's namespace.
    pub namespace: String,
    /// The owning Application, when KubeVela's labels name one that exists.
    pub app: Option<String>,
    /// The owning component.
    pub component: Option<String>,
    /// The route object.
    pub object: ObjectRef,
    /// Where Traefik serves it.
    pub url: String,
    /// `service:port`, comma-separated when several.
    pub backend: String,
    /// The middlewares, in Traefik's order.
    pub middlewares: Vec<AttachedMiddleware>,
    /// The owner's identity rule, or the auth middleware's kind when none is declared.
    pub identity: Option<Identity>,
    /// Whether and how it is guarded.
    pub status: Status,
    /// Why it has that status, for a human.
    pub reason: String,
    /// Who can reach it.
    pub reach: Reach,
}

/// A host and path of a route object, with its backend and the router that serves it.
struct Leg {
    url: String,
    backend: String,
    /// Index into the plan's routers.
    router: usize,
}

/// The app that owns a route, read once from its labels.
struct Ownership {
    app: Option<String>,
    component: Option<String>,
    owner: Owner,
    rule: Option<IdentityRule>,
    note: Option<String>,
}

fn ownership(meta: &Meta, namespace: &str, owner: Owner, lookup: &dyn Lookup) -> Ownership {
    let label = |k| meta.label(k).filter(|v| !v.is_empty()).map(str::to_string);
    let (Some(app), component) = (label(APP_NAME_LABEL), label(COMPONENT_LABEL)) else {
        return Ownership {
            app: None,
            component: None,
            owner,
            rule: None,
            note: None,
        };
    };
    let app_ns = meta.label(APP_NAMESPACE_LABEL).unwrap_or(namespace);
    match lookup.application(app_ns, &app) {
        Answer::Missing => Ownership {
            app: None,
            component: None,
            owner,
            rule: None,
            note: Some(format!(
                "its labels name Application {app_ns}/{app}, which does not exist"
            )),
        },
        answer => {
            let rule = answer.found().and_then(|a| {
                let (index, _) = a.component(component.as_deref().unwrap_or_default())?;
                a.identity_of(index).map(|(_, r)| r.clone())
            });
            Ownership {
                app: Some(app),
                component,
                owner,
                rule,
                note: None,
            }
        }
    }
}

/// Every route Traefik serves for `object` in `namespace`; empty when Traefik does not serve it.
pub fn effective_routes(
    object: &Object,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
) -> Vec<EffectiveRoute> {
    let Some(plan) = plan::plan(object, namespace, Writer::Admitted, policy, lookup) else {
        return Vec::new();
    };
    let ns = plan.namespace.clone();
    let own = ownership(object.meta(), &ns, plan.owner.clone(), lookup);
    let exempt = exemption(object.meta(), &ns, policy);
    legs(object)
        .into_iter()
        .filter_map(|leg| {
            let planned = plan.routers.get(leg.router)?;
            let middlewares: Vec<AttachedMiddleware> = planned
                .middlewares
                .iter()
                .map(|(t, r)| AttachedMiddleware {
                    name: resolved_name(t, lookup),
                    state: MiddlewareState::from(r),
                })
                .collect();
            let (status, mut reason) =
                classify(exempt.as_deref(), &own.owner, &planned.guard, &middlewares);
            if let Some(note) = &own.note {
                reason = format!("{reason}; {note}");
            }
            let identity = match (&own.rule, status) {
                (Some(rule), _) => Some(Identity::from_rule(rule)),
                (None, Status::Protected) => middleware_identity(&middlewares, lookup),
                _ => None,
            };
            let reach = reach(status, &middlewares, identity.as_ref());
            Some(EffectiveRoute {
                namespace: ns.clone(),
                app: own.app.clone(),
                component: own.component.clone(),
                object: plan.object.clone(),
                url: leg.url,
                backend: leg.backend,
                middlewares,
                identity,
                status,
                reason,
                reach,
            })
        })
        .collect()
}

/// `namespace/name` of the one Middleware a reference resolves to, else the reference as written.
fn resolved_name(target: &crate::middleware::Target, lookup: &dyn Lookup) -> String {
    if let crate::middleware::Target::Key(key) = target
        && let Answer::Found(found) = lookup.middlewares_by_key(key)
        && let [one] = found.as_slice()
    {
        return format!(
            "{}/{}",
            one.metadata.namespace.as_deref().unwrap_or_default(),
            one.metadata.name
        );
    }
    target.display_name()
}

/// Why the rules do not apply to this route, if they do not.
fn exemption(meta: &Meta, namespace: &str, policy: &Policy) -> Option<String> {
    if policy.is_exempt(namespace) {
        return Some(format!("namespace {namespace} is exempt"));
    }
    meta.annotation(&policy.break_glass.annotation)
        .map(|reason| format!("break-glass: {reason}"))
}

/// The status of a route, and why, from its router's guard in the plan.
pub fn classify(
    exempt: Option<&str>,
    owner: &Owner,
    guard: &Guard,
    middlewares: &[AttachedMiddleware],
) -> (Status, String) {
    if let Some(why) = exempt {
        return (Status::Exempt, why.to_string());
    }
    if let Owner::Identity { public: true, .. } = owner {
        return (
            Status::Public,
            "its owner's identity rule is public".to_string(),
        );
    }
    let first = |state: MiddlewareState| middlewares.iter().find(|m| m.state == state);
    for (state, what) in [
        (MiddlewareState::Missing, "does not exist"),
        (
            MiddlewareState::Unresolvable,
            "can never be resolved by Traefik",
        ),
        (MiddlewareState::OtherNamespace, "is in another namespace"),
        (
            MiddlewareState::Ambiguous,
            "shares its Traefik key with another Middleware",
        ),
    ] {
        if let Some(m) = first(state) {
            return (Status::Broken, format!("middleware {} {what}", m.name));
        }
    }
    if let Owner::Identity { middleware, .. } = owner
        && let Some(m) = middlewares.iter().find(|m| {
            m.state == MiddlewareState::NotAuth && m.name.rsplit('/').next() == Some(middleware)
        })
        && !matches!(guard, Guard::Auth(_))
    {
        return (
            Status::Broken,
            format!("identity Middleware {} does not authenticate", m.name),
        );
    }
    match guard {
        Guard::Auth(_) => {
            let name = middlewares
                .iter()
                .find(|m| m.state == MiddlewareState::Auth)
                .map_or("a middleware", |m| m.name.as_str());
            (Status::Protected, format!("{name} authenticates"))
        }
        Guard::Public => (
            Status::Public,
            "its owner's identity rule is public".to_string(),
        ),
        Guard::AcmeSolver => (
            Status::Exempt,
            "cert-manager's ACME HTTP-01 solver".to_string(),
        ),
        Guard::NoBackend(why) => (Status::Exempt, format!("serves no backend: {why}")),
        Guard::PendingIdentity(name) => (
            Status::Broken,
            format!("identity Middleware {name} does not exist yet"),
        ),
        Guard::Undetermined(what) => (Status::Unprotected, format!("nobody can tell {what}")),
        Guard::Open(why) => (Status::Unprotected, why.clone()),
    }
}

fn reach(status: Status, middlewares: &[AttachedMiddleware], identity: Option<&Identity>) -> Reach {
    let refused = middlewares
        .iter()
        .any(|m| matches!(m.state, MiddlewareState::Missing));
    match (status, identity) {
        (Status::Broken, _) if refused => Reach::Nobody,
        (Status::Protected, Some(identity)) => Reach::Identity {
            identity: identity.clone(),
        },
        _ => Reach::Anyone,
    }
}

/// For a route guarded by a Middleware and no identity rule: the middleware's auth kind.
fn middleware_identity(
    middlewares: &[AttachedMiddleware],
    lookup: &dyn Lookup,
) -> Option<Identity> {
    let m = middlewares
        .iter()
        .find(|m| m.state == MiddlewareState::Auth)?;
    let provider = match m.name.split_once('/') {
        Some((ns, name)) => match lookup.middleware(ns, name) {
            Answer::Found(mw) => mw.kinds().collect::<Vec<_>>().join("+"),
            _ => "middleware".to_string(),
        },
        None => "middleware".to_string(),
    };
    Some(Identity {
        provider: format!("{provider} {}", m.name),
        issuer: None,
        audiences: Vec::new(),
        scopes: Vec::new(),
        groups: Vec::new(),
    })
}

/// The hosts and paths of a route object, with backends and the middlewares each one runs.
fn legs(object: &Object) -> Vec<Leg> {
    match object {
        Object::Ingress(ingress) => {
            let tls = &ingress.spec.tls;
            let https = |host: Option<&str>| {
                tls.iter().any(|t| {
                    t.hosts.is_empty()
                        || host.is_some_and(|h| t.hosts.iter().any(|p| host_matches(p, h)))
                })
            };
            let mut out = Vec::new();
            for rule in &ingress.spec.rules {
                let host = rule.host.as_deref();
                let scheme = if https(host) {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                for p in rule.http.iter().flat_map(|h| &h.paths) {
                    out.push(Leg {
                        url: url(scheme, host, None, p.path.as_deref()),
                        backend: ingress_backend(&p.backend),
                        router: 0,
                    });
                }
            }
            if let Some(backend) = &ingress.spec.default_backend {
                let scheme = if https(None) {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                out.push(Leg {
                    url: url(scheme, None, None, None),
                    backend: ingress_backend(backend),
                    router: 0,
                });
            }
            out
        }
        Object::IngressRoute(r) => {
            let scheme = if r.spec.tls.as_ref().is_some_and(|t| !t.is_null()) {
                Scheme::Https
            } else {
                Scheme::Http
            };
            let mut out = Vec::new();
            for (index, route) in r.spec.routes.iter().enumerate() {
                let backend = route_backend(route);
                let paths = matcher_args(&route.match_, &["PathPrefix", "Path"]);
                let mut hosts: Vec<Option<String>> = matcher_args(&route.match_, &["Host"])
                    .into_iter()
                    .map(Some)
                    .collect();
                if hosts.is_empty() {
                    hosts.push(None);
                }
                for host in hosts {
                    out.push(Leg {
                        url: url(
                            scheme,
                            host.as_deref(),
                            None,
                            paths.first().map(String::as_str),
                        ),
                        backend: backend.clone(),
                        router: index,
                    });
                }
            }
            out
        }
        Object::IngressRouteTcp(r) => r
            .spec
            .routes
            .iter()
            .enumerate()
            .flat_map(|(index, route)| {
                let backend = route_backend(route);
                let mut hosts = matcher_args(&route.match_, &["HostSNI"]);
                if hosts.is_empty() {
                    hosts.push("*".to_string());
                }
                hosts.into_iter().map(move |h| Leg {
                    url: format!("tcp://{h}"),
                    backend: backend.clone(),
                    router: index,
                })
            })
            .collect(),
        Object::TcpRoute(h) | Object::TlsRoute(h) => {
            let host = h.spec.hostnames.first().map_or("*", String::as_str);
            (0..h.spec.rules.as_ref().map_or(0, Vec::len).max(1))
                .map(|index| Leg {
                    url: format!("tcp://{host}"),
                    backend: h
                        .spec
                        .rules
                        .iter()
                        .flatten()
                        .nth(index)
                        .map(|r| {
                            r.backend_refs
                                .iter()
                                .map(|b| b.name.clone())
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default(),
                    router: index,
                })
                .collect()
        }
        Object::HttpRoute(h) | Object::GrpcRoute(h) => {
            let mut hosts: Vec<Option<&str>> =
                h.spec.hostnames.iter().map(|s| Some(s.as_str())).collect();
            if hosts.is_empty() {
                hosts.push(None);
            }
            let mut out = Vec::new();
            if h.spec.rules.is_none() {
                // The API server defaults one rule that matches everything.
                for host in &hosts {
                    out.push(Leg {
                        url: url(Scheme::Http, *host, None, None),
                        backend: String::new(),
                        router: 0,
                    });
                }
            }
            for (index, rule) in h.spec.rules.iter().flatten().enumerate() {
                let backend = rule
                    .backend_refs
                    .iter()
                    .map(|b| match b.port {
                        Some(p) => format!("{}:{p}", b.name),
                        None => b.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                let mut paths: Vec<Option<String>> = rule
                    .matches
                    .iter()
                    .map(|m| {
                        m.pointer("/path/value")
                            .and_then(|v| v.as_str())
                            .map(str::to_string)
                    })
                    .collect();
                if paths.is_empty() {
                    paths.push(None);
                }
                for host in &hosts {
                    for path in &paths {
                        out.push(Leg {
                            url: url(Scheme::Http, *host, None, path.as_deref()),
                            backend: backend.clone(),
                            router: index,
                        });
                    }
                }
            }
            out
        }
        Object::Application(_) | Object::Middleware(_) => Vec::new(),
    }
}

fn ingress_backend(backend: &crate::ingress::IngressBackend) -> String {
    match &backend.service {
        Some(s) => match &s.port {
            Some(p) => format!("{}:{}", s.name, p.display()),
            None => s.name.clone(),
        },
        None => "-".to_string(),
    }
}

/// `service:port` of an IngressRoute(TCP) route's services, comma-separated.
fn route_backend(route: &crate::ingress_route::Route) -> String {
    route
        .services
        .iter()
        .map(|s| match &s.port {
            Some(p) => format!("{}:{}", s.name, value_text(p)),
            None => s.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a TLS host pattern (`*.example.com` or exact) covers `host`.
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// The quoted arguments of the named matchers in a Traefik rule, in order:
/// ``Host(`a.io`) && PathPrefix(`/x`)`` gives `["a.io"]` for `Host`.
pub fn matcher_args(rule: &str, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = rule.as_bytes();
    let mut i = 0;
    while i < rule.len() {
        let at_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric());
        let name = names
            .iter()
            .find(|n| at_word && rule[i..].starts_with(&format!("{n}(")));
        let Some(name) = name else {
            i += rule[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        };
        i += name.len() + 1;
        // Collect quoted strings up to the closing parenthesis.
        let mut quote: Option<char> = None;
        let mut current = String::new();
        for c in rule[i..].chars() {
            i += c.len_utf8();
            match (quote, c) {
                (None, ')') => break,
                (None, '`' | '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => {
                    out.push(std::mem::take(&mut current));
                    quote = None;
                }
                (Some(_), c) => current.push(c),
                (None, _) => {}
            }
        }
    }
    out
}

/// Routes grouped by who can reach them: the answer of `identities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityRoutes {
    /// Who.
    pub reach: Reach,
    /// The routes it opens.
    pub routes: Vec<EffectiveRoute>,
}

/// Group routes by who can reach them, identities first, then anyone, then nobody.
pub fn by_identity(routes: &[EffectiveRoute]) -> Vec<IdentityRoutes> {
    let mut groups: BTreeMap<Reach, Vec<EffectiveRoute>> = BTreeMap::new();
    for r in routes {
        groups.entry(r.reach.clone()).or_default().push(r.clone());
    }
    groups
        .into_iter()
        .map(|(reach, routes)| IdentityRoutes { reach, routes })
        .collect()
}

/// A route object that a component owns, with what it serves and the rules' verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteChain {
    /// The route object.
    pub object: ObjectRef,
    /// What Traefik serves for it.
    pub routes: Vec<EffectiveRoute>,
    /// The rules that fire on it.
    pub findings: Vec<Violation>,
    /// The middleware references the webhook would inject.
    pub would_inject: Vec<String>,
}

/// One component: its route traits, its identity rule and where it comes from, its routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentChain {
    /// The component's name.
    pub name: String,
    /// The traits that expose routes (`gateway domain=orders.example.com`).
    pub route_traits: Vec<String>,
    /// The identity rule in force.
    pub identity: Option<Identity>,
    /// Where the rule is written (a JSON pointer into the Application).
    pub identity_source: Option<String>,
    /// The Middleware that enforces it, `namespace/name`.
    pub identity_middleware: Option<String>,
    /// The route objects KubeVela rendered for it.
    pub routes: Vec<RouteChain>,
}

/// The chain app → trait → route object → middlewares → identity, with every verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The Application.
    pub app: ObjectRef,
    /// The rules that fire on the Application itself.
    pub findings: Vec<Violation>,
    /// Its components (one, when asked about `APP/COMPONENT`).
    pub components: Vec<ComponentChain>,
}

/// Explain `app` (or one `component` of it), given the route objects of its namespace.
pub fn explain(
    app: &Application,
    namespace: &str,
    component: Option<&str>,
    route_objects: &[Object],
    policy: &Policy,
    lookup: &dyn Lookup,
) -> Explanation {
    let ns = app.metadata.namespace_or(namespace).to_string();
    let name = app.metadata.name.as_str();
    let requester = Requester::default();
    // The routes of a component are what its controller wrote: judge them as its writes.
    let controller = Requester {
        username: policy
            .trusted_controllers
            .first()
            .cloned()
            .unwrap_or_default(),
        groups: Vec::new(),
    };
    let app_object = Object::Application(app.clone());
    let verdict = evaluate(
        &Review {
            operation: Operation::Create,
            namespace: &ns,
            object: Some(&app_object),
            old_object: None,
            requester: &requester,
        },
        policy,
        lookup,
    );
    let mut components = Vec::new();
    for (index, c) in app.spec.components.iter().enumerate() {
        if component.is_some_and(|wanted| wanted != c.name) {
            continue;
        }
        let route_traits = c
            .route_traits(&policy.route_traits)
            .map(
                |(_, t)| match t.property("domain").and_then(|d| d.as_str()) {
                    Some(domain) => format!("{} domain={domain}", t.type_),
                    None => t.type_.clone(),
                },
            )
            .collect();
        let rule = app.identity_of(index);
        let routes = route_objects
            .iter()
            .filter(|o| {
                let meta = o.meta();
                meta.namespace_or(&ns) == ns
                    && meta.label(APP_NAME_LABEL) == Some(name)
                    && meta.label(COMPONENT_LABEL) == Some(c.name.as_str())
            })
            .map(|o| {
                let v = evaluate(
                    &Review {
                        operation: Operation::Create,
                        namespace: &ns,
                        object: Some(o),
                        old_object: None,
                        requester: &controller,
                    },
                    policy,
                    lookup,
                );
                RouteChain {
                    object: o.object_ref(&ns),
                    routes: effective_routes(o, &ns, policy, lookup),
                    findings: v.violations.into_iter().chain(v.warnings).collect(),
                    would_inject: v.injected,
                }
            })
            .collect();
        components.push(ComponentChain {
            name: c.name.clone(),
            route_traits,
            identity: rule.map(|(_, r)| Identity::from_rule(r)),
            identity_source: rule.map(|(source, _)| source.pointer(index)),
            identity_middleware: rule
                .map(|(_, r)| format!("{ns}/{}", r.middleware_name(name, &c.name))),
            routes,
        });
    }
    let findings = verdict
        .violations
        .into_iter()
        .chain(verdict.warnings)
        .filter(|v| match component {
            None => true,
            Some(c) => v.subject.component().is_none_or(|name| name == c),
        })
        .collect();
    Explanation {
        app: app_object.object_ref(&ns),
        findings,
        components,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Index;
    use serde_json::json;

    fn obj(v: serde_json::Value) -> Object {
        Object::from_value(&v).expect("parses").expect("known kind")
    }

    fn index(objects: &[serde_json::Value]) -> Index {
        let mut ix = Index::new(true);
        for v in objects {
            ix.insert_value(v, "shop").expect("parses");
        }
        ix
    }

    fn forward_auth(name: &str) -> serde_json::Value {
        json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
               "metadata": {"name": name, "namespace": "shop"},
               "spec": {"forwardAuth": {"address": "http://auth"}}})
    }

    #[test]
    fn url_leaves_default_ports_out() {
        assert_eq!(
            url(Scheme::Http, Some("a.io"), Some(80), Some("/x")),
            "http://a.io/x"
        );
        assert_eq!(
            url(Scheme::Https, Some("a.io"), Some(443), None),
            "https://a.io"
        );
        assert_eq!(
            url(Scheme::Https, Some("a.io"), Some(8443), Some("/")),
            "https://a.io:8443"
        );
        assert_eq!(
            url(Scheme::Http, Some("a.io"), Some(443), Some("api")),
            "http://a.io:443/api"
        );
        assert_eq!(url(Scheme::Http, None, None, None), "http://*");
    }

    #[test]
    fn matcher_args_reads_host_and_path() {
        let rule = "Host(`a.io`) && PathPrefix(`/api`) || Host(\"b.io\")";
        assert_eq!(matcher_args(rule, &["Host"]), vec!["a.io", "b.io"]);
        assert_eq!(matcher_args(rule, &["PathPrefix", "Path"]), vec!["/api"]);
        assert!(matcher_args("HostRegexp(`.*`)", &["Host"]).is_empty());
    }

    #[test]
    fn ingress_scheme_comes_from_tls() {
        let ing = obj(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop", "annotations": {
                "traefik.ingress.kubernetes.io/router.middlewares": "shop-sso@kubernetescrd"}},
            "spec": {"ingressClassName": "traefik",
                "tls": [{"hosts": ["*.example.com"], "secretName": "cert"}],
                "rules": [
                    {"host": "orders.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "orders", "port": {"number": 8080}}}}]}},
                    {"host": "plain.io", "http": {"paths": [{"path": "/api", "pathType": "Prefix",
                        "backend": {"service": {"name": "api", "port": {"name": "http"}}}}]}}]}}),
        );
        let ix = index(&[forward_auth("sso")]);
        let routes = effective_routes(&ing, "shop", &Policy::default(), &ix);
        let urls: Vec<_> = routes.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(urls, ["https://orders.example.com", "http://plain.io/api"]);
        assert_eq!(routes[0].backend, "orders:8080");
        assert_eq!(routes[1].backend, "api:http");
        assert_eq!(routes[0].status, Status::Protected);
        assert_eq!(routes[0].middlewares[0].name, "shop/sso");
        assert_eq!(
            routes[0].identity.as_ref().map(|i| i.provider.as_str()),
            Some("forwardAuth shop/sso")
        );
    }

    #[test]
    fn ingress_route_rows_per_route_with_own_middlewares() {
        let ir = obj(
            json!({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"tls": {"secretName": "c"}, "routes": [
                {"match": "Host(`a.io`) && PathPrefix(`/admin`)", "middlewares": [{"name": "sso"}],
                 "services": [{"name": "admin", "port": 80}]},
                {"match": "Host(`a.io`)", "services": [{"name": "web", "port": "http"}]}]}}),
        );
        let ix = index(&[forward_auth("sso")]);
        let routes = effective_routes(&ir, "shop", &Policy::default(), &ix);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].url, "https://a.io/admin");
        assert_eq!(routes[0].status, Status::Protected);
        assert_eq!(routes[1].url, "https://a.io");
        assert_eq!(routes[1].backend, "web:http");
        assert_eq!(routes[1].status, Status::Unprotected);
        assert_eq!(routes[1].reach, Reach::Anyone);
    }

    #[test]
    fn missing_middleware_is_broken_and_reaches_nobody() {
        let ir = obj(
            json!({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"routes": [{"match": "Host(`a.io`)", "middlewares": [{"name": "gone"}],
                 "services": [{"name": "web", "port": 80}]}]}}),
        );
        let routes = effective_routes(&ir, "shop", &Policy::default(), &index(&[]));
        assert_eq!(routes[0].status, Status::Broken);
        assert_eq!(routes[0].reach, Reach::Nobody);
        assert!(
            routes[0].reason.contains("shop/gone"),
            "{}",
            routes[0].reason
        );
    }

    fn app(identity: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "orders", "namespace": "shop"},
            "spec": {"components": [{"name": "api", "type": "webservice", "traits": [
                {"type": "gateway", "properties": {"domain": "orders.io", "http": {"/": 8080}}},
                {"type": "identity", "properties": identity}]}]}})
    }

    fn rendered(middlewares: &str) -> Object {
        obj(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "api", "namespace": "shop",
                "labels": {"app.oam.dev/name": "orders", "app.oam.dev/component": "api"},
                "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": middlewares}},
            "spec": {"ingressClassName": "traefik", "rules": [{"host": "orders.io", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "api", "port": {"number": 8080}}}}]}}]}}),
        )
    }

    #[test]
    fn owned_route_carries_the_rule_and_its_status() {
        let rule = json!({"version": "v1", "provider": "oidc", "issuer": "https://idp",
            "audiences": ["orders"], "scopes": ["orders:read"], "groups": ["team"]});
        let generated = forward_auth("orders-api-identity");
        let ix = index(&[app(rule.clone()), generated]);
        let route = rendered("shop-orders-api-identity@kubernetescrd");
        let r = &effective_routes(&route, "shop", &Policy::default(), &ix)[0];
        assert_eq!(r.app.as_deref(), Some("orders"));
        assert_eq!(r.component.as_deref(), Some("api"));
        assert_eq!(r.status, Status::Protected);
        let id = r.identity.as_ref().expect("identity");
        assert_eq!(
            id.summary(),
            "oidc https://idp aud=orders scopes=orders:read groups=team"
        );

        // Not attached: Traefik serves it to anyone.
        let ix = index(&[app(rule.clone())]);
        let r = &effective_routes(&rendered(""), "shop", &Policy::default(), &ix)[0];
        assert_eq!(r.status, Status::Unprotected);

        // Attached but a headers middleware: broken.
        let headers = json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
            "metadata": {"name": "orders-api-identity", "namespace": "shop"},
            "spec": {"headers": {}}});
        let ix = index(&[app(rule), headers]);
        let route = rendered("shop-orders-api-identity@kubernetescrd");
        let r = &effective_routes(&route, "shop", &Policy::default(), &ix)[0];
        assert_eq!(r.status, Status::Broken);
        assert_eq!(r.reach, Reach::Anyone);
    }

    #[test]
    fn public_exempt_and_orphaned() {
        let ix = index(&[app(
            json!({"version": "v1", "provider": "public", "reason": "docs"}),
        )]);
        let r = &effective_routes(&rendered(""), "shop", &Policy::default(), &ix)[0];
        assert_eq!(r.status, Status::Public);

        let policy = Policy::default().with_exempt_namespace("shop");
        let r = &effective_routes(&rendered(""), "shop", &policy, &ix)[0];
        assert_eq!(r.status, Status::Exempt);

        // Labels that name an app that does not exist: no owner.
        let r = &effective_routes(&rendered(""), "shop", &Policy::default(), &index(&[]))[0];
        assert_eq!(r.app, None);
        assert_eq!(r.status, Status::Unprotected);
        assert!(r.reason.contains("does not exist"), "{}", r.reason);
    }

    #[test]
    fn ingress_of_another_class_is_not_served() {
        let ing = obj(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "a.io", "http": {"paths": [
                {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
        );
        assert!(effective_routes(&ing, "shop", &Policy::default(), &index(&[])).is_empty());
    }

    #[test]
    fn identities_group_routes_by_reach() {
        let ir = obj(
            json!({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"routes": [
                {"match": "Host(`a.io`) && Path(`/p`)", "middlewares": [{"name": "sso"}], "services": [{"name": "w"}]},
                {"match": "Host(`a.io`) && Path(`/q`)", "middlewares": [{"name": "sso"}], "services": [{"name": "w"}]},
                {"match": "Host(`a.io`)", "services": [{"name": "w"}]}]}}),
        );
        let ix = index(&[forward_auth("sso")]);
        let groups = by_identity(&effective_routes(&ir, "shop", &Policy::default(), &ix));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].routes.len(), 2);
        assert_eq!(groups[1].reach, Reach::Anyone);
    }

    #[test]
    fn explain_links_component_route_and_verdicts() {
        let application =
            app(json!({"provider": "oidc", "issuer": "http://idp", "audiences": ["o"]}));
        let ix = index(std::slice::from_ref(&application));
        let Object::Application(a) = obj(application) else {
            unreachable!("an Application")
        };
        let e = explain(
            &a,
            "shop",
            Some("api"),
            &[rendered("")],
            &Policy::default(),
            &ix,
        );
        let ids: Vec<_> = e.findings.iter().map(|v| v.rule).collect();
        assert!(ids.contains(&crate::RuleId::OT002), "{ids:?}");
        assert!(ids.contains(&crate::RuleId::OT010), "{ids:?}");
        let c = &e.components[0];
        assert_eq!(c.route_traits, ["gateway domain=orders.io"]);
        assert_eq!(
            c.identity_source.as_deref(),
            Some("/spec/components/0/traits/1")
        );
        assert_eq!(
            c.identity_middleware.as_deref(),
            Some("shop/orders-api-identity")
        );
        assert_eq!(c.routes.len(), 1);
        assert_eq!(
            c.routes[0].would_inject,
            ["shop-orders-api-identity@kubernetescrd"]
        );
    }
}

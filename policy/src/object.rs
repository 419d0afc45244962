//! The objects the rules read, parsed once from JSON into typed views.

use serde_json::Value;

use crate::application::Application;
use crate::error::{ParseError, from_json_str, from_value};
use crate::http_route::HttpRoute;
use crate::ingress::Ingress;
use crate::ingress::MIDDLEWARES_ANNOTATION;
use crate::ingress_route::IngressRoute;
use crate::meta::{Meta, ObjectRef};
use crate::middleware::{Middleware, Target, dedup_targets};

/// The kinds oam-traefik reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `core.oam.dev` Application.
    Application,
    /// `networking.k8s.io` Ingress.
    Ingress,
    /// `traefik.io` IngressRoute.
    IngressRoute,
    /// `gateway.networking.k8s.io` HTTPRoute.
    HttpRoute,
    /// `traefik.io` Middleware.
    Middleware,
    /// `traefik.io` IngressRouteTCP: bytes passed through, no HTTP middleware can run.
    IngressRouteTcp,
    /// `gateway.networking.k8s.io` GRPCRoute.
    GrpcRoute,
    /// `gateway.networking.k8s.io` TCPRoute.
    TcpRoute,
    /// `gateway.networking.k8s.io` TLSRoute.
    TlsRoute,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 9] = [
        Kind::Application,
        Kind::Ingress,
        Kind::IngressRoute,
        Kind::HttpRoute,
        Kind::Middleware,
        Kind::IngressRouteTcp,
        Kind::GrpcRoute,
        Kind::TcpRoute,
        Kind::TlsRoute,
    ];

    /// The kind of an object of this API group and kind, if oam-traefik reads it.
    /// Traefik v2's `traefik.containo.us` group reads as `traefik.io`: a cluster that still
    /// serves it exposes routes through it.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Kind> {
        match (group, kind) {
            ("core.oam.dev", "Application") => Some(Kind::Application),
            ("networking.k8s.io", "Ingress") => Some(Kind::Ingress),
            ("traefik.io" | "traefik.containo.us", "IngressRoute") => Some(Kind::IngressRoute),
            ("traefik.io" | "traefik.containo.us", "Middleware") => Some(Kind::Middleware),
            ("traefik.io" | "traefik.containo.us", "IngressRouteTCP") => {
                Some(Kind::IngressRouteTcp)
            }
            ("gateway.networking.k8s.io", "HTTPRoute") => Some(Kind::HttpRoute),
            ("gateway.networking.k8s.io", "GRPCRoute") => Some(Kind::GrpcRoute),
            ("gateway.networking.k8s.io", "TCPRoute") => Some(Kind::TcpRoute),
            ("gateway.networking.k8s.io", "TLSRoute") => Some(Kind::TlsRoute),
            _ => None,
        }
    }

    /// The kind of an object with this `apiVersion` and `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Option<Kind> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Kind::from_group_kind(group, kind)
    }

    /// The kind as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Application => "Application",
            Kind::Ingress => "Ingress",
            Kind::IngressRoute => "IngressRoute",
            Kind::HttpRoute => "HTTPRoute",
            Kind::Middleware => "Middleware",
            Kind::IngressRouteTcp => "IngressRouteTCP",
            Kind::GrpcRoute => "GRPCRoute",
            Kind::TcpRoute => "TCPRoute",
            Kind::TlsRoute => "TLSRoute",
        }
    }

    /// The API group.
    pub fn group(self) -> &'static str {
        match self {
            Kind::Application => "core.oam.dev",
            Kind::Ingress => "networking.k8s.io",
            Kind::IngressRoute | Kind::Middleware | Kind::IngressRouteTcp => "traefik.io",
            Kind::HttpRoute | Kind::GrpcRoute | Kind::TcpRoute | Kind::TlsRoute => {
                "gateway.networking.k8s.io"
            }
        }
    }

    /// Whether objects of this kind are routes that Traefik serves.
    pub fn is_route(self) -> bool {
        !matches!(self, Kind::Application | Kind::Middleware)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object, as its typed view.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// An Application.
    Application(Application),
    /// An Ingress.
    Ingress(Ingress),
    /// An IngressRoute.
    IngressRoute(IngressRoute),
    /// An HTTPRoute.
    HttpRoute(HttpRoute),
    /// A Middleware.
    Middleware(Middleware),
    /// An IngressRouteTCP (the IngressRoute view: the same routes, matches and services).
    IngressRouteTcp(IngressRoute),
    /// A GRPCRoute (the HTTPRoute view: parents, hostnames, rules with filters).
    GrpcRoute(HttpRoute),
    /// A TCPRoute (the HTTPRoute view: parents and rules).
    TcpRoute(HttpRoute),
    /// A TLSRoute (the HTTPRoute view: parents, hostnames and rules).
    TlsRoute(HttpRoute),
}

impl Object {
    /// Parse `value` as an object of `kind`; a field of the wrong type names its path.
    pub fn parse(kind: Kind, value: &Value) -> Result<Object, ParseError> {
        if !value.is_object() {
            return Err(ParseError::new(".", "expected a JSON object"));
        }
        Ok(match kind {
            Kind::Application => Object::Application(Application::from_value(value)?),
            Kind::Ingress => Object::Ingress(from_value(value)?),
            Kind::IngressRoute => Object::IngressRoute(from_value(value)?),
            Kind::HttpRoute => Object::HttpRoute(from_value(value)?),
            Kind::Middleware => Object::Middleware(from_value(value)?),
            Kind::IngressRouteTcp => Object::IngressRouteTcp(from_value(value)?),
            Kind::GrpcRoute => Object::GrpcRoute(from_value(value)?),
            Kind::TcpRoute => Object::TcpRoute(from_value(value)?),
            Kind::TlsRoute => Object::TlsRoute(from_value(value)?),
        })
    }

    /// Parse JSON text as an object of `kind`, without building a JSON value first (the
    /// webhook's hot path); errors as [`Object::parse`].
    pub fn parse_json_str(kind: Kind, json: &str) -> Result<Object, ParseError> {
        if !json.trim_start().starts_with('{') {
            return Err(ParseError::new(".", "expected a JSON object"));
        }
        Ok(match kind {
            Kind::Application => Object::Application(Application::from_json_str(json)?),
            Kind::Ingress => Object::Ingress(from_json_str(json)?),
            Kind::IngressRoute => Object::IngressRoute(from_json_str(json)?),
            Kind::HttpRoute => Object::HttpRoute(from_json_str(json)?),
            Kind::Middleware => Object::Middleware(from_json_str(json)?),
            Kind::IngressRouteTcp => Object::IngressRouteTcp(from_json_str(json)?),
            Kind::GrpcRoute => Object::GrpcRoute(from_json_str(json)?),
            Kind::TcpRoute => Object::TcpRoute(from_json_str(json)?),
            Kind::TlsRoute => Object::TlsRoute(from_json_str(json)?),
        })
    }

    /// Parse a document by its own `apiVersion` and `kind`; `Ok(None)` for a kind oam-traefik does not read.
    pub fn from_value(value: &Value) -> Result<Option<Object>, ParseError> {
        let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or("");
        match Kind::from_api_version(field("apiVersion"), field("kind")) {
            Some(kind) => Object::parse(kind, value).map(Some),
            None => Ok(None),
        }
    }

    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Application(_) => Kind::Application,
            Object::Ingress(_) => Kind::Ingress,
            Object::IngressRoute(_) => Kind::IngressRoute,
            Object::HttpRoute(_) => Kind::HttpRoute,
            Object::Middleware(_) => Kind::Middleware,
            Object::IngressRouteTcp(_) => Kind::IngressRouteTcp,
            Object::GrpcRoute(_) => Kind::GrpcRoute,
            Object::TcpRoute(_) => Kind::TcpRoute,
            Object::TlsRoute(_) => Kind::TlsRoute,
        }
    }

    /// The object's metadata.
    pub fn meta(&self) -> &Meta {
        match self {
            Object::Application(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::IngressRoute(o) => &o.metadata,
            Object::HttpRoute(o) => &o.metadata,
            Object::Middleware(o) => &o.metadata,
            Object::IngressRouteTcp(o) => &o.metadata,
            Object::GrpcRoute(o) | Object::TcpRoute(o) | Object::TlsRoute(o) => &o.metadata,
        }
    }

    /// A reference to this object, its namespace defaulting to `namespace`.
    pub fn object_ref(&self, namespace: &str) -> ObjectRef {
        ObjectRef {
            kind: self.kind().as_str().to_string(),
            namespace: self.meta().namespace_or(namespace).to_string(),
            name: self.meta().display_name(),
        }
    }

    /// The routers Traefik builds from a route object, each with the JSON pointer of its
    /// definition and the Middlewares it runs: one for an Ingress (the annotation applies to
    /// all its paths), one per IngressRoute route, one per Gateway API rule. Empty for other kinds.
    pub fn routers(&self, namespace: &str) -> Vec<Router> {
        let ns = self.meta().namespace_or(namespace);
        match self {
            Object::Ingress(i) => {
                let mut paths: Vec<Option<String>> = i
                    .spec
                    .rules
                    .iter()
                    .flat_map(|r| {
                        let paths = r
                            .http
                            .as_ref()
                            .map(|h| h.paths.as_slice())
                            .unwrap_or_default();
                        // A rule without paths serves its whole host.
                        if paths.is_empty() {
                            vec![None]
                        } else {
                            paths.iter().map(|p| p.path.clone()).collect()
                        }
                    })
                    .collect();
                if i.spec.default_backend.is_some() {
                    paths.push(None);
                }
                vec![Router {
                    path: crate::patch::pointer(&[
                        "metadata",
                        "annotations",
                        MIDDLEWARES_ANNOTATION,
                    ])
                    .to_string(),
                    targets: dedup_targets(
                        i.middleware_entries()
                            .into_iter()
                            .map(Target::from_annotation_entry),
                    ),
                    http: true,
                    tls: false,
                    paths,
                    forwards: true,
                }]
            }
            Object::IngressRoute(r) => {
                let tls = r.spec.tls.as_ref().is_some_and(|t| !t.is_null());
                r.spec
                    .routes
                    .iter()
                    .enumerate()
                    .map(|(i, route)| Router {
                        path: format!("/spec/routes/{i}"),
                        targets: route.targets(ns),
                        http: true,
                        tls,
                        paths: vec![None],
                        forwards: true,
                    })
                    .collect()
            }
            Object::IngressRouteTcp(r) => (0..r.spec.routes.len().max(1))
                .map(|i| Router {
                    path: format!("/spec/routes/{i}"),
                    targets: Vec::new(),
                    http: false,
                    tls: false,
                    paths: vec![None],
                    forwards: true,
                })
                .collect(),
            Object::HttpRoute(h) | Object::GrpcRoute(h) => {
                match &h.spec.rules {
                    // Without rules, the API server defaults one rule that matches everything.
                    None => vec![Router {
                        path: "/spec/rules".to_string(),
                        targets: Vec::new(),
                        http: true,
                        tls: false,
                        paths: vec![None],
                        forwards: true,
                    }],
                    Some(rules) => rules
                        .iter()
                        .enumerate()
                        .map(|(i, rule)| Router {
                            path: format!("/spec/rules/{i}"),
                            targets: rule.targets(ns),
                            http: true,
                            tls: false,
                            paths: rule.paths(),
                            forwards: rule.forwards(),
                        })
                        .collect(),
                }
            }
            Object::TcpRoute(h) | Object::TlsRoute(h) => {
                (0..h.spec.rules.as_ref().map_or(0, Vec::len).max(1))
                    .map(|i| Router {
                        path: format!("/spec/rules/{i}"),
                        targets: Vec::new(),
                        http: false,
                        tls: false,
                        paths: vec![None],
                        forwards: true,
                    })
                    .collect()
            }
            Object::Application(_) | Object::Middleware(_) => Vec::new(),
        }
    }

    /// Every Middleware a route object attaches, resolved, each once; empty for other kinds.
    pub fn middleware_targets(&self, namespace: &str) -> Vec<Target> {
        dedup_targets(self.routers(namespace).into_iter().flat_map(|r| r.targets))
    }
}

/// One router of a route object: where it is defined, the Middlewares it runs, and what
/// it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// JSON pointer of its definition in the object.
    pub path: String,
    /// The Middlewares it runs, in Traefik's order.
    pub targets: Vec<Target>,
    /// Whether HTTP middlewares run on it: TCP and TLS routes pass bytes through, so
    /// nothing can authenticate them.
    pub http: bool,
    /// Whether it is served only over TLS.
    pub tls: bool,
    /// The request paths it matches, `None` for any path.
    pub paths: Vec<Option<String>>,
    /// Whether it forwards to a backend at all (a Gateway API rule that only redirects does not).
    pub forwards: bool,
}

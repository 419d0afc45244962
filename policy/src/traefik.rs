//! Whether Traefik serves a route object at all.

use crate::classes::{TRAEFIK_GATEWAY_CONTROLLER, TRAEFIK_INGRESS_CONTROLLER};
use crate::config::Policy;
use crate::lookup::{Answer, Lookup};
use crate::object::Object;

/// Whether Traefik serves `object` (in `namespace`). IngressRoutes always; an Ingress of a
/// Traefik class or of no class (Traefik's provider takes class-less Ingresses); an HTTPRoute
/// (or any Gateway API route) attached to a Gateway of a Traefik class, or to a Gateway nobody
/// can look up (fail closed); an IngressRouteTCP always.
pub fn serves(object: &Object, namespace: &str, policy: &Policy, lookup: &dyn Lookup) -> bool {
    match object {
        Object::IngressRoute(_) | Object::IngressRouteTcp(_) => true,
        Object::Ingress(ingress) => match ingress.class() {
            None => true,
            Some(class) => is_traefik_ingress_class(class, policy, lookup),
        },
        Object::HttpRoute(route)
        | Object::GrpcRoute(route)
        | Object::TcpRoute(route)
        | Object::TlsRoute(route) => {
            let ns = route.metadata.namespace_or(namespace);
            route
                .spec
                .parent_refs
                .iter()
                .filter(|p| p.is_gateway())
                .any(|p| {
                    let gw_ns = p.namespace.as_deref().unwrap_or(ns);
                    match lookup.gateway_class(gw_ns, &p.name) {
                        Answer::Found(class) => is_traefik_gateway_class(&class, policy, lookup),
                        Answer::Missing => false,
                        Answer::Unknown => true,
                    }
                })
        }
        Object::Application(_) | Object::Middleware(_) => false,
    }
}

/// An ingress class is Traefik's when the policy names it or its controller is Traefik's.
pub fn is_traefik_ingress_class(class: &str, policy: &Policy, lookup: &dyn Lookup) -> bool {
    policy.ingress_classes.iter().any(|c| c == class)
        || lookup.ingress_class_controller(class)
            == Answer::Found(TRAEFIK_INGRESS_CONTROLLER.to_string())
}

/// A gateway class is Traefik's when the policy names it or its controller is Traefik's.
pub fn is_traefik_gateway_class(class: &str, policy: &Policy, lookup: &dyn Lookup) -> bool {
    policy.gateway_classes.iter().any(|c| c == class)
        || lookup.gateway_class_controller(class)
            == Answer::Found(TRAEFIK_GATEWAY_CONTROLLER.to_string())
}

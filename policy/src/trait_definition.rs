//! KubeVela `TraitDefinition`s, read for one question: does the trait render a route that
//! Traefik serves? A trait is known by what it renders, not by its name, so that a
//! platform's own `my-ingress` counts like the built-in `gateway`.

use serde::Deserialize;
use serde_json::Value;

use crate::meta::Meta;
use crate::object::Kind;

/// A KubeVela `TraitDefinition` (`core.oam.dev/v1beta1`), as far as the rules read it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TraitDefinition {
    /// `metadata`; the name is the trait type.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`, as written.
    #[serde(default)]
    pub spec: Value,
}

impl TraitDefinition {
    /// Whether the trait renders a route kind: its CUE template writes `kind: "<route kind>"`,
    /// or its `definitionRef` names a route resource.
    pub fn renders_route(&self) -> bool {
        let template = self
            .spec
            .pointer("/schematic/cue/template")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let reference = self
            .spec
            .pointer("/definitionRef/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        template_renders_route(template) || definition_ref_is_route(reference)
    }
}

/// Whether a CUE template sets `kind` to a route kind anywhere (`kind: "Ingress"`).
pub fn template_renders_route(template: &str) -> bool {
    let mut rest = template;
    while let Some(at) = rest.find("kind") {
        let before = rest[..at].chars().next_back();
        let after = rest[at + 4..].trim_start();
        rest = &rest[at + 4..];
        // `kind` as a whole field name, then `:` and a quoted value.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(value) = after.strip_prefix(':').map(str::trim_start) else {
            continue;
        };
        let Some(value) = value.strip_prefix('"') else {
            continue;
        };
        let name = value.split('"').next().unwrap_or_default();
        if ROUTE_KINDS.contains(&name) {
            return true;
        }
    }
    false
}

/// The kinds through which Traefik serves routes, as a template spells them.
const ROUTE_KINDS: [&str; 7] = [
    "Ingress",
    "IngressRoute",
    "IngressRouteTCP",
    "HTTPRoute",
    "GRPCRoute",
    "TCPRoute",
    "TLSRoute",
];

/// Whether a `definitionRef` (`<plural>.<group>`) names a route resource.
fn definition_ref_is_route(reference: &str) -> bool {
    let plural = reference.split('.').next().unwrap_or_default();
    let group = reference.split_once('.').map_or("", |(_, g)| g);
    let kind = match plural {
        "ingresses" => "Ingress",
        "ingressroutes" => "IngressRoute",
        "ingressroutetcps" => "IngressRouteTCP",
        "httproutes" => "HTTPRoute",
        "grpcroutes" => "GRPCRoute",
        "tcproutes" => "TCPRoute",
        "tlsroutes" => "TLSRoute",
        _ => return false,
    };
    Kind::from_group_kind(group, kind).is_some_and(Kind::is_route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_that_outputs_a_route_kind_renders_a_route() {
        let ingress = r#"outputs: ingress: {apiVersion: "networking.k8s.io/v1", kind:   "Ingress", spec: {}}"#;
        assert!(template_renders_route(ingress));
        assert!(template_renders_route(
            "outputs: r: {\n  kind: \"HTTPRoute\"\n}"
        ));
        // A Service, a field that only ends in `kind`, or the word in a comment's prose.
        assert!(!template_renders_route(
            r#"outputs: svc: {kind: "Service"}"#
        ));
        assert!(!template_renders_route(r#"x: {subkind: "Ingress"}"#));
        assert!(!template_renders_route(
            "// this kind of trait renders nothing"
        ));
    }

    #[test]
    fn a_definition_ref_to_a_route_resource_renders_a_route() {
        assert!(definition_ref_is_route("ingresses.networking.k8s.io"));
        assert!(definition_ref_is_route("ingressroutes.traefik.io"));
        assert!(definition_ref_is_route(
            "httproutes.gateway.networking.k8s.io"
        ));
        assert!(!definition_ref_is_route("services"));
        assert!(!definition_ref_is_route("ingresses.example.com"));
    }
}

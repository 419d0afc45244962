//! `Ingress` (`networking.k8s.io/v1`) as Traefik's Kubernetes Ingress provider reads it.

use serde::Deserialize;

use crate::meta::{Meta, null_as_default};

/// Annotation through which Traefik attaches Middlewares to an Ingress's routers.
pub const MIDDLEWARES_ANNOTATION: &str = "traefik.ingress.kubernetes.io/router.middlewares";
/// The legacy annotation that names an Ingress's class.
pub const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// An Ingress.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Ingress {
    /// `metadata`.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`.
    #[serde(default)]
    pub spec: IngressSpec,
}

/// `spec` of an Ingress.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// `spec.ingressClassName`.
    #[serde(default)]
    pub ingress_class_name: Option<String>,
    /// `spec.defaultBackend`.
    #[serde(default)]
    pub default_backend: Option<IngressBackend>,
    /// `spec.rules`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<IngressRule>,
    /// `spec.tls`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tls: Vec<IngressTls>,
}

/// One host rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IngressRule {
    /// `host`; absent matches every host.
    #[serde(default)]
    pub host: Option<String>,
    /// `http`.
    #[serde(default)]
    pub http: Option<HttpIngressRule>,
}

/// The HTTP paths of a rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HttpIngressRule {
    /// `paths`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub paths: Vec<HttpIngressPath>,
}

/// One path and its backend.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpIngressPath {
    /// `path`.
    #[serde(default)]
    pub path: Option<String>,
    /// `pathType`.
    #[serde(default)]
    pub path_type: Option<String>,
    /// `backend`.
    #[serde(default)]
    pub backend: IngressBackend,
}

/// A backend: a Service and port.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IngressBackend {
    /// `service`.
    #[serde(default)]
    pub service: Option<ServiceBackend>,
}

/// `backend.service`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServiceBackend {
    /// Service name.
    #[serde(default)]
    pub name: String,
    /// Service port.
    #[serde(default)]
    pub port: Option<ServicePort>,
}

/// A Service port by number or by name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServicePort {
    /// `number`.
    #[serde(default)]
    pub number: Option<i64>,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
}

/// A TLS entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressTls {
    /// `hosts`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hosts: Vec<String>,
    /// `secretName`.
    #[serde(default)]
    pub secret_name: Option<String>,
}

impl Ingress {
    /// The class: `spec.ingressClassName`, else the legacy annotation.
    pub fn class(&self) -> Option<&str> {
        self.spec
            .ingress_class_name
            .as_deref()
            .or_else(|| self.metadata.annotation(CLASS_ANNOTATION))
            .filter(|c| !c.is_empty())
    }

    /// The entries of the `router.middlewares` annotation, in Traefik's order.
    pub fn middleware_entries(&self) -> Vec<&str> {
        self.metadata
            .annotation(MIDDLEWARES_ANNOTATION)
            .map(split_middleware_list)
            .unwrap_or_default()
    }
}

/// Split a comma list of middleware references, dropping blanks.
pub fn split_middleware_list(list: &str) -> Vec<&str> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

impl ServicePort {
    /// The port as written: its number, else its name.
    pub fn display(&self) -> String {
        match (&self.number, &self.name) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) => name.clone(),
            _ => "?".to_string(),
        }
    }
}

//! Which ingress classes and gateways belong to Traefik.

use serde::Deserialize;

use crate::meta::Meta;

/// The controller name of Traefik's Ingress provider in `IngressClass.spec.controller`.
pub const TRAEFIK_INGRESS_CONTROLLER: &str = "traefik.io/ingress-controller";
/// The controller name of Traefik's Gateway provider in `GatewayClass.spec.controllerName`.
pub const TRAEFIK_GATEWAY_CONTROLLER: &str = "traefik.io/gateway-controller";
/// Annotation that marks an IngressClass as the cluster's default.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// An `IngressClass` (`networking.k8s.io/v1`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IngressClass {
    /// `metadata`.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`.
    #[serde(default)]
    pub spec: IngressClassSpec,
}

/// `spec` of an IngressClass.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IngressClassSpec {
    /// `spec.controller`.
    #[serde(default)]
    pub controller: String,
}

/// A Gateway API `Gateway`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Gateway {
    /// `metadata`.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`.
    #[serde(default)]
    pub spec: GatewaySpec,
}

/// `spec` of a Gateway.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// `spec.gatewayClassName`.
    #[serde(default)]
    pub gateway_class_name: String,
}

/// A Gateway API `GatewayClass`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct GatewayClass {
    /// `metadata`.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`.
    #[serde(default)]
    pub spec: GatewayClassSpec,
}

/// `spec` of a GatewayClass.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayClassSpec {
    /// `spec.controllerName`.
    #[serde(default)]
    pub controller_name: String,
}

impl IngressClass {
    /// Whether this class is marked as the cluster default.
    pub fn is_default(&self) -> bool {
        self.metadata.annotation(DEFAULT_CLASS_ANNOTATION) == Some("true")
    }
}

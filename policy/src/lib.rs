//! The domain of oam-traefik: typed views of the objects, identity rules, the rule
//! set, effective routes and mutations. Pure: no I/O, no async, no Kubernetes client.
//!
//! Both the admission webhook and the kubectl plugin call [`evaluate`]; a rule lives
//! here once and both programs get it.

pub mod application;
pub mod auth;
pub mod classes;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod forward_auth;
pub mod http_route;
pub mod identity;
pub mod index;
pub mod ingress;
pub mod ingress_route;
pub mod lookup;
pub mod meta;
pub mod middleware;
pub mod naming;
pub mod object;
pub mod owner;
pub mod patch;
pub mod plan;
pub mod routes;
pub mod rules;
pub mod traefik;
pub mod trait_definition;

pub use application::{AppPolicy, Application, Component, Trait};
pub use config::{Level, Policy, PolicyError};
pub use error::ParseError;
pub use evaluate::{
    Exemption, Operation, Requester, Review, Subject, Verdict, Violation, evaluate,
};
pub use http_route::HttpRoute;
pub use identity::{IdentityRule, Provider};
pub use index::Index;
pub use ingress::Ingress;
pub use ingress_route::IngressRoute;
pub use lookup::{Answer, Lookup, NoLookup};
pub use meta::{Meta, ObjectRef};
pub use middleware::{Middleware, MiddlewareRef};
pub use object::{Kind, Object};
pub use rules::{CATALOGUE, RuleId, RuleInfo};

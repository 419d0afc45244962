//! The oam-traefik admission webhook: HTTPS AdmissionReview endpoints over the
//! `oam-traefik-policy` rules, with TLS and policy reload, watch caches, metrics and a
//! decision log.

pub mod admission;
pub mod cache;
pub mod cache_status;
pub mod certs;
pub mod cli;
pub mod config;
pub mod handlers;
pub mod log;
pub mod metrics;
pub mod policy_diff;
pub mod policy_store;
pub mod relist;
pub mod run;
pub mod self_signed;
pub mod self_test;
pub mod server;
pub mod tls;
pub mod watch;

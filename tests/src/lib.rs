//! End-to-end fixture: a real control plane on loopback.
//!
//! [`ControlPlane::shared`] starts etcd and kube-apiserver (built by `harness/build.sh`)
//! once per test binary and installs the upstream CRDs; each test works in its own
//! namespace through the real `kubectl`. [`Webhook`] runs the real `oam-traefik-webhook`
//! and registers the chart's webhook configurations for it. Every process started here
//! is stopped when its owner is dropped, when the test binary exits, or when the test
//! binary is killed. See `tests/harness/README.md`.

pub mod admission;
pub mod apiserver;
pub mod backend;
pub mod binaries;
pub mod certs;
pub mod control_plane;
pub mod crds;
pub mod endpoints;
pub mod etcd;
pub mod harness;
pub mod hydra;
pub mod kubeconfig;
pub mod kubectl;
pub mod kubevela;
pub mod ports;
pub mod process;
pub mod tools;
pub mod traefik;
pub mod verifier;
pub mod webhook;

pub use control_plane::ControlPlane;
pub use kubectl::{Kubectl, Output};
pub use webhook::Webhook;

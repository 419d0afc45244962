//! The kubeconfig that kubectl and the webhook use to reach the control plane.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::control_plane::ControlPlane;

/// Writes a kubeconfig for `server` with the admin client certificate to `path`.
///
/// JSON is valid YAML, and building it with `json!` keeps paths with odd characters
/// from breaking the file.
pub fn write(path: &Path, server: &str, ca: &Path, cert: &Path, key: &Path) -> Result<()> {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": "e2e",
            "cluster": {"server": server, "certificate-authority": ca},
        }],
        "users": [{
            "name": "admin",
            "user": {"client-certificate": cert, "client-key": key},
        }],
        "contexts": [{
            "name": "e2e",
            "context": {"cluster": "e2e", "user": "admin"},
        }],
        "current-context": "e2e",
    });
    std::fs::write(path, serde_json::to_vec_pretty(&config)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// A kubeconfig that authenticates as `namespace/account` with a TokenRequest token, as a
/// pod of that ServiceAccount would.
pub fn service_account(
    cp: &ControlPlane,
    namespace: &str,
    account: &str,
    dir: &Path,
) -> Result<PathBuf> {
    let token = cp
        .kubectl()
        .run(&["create", "token", account, "-n", namespace, "--duration=2h"])?
        .ok()?
        .stdout;
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cp", "cluster": {
            "server": cp.url(),
            "certificate-authority": cp.ca_file().display().to_string(),
        }}],
        "users": [{"name": account, "user": {"token": token.trim()}}],
        "contexts": [{"name": account, "context": {"cluster": "cp", "user": account, "namespace": namespace}}],
        "current-context": account,
    });
    let path = dir.join(format!("{account}.kubeconfig"));
    std::fs::write(&path, serde_json::to_vec(&config)?)?;
    Ok(path)
}

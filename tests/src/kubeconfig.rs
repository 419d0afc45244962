//! The kubeconfig that kubectl and the webhook use to reach the control plane.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

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

/// Writes a kubeconfig for `server` that authenticates as `user` with bearer `token`, in
/// `namespace` by default.
pub fn write_token(
    path: &Path,
    server: &str,
    ca: &Path,
    user: &str,
    token: &str,
    namespace: &str,
) -> Result<()> {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{
            "name": user,
            "context": {"cluster": "e2e", "user": user, "namespace": namespace},
        }],
        "current-context": user,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&config)?)
        .with_context(|| format!("writing {}", path.display()))
}

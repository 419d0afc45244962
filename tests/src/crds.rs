//! The CRDs of KubeVela, Traefik and Gateway API, taken from their upstream Go modules.
//!
//! The files are never copied into this repository: `go mod download -json` fetches the
//! pinned module (or finds it in the module cache) and says where it is.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::kubectl::Kubectl;

/// One upstream module and the CRD files this suite takes from it.
#[derive(Clone, Copy, Debug)]
pub struct CrdSource {
    /// Go module path.
    pub module: &'static str,
    /// Pinned version.
    pub version: &'static str,
    /// Files inside the module; a path ending in `/` means every `.yaml` in that folder.
    pub files: &'static [&'static str],
}

/// KubeVela: Applications, and the Trait- and PolicyDefinitions of the chart's `identity`.
pub const KUBEVELA: CrdSource = CrdSource {
    module: "github.com/oam-dev/kubevela",
    version: "v1.10.6",
    files: &[
        "charts/vela-core/crds/core.oam.dev_applications.yaml",
        "charts/vela-core/crds/core.oam.dev_traitdefinitions.yaml",
        "charts/vela-core/crds/core.oam.dev_policydefinitions.yaml",
    ],
};

/// Traefik: IngressRoute, Middleware and the rest of `traefik.io`.
pub const TRAEFIK: CrdSource = CrdSource {
    module: "github.com/traefik/traefik/v3",
    version: "v3.6.12",
    files: &["docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"],
};

/// Gateway API, standard channel: GatewayClass, Gateway, HTTPRoute, ….
pub const GATEWAY_API: CrdSource = CrdSource {
    module: "sigs.k8s.io/gateway-api",
    version: "v1.6.3",
    files: &["config/crd/standard/"],
};

/// Every source the suite installs.
pub const ALL: [CrdSource; 3] = [KUBEVELA, TRAEFIK, GATEWAY_API];

/// The folder of `module@version` in the Go module cache, downloading it if needed.
///
/// Runs in `workdir` (outside any Go module) so that no go.mod or go.sum is touched.
pub fn module_dir(source: &CrdSource, workdir: &Path) -> Result<PathBuf> {
    let spec = format!("{}@{}", source.module, source.version);
    let out = Command::new("go")
        .args(["mod", "download", "-json", &spec])
        .current_dir(workdir)
        .env("GO111MODULE", "on")
        .output()
        .context("running `go mod download` (is Go installed?)")?;
    let info: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("go mod download {spec} printed no JSON"))?;
    if let Some(err) = info.get("Error").and_then(Value::as_str) {
        bail!("go mod download {spec}: {err}");
    }
    if !out.status.success() {
        bail!(
            "go mod download {spec} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    match info.get("Dir").and_then(Value::as_str) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => bail!("go mod download {spec} named no Dir"),
    }
}

/// The CRD files of `source`, located in the module cache.
pub fn files(source: &CrdSource, workdir: &Path) -> Result<Vec<PathBuf>> {
    let root = module_dir(source, workdir)?;
    let mut found = Vec::new();
    for file in source.files {
        let path = root.join(file);
        if file.ends_with('/') {
            let mut in_dir: Vec<PathBuf> = std::fs::read_dir(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .collect();
            in_dir.sort();
            found.extend(in_dir);
        } else if path.is_file() {
            found.push(path);
        } else {
            bail!("{}@{} has no {file}", source.module, source.version);
        }
    }
    Ok(found)
}

/// Applies every CRD of [`ALL`] with kubectl and waits until each is Established.
///
/// Returns the names of the CRDs installed.
pub fn install(kubectl: &Kubectl, workdir: &Path) -> Result<Vec<String>> {
    let mut args: Vec<String> = vec![
        "apply".into(),
        "--server-side".into(),
        "-o".into(),
        "name".into(),
    ];
    for source in &ALL {
        for file in files(source, workdir)? {
            args.push("-f".into());
            args.push(file.display().to_string());
        }
    }
    // Server-side: Traefik's and KubeVela's CRDs are too large for the annotation that
    // client-side apply keeps.
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let applied = kubectl.run(&argv)?.ok()?;
    let crds: Vec<String> = applied
        .stdout
        .lines()
        .filter(|l| l.starts_with("customresourcedefinition"))
        .map(str::to_owned)
        .collect();
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=120s"];
    wait.extend(crds.iter().map(String::as_str));
    kubectl.run(&wait)?.ok()?;
    Ok(crds
        .iter()
        .map(|c| c.rsplit('/').next().unwrap_or(c).to_owned())
        .collect())
}

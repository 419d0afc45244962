//! The Go tools of `tests/tools`: helm and cue (`build.sh`), Traefik and hydra
//! (`build-request-path.sh`), built into `.cache/bin` from the Go module proxy on first
//! use and reused while their pins are unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::harness::repo_root;
use crate::webhook::{RELEASE, WEBHOOK_NAMESPACE};

/// Folder the tools go to: `OAM_TRAEFIK_TOOLS_BIN`, else `<repo>/.cache/bin`.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("OAM_TRAEFIK_TOOLS_BIN")
        .map_or_else(|| repo_root().join(".cache/bin"), PathBuf::from)
}

/// helm, cue and cue-kubevela, built if needed (once per test process).
pub fn chart_tools() -> Result<PathBuf> {
    run_once("build.sh", &[])?;
    Ok(bin_dir())
}

/// The real `traefik` binary.
pub fn traefik() -> Result<PathBuf> {
    run_once("build-request-path.sh", &["traefik"])?;
    Ok(bin_dir().join("traefik"))
}

/// The real `hydra` binary (ory/hydra, with sqlite).
pub fn hydra() -> Result<PathBuf> {
    run_once("build-request-path.sh", &["hydra"])?;
    Ok(bin_dir().join("hydra"))
}

/// Runs `tests/tools/<script> <args>` once per test process; a cold build prints why
/// and how long it took on the test's stderr.
fn run_once(script: &str, args: &[&str]) -> Result<()> {
    static DONE: Mutex<Option<HashMap<String, Result<(), String>>>> = Mutex::new(None);
    let key = format!("{script} {}", args.join(" "));
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    let results = done.get_or_insert_with(HashMap::new);
    let result = results.entry(key).or_insert_with(|| {
        let path = repo_root().join("tests/tools").join(script);
        match Command::new("bash")
            .arg(&path)
            .args(args)
            .env("OAM_TRAEFIK_TOOLS_BIN", bin_dir())
            .status()
        {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("{} failed ({status})", path.display())),
            Err(e) => Err(format!("running {}: {e}", path.display())),
        }
    });
    match result {
        Ok(()) => Ok(()),
        Err(e) => bail!("{e}"),
    }
}

/// `helm template` of the chart (release `RELEASE` in `WEBHOOK_NAMESPACE`) with `values`,
/// only `template` (e.g. `templates/webhooks.yaml`); helm's caches stay in `workdir`.
pub fn helm_template(workdir: &Path, values: &Value, template: &str) -> Result<String> {
    helm_template_chart(
        workdir,
        RELEASE,
        WEBHOOK_NAMESPACE,
        &repo_root().join("charts/oam-traefik"),
        values,
        &["--show-only", template],
    )
}

/// `helm template` of any chart folder as `release` in `namespace`, with `values` (JSON)
/// as a values file and `extra` arguments; helm's caches stay in `workdir`.
pub fn helm_template_chart(
    workdir: &Path,
    release: &str,
    namespace: &str,
    chart: &Path,
    values: &Value,
    extra: &[&str],
) -> Result<String> {
    let bin = chart_tools()?;
    // A values file rather than --set: base64 and URLs have characters --set would parse.
    let file = workdir.join(format!("{release}-values.json"));
    std::fs::write(&file, serde_json::to_vec(values)?)?;
    let out = Command::new(bin.join("helm"))
        .args(["template", release])
        .arg(chart)
        .args(["--namespace", namespace])
        .arg("--values")
        .arg(&file)
        .args(extra)
        // helm keeps caches and config under $HOME otherwise.
        .env("HELM_CACHE_HOME", workdir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", workdir.join("helm/config"))
        .env("HELM_DATA_HOME", workdir.join("helm/data"))
        .output()
        .context("running helm template")?;
    if !out.status.success() {
        bail!(
            "helm template {} failed: {}",
            chart.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

//! What KubeVela renders for a trait, without its controller: the TraitDefinition's CUE
//! template evaluated by the CUE that KubeVela links (`cue-kubevela`, `tests/tools`), with
//! `context` (app, component, namespace, cluster version) and `parameter` (the trait's
//! properties as stored), as KubeVela's controller evaluates it; its `outputs` are the
//! objects KubeVela would write.
//!
//! The templates are the real ones: the `gateway` TraitDefinition from KubeVela's
//! vela-core chart in the pinned module, the `identity` one from this repository's chart
//! (`helm template`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::crds;
use crate::tools;

/// KubeVela's service account, the default trusted controller: writes made as it (`--as`)
/// are what the webhook takes for KubeVela's.
pub const VELA_CORE: &str = "system:serviceaccount:vela-system:kubevela-vela-core";

/// What KubeVela's chart grants its controller: it writes any object an app renders.
pub const VELA_CORE_BINDING: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubevela-vela-core}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
  - {kind: ServiceAccount, name: kubevela-vela-core, namespace: vela-system}
"#;

/// The built-in `gateway` trait's definition in KubeVela's vela-core chart.
const GATEWAY_DEFINITION: &str = "charts/vela-core/templates/defwithtemplate/gateway.yaml";

/// The CUE template of KubeVela's built-in `gateway` trait.
pub fn gateway_template(workdir: &Path) -> Result<String> {
    let module = crds::module_dir(&crds::KUBEVELA, workdir)?;
    let text = std::fs::read_to_string(module.join(GATEWAY_DEFINITION))
        .with_context(|| format!("reading KubeVela's {GATEWAY_DEFINITION}"))?;
    cue_template(&text).context("KubeVela's gateway definition has no CUE template")
}

/// The CUE template of the chart's `identity` trait, rendered with its forwardAuth
/// address set to `auth_address`.
pub fn identity_template(workdir: &Path, auth_address: &str) -> Result<String> {
    let values = json!({"identity": {"authService": {"address": auth_address}}});
    let rendered = tools::helm_template(workdir, &values, "templates/traitdefinition.yaml")?;
    cue_template(&rendered).context("the chart's identity TraitDefinition has no CUE template")
}

/// Evaluates `template` with `context` and `parameter` under KubeVela's CUE and returns
/// its `outputs` (name → object); an evaluation error carries CUE's message.
pub fn render(workdir: &Path, template: &str, context: &Value, parameter: &Value) -> Result<Value> {
    let bin = tools::chart_tools()?;
    let file = workdir.join("trait.cue");
    std::fs::write(
        &file,
        format!("{template}\ncontext: {context}\nparameter: {parameter}\n"),
    )?;
    let out = Command::new(bin.join("cue-kubevela"))
        .args(["export", "--out", "json"])
        .arg(&file)
        .env("CUE_CACHE_DIR", workdir.join("cue-cache"))
        .output()
        .context("running cue-kubevela export")?;
    if !out.status.success() {
        bail!(
            "cue-kubevela export failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let all: Value = serde_json::from_slice(&out.stdout)?;
    Ok(all.get("outputs").cloned().unwrap_or_else(|| json!({})))
}

/// The context KubeVela gives a trait of component `component` of app `app` in
/// `namespace` (the fields these templates read).
pub fn context(app: &str, component: &str, namespace: &str) -> Value {
    json!({
        "appName": app,
        "name": component,
        "namespace": namespace,
        // The harness's kube-apiserver is v1.37: the gateway trait renders
        // networking.k8s.io/v1 from minor 19 on.
        "clusterVersion": {"major": 1, "minor": 37},
    })
}

/// The block scalar under `template: |` in a TraitDefinition's YAML text.
fn cue_template(yaml: &str) -> Option<String> {
    let mut lines = yaml.lines();
    let indent = loop {
        let line = lines.next()?;
        if line.trim() == "template: |" {
            break line.len() - line.trim_start().len();
        }
    };
    let mut body = Vec::new();
    for line in lines {
        let own = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && own <= indent {
            break;
        }
        body.push(line.get(indent + 2..).unwrap_or(""));
    }
    Some(body.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::cue_template;

    #[test]
    fn the_block_under_template_is_taken_whole_and_unindented() {
        let yaml = "spec:\n  schematic:\n    cue:\n      template: |\n        a: 1\n\n          b: 2\n  other: x\n";
        assert_eq!(cue_template(yaml).as_deref(), Some("a: 1\n\n  b: 2"));
        assert_eq!(cue_template("spec: {}\n"), None);
    }
}

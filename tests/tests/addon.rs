//! The KubeVela addon `addons/oam-traefik`, rendered the way `vela addon enable` renders
//! it: its CUE (template, parameter, resources) evaluated with KubeVela's cue v0.9.2 into
//! the addon's Application, which the real API server accepts, and whose chart values the
//! real helm renders with the chart (its values schema refuses unknown keys) into the same
//! `identity` definitions that `helm install` installs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use oam_traefik_e2e::ControlPlane;
use oam_traefik_e2e::harness::repo_root;
use oam_traefik_e2e::tools::helm_template_chart;
use serde_json::{Value, json};

fn addon() -> PathBuf {
    repo_root().join("addons/oam-traefik")
}

/// helm, cue and cue-kubevela, built if needed.
fn tools_bin() -> PathBuf {
    oam_traefik_e2e::tools::chart_tools().expect("tests/tools/build.sh builds helm and cue")
}

/// The addon's Application with `parameters` (CUE, `parameter: {...}`) as `vela addon
/// enable k=v` would set them: every `.cue` file of the addon in one package.
fn render(parameters: &str, dir: &Path) -> Result<Value> {
    let extra = dir.join("enable.cue");
    std::fs::write(&extra, format!("package main\n\n{parameters}\n"))?;
    let mut files = vec![addon().join("template.cue"), addon().join("parameter.cue")];
    let mut resources: Vec<PathBuf> = std::fs::read_dir(addon().join("resources"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cue"))
        .collect();
    resources.sort();
    files.extend(resources);
    files.push(extra);
    let out = Command::new(tools_bin().join("cue-kubevela"))
        .args(["export", "-e", "output", "--out", "json"])
        .args(&files)
        .output()?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn component<'a>(app: &'a Value, name: &str) -> &'a Value {
    app["spec"]["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no component {name} in {app:#}"))
}

#[test]
fn metadata_names_the_addon_and_the_charts_version() -> Result<()> {
    let meta: Value = yaml_file(&addon().join("metadata.yaml"))?;
    let chart: Value = yaml_file(&repo_root().join("charts/oam-traefik/Chart.yaml"))?;
    assert_eq!(meta["name"], "oam-traefik");
    assert_eq!(meta["version"], chart["version"]);
    // The `helm` component type comes from the fluxcd addon.
    assert_eq!(meta["dependencies"], json!([{"name": "fluxcd"}]));
    assert!(meta["system"]["vela"].is_string());
    Ok(())
}

/// A YAML file as JSON, read by the real cue (which reads YAML).
fn yaml_file(path: &Path) -> Result<Value> {
    let out = Command::new(tools_bin().join("cue"))
        .args(["export", "--out", "json"])
        .arg(path)
        .output()
        .context("cue export of a YAML file")?;
    if !out.status.success() {
        bail!(
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn the_addon_installs_the_chart_with_its_definitions_and_the_api_server_accepts_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let app = render(
        r#"parameter: allowedIssuers: ["https://login.example.com/realms/prod"]"#,
        dir.path(),
    )?;
    assert_eq!(app["kind"], "Application");
    let ns = component(&app, "oam-traefik-namespace");
    assert_eq!(
        ns["properties"]["objects"][0]["metadata"]["name"],
        "oam-traefik-system"
    );
    let chart = component(&app, "oam-traefik");
    assert_eq!(chart["type"], "helm");
    assert_eq!(chart["dependsOn"], json!(["oam-traefik-namespace"]));
    let props = &chart["properties"];
    assert_eq!(props["repoType"], "git");
    assert_eq!(props["chart"], "charts/oam-traefik");
    assert_eq!(props["targetNamespace"], "oam-traefik-system");

    // What the addon hands the chart is what the chart accepts, and it renders the
    // identity definitions into vela-system.
    let values = &props["values"];
    let rendered = helm_template_chart(
        dir.path(),
        props["releaseName"].as_str().context("releaseName")?,
        "oam-traefik-system",
        &repo_root().join("charts/oam-traefik"),
        values,
        &[
            "--show-only",
            "templates/traitdefinition.yaml",
            "--show-only",
            "templates/policydefinition.yaml",
            "--show-only",
            "templates/policy-configmap.yaml",
        ],
    )?;
    for kind in ["TraitDefinition", "PolicyDefinition"] {
        assert!(
            rendered.contains(&format!(
                "kind: {kind}\nmetadata:\n  name: identity\n  namespace: vela-system"
            )),
            "{kind} missing:\n{rendered}"
        );
    }
    assert!(
        rendered.contains("https://login.example.com/realms/prod"),
        "the issuer is not in the policy:\n{rendered}"
    );

    // The API server accepts the addon's Application (KubeVela's CRD schema); `vela addon
    // enable` names it `addon-<name>` in vela-system, any namespace checks the same schema.
    let cp = ControlPlane::shared();
    let mut app = app;
    app["metadata"] = json!({"name": "addon-oam-traefik", "namespace": "default"});
    let out = cp
        .kubectl()
        .run_stdin(&["create", "--dry-run=server", "-f", "-"], &app.to_string())?;
    out.ok()?;
    Ok(())
}

#[test]
fn the_addon_takes_a_published_chart_and_refuses_bad_parameters() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let app = render(
        r#"parameter: {repoType: "oci", url: "oci://charts.example.com/oam-traefik", version: "0.1.0", namespace: "guard", replicas: 3}"#,
        dir.path(),
    )?;
    let props = &component(&app, "oam-traefik")["properties"];
    assert_eq!(props["chart"], "oam-traefik");
    assert_eq!(props["version"], "0.1.0");
    assert_eq!(props["targetNamespace"], "guard");
    assert_eq!(props["values"]["replicaCount"], 3);
    assert!(props.get("git").is_none(), "{props:#}");

    for (bad, field) in [
        (
            r#"parameter: allowedIssuers: ["http://login.example.com"]"#,
            "allowedIssuers",
        ),
        (r#"parameter: repoType: "s3""#, "repoType"),
        (r#"parameter: replicas: 0"#, "replicas"),
        (r#"parameter: url: "ftp://example.com""#, "url"),
    ] {
        let err = render(bad, dir.path()).expect_err(bad).to_string();
        assert!(err.contains(field), "{bad}: {err}");
    }
    Ok(())
}

//! `check` through the real binary: the examples a user can apply, exit codes, SARIF.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-oam_traefik");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run the plugin")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the plugin");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for the plugin")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            stdout(out),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Example files under `examples/<dir>`, relative to the workspace root.
fn examples(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples").join(dir))
        .expect("examples dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "json")
            )
        })
        .map(|p| {
            format!(
                "examples/{dir}/{}",
                p.file_name().expect("name").to_string_lossy()
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {dir}");
    files
}

/// The rule ids a bad example declares: `# expect: OT001, OT006` in the file, or in
/// `<file>.expect` beside a JSON file (JSON has no comments).
fn expected(file: &str) -> BTreeSet<String> {
    let path = root().join(file);
    let text = if file.ends_with(".json") {
        std::fs::read_to_string(format!("{}.expect", path.display()))
    } else {
        std::fs::read_to_string(&path)
    }
    .unwrap_or_else(|e| panic!("{file}: {e}"));
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("# expect:"))
        .unwrap_or_else(|| panic!("{file} declares no `# expect:` line"));
    line.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn rule_ids(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule id").to_string())
        .collect()
}

#[test]
fn every_good_example_is_clean() {
    for file in examples("good") {
        let out = run(&["check", "-o", "json", "-f", &file]);
        let report = json(&out);
        assert_eq!(code(&out), 0, "{file}: {report:#}");
        assert!(rule_ids(&report).is_empty(), "{file}: {report:#}");
        assert_eq!(report["unresolved"], Value::Array(vec![]), "{file}");
    }
}

#[test]
fn every_bad_example_fails_with_exactly_its_rules() {
    for file in examples("bad").into_iter().chain(examples("ai-generated")) {
        let out = run(&["check", "-o", "json", "-f", &file]);
        let report = json(&out);
        assert_eq!(code(&out), 1, "{file} must be refused: {report:#}");
        assert_eq!(rule_ids(&report), expected(&file), "{file}: {report:#}");
    }
}

#[test]
fn bad_examples_are_named_for_their_rule() {
    for file in examples("bad") {
        let name = Path::new(&file)
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_uppercase();
        assert!(
            expected(&file)
                .iter()
                .any(|id| name.starts_with(id.as_str())),
            "{file} is not named for a rule it expects"
        );
    }
}

#[test]
fn whole_tree_reports_each_bad_file_and_no_good_one() {
    let out = run(&["check", "-o", "json", "-f", "examples/"]);
    assert_eq!(code(&out), 1);
    let report = json(&out);
    let got: BTreeSet<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["file"].as_str().expect("file").to_string())
        .collect();
    let want: BTreeSet<String> = examples("bad")
        .into_iter()
        .chain(examples("ai-generated"))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn text_output_names_file_line_rule_and_hint() {
    let out = run(&[
        "check",
        "-f",
        "examples/bad/ot001-gateway-without-identity.yaml",
    ]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains("examples/bad/ot001-gateway-without-identity.yaml:4 [doc 0] OT001 deny: Application shop/orders: component \"api\""),
        "{text}"
    );
    assert!(
        text.contains("hint: add a trait `type: identity`"),
        "{text}"
    );
    assert!(text.contains("1 violation"), "{text}");
    assert!(text.contains("note: no auth service is pinned"), "{text}");
    // A policy that pins one says nothing of the kind.
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  trustedAuthServices: [\"http://auth.platform.svc:8080\"]\n",
    )
    .expect("write policy");
    let policy = policy.display().to_string();
    let out = run(&[
        "check",
        "--policy",
        &policy,
        "-f",
        "examples/bad/ot001-gateway-without-identity.yaml",
    ]);
    assert!(
        !stdout(&out).contains("no auth service is pinned"),
        "{}",
        stdout(&out)
    );
}

/// The SARIF 2.1.0 schema, as the `@microsoft/jest-sarif` npm package ships it, fetched
/// once into the ignored `.cache/`.
fn sarif_schema() -> Value {
    let dir = root().join(".cache/sarif-schema");
    let file = dir.join("package/lib/schemas/sarif-2.1.0-rtm.5.json");
    if !file.exists() {
        std::fs::create_dir_all(&dir).expect("cache dir");
        let pack = Command::new("npm")
            .args(["pack", "@microsoft/jest-sarif@1.0.0-beta.0", "--silent"])
            .current_dir(&dir)
            .output()
            .expect("npm must be installed to fetch the SARIF schema");
        assert!(
            pack.status.success(),
            "npm pack: {}",
            String::from_utf8_lossy(&pack.stderr)
        );
        let tgz = String::from_utf8_lossy(&pack.stdout).trim().to_string();
        let untar = Command::new("tar")
            .args(["xzf", &tgz])
            .current_dir(&dir)
            .status()
            .expect("tar");
        assert!(untar.success(), "tar xzf {tgz}");
    }
    let mut schema: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("schema"))
        .expect("schema is JSON");
    // The package's copy has a stray `]` in the `language` patterns, which SARIF's errata 01
    // removed and which a strict regex engine refuses; put the corrected pattern in (the
    // plugin never emits `language`).
    let fixed = fix_pattern(
        &mut schema,
        "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$",
        "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$",
    );
    assert_eq!(fixed, 2, "the known typo, no more and no less");
    schema
}

fn fix_pattern(value: &mut Value, bad: &str, good: &str) -> usize {
    match value {
        Value::Object(map) => {
            let mut n = 0;
            for (key, v) in map.iter_mut() {
                if key == "pattern" && v.as_str() == Some(bad) {
                    *v = Value::from(good);
                    n += 1;
                } else {
                    n += fix_pattern(v, bad, good);
                }
            }
            n
        }
        Value::Array(items) => items.iter_mut().map(|v| fix_pattern(v, bad, good)).sum(),
        _ => 0,
    }
}

#[test]
fn sarif_validates_against_the_schema_and_matches_the_findings() {
    let schema = sarif_schema();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    for args in [
        vec!["check", "-o", "sarif", "-f", "examples/"],
        vec!["check", "-o", "sarif", "-f", "examples/good"],
    ] {
        let out = run(&args);
        let log = json(&out);
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{args:?}: {errors:#?}");
        assert_eq!(log["version"], "2.1.0");
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules");
        assert_eq!(rules.len(), oam_traefik_policy::CATALOGUE.len());
    }
    let sarif = json(&run(&["check", "-o", "sarif", "-f", "examples/"]));
    let report = json(&run(&["check", "-o", "json", "-f", "examples/"]));
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(
        results.len(),
        report["findings"].as_array().expect("findings").len()
    );
    // The validator does refuse a log that breaks the schema.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!validator.is_valid(&broken));
    let first = &results[0];
    assert!(first["ruleId"].as_str().expect("ruleId").starts_with("OT"));
    assert!(
        first["locations"][0]["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .expect("line")
            >= 1
    );
}

#[test]
fn stdin_multi_document_and_json() {
    let yaml =
        std::fs::read_to_string(root().join("examples/good/ingress-middleware-annotation.yaml"))
            .expect("example");
    let out = run_stdin(&["check", "-f", "-"], &yaml);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("2 objects checked in 1 file"),
        "{}",
        stdout(&out)
    );

    let list = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
         "metadata": {"name": "open", "namespace": "shop"},
         "spec": {"routes": [{"match": "Host(`a.example.com`)", "services": [{"name": "a", "port": 80}]}]}}]}"#;
    let out = run_stdin(&["check", "-o", "json", "-f", "-"], list);
    assert_eq!(code(&out), 1);
    assert_eq!(rule_ids(&json(&out)), BTreeSet::from(["OT006".to_string()]));
}

#[test]
fn read_errors_exit_2() {
    let out = run(&["check", "-f", "examples/does-not-exist.yaml"]);
    assert_eq!(code(&out), 2);
    let out = run_stdin(&["check", "-f", "-"], "kind: [unclosed\n");
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("line 1"), "{}", stdout(&out));
    // A field of the wrong type names its path.
    let out = run_stdin(
        &["check", "-f", "-"],
        "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: x}\nspec: {routes: 3}\n",
    );
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("spec.routes"), "{}", stdout(&out));
    // Usage errors too.
    assert_eq!(code(&run(&["check"])), 2);
    assert_eq!(
        code(&run(&["check", "-f", "examples/good", "-o", "xml"])),
        2
    );
}

#[test]
fn unresolved_reference_is_a_warning_unless_strict() {
    // The Middleware lives in the cluster, not in the file.
    let doc = "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: web, namespace: shop}\nspec:\n  routes:\n    - match: Host(`web.example.com`)\n      middlewares: [{name: sso}]\n      services: [{name: web, port: 80}]\n";
    let out = run_stdin(&["check", "-f", "-"], doc);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("warning: cannot resolve whether Middleware shop/sso authenticates"),
        "{}",
        stdout(&out)
    );
    let out = run_stdin(&["check", "--strict", "-f", "-"], doc);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("error: cannot resolve whether Middleware shop/sso authenticates"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn policy_file_sets_levels_for_check_and_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  rules:\n    OT006: warn\n",
    )
    .expect("write policy");
    let p = policy.to_string_lossy().to_string();
    let out = run(&[
        "check",
        "--policy",
        &p,
        "-o",
        "json",
        "-f",
        "examples/bad/ot006-rogue-ingress.yaml",
    ]);
    assert_eq!(code(&out), 0, "a warning does not fail the check");
    let report = json(&out);
    assert_eq!(report["findings"][0]["level"], "warn");
    assert_eq!(report["summary"]["warnings"], 1);

    let rules = json(&run(&["rules", "--policy", &p, "-o", "json"]));
    let ot006 = rules["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["id"] == "OT006")
        .expect("OT006")
        .clone();
    assert_eq!(ot006["level"], "warn");

    std::fs::write(
        &policy,
        "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  maxScopes: many\n",
    )
    .expect("write");
    let out = run(&["check", "--policy", &p, "-f", "examples/good"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.maxScopes"));
}

#[test]
fn rules_table_lists_the_catalogue() {
    let out = run(&["rules"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("LEVEL"),
        "{text}"
    );
    assert_eq!(lines.len(), oam_traefik_policy::CATALOGUE.len() + 1);
    assert!(
        lines[10].starts_with("OT010") && lines[10].contains("warn"),
        "{text}"
    );
    let out = run(&["rules", "--no-headers"]);
    assert!(stdout(&out).starts_with("OT001"));
    assert!(!stdout(&out).contains('\x1b'), "no colour off a terminal");
}

#[test]
fn completion_and_version() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completion", shell]);
        assert_eq!(code(&out), 0, "{shell}");
        assert!(stdout(&out).contains("routes"), "{shell}");
    }
    let out = run(&["version"]);
    assert_eq!(
        stdout(&out),
        format!("kubectl-oam_traefik {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Run under a pseudo-terminal (util-linux `script`), as a user at a shell would.
fn run_on_terminal(args: &str, no_color: bool) -> String {
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("{BIN} {args}"), "/dev/null"]);
    if no_color {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    let out = cmd.output().expect("util-linux script runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    assert!(
        run_on_terminal("rules", false).contains("\x1b["),
        "a terminal gets colour"
    );
    assert!(
        !run_on_terminal("rules", true).contains("\x1b["),
        "NO_COLOR wins"
    );
    assert!(
        !stdout(
            &Command::new(BIN)
                .arg("rules")
                .env_remove("NO_COLOR")
                .output()
                .expect("run")
        )
        .contains("\x1b["),
        "a pipe gets none"
    );
}

//! The Helm chart, proven with the real helm and cue (built by `tools/build.sh`): lint,
//! rendering with each option, server-side dry-run of what it renders against the real
//! control plane, the RBAC it grants as the real authorizer sees it, and the `identity`
//! TraitDefinition's CUE evaluated into a Middleware that Traefik's CRD accepts.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use oam_traefik_e2e::ControlPlane;
use oam_traefik_e2e::certs::Pem;
use oam_traefik_e2e::control_plane::https_client;
use oam_traefik_e2e::ports::free_port;
use oam_traefik_e2e::process::Process;
use serde_json::{Value, json};

/// The auth service every render names (the TraitDefinition needs one).
const AUTH: &str = "http://oauth2-proxy.auth.svc.cluster.local:4180/oauth2/auth";
const RELEASE: &str = "ot";
const FULLNAME: &str = "ot-oam-traefik";
const NS: &str = "oam-traefik-system";

/// The real helm and cue, and the older cue that KubeVela itself evaluates definitions with.
struct Tools {
    helm: PathBuf,
    cue: PathBuf,
    cue_kubevela: PathBuf,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart_dir() -> PathBuf {
    repo().join("charts/oam-traefik")
}

/// Builds helm and cue once per test binary (a no-op while tests/tools is unchanged).
fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    let built = TOOLS.get_or_init(|| {
        let dir = std::env::var_os("OAM_TRAEFIK_TOOLS_BIN")
            .map_or_else(|| repo().join(".cache/bin"), PathBuf::from);
        let status = Command::new("bash")
            .arg(repo().join("tests/tools/build.sh"))
            .env("OAM_TRAEFIK_TOOLS_BIN", &dir)
            .status()
            .map_err(|e| format!("running tests/tools/build.sh: {e}"))?;
        if !status.success() {
            return Err(format!("tests/tools/build.sh failed ({status})"));
        }
        Ok(Tools {
            helm: dir.join("helm"),
            cue: dir.join("cue"),
            cue_kubevela: dir.join("cue-kubevela"),
        })
    });
    match built {
        Ok(tools) => tools,
        Err(e) => panic!("{e}"),
    }
}

fn run(program: &Path, args: &[&str]) -> Result<Output> {
    // helm and cue keep caches and config under $HOME otherwise.
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chart-tools");
    Command::new(program)
        .args(args)
        .env("HELM_CACHE_HOME", scratch.join("helm/cache"))
        .env("HELM_CONFIG_HOME", scratch.join("helm/config"))
        .env("HELM_DATA_HOME", scratch.join("helm/data"))
        .env("CUE_CACHE_DIR", scratch.join("cue"))
        .output()
        .with_context(|| format!("running {} {}", program.display(), args.join(" ")))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `helm template` of the chart as release `RELEASE` in namespace `NS`, with the auth
/// service and `sets`.
fn helm_template(sets: &[&str]) -> Result<Output> {
    helm_template_as(RELEASE, NS, sets)
}

fn helm_template_as(release: &str, namespace: &str, sets: &[&str]) -> Result<Output> {
    let chart = chart_dir();
    let mut args = vec![
        "template".to_string(),
        release.to_string(),
        chart.display().to_string(),
        "--namespace".to_string(),
        namespace.to_string(),
        "--set".to_string(),
        format!("identity.authService.address={AUTH}"),
    ];
    for set in sets {
        args.push("--set".to_string());
        args.push((*set).to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&tools().helm, &argv)
}

/// The objects the chart renders with `sets`.
struct Rendered(Vec<Value>);

impl Rendered {
    fn new(sets: &[&str]) -> Result<Self> {
        Self::as_release(RELEASE, NS, sets)
    }

    fn as_release(release: &str, namespace: &str, sets: &[&str]) -> Result<Self> {
        let out = helm_template_as(release, namespace, sets)?;
        if !out.status.success() {
            bail!("helm template {sets:?} failed:\n{}", text(&out.stderr));
        }
        Ok(Self(yaml_documents(&text(&out.stdout))?))
    }

    /// The objects of `kinds`.
    fn of_kinds(&self, kinds: &[&str]) -> Vec<&Value> {
        self.0
            .iter()
            .filter(|o| kinds.iter().any(|k| o["kind"] == *k))
            .collect()
    }

    /// The objects of `kind` that are installed (not `helm test` hooks).
    fn all(&self, kind: &str) -> Vec<&Value> {
        self.0
            .iter()
            .filter(|o| o["kind"] == kind && !is_test_hook(o))
            .collect()
    }

    fn named(&self, kind: &str, name: &str) -> &Value {
        self.0
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in {:?}", self.kinds()))
    }

    /// The one object of `kind` that is not the verifier's.
    fn one(&self, kind: &str) -> &Value {
        let found: Vec<&Value> = self.all(kind).into_iter().filter(|o| !is_auth(o)).collect();
        assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
        found[0]
    }

    /// The verifier's (oam-traefik-auth's) one object of `kind`.
    fn auth(&self, kind: &str) -> &Value {
        let found: Vec<&Value> = self.all(kind).into_iter().filter(|o| is_auth(o)).collect();
        assert_eq!(
            found.len(),
            1,
            "expected one auth {kind}, found {}",
            found.len()
        );
        found[0]
    }

    fn kinds(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
            .collect()
    }

    fn deployment(&self) -> &Value {
        self.one("Deployment")
    }

    fn args(&self) -> Vec<String> {
        strings(&self.deployment()["spec"]["template"]["spec"]["containers"][0]["args"])
    }

    fn webhooks(&self) -> [&Value; 2] {
        [
            &self.one("MutatingWebhookConfiguration")["webhooks"][0],
            &self.one("ValidatingWebhookConfiguration")["webhooks"][0],
        ]
    }
}

/// Whether `object` exists only while `helm test` runs.
fn is_test_hook(object: &Value) -> bool {
    object["metadata"]["annotations"]["helm.sh/hook"] == "test"
}

/// Whether `object` belongs to the verifier rather than the webhook.
fn is_auth(object: &Value) -> bool {
    object["metadata"]["labels"]["app.kubernetes.io/component"] == "auth"
}

/// Multi-document YAML as JSON values, parsed by the real cue.
fn yaml_documents(yaml: &str) -> Result<Vec<Value>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, yaml)?;
    let path = file.display().to_string();
    let out = run(
        &tools().cue,
        &["export", "--list", "--out", "json", "yaml:", &path],
    )?;
    if !out.status.success() {
        bail!("cue could not read the YAML:\n{}", text(&out.stderr));
    }
    let docs: Vec<Value> =
        serde_json::from_slice(&out.stdout).context("cue printed no JSON list")?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The value that follows `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

// ---------------------------------------------------------------- helm lint and values

#[test]
fn lint_passes_strict_and_the_schema_refuses_bad_values() -> Result<()> {
    let chart = chart_dir().display().to_string();
    let address = format!("identity.authService.address={AUTH}");
    let out = run(
        &tools().helm,
        &["lint", "--strict", &chart, "--set", &address],
    )?;
    assert!(
        out.status.success(),
        "helm lint:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("0 chart(s) failed"),
        "{}",
        text(&out.stdout)
    );

    for (bad, names) in [
        ("webhook.failurePolicy=Sometimes", "failurePolicy"),
        ("policy.spec.maxScopes=0", "maxScopes"),
        ("policy.spec.rules.OT001=block", "OT001"),
        ("policy.spec.alowedIssuers[0]=https://x", "alowedIssuers"),
        ("tls.mode=letsencrypt", "mode"),
        ("webhook.mutating.failurePolicy=Sometimes", "failurePolicy"),
        ("webhook.validating.timeoutSeconds=31", "timeoutSeconds"),
        (
            "webhook.validating.matchConditions[0].name=no-expression",
            "expression",
        ),
        (
            "webhook.mutating.objectSelector.matchLabel.a=b",
            "matchLabel",
        ),
        ("webhook.validating.sideEffects=Some", "sideEffects"),
        ("readinessProbe.httpGet.path=/elsewhere", "httpGet"),
        ("livenessProbe.periodSeconds=0", "periodSeconds"),
        ("dnsPolicy=Sometimes", "dnsPolicy"),
        ("hostNetwork=yes", "hostNetwork"),
        ("shutdownDelaySeconds=-1", "shutdownDelaySeconds"),
        ("metrics.prometheusRule.denialRatio=2", "denialRatio"),
        ("metrics.prometheusRule.staleCacheFor=soon", "staleCacheFor"),
        ("image.registy=mirror.example.com", "registy"),
        ("test.namespce=apps", "namespce"),
    ] {
        let out = helm_template(&[bad])?;
        assert!(!out.status.success(), "{bad} was accepted");
        assert!(
            text(&out.stderr).contains(names),
            "{bad}: {}",
            text(&out.stderr)
        );
    }
    Ok(())
}

#[test]
fn identity_trait_calls_the_charts_verifier_unless_another_address_is_given() -> Result<()> {
    let chart = chart_dir().display().to_string();
    // No --set at all: the generated Middlewares call the verifier the chart deploys.
    let out = run(&tools().helm, &["template", RELEASE, &chart, "-n", NS])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = Rendered(yaml_documents(&text(&out.stdout))?);
    let verifier = format!("http://{FULLNAME}-auth.{NS}.svc:8080/verify");
    assert_eq!(trait_auth_service(&r)?["address"], verifier.as_str());
    let svc = r.auth("Service");
    assert_eq!(svc["metadata"]["name"], format!("{FULLNAME}-auth"));
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    // An external auth service stays possible, and then no verifier is needed.
    let r = Rendered::new(&["auth.enabled=false"])?;
    assert_eq!(trait_auth_service(&r)?["address"], AUTH);
    assert!(r.0.iter().all(|o| !is_auth(o)), "{:?}", r.kinds());
    // Neither: refused, saying what to set.
    let out = run(
        &tools().helm,
        &[
            "template",
            RELEASE,
            &chart,
            "-n",
            NS,
            "--set",
            "auth.enabled=false",
        ],
    )?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("identity.authService.address is required when auth.enabled=false"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &tools().helm,
        &[
            "template",
            RELEASE,
            &chart,
            "-n",
            NS,
            "--set",
            "identity.traitDefinition.enabled=false",
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("kind: TraitDefinition"));
    Ok(())
}

/// The `_authService` the chart appends to the TraitDefinition's CUE template.
fn trait_auth_service(r: &Rendered) -> Result<Value> {
    let template = r.named("TraitDefinition", "identity")["spec"]["schematic"]["cue"]["template"]
        .as_str()
        .context("no CUE template")?;
    let line = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("_authService: "))
        .context("no _authService in the template")?;
    Ok(serde_json::from_str(line)?)
}

// ---------------------------------------------------------------- webhook configurations

#[test]
fn webhooks_skip_kube_system_the_release_namespace_and_opted_out_namespaces() -> Result<()> {
    let r = Rendered::new(&["webhook.excludeNamespaces[0]=legacy"])?;
    for hook in r.webhooks() {
        let exprs = hook["namespaceSelector"]["matchExpressions"]
            .as_array()
            .context("matchExpressions")?;
        let by_name = exprs
            .iter()
            .find(|e| e["key"] == "kubernetes.io/metadata.name")
            .context("no selector on the namespace name")?;
        assert_eq!(by_name["operator"], "NotIn");
        let skipped: BTreeSet<String> = strings(&by_name["values"]).into_iter().collect();
        assert_eq!(
            skipped,
            set(&["kube-system", NS, "legacy"]),
            "{}",
            hook["name"]
        );
        // Only the name the API server sets selects: no label a namespace owner writes.
        assert_eq!(exprs.len(), 1, "{}", hook["name"]);
        assert!(hook.get("objectSelector").is_none());
    }
    Ok(())
}

#[test]
fn webhooks_fail_closed_without_side_effects() -> Result<()> {
    let r = Rendered::new(&[])?;
    let [mutating, validating] = r.webhooks();
    for hook in [mutating, validating] {
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["sideEffects"], "None");
        assert_eq!(hook["admissionReviewVersions"], json!(["v1"]));
        assert_eq!(hook["timeoutSeconds"], 5);
        assert_eq!(hook["clientConfig"]["service"]["name"], FULLNAME);
        assert_eq!(hook["clientConfig"]["service"]["namespace"], NS);
        assert_eq!(hook["clientConfig"]["service"]["port"], 443);
        // Self-signed mode: the webhook writes the caBundle itself.
        assert!(hook["clientConfig"].get("caBundle").is_none());
    }
    assert_eq!(mutating["clientConfig"]["service"]["path"], "/mutate");
    assert_eq!(validating["clientConfig"]["service"]["path"], "/validate");
    assert_eq!(mutating["reinvocationPolicy"], "IfNeeded");

    let ignore = Rendered::new(&["webhook.failurePolicy=Ignore", "webhook.timeoutSeconds=3"])?;
    for hook in ignore.webhooks() {
        assert_eq!(hook["failurePolicy"], "Ignore");
        assert_eq!(hook["timeoutSeconds"], 3);
    }
    // Each webhook on its own: a mutation may be skipped while validation stays strict.
    let apart = Rendered::new(&[
        "webhook.mutating.failurePolicy=Ignore",
        "webhook.mutating.timeoutSeconds=2",
        "webhook.validating.timeoutSeconds=10",
    ])?;
    let [mutating, validating] = apart.webhooks();
    assert_eq!(mutating["failurePolicy"], "Ignore");
    assert_eq!(mutating["timeoutSeconds"], 2);
    assert_eq!(validating["failurePolicy"], "Fail");
    assert_eq!(validating["timeoutSeconds"], 10);
    for hook in [mutating, validating] {
        assert!(hook.get("matchConditions").is_none(), "{hook}");
        assert!(hook.get("objectSelector").is_none(), "{hook}");
    }
    Ok(())
}

#[test]
fn webhooks_take_match_conditions_object_selectors_annotations_and_labels() -> Result<()> {
    let skip_ci = r#"request.userInfo.username != "system:serviceaccount:ci:deployer""#;
    let r = Rendered::new(&[
        "webhook.validating.matchConditions[0].name=not-ci",
        &format!("webhook.validating.matchConditions[0].expression={skip_ci}"),
        "webhook.mutating.objectSelector.matchExpressions[0].key=example.com/skip",
        "webhook.mutating.objectSelector.matchExpressions[0].operator=DoesNotExist",
        "webhook.annotations.team=platform",
        "webhook.labels.tier=admission",
        "webhook.validating.annotations.only=validating",
        "webhook.mutating.labels.only=mutating",
        "tls.mode=certManager",
    ])?;
    let [mutating, validating] = r.webhooks();
    assert_eq!(
        validating["matchConditions"],
        json!([{"name": "not-ci", "expression": skip_ci}])
    );
    assert!(mutating.get("matchConditions").is_none());
    assert_eq!(
        mutating["objectSelector"],
        json!({"matchExpressions": [{"key": "example.com/skip", "operator": "DoesNotExist"}]})
    );
    assert!(validating.get("objectSelector").is_none());
    let m = &r.one("MutatingWebhookConfiguration")["metadata"];
    let v = &r.one("ValidatingWebhookConfiguration")["metadata"];
    for meta in [m, v] {
        assert_eq!(meta["annotations"]["team"], "platform");
        assert_eq!(meta["labels"]["tier"], "admission");
        // The chart's own stay: cert-manager's injection and the release labels.
        assert_eq!(
            meta["annotations"]["cert-manager.io/inject-ca-from"],
            format!("{NS}/{FULLNAME}-serving")
        );
        assert_eq!(meta["labels"]["app.kubernetes.io/instance"], RELEASE);
    }
    assert_eq!(v["annotations"]["only"], "validating");
    assert!(m["annotations"].get("only").is_none());
    assert_eq!(m["labels"]["only"], "mutating");
    assert!(v["labels"].get("only").is_none());
    // The API server compiles the CEL and checks the selector.
    dry_run(
        control_plane(),
        &r.of_kinds(&[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ]),
    )?;
    let bad = Rendered::new(&[
        "webhook.validating.matchConditions[0].name=broken",
        "webhook.validating.matchConditions[0].expression=request.nope(",
    ])?;
    let refused = dry_run(
        control_plane(),
        &bad.of_kinds(&["ValidatingWebhookConfiguration"]),
    );
    assert!(
        refused.is_err(),
        "a CEL expression that does not compile was accepted"
    );
    Ok(())
}

/// (group, version, resource, operations) of every rule of a webhook.
fn rules(hook: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in hook["rules"].as_array().into_iter().flatten() {
        assert_eq!(rule["scope"], "Namespaced");
        for group in strings(&rule["apiGroups"]) {
            for version in strings(&rule["apiVersions"]) {
                for resource in strings(&rule["resources"]) {
                    let ops = strings(&rule["operations"]).join(",");
                    out.insert(format!("{group}/{version}/{resource} {ops}"));
                }
            }
        }
    }
    out
}

#[test]
fn webhooks_intercept_exactly_the_route_kinds_and_middleware_changes() -> Result<()> {
    let r = Rendered::new(&[])?;
    let [mutating, validating] = r.webhooks();
    let routes = [
        "core.oam.dev/v1beta1/applications CREATE,UPDATE",
        "networking.k8s.io/v1/ingresses CREATE,UPDATE",
        "traefik.io/*/ingressroutes CREATE,UPDATE",
        "traefik.io/*/ingressroutetcps CREATE,UPDATE",
        "traefik.containo.us/*/ingressroutes CREATE,UPDATE",
        "traefik.containo.us/*/ingressroutetcps CREATE,UPDATE",
        "gateway.networking.k8s.io/*/httproutes CREATE,UPDATE",
        "gateway.networking.k8s.io/*/grpcroutes CREATE,UPDATE",
        "gateway.networking.k8s.io/*/tcproutes CREATE,UPDATE",
        "gateway.networking.k8s.io/*/tlsroutes CREATE,UPDATE",
    ];
    assert_eq!(rules(mutating), set(&routes));
    let mut validated = routes.to_vec();
    validated.push("traefik.io/*/middlewares CREATE,UPDATE,DELETE");
    validated.push("traefik.containo.us/*/middlewares CREATE,UPDATE,DELETE");
    assert_eq!(rules(validating), set(&validated));
    Ok(())
}

#[test]
fn out_of_cluster_url_replaces_the_service() -> Result<()> {
    let r = Rendered::new(&[
        "webhook.url=https://127.0.0.1:9443/",
        "webhook.caBundle=Q0E=",
    ])?;
    let [mutating, validating] = r.webhooks();
    assert_eq!(
        mutating["clientConfig"],
        json!({"url": "https://127.0.0.1:9443/mutate", "caBundle": "Q0E="})
    );
    assert_eq!(
        validating["clientConfig"],
        json!({"url": "https://127.0.0.1:9443/validate", "caBundle": "Q0E="})
    );
    Ok(())
}

// ---------------------------------------------------------------- the Deployment

#[test]
fn deployment_runs_two_restricted_replicas_with_https_probes() -> Result<()> {
    let r = Rendered::new(&[])?;
    let d = r.deployment();
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];

    let args = r.args();
    // The binary reads both as a socket address (`SocketAddr`), not Go's ":8443".
    assert_eq!(flag(&args, "--listen"), Some("0.0.0.0:8443"));
    assert_eq!(flag(&args, "--metrics-listen"), Some("0.0.0.0:9090"));
    assert_eq!(
        flag(&args, "--policy"),
        Some("/etc/oam-traefik/policy.yaml")
    );

    let ports: Vec<(String, i64)> = c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_string(),
                p["containerPort"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        ports,
        vec![("https".to_string(), 8443), ("metrics".to_string(), 9090)]
    );
    for (probe, path) in [
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["scheme"], "HTTPS", "{probe}");
        assert_eq!(get["port"], "https", "{probe}");
    }

    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert!(sc["capabilities"].get("add").is_none());
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert!(pod.get("priorityClassName").is_none());
    assert!(pod.get("hostNetwork").is_none());
    assert!(pod.get("dnsPolicy").is_none());
    Ok(())
}

#[test]
fn shutdown_delay_outlasts_the_readiness_probe_and_the_grace_period_outlasts_both() -> Result<()> {
    let r = Rendered::new(&[])?;
    let pod = &r.deployment()["spec"]["template"]["spec"];
    let ready = &pod["containers"][0]["readinessProbe"];
    let delay: i64 = flag(&r.args(), "--shutdown-delay")
        .context("no --shutdown-delay")?
        .parse()?;
    let not_ready_after = ready["periodSeconds"].as_i64().context("period")?
        * ready["failureThreshold"].as_i64().context("threshold")?;
    assert!(delay > not_ready_after, "{delay} <= {not_ready_after}");
    // The delay, then the drain (25 s at most), then a margin before SIGKILL.
    assert_eq!(pod["terminationGracePeriodSeconds"], delay + 30);

    let r = Rendered::new(&[
        "shutdownDelaySeconds=30",
        "readinessProbe.periodSeconds=3",
        "readinessProbe.failureThreshold=5",
        "readinessProbe.timeoutSeconds=2",
        "livenessProbe.initialDelaySeconds=7",
        "startupProbe.failureThreshold=60",
    ])?;
    let pod = &r.deployment()["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(flag(&r.args(), "--shutdown-delay"), Some("30"));
    assert_eq!(pod["terminationGracePeriodSeconds"], 60);
    assert_eq!(c["readinessProbe"]["periodSeconds"], 3);
    assert_eq!(c["readinessProbe"]["failureThreshold"], 5);
    assert_eq!(c["readinessProbe"]["timeoutSeconds"], 2);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["initialDelaySeconds"], 7);
    assert_eq!(c["livenessProbe"]["periodSeconds"], 10);
    assert_eq!(c["startupProbe"]["failureThreshold"], 60);

    // A delay the probe cannot beat would let the API server call a pod that has stopped.
    let out = helm_template(&["shutdownDelaySeconds=10"])?;
    assert!(
        !out.status.success(),
        "a 10 s delay against a 10 s probe window was accepted"
    );
    assert!(
        text(&out.stderr).contains("shutdownDelaySeconds (10) must exceed"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[test]
fn host_network_brings_its_dns_policy_and_either_can_be_set() -> Result<()> {
    let r = Rendered::new(&["hostNetwork=true"])?;
    let pod = &r.deployment()["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    // Only the webhook: the API server must reach it; the verifier is reached by Traefik.
    assert!(
        r.auth("Deployment")["spec"]["template"]["spec"]
            .get("hostNetwork")
            .is_none()
    );
    // The API server takes it; Pod Security says what it costs: the namespace must allow
    // host namespaces (the privileged level), and nothing else is given up.
    let warnings = dry_run(control_plane(), &r.of_kinds(&["Deployment"]))?;
    let breaches: Vec<&str> = warnings
        .lines()
        .filter(|l| l.contains("would violate PodSecurity"))
        .collect();
    assert_eq!(breaches.len(), 1, "{warnings}");
    assert!(
        breaches[0].ends_with("host namespaces (hostNetwork=true)"),
        "{warnings}"
    );
    let r = Rendered::new(&["hostNetwork=true", "dnsPolicy=Default"])?;
    assert_eq!(
        r.deployment()["spec"]["template"]["spec"]["dnsPolicy"],
        "Default"
    );
    let r = Rendered::new(&["dnsPolicy=None"])?;
    let pod = &r.deployment()["spec"]["template"]["spec"];
    assert_eq!(pod["dnsPolicy"], "None");
    assert!(pod.get("hostNetwork").is_none());
    Ok(())
}

#[test]
fn every_image_takes_the_registry_and_the_global_one_wins() -> Result<()> {
    let images = |r: &Rendered| -> Vec<String> {
        let mut found: Vec<String> = r
            .of_kinds(&["Deployment", "Pod"])
            .into_iter()
            .flat_map(|o| {
                let spec = if o["kind"] == "Pod" {
                    &o["spec"]
                } else {
                    &o["spec"]["template"]["spec"]
                };
                strings(&json!(
                    spec["containers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| c["image"].clone())
                        .collect::<Vec<_>>()
                ))
            })
            .collect();
        found.sort();
        found
    };
    let plain = "oam-traefik/oam-traefik-webhook:0.1.0";
    // The webhook, the verifier and the helm test pod.
    assert_eq!(images(&Rendered::new(&[])?), vec![plain; 3]);
    let own = Rendered::new(&["image.registry=registry.example.com"])?;
    assert_eq!(
        images(&own),
        vec![format!("registry.example.com/{plain}"); 3]
    );
    let global = Rendered::new(&[
        "image.registry=registry.example.com",
        "global.imageRegistry=mirror.internal:5000/",
        "auth.image.tag=0.1.1",
    ])?;
    assert_eq!(
        images(&global),
        vec![
            format!("mirror.internal:5000/{plain}"),
            format!("mirror.internal:5000/{plain}"),
            "mirror.internal:5000/oam-traefik/oam-traefik-webhook:0.1.1".to_string(),
        ]
    );
    // A parent chart's globals pass through to this one.
    Rendered::new(&["global.storageClass=fast"])?;
    Ok(())
}

#[test]
fn helm_test_runs_the_self_test_in_a_checked_namespace_with_only_dry_run_rights() -> Result<()> {
    let r = Rendered::new(&["test.namespace=apps"])?;
    let hooks: Vec<&Value> =
        r.0.iter()
            .filter(|o| o["metadata"]["annotations"]["helm.sh/hook"] == "test")
            .collect();
    let kinds: BTreeSet<String> = hooks
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        kinds,
        set(&["Pod", "Role", "RoleBinding", "ServiceAccount"])
    );
    let pod = hooks.iter().find(|o| o["kind"] == "Pod").context("pod")?;
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["args"], json!(["--self-test", "apps"]));
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let role = hooks.iter().find(|o| o["kind"] == "Role").context("role")?;
    assert_eq!(role["metadata"]["namespace"], "apps");
    assert_eq!(
        grants(role),
        set(&["networking.k8s.io/ingresses create []"])
    );
    for hook in &hooks {
        let policy = hook["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
            .as_str()
            .unwrap_or("");
        assert!(policy.contains("hook-succeeded"), "{hook}");
    }
    // A namespace the webhook never checks would make the test pass for nothing.
    for excluded in ["kube-system", NS] {
        let out = helm_template(&[&format!("test.namespace={excluded}")])?;
        assert!(
            !out.status.success(),
            "test.namespace={excluded} was accepted"
        );
        assert!(
            text(&out.stderr).contains("never intercepted"),
            "{}",
            text(&out.stderr)
        );
    }
    let off = Rendered::new(&["test.enabled=false"])?;
    assert!(
        off.0
            .iter()
            .all(|o| o["metadata"]["annotations"]["helm.sh/hook"] != "test")
    );
    Ok(())
}

#[test]
fn prometheus_rule_alerts_on_the_webhooks_own_metrics_only_when_enabled() -> Result<()> {
    assert!(Rendered::new(&[])?.all("PrometheusRule").is_empty());
    let r = Rendered::new(&[
        "metrics.prometheusRule.enabled=true",
        "metrics.prometheusRule.labels.release=kube-prometheus",
        "metrics.prometheusRule.certificateExpiryDays=7",
    ])?;
    let rule = r.one("PrometheusRule");
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus");
    let alerts: Vec<&Value> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .context("rules")?
        .iter()
        .collect();
    let names: BTreeSet<String> = alerts
        .iter()
        .map(|a| a["alert"].as_str().unwrap_or("").to_string())
        .collect();
    for wanted in [
        "OamTraefikWebhookDown",
        "OamTraefikWebhookCertificateExpiring",
        "OamTraefikWebhookWatchCacheStale",
        "OamTraefikWebhookDenialRate",
    ] {
        assert!(names.contains(wanted), "{wanted} missing: {names:?}");
    }
    let expr = |name: &str| -> String {
        alerts
            .iter()
            .find(|a| a["alert"] == name)
            .and_then(|a| a["expr"].as_str())
            .unwrap_or("")
            .to_string()
    };
    // The job label a ServiceMonitor gives is the Service's name; every query stays in the
    // release's namespace.
    assert!(expr("OamTraefikWebhookDown").contains(&format!("job=\"{FULLNAME}\"")));
    assert!(expr("OamTraefikWebhookCertificateExpiring").ends_with(&format!("< {}", 7 * 86_400)));
    for a in &alerts {
        let e = a["expr"].as_str().unwrap_or("");
        assert!(e.contains(&format!("namespace=\"{NS}\"")), "{e}");
    }
    // The metrics these read are checked against a running webhook in e2e_rollout.
    Ok(())
}

#[test]
fn chart_yaml_carries_artifact_hub_metadata_and_an_icon_it_ships() -> Result<()> {
    let chart = chart_dir().join("Chart.yaml");
    let meta = &yaml_documents(&std::fs::read_to_string(&chart)?)?[0];
    let icon = meta["icon"].as_str().context("no icon")?;
    assert!(icon.starts_with("https://"), "{icon}");
    let file = icon.rsplit('/').next().context("icon file")?;
    let svg =
        std::fs::read_to_string(chart_dir().join(file)).context("the icon is not in the chart")?;
    assert!(svg.contains("<svg"), "{file} is not an SVG");
    let a = &meta["annotations"];
    assert_eq!(a["artifacthub.io/license"], "Apache-2.0");
    assert!(a["artifacthub.io/category"].is_string());
    // The images it names are the ones the chart deploys.
    let images = &yaml_documents(a["artifacthub.io/images"].as_str().context("images")?)?[0];
    let deployed =
        Rendered::new(&[])?.deployment()["spec"]["template"]["spec"]["containers"][0]["image"]
            .clone();
    assert_eq!(images[0]["image"], deployed);
    let links = &yaml_documents(a["artifacthub.io/links"].as_str().context("links")?)?[0];
    assert!(links.as_array().is_some_and(|l| !l.is_empty()), "{links}");
    Ok(())
}

#[test]
fn disruption_budget_and_anti_affinity_keep_a_replica_up() -> Result<()> {
    let r = Rendered::new(&[])?;
    let pod_labels = &r.deployment()["spec"]["template"]["metadata"]["labels"];
    let selects = |selector: &Value| {
        selector
            .as_object()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| &pod_labels[k] == v))
    };
    let pdb = r.one("PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert!(selects(&pdb["spec"]["selector"]["matchLabels"]), "{pdb}");

    let anti = &r.deployment()["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
    let preferred = anti["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .context("preferred anti-affinity")?;
    assert_eq!(preferred.len(), 1);
    let term = &preferred[0]["podAffinityTerm"];
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    assert!(selects(&term["labelSelector"]["matchLabels"]));
    // Preferred, not required: two replicas must still schedule on a one-node cluster.
    assert!(
        anti.get("requiredDuringSchedulingIgnoredDuringExecution")
            .is_none()
    );

    let svc = r.one("Service");
    assert!(selects(&svc["spec"]["selector"]));
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "https");
    Ok(())
}

#[test]
fn priority_class_is_set_when_asked() -> Result<()> {
    let r = Rendered::new(&["priorityClassName=system-cluster-critical"])?;
    assert_eq!(
        r.deployment()["spec"]["template"]["spec"]["priorityClassName"],
        "system-cluster-critical"
    );
    Ok(())
}

#[test]
fn policy_config_map_is_the_mounted_admission_policy_with_the_release_namespace_exempt()
-> Result<()> {
    let r = Rendered::new(&[
        "policy.spec.allowedIssuers[0]=https://login.example.com/",
        "policy.spec.rules.OT006=warn",
    ])?;
    let cm = r.named("ConfigMap", &format!("{FULLNAME}-policy"));
    let file = cm["data"]["policy.yaml"].as_str().context("policy.yaml")?;
    let policy = yaml_documents(file)?.pop().context("empty policy")?;
    assert_eq!(policy["apiVersion"], "oam-traefik.io/v1alpha1");
    assert_eq!(policy["kind"], "AdmissionPolicy");
    let spec = &policy["spec"];
    assert_eq!(
        spec["allowedIssuers"],
        json!(["https://login.example.com/"])
    );
    assert_eq!(spec["rules"], json!({"OT006": "warn"}));
    assert_eq!(spec["maxScopes"], 10);
    let exempt: BTreeSet<String> = strings(&spec["exemptNamespaces"]).into_iter().collect();
    assert_eq!(exempt, set(&["kube-system", NS]));
    // The verifier the identity trait calls is pinned as the auth service that counts, and
    // the rendered file is one the policy crate accepts.
    assert_eq!(spec["trustedAuthServices"], json!([AUTH]));
    let parsed = oam_traefik_policy::Policy::from_yaml(file)?;
    assert!(parsed.trusts_auth_service(&format!("{AUTH}?provider=oidc")));
    assert!(!parsed.trusts_auth_service("http://always-200.example/"));

    // The ConfigMap is mounted whole (no subPath, so edits reach the pod) where --policy reads.
    let pod = &r.deployment()["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .and_then(|v| {
            v.iter()
                .find(|v| v["configMap"]["name"] == cm["metadata"]["name"])
        })
        .context("no volume of the policy ConfigMap")?;
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == volume["name"]))
        .context("policy volume not mounted")?;
    assert!(mount.get("subPath").is_none());
    let path = format!(
        "{}/policy.yaml",
        mount["mountPath"].as_str().context("mountPath")?
    );
    assert_eq!(flag(&r.args(), "--policy"), Some(path.as_str()));
    Ok(())
}

// ---------------------------------------------------------------- RBAC and TLS modes

/// (group, resource, verbs, resourceNames) of every rule of a role.
fn grants(role: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                let verbs = strings(&rule["verbs"]).join(",");
                let names = strings(&rule["resourceNames"]).join(",");
                out.insert(format!("{group}/{resource} {verbs} [{names}]"));
            }
        }
    }
    out
}

/// What the webhook's watch caches read: every kind it watches, get/list/watch.
fn reads() -> BTreeSet<String> {
    oam_traefik_webhook::cache::Watched::ALL
        .iter()
        .map(|w| {
            let r = w.api_resource();
            format!("{}/{} get,list,watch []", r.group, r.plural)
        })
        .collect()
}

#[test]
fn cluster_role_reads_exactly_the_watched_kinds() -> Result<()> {
    let r = Rendered::new(&["tls.mode=certManager"])?;
    // cert-manager mode: the only RBAC is the read-only ClusterRole.
    assert_eq!(r.all("ClusterRole").len(), 1);
    assert!(r.all("Role").is_empty());
    let role = r.named("ClusterRole", FULLNAME);
    assert_eq!(grants(role), reads());
    let binding = r.named("ClusterRoleBinding", FULLNAME);
    assert_eq!(binding["roleRef"]["name"], FULLNAME);
    let sa = r.deployment()["spec"]["template"]["spec"]["serviceAccountName"].clone();
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": sa, "namespace": NS}])
    );
    assert_eq!(r.one("ServiceAccount")["metadata"]["name"], sa);
    Ok(())
}

#[test]
fn self_signed_mode_grants_only_its_secret_and_its_own_webhook_configurations() -> Result<()> {
    let r = Rendered::new(&[])?;
    let args = r.args();
    let secret = format!("{FULLNAME}-tls");
    assert_eq!(
        flag(&args, "--self-signed-secret"),
        Some(format!("{NS}/{secret}").as_str())
    );
    let configs = format!(
        "{},{}",
        r.one("MutatingWebhookConfiguration")["metadata"]["name"]
            .as_str()
            .context("name")?,
        r.one("ValidatingWebhookConfiguration")["metadata"]["name"]
            .as_str()
            .context("name")?
    );
    assert_eq!(
        flag(&args, "--webhook-configurations"),
        Some(configs.as_str())
    );
    // The certificate covers the Service's names, and is served from memory: no files.
    let service = r.one("Service")["metadata"]["name"].clone();
    assert_eq!(flag(&args, "--service-name"), service.as_str());
    assert!(flag(&args, "--tls-cert").is_none() && flag(&args, "--tls-key").is_none());
    let volumes = &r.deployment()["spec"]["template"]["spec"]["volumes"];
    assert!(
        volumes
            .as_array()
            .is_some_and(|v| v.iter().all(|v| v["name"] != "tls"))
    );

    let role = r.named("Role", &format!("{FULLNAME}-tls"));
    assert_eq!(role["metadata"]["namespace"], NS);
    assert_eq!(
        grants(role),
        set(&[
            "/secrets create []",
            &format!("/secrets get,update,patch [{secret}]")
        ])
    );
    let ca = r.named("ClusterRole", &format!("{FULLNAME}-ca-bundle"));
    assert_eq!(
        grants(ca),
        set(&[
            &format!(
                "admissionregistration.k8s.io/mutatingwebhookconfigurations get,patch [{FULLNAME}]"
            ),
            &format!(
                "admissionregistration.k8s.io/validatingwebhookconfigurations get,patch [{FULLNAME}]"
            ),
        ])
    );
    assert_eq!(
        r.named("RoleBinding", &format!("{FULLNAME}-tls"))["roleRef"]["name"],
        format!("{FULLNAME}-tls")
    );
    assert_eq!(
        r.named("ClusterRoleBinding", &format!("{FULLNAME}-ca-bundle"))["roleRef"]["name"],
        format!("{FULLNAME}-ca-bundle")
    );
    Ok(())
}

#[test]
fn cert_manager_mode_issues_the_mounted_certificate_and_injects_the_ca() -> Result<()> {
    let r = Rendered::new(&["tls.mode=certManager"])?;
    let args = r.args();
    assert!(flag(&args, "--self-signed-secret").is_none());
    assert!(flag(&args, "--webhook-configurations").is_none());
    let c = &r.deployment()["spec"]["template"]["spec"]["containers"][0];
    let tls_mount = c["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "tls"))
        .context("tls mount")?;
    assert_eq!(tls_mount["readOnly"], true);
    let tls_dir = tls_mount["mountPath"].as_str().context("mountPath")?;
    assert_eq!(
        flag(&args, "--tls-cert"),
        Some(format!("{tls_dir}/tls.crt").as_str())
    );
    assert_eq!(
        flag(&args, "--tls-key"),
        Some(format!("{tls_dir}/tls.key").as_str())
    );

    let cert = r.named("Certificate", &format!("{FULLNAME}-serving"));
    assert_eq!(
        cert["spec"]["dnsNames"],
        json!([
            format!("{FULLNAME}.{NS}.svc"),
            format!("{FULLNAME}.{NS}.svc.cluster.local")
        ])
    );
    let tls = r.deployment()["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == "tls"))
        .context("tls volume")?;
    assert_eq!(tls["secret"]["secretName"], cert["spec"]["secretName"]);
    // The issuer chain the chart makes when none is given.
    assert_eq!(cert["spec"]["issuerRef"]["name"], format!("{FULLNAME}-ca"));
    let ca_issuer = r.named("Issuer", &format!("{FULLNAME}-ca"));
    let ca_cert = r.named("Certificate", &format!("{FULLNAME}-ca"));
    assert_eq!(ca_cert["spec"]["isCA"], true);
    assert_eq!(
        ca_issuer["spec"]["ca"]["secretName"],
        ca_cert["spec"]["secretName"]
    );

    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let hook = r.one(kind);
        assert_eq!(
            hook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            format!("{NS}/{FULLNAME}-serving")
        );
        assert!(
            hook["webhooks"][0]["clientConfig"]
                .get("caBundle")
                .is_none()
        );
    }

    let given = Rendered::new(&[
        "tls.mode=certManager",
        "tls.certManager.issuerRef.name=corp-ca",
        "tls.certManager.issuerRef.kind=ClusterIssuer",
    ])?;
    assert!(given.all("Issuer").is_empty());
    assert_eq!(given.all("Certificate").len(), 1);
    assert_eq!(
        given.one("Certificate")["spec"]["issuerRef"],
        json!({"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
    );
    Ok(())
}

#[test]
fn service_monitor_scrapes_the_metrics_port_only_when_enabled() -> Result<()> {
    assert!(Rendered::new(&[])?.all("ServiceMonitor").is_empty());
    let r = Rendered::new(&[
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prom",
    ])?;
    let sm = r.one("ServiceMonitor");
    let svc = r.one("Service");
    assert_eq!(sm["metadata"]["labels"]["release"], "prom");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    let metrics_port = svc["spec"]["ports"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "metrics"))
        .context("Service has no metrics port")?;
    assert_eq!(metrics_port["port"], 9090);
    for (k, v) in sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .context("selector")?
    {
        assert_eq!(
            &svc["metadata"]["labels"][k], v,
            "ServiceMonitor must select the Service"
        );
    }
    Ok(())
}

#[test]
fn network_policy_admits_only_the_webhook_and_metrics_ports() -> Result<()> {
    assert!(Rendered::new(&[])?.all("NetworkPolicy").is_empty());
    let r = Rendered::new(&["networkPolicy.enabled=true"])?;
    let np = r.one("NetworkPolicy");
    let pod_labels = &r.deployment()["spec"]["template"]["metadata"]["labels"];
    for (k, v) in np["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .context("podSelector")?
    {
        assert_eq!(&pod_labels[k], v);
    }
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
    let ports: Vec<&Value> = np["spec"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["ports"].as_array().into_iter().flatten())
        .map(|p| &p["port"])
        .collect();
    assert_eq!(ports, vec![&json!("https"), &json!("metrics")]);
    Ok(())
}

// ---------------------------------------------------------------- the real control plane

/// Namespaces every dry-run needs; created once per test binary.
fn control_plane() -> &'static ControlPlane {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let cp = ControlPlane::shared();
    let ready = READY.get_or_init(|| {
        for (ns, labels) in [
            // Pod Security warns (on Deployments) about every breach of `restricted`.
            (NS, &["pod-security.kubernetes.io/warn=restricted"][..]),
            ("vela-system", &[][..]),
        ] {
            cp.namespace(ns, labels).map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("namespaces for the chart: {e}");
    }
    cp
}

/// Kinds whose CRDs this control plane does not serve (cert-manager, Prometheus Operator):
/// helm renders them, but the API server cannot check them.
const NOT_SERVED: [&str; 3] = ["Certificate", "Issuer", "ServiceMonitor"];

/// `kubectl apply --server-side --dry-run=server` of `objects`; returns kubectl's stderr.
fn dry_run(cp: &ControlPlane, objects: &[&Value]) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("objects.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&file, serde_json::to_vec(&list)?)?;
    let path = file.display().to_string();
    let out = cp.kubectl().run(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=helm",
        "-f",
        &path,
    ])?;
    if !out.success() {
        bail!(
            "server-side dry-run refused the objects:\n{}{}",
            out.stdout,
            out.stderr
        );
    }
    Ok(out.stderr)
}

#[test]
fn every_option_renders_objects_the_api_server_accepts() -> Result<()> {
    let cp = control_plane();
    for sets in [
        &[][..],
        &["tls.mode=certManager"][..],
        &["tls.mode=external", "webhook.caBundle=Q0E="][..],
        &[
            "webhook.url=https://127.0.0.1:9443",
            "webhook.caBundle=Q0E=",
        ][..],
        &["metrics.serviceMonitor.enabled=true"][..],
        &[
            "networkPolicy.enabled=true",
            "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=observability",
        ][..],
        &["priorityClassName=system-cluster-critical"][..],
        &["webhook.failurePolicy=Ignore"][..],
        &[
            "dnsPolicy=ClusterFirst",
            "shutdownDelaySeconds=40",
            "readinessProbe.periodSeconds=10",
            "webhook.mutating.objectSelector.matchLabels.team=a",
        ][..],
        &["auth.enabled=false"][..],
        &[
            "auth.issuerCA.configMapName=corp-ca",
            "auth.extraArgs[0]=--token-cache-size=0",
        ][..],
    ] {
        let r = Rendered::new(sets)?;
        let (skipped, checked): (Vec<&Value>, Vec<&Value>) =
            r.0.iter()
                .partition(|o| NOT_SERVED.iter().any(|k| o["kind"] == *k));
        let expected_skips = match sets.first() {
            Some(&"tls.mode=certManager") => 4,
            // The webhook's and the verifier's.
            Some(&"metrics.serviceMonitor.enabled=true") => 2,
            _ => 0,
        };
        assert_eq!(skipped.len(), expected_skips, "{sets:?}: {:?}", r.kinds());
        let warnings = dry_run(cp, &checked).with_context(|| format!("options {sets:?}"))?;
        assert!(
            !warnings.contains("PodSecurity"),
            "{sets:?}: the pod breaks the restricted Pod Security Standard:\n{warnings}"
        );
    }
    Ok(())
}

#[test]
fn helm_install_dry_run_against_the_server_prints_the_notes() -> Result<()> {
    let cp = control_plane();
    let chart = chart_dir().display().to_string();
    let kubeconfig = cp.kubeconfig().display().to_string();
    let address = format!("identity.authService.address={AUTH}");
    let out = run(
        &tools().helm,
        &[
            "install",
            RELEASE,
            &chart,
            "--namespace",
            NS,
            "--dry-run=server",
            "--kubeconfig",
            &kubeconfig,
            "--set",
            &address,
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let notes = printed.split("NOTES:").nth(1).context("no NOTES")?;
    assert!(
        notes.contains(&format!(
            "kubectl -n {NS} rollout status deployment/{FULLNAME}"
        )),
        "{notes}"
    );
    assert!(notes.contains("No label"), "{notes}");
    assert!(notes.contains(AUTH), "{notes}");
    // The verifier trusts no issuer until allowedIssuers is set: the NOTES say which value.
    assert!(
        notes.contains("WARNING: policy.spec.allowedIssuers is empty")
            && notes.contains("--set 'policy.spec.allowedIssuers={https://"),
        "{notes}"
    );
    let issuers = "policy.spec.allowedIssuers={https://login.example.com/realms/prod}";
    let out = run(
        &tools().helm,
        &[
            "install",
            RELEASE,
            &chart,
            "--namespace",
            NS,
            "--dry-run=server",
            "--kubeconfig",
            &kubeconfig,
            "--set",
            issuers,
        ],
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let notes = printed.split("NOTES:").nth(1).context("no NOTES")?;
    assert!(!notes.contains("WARNING"), "{notes}");
    assert!(
        notes.contains("issuers under: https://login.example.com/realms/prod"),
        "{notes}"
    );
    assert!(
        notes.contains(&format!("http://{FULLNAME}-auth.{NS}.svc:8080/verify")),
        "{notes}"
    );
    // Nothing was installed.
    let hooks = cp
        .kubectl()
        .run(&["get", "validatingwebhookconfigurations", "-o", "name"])?
        .ok()?;
    assert!(!hooks.stdout.contains(FULLNAME));
    Ok(())
}

#[test]
fn pod_security_check_catches_a_weakened_security_context() -> Result<()> {
    // The control for the test above: the same check sees a breach when there is one.
    let cp = control_plane();
    let r = Rendered::new(&["securityContext.allowPrivilegeEscalation=true"])?;
    let warnings = dry_run(cp, &[r.deployment()])?;
    assert!(
        warnings.contains("would violate PodSecurity")
            && warnings.contains("allowPrivilegeEscalation"),
        "no Pod Security warning:\n{warnings}"
    );
    Ok(())
}

/// The kinds that make up the webhook's identity and permissions.
const RBAC_KINDS: [&str; 5] = [
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// `kubectl apply --server-side` of `objects`, for real.
fn create(cp: &ControlPlane, objects: &[&Value]) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("objects.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&file, serde_json::to_vec(&list)?)?;
    let path = file.display().to_string();
    cp.kubectl()
        .run(&["apply", "--server-side", "-f", &path])?
        .ok()?;
    Ok(())
}

/// `kubectl auth can-i` as the webhook's ServiceAccount.
fn can(cp: &ControlPlane, sa: &str, args: &[&str]) -> Result<bool> {
    let user = format!("--as=system:serviceaccount:{sa}");
    let mut argv = vec!["auth", "can-i"];
    argv.extend_from_slice(args);
    argv.push(&user);
    let out = cp.kubectl().run(&argv)?;
    match out.stdout.trim() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => bail!("kubectl auth can-i {args:?}: {other} {}", out.stderr),
    }
}

#[test]
fn the_authorizer_lets_the_webhook_read_routes_and_nothing_more() -> Result<()> {
    let cp = control_plane();
    // A release of its own: these objects are created for real, for the real RBAC authorizer.
    let ns = cp.namespace("chart-rbac", &[])?;
    let r = Rendered::as_release("rbac", &ns, &[])?;
    create(cp, &r.of_kinds(&RBAC_KINDS))?;

    let sa = format!("{ns}:rbac-oam-traefik");
    let name = "rbac-oam-traefik";
    for resource in [
        "applications.core.oam.dev",
        "middlewares.traefik.io",
        "ingressroutes.traefik.io",
        "ingresses.networking.k8s.io",
        "ingressclasses.networking.k8s.io",
        "httproutes.gateway.networking.k8s.io",
        "gateways.gateway.networking.k8s.io",
        "gatewayclasses.gateway.networking.k8s.io",
    ] {
        for verb in ["get", "list", "watch"] {
            assert!(
                can(cp, &sa, &[verb, resource, "-A"])?,
                "{verb} {resource} refused"
            );
        }
        for verb in ["create", "update", "patch", "delete"] {
            assert!(
                !can(cp, &sa, &[verb, resource, "-A"])?,
                "{verb} {resource} allowed"
            );
        }
    }
    // Its own TLS Secret, and its own webhook configurations, by name only.
    let secret = format!("secrets/{name}-tls");
    for verb in ["get", "update", "patch"] {
        assert!(
            can(cp, &sa, &[verb, &secret, "-n", &ns])?,
            "{verb} {secret}"
        );
    }
    assert!(can(cp, &sa, &["create", "secrets", "-n", &ns])?);
    assert!(!can(cp, &sa, &["get", "secrets/other", "-n", &ns])?);
    assert!(!can(cp, &sa, &["list", "secrets", "-n", &ns])?);
    assert!(!can(cp, &sa, &["create", "secrets", "-n", "default"])?);
    for kind in [
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
    ] {
        assert!(can(cp, &sa, &["patch", &format!("{kind}/{name}")])?);
        assert!(!can(cp, &sa, &["patch", &format!("{kind}/other")])?);
        assert!(!can(cp, &sa, &["delete", &format!("{kind}/{name}")])?);
    }
    assert!(!can(cp, &sa, &["create", "pods", "-n", &ns])?);
    Ok(())
}

/// The real webhook binary, started with the Deployment's own arguments and environment:
/// the volumes become folders of a temporary directory (the policy ConfigMap's file, and
/// `tls` when the pod mounts certificate files), the listen addresses loopback ports, and
/// `kubeconfig` stands in for the in-cluster account.
struct Served {
    process: Process,
    port: u16,
    metrics: u16,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(r: &Rendered, namespace: &str, kubeconfig: &Path, tls: Option<&Pem>) -> Result<Self> {
        let bin = oam_traefik_e2e::webhook::binary()?;
        let dir = tempfile::tempdir()?;
        let container = &r.deployment()["spec"]["template"]["spec"]["containers"][0];

        let mut mounts: Vec<(String, PathBuf)> = Vec::new();
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            let at = mount["mountPath"]
                .as_str()
                .context("mountPath")?
                .to_string();
            let local = dir
                .path()
                .join(mount["name"].as_str().context("mount name")?);
            std::fs::create_dir_all(&local)?;
            mounts.push((at, local));
        }
        let local_of = |at: &str| mounts.iter().find(|(m, _)| m == at).map(|(_, l)| l);
        let cm = r
            .all("ConfigMap")
            .into_iter()
            .find(|c| c["data"]["policy.yaml"].is_string())
            .context("no policy ConfigMap")?;
        let policy_dir = local_of("/etc/oam-traefik").context("policy not mounted")?;
        std::fs::write(
            policy_dir.join("policy.yaml"),
            cm["data"]["policy.yaml"].as_str().context("policy")?,
        )?;
        if let Some(pem) = tls {
            let tls_dir = local_of("/var/run/oam-traefik/tls").context("tls not mounted")?;
            std::fs::write(tls_dir.join("tls.crt"), &pem.cert)?;
            std::fs::write(tls_dir.join("tls.key"), &pem.key)?;
        }

        let port = free_port()?;
        let metrics = free_port()?;
        let mut args = Vec::new();
        let mut rendered = r.args().into_iter();
        while let Some(arg) = rendered.next() {
            let value = rendered
                .next()
                .with_context(|| format!("{arg} has no value"))?;
            let value = match arg.as_str() {
                "--listen" | "--metrics-listen" => {
                    let addr: SocketAddr =
                        value.parse().with_context(|| format!("{arg} {value}"))?;
                    let declared = container["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["containerPort"] == addr.port());
                    assert!(declared, "{arg} {value} is not a container port");
                    let local = if arg == "--listen" { port } else { metrics };
                    format!("127.0.0.1:{local}")
                }
                // The test stops it at once; e2e_rollout proves the delay.
                "--shutdown-delay" => "0".to_string(),
                _ => match mounts
                    .iter()
                    .find(|(at, _)| value.starts_with(&format!("{at}/")))
                {
                    Some((at, local)) => local.join(&value[at.len() + 1..]).display().to_string(),
                    None => value,
                },
            };
            args.push(arg);
            args.push(value);
        }
        let mut cmd = Command::new(&bin);
        cmd.args(&args).arg("--kubeconfig").arg(kubeconfig);
        for env in container["env"].as_array().into_iter().flatten() {
            let name = env["name"].as_str().context("env name")?;
            let value = match (&env["value"], &env["valueFrom"]["fieldRef"]["fieldPath"]) {
                (Value::String(v), _) => v.clone(),
                (_, path) if path == "metadata.namespace" => namespace.to_string(),
                other => bail!("env {name}: cannot resolve {other:?}"),
            };
            cmd.env(name, value);
        }
        let log = dir.path().join("webhook.log");
        let process = Process::spawn("oam-traefik-webhook (chart args)", cmd, &log)?;
        Ok(Self {
            process,
            port,
            metrics,
            _dir: dir,
        })
    }

    /// Polls `url` (path on the webhook port) with `client` until it answers 200.
    fn wait_ready(&mut self, client: &reqwest::blocking::Client, base: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if self.process.exited().is_some() {
                return Err(self.process.died());
            }
            let ready = client.get(format!("{base}/readyz")).send();
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("webhook not ready:\n{}", self.process.log_tail(30));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn assert_serves(&self, client: &reqwest::blocking::Client, base: &str) -> Result<()> {
        let healthz = client.get(format!("{base}/healthz")).send()?;
        assert!(
            healthz.status().is_success(),
            "healthz: {}",
            healthz.status()
        );
        let scraped = reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", self.metrics))?;
        assert!(
            scraped.status().is_success(),
            "metrics: {}",
            scraped.status()
        );
        Ok(())
    }
}

#[test]
fn the_webhook_binary_serves_with_the_deployments_arguments_and_the_rendered_policy() -> Result<()>
{
    let cp = control_plane();
    // cert-manager mode: the certificate files of the mounted Secret; a policy with every
    // kind of field set, which the binary refuses to start with unless it parses.
    let r = Rendered::new(&[
        "tls.mode=certManager",
        "policy.spec.allowedIssuers[0]=https://login.example.com/",
        "policy.spec.deniedScopes[0]=admin",
        "policy.spec.breakGlass.groups[0]=sre",
        "policy.spec.rules.OT010=deny",
    ])?;
    let serving = cp.ca().serving("oam-traefik-webhook", &["127.0.0.1"])?;
    let mut served = Served::start(&r, NS, cp.kubeconfig(), Some(&serving))?;
    let client = https_client(cp.ca_file(), None)?;
    let base = format!("https://127.0.0.1:{}", served.port);
    served.wait_ready(&client, &base)?;
    served.assert_serves(&client, &base)?;
    served.process.stop();
    Ok(())
}

fn base64_field(v: &Value) -> Result<Vec<u8>> {
    let text = v.as_str().context("not a string")?;
    Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
}

/// Self-signed mode end to end, as the chart's ServiceAccount with only the chart's RBAC:
/// the binary makes its Secret, writes the CA into both webhook configurations, and
/// serves a certificate for the Service's name that this CA verifies.
#[test]
fn self_signed_mode_makes_its_secret_and_ca_bundle_with_only_the_charts_rbac() -> Result<()> {
    let cp = control_plane();
    let ns = cp.namespace("chart-self-signed", &[])?;
    let r = Rendered::as_release("ss", &ns, &[])?;
    let fullname = "ss-oam-traefik";
    create(cp, &r.of_kinds(&RBAC_KINDS))?;
    // The real configurations, with their rules emptied: the patch of the caBundle is what
    // is under test, and nothing in this shared control plane should be sent to them.
    let mut hooks: Vec<Value> = r
        .of_kinds(&[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ])
        .into_iter()
        .cloned()
        .collect();
    for hook in &mut hooks {
        assert!(
            hook["webhooks"][0]["clientConfig"]
                .get("caBundle")
                .is_none()
        );
        hook["webhooks"][0]["rules"] = json!([]);
    }
    create(cp, &hooks.iter().collect::<Vec<_>>())?;

    let dir = tempfile::tempdir()?;
    let account = r.one("ServiceAccount")["metadata"]["name"]
        .as_str()
        .context("account")?
        .to_string();
    let kubeconfig = cp.service_account_kubeconfig(&ns, &account, dir.path())?;
    let mut served = Served::start(&r, &ns, &kubeconfig, None)?;

    // Both caBundles written, and equal.
    let deadline = Instant::now() + Duration::from_secs(90);
    let bundle = loop {
        let bundles: Vec<Value> = [
            "mutatingwebhookconfiguration",
            "validatingwebhookconfiguration",
        ]
        .iter()
        .map(|kind| {
            cp.kubectl()
                .get_json("default", kind, fullname)
                .map(|c| c["webhooks"][0]["clientConfig"]["caBundle"].clone())
        })
        .collect::<Result<_>>()?;
        if bundles.iter().all(Value::is_string) {
            assert_eq!(bundles[0], bundles[1]);
            break base64_field(&bundles[0])?;
        }
        if served.process.exited().is_some() {
            return Err(served.process.died());
        }
        if Instant::now() > deadline {
            bail!("caBundle never written:\n{}", served.process.log_tail(30));
        }
        thread::sleep(Duration::from_millis(300));
    };
    let secret = cp
        .kubectl()
        .get_json(&ns, "secret", &format!("{fullname}-tls"))?;
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        assert!(secret["data"][key].is_string(), "Secret has no {key}");
    }
    assert_eq!(base64_field(&secret["data"]["ca.crt"])?, bundle);

    // The API server would dial the Service's name and trust only the caBundle: so do we.
    let host = format!("{fullname}.{ns}.svc");
    let client = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&bundle)?)
        .resolve(&host, SocketAddr::from(([127, 0, 0, 1], served.port)))
        .timeout(Duration::from_secs(5))
        .build()?;
    let base = format!("https://{host}:{}", served.port);
    served.wait_ready(&client, &base)?;
    served.assert_serves(&client, &base)?;
    served.process.stop();
    for kind in [
        "mutatingwebhookconfiguration",
        "validatingwebhookconfiguration",
    ] {
        cp.kubectl().run(&["delete", kind, fullname])?.ok()?;
    }
    Ok(())
}

// ---------------------------------------------------------------- the identity trait's CUE

/// Evaluates the rendered TraitDefinition's template the way KubeVela does: one CUE
/// source with `context` and `parameter`, whose `outputs` are the objects to create.
/// Both cue versions (ours and KubeVela's) must give the same objects, or both refuse.
fn identity_outputs(context: &Value, parameter: &Value) -> Result<Result<Value, String>> {
    let r = Rendered::new(&[])?;
    let def = r.named("TraitDefinition", "identity");
    assert_eq!(def["apiVersion"], "core.oam.dev/v1beta1");
    let template = def["spec"]["schematic"]["cue"]["template"]
        .as_str()
        .context("no CUE template")?;
    let source = format!("{template}\ncontext: {context}\nparameter: {parameter}\n");
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("identity.cue");
    std::fs::write(&file, source)?;
    let path = file.display().to_string();
    let mut results = Vec::new();
    for cue in [&tools().cue, &tools().cue_kubevela] {
        // The whole value, not `-e outputs`: a parameter that breaks its schema must
        // fail the evaluation even where no output reads it.
        let out = run(cue, &["export", "--out", "json", &path])?;
        results.push(if out.status.success() {
            let all: Value = serde_json::from_slice(&out.stdout)?;
            Ok(all.get("outputs").cloned().unwrap_or_else(|| json!({})))
        } else {
            Err(text(&out.stderr))
        });
    }
    let kubevela = results.pop().context("two results")?;
    let ours = results.pop().context("two results")?;
    match (&ours, &kubevela) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "cue and KubeVela's cue disagree"),
        (Err(_), Err(_)) => {}
        _ => panic!("cue gave {ours:?}, KubeVela's cue gave {kubevela:?}"),
    }
    Ok(ours)
}

#[test]
fn identity_trait_outputs_the_forward_auth_middleware_traefik_accepts() -> Result<()> {
    let cp = control_plane();
    let ns = cp.namespace("identity-trait", &[])?;
    let context = json!({"appName": "shop", "name": "orders", "namespace": ns});
    let parameter = json!({
        "version": "v1",
        "provider": "oidc",
        "issuer": "https://login.example.com/realms/prod",
        "audiences": ["orders"],
        "scopes": ["orders:read", "orders:write"],
        "groups": ["team orders"],
    });
    let outputs = identity_outputs(&context, &parameter)?.map_err(anyhow::Error::msg)?;
    let objects = outputs.as_object().context("outputs")?;
    assert_eq!(objects.len(), 1, "{outputs}");
    let mw = objects.values().next().context("one output")?;
    assert_eq!(mw["apiVersion"], "traefik.io/v1alpha1");
    assert_eq!(mw["kind"], "Middleware");
    assert_eq!(mw["metadata"]["name"], "shop-orders-identity");
    assert_eq!(mw["metadata"]["namespace"], ns.as_str());

    let fa = &mw["spec"]["forwardAuth"];
    let address = reqwest::Url::parse(fa["address"].as_str().context("address")?)?;
    assert_eq!(
        format!(
            "{}://{}{}",
            address.scheme(),
            address.authority(),
            address.path()
        ),
        AUTH
    );
    let query: Vec<(String, String)> = address.query_pairs().into_owned().collect();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        query,
        vec![
            pair("provider", "oidc"),
            pair("issuer", "https://login.example.com/realms/prod"),
            pair("audience", "orders"),
            pair("scope", "orders:read"),
            pair("scope", "orders:write"),
            pair("group", "team orders"),
        ]
    );
    assert_eq!(fa["trustForwardHeader"], false);
    assert_eq!(
        fa["authResponseHeaders"],
        json!([
            "X-Forwarded-User",
            "X-Forwarded-Email",
            "X-Forwarded-Groups"
        ])
    );

    // Traefik's own CRD schema accepts it, and the API server stores it.
    dry_run(cp, &[mw])?;
    cp.kubectl().apply(&ns, &mw.to_string())?.ok()?;
    let stored = cp
        .kubectl()
        .get_json(&ns, "middlewares.traefik.io", "shop-orders-identity")?;
    assert_eq!(stored["spec"]["forwardAuth"]["address"], fa["address"]);
    Ok(())
}

#[test]
fn identity_trait_outputs_nothing_for_public_or_an_existing_middleware() -> Result<()> {
    let context = json!({"appName": "shop", "name": "orders", "namespace": "shop"});
    for parameter in [
        json!({"version": "v1", "provider": "public", "reason": "status page"}),
        json!({"version": "v1", "provider": "oidc", "issuer": "https://login.example.com/", "audiences": ["orders"], "middleware": "orders-sso"}),
    ] {
        let outputs = identity_outputs(&context, &parameter)?.map_err(anyhow::Error::msg)?;
        assert_eq!(outputs, json!({}), "{parameter}");
    }
    Ok(())
}

#[test]
fn identity_trait_refuses_a_wildcard_scope_an_http_issuer_and_an_unknown_provider() -> Result<()> {
    let context = json!({"appName": "shop", "name": "orders", "namespace": "shop"});
    for (parameter, names) in [
        (
            json!({"provider": "oidc", "issuer": "https://login.example.com/", "scopes": ["*"]}),
            "scopes",
        ),
        (
            json!({"provider": "oidc", "issuer": "http://login.example.com/"}),
            "issuer",
        ),
        (json!({"provider": "saml"}), "provider"),
        (json!({"provider": "oidc", "middleware": 5}), "middleware"),
        (json!({"version": "v2", "provider": "oidc"}), "version"),
    ] {
        let err = identity_outputs(&context, &parameter)?.expect_err("must not evaluate");
        assert!(err.contains(names), "{parameter}: {err}");
    }
    Ok(())
}

// ---------------------------------------------------------------- the verifier (oam-traefik-auth)

#[test]
fn verifier_runs_two_restricted_replicas_behind_its_own_service_and_budget() -> Result<()> {
    let r = Rendered::new(&[
        "auth.leeway=30",
        "auth.groupsClaim=roles",
        "auth.issuerCA.configMapName=corp-ca",
    ])?;
    let deployment = r.auth("Deployment");
    assert_eq!(deployment["metadata"]["name"], format!("{FULLNAME}-auth"));
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    let c = &pod["containers"][0];
    assert_eq!(c["command"], json!(["/oam-traefik-auth"]));
    assert_eq!(
        c["image"],
        r.deployment()["spec"]["template"]["spec"]["containers"][0]["image"]
    );
    let args = strings(&c["args"]);
    assert_eq!(flag(&args, "--listen"), Some("0.0.0.0:8080"));
    assert_eq!(flag(&args, "--metrics-listen"), Some("0.0.0.0:9091"));
    assert_eq!(
        flag(&args, "--policy"),
        Some("/etc/oam-traefik/policy.yaml")
    );
    assert_eq!(flag(&args, "--leeway"), Some("30"));
    assert_eq!(flag(&args, "--groups-claim"), Some("roles"));
    assert_eq!(flag(&args, "--shutdown-delay"), Some("5"));
    assert_eq!(
        flag(&args, "--ca-file"),
        Some("/etc/oam-traefik/issuer-ca/ca.crt")
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    // It reads the webhook's policy ConfigMap: one policy for both.
    let volumes = pod["volumes"].as_array().context("volumes")?;
    assert!(
        volumes
            .iter()
            .any(|v| v["configMap"]["name"] == format!("{FULLNAME}-policy"))
    );
    // A directory mount, so that an edited ConfigMap reaches the verifier's poll.
    let mounts = c["volumeMounts"].as_array().context("volumeMounts")?;
    assert!(
        mounts
            .iter()
            .any(|m| m["mountPath"] == "/etc/oam-traefik" && m.get("subPath").is_none())
    );

    // Its Service and budget select its pods, and the webhook's select none of them.
    let auth_pod = &deployment["spec"]["template"]["metadata"]["labels"];
    let webhook_pod = &r.deployment()["spec"]["template"]["metadata"]["labels"];
    let selects = |selector: &Value, pod: &Value| {
        selector
            .as_object()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| &pod[k] == v))
    };
    let (svc, pdb) = (r.auth("Service"), r.auth("PodDisruptionBudget"));
    assert!(selects(&svc["spec"]["selector"], auth_pod));
    assert!(!selects(&svc["spec"]["selector"], webhook_pod));
    assert!(selects(&pdb["spec"]["selector"]["matchLabels"], auth_pod));
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert!(!selects(&r.one("Service")["spec"]["selector"], auth_pod));
    assert!(!selects(
        &r.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        auth_pod
    ));
    let ports: Vec<(&Value, &Value)> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (&p["name"], &p["port"]))
        .collect();
    assert_eq!(
        ports,
        vec![
            (&json!("http"), &json!(8080)),
            (&json!("metrics"), &json!(9091))
        ]
    );

    // NetworkPolicy and ServiceMonitor follow the webhook's switches.
    let r = Rendered::new(&[
        "networkPolicy.enabled=true",
        "networkPolicy.authFrom[0].namespaceSelector.matchLabels.app=traefik",
        "metrics.serviceMonitor.enabled=true",
    ])?;
    let np = r.auth("NetworkPolicy");
    assert_eq!(np["spec"]["ingress"][0]["ports"][0]["port"], "http");
    assert_eq!(
        np["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["app"],
        "traefik"
    );
    assert_eq!(
        r.auth("ServiceMonitor")["spec"]["endpoints"][0]["port"],
        "metrics"
    );

    // The schema refuses unknown keys under auth.
    let out = helm_template(&["auth.replicas=3"])?;
    assert!(!out.status.success(), "auth.replicas was accepted");
    assert!(
        text(&out.stderr).contains("replicas"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[test]
fn the_cue_forward_auth_query_is_the_rule_the_verifier_parses() -> Result<()> {
    use oam_traefik_policy::IdentityRule;
    use oam_traefik_policy::forward_auth::{self, RuleRequest};
    let context = json!({"appName": "shop", "name": "orders", "namespace": "shop"});
    for parameter in [
        json!({
            "version": "v1",
            "provider": "oidc",
            "issuer": "https://login.example.com/realms/prod",
            "audiences": ["orders", "orders api"],
            "scopes": ["orders:read", "a&b=c", "100%+"],
            "groups": ["team orders", "ünïcode/ø", "x?y#z"],
        }),
        json!({"provider": "jwt", "issuer": "https://idp.example", "audiences": ["a"]}),
        json!({"provider": "basic"}),
    ] {
        let outputs = identity_outputs(&context, &parameter)?.map_err(anyhow::Error::msg)?;
        let address = outputs["identity-middleware"]["spec"]["forwardAuth"]["address"]
            .as_str()
            .context("no forwardAuth address")?;
        let query = address
            .strip_prefix(&format!("{AUTH}?"))
            .with_context(|| format!("{address} is not {AUTH}?<query>"))?;
        let rule = IdentityRule::from_properties(Some(&parameter))?;
        let parsed = forward_auth::parse(query).with_context(|| format!("parsing {query}"))?;
        assert_eq!(Some(parsed), RuleRequest::from_rule(&rule), "{parameter}");
        // Byte for byte what the contract module writes.
        assert_eq!(
            Some(query.to_string()),
            forward_auth::query(&rule),
            "{parameter}"
        );
    }
    Ok(())
}

#[test]
fn the_verifier_binary_serves_with_the_deployments_arguments_and_the_rendered_policy() -> Result<()>
{
    let bin =
        oam_traefik_e2e::binaries::workspace_binary("oam-traefik-auth", "OAM_TRAEFIK_AUTH_BIN")?;
    for (sets, ready) in [
        (&[][..], false),
        (
            &["policy.spec.allowedIssuers[0]=https://127.0.0.1:1/realms/"][..],
            true,
        ),
    ] {
        let r = Rendered::new(sets)?;
        let c = &r.auth("Deployment")["spec"]["template"]["spec"]["containers"][0];
        let dir = tempfile::tempdir()?;
        let policy = r
            .all("ConfigMap")
            .into_iter()
            .find(|c| c["data"]["policy.yaml"].is_string())
            .context("no policy ConfigMap")?;
        std::fs::write(
            dir.path().join("policy.yaml"),
            policy["data"]["policy.yaml"].as_str().context("policy")?,
        )?;
        let (port, metrics) = (free_port()?, free_port()?);
        let mut args = strings(&c["args"]);
        for (i, arg) in args.clone().iter().enumerate() {
            let value = match arg.as_str() {
                "--listen" => format!("127.0.0.1:{port}"),
                "--metrics-listen" => format!("127.0.0.1:{metrics}"),
                "--policy" => dir.path().join("policy.yaml").display().to_string(),
                // The test stops it at once; the pod waits for its endpoints to update.
                "--shutdown-delay" => "0".to_string(),
                _ => continue,
            };
            args[i + 1] = value;
        }
        let mut cmd = Command::new(&bin);
        cmd.args(&args);
        let mut process = Process::spawn(
            "oam-traefik-auth (chart args)",
            cmd,
            &dir.path().join("auth.log"),
        )?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let healthz = loop {
            if let Ok(r) = reqwest::blocking::get(format!("{base}/healthz")) {
                break r;
            }
            if process.exited().is_some() {
                return Err(process.died());
            }
            assert!(Instant::now() < deadline, "never served");
            thread::sleep(Duration::from_millis(100));
        };
        assert!(healthz.status().is_success());
        let readyz = reqwest::blocking::get(format!("{base}/readyz"))?;
        if ready {
            // The allowed entry is a prefix: discovery cannot reach it here, so it is not
            // ready yet; what matters is that it no longer says it trusts no issuer.
            assert!(!readyz.text()?.contains("trusts no issuer"), "{sets:?}");
        } else {
            assert_eq!(readyz.status(), 503);
            assert!(readyz.text()?.contains("trusts no issuer"), "{sets:?}");
            let verify = reqwest::blocking::get(format!(
                "{base}/verify?provider=oidc&issuer=https%3A%2F%2Flogin.example.com&audience=a"
            ))?;
            assert_eq!(verify.status(), 401);
            assert!(verify.text()?.contains("policy.spec.allowedIssuers"));
        }
        let scraped = reqwest::blocking::get(format!("http://127.0.0.1:{metrics}/metrics"))?;
        assert!(scraped.status().is_success());
        process.stop();
    }
    Ok(())
}

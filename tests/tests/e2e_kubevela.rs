//! KubeVela for real: vela-core v1.10.6 (built from the Go module proxy) reconciles the
//! Applications that `kubectl apply` sends through the real oam-traefik webhook, on the
//! test's real API server. Nothing is written "as KubeVela would": the Ingress, the
//! identity Middleware and the policy's record come from the controller, as its
//! ServiceAccount, and the webhook admits them as a trusted controller's writes. One
//! controller and one webhook serve every test of this binary; each test has its own
//! namespace.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use oam_traefik_e2e::binaries::workspace_binary;
use oam_traefik_e2e::kubevela::{CONTROLLER_USER, VELA_SYSTEM, VelaCore};
use oam_traefik_e2e::{ControlPlane, Output, Webhook};
use serde_json::Value;

const MIDDLEWARES: &str = "traefik.ingress.kubernetes.io/router.middlewares";
const POLICY: &str = r#"
apiVersion: oam-traefik.io/v1alpha1
kind: AdmissionPolicy
spec:
  allowedIssuers: ["https://login.example.com/"]
"#;
/// How long vela-core may take to render an app on a loaded 2-core machine.
const RENDER_TIMEOUT: Duration = Duration::from_secs(120);

struct Suite {
    cp: &'static ControlPlane,
    webhook: Webhook,
    vela: VelaCore,
}

/// The webhook and vela-core, started once; a failure to start is every test's failure,
/// without a second try.
fn suite() -> &'static Suite {
    static SUITE: OnceLock<Result<Suite, String>> = OnceLock::new();
    let started = SUITE.get_or_init(|| {
        let cp = ControlPlane::shared();
        let began = Instant::now();
        let webhook = Webhook::start(cp, Some(POLICY)).map_err(|e| format!("webhook: {e:#}"))?;
        webhook
            .register(cp)
            .map_err(|e| format!("registering the webhook: {e:#}"))?;
        let vela = VelaCore::start(cp).map_err(|e| format!("vela-core: {e:#}"))?;
        eprintln!(
            "webhook and vela-core ready in {:.1} s",
            began.elapsed().as_secs_f64()
        );
        Ok(Suite { cp, webhook, vela })
    });
    match started {
        Ok(suite) => suite,
        Err(e) => panic!("the suite did not start: {e}"),
    }
}

fn apply(ns: &str, manifest: &str) -> Output {
    suite()
        .cp
        .kubectl()
        .apply(ns, manifest)
        .expect("kubectl runs")
}

/// The object, or `None` while it does not exist.
fn get(ns: &str, resource: &str, name: &str) -> Option<Value> {
    suite()
        .cp
        .kubectl()
        .find_json(ns, resource, name)
        .expect("kubectl get")
}

/// Polls until `probe` gives a value; fails with vela-core's log after the timeout.
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + RENDER_TIMEOUT;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {RENDER_TIMEOUT:?}; vela-core's log ends:\n{}",
            suite().vela.log_tail(40)
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// The object once vela-core has created it.
fn rendered(ns: &str, resource: &str, name: &str) -> Value {
    wait_for(&format!("{resource} {ns}/{name}"), || {
        get(ns, resource, name)
    })
}

/// `kubectl oam-traefik routes -n <ns> -o json` through the real kubectl, which finds the
/// plugin on PATH.
fn routes(ns: &str) -> Vec<Value> {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        workspace_binary("kubectl-oam_traefik", "KUBECTL_OAM_TRAEFIK_BIN")
            .expect("the plugin builds")
    });
    let dir = bin.parent().expect("bin dir").to_path_buf();
    let path = std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let kubectl = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());
    let out = Command::new(kubectl)
        .args(["oam-traefik", "routes", "-n", ns, "-o", "json"])
        .env("PATH", &path)
        .env("KUBECONFIG", suite().cp.kubeconfig())
        .env("NO_COLOR", "1")
        .output()
        .expect("kubectl oam-traefik");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["items"].as_array().expect("items").clone()
}

/// Whether the webhook logged an allowed, non-dry-run write of `kind` `ns/name` by vela-core.
fn admitted_from_vela_core(kind: &str, ns: &str, name: &str) -> bool {
    suite()
        .webhook
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|d| {
            d["kind"] == kind
                && d["namespace"] == ns
                && d["name"] == name
                && d["user"] == CONTROLLER_USER
                && d["allowed"] == true
                && d["dry_run"] == false
        })
}

/// The trait status vela-core reports for `component`'s trait `type_`.
fn trait_status(ns: &str, app: &str, component: &str, type_: &str) -> Option<Value> {
    let app = get(ns, "applications.core.oam.dev", app)?;
    app["status"]["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == component)?["traits"]
        .as_array()?
        .iter()
        .find(|t| t["type"] == type_ && t["message"].as_str().is_some_and(|m| !m.is_empty()))
        .cloned()
}

fn condition<'a>(app: &'a Value, type_: &str) -> Option<&'a Value> {
    app["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

const TRAIT_APP: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: orders}
spec:
  components:
    - name: api
      type: webservice
      properties: {image: "registry.invalid/orders:1.4.2", port: 8080}
      traits:
        - type: gateway
          properties: {domain: orders.example.com, http: {"/": 8080}, class: traefik}
        - type: identity
          properties:
            version: v1
            provider: oidc
            issuer: https://login.example.com/realms/prod
            audiences: [orders]
            scopes: ["orders:read"]
            groups: [team-orders]
"#;

#[test]
fn vela_core_renders_the_protected_ingress_and_the_identity_middleware() {
    let s = suite();
    let ns = s.cp.namespace("vela-trait", &[]).expect("namespace");
    apply(&ns, TRAIT_APP).ok().expect("the app is admitted");

    // The mutating webhook put the reference where KubeVela's gateway trait carries it.
    let app = get(&ns, "applications.core.oam.dev", "orders").expect("stored");
    let reference = format!("{ns}-orders-api-identity@kubernetescrd");
    assert_eq!(
        app["spec"]["components"][0]["traits"][0]["properties"]["annotations"][MIDDLEWARES],
        reference.as_str()
    );

    // vela-core renders both; the webhook admitted them as its trusted controller's writes.
    let mw = rendered(&ns, "middlewares.traefik.io", "orders-api-identity");
    let address = mw["spec"]["forwardAuth"]["address"]
        .as_str()
        .expect("address");
    assert!(
        address.contains("provider=oidc")
            && address.contains("audience=orders")
            && address.contains("scope=orders%3Aread"),
        "{address}"
    );
    let ingress = rendered(&ns, "ingresses.networking.k8s.io", "api");
    assert_eq!(
        ingress["metadata"]["annotations"][MIDDLEWARES],
        reference.as_str()
    );
    assert_eq!(ingress["metadata"]["labels"]["app.oam.dev/name"], "orders");
    for (kind, name) in [("Ingress", "api"), ("Middleware", "orders-api-identity")] {
        // The line may be written just after the response went out.
        wait_for(
            &format!("the webhook's decision on {kind} {ns}/{name}"),
            || admitted_from_vela_core(kind, &ns, name).then_some(()),
        );
    }

    // The plugin, through the real kubectl, shows the route protected by that Middleware.
    let all = routes(&ns);
    let route = all
        .iter()
        .find(|r| r["url"] == "http://orders.example.com")
        .unwrap_or_else(|| panic!("no route in {all:#?}"));
    assert_eq!(route["status"], "protected", "{route:#}");
    assert_eq!(route["app"], "orders");
    assert_eq!(
        route["middlewares"][0]["name"],
        format!("{ns}/orders-api-identity")
    );

    // `vela status` (the app's status) names the Middleware that protects the component.
    let status = wait_for("the identity trait's status", || {
        trait_status(&ns, "orders", "api", "identity")
    });
    assert_eq!(
        status["message"],
        format!("routes protected by the Middleware {ns}/orders-api-identity (present)"),
        "{status:#}"
    );
    assert_eq!(status["healthy"], true, "{status:#}");
}

const POLICY_APP: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: shop}
spec:
  components:
    - name: web
      type: webservice
      properties: {image: "registry.invalid/shop:2.0.0", port: 80}
      traits:
        - type: gateway
          properties: {domain: shop.example.com, http: {"/": 80}, class: traefik}
  policies:
    - name: sso
      type: identity
      properties:
        version: v1
        provider: oidc
        issuer: https://login.example.com/realms/prod
        audiences: [shop]
"#;

#[test]
fn an_app_level_identity_policy_protects_every_component_through_vela_core() {
    let s = suite();
    let ns = s.cp.namespace("vela-policy", &[]).expect("namespace");
    apply(&ns, POLICY_APP).ok().expect("the app is admitted");

    // The stored app carries the policy's rule on the component, for the trait to render.
    let app = get(&ns, "applications.core.oam.dev", "shop").expect("stored");
    let copied = &app["spec"]["components"][0]["traits"][1];
    assert_eq!(copied["type"], "identity", "{app:#}");
    assert_eq!(copied["properties"]["fromPolicy"], "sso");
    assert_eq!(copied["properties"]["audiences"][0], "shop");

    let mw = rendered(&ns, "middlewares.traefik.io", "shop-web-identity");
    assert!(
        mw["spec"]["forwardAuth"]["address"]
            .as_str()
            .is_some_and(|a| a.contains("audience=shop")),
        "{mw:#}"
    );
    let ingress = rendered(&ns, "ingresses.networking.k8s.io", "web");
    assert_eq!(
        ingress["metadata"]["annotations"][MIDDLEWARES],
        format!("{ns}-shop-web-identity@kubernetescrd")
    );
    // KubeVela parsed and rendered the policy itself: its record of the rule is there.
    let record = rendered(&ns, "configmaps", "shop-sso-identity-policy");
    let rule: Value =
        serde_json::from_str(record["data"]["rule.json"].as_str().expect("rule.json"))
            .expect("JSON");
    assert_eq!(rule["issuer"], "https://login.example.com/realms/prod");
    let app = get(&ns, "applications.core.oam.dev", "shop").expect("stored");
    assert_eq!(
        condition(&app, "Parsed").map(|c| c["status"].clone()),
        Some(Value::from("True")),
        "{:#}",
        app["status"]
    );
    let all = routes(&ns);
    let route = all
        .iter()
        .find(|r| r["url"] == "http://shop.example.com")
        .unwrap_or_else(|| panic!("no route in {all:#?}"));
    assert_eq!(route["status"], "protected", "{route:#}");
}

#[test]
fn apps_that_would_fail_to_render_are_refused_when_applied() {
    let s = suite();
    let ns = s.cp.namespace("vela-refused", &[]).expect("namespace");
    let cases = [
        (
            "no identity rule",
            "OT001",
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: open}
spec:
  components:
    - name: web
      type: webservice
      properties: {image: "registry.invalid/web:1", port: 80}
      traits:
        - type: gateway
          properties: {domain: open.example.com, http: {"/": 80}, class: traefik}
"#,
        ),
        (
            "KubeVela's ingress-1-20 trait, no identity rule",
            "OT001",
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: legacy}
spec:
  components:
    - name: web
      type: webservice
      properties: {image: "registry.invalid/web:1", port: 80}
      traits:
        - type: ingress-1-20
          properties: {domain: legacy.example.com, http: {"/": 80}, class: traefik}
"#,
        ),
        (
            "a gateway annotation naming a Middleware that does not exist",
            "OT004",
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: typo}
spec:
  components:
    - name: web
      type: webservice
      properties: {image: "registry.invalid/web:1", port: 80}
      traits:
        - type: gateway
          properties:
            domain: typo.example.com
            http: {"/": 80}
            class: traefik
            annotations: {"traefik.ingress.kubernetes.io/router.middlewares": "vela-refused-gzipp@kubernetescrd"}
        - type: identity
          properties: {version: v1, provider: oidc, issuer: "https://login.example.com/realms/prod", audiences: [web]}
"#,
        ),
    ];
    for (what, rule, manifest) in cases {
        let out = apply(&ns, manifest);
        assert!(!out.success(), "{what}: admitted\n{}", out.stdout);
        assert!(out.stderr.contains(rule), "{what}: {}", out.stderr);
    }
    // Nothing was stored, so vela-core had nothing to render.
    let apps =
        s.cp.kubectl()
            .run(&["get", "-n", &ns, "applications.core.oam.dev", "-o", "name"])
            .expect("kubectl runs")
            .ok()
            .expect("kubectl get");
    assert_eq!(apps.stdout.trim(), "");
    let ingresses =
        s.cp.kubectl()
            .run(&["get", "-n", &ns, "ingresses", "-o", "name"])
            .expect("kubectl runs")
            .ok()
            .expect("kubectl get");
    assert_eq!(ingresses.stdout.trim(), "");
}

#[test]
fn the_ingress_1_20_trait_with_an_identity_rule_renders_a_protected_ingress() {
    let s = suite();
    let ns = s.cp.namespace("vela-ingress-1-20", &[]).expect("namespace");
    apply(
        &ns,
        r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: legacy}
spec:
  components:
    - name: web
      type: webservice
      properties: {image: "registry.invalid/web:1", port: 80}
      traits:
        - type: ingress-1-20
          properties: {domain: legacy.example.com, http: {"/": 80}, class: traefik}
        - type: identity
          properties: {version: v1, provider: oidc, issuer: "https://login.example.com/realms/prod", audiences: [legacy]}
"#,
    )
    .ok()
    .expect("the app is admitted");
    // The trait has no annotations to carry the reference: the webhook attaches it to the
    // Ingress that vela-core renders, before vela-core's dry run and its write.
    let ingress = rendered(&ns, "ingresses.networking.k8s.io", "web");
    assert_eq!(
        ingress["metadata"]["annotations"][MIDDLEWARES],
        format!("{ns}-legacy-web-identity@kubernetescrd")
    );
    rendered(&ns, "middlewares.traefik.io", "legacy-web-identity");
    let all = routes(&ns);
    assert!(
        all.iter()
            .any(|r| r["url"] == "http://legacy.example.com" && r["status"] == "protected"),
        "{all:#?}"
    );
}

/// The definitions sync in KubeVela: their parameter schema generates (the wildcard-scope
/// constraint has a JSON-schema form) and is stored where `vela show` and VelaUX read it.
#[test]
fn the_identity_definitions_sync_with_their_parameter_schema() {
    suite();
    for (resource, configmap) in [
        ("traitdefinitions.core.oam.dev", "trait-schema-identity"),
        ("policydefinitions.core.oam.dev", "policy-schema-identity"),
    ] {
        let def = wait_for(&format!("{resource} identity synced"), || {
            let def = get(VELA_SYSTEM, resource, "identity")?;
            (def["status"]["configMapRef"] == configmap).then_some(def)
        });
        let synced = condition(&def, "Synced").unwrap_or_else(|| panic!("{def:#}"));
        assert_eq!(synced["status"], "True", "{resource}: {synced:#}");
        let cm = get(VELA_SYSTEM, "configmaps", configmap).expect("the schema ConfigMap");
        let schema: Value = serde_json::from_str(
            cm["data"]["openapi-v3-json-schema"]
                .as_str()
                .unwrap_or_else(|| panic!("{cm:#}")),
        )
        .expect("JSON schema");
        let scopes = &schema["properties"]["scopes"];
        assert_eq!(
            scopes["items"]["not"]["pattern"], "^[*]$",
            "{resource}: {scopes:#}"
        );
        let providers = schema["properties"]["provider"]["enum"]
            .as_array()
            .expect("provider enum");
        assert_eq!(providers.len(), 5, "{schema:#}");
    }
}

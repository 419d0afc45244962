//! Admission through a real kube-apiserver: the real `oam-traefik-webhook`, registered
//! with the chart's webhook configurations, judged by what `kubectl` prints and what the
//! API server stores. One control plane and one webhook serve every test; each test
//! works in its own namespace.

use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use oam_traefik_e2e::kubevela::{CONTROLLER_BINDING, CONTROLLER_USER};
use oam_traefik_e2e::{ControlPlane, Kubectl, Output, Webhook};
use serde_json::Value;

const MIDDLEWARES: &str = "traefik.ingress.kubernetes.io/router.middlewares";
const BREAK_GLASS: &str = "oam-traefik.io/break-glass";

/// The policy of the shared webhook: issuers under login.example.com, and one group
/// that may break glass.
const POLICY: &str = r#"
apiVersion: oam-traefik.io/v1alpha1
kind: AdmissionPolicy
spec:
  allowedIssuers: ["https://login.example.com/"]
  breakGlass:
    groups: ["platform-admins"]
"#;

/// How long the webhook's watch caches may take to see an object just written.
const CACHE_LAG: Duration = Duration::from_secs(15);

struct Suite {
    cp: &'static ControlPlane,
    webhook: Mutex<Webhook>,
}

fn suite() -> &'static Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    SUITE.get_or_init(|| {
        let cp = ControlPlane::shared();
        let began = Instant::now();
        // KubeVela's controller, whose writes are the only proof that a route was rendered
        // for an app: the tests write "rendered" routes as it, by impersonation.
        let out = cp
            .kubectl()
            .run_stdin(&["apply", "-f", "-"], CONTROLLER_BINDING)
            .expect("kubectl runs");
        assert!(out.success(), "{}{}", out.stdout, out.stderr);
        let webhook = Webhook::start(cp, Some(POLICY)).expect("the webhook starts");
        webhook
            .register(cp)
            .expect("the webhook configurations apply");
        eprintln!(
            "webhook built, ready and registered in {:.1} s",
            began.elapsed().as_secs_f64()
        );
        Suite {
            cp,
            webhook: Mutex::new(webhook),
        }
    })
}

/// Tests share the webhook; the one that stops it must run alone.
static WEBHOOK_UP: RwLock<()> = RwLock::new(());

fn webhook_up() -> RwLockReadGuard<'static, ()> {
    WEBHOOK_UP.read().unwrap_or_else(|e| e.into_inner())
}

fn webhook_exclusive() -> RwLockWriteGuard<'static, ()> {
    WEBHOOK_UP.write().unwrap_or_else(|e| e.into_inner())
}

/// A fresh namespace for one test, and kubectl.
fn setup(namespace: &str) -> (&'static Suite, &'static Kubectl, String) {
    let s = suite();
    let ns = s.cp.namespace(namespace, &[]).expect("namespace");
    (s, s.cp.kubectl(), ns)
}

/// Retries `attempt` until it returns `Some`, for as long as the webhook's caches may lag.
fn eventually<T>(what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + CACHE_LAG;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => panic!("{what}: gave up; last: {last}"),
            Err(_) => thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn printed(out: &Output) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

fn assert_denied(out: &Output, needles: &[&str]) {
    let text = printed(out);
    // Shown with --nocapture: what the user reads.
    eprintln!("kubectl printed:\n{text}");
    assert!(
        !out.success(),
        "expected a denial, kubectl printed:\n{text}"
    );
    assert!(
        text.contains("denied the request"),
        "not an admission denial:\n{text}"
    );
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

fn assert_ok(out: &Output, expected_stdout: &str) {
    assert!(out.success(), "kubectl failed:\n{}", printed(out));
    assert_eq!(out.stdout.trim(), expected_stdout, "stderr: {}", out.stderr);
}

fn apply_ok(k: &Kubectl, ns: &str, manifest: &str) -> Output {
    let out = k.apply(ns, manifest).expect("kubectl runs");
    assert!(out.success(), "apply failed:\n{}", printed(&out));
    out
}

/// Applies until admitted: the object depends on another that the webhook's caches
/// may not have seen yet (a user would see the same refusal and retry).
fn apply_once_cached(k: &Kubectl, ns: &str, manifest: &str) -> Output {
    eventually("apply", || {
        let out = k.apply(ns, manifest).map_err(|e| e.to_string())?;
        if out.success() {
            Ok(out)
        } else {
            Err(printed(&out))
        }
    })
}

/// Applies as KubeVela's controller until admitted (the webhook's caches may lag).
fn apply_as_vela_core(k: &Kubectl, ns: &str, manifest: &str) -> Output {
    eventually("apply as vela-core", || {
        let out = k
            .run_stdin(
                &["apply", "-n", ns, "-f", "-", "--as", CONTROLLER_USER],
                manifest,
            )
            .map_err(|e| e.to_string())?;
        if out.success() {
            Ok(out)
        } else {
            Err(printed(&out))
        }
    })
}

fn get(k: &Kubectl, ns: &str, resource: &str, name: &str) -> Value {
    k.get_json(ns, resource, name).expect("stored object")
}

fn not_stored(k: &Kubectl, ns: &str, resource: &str, name: &str) -> bool {
    let out = k
        .run(&["get", "-n", ns, resource, name])
        .expect("kubectl runs");
    !out.success() && out.stderr.contains("NotFound")
}

/// An Application whose component `web` exposes `host` through the gateway trait,
/// with `identity` (YAML trait properties, indented 10) or without an identity rule.
fn app(name: &str, host: &str, identity: Option<&str>, annotations: &str) -> String {
    let identity = identity
        .map(|props| format!("        - type: identity\n          properties:\n{props}"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: {name}
  annotations: {{{annotations}}}
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: ghcr.io/example/web:1.0
      traits:
        - type: gateway
          properties:
            domain: {host}
            class: traefik
            http:
              "/": 8080
{identity}"#
    )
}

/// A valid identity rule under the test policy.
const IDENTITY: &str = "            version: v1
            provider: oidc
            issuer: https://login.example.com/realms/prod
            audiences: [web]
            scopes: [web:read]
            groups: [team-web]
";

fn middleware_annotation(stored: &Value) -> &Value {
    &stored["spec"]["components"][0]["traits"][0]["properties"]["annotations"][MIDDLEWARES]
}

// 1.
#[test]
fn app_without_identity_is_refused_naming_component_rule_and_fix() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s01-no-identity");
    let out = k
        .apply(&ns, &app("shop", "shop.example.com", None, ""))
        .expect("kubectl runs");
    assert_denied(
        &out,
        &[
            "OT001",
            "component \"web\"",
            "declares no identity rule",
            "fix: add a trait `type: identity`",
        ],
    );
    assert!(not_stored(k, &ns, "application", "shop"));
}

// 2 and 3.
#[test]
fn app_with_identity_gets_the_middleware_reference_and_reapplying_changes_nothing() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s02-identity");
    let manifest = app("shop", "shop.example.com", Some(IDENTITY), "");
    let out = k.apply(&ns, &manifest).expect("kubectl runs");
    assert_ok(&out, "application.core.oam.dev/shop created");

    let stored = get(k, &ns, "application", "shop");
    let reference = format!("{ns}-shop-web-identity@kubernetescrd");
    assert_eq!(
        middleware_annotation(&stored),
        &Value::from(reference.clone())
    );
    let version = stored["metadata"]["resourceVersion"].clone();

    // What a user does: apply the same file again. kubectl prints "configured": for a
    // custom resource it sends a JSON merge patch, in which `components` is replaced
    // whole since the stored list (with the injected reference) differs from the file.
    // The webhook injects the same reference again, so the API server stores nothing.
    let again = k.apply(&ns, &manifest).expect("kubectl runs");
    assert!(again.success(), "second apply failed:\n{}", printed(&again));
    let after_apply = get(k, &ns, "application", "shop");
    assert_eq!(after_apply["metadata"]["resourceVersion"], version);
    // The stored object, PUT back as it is (raw, so kubectl adds no annotation of its
    // own), goes through the webhook with the reference already there: a second pass
    // must patch nothing.
    let uri = format!("/apis/core.oam.dev/v1beta1/namespaces/{ns}/applications/shop");
    let replace = k
        .run_stdin(&["replace", "--raw", &uri, "-f", "-"], &stored.to_string())
        .expect("kubectl runs");
    assert!(replace.success(), "replace failed:\n{}", printed(&replace));

    let after = get(k, &ns, "application", "shop");
    assert_eq!(middleware_annotation(&after), &Value::from(reference));
    assert_eq!(after["metadata"]["resourceVersion"], version);
}

// 4.
#[test]
fn ingress_route_needs_an_auth_middleware() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s04-ingressroute");
    let route = |middlewares: &str| {
        format!(
            r#"apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: api
spec:
  entryPoints: [websecure]
  routes:
    - match: Host(`api.example.com`)
      kind: Rule
      services:
        - name: api
          port: 8080
{middlewares}"#
        )
    };
    let out = k.apply(&ns, &route("")).expect("kubectl runs");
    assert_denied(
        &out,
        &["OT006", &format!("{ns}/api"), "nobody authenticates it"],
    );
    assert!(not_stored(k, &ns, "ingressroute", "api"));

    apply_ok(k, &ns, &forward_auth("sso"));
    let out = apply_once_cached(k, &ns, &route("      middlewares:\n        - name: sso\n"));
    assert_eq!(out.stdout.trim(), "ingressroute.traefik.io/api created");
    let stored = get(k, &ns, "ingressroute", "api");
    assert_eq!(stored["spec"]["routes"][0]["middlewares"][0]["name"], "sso");
}

fn forward_auth(name: &str) -> String {
    format!(
        r#"apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: {name}
spec:
  forwardAuth:
    address: http://auth.platform.svc:4180/verify
"#
    )
}

/// Route-object labels that KubeVela puts on what it renders for `app`/`component`.
fn rendered_by(app: &str, ns: &str, component: &str) -> String {
    format!(
        "    app.oam.dev/name: {app}\n    app.oam.dev/namespace: {ns}\n    app.oam.dev/component: {component}\n"
    )
}

// 5.
#[test]
fn traefik_ingress_is_refused_unless_rendered_for_a_component_with_identity() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s05-ingress");
    let ingress = |name: &str, labels: &str| {
        format!(
            r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  labels:
    demo: "true"
{labels}spec:
  ingressClassName: traefik
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: web
                port:
                  number: 8080
"#
        )
    };
    let out = k.apply(&ns, &ingress("rogue", "")).expect("kubectl runs");
    assert_denied(&out, &["OT006", &format!("{ns}/rogue")]);
    assert!(not_stored(k, &ns, "ingress", "rogue"));

    apply_ok(k, &ns, &app("shop", "shop.example.com", Some(IDENTITY), ""));
    // The same labels written by anyone but KubeVela's controller claim nothing.
    let out = k
        .apply(&ns, &ingress("borrowed", &rendered_by("shop", &ns, "web")))
        .expect("kubectl runs");
    assert_denied(&out, &["OT006", "trusted controller"]);
    assert!(not_stored(k, &ns, "ingress", "borrowed"));
    let out = apply_as_vela_core(k, &ns, &ingress("web", &rendered_by("shop", &ns, "web")));
    assert_eq!(out.stdout.trim(), "ingress.networking.k8s.io/web created");
    let stored = get(k, &ns, "ingress", "web");
    assert_eq!(
        stored["metadata"]["annotations"][MIDDLEWARES],
        format!("{ns}-shop-web-identity@kubernetescrd")
    );
}

// 6.
#[test]
fn http_route_to_traefik_gets_the_extension_ref_or_is_refused() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s06-httproute");
    apply_ok(
        k,
        &ns,
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  gatewayClassName: traefik
  listeners:
    - name: http
      protocol: HTTP
      port: 80
"#,
    );
    let route = |name: &str, labels: &str| {
        format!(
            r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  labels:
    demo: "true"
{labels}spec:
  parentRefs:
    - name: edge
  hostnames: [shop.example.com]
  rules:
    - backendRefs:
        - name: web
          port: 8080
"#
        )
    };
    let out = eventually("rogue HTTPRoute refused", || {
        let out = k
            .apply(&ns, &route("rogue", ""))
            .map_err(|e| e.to_string())?;
        if out.success() {
            // The Gateway was not cached yet, so Traefik was not known to serve it.
            let _ = k.run(&["delete", "-n", &ns, "httproute", "rogue"]);
            Err(printed(&out))
        } else {
            Ok(out)
        }
    });
    assert_denied(&out, &["OT006", &format!("{ns}/rogue")]);

    apply_ok(k, &ns, &app("shop", "shop.example.com", Some(IDENTITY), ""));
    let out = apply_as_vela_core(k, &ns, &route("web", &rendered_by("shop", &ns, "web")));
    assert_eq!(
        out.stdout.trim(),
        "httproute.gateway.networking.k8s.io/web created"
    );
    let stored = get(k, &ns, "httproute", "web");
    let filter = &stored["spec"]["rules"][0]["filters"][0];
    assert_eq!(filter["type"], "ExtensionRef");
    assert_eq!(filter["extensionRef"]["group"], "traefik.io");
    assert_eq!(filter["extensionRef"]["kind"], "Middleware");
    assert_eq!(filter["extensionRef"]["name"], "shop-web-identity");
}

// 7.
/// `sso` turned into a headers Middleware: no longer auth.
const WEAKENED_SSO: &str = r#"apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: sso
spec:
  headers:
    customRequestHeaders:
      X-Trust-Me: "yes"
"#;

/// Probes [`WEAKENED_SSO`] with a server-side dry run until the webhook's caches know the
/// routes that use `sso` and refuse it (a real apply that slipped through would change
/// the object under test); returns the refusal.
fn weakening_refused(k: &Kubectl, ns: &str) -> Output {
    eventually("weakening refused", || {
        let out = k
            .run_stdin(
                &["apply", "--dry-run=server", "-n", ns, "-f", "-"],
                WEAKENED_SSO,
            )
            .map_err(|e| e.to_string())?;
        if out.success() {
            Err(printed(&out))
        } else {
            Ok(out)
        }
    })
}

#[test]
fn auth_middleware_in_use_cannot_be_weakened_or_deleted() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s07-middleware");
    apply_ok(k, &ns, &forward_auth("sso"));
    apply_once_cached(
        k,
        &ns,
        r#"apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: api
spec:
  routes:
    - match: Host(`api.example.com`)
      kind: Rule
      middlewares:
        - name: sso
      services:
        - name: api
          port: 8080
"#,
    );

    let out = weakening_refused(k, &ns);
    assert_denied(
        &out,
        &[
            "OT008",
            &format!("Middleware {ns}/sso"),
            "would leave them open",
        ],
    );

    let out = k.apply(&ns, WEAKENED_SSO).expect("kubectl runs");
    assert_denied(&out, &["OT008", &format!("{ns}/api")]);
    let out = k
        .run(&["delete", "-n", &ns, "middleware", "sso"])
        .expect("kubectl runs");
    assert_denied(&out, &["OT008", "deleting it would leave them open"]);
    let stored = get(k, &ns, "middleware", "sso");
    assert_eq!(
        stored["spec"]["forwardAuth"]["address"],
        "http://auth.platform.svc:4180/verify"
    );
}

// 8.
#[test]
fn wildcard_scope_and_plain_http_issuer_are_refused() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s08-scopes-issuer");
    let identity = "            version: v1
            provider: oidc
            issuer: http://login.example.com/realms/prod
            audiences: [web]
            scopes: [\"*\"]
";
    let out = k
        .apply(&ns, &app("shop", "shop.example.com", Some(identity), ""))
        .expect("kubectl runs");
    assert_denied(
        &out,
        &[
            "OT002",
            "is not an https:// URL",
            "OT003",
            "scope \"*\" is a wildcard",
        ],
    );
    assert!(not_stored(k, &ns, "application", "shop"));
}

// 9.
#[test]
fn break_glass_needs_an_allowed_group_and_is_logged() {
    let _up = webhook_up();
    let (s, k, ns) = setup("s09-break-glass");
    // Alice and the platform admins may write apps here; only admins may break glass.
    apply_ok(
        k,
        &ns,
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: app-writer
rules:
  - apiGroups: ["core.oam.dev"]
    resources: ["applications"]
    verbs: ["get", "list", "create", "update", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: app-writers
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: app-writer
subjects:
  - kind: User
    name: alice
  - kind: Group
    name: platform-admins
"#,
    );
    let manifest = app(
        "hotfix",
        "hotfix.example.com",
        None,
        &format!("{BREAK_GLASS:?}: \"INC-4242 auth service down\""),
    );
    let as_alice = [
        "--as=alice",
        "--as-group=developers",
        "apply",
        "-n",
        &ns,
        "-f",
        "-",
    ];
    let out = k.run_stdin(&as_alice, &manifest).expect("kubectl runs");
    assert_denied(
        &out,
        &["OT007", "user \"alice\" is not in the break-glass groups"],
    );
    assert!(not_stored(k, &ns, "application", "hotfix"));

    let as_admin = [
        "--as=bob",
        "--as-group=platform-admins",
        "apply",
        "-n",
        &ns,
        "-f",
        "-",
    ];
    let out = k.run_stdin(&as_admin, &manifest).expect("kubectl runs");
    assert_ok(&out, "application.core.oam.dev/hotfix created");

    let webhook = s.webhook.lock().unwrap_or_else(|e| e.into_inner());
    let is_bobs_break_glass = |line: &str| {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            return false;
        };
        entry["user"] == "bob"
            && entry["namespace"] == ns.as_str()
            && entry["allowed"] == true
            && entry["exemption"]
                .as_str()
                .is_some_and(|e| e.contains("INC-4242"))
    };
    // The line may be written just after the response went out.
    eventually("bob's break-glass decision logged", || {
        let log = webhook.log();
        if log.lines().any(is_bobs_break_glass) {
            Ok(())
        } else {
            Err(log)
        }
    });
}

// 10.
#[test]
fn kube_system_is_untouched_and_dry_run_gives_the_same_verdict() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s10-dry-run");

    // kube-system: neither refused nor patched.
    let rogue = app("e2e-untouched", "sys.example.com", None, "");
    assert_ok(
        &k.apply("kube-system", &rogue).expect("kubectl runs"),
        "application.core.oam.dev/e2e-untouched created",
    );
    let with_identity = app("e2e-unpatched", "sys.example.com", Some(IDENTITY), "");
    apply_ok(k, "kube-system", &with_identity);
    let stored = get(k, "kube-system", "application", "e2e-unpatched");
    assert!(
        middleware_annotation(&stored).is_null(),
        "patched: {stored}"
    );

    // A server-side dry run says exactly what the real apply says, and stores nothing.
    let refused = app("shop", "shop.example.com", None, "");
    let dry = k
        .run_stdin(
            &["apply", "--dry-run=server", "-n", &ns, "-f", "-"],
            &refused,
        )
        .expect("kubectl runs");
    let real = k.apply(&ns, &refused).expect("kubectl runs");
    assert_denied(&dry, &["OT001"]);
    assert_eq!(dry.stderr, real.stderr);

    let admitted = app("shop", "shop.example.com", Some(IDENTITY), "");
    let dry = k
        .run_stdin(
            &[
                "apply",
                "--dry-run=server",
                "-o",
                "json",
                "-n",
                &ns,
                "-f",
                "-",
            ],
            &admitted,
        )
        .expect("kubectl runs");
    assert!(dry.success(), "dry run failed:\n{}", printed(&dry));
    let would_be: Value = serde_json::from_str(&dry.stdout).expect("JSON");
    assert!(not_stored(k, &ns, "application", "shop"));
    apply_ok(k, &ns, &admitted);
    let stored = get(k, &ns, "application", "shop");
    assert_eq!(
        middleware_annotation(&would_be),
        middleware_annotation(&stored)
    );
    assert!(middleware_annotation(&stored).is_string());
}

// 11.
#[test]
fn with_the_webhook_down_writes_fail_closed_and_recover_after_restart() {
    let _alone = webhook_exclusive();
    let (s, k, ns) = setup("s11-webhook-down");
    let manifest = app("shop", "shop.example.com", Some(IDENTITY), "");
    let mut webhook = s.webhook.lock().unwrap_or_else(|e| e.into_inner());

    webhook.stop();
    let out = k.apply(&ns, &manifest).expect("kubectl runs");
    let text = printed(&out);
    assert!(!out.success(), "admitted without the webhook:\n{text}");
    assert!(
        text.contains("failed calling webhook") && text.contains(&webhook.url()),
        "not the API server's webhook failure:\n{text}"
    );
    assert!(not_stored(k, &ns, "application", "shop"));

    webhook.restart().expect("the webhook restarts");
    let out = k.apply(&ns, &manifest).expect("kubectl runs");
    assert_ok(&out, "application.core.oam.dev/shop created");
}

/// A GRPCRoute authenticated through an `ExtensionRef` to an auth Middleware is one of its
/// users: the webhook watches GRPCRoutes too, and refuses to weaken that Middleware.
#[test]
fn a_middleware_that_a_grpc_route_depends_on_cannot_be_weakened() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s07-grpc-middleware");
    apply_ok(k, &ns, &forward_auth("sso"));
    apply_ok(
        k,
        &ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: edge}\nspec:\n  gatewayClassName: traefik\n  listeners: [{name: http, protocol: HTTP, port: 80}]\n",
    );
    apply_once_cached(
        k,
        &ns,
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: rpc
spec:
  parentRefs: [{name: edge}]
  rules:
    - filters:
        - type: ExtensionRef
          extensionRef: {group: traefik.io, kind: Middleware, name: sso}
      backendRefs: [{name: api, port: 9090}]
"#,
    );

    let out = weakening_refused(k, &ns);
    assert_denied(
        &out,
        &[
            "OT008",
            &format!("GRPCRoute {ns}/rpc"),
            "would leave them open",
        ],
    );
    let out = k
        .run(&["delete", "-n", &ns, "middleware", "sso"])
        .expect("kubectl runs");
    assert_denied(&out, &["OT008", "deleting it would leave them open"]);
}

// Hostile writes the trust model refuses, through the real API server.
#[test]
fn hostile_writes_are_refused_whatever_they_claim() {
    let _up = webhook_up();
    let (s, k, _) = setup("s13-hostile");
    // A namespace labelled the way the old opt-out read: the label opts nothing out.
    let ns =
        s.cp.namespace("s13-labelled", &["oam-traefik.io/ignore=true"])
            .expect("namespace");

    // A headers-only Middleware squatting the generated identity name.
    let out = k
        .apply(
            &ns,
            "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {name: shop-web-identity}\nspec: {headers: {customRequestHeaders: {X-Forwarded-User: admin}}}\n",
        )
        .expect("kubectl runs");
    assert_denied(
        &out,
        &["OT011", "reserved for generated identity Middlewares"],
    );

    // A TCP route on Traefik's web entry point, and a GRPCRoute through a Traefik gateway.
    let out = k
        .apply(
            &ns,
            "apiVersion: traefik.io/v1alpha1\nkind: IngressRouteTCP\nmetadata: {name: raw}\nspec:\n  entryPoints: [web]\n  routes:\n    - match: HostSNI(`*`)\n      services: [{name: api, port: 8080}]\n",
        )
        .expect("kubectl runs");
    assert_denied(&out, &["OT006", "TCP route"]);
    assert!(not_stored(k, &ns, "ingressroutetcp", "raw"));
    apply_ok(
        k,
        &ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: edge}\nspec:\n  gatewayClassName: traefik\n  listeners: [{name: http, protocol: HTTP, port: 80}]\n",
    );
    let grpc = "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: grpc}\nspec:\n  parentRefs: [{name: edge}]\n  rules:\n    - backendRefs: [{name: api, port: 9090}]\n";
    let out = eventually("rogue GRPCRoute refused", || {
        let out = k.apply(&ns, grpc).map_err(|e| e.to_string())?;
        if out.success() {
            // The Gateway was not cached yet, so Traefik was not known to serve it.
            let _ = k.run(&["delete", "-n", &ns, "grpcroute", "grpc"]);
            Err(printed(&out))
        } else {
            Ok(out)
        }
    });
    assert_denied(&out, &["OT006", &format!("GRPCRoute {ns}/grpc")]);

    // A trait of the platform's own, unknown by name, whose definition renders an Ingress.
    let out = k
        .run_stdin(
            &["apply", "-f", "-"],
            "apiVersion: core.oam.dev/v1beta1\nkind: TraitDefinition\nmetadata: {name: s13-expose, namespace: default}\nspec:\n  schematic:\n    cue:\n      template: |\n        outputs: ingress: {apiVersion: \"networking.k8s.io/v1\", kind: \"Ingress\"}\n",
        )
        .expect("kubectl runs");
    assert!(out.success(), "{}", printed(&out));
    let app = "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: {name: catalog}\nspec:\n  components:\n    - name: web\n      type: webservice\n      traits:\n        - type: s13-expose\n";
    let out = eventually("custom route trait refused", || {
        let out = k.apply(&ns, app).map_err(|e| e.to_string())?;
        if out.success() {
            // The TraitDefinition was not cached yet.
            let _ = k.run(&["delete", "-n", &ns, "application", "catalog"]);
            Err(printed(&out))
        } else {
            Ok(out)
        }
    });
    assert_denied(&out, &["OT001", "s13-expose"]);

    // A route whose auth is only another provider's middleware nobody vouches for.
    let out = k
        .apply(
            &ns,
            "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: dash}\nspec:\n  routes:\n    - match: Host(`t.example.com`)\n      middlewares: [{name: auth@file}]\n      services: [{name: api@internal, kind: TraefikService}]\n",
        )
        .expect("kubectl runs");
    assert_denied(&out, &["OT006", "trustedMiddlewares"]);
}

#[test]
fn a_terminating_route_cannot_drop_its_auth() {
    let _up = webhook_up();
    let (_, k, ns) = setup("s14-terminating");
    apply_ok(
        k,
        &ns,
        "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {name: sso}\nspec: {forwardAuth: {address: \"http://auth.example.svc/verify\"}}\n",
    );
    let guarded = |middlewares: &str| {
        format!(
            "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {{name: web, finalizers: [example.com/hold]}}\nspec:\n  routes:\n    - match: Host(`w.example.com`)\n      middlewares: {middlewares}\n      services: [{{name: web, port: 80}}]\n"
        )
    };
    apply_once_cached(k, &ns, &guarded("[{name: sso}]"));
    // Deletion begins; the finalizer keeps it served by Traefik.
    let out = k
        .run(&["delete", "-n", &ns, "ingressroute", "web", "--wait=false"])
        .expect("kubectl runs");
    assert!(out.success(), "{}", printed(&out));
    let out = k.apply(&ns, &guarded("[]")).expect("kubectl runs");
    assert_denied(&out, &["OT006"]);
    // Releasing the finalizer alone is allowed.
    let out = k
        .run(&[
            "patch",
            "-n",
            &ns,
            "ingressroute",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":[]}}"#,
        ])
        .expect("kubectl runs");
    assert!(out.success(), "{}", printed(&out));
}

//! `kubectl oam-traefik routes | identities | explain` against a real kube-apiserver with
//! the upstream CRDs: apps and routes of every kind, protected, unprotected, broken,
//! public and orphaned. No webhook is registered here, so unprotected objects can be
//! created the way they exist on clusters without it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use oam_traefik_e2e::ControlPlane;
use oam_traefik_e2e::binaries::workspace_binary;
use serde_json::Value;

const NS: &str = "plugin-shop";
const OTHER_NS: &str = "plugin-other";

/// Everything a user would have on a cluster where KubeVela rendered the apps' routes.
const OBJECTS: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: orders}
spec:
  components:
    - name: api
      type: webservice
      traits:
        - type: gateway
          properties: {domain: orders.example.com, class: traefik, http: {"/": 8080}}
        - type: identity
          properties:
            version: v1
            provider: oidc
            issuer: https://login.example.com/realms/prod
            audiences: [orders]
            scopes: ["orders:read"]
            groups: [team-orders]
---
# The generated identity Middleware that KubeVela creates from the identity trait.
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: orders-api-identity}
spec:
  forwardAuth: {address: "http://auth.platform.svc:4180/verify"}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  labels: {app.oam.dev/name: orders, app.oam.dev/component: api, trait.oam.dev/type: gateway}
  annotations:
    traefik.ingress.kubernetes.io/router.middlewares: plugin-shop-orders-api-identity@kubernetescrd
spec:
  ingressClassName: traefik
  tls: [{hosts: [orders.example.com], secretName: orders-tls}]
  rules:
    - host: orders.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 8080}}}}
---
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: legacy}
spec:
  components:
    - name: web
      type: webservice
      traits:
        - type: gateway
          properties: {domain: legacy.example.com, http: {"/": 80}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  labels: {app.oam.dev/name: legacy, app.oam.dev/component: web}
spec:
  ingressClassName: traefik
  rules:
    - host: legacy.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: docs}
spec:
  components:
    - name: site
      type: webservice
      traits:
        - type: gateway
          properties: {domain: docs.example.com, http: {"/": 80}}
        - type: identity
          properties: {version: v1, provider: public, reason: "product documentation"}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: site
  labels: {app.oam.dev/name: docs, app.oam.dev/component: site}
spec:
  ingressClassName: traefik
  rules:
    - host: docs.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: site, port: {number: 80}}}}
---
# Broken: its Middleware does not exist, so Traefik will not serve the router.
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: admin}
spec:
  routes:
    - match: Host(`admin.example.com`) && PathPrefix(`/console`)
      kind: Rule
      middlewares: [{name: gone-sso}]
      services: [{name: admin, port: 9000}]
  tls: {secretName: admin-tls}
---
# Orphaned and unprotected: nobody owns it, nothing authenticates it.
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: debug}
spec:
  routes:
    - match: Host(`debug.example.com`)
      kind: Rule
      services: [{name: debug, port: 8080}]
---
# Orphaned: its labels name an app that was deleted.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: leftover
  labels: {app.oam.dev/name: deleted-app, app.oam.dev/component: old}
spec:
  ingressClassName: traefik
  rules:
    - host: old.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: old, port: {number: 80}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: traefik-gateway}
spec:
  gatewayClassName: traefik
  listeners: [{name: http, protocol: HTTP, port: 8000}]
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: reports-auth}
spec:
  basicAuth: {secret: reports-users}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reports}
spec:
  parentRefs: [{name: traefik-gateway}]
  hostnames: [reports.example.com]
  rules:
    - matches: [{path: {type: PathPrefix, value: /daily}}]
      filters:
        - type: ExtensionRef
          extensionRef: {group: traefik.io, kind: Middleware, name: reports-auth}
      backendRefs: [{name: reports, port: 8080}]
---
# Not Traefik's: never listed.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: elsewhere}
spec:
  ingressClassName: nginx
  rules:
    - host: nginx.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: nginx, port: {number: 80}}}}
"#;

const OTHER: &str = r#"
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: status}
spec:
  routes:
    - match: Host(`status.example.com`)
      kind: Rule
      services: [{name: status, port: 80}]
"#;

struct Cluster {
    cp: &'static ControlPlane,
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cp = ControlPlane::shared();
        let k = cp.kubectl();
        for (ns, manifest) in [(NS, OBJECTS), (OTHER_NS, OTHER)] {
            cp.namespace(ns, &[]).expect("namespace");
            let out = k.apply(ns, manifest).expect("kubectl runs");
            assert!(out.success(), "apply to {ns}: {}", out.stderr);
        }
        Cluster { cp }
    })
}

/// The plugin binary (`KUBECTL_OAM_TRAEFIK_BIN` names a prebuilt one).
fn plugin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        workspace_binary("kubectl-oam_traefik", "KUBECTL_OAM_TRAEFIK_BIN")
            .expect("the plugin builds")
    })
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `kubectl-oam_traefik --kubeconfig <admin> <args>`.
fn oam(args: &[&str]) -> Run {
    let c = cluster();
    let out = Command::new(plugin())
        .arg("--kubeconfig")
        .arg(c.cp.kubeconfig())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run the plugin");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok_json(args: &[&str]) -> Value {
    let run = oam(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout))
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().expect("items")
}

fn by_url<'a>(routes: &'a [Value], url: &str) -> &'a Value {
    routes
        .iter()
        .find(|r| r["url"] == url)
        .unwrap_or_else(|| panic!("no route {url} in {routes:#?}"))
}

#[test]
fn routes_json_classifies_every_kind_of_route() {
    let v = ok_json(&["routes", "-n", NS, "-o", "json"]);
    let routes = items(&v);
    let urls: Vec<&str> = routes.iter().filter_map(|r| r["url"].as_str()).collect();
    assert_eq!(routes.len(), 7, "{urls:?}");
    assert!(!urls.iter().any(|u| u.contains("nginx")), "{urls:?}");

    let orders = by_url(routes, "https://orders.example.com");
    assert_eq!(orders["status"], "protected");
    assert_eq!(orders["app"], "orders");
    assert_eq!(orders["component"], "api");
    assert_eq!(orders["backend"], "api:8080");
    assert_eq!(
        orders["middlewares"][0]["name"],
        "plugin-shop/orders-api-identity"
    );
    assert_eq!(
        orders["identity"]["issuer"],
        "https://login.example.com/realms/prod"
    );
    assert_eq!(orders["identity"]["scopes"][0], "orders:read");

    let legacy = by_url(routes, "http://legacy.example.com");
    assert_eq!(legacy["status"], "unprotected");
    assert_eq!(legacy["app"], "legacy");

    assert_eq!(
        by_url(routes, "http://docs.example.com")["status"],
        "public"
    );

    let admin = by_url(routes, "https://admin.example.com/console");
    assert_eq!(admin["status"], "broken");
    assert_eq!(admin["reach"]["type"], "nobody");
    assert_eq!(admin["backend"], "admin:9000");

    let debug = by_url(routes, "http://debug.example.com");
    assert_eq!(debug["status"], "unprotected");
    assert_eq!(debug["app"], Value::Null);

    let leftover = by_url(routes, "http://old.example.com");
    assert_eq!(leftover["app"], Value::Null, "its app does not exist");
    assert!(
        leftover["reason"]
            .as_str()
            .expect("reason")
            .contains("deleted-app")
    );

    let reports = by_url(routes, "http://reports.example.com/daily");
    assert_eq!(reports["status"], "protected");
    assert_eq!(reports["object"]["kind"], "HTTPRoute");
}

#[test]
fn routes_table_is_kubectl_like() {
    let run = oam(&["routes", "-n", NS]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "APP",
            "COMPONENT",
            "URL",
            "BACKEND",
            "MIDDLEWARES",
            "IDENTITY",
            "STATUS"
        ]
    );
    assert_eq!(lines.len(), 8, "{}", run.stdout);
    let row = |needle: &str| -> Vec<&str> {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle}:\n{}", run.stdout))
            .split_whitespace()
            .collect()
    };
    let debug = row("debug.example.com");
    assert_eq!(debug[..4], [NS, "-", "-", "http://debug.example.com"]);
    assert_eq!(debug.last(), Some(&"unprotected"));
    let orders = row("orders.example.com");
    assert_eq!(orders[1..3], ["orders", "api"]);
    assert_eq!(orders.last(), Some(&"protected"));
    assert!(orders.contains(&"https://login.example.com/realms/prod"));
    assert_eq!(row("admin.example.com").last(), Some(&"broken"));
    assert!(!run.stdout.contains('\x1b'), "no colour off a terminal");

    let run = oam(&["routes", "-n", NS, "--no-headers"]);
    assert_eq!(run.stdout.lines().count(), 7);
    let run = oam(&["routes", "-n", NS, "-o", "wide"]);
    assert!(
        run.stdout
            .lines()
            .next()
            .expect("header")
            .ends_with("REASON")
    );
    assert!(run.stdout.contains("IngressRoute/admin"));
}

#[test]
fn routes_filters_by_app_and_namespace_scope() {
    let v = ok_json(&["routes", "orders", "-n", NS, "-o", "json"]);
    assert_eq!(items(&v).len(), 1);
    assert_eq!(items(&v)[0]["app"], "orders");

    let v = ok_json(&["routes", "-A", "-o", "json"]);
    let namespaces: Vec<&str> = items(&v)
        .iter()
        .filter_map(|r| r["namespace"].as_str())
        .collect();
    assert!(
        namespaces.contains(&OTHER_NS) && namespaces.contains(&NS),
        "{namespaces:?}"
    );

    // The namespace comes from the context when -n is not given: the admin context names
    // none, so it is `default`, where nothing is.
    let v = ok_json(&["routes", "-o", "json"]);
    assert!(items(&v).is_empty(), "{v:#}");

    let yaml = oam(&["routes", "-n", OTHER_NS, "-o", "yaml"]);
    assert_eq!(yaml.code, 0);
    assert!(
        yaml.stdout.contains("url: http://status.example.com"),
        "{}",
        yaml.stdout
    );
}

#[test]
fn identities_group_routes_by_who_may_reach_them() {
    let v = ok_json(&["identities", "-n", NS, "-o", "json"]);
    let groups = items(&v);
    let oidc = groups
        .iter()
        .find(|g| g["reach"]["issuer"] == "https://login.example.com/realms/prod")
        .expect("the oidc identity");
    assert_eq!(oidc["reach"]["audiences"][0], "orders");
    assert_eq!(oidc["routes"].as_array().expect("routes").len(), 1);
    let anyone = groups
        .iter()
        .find(|g| g["reach"]["type"] == "anyone")
        .expect("anyone");
    let urls: Vec<&str> = anyone["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| r["url"].as_str())
        .collect();
    for url in [
        "http://legacy.example.com",
        "http://docs.example.com",
        "http://debug.example.com",
        "http://old.example.com",
    ] {
        assert!(urls.contains(&url), "{url} not open to anyone: {urls:?}");
    }
    let nobody = groups
        .iter()
        .find(|g| g["reach"]["type"] == "nobody")
        .expect("nobody");
    assert_eq!(
        nobody["routes"][0]["url"],
        "https://admin.example.com/console"
    );

    let run = oam(&["identities", "-n", NS]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("IDENTITY"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("oidc https://login.example.com/realms/prod aud=orders")
    );
    assert!(run.stdout.contains("anyone"));
}

#[test]
fn explain_shows_the_chain_and_each_verdict() {
    let run = oam(&["explain", "orders/api", "-n", NS]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = &run.stdout;
    for needle in [
        "Application plugin-shop/orders",
        "component api",
        "trait gateway domain=orders.example.com",
        "identity oidc https://login.example.com/realms/prod",
        "from /spec/components/0/traits/1",
        "Ingress plugin-shop/api",
        "https://orders.example.com -> api:8080",
        "status: protected",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }

    let run = oam(&["explain", "legacy", "-n", NS]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("OT001 deny"), "{}", run.stdout);
    assert!(
        run.stdout.contains("hint: add a trait `type: identity`"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("status: unprotected"), "{}", run.stdout);

    let v = ok_json(&["explain", "legacy/web", "-n", NS, "-o", "json"]);
    assert_eq!(v["findings"][0]["rule"], "OT001");
    assert_eq!(
        v["components"][0]["routes"][0]["findings"][0]["rule"],
        "OT006"
    );

    let run = oam(&["explain", "nope", "-n", NS]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("Application plugin-shop/nope not found"),
        "{}",
        run.stderr
    );
    let run = oam(&["explain", "orders/nope", "-n", NS]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("it has: api"), "{}", run.stderr);
}

#[test]
fn check_with_cluster_resolves_what_the_files_lack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("route.yaml");
    // Uses the Middleware that is in the cluster, and one that is nowhere.
    std::fs::write(
        &file,
        format!(
            "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {{name: new, namespace: {NS}}}\nspec:\n  routes:\n    - match: Host(`new.example.com`)\n      middlewares: [{{name: reports-auth}}]\n      services: [{{name: new, port: 80}}]\n"
        ),
    )
    .expect("write");
    let f = file.to_string_lossy().to_string();
    let offline = oam(&["check", "-f", &f]);
    assert_eq!(offline.code, 0, "{}", offline.stdout);
    assert!(
        offline.stdout.contains("cannot resolve whether Middleware"),
        "{}",
        offline.stdout
    );
    let online = oam(&["check", "--cluster", "--strict", "-f", &f]);
    assert_eq!(online.code, 0, "{}{}", online.stdout, online.stderr);
    assert!(online.stdout.contains("0 unresolved"), "{}", online.stdout);

    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .expect("read")
            .replace("reports-auth", "nowhere"),
    )
    .expect("write");
    let online = oam(&["check", "--cluster", "-o", "json", "-f", &f]);
    assert_eq!(online.code, 1, "{}", online.stdout);
    let report: Value = serde_json::from_str(&online.stdout).expect("json");
    assert_eq!(report["findings"][0]["rule"], "OT004");
}

#[test]
fn a_kind_whose_crd_is_missing_is_a_note_not_a_failure() {
    // The shared control plane has every CRD; a fresh one without them shows the note.
    let cp = ControlPlane::start().expect("a bare control plane");
    let out = Command::new(plugin())
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args(["routes", "-A", "-o", "json"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "note: IngressRoute (traefik.io/v1alpha1) is not served by this cluster; skipped"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("note: Application"), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(items(&v).is_empty());
}

#[test]
fn real_kubectl_finds_and_runs_the_plugin() {
    let c = cluster();
    let bin_dir = plugin().parent().expect("bin dir").to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir.clone()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .expect("PATH");
    let kubectl = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());

    let list = Command::new(&kubectl)
        .args(["plugin", "list", "--name-only"])
        .env("PATH", &path)
        .output()
        .expect("kubectl plugin list");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.lines().any(|l| l.trim() == "kubectl-oam_traefik"),
        "{listed}{}",
        String::from_utf8_lossy(&list.stderr)
    );

    // kubectl hands every argument after the plugin name to the plugin; the kubeconfig
    // comes from $KUBECONFIG as for any kubectl command.
    let out = Command::new(&kubectl)
        .args(["oam-traefik", "routes", "-n", NS, "-o", "json"])
        .env("PATH", &path)
        .env("KUBECONFIG", c.cp.kubeconfig())
        .output()
        .expect("kubectl oam-traefik");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(items(&v).len(), 7);

    let out = Command::new(&kubectl)
        .args(["oam-traefik", "version"])
        .env("PATH", &path)
        .output()
        .expect("kubectl oam-traefik version");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kubectl-oam_traefik "));
}

#[test]
fn exec_credential_plugin_and_context_namespace_are_honoured() {
    let c = cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = c.cp.admin_cert();
    let read = |p: &Path| std::fs::read_to_string(p).expect("admin cert");
    let credential = serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"clientCertificateData": read(&admin.cert), "clientKeyData": read(&admin.key)},
    });
    let cred = dir.path().join("credential.json");
    std::fs::write(&cred, credential.to_string()).expect("write credential");
    let marker = dir.path().join("exec-ran");
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "e2e", "cluster": {"server": c.cp.url(), "certificate-authority": c.cp.ca_file()}},
            {"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}},
        ],
        "users": [{"name": "exec", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "/bin/sh",
            "args": ["-c", format!("touch '{}' && cat '{}'", marker.display(), cred.display())],
            "interactiveMode": "Never",
        }}}],
        "contexts": [
            {"name": "broken", "context": {"cluster": "nowhere", "user": "exec"}},
            {"name": "shop", "context": {"cluster": "e2e", "user": "exec", "namespace": NS}},
        ],
        "current-context": "broken",
    });
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig.to_string()).expect("write kubeconfig");

    // --context picks the working context; -n defaults to its namespace.
    let out = Command::new(plugin())
        .arg("--kubeconfig")
        .arg(&path)
        .args(["--context", "shop", "routes", "-o", "json"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(items(&v).len(), 7);
    assert!(marker.exists(), "the exec credential plugin did not run");

    // The current context's server is unreachable: a clear error, exit 1.
    let out = Command::new(plugin())
        .arg("--kubeconfig")
        .arg(&path)
        .args(["routes"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: listing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Namespaces, Applications per namespace and route objects per namespace of the benchmark:
/// 25 × 80 = 2,000 Applications and 25 × 400 = 10,000 route objects.
const BENCH_NAMESPACES: usize = 25;
const BENCH_APPS: usize = 80;

/// The objects of one benchmark namespace, as (API path under the namespace, body).
fn bench_objects(ns: &str) -> Vec<(&'static str, Value)> {
    use serde_json::json;
    let mut out = Vec::new();
    let mw = |name: String| {
        json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
               "metadata": {"name": name}, "spec": {"forwardAuth": {"address": "http://auth:4180"}}})
    };
    out.push((
        "/apis/traefik.io/v1alpha1/namespaces/{ns}/middlewares",
        mw("sso".into()),
    ));
    out.push((
        "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/gateways",
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "traefik"},
               "spec": {"gatewayClassName": "traefik", "listeners": [{"name": "http", "protocol": "HTTP", "port": 8000}]}}),
    ));
    for a in 0..BENCH_APPS {
        let app = format!("app-{a}");
        let host = format!("{app}.{ns}.example.com");
        let mut traits = vec![
            json!({"type": "gateway", "properties": {"domain": host, "class": "traefik", "http": {"/": 8080}}}),
        ];
        if a % 4 != 0 {
            traits.push(json!({"type": "identity", "properties": {"version": "v1", "provider": "oidc",
                "issuer": "https://login.example.com/realms/prod", "audiences": [app], "scopes": [format!("{app}:read")]}}));
        }
        out.push((
            "/apis/core.oam.dev/v1beta1/namespaces/{ns}/applications",
            json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application", "metadata": {"name": app},
                   "spec": {"components": [{"name": "web", "type": "webservice",
                       "properties": {"image": "ghcr.io/example/web:1.0", "ports": [{"port": 8080, "expose": true}]},
                       "traits": traits}]}}),
        ));
        out.push((
            "/apis/traefik.io/v1alpha1/namespaces/{ns}/middlewares",
            mw(format!("{app}-web-identity")),
        ));
        out.push((
            "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": format!("{app}-web"),
                       "labels": {"app.oam.dev/name": app, "app.oam.dev/component": "web", "trait.oam.dev/type": "gateway"},
                       "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": format!("{ns}-{app}-web-identity@kubernetescrd")}},
                   "spec": {"ingressClassName": "traefik", "rules": [{"host": host, "http": {"paths": [
                       {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": app, "port": {"number": 8080}}}}]}}]}}),
        ));
    }
    for r in 0..200 {
        let middlewares = if r % 2 == 0 {
            json!([{"name": "sso"}])
        } else {
            json!([])
        };
        out.push((
            "/apis/traefik.io/v1alpha1/namespaces/{ns}/ingressroutes",
            json!({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute", "metadata": {"name": format!("ir-{r}")},
                   "spec": {"entryPoints": ["websecure"], "tls": {},
                       "routes": [{"match": format!("Host(`ir-{r}.{ns}.example.com`) && PathPrefix(`/api`)"), "kind": "Rule",
                           "middlewares": middlewares, "services": [{"name": format!("svc-{r}"), "port": 80}]}]}}),
        ));
    }
    for h in 0..120 {
        out.push((
            "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes",
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": format!("hr-{h}")},
                   "spec": {"parentRefs": [{"name": "traefik"}], "hostnames": [format!("hr-{h}.{ns}.example.com")],
                       "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                           "filters": [{"type": "ExtensionRef", "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": "sso"}}],
                           "backendRefs": [{"name": format!("svc-{h}"), "port": 8080}]}]}}),
        ));
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Not a timed test: loads 2,000 Applications and 10,000 route objects and prints how long
/// `routes -A` takes next to `kubectl get` of the same kinds as JSON. Run it with
/// `cargo test --release -p oam-traefik-e2e --test e2e_plugin -- --ignored --nocapture bench`.
#[test]
#[ignore = "benchmark: loads 12,000 objects"]
fn bench_routes_all_namespaces_against_kubectl_get() {
    use std::time::Instant;
    let cp = ControlPlane::start().expect("a control plane of its own");
    cp.install_crds().expect("CRDs");
    let began = Instant::now();
    let mut jobs = Vec::new();
    for i in 0..BENCH_NAMESPACES {
        let ns = cp.namespace(&format!("bench-{i}"), &[]).expect("namespace");
        for (path, body) in bench_objects(&ns) {
            jobs.push((path.replace("{ns}", &ns), body));
        }
    }
    let total = jobs.len();
    cp.create_all(&jobs)
        .expect("the API server takes every object");
    eprintln!(
        "loaded {total} objects in {:.1} s",
        began.elapsed().as_secs_f64()
    );

    let kinds = "applications.core.oam.dev,ingresses.networking.k8s.io,ingressroutes.traefik.io,httproutes.gateway.networking.k8s.io,middlewares.traefik.io,ingressclasses.networking.k8s.io,gateways.gateway.networking.k8s.io,gatewayclasses.gateway.networking.k8s.io";
    let k = cp.kubectl();
    k.run(&["get", kinds, "-A", "-o", "json"])
        .expect("warm kubectl's discovery cache");
    // Build (or find) the plugin before the clock starts.
    let bin = plugin();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut rows = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(bin)
            .arg("--kubeconfig")
            .arg(cp.kubeconfig())
            .args(["routes", "-A"])
            .output()
            .expect("plugin");
        ours.push(t.elapsed().as_secs_f64());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        rows = String::from_utf8_lossy(&out.stdout).lines().count() - 1;

        let t = Instant::now();
        let out = k.run(&["get", kinds, "-A", "-o", "json"]).expect("kubectl");
        theirs.push(t.elapsed().as_secs_f64());
        assert!(out.success(), "{}", out.stderr);
    }
    let (o, t) = (median(ours.clone()), median(theirs.clone()));
    eprintln!("routes -A: {rows} rows; median {o:.3} s (runs {ours:.3?})");
    eprintln!("kubectl get {kinds} -A -o json: median {t:.3} s (runs {theirs:.3?})");
    eprintln!("ratio plugin/kubectl: {:.2}", o / t);
    assert_eq!(rows, BENCH_NAMESPACES * 400);
}

/// Prints what the README shows, from the objects above:
/// `cargo test -p oam-traefik-e2e --test e2e_plugin -- --ignored --nocapture readme`.
#[test]
#[ignore = "prints the README's example output"]
fn readme_example_output() {
    for args in [
        vec!["routes", "-n", NS],
        vec!["routes", "orders", "-n", NS, "-o", "wide"],
        vec!["identities", "-n", NS],
        vec!["explain", "legacy", "-n", NS],
        vec!["explain", "orders/api", "-n", NS],
    ] {
        let run = oam(&args);
        println!(
            "$ kubectl oam-traefik {}\n{}{}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn the_examples_apply_and_the_good_routes_are_protected() {
    let c = cluster();
    let k = c.cp.kubectl();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let good = examples.join("good").display().to_string();
    let out = k.run(&["apply", "-f", &good]).expect("kubectl runs");
    assert!(out.success(), "{}{}", out.stdout, out.stderr);
    // Without the webhook the API server takes the bad ones too: they are valid objects,
    // refused only by oam-traefik's rules.
    for dir in ["bad", "ai-generated"] {
        let path = examples.join(dir).display().to_string();
        let out = k
            .run(&["apply", "--dry-run=server", "-n", "shop", "-f", &path])
            .expect("kubectl runs");
        assert!(out.success(), "{dir}: {}{}", out.stdout, out.stderr);
    }
    let v = ok_json(&["routes", "-n", "shop", "-o", "json"]);
    let routes = items(&v);
    let (redirects, served): (Vec<&Value>, Vec<&Value>) = routes.iter().partition(|r| {
        r["object"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("web-"))
    });
    let urls: Vec<&str> = served.iter().filter_map(|r| r["url"].as_str()).collect();
    assert_eq!(
        urls.len(),
        3,
        "the IngressRoute, the HTTPRoute and the Ingress: {urls:?}"
    );
    for r in served {
        assert_eq!(r["status"], "protected", "{r:#}");
    }
    // The redirect-only routes serve no backend: exempt, and they say why.
    assert_eq!(redirects.len(), 2, "{routes:#?}");
    for r in redirects {
        assert_eq!(r["status"], "exempt", "{r:#}");
        assert!(
            r["reason"]
                .as_str()
                .is_some_and(|w| w.contains("serves no backend")),
            "{r:#}"
        );
    }
}

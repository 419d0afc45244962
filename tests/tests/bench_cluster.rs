//! Cluster mode against no cluster, side by side in one run (a benchmark, not a timed
//! test: it is `#[ignore]`d and prints figures; nothing is asserted about speed):
//!
//! ```sh
//! cargo test --release -p oam-traefik-e2e --test bench_cluster -- --ignored --nocapture
//! ```
//!
//! The real API server holds 2,000 Applications, 10,000 routes (Ingresses, IngressRoutes
//! and HTTPRoutes) and 5,000 Middlewares in 200 namespaces. One webhook watches them
//! (synced caches), another runs with `--no-cluster`; both are release builds with their
//! decision log and metrics on. The same three reviews are posted to each, one at a time
//! on one keep-alive HTTPS connection, in alternating rounds: a route CREATE (an
//! IngressRoute through the namespace's `sso` Middleware), an app CREATE (5 components
//! with an identity rule, the mutating endpoint) and a Middleware UPDATE that would
//! weaken `sso`, which 50 routes of its namespace use (the cluster webhook must find
//! them: OT008). Printed: p50 and p99 of each, their ratio, and the memory of the caches.

use std::time::{Duration, Instant};

use oam_traefik_e2e::admission::review;
use oam_traefik_e2e::control_plane::https_client;
use oam_traefik_e2e::{ControlPlane, Webhook};
use serde_json::{Value, json};

const NAMESPACES: usize = 200;
/// Per namespace: 10 Applications (2,000 in all).
const APPS: usize = 10;
/// Per namespace: 20 Ingresses, 20 IngressRoutes and 10 HTTPRoutes (10,000 in all), all
/// through `sso`.
const INGRESSES: usize = 20;
const INGRESS_ROUTES: usize = 20;
const HTTP_ROUTES: usize = 10;
/// Per namespace: `sso`, one identity Middleware per app and 14 others (5,000 in all).
const OTHER_MIDDLEWARES: usize = 14;
/// Rounds of each server, and reviews of each kind per round.
const ROUNDS: usize = 5;
const PER_ROUND: usize = 300;

#[test]
#[ignore = "benchmark: loads 17,000 objects into a control plane of its own"]
fn bench_cluster_mode_against_no_cluster() {
    let cp = ControlPlane::start().expect("a control plane of its own");
    cp.install_crds().expect("CRDs");
    let loaded = load(&cp);

    let began = Instant::now();
    let cluster = Webhook::start(&cp, None).expect("the cluster webhook");
    eprintln!(
        "cluster webhook ready (caches synced) in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let bare = Webhook::start_no_cluster(&cp, None).expect("the --no-cluster webhook");
    let client = https_client(cp.ca_file(), None).expect("client");

    let ns = "bench-7";
    let reviews = [
        ("route CREATE", "/validate", route_create(ns)),
        ("app CREATE (5 components)", "/mutate", app_create(ns)),
        (
            "Middleware UPDATE (50 routes use it)",
            "/validate",
            middleware_update(ns),
        ),
    ];
    // What each answers: the cluster webhook knows the routes that use `sso`.
    for (name, path, body) in &reviews {
        for (server, hook) in [("no cluster", &bare), ("cluster", &cluster)] {
            let answer = post(&client, &format!("{}{path}", hook.url()), body);
            let response = &answer["response"];
            eprintln!(
                "{server:>10} {name}: allowed {}, {}",
                response["allowed"],
                response["status"]["message"]
                    .as_str()
                    .map(|m| m.chars().take(120).collect::<String>())
                    .unwrap_or_else(|| format!("patch: {}", response["patch"].is_string()))
            );
        }
    }
    let update = post(
        &client,
        &format!("{}/validate", cluster.url()),
        &reviews[2].2,
    );
    assert_eq!(
        update["response"]["allowed"], false,
        "the cluster webhook must refuse to weaken a Middleware 50 routes use: {update}"
    );

    let mut times: Vec<[Vec<f64>; 2]> = reviews.iter().map(|_| [vec![], vec![]]).collect();
    for _ in 0..ROUNDS {
        for (s, hook) in [&bare, &cluster].into_iter().enumerate() {
            for (r, (_, path, body)) in reviews.iter().enumerate() {
                let url = format!("{}{path}", hook.url());
                let bytes = serde_json::to_vec(body).expect("JSON");
                for _ in 0..PER_ROUND {
                    let t = Instant::now();
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(bytes.clone())
                        .send()
                        .expect("POST");
                    assert!(resp.status().is_success());
                    let _ = resp.bytes().expect("body");
                    times[r][s].push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
    }

    let rss = |hook: &Webhook| {
        let pid = hook.pid().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
            .expect("VmRSS")
            / 1024.0
    };
    let (rss_bare, rss_cluster) = (rss(&bare), rss(&cluster));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    println!();
    println!(
        "{loaded} objects in the API server; {ROUNDS} rounds of {PER_ROUND} reviews of each kind per server, one connection; load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!(
        "| review | no cluster p50 ms | p99 ms | cluster p50 ms | p99 ms | cluster / no cluster p50 | p99 |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (r, (name, _, _)) in reviews.iter().enumerate() {
        let [bare_t, cluster_t] = &mut times[r];
        let (b50, b99) = (percentile(bare_t, 50.0), percentile(bare_t, 99.0));
        let (c50, c99) = (percentile(cluster_t, 50.0), percentile(cluster_t, 99.0));
        println!(
            "| {name} | {b50:.3} | {b99:.3} | {c50:.3} | {c99:.3} | {:.2}x | {:.2}x |",
            c50 / b50,
            c99 / b99
        );
    }
    println!();
    println!(
        "RSS: no cluster {rss_bare:.1} MiB, cluster {rss_cluster:.1} MiB: the caches of {loaded} objects take {:.1} MiB, {:.2} MiB per 1,000 objects",
        rss_cluster - rss_bare,
        (rss_cluster - rss_bare) / loaded as f64 * 1000.0
    );
}

/// The `q`th percentile (nearest rank) of `times`, sorted in place.
fn percentile(times: &mut [f64], q: f64) -> f64 {
    times.sort_by(f64::total_cmp);
    let rank = ((q / 100.0) * times.len() as f64).ceil() as usize;
    times[rank.clamp(1, times.len()) - 1]
}

fn post(client: &reqwest::blocking::Client, url: &str, body: &Value) -> Value {
    client
        .post(url)
        .json(body)
        .timeout(Duration::from_secs(20))
        .send()
        .and_then(|r| r.json())
        .expect("an AdmissionReview answer")
}

/// Writes every object straight to the API server (no webhook is registered); returns
/// how many objects the webhook's caches will hold.
fn load(cp: &ControlPlane) -> usize {
    let began = Instant::now();
    let mut jobs = vec![(
        "/apis/gateway.networking.k8s.io/v1/gatewayclasses".to_string(),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
               "metadata": {"name": "traefik"},
               "spec": {"controllerName": "traefik.io/gateway-controller"}}),
    )];
    for i in 0..NAMESPACES {
        let ns = cp.namespace(&format!("bench-{i}"), &[]).expect("namespace");
        for (path, body) in objects(&ns) {
            jobs.push((path.replace("{ns}", &ns), body));
        }
    }
    cp.create_all(&jobs)
        .expect("the API server takes every object");
    eprintln!(
        "loaded {} objects in {:.1} s",
        jobs.len(),
        began.elapsed().as_secs_f64()
    );
    jobs.len()
}

fn forward_auth(name: &str) -> Value {
    json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": {"name": name},
           "spec": {"forwardAuth": {"address": "http://auth.platform.svc:4180/verify"}}})
}

fn identity(app: &str) -> Value {
    json!({"type": "identity", "properties": {"version": "v1", "provider": "oidc",
        "issuer": "https://login.example.com/realms/prod", "audiences": [app],
        "scopes": [format!("{app}:read")]}})
}

fn application(ns: &str, app: &str, components: usize) -> Value {
    let components: Vec<Value> = (0..components)
        .map(|c| {
            json!({"name": format!("c{c}"), "type": "webservice",
            "properties": {"image": "ghcr.io/example/web:1.0", "port": 8080},
            "traits": [
                {"type": "gateway", "properties": {
                    "domain": format!("{app}-c{c}.{ns}.example.com"), "class": "traefik",
                    "http": {"/": 8080}}},
                identity(app),
            ]})
        })
        .collect();
    json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
           "metadata": {"name": app, "namespace": ns}, "spec": {"components": components}})
}

fn ingress_route(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"entryPoints": ["websecure"], "tls": {},
               "routes": [{"match": format!("Host(`{name}.{ns}.example.com`)"), "kind": "Rule",
                   "middlewares": [{"name": "sso"}],
                   "services": [{"name": name, "port": 80}]}]}})
}

/// One namespace's objects: (path under the API server, object).
fn objects(ns: &str) -> Vec<(&'static str, Value)> {
    let mut out = vec![
        (
            "/apis/traefik.io/v1alpha1/namespaces/{ns}/middlewares",
            forward_auth("sso"),
        ),
        (
            "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/gateways",
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                   "metadata": {"name": "traefik"},
                   "spec": {"gatewayClassName": "traefik",
                       "listeners": [{"name": "http", "protocol": "HTTP", "port": 8000}]}}),
        ),
    ];
    for a in 0..APPS {
        let app = format!("app-{a}");
        out.push((
            "/apis/core.oam.dev/v1beta1/namespaces/{ns}/applications",
            application(ns, &app, 1),
        ));
        out.push((
            "/apis/traefik.io/v1alpha1/namespaces/{ns}/middlewares",
            forward_auth(&format!("{app}-c0-identity")),
        ));
    }
    for m in 0..OTHER_MIDDLEWARES {
        out.push((
            "/apis/traefik.io/v1alpha1/namespaces/{ns}/middlewares",
            json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                   "metadata": {"name": format!("headers-{m}")},
                   "spec": {"headers": {"customResponseHeaders": {"X-Bench": "1"}}}}),
        ));
    }
    for i in 0..INGRESSES {
        out.push((
            "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": format!("ing-{i}"),
                       "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": format!("{ns}-sso@kubernetescrd")}},
                   "spec": {"ingressClassName": "traefik", "rules": [{"host": format!("ing-{i}.{ns}.example.com"),
                       "http": {"paths": [{"path": "/", "pathType": "Prefix",
                           "backend": {"service": {"name": format!("ing-{i}"), "port": {"number": 80}}}}]}}]}}),
        ));
    }
    for i in 0..INGRESS_ROUTES {
        out.push((
            "/apis/traefik.io/v1alpha1/namespaces/{ns}/ingressroutes",
            ingress_route(ns, &format!("ir-{i}")),
        ));
    }
    for i in 0..HTTP_ROUTES {
        out.push((
            "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes",
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                   "metadata": {"name": format!("http-{i}")},
                   "spec": {"parentRefs": [{"name": "traefik"}],
                       "hostnames": [format!("http-{i}.{ns}.example.com")],
                       "rules": [{"filters": [{"type": "ExtensionRef",
                           "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": "sso"}}],
                           "backendRefs": [{"name": format!("http-{i}"), "port": 80}]}]}}),
        ));
    }
    out
}

fn route_create(ns: &str) -> Value {
    review(
        "route-create",
        "CREATE",
        ns,
        ("traefik.io", "v1alpha1", "IngressRoute"),
        ingress_route(ns, "new-route"),
        Value::Null,
    )
}

fn app_create(ns: &str) -> Value {
    review(
        "app-create",
        "CREATE",
        ns,
        ("core.oam.dev", "v1beta1", "Application"),
        application(ns, "new-app", 5),
        Value::Null,
    )
}

fn middleware_update(ns: &str) -> Value {
    let mut old = forward_auth("sso");
    old["metadata"]["namespace"] = json!(ns);
    let weakened = json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
        "metadata": {"name": "sso", "namespace": ns},
        "spec": {"headers": {"customRequestHeaders": {"X-Trust-Me": "yes"}}}});
    review(
        "middleware-update",
        "UPDATE",
        ns,
        ("traefik.io", "v1alpha1", "Middleware"),
        weakened,
        old,
    )
}

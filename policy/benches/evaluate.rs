//! evaluate + patch on 1-, 5- and 50-component Applications (target: <= 20 us for 5).

use std::sync::LazyLock;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use oam_traefik_policy::{
    Index, Kind, Object, Operation, Policy, Requester, Review, Verdict, evaluate,
};
use serde_json::{Value, json};

/// An Application with `n` components, each with a gateway and an identity trait.
fn application(n: usize) -> Value {
    let components: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "name": format!("svc-{i}"),
                "type": "webservice",
                "properties": {"image": format!("registry.local/svc-{i}:1.0"), "port": 8080},
                "traits": [
                    {"type": "gateway", "properties": {
                        "domain": format!("svc-{i}.example.com"), "http": {"/": 8080}, "class": "traefik",
                        "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": "shop-gzip@kubernetescrd"}}},
                    {"type": "scaler", "properties": {"replicas": 2}},
                    {"type": "identity", "properties": {
                        "version": "v1", "provider": "oidc", "issuer": "https://login.example.com/realms/prod",
                        "audiences": [format!("svc-{i}")], "scopes": ["orders:read", "orders:write"],
                        "groups": ["team-orders"]}}
                ]
            })
        })
        .collect();
    json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {"name": "shop", "namespace": "shop", "labels": {"team": "orders"}},
        "spec": {"components": components}
    })
}

static POLICY: LazyLock<Policy> = LazyLock::new(Policy::default);
static LOOKUP: LazyLock<Index> = LazyLock::new(|| Index::new(true));
static REQUESTER: LazyLock<Requester> = LazyLock::new(|| Requester {
    username: "system:serviceaccount:ci:deployer".into(),
    groups: vec!["system:serviceaccounts".into()],
});

/// Evaluate the creation of `obj` by a CI deployer under the default policy.
fn create(obj: &Object) -> Verdict {
    let review = Review {
        operation: Operation::Create,
        namespace: "shop",
        object: Some(obj),
        old_object: None,
        requester: &REQUESTER,
    };
    evaluate(&review, &POLICY, &*LOOKUP)
}

/// One benchmark group: `run` on the JSON text of an N-component Application.
fn group(c: &mut Criterion, name: &str, run: impl Fn(&str, &Value) -> Verdict) {
    let mut group = c.benchmark_group(name);
    for n in [1usize, 5, 50] {
        let doc = application(n);
        let text = doc.to_string();
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let verdict = run(&text, &doc);
                assert_eq!(verdict.patch.0.len(), n);
                verdict
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    group(c, "parse+evaluate+patch", |_, doc| {
        create(
            &Object::from_value(doc)
                .expect("parses")
                .expect("known kind"),
        )
    });
    // What the webhook does: JSON text straight into the typed view.
    group(c, "parse from JSON text+evaluate+patch", |text, _| {
        create(&Object::parse_json_str(Kind::Application, text).expect("parses"))
    });
    // What the webhook did before: JSON text to a JSON value, then the typed view.
    group(c, "parse via JSON value+evaluate+patch", |text, _| {
        let v: Value = serde_json::from_str(text).expect("json");
        create(&Object::parse(Kind::Application, &v).expect("parses"))
    });
    let parsed: Vec<Object> = [1usize, 5, 50]
        .iter()
        .map(|n| {
            Object::from_value(&application(*n))
                .expect("parses")
                .expect("known kind")
        })
        .collect();
    group(c, "evaluate+patch (parsed)", |_, doc| {
        let n = doc["spec"]["components"].as_array().map_or(0, Vec::len);
        create(&parsed[[1usize, 5, 50].iter().position(|m| *m == n).unwrap_or(0)])
    });
}

/// An Ingress whose middlewares annotation holds `n` distinct references.
fn ingress_with_references(n: usize) -> String {
    let refs: Vec<String> = (0..n)
        .map(|i| format!("shop-mw-{i}@kubernetescrd"))
        .collect();
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "big", "namespace": "shop",
            "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": refs.join(",")}},
        "spec": {"ingressClassName": "traefik", "rules": [{"host": "big.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "big", "port": {"number": 80}}}}]}}]}
    })
    .to_string()
}

/// The cost of one review against the number of middleware references: linear is 10x
/// from 4,000 to 40,000.
fn references(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse+evaluate, references in one Ingress");
    group.sample_size(10);
    for n in [4_000usize, 40_000] {
        let text = ingress_with_references(n);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| create(&Object::parse_json_str(Kind::Ingress, &text).expect("parses")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench, references);
criterion_main!(benches);

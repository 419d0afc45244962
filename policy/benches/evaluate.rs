//! evaluate + patch on 1-, 5- and 50-component Applications (target: <= 20 us for 5).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use oam_traefik_policy::{Index, Kind, Object, Operation, Policy, Requester, Review, evaluate};
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

fn bench(c: &mut Criterion) {
    let policy = Policy::default();
    let lookup = Index::new(true);
    let requester = Requester {
        username: "system:serviceaccount:ci:deployer".into(),
        groups: vec!["system:serviceaccounts".into()],
    };
    let mut group = c.benchmark_group("parse+evaluate+patch");
    for n in [1usize, 5, 50] {
        let doc = application(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &doc, |b, doc| {
            b.iter(|| {
                let obj = Object::from_value(doc)
                    .expect("parses")
                    .expect("known kind");
                let verdict = evaluate(
                    &Review {
                        operation: Operation::Create,
                        namespace: "shop",
                        object: Some(&obj),
                        old_object: None,
                        requester: &requester,
                    },
                    &policy,
                    &lookup,
                );
                assert_eq!(verdict.patch.0.len(), n);
                verdict
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("parse from JSON text+evaluate+patch");
    for n in [1usize, 5, 50] {
        let text = application(n).to_string();
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| {
                let obj = Object::parse_json_str(Kind::Application, text).expect("parses");
                evaluate(
                    &Review {
                        operation: Operation::Create,
                        namespace: "shop",
                        object: Some(&obj),
                        old_object: None,
                        requester: &requester,
                    },
                    &policy,
                    &lookup,
                )
            })
        });
    }
    group.finish();
    // What the webhook did before: JSON text to a JSON value, then the typed view.
    let mut group = c.benchmark_group("parse via JSON value+evaluate+patch");
    for n in [1usize, 5, 50] {
        let text = application(n).to_string();
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| {
                let v: Value = serde_json::from_str(text).expect("json");
                let obj = Object::parse(Kind::Application, &v).expect("parses");
                evaluate(
                    &Review {
                        operation: Operation::Create,
                        namespace: "shop",
                        object: Some(&obj),
                        old_object: None,
                        requester: &requester,
                    },
                    &policy,
                    &lookup,
                )
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("evaluate+patch (parsed)");
    for n in [1usize, 5, 50] {
        let obj = Object::from_value(&application(n))
            .expect("parses")
            .expect("known kind");
        group.bench_with_input(BenchmarkId::from_parameter(n), &obj, |b, obj| {
            b.iter(|| {
                evaluate(
                    &Review {
                        operation: Operation::Create,
                        namespace: "shop",
                        object: Some(obj),
                        old_object: None,
                        requester: &requester,
                    },
                    &policy,
                    &lookup,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

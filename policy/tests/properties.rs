//! Properties over generated input: parsing and evaluation never panic, the webhook's
//! text path and `check`'s value path give one verdict, and an admitted route that nobody
//! proved an owner of is guarded, checked against an independent reading of Traefik's rules.

use std::collections::BTreeMap;

use oam_traefik_policy::{
    Index, Kind, Object, Operation, Policy, Requester, Review, Verdict, evaluate,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z@./_-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KINDS: [(&str, &str); 7] = [
    ("core.oam.dev/v1beta1", "Application"),
    ("networking.k8s.io/v1", "Ingress"),
    ("traefik.io/v1alpha1", "IngressRoute"),
    ("traefik.io/v1alpha1", "Middleware"),
    ("traefik.io/v1alpha1", "IngressRouteTCP"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.networking.k8s.io/v1", "GRPCRoute"),
];

fn verdict(object: &Object, lookup: &Index) -> Verdict {
    let requester = Requester::default();
    evaluate(
        &Review {
            operation: Operation::Create,
            namespace: "shop",
            object: Some(object),
            old_object: None,
            requester: &requester,
        },
        &Policy::default(),
        lookup,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever a document holds, reading it is an answer or an error, never a panic, and
    /// the webhook (JSON text) and `check` (parsed value) read it the same way.
    #[test]
    fn any_document_parses_or_errs_the_same_way_on_both_paths(
        kind in 0..KINDS.len(),
        metadata in any_json(),
        spec in any_json(),
    ) {
        let (api_version, kind) = KINDS[kind];
        let doc = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec});
        let by_value = Object::from_value(&doc);
        let text = serde_json::to_string(&doc).expect("serializes");
        let k = Kind::from_api_version(api_version, kind).expect("known kind");
        let by_text = Object::parse_json_str(k, &text);
        match (by_value, by_text) {
            (Ok(Some(a)), Ok(b)) => {
                prop_assert_eq!(&a, &b);
                let lookup = Index::new(true);
                prop_assert_eq!(verdict(&a, &lookup), verdict(&b, &lookup));
            }
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "paths disagree: {:?} / {:?}", a.map(|_| ()), b.map(|_| ())),
        }
    }
}

/// Middleware names that Traefik's key normalisation folds together.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("sso"),
        Just("s.so"),
        Just("s-so"),
        Just("s_so"),
        Just("team-sso"),
        Just("team.sso")
    ]
    .prop_map(str::to_string)
}

fn spec() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"forwardAuth": {"address": "http://auth.svc/verify"}})),
        Just(json!({"forwardAuth": null})),
        Just(json!({"forwardAuth": {"address": ""}})),
        Just(json!({"basicAuth": {"secret": "creds"}})),
        Just(json!({"basicAuth": {}})),
        Just(json!({"headers": {}})),
        Just(json!({"redirectScheme": {"scheme": "https"}})),
    ]
}

/// A reference as an IngressRoute writes it.
fn reference() -> impl Strategy<Value = Value> {
    prop_oneof![
        name().prop_map(|n| json!({"name": n})),
        name().prop_map(|n| json!({"name": n, "namespace": "other"})),
        name().prop_map(|n| json!({"name": format!("{n}@file")})),
        Just(json!({"name": "api@internal"})),
        name().prop_map(|n| json!({"name": format!("shop-{n}@kubernetescrd")})),
    ]
}

/// Traefik's key of `namespace/name`: runs of non-alphanumerics folded to one `-`.
fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// An independent reading of Traefik's resolution: the spec of the one Middleware a
/// reference names, by its key, when that one exists in the route's namespace.
fn resolve<'a>(
    reference: &Value,
    middlewares: &'a BTreeMap<(String, String), Value>,
) -> Option<&'a Value> {
    let name = reference["name"].as_str().unwrap_or_default();
    let wanted = match (name.rsplit_once('@'), reference["namespace"].as_str()) {
        (Some((k, "kubernetescrd")), _) => k.to_string(),
        (Some(_), _) => return None,
        (None, Some(ns)) if ns != "shop" => return None,
        (None, _) => key("shop", name),
    };
    let found: Vec<(&(String, String), &Value)> = middlewares
        .iter()
        .filter(|((ns, n), _)| key(ns, n) == wanted)
        .collect();
    match found.as_slice() {
        [((ns, _), spec)] if ns == "shop" => Some(spec),
        _ => None,
    }
}

/// A router is guarded when a reference resolves to an authenticator with its configuration.
fn guarded(reference: &Value, middlewares: &BTreeMap<(String, String), Value>) -> bool {
    resolve(reference, middlewares).is_some_and(|spec| {
        spec["forwardAuth"]["address"]
            .as_str()
            .is_some_and(|a| !a.is_empty())
            || spec["basicAuth"]["secret"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
    })
}

/// A router reaches no backend when its first middleware only redirects to https.
fn redirects_first(refs: &[Value], middlewares: &BTreeMap<(String, String), Value>) -> bool {
    refs.first()
        .and_then(|r| resolve(r, middlewares))
        .and_then(Value::as_object)
        .is_some_and(|spec| {
            spec.len() == 1
                && spec
                    .get("redirectScheme")
                    .is_some_and(|r| r["scheme"] == "https")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A route admitted from someone who is no trusted controller is guarded on every
    /// router by its own references, as Traefik resolves them (redirect-only routers aside).
    #[test]
    fn an_admitted_route_is_guarded_as_traefik_resolves_it(
        middlewares in prop::collection::btree_map((prop_oneof![Just("shop"), Just("other"), Just("shop-team")], name()), spec(), 0..5),
        routes in prop::collection::vec(prop::collection::vec(reference(), 0..3), 1..4),
    ) {
        let middlewares: BTreeMap<(String, String), Value> = middlewares
            .into_iter()
            .map(|((ns, n), s)| ((ns.to_string(), n), s))
            .collect();
        let mut lookup = Index::new(true);
        for ((ns, n), s) in &middlewares {
            let mw = json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                "metadata": {"name": n, "namespace": ns}, "spec": s});
            lookup.insert_value(&mw, "shop").expect("middleware parses");
        }
        let route = json!({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app.oam.dev/name": "orders"}},
            "spec": {"routes": routes.iter().map(|refs| json!({
                "match": "Host(`web.example.com`)", "middlewares": refs,
                "services": [{"name": "web", "port": 80}]})).collect::<Vec<_>>()}});
        let object = Object::from_value(&route).expect("parses").expect("route");
        let v = verdict(&object, &lookup);
        if v.allowed() {
            for refs in &routes {
                let redirect_first = redirects_first(refs, &middlewares);
                prop_assert!(
                    redirect_first || refs.iter().any(|r| guarded(r, &middlewares)),
                    "admitted an unguarded router: {:?} with {:?}", refs, middlewares
                );
            }
        }
    }
}

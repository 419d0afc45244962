//! Every rule, a case that passes and one that fails, with the rule id and JSON path asserted.

use oam_traefik_policy::{
    Exemption, Level, Lookup, NoLookup, Object, Operation, Policy, Requester, Review, RuleId,
    Verdict, evaluate,
};
use serde_json::Value;

mod common;
use common::{index, object, value, vela_core};

fn user(groups: &[&str]) -> Requester {
    Requester {
        username: "alice".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn review_with(yaml: &str, policy: &Policy, lookup: &dyn Lookup) -> Verdict {
    let obj = object(yaml);
    let requester = user(&["devs"]);
    evaluate(
        &Review {
            operation: Operation::Create,
            namespace: "shop",
            object: Some(&obj),
            old_object: None,
            requester: &requester,
        },
        policy,
        lookup,
    )
}

fn review(yaml: &str, docs: &[&str]) -> Verdict {
    review_with(yaml, &Policy::default(), &index(docs))
}

/// Admit `yaml` written by `requester` as the API server does: the mutating pass, its patch
/// applied, then the validating pass. Returns both verdicts.
fn admit_as(yaml: &str, docs: &[&str], requester: &Requester) -> (Verdict, Verdict) {
    let lookup = index(docs);
    let policy = Policy::default();
    let mut doc = value(yaml);
    let run = |doc: &Value| {
        let obj = Object::from_value(doc)
            .expect("parses")
            .expect("known kind");
        evaluate(
            &Review {
                operation: Operation::Create,
                namespace: "shop",
                object: Some(&obj),
                old_object: None,
                requester,
            },
            &policy,
            &lookup,
        )
    };
    let mutated = run(&doc);
    json_patch::patch(&mut doc, &mutated.patch).expect("the patch applies");
    let validated = run(&doc);
    (mutated, validated)
}

/// The (rule, path) pairs of the verdict's denials.
fn denials(v: &Verdict) -> Vec<(RuleId, String)> {
    v.violations
        .iter()
        .map(|x| (x.rule, x.path.clone()))
        .collect()
}

fn app(component_traits: &str) -> String {
    format!(
        "apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{name: orders, namespace: shop}}
spec:
  components:
    - name: api
      type: webservice
      properties: {{image: orders:1}}
      traits:
{component_traits}"
    )
}

const GATEWAY: &str = "        - type: gateway
          properties: {domain: orders.example.com, http: {\"/\": 8080}, class: traefik}
";

fn identity(props: &str) -> String {
    format!("        - type: identity\n          properties: {props}\n")
}

const GOOD_IDENTITY: &str = "{version: v1, provider: oidc, issuer: \"https://login.example.com/realms/prod\", audiences: [orders], scopes: [\"orders:read\"], groups: [team-orders]}";

fn good_app() -> String {
    app(&format!("{GATEWAY}{}", identity(GOOD_IDENTITY)))
}

const FORWARD_AUTH: &str = "apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: sso, namespace: shop}
spec: {forwardAuth: {address: \"https://auth.example.com/verify\"}}";

const HEADERS: &str = "apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: headers, namespace: shop}
spec: {headers: {customRequestHeaders: {X-A: b}}}";

// OT001 ---------------------------------------------------------------------------------

#[test]
fn ot001_gateway_without_identity_is_denied_at_the_trait() {
    let v = review(&app(GATEWAY), &[]);
    assert_eq!(
        denials(&v),
        vec![(RuleId::OT001, "/spec/components/0/traits/0".into())]
    );
    let text = v.denial_message();
    assert!(text.contains("component \"api\""), "{text}");
    assert!(
        text.contains("type: identity"),
        "the hint says what to write: {text}"
    );
}

#[test]
fn ot001_component_identity_or_app_policy_passes() {
    assert!(review(&good_app(), &[]).allowed());
    let with_policy = format!(
        "{}  policies:\n    - name: sso\n      type: identity\n      properties: {GOOD_IDENTITY}\n",
        app(GATEWAY)
    );
    let v = review(&with_policy, &[]);
    assert!(v.allowed(), "{:?}", v.violations);
}

#[test]
fn ot001_components_without_route_traits_need_no_identity() {
    let v = review(
        &app("        - type: scaler\n          properties: {replicas: 2}\n"),
        &[],
    );
    assert!(v.allowed());
}

// OT002 ---------------------------------------------------------------------------------

#[test]
fn ot002_http_issuer_is_denied() {
    let v = review(
        &app(&format!(
            "{GATEWAY}{}",
            identity(
                "{version: v1, provider: oidc, issuer: \"http://login.example.com\", audiences: [orders]}"
            )
        )),
        &[],
    );
    assert_eq!(
        denials(&v),
        vec![(
            RuleId::OT002,
            "/spec/components/0/traits/1/properties/issuer".into()
        )]
    );
}

#[test]
fn ot002_oidc_needs_issuer_and_audiences() {
    let v = review(
        &app(&format!(
            "{GATEWAY}{}",
            identity("{version: v1, provider: oidc}")
        )),
        &[],
    );
    assert_eq!(
        denials(&v),
        vec![
            (
                RuleId::OT002,
                "/spec/components/0/traits/1/properties/issuer".into()
            ),
            (
                RuleId::OT002,
                "/spec/components/0/traits/1/properties/audiences".into()
            ),
        ]
    );
}

#[test]
fn ot002_issuer_outside_the_allowed_list_is_denied() {
    let policy = Policy {
        allowed_issuers: vec!["https://login.example.com/realms/".into()],
        ..Policy::default()
    };
    assert!(review_with(&good_app(), &policy, &index(&[])).allowed());
    let other = app(&format!(
        "{GATEWAY}{}",
        identity(
            "{version: v1, provider: jwt, issuer: \"https://evil.example.net\", audiences: [x]}"
        )
    ));
    let v = review_with(&other, &policy, &index(&[]));
    assert_eq!(v.violations[0].rule, RuleId::OT002);
    assert!(v.violations[0].message.contains("not allowed"));
}

// OT003 ---------------------------------------------------------------------------------

#[test]
fn ot003_wildcard_denied_and_too_many_scopes() {
    let v = review(
        &app(&format!(
            "{GATEWAY}{}",
            identity(
                "{version: v1, provider: oidc, issuer: \"https://idp.example.com\", audiences: [a], scopes: [\"orders:read\", \"*\"]}"
            )
        )),
        &[],
    );
    assert_eq!(
        denials(&v),
        vec![(
            RuleId::OT003,
            "/spec/components/0/traits/1/properties/scopes/1".into()
        )]
    );
    let policy = Policy {
        max_scopes: 1,
        denied_scopes: vec!["admin".into()],
        ..Policy::default()
    };
    let v = review_with(
        &app(&format!(
            "{GATEWAY}{}",
            identity(
                "{version: v1, provider: oidc, issuer: \"https://idp.example\", audiences: [a], scopes: [admin, read]}"
            )
        )),
        &policy,
        &index(&[]),
    );
    let rules: Vec<_> = denials(&v);
    assert_eq!(
        rules,
        vec![
            (
                RuleId::OT003,
                "/spec/components/0/traits/1/properties/scopes/0".into()
            ),
            (
                RuleId::OT003,
                "/spec/components/0/traits/1/properties/scopes".into()
            ),
        ]
    );
}

#[test]
fn ot003_exact_scopes_pass() {
    assert!(review(&good_app(), &[]).allowed());
}

// OT004 / OT005 -------------------------------------------------------------------------

fn app_with_middleware(mw: &str) -> String {
    app(&format!(
        "{GATEWAY}{}",
        identity(&format!(
            "{{version: v1, provider: forward-auth, middleware: {mw}}}"
        ))
    ))
}

#[test]
fn ot004_identity_middleware_must_exist_in_the_namespace() {
    let v = review(&app_with_middleware("sso"), &[]);
    assert_eq!(
        denials(&v),
        vec![(
            RuleId::OT004,
            "/spec/components/0/traits/1/properties/middleware".into()
        )]
    );
    let v = review(&app_with_middleware("\"other/sso\""), &[FORWARD_AUTH]);
    assert_eq!(v.violations[0].rule, RuleId::OT004);
    assert!(review(&app_with_middleware("sso"), &[FORWARD_AUTH]).allowed());
}

/// A gateway trait whose Ingress annotation lists `entries`, on a component with a rule.
fn app_with_gateway_annotation(entries: &str) -> String {
    app(&format!(
        "        - type: gateway
          properties:
            domain: orders.example.com
            http: {{\"/\": 8080}}
            class: traefik
            annotations: {{traefik.ingress.kubernetes.io/router.middlewares: \"{entries}\"}}
{}",
        identity(GOOD_IDENTITY)
    ))
}

#[test]
fn ot004_a_gateway_annotation_naming_a_missing_middleware_is_refused_at_apply() {
    let path = "/spec/components/0/traits/0/properties/annotations/traefik.ingress.kubernetes.io~1router.middlewares";
    // Missing, another namespace's key that does not exist, and a bare name Traefik never resolves.
    for entries in [
        "shop-gzipp@kubernetescrd",
        "other-headers@kubernetescrd",
        "headers",
    ] {
        let v = review(&app_with_gateway_annotation(entries), &[HEADERS]);
        assert_eq!(
            denials(&v),
            vec![(RuleId::OT004, path.to_string())],
            "{entries}"
        );
        assert!(
            v.violations[0]
                .message
                .contains("gateway trait's Ingress annotation"),
            "{}",
            v.violations[0].message
        );
    }
    // An existing Middleware, and the component's own generated one that KubeVela creates
    // with the app, pass.
    let v = review(
        &app_with_gateway_annotation(
            "shop-headers@kubernetescrd,shop-orders-api-identity@kubernetescrd",
        ),
        &[HEADERS],
    );
    assert!(v.allowed(), "{:?}", v.violations);
    // Without a cluster to ask, nothing is refused; the lookup is reported unresolved.
    let v = review_with(
        &app_with_gateway_annotation("shop-gzipp@kubernetescrd"),
        &Policy::default(),
        &NoLookup,
    );
    assert!(v.allowed());
    assert_eq!(
        v.unresolved,
        vec!["middleware shop-gzipp@kubernetescrd".to_string()]
    );
}

#[test]
fn ot004_unanswerable_lookup_is_no_violation() {
    let v = review_with(&app_with_middleware("sso"), &Policy::default(), &NoLookup);
    assert!(v.allowed());
    assert_eq!(v.unresolved, vec!["Middleware shop/sso".to_string()]);
}

#[test]
fn ot004_route_reference_to_other_namespace_is_denied() {
    let route = "apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: web, namespace: shop}
spec:
  routes:
    - match: Host(`shop.example.com`)
      middlewares: [{name: sso, namespace: other}]
      services: [{name: web, port: 80}]";
    let v = review(route, &[]);
    assert!(
        v.violations
            .iter()
            .any(|x| x.rule == RuleId::OT004 && x.path == "/spec/routes/0")
    );
}

#[test]
fn ot005_identity_middleware_that_does_not_authenticate_is_denied() {
    let v = review(&app_with_middleware("headers"), &[HEADERS]);
    assert_eq!(
        denials(&v),
        vec![(
            RuleId::OT005,
            "/spec/components/0/traits/1/properties/middleware".into()
        )]
    );
}

#[test]
fn ot005_chain_containing_auth_counts_as_auth() {
    let chain = "apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: secure, namespace: shop}
spec: {chain: {middlewares: [{name: headers}, {name: sso}]}}";
    assert!(
        review(
            &app_with_middleware("secure"),
            &[chain, HEADERS, FORWARD_AUTH]
        )
        .allowed()
    );
}

// OT006 ---------------------------------------------------------------------------------

fn ingress_route(middlewares: &str) -> String {
    format!(
        "apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {{name: web, namespace: shop}}
spec:
  entryPoints: [websecure]
  routes:
    - match: Host(`shop.example.com`)
      kind: Rule
{middlewares}      services: [{{name: web, port: 80}}]
  tls: {{}}"
    )
}

#[test]
fn ot006_ingressroute_without_auth_is_a_rogue_endpoint() {
    let v = review(&ingress_route(""), &[]);
    assert_eq!(denials(&v), vec![(RuleId::OT006, "/spec/routes/0".into())]);
    let v = review(
        &ingress_route("      middlewares: [{name: headers}]\n"),
        &[HEADERS],
    );
    assert_eq!(v.violations[0].rule, RuleId::OT006);
    assert!(
        v.violations[0]
            .message
            .contains("none of its middlewares authenticates")
    );
}

#[test]
fn ot006_each_route_needs_auth_not_just_one_of_them() {
    let two_routes = "apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: web, namespace: shop}
spec:
  routes:
    - match: Host(`a.example.com`) && PathPrefix(`/admin`)
      middlewares: [{name: sso}]
      services: [{name: web, port: 80}]
    - match: Host(`a.example.com`)
      services: [{name: web, port: 80}]";
    let v = review(two_routes, &[FORWARD_AUTH]);
    assert_eq!(denials(&v), vec![(RuleId::OT006, "/spec/routes/1".into())]);
    let two_rules = http_route(
        "edge",
        "      filters: [{type: ExtensionRef, extensionRef: {group: traefik.io, kind: Middleware, name: sso}}]\n",
    )
    .replace("labels: {app.oam.dev/name: orders, app.oam.dev/component: api}", "labels: {}")
        + "\n    - matches: [{path: {type: PathPrefix, value: /open}}]\n      backendRefs: [{name: api, port: 8080}]";
    let v = review(&two_rules, &[TRAEFIK_GATEWAY, FORWARD_AUTH]);
    assert_eq!(denials(&v), vec![(RuleId::OT006, "/spec/rules/1".into())]);
}

#[test]
fn ot006_ingressroute_with_forward_auth_passes() {
    let v = review(
        &ingress_route("      middlewares: [{name: sso}]\n"),
        &[FORWARD_AUTH],
    );
    assert!(v.allowed(), "{:?}", v.violations);
    assert!(v.patch.0.is_empty());
}

fn ingress(class: &str, labels: &str, annotations: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: shop
  labels: {{{labels}}}
  annotations: {{{annotations}}}
spec:
  ingressClassName: {class}
  rules:
    - host: orders.example.com
      http:
        paths:
          - {{path: /, pathType: ImplementationSpecific, backend: {{service: {{name: api, port: {{number: 8080}}}}}}}}"
    )
}

#[test]
fn ot006_ingress_of_another_class_is_not_traefiks_business() {
    assert!(review(&ingress("nginx", "", ""), &[]).allowed());
    let v = review(&ingress("traefik", "", ""), &[]);
    assert_eq!(v.violations[0].rule, RuleId::OT006);
}

#[test]
fn ot006_ingress_class_with_traefik_controller_counts() {
    let class = "apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: edge}
spec: {controller: traefik.io/ingress-controller}";
    let v = review(&ingress("edge", "", ""), &[class]);
    assert_eq!(v.violations[0].rule, RuleId::OT006);
}

#[test]
fn ot006_ingress_owned_by_app_with_identity_gets_the_reference() {
    let labels = "app.oam.dev/name: orders, app.oam.dev/component: api";
    let app_doc = good_app();
    let (mutated, validated) = admit_as(&ingress("traefik", labels, ""), &[&app_doc], &vela_core());
    assert!(validated.allowed(), "{:?}", validated.violations);
    assert_eq!(
        mutated.injected,
        vec!["shop-orders-api-identity@kubernetescrd".to_string()]
    );
    // The same labels written by anyone else claim nothing: a rogue endpoint.
    let (mutated, validated) = admit_as(
        &ingress("traefik", labels, ""),
        &[&app_doc],
        &user(&["devs"]),
    );
    assert!(mutated.injected.is_empty());
    assert_eq!(validated.violations[0].rule, RuleId::OT006);
    assert!(
        validated.violations[0]
            .message
            .contains("trusted controller"),
        "{}",
        validated.violations[0].message
    );
    // Owned by an app whose component declares no identity: rogue.
    let bare = app(GATEWAY);
    let (_, v) = admit_as(&ingress("traefik", labels, ""), &[&bare], &vela_core());
    assert_eq!(v.violations[0].rule, RuleId::OT006);
    assert!(
        v.violations[0]
            .message
            .contains("component \"api\" of app \"orders\"")
    );
}

fn http_route(gateway: &str, filters: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: api, namespace: shop, labels: {{app.oam.dev/name: orders, app.oam.dev/component: api}}}}
spec:
  parentRefs: [{{name: {gateway}}}]
  hostnames: [orders.example.com]
  rules:
    - matches: [{{path: {{type: PathPrefix, value: /}}}}]
{filters}      backendRefs: [{{name: api, port: 8080}}]"
    )
}

const TRAEFIK_GATEWAY: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec: {gatewayClassName: traefik}";

const OTHER_GATEWAY: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: mesh, namespace: shop}
spec: {gatewayClassName: istio}";

#[test]
fn ot006_http_route_to_traefik_gateway_is_injected_or_refused() {
    let app_doc = good_app();
    let (mutated, validated) = admit_as(
        &http_route("edge", ""),
        &[TRAEFIK_GATEWAY, &app_doc],
        &vela_core(),
    );
    assert!(validated.allowed(), "{:?}", validated.violations);
    assert_eq!(
        mutated.injected,
        vec!["shop/orders-api-identity".to_string()]
    );
    let bare = app(GATEWAY);
    let (_, v) = admit_as(
        &http_route("edge", ""),
        &[TRAEFIK_GATEWAY, &bare],
        &vela_core(),
    );
    assert_eq!(denials(&v), vec![(RuleId::OT006, "/spec/rules/0".into())]);
    assert!(review(&http_route("mesh", ""), &[OTHER_GATEWAY, &bare]).allowed());
}

// OT007 ---------------------------------------------------------------------------------

fn break_glass(groups: &[&str], old: Option<&Object>, obj: &Object) -> Verdict {
    let policy = Policy {
        break_glass: oam_traefik_policy::config::BreakGlass {
            groups: vec!["sre".into()],
            ..Default::default()
        },
        ..Policy::default()
    };
    let requester = user(groups);
    evaluate(
        &Review {
            operation: if old.is_some() {
                Operation::Update
            } else {
                Operation::Create
            },
            namespace: "shop",
            object: Some(obj),
            old_object: old,
            requester: &requester,
        },
        &policy,
        &index(&[]),
    )
}

#[test]
fn ot007_break_glass_outside_the_groups_is_denied() {
    let obj = object(&ingress(
        "traefik",
        "",
        "oam-traefik.io/break-glass: \"incident 42\"",
    ));
    let v = break_glass(&["devs"], None, &obj);
    assert_eq!(
        denials(&v)[0],
        (
            RuleId::OT007,
            "/metadata/annotations/oam-traefik.io~1break-glass".into()
        )
    );
    // The route itself is still judged: it is rogue too.
    assert!(v.violations.iter().any(|x| x.rule == RuleId::OT006));
}

#[test]
fn ot007_break_glass_by_an_allowed_group_exempts_and_says_why() {
    let obj = object(&ingress(
        "traefik",
        "",
        "oam-traefik.io/break-glass: \"incident 42\"",
    ));
    let v = break_glass(&["sre"], None, &obj);
    assert!(v.allowed());
    assert_eq!(
        v.exemption,
        Some(Exemption::BreakGlass {
            reason: "incident 42".into(),
            user: "alice".into()
        })
    );
    // A controller's later update that keeps the annotation as it was is not refused.
    let v = break_glass(&["system:serviceaccounts"], Some(&obj), &obj);
    assert!(v.allowed());
}

// OT008 ---------------------------------------------------------------------------------

fn middleware_change(new: Option<&str>, docs: &[&str]) -> Verdict {
    let old = object(FORWARD_AUTH);
    let new = new.map(object);
    let requester = user(&[]);
    evaluate(
        &Review {
            operation: if new.is_some() {
                Operation::Update
            } else {
                Operation::Delete
            },
            namespace: "shop",
            object: new.as_ref(),
            old_object: Some(&old),
            requester: &requester,
        },
        &Policy::default(),
        &index(docs),
    )
}

#[test]
fn ot008_auth_middleware_in_use_cannot_become_non_auth_or_be_deleted() {
    let route = ingress_route("      middlewares: [{name: sso}]\n");
    let weakened = HEADERS.replace("name: headers", "name: sso");
    let v = middleware_change(Some(&weakened), &[&route]);
    assert_eq!(denials(&v), vec![(RuleId::OT008, "/spec".into())]);
    assert!(v.violations[0].message.contains("IngressRoute shop/web"));
    let v = middleware_change(None, &[&route]);
    assert_eq!(denials(&v), vec![(RuleId::OT008, "/metadata/name".into())]);
    assert!(
        v.violations[0]
            .message
            .contains("deleting it would leave them open")
    );
}

#[test]
fn ot008_unused_middleware_may_change() {
    let weakened = HEADERS.replace("name: headers", "name: sso");
    assert!(middleware_change(Some(&weakened), &[]).allowed());
    assert!(middleware_change(None, &[]).allowed());
}

// OT009 ---------------------------------------------------------------------------------

#[test]
fn ot009_public_needs_reason_and_a_publishing_namespace() {
    let public = app(&format!(
        "{GATEWAY}{}",
        identity("{version: v1, provider: public}")
    ));
    let v = review(&public, &[]);
    assert_eq!(
        denials(&v),
        vec![
            (
                RuleId::OT009,
                "/spec/components/0/traits/1/properties/reason".into()
            ),
            (
                RuleId::OT009,
                "/spec/components/0/traits/1/properties/provider".into()
            ),
        ]
    );
    let policy = Policy {
        public_namespaces: vec!["shop".into()],
        ..Policy::default()
    };
    let ok = app(&format!(
        "{GATEWAY}{}",
        identity("{version: v1, provider: public, reason: \"status page\"}")
    ));
    let v = review_with(&ok, &policy, &index(&[]));
    assert!(v.allowed(), "{:?}", v.violations);
    assert!(v.patch.0.is_empty(), "public routes get no auth middleware");
}

// OT010 ---------------------------------------------------------------------------------

#[test]
fn ot010_missing_version_warns_by_default_and_denies_when_set() {
    let unversioned = app(&format!(
        "{GATEWAY}{}",
        identity("{provider: oidc, issuer: \"https://idp.example.com\", audiences: [a]}")
    ));
    let v = review(&unversioned, &[]);
    assert!(v.allowed());
    assert_eq!(v.warnings[0].rule, RuleId::OT010);
    assert_eq!(
        v.warnings[0].path,
        "/spec/components/0/traits/1/properties/version"
    );
    let strict = Policy {
        rules: [(RuleId::OT010, Level::Deny)].into_iter().collect(),
        ..Policy::default()
    };
    assert_eq!(
        review_with(&unversioned, &strict, &index(&[])).violations[0].rule,
        RuleId::OT010
    );
    assert!(review(&good_app(), &[]).warnings.is_empty());
}

// Scope of interception ------------------------------------------------------------------

#[test]
fn exempt_namespace_is_untouched() {
    let v = review(
        &app(GATEWAY).replace("namespace: shop", "namespace: kube-system"),
        &[],
    );
    assert!(v.allowed() && v.patch.0.is_empty());
    assert_eq!(
        v.exemption,
        Some(Exemption::Namespace {
            namespace: "kube-system".into()
        })
    );
}

#[test]
fn every_violation_is_reported_not_just_the_first() {
    let v = review(
        &app(&format!(
            "{GATEWAY}{}",
            identity("{provider: oidc, issuer: \"http://x\", audiences: [a], scopes: [\"*\"]}")
        )),
        &[],
    );
    assert_eq!(
        v.rule_ids(),
        vec![RuleId::OT002, RuleId::OT003, RuleId::OT010]
    );
}

#[test]
fn wrong_type_in_identity_names_its_path() {
    let err = Object::from_value(&value(&app(&format!(
        "{GATEWAY}{}",
        identity("{version: v1, provider: oidc, scopes: \"orders:read\"}")
    ))))
    .expect_err("scopes must be a list");
    assert_eq!(err.path, "spec.components[0].traits[1].properties.scopes");
    let err = Object::from_value(&value(&app(&format!(
        "{GATEWAY}{}",
        identity("{provider: saml}")
    ))))
    .expect_err("unknown provider");
    assert!(err.message.contains("saml"), "{err}");
}

#[test]
fn parsing_json_text_gives_the_same_view_and_the_same_error_path() {
    for doc in [
        good_app(),
        ingress_route("      middlewares: [{name: sso}]\n"),
        http_route("edge", ""),
    ] {
        let v = value(&doc);
        let kind = object(&doc).kind();
        let text = serde_json::to_string(&v).expect("json");
        assert_eq!(Object::parse_json_str(kind, &text), Object::parse(kind, &v));
    }
    let bad = value(&app(&format!(
        "{GATEWAY}{}",
        identity("{version: v1, provider: oidc, scopes: \"orders:read\"}")
    )));
    let kind = oam_traefik_policy::Kind::Application;
    let from_text =
        Object::parse_json_str(kind, &bad.to_string()).expect_err("scopes must be a list");
    assert_eq!(
        from_text,
        Object::parse(kind, &bad).expect_err("same error")
    );
    assert_eq!(
        from_text.path,
        "spec.components[0].traits[1].properties.scopes"
    );
    assert!(Object::parse_json_str(kind, "[1]").is_err());
}

//! The trust model, tried the way a hostile manifest would: what the webhook refuses to
//! believe (labels, unresolvable references, auth by key only, squatted names), and the
//! precise cases it lets through (cert-manager's solver, a kept break-glass that opens nothing).

use oam_traefik_policy::config::DEFAULT_ACME_SOLVER;
use oam_traefik_policy::{Operation, Policy, Requester, Review, RuleId, Verdict, evaluate};

mod common;
use common::{index, object, vela_core};

fn as_user(name: &str, groups: &[&str]) -> Requester {
    Requester {
        username: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn alice() -> Requester {
    as_user("alice", &["devs"])
}

fn vela() -> Requester {
    vela_core()
}

fn run(
    op: Operation,
    new: &str,
    old: Option<&str>,
    by: &Requester,
    policy: &Policy,
    docs: &[&str],
) -> Verdict {
    let new = object(new);
    let old = old.map(object);
    evaluate(
        &Review {
            operation: op,
            namespace: "shop",
            object: Some(&new),
            old_object: old.as_ref(),
            requester: by,
        },
        policy,
        &index(docs),
    )
}

fn create(new: &str, by: &Requester, docs: &[&str]) -> Verdict {
    run(Operation::Create, new, None, by, &Policy::default(), docs)
}

fn rules(v: &Verdict) -> Vec<RuleId> {
    let mut ids: Vec<RuleId> = v.violations.iter().map(|x| x.rule).collect();
    ids.dedup();
    ids
}

fn middleware(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {{name: {name:?}, namespace: shop}}\nspec: {spec}"
    )
}

fn ingress_route(middlewares: &str) -> String {
    format!(
        "apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {{name: web, namespace: shop}}
spec:
  routes:
    - match: Host(`web.example.com`)
      middlewares: {middlewares}
      services: [{{name: web, port: 80}}]"
    )
}

fn ingress(annotation: &str, labels: &str, paths: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  labels: {{{labels}}}
  annotations: {{traefik.ingress.kubernetes.io/router.middlewares: {annotation:?}}}
spec:
  ingressClassName: traefik
  rules:
    - host: web.example.com
      http:
        paths: {paths}"
    )
}

const ROOT: &str =
    "[{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]";
const SSO: &str = "{forwardAuth: {address: \"http://auth.platform.svc:8080/verify\"}}";

const APP: &str = "apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: orders, namespace: shop}
spec:
  components:
    - name: api
      type: webservice
      traits:
        - type: gateway
          properties: {domain: orders.example.com, http: {\"/\": 8080}, class: traefik}
        - type: identity
          properties: {version: v1, provider: oidc, issuer: \"https://login.example.com\", audiences: [orders]}";

#[test]
fn only_a_configured_authenticator_guards() {
    let cases = [
        ("{forwardAuth: null}", false),
        ("{forwardAuth: {}}", false),
        ("{forwardAuth: {address: \"\"}}", false),
        ("{basicAuth: {}}", false),
        ("{basicAuth: {users: [\"a:b\"]}}", false),
        ("{basicAuth: {secret: creds}}", true),
        ("{digestAuth: {secret: creds}}", true),
        (SSO, true),
        (
            "{headers: {customRequestHeaders: {X-Forwarded-User: admin}}}",
            false,
        ),
        ("{plugin: {jwt: {}}}", false),
    ];
    for (spec, guards) in cases {
        let mw = middleware("guard", spec);
        let v = create(&ingress_route("[{name: guard}]"), &alice(), &[&mw]);
        assert_eq!(v.allowed(), guards, "{spec}: {:?}", v.violations);
    }
}

#[test]
fn pinned_auth_services_are_the_only_ones_that_count() {
    let policy = Policy {
        trusted_auth_services: vec!["http://auth.platform.svc:8080".into()],
        ..Policy::default()
    };
    let pinned = middleware("guard", SSO);
    let elsewhere = middleware(
        "guard",
        "{forwardAuth: {address: \"http://always-200.attacker.io/\"}}",
    );
    let look_alike = middleware(
        "guard",
        "{forwardAuth: {address: \"http://auth.platform.svc:8080.attacker.io/\"}}",
    );
    let route = ingress_route("[{name: guard}]");
    assert!(
        run(
            Operation::Create,
            &route,
            None,
            &alice(),
            &policy,
            &[&pinned]
        )
        .allowed()
    );
    for mw in [elsewhere, look_alike] {
        let v = run(Operation::Create, &route, None, &alice(), &policy, &[&mw]);
        assert_eq!(rules(&v), [RuleId::OT006], "{mw}");
    }
}

#[test]
fn references_nobody_can_resolve_guard_nothing() {
    let trusted = Policy {
        trusted_middlewares: vec!["sso@file".into()],
        ..Policy::default()
    };
    for (reference, policy, expected) in [
        ("api@internal", Policy::default(), vec![RuleId::OT006]),
        ("sso@file", Policy::default(), vec![RuleId::OT006]),
        ("sso@file", trusted.clone(), vec![]),
        ("sso", trusted, vec![RuleId::OT004, RuleId::OT006]),
    ] {
        let v = run(
            Operation::Create,
            &ingress(reference, "", ROOT),
            None,
            &alice(),
            &policy,
            &[],
        );
        assert_eq!(rules(&v), expected, "{reference}: {:?}", v.violations);
    }
    // A chain is only as good as a member that resolves and authenticates.
    let chain = middleware(
        "chain",
        "{chain: {middlewares: [{name: sso@file}, {name: gone}]}}",
    );
    let v = create(&ingress_route("[{name: chain}]"), &alice(), &[&chain]);
    assert_eq!(rules(&v), [RuleId::OT006]);
    let sso = middleware("sso", SSO);
    let chain = middleware(
        "chain",
        "{chain: {middlewares: [{name: sso@file}, {name: sso}]}}",
    );
    assert!(create(&ingress_route("[{name: chain}]"), &alice(), &[&chain, &sso]).allowed());
}

#[test]
fn references_resolve_through_traefiks_keys_and_collisions() {
    let sso = middleware("team-sso", SSO);
    let twin = middleware("team.sso", "{headers: {}}");
    // One Middleware under the key: the annotation reaches it, whatever its punctuation.
    let dotted = middleware("team.sso", SSO);
    assert!(
        create(
            &ingress("shop-team-sso@kubernetescrd", "", ROOT),
            &alice(),
            &[&dotted]
        )
        .allowed()
    );
    // Two under one key: which one Traefik runs is not defined.
    let v = create(
        &ingress_route("[{name: team-sso}]"),
        &alice(),
        &[&sso, &twin],
    );
    assert_eq!(
        rules(&v),
        [RuleId::OT004, RuleId::OT006],
        "{:?}",
        v.violations
    );
    assert!(
        v.violations[0].message.contains("2 Middlewares share"),
        "{}",
        v.violations[0].message
    );
    // `shop-team/sso` is filed under shop-team-sso too: another namespace's Middleware.
    let foreign = "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {name: sso, namespace: shop-team}\nspec: {forwardAuth: {address: \"http://x/\"}}";
    let v = create(
        &ingress("shop-team-sso@kubernetescrd", "", ROOT),
        &alice(),
        &[foreign],
    );
    assert_eq!(
        rules(&v),
        [RuleId::OT004, RuleId::OT006],
        "{:?}",
        v.violations
    );
    // Creating the second Middleware under a taken key is refused at the source.
    let v = create(&twin, &alice(), &[&sso]);
    assert_eq!(rules(&v), [RuleId::OT012]);
    assert!(create(&twin, &alice(), &[]).allowed());
}

#[test]
fn ownership_is_proven_by_the_writer_not_the_labels() {
    let labels = "app.oam.dev/name: orders, app.oam.dev/component: api";
    let generated = "shop-orders-api-identity@kubernetescrd";
    // KubeVela's write, before its identity Middleware exists: bound to it, admitted.
    let v = create(&ingress(generated, labels, ROOT), &vela(), &[APP]);
    assert!(v.allowed(), "{:?}", v.violations);
    // Anyone else's write with the same labels and reference: the Middleware is missing.
    let v = create(&ingress(generated, labels, ROOT), &alice(), &[APP]);
    assert_eq!(
        rules(&v),
        [RuleId::OT004, RuleId::OT006],
        "{:?}",
        v.violations
    );
    // Labels naming an app of another namespace prove nothing, whoever writes them.
    let elsewhere =
        "app.oam.dev/name: orders, app.oam.dev/namespace: prod, app.oam.dev/component: api";
    let v = create(&ingress("", elsewhere, ROOT), &vela(), &[APP]);
    assert_eq!(rules(&v), [RuleId::OT006]);
    assert!(
        v.violations[0].message.contains("namespace \"prod\""),
        "{}",
        v.violations[0].message
    );
    // A public app's name does not lend its openness to someone else's route.
    let public = APP.replace(
        "{version: v1, provider: oidc, issuer: \"https://login.example.com\", audiences: [orders]}",
        "{version: v1, provider: public, reason: demo}",
    );
    assert!(create(&ingress("", labels, ROOT), &vela(), &[&public]).allowed());
    assert_eq!(
        rules(&create(&ingress("", labels, ROOT), &alice(), &[&public])),
        [RuleId::OT006]
    );
}

#[test]
fn generated_identity_names_are_reserved_for_trusted_controllers() {
    let headers = "{headers: {customRequestHeaders: {X-Forwarded-User: admin}}}";
    for name in [
        "orders-api-identity",
        "orders.api.identity",
        "orders_api-identity",
    ] {
        let v = create(&middleware(name, SSO), &alice(), &[]);
        assert_eq!(rules(&v), [RuleId::OT011], "{name}");
    }
    assert!(create(&middleware("orders-api-identity", SSO), &vela(), &[]).allowed());
    let v = create(&middleware("orders-api-identity", headers), &vela(), &[]);
    assert_eq!(rules(&v), [RuleId::OT011]);
    assert!(create(&middleware("identity-provider", SSO), &alice(), &[]).allowed());
}

#[test]
fn cert_managers_solver_is_let_through_for_acme_paths_only() {
    let solver = as_user(DEFAULT_ACME_SOLVER, &["system:serviceaccounts"]);
    let challenge = "[{path: /.well-known/acme-challenge/tok3n, pathType: ImplementationSpecific, backend: {service: {name: cm-acme-http-solver-x, port: {number: 8089}}}}]";
    assert!(create(&ingress("", "", challenge), &solver, &[]).allowed());
    assert_eq!(
        rules(&create(&ingress("", "", challenge), &alice(), &[])),
        [RuleId::OT006]
    );
    assert_eq!(
        rules(&create(&ingress("", "", ROOT), &solver, &[])),
        [RuleId::OT006]
    );
}

#[test]
fn a_kept_break_glass_covers_only_edits_that_open_nothing() {
    let policy = Policy {
        break_glass: oam_traefik_policy::config::BreakGlass {
            groups: vec!["sre".into()],
            ..Default::default()
        },
        ..Policy::default()
    };
    let sso = middleware("sso", SSO);
    let with = |mw: &str, label: &str| {
        format!(
            "apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {{name: web, namespace: shop, labels: {{tier: {label}}}, annotations: {{oam-traefik.io/break-glass: incident-42}}}}
spec:
  routes:
    - match: Host(`web.example.com`)
      middlewares: {mw}
      services: [{{name: web, port: 80}}]"
        )
    };
    let old = with("[{name: sso}]", "a");
    let update =
        |new: &str, by: &Requester| run(Operation::Update, new, Some(&old), by, &policy, &[&sso]);
    // An unrelated edit by anyone keeps the exemption.
    assert!(
        update(&with("[{name: sso}]", "b"), &alice())
            .exemption
            .is_some()
    );
    // Dropping the auth middleware is not covered, unless an allowed requester does it.
    let v = update(&with("[]", "a"), &alice());
    assert_eq!(
        rules(&v),
        [RuleId::OT007, RuleId::OT006],
        "{:?}",
        v.violations
    );
    assert!(update(&with("[]", "a"), &as_user("bob", &["sre"])).allowed());
}

#[test]
fn basic_and_forward_auth_rules_name_their_middleware() {
    for provider in ["basic", "forward-auth"] {
        let app = APP.replace(
            "{version: v1, provider: oidc, issuer: \"https://login.example.com\", audiences: [orders]}",
            &format!("{{version: v1, provider: {provider}}}"),
        );
        let v = create(&app, &alice(), &[]);
        assert_eq!(rules(&v), [RuleId::OT002], "{provider}");
        assert!(v.violations[0].path.ends_with("/properties/middleware"));
    }
}

#[test]
fn a_trait_is_known_by_what_its_definition_renders() {
    let definition = |kind: &str| {
        format!(
            "apiVersion: core.oam.dev/v1beta1
kind: TraitDefinition
metadata: {{name: expose-web, namespace: vela-system}}
spec:
  schematic:
    cue:
      template: |
        outputs: route: {{
          apiVersion: \"networking.k8s.io/v1\"
          kind: \"{kind}\"
        }}"
        )
    };
    let app = "apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: catalog, namespace: shop}
spec:
  components:
    - name: web
      type: webservice
      traits:
        - type: expose-web
          properties: {host: catalog.example.com}";
    let v = create(app, &alice(), &[&definition("Ingress")]);
    assert_eq!(rules(&v), [RuleId::OT001], "{:?}", v.violations);
    assert!(create(app, &alice(), &[&definition("Service")]).allowed());
    // Without a definition to read, the policy's routeTraits decide.
    assert!(create(app, &alice(), &[]).allowed());
}

#[test]
fn an_app_without_a_name_cannot_be_bound_to_its_generated_middleware() {
    let unnamed = APP.replace(
        "metadata: {name: orders, namespace: shop}",
        "metadata: {generateName: orders-, namespace: shop}",
    );
    let v = create(&unnamed, &alice(), &[]);
    assert_eq!(rules(&v), [RuleId::OT004], "{:?}", v.violations);
    assert_eq!(v.violations[0].path, "/metadata/name");
    assert!(
        v.patch.0.is_empty(),
        "no reference built from an empty name: {:?}",
        v.patch
    );
    // Naming its own Middleware needs no generated name.
    let own = unnamed.replace(
        "audiences: [orders]}",
        "audiences: [orders], middleware: orders-sso}",
    );
    let sso = middleware("orders-sso", SSO);
    assert!(
        create(&own, &alice(), &[&sso]).allowed(),
        "{:?}",
        create(&own, &alice(), &[&sso]).violations
    );
}

//! Mutations: the patch gives the expected object, and a second pass patches nothing.

use oam_traefik_policy::{Index, Object, Operation, Policy, Requester, Review, Verdict, evaluate};
use serde_json::{Value, json};

mod common;
use common::value;

fn verdict(doc: &Value, index: &Index) -> Verdict {
    let obj = Object::from_value(doc)
        .expect("parses")
        .expect("known kind");
    // KubeVela's controller writes the rendered routes: only its writes prove ownership.
    let requester = Requester {
        username: oam_traefik_policy::config::DEFAULT_TRUSTED_CONTROLLER.to_string(),
        groups: Vec::new(),
    };
    evaluate(
        &Review {
            operation: Operation::Create,
            namespace: "shop",
            object: Some(&obj),
            old_object: None,
            requester: &requester,
        },
        &Policy::default(),
        index,
    )
}

/// Apply the verdict's patch, then check that a second pass (what the validating webhook
/// sees after the mutating one) allows the object and patches nothing.
fn patch_once(doc: &str, index: &Index) -> Value {
    let mut doc = value(doc);
    let first = verdict(&doc, index);
    assert!(!first.patch.0.is_empty(), "the first pass patches");
    json_patch::patch(&mut doc, &first.patch).expect("the patch applies");
    let second = verdict(&doc, index);
    assert!(
        second.patch.0.is_empty(),
        "second pass patched again: {:?}",
        second.patch
    );
    assert!(second.allowed(), "{:?}", second.violations);
    doc
}

const APP: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: orders, namespace: shop}
spec:
  components:
    - name: api
      type: webservice
      traits:
        - type: gateway
          properties: {domain: orders.example.com, http: {"/": 8080}, class: traefik}
        - type: identity
          properties: {version: v1, provider: oidc, issuer: "https://login.example.com", audiences: [orders]}
    - name: admin.ui
      type: webservice
      traits:
        - type: gateway
          properties:
            domain: admin.example.com
            http: {"/": 80}
            annotations: {traefik.ingress.kubernetes.io/router.middlewares: "shop-gzip@kubernetescrd"}
        - type: gateway
        - type: identity
          properties: {version: v1, provider: forward-auth, middleware: sso}
"#;

#[test]
fn application_gateway_traits_gain_the_middleware_annotation_once() {
    let mut index = Index::new(true);
    index
        .insert_value(
            &json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                    "metadata": {"name": "sso", "namespace": "shop"},
                    "spec": {"forwardAuth": {"address": "https://auth"}}}),
            "shop",
        )
        .expect("middleware parses");
    // The annotation's own entry must exist too: it is checked when the app is applied.
    index
        .insert_value(
            &json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                    "metadata": {"name": "gzip", "namespace": "shop"},
                    "spec": {"compress": {}}}),
            "shop",
        )
        .expect("middleware parses");
    let doc = patch_once(APP, &index);
    let key = "traefik.ingress.kubernetes.io/router.middlewares";
    let comps = &doc["spec"]["components"];
    assert_eq!(
        comps[0]["traits"][0]["properties"]["annotations"][key],
        "shop-orders-api-identity@kubernetescrd"
    );
    // Merged in front of the list already there; the name normalised the way Traefik reads it.
    assert_eq!(
        comps[1]["traits"][0]["properties"]["annotations"][key],
        "shop-sso@kubernetescrd,shop-gzip@kubernetescrd"
    );
    // A trait with no properties at all gets them.
    assert_eq!(
        comps[1]["traits"][1]["properties"]["annotations"][key],
        "shop-sso@kubernetescrd"
    );
}

#[test]
fn namespace_with_dots_is_normalised_in_the_reference() {
    let doc = APP.replace("namespace: shop", "namespace: shop.eu");
    let mut d = value(&doc);
    let v = verdict(&d, &Index::new(false));
    json_patch::patch(&mut d, &v.patch).expect("applies");
    assert_eq!(
        d["spec"]["components"][0]["traits"][0]["properties"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"],
        "shop-eu-orders-api-identity@kubernetescrd"
    );
}

fn owner_index() -> Index {
    let mut index = Index::new(true);
    index.insert_value(&value(APP), "shop").expect("app parses");
    index
        .insert_value(
            &json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                    "metadata": {"name": "edge", "namespace": "shop"},
                    "spec": {"gatewayClassName": "traefik"}}),
            "shop",
        )
        .expect("gateway parses");
    index
        .insert_value(
            &json!({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                    "metadata": {"name": "gzip", "namespace": "shop"}, "spec": {"compress": {}}}),
            "shop",
        )
        .expect("middleware parses");
    index
}

const LABELS: &str = "{app.oam.dev/name: orders, app.oam.dev/component: api}";

#[test]
fn rendered_ingress_gets_the_annotation_once() {
    let doc = patch_once(
        &format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: api, namespace: shop, labels: {LABELS}}}\nspec: {{ingressClassName: traefik}}"
        ),
        &owner_index(),
    );
    assert_eq!(
        doc["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"],
        "shop-orders-api-identity@kubernetescrd"
    );
}

#[test]
fn rendered_ingressroute_gets_the_middleware_first_in_every_route() {
    let doc = patch_once(
        &format!(
            "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {{name: api, namespace: shop, labels: {LABELS}}}\nspec:\n  routes:\n    - {{match: Host(`a`), services: [{{name: api, port: 80}}]}}\n    - {{match: Host(`b`), middlewares: [{{name: gzip}}], services: [{{name: api, port: 80}}]}}"
        ),
        &owner_index(),
    );
    let routes = &doc["spec"]["routes"];
    assert_eq!(
        routes[0]["middlewares"],
        json!([{"name": "orders-api-identity"}])
    );
    assert_eq!(
        routes[1]["middlewares"],
        json!([{"name": "orders-api-identity"}, {"name": "gzip"}])
    );
}

#[test]
fn rendered_http_route_gets_an_extension_ref_filter_once() {
    let doc = patch_once(
        &format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: api, namespace: shop, labels: {LABELS}}}\nspec:\n  parentRefs: [{{name: edge}}]\n  rules:\n    - backendRefs: [{{name: api, port: 8080}}]"
        ),
        &owner_index(),
    );
    assert_eq!(
        doc["spec"]["rules"][0]["filters"],
        json!([{"type": "ExtensionRef",
                "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": "orders-api-identity"}}])
    );
}

const POLICY_APP: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  components:
    - name: web
      type: webservice
      traits:
        - type: gateway
          properties: {domain: shop.example.com, http: {"/": 8080}, class: traefik}
    - name: worker
      type: worker
    - name: admin
      type: webservice
      traits:
        - type: gateway
          properties: {domain: admin.example.com, http: {"/": 80}, class: traefik}
        - type: identity
          properties: {version: v1, provider: oidc, issuer: "https://login.example.com", audiences: [admin]}
  policies:
    - name: sso
      type: identity
      properties: {version: v1, provider: oidc, issuer: "https://login.example.com", audiences: [shop]}
"#;

fn policy_copy(audience: &str) -> Value {
    json!({"type": "identity", "properties": {
        "version": "v1", "provider": "oidc", "issuer": "https://login.example.com",
        "audiences": [audience], "fromPolicy": "sso"}})
}

#[test]
fn app_level_identity_policy_becomes_a_trait_on_each_component_without_one() {
    let doc = patch_once(POLICY_APP, &Index::new(true));
    let components = &doc["spec"]["components"];
    // After its gateway trait, which now carries the generated Middleware's reference.
    assert_eq!(components[0]["traits"][1], policy_copy("shop"));
    assert_eq!(
        components[0]["traits"][0]["properties"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"],
        "shop-shop-web-identity@kubernetescrd"
    );
    // A component with no traits at all gets a list of one.
    assert_eq!(components[1]["traits"], json!([policy_copy("shop")]));
    // A component with its own rule keeps it, and only it.
    let admin = components[2]["traits"].as_array().expect("traits");
    assert_eq!(admin.len(), 2);
    assert_eq!(admin[1]["properties"]["audiences"], json!(["admin"]));
    // The policy itself stays as written.
    assert_eq!(doc["spec"]["policies"][0]["name"], "sso");
}

#[test]
fn a_copy_of_the_policy_follows_the_policy_when_it_changes() {
    let mut doc = patch_once(POLICY_APP, &Index::new(true));
    // The user tightens the policy on the stored object (kubectl edit / patch).
    doc["spec"]["policies"][0]["properties"]["audiences"] = json!(["shop-v2"]);
    let doc = patch_once(&doc.to_string(), &Index::new(true));
    let components = &doc["spec"]["components"];
    assert_eq!(components[0]["traits"][1], policy_copy("shop-v2"));
    assert_eq!(components[1]["traits"], json!([policy_copy("shop-v2")]));
    assert_eq!(
        components[2]["traits"][1]["properties"]["audiences"],
        json!(["admin"])
    );
}

#[test]
fn a_trait_copied_from_another_policy_or_written_by_hand_is_left_alone() {
    let mut doc = value(POLICY_APP);
    doc["spec"]["components"][1]["traits"] = json!([{"type": "identity", "properties": {
        "version": "v1", "provider": "oidc", "issuer": "https://login.example.com",
        "audiences": ["old"], "fromPolicy": "retired"}}]);
    doc["spec"]["components"][0]["traits"]
        .as_array_mut()
        .expect("traits")
        .push(policy_copy("shop"));
    for (c, component) in [(0, "web"), (2, "admin")] {
        doc["spec"]["components"][c]["traits"][0]["properties"]["annotations"] = json!({
            "traefik.ingress.kubernetes.io/router.middlewares":
                format!("shop-shop-{component}-identity@kubernetescrd")
        });
    }
    let v = verdict(&doc, &Index::new(true));
    assert!(v.allowed(), "{:?}", v.violations);
    assert!(v.patch.0.is_empty(), "{:?}", v.patch);
}

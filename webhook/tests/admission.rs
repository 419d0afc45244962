//! Admission over real HTTPS: the verdicts, the patch, bad input, probes and metrics.

mod common;

use base64::Engine;
use common::{Options, Webhook, app, identity_v1, review};
use serde_json::{Value, json};

const MIDDLEWARES: &str = "traefik.ingress.kubernetes.io/router.middlewares";

#[tokio::test]
async fn an_app_with_an_identity_rule_is_allowed_without_warnings() {
    let w = Webhook::start(Options::default()).await;
    let r = w
        .review(
            "/validate",
            &review("u-allow", "CREATE", "shop", &app(Some(identity_v1())), None),
        )
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r.get("warnings").is_none(), "{r}");
    assert!(r.get("patch").is_none(), "validate never patches: {r}");
}

#[tokio::test]
async fn an_app_without_identity_is_denied_with_rule_component_and_fix() {
    let w = Webhook::start(Options::default()).await;
    let r = w
        .review(
            "/validate",
            &review("u-deny", "CREATE", "shop", &app(None), None),
        )
        .await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["code"], 403);
    let message = r["status"]["message"].as_str().expect("message");
    assert!(message.contains("OT001"), "{message}");
    assert!(message.contains("component \"web\""), "{message}");
    assert!(message.contains("fix:"), "{message}");
    w.wait_for_log("\"rules\":\"OT001\"").await;
}

#[tokio::test]
async fn mutate_injects_the_identity_middleware_once() {
    let w = Webhook::start(Options::default()).await;
    let object = app(Some(identity_v1()));
    let r = w
        .review("/mutate", &review("u-mut", "CREATE", "shop", &object, None))
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().expect("patch"))
        .expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).expect("RFC 6902 patch");
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).expect("patch applies");
    assert_eq!(
        patched["spec"]["components"][0]["traits"][0]["properties"]["annotations"][MIDDLEWARES],
        "shop-orders-web-identity@kubernetescrd"
    );
    // Nothing else changed.
    let mut unpatched = patched.clone();
    unpatched["spec"]["components"][0]["traits"][0]["properties"]
        .as_object_mut()
        .expect("properties")
        .remove("annotations");
    assert_eq!(unpatched, object);

    let again = w
        .review(
            "/mutate",
            &review("u-mut-2", "UPDATE", "shop", &patched, Some(&patched)),
        )
        .await;
    assert_eq!(again["allowed"], true);
    assert!(
        again.get("patch").is_none(),
        "second pass patches nothing: {again}"
    );
}

#[tokio::test]
async fn a_missing_version_is_a_warning_string_per_rule() {
    let w = Webhook::start(Options::default()).await;
    let mut identity = identity_v1();
    identity.as_object_mut().expect("map").remove("version");
    let r = w
        .review(
            "/validate",
            &review("u-warn", "CREATE", "shop", &app(Some(identity)), None),
        )
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    let warnings = r["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{r}");
    assert!(
        warnings[0].as_str().expect("string").starts_with("OT010 "),
        "{r}"
    );
}

#[tokio::test]
async fn exempt_namespaces_are_not_intercepted() {
    let w = Webhook::start(Options::default()).await;
    for ns in ["kube-system", "oam-traefik"] {
        let mut object = app(None);
        object["metadata"]["namespace"] = json!(ns);
        let r = w
            .review(
                "/validate",
                &review("u-exempt", "CREATE", ns, &object, None),
            )
            .await;
        assert_eq!(r["allowed"], true, "{ns}: {r}");
    }
}

#[tokio::test]
async fn malformed_json_and_missing_uid_get_400_with_the_reason() {
    let w = Webhook::start(Options::default()).await;
    let (status, body) = w.post("/validate", b"{\"request\": ".to_vec()).await;
    assert_eq!(status, 400);
    assert!(
        body.as_str()
            .expect("text")
            .contains("malformed AdmissionReview"),
        "{body}"
    );

    let mut no_uid = review("x", "CREATE", "shop", &app(None), None);
    no_uid["request"]
        .as_object_mut()
        .expect("request")
        .remove("uid");
    let (status, body) = w
        .post("/mutate", serde_json::to_vec(&no_uid).expect("json"))
        .await;
    assert_eq!(status, 400);
    assert!(body.as_str().expect("text").contains("no uid"), "{body}");
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let w = Webhook::start(Options {
        max_body_bytes: Some(4096),
        ..Options::default()
    })
    .await;
    let mut object = app(Some(identity_v1()));
    object["metadata"]["annotations"] = json!({"filler": "x".repeat(8192)});
    let (status, _) = w
        .post(
            "/validate",
            serde_json::to_vec(&review("u-big", "CREATE", "shop", &object, None)).expect("json"),
        )
        .await;
    assert_eq!(status, 413);
    // A review under the limit still works on the same server.
    let r = w
        .review(
            "/validate",
            &review("u-small", "CREATE", "shop", &app(Some(identity_v1())), None),
        )
        .await;
    assert_eq!(r["allowed"], true);
}

#[tokio::test]
async fn an_unhandled_kind_is_allowed_unchanged_and_logged() {
    let w = Webhook::start(Options::default()).await;
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"}, "spec": {}
    });
    for path in ["/validate", "/mutate"] {
        let r = w
            .review(
                path,
                &review("u-deploy", "CREATE", "shop", &deployment, None),
            )
            .await;
        assert_eq!(r["allowed"], true, "{r}");
        assert!(r.get("patch").is_none(), "{r}");
    }
    w.wait_for_log("\"decision\":\"unhandled\"").await;
}

#[tokio::test]
async fn an_object_that_does_not_parse_is_refused_with_the_field() {
    let w = Webhook::start(Options::default()).await;
    let mut object = app(None);
    object["spec"]["components"] = json!("not a list");
    let r = w
        .review(
            "/validate",
            &review("u-bad", "CREATE", "shop", &object, None),
        )
        .await;
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().expect("message");
    assert!(message.contains("spec.components"), "{message}");
}

#[tokio::test]
async fn probes_report_health_and_no_cluster() {
    let w = Webhook::start(Options::default()).await;
    let r = w.client.get(w.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("text");
    assert!(text.contains("no cluster: lookups unanswered"), "{text}");
    // The default policy pins no auth service, and the probe says so.
    assert!(text.contains("auth services: none pinned"), "{text}");
    w.wait_for_log("no cluster: lookups unanswered").await;
    let r = w
        .client
        .get(w.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_violations_and_latency() {
    let w = Webhook::start(Options {
        metrics: true,
        ..Options::default()
    })
    .await;
    w.review(
        "/validate",
        &review("m-1", "CREATE", "shop", &app(None), None),
    )
    .await;
    w.review(
        "/mutate",
        &review("m-2", "CREATE", "shop", &app(Some(identity_v1())), None),
    )
    .await;
    let _ = w.post("/validate", b"nope".to_vec()).await;
    let text = w.metrics().await;
    for line in [
        r#"oam_traefik_webhook_admission_requests_total{webhook="validate",kind="Application",operation="CREATE",decision="denied"} 1"#,
        r#"oam_traefik_webhook_admission_requests_total{webhook="mutate",kind="Application",operation="CREATE",decision="patched"} 1"#,
        r#"oam_traefik_webhook_admission_requests_total{webhook="validate",kind="invalid",operation="",decision="invalid"} 1"#,
        r#"oam_traefik_webhook_violations_total{rule="OT001",level="deny"} 1"#,
        r#"oam_traefik_webhook_admission_duration_seconds_count{webhook="validate"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
}

#[tokio::test]
async fn a_delete_of_an_unrelated_route_kind_is_answered() {
    // DELETE carries only oldObject; the webhook must read it rather than fail.
    let w = Webhook::start(Options::default()).await;
    let middleware = json!({
        "apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
        "metadata": {"name": "sso", "namespace": "shop"},
        "spec": {"forwardAuth": {"address": "https://auth.example.com"}}
    });
    let r = w
        .review(
            "/validate",
            &review("u-del", "DELETE", "shop", &middleware, Some(&middleware)),
        )
        .await;
    assert_eq!(
        r["allowed"],
        Value::Bool(true),
        "no cluster: nothing known to depend on it: {r}"
    );
}

#[tokio::test]
async fn tls_1_2_and_1_3_and_http_2_are_served() {
    let w = Webhook::start(Options::default()).await;
    let body = serde_json::to_vec(&review(
        "u-tls",
        "CREATE",
        "shop",
        &app(Some(identity_v1())),
        None,
    ))
    .expect("json");
    for (min, max) in [
        (
            reqwest::tls::Version::TLS_1_2,
            reqwest::tls::Version::TLS_1_2,
        ),
        (
            reqwest::tls::Version::TLS_1_3,
            reqwest::tls::Version::TLS_1_3,
        ),
    ] {
        let c = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(w.ca.pem.as_bytes()).expect("CA"))
            .min_tls_version(min)
            .max_tls_version(max)
            .build()
            .expect("client");
        let r = c
            .post(w.url("/validate"))
            .body(body.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{max:?}");
        // ALPN offers h2 first; the API server's webhook client may use either.
        assert_eq!(r.version(), reqwest::Version::HTTP_2, "{max:?}");
    }
    let http1 = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(w.ca.pem.as_bytes()).expect("CA"))
        .http1_only()
        .build()
        .expect("client");
    let r = http1
        .post(w.url("/validate"))
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused_by_its_own_check() {
    // The served certificate is the one given: a client with another CA must fail.
    let w = Webhook::start(Options::default()).await;
    let other = common::TestCa::new();
    let r = common::client(&other.pem, true)
        .get(w.url("/healthz"))
        .send()
        .await;
    assert!(r.is_err(), "a certificate from another CA was accepted");
}

//! The verify endpoint against an issuer served over real HTTPS: the accepted case with
//! its headers, and every refusal with its status and `WWW-Authenticate` challenge.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use support::*;

const INVALID: &str = "Bearer error=\"invalid_token\", error_description=\"";
const SCOPE: &str = "Bearer error=\"insufficient_scope\", error_description=\"";

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

/// Asserts a 401 `invalid_token` whose description and body mention `words`.
fn assert_invalid(answer: &Answer, reason: &str, words: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert!(
        answer.challenge().starts_with(INVALID),
        "{}",
        answer.challenge()
    );
    assert!(
        answer.challenge().contains(words),
        "{words:?} in {}",
        answer.challenge()
    );
    assert!(
        answer.body.starts_with(&format!("{reason}: ")),
        "{}",
        answer.body
    );
    assert_eq!(answer.header("x-forwarded-user"), "");
}

#[tokio::test]
async fn a_token_meeting_the_rule_is_let_through_with_its_identity() {
    let keys = [
        rsa("rs1", Algorithm::RS256),
        rsa("rs3", Algorithm::RS384),
        rsa("rs5", Algorithm::RS512),
        rsa("ps1", Algorithm::PS256),
        rsa("ps3", Algorithm::PS384),
        rsa("ps5", Algorithm::PS512),
        ec("es1", Algorithm::ES256),
        ec("es3", Algorithm::ES384),
        ed("ed1"),
    ];
    let issuer = TestIssuer::start(&keys.iter().collect::<Vec<_>>()).await;
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_secs(10));
    for key in &keys {
        let answer = verify(&router, &issuer.rule_query(), &mint(key, &issuer.claims())).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{:?}: {}",
            key.alg,
            answer.body
        );
        assert_eq!(answer.header("x-forwarded-user"), "alice");
        assert_eq!(answer.header("x-forwarded-email"), "alice@example.com");
        assert_eq!(answer.header("x-forwarded-groups"), "team-orders,admins");
        assert_eq!(answer.challenge(), "");
    }
    // Discovery and the JWKS were fetched once, not per token.
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn without_email_or_groups_the_headers_are_set_empty() {
    let key = ec("es1", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_secs(10));
    let mut claims = issuer.claims();
    let obj = claims.as_object_mut().expect("object");
    obj.remove("email");
    obj.remove("groups");
    obj.insert("sub".into(), json!("zoë"));
    let query = format!(
        "provider=jwt&issuer={}&audience=orders",
        oam_traefik_policy::forward_auth::escape(issuer.url())
    );
    let answer = verify(&router, &query, &mint(&key, &claims)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // A UTF-8 subject is passed on as it is.
    assert_eq!(
        answer.headers["x-forwarded-user"].as_bytes(),
        "zoë".as_bytes()
    );
    assert!(answer.headers.contains_key("x-forwarded-email"));
    assert_eq!(answer.header("x-forwarded-email"), "");
    assert_eq!(answer.header("x-forwarded-groups"), "");
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let key = rsa("rs1", Algorithm::RS256);
    let other = rsa("rs2", Algorithm::RS256);
    let issuer = TestIssuer::start(&[&key]).await;
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_secs(3600));
    let q = issuer.rule_query();
    let claims = issuer.claims();

    // alg none, with and without a signature.
    let none = forge(&json!({"alg": "none", "kid": "rs1"}), &claims, b"");
    assert_invalid(
        &verify(&router, &q, &none).await,
        "algorithm_refused",
        "alg 'none'",
    );
    let none = none.trim_end_matches('.').to_string() + ".";
    assert_invalid(
        &verify(&router, &q, &none).await,
        "algorithm_refused",
        "alg 'none'",
    );

    // HS256 signed with the RSA public key bytes (the classic key-confusion attack).
    let header = json!({"alg": "HS256", "kid": "rs1", "typ": "JWT"});
    let pem = key.public_pem.clone().expect("pem");
    let unsigned = forge(&header, &claims, b"");
    let message = unsigned.rsplit_once('.').expect("dots").0;
    let hs = forge(
        &header,
        &claims,
        &hmac_sha256(pem.as_bytes(), message.as_bytes()),
    );
    assert_invalid(
        &verify(&router, &q, &hs).await,
        "algorithm_refused",
        "alg 'HS256'",
    );

    // A known kid, signed with another key.
    let mut impostor = other.clone();
    impostor.kid = "rs1".into();
    let token = mint(&impostor, &claims);
    assert_invalid(
        &verify(&router, &q, &token).await,
        "bad_signature",
        "signature",
    );

    // A payload swapped under a valid signature.
    let good = mint(&key, &claims);
    let evil = mint(&key, &with(claims.clone(), "sub", json!("mallory")));
    let (head, rest) = good.split_once('.').expect("dots");
    let signature = rest.split_once('.').expect("dots").1;
    let evil_payload = evil.split('.').nth(1).expect("payload");
    let swapped = format!("{head}.{evil_payload}.{signature}");
    assert_invalid(
        &verify(&router, &q, &swapped).await,
        "bad_signature",
        "signature",
    );

    // The kid of an RSA key with an ES256 header.
    let confused = ec("rs1", Algorithm::ES256);
    let token = mint(&confused, &claims);
    assert_invalid(&verify(&router, &q, &token).await, "key_mismatch", "ES256");

    // The same key, but published for RS256 only, used with PS256.
    let mut ps = key.clone();
    ps.alg = Algorithm::PS256;
    assert_invalid(
        &verify(&router, &q, &mint(&ps, &claims)).await,
        "key_mismatch",
        "PS256",
    );

    // Garbage.
    for garbage in ["a.b.c", "e30.e30.", "not-a-jwt"] {
        assert_invalid(
            &verify(&router, &q, garbage).await,
            "malformed",
            "malformed token",
        );
    }
    // The good token still passes; none of the above was cached or leaked into it.
    assert_eq!(verify(&router, &q, &good).await.status, StatusCode::OK);
}

#[tokio::test]
async fn claims_outside_the_rule_are_refused() {
    let key = ec("es1", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_secs(10));
    let q = issuer.rule_query();
    let c = issuer.claims();
    for (claims, reason, words) in [
        (
            with(c.clone(), "exp", json!(now() - 120)),
            "expired",
            "expired",
        ),
        (
            with(c.clone(), "nbf", json!(now() + 600)),
            "not_yet_valid",
            "not valid before",
        ),
        (
            with(c.clone(), "iat", json!(now() + 600)),
            "issued_in_future",
            "future",
        ),
        (
            with(c.clone(), "aud", json!(["billing"])),
            "wrong_audience",
            "orders, shop",
        ),
        (
            with(c.clone(), "iss", json!("https://evil.example")),
            "wrong_issuer",
            "evil.example",
        ),
    ] {
        assert_invalid(
            &verify(&router, &q, &mint(&key, &claims)).await,
            reason,
            words,
        );
    }
    // A subject that would inject a header is refused, not passed on.
    let injected = with(c.clone(), "sub", json!("alice\r\nX-Forwarded-User: admin"));
    let answer = verify(&router, &q, &mint(&key, &injected)).await;
    assert_invalid(&answer, "malformed", "sub cannot be sent as a header value");
    let mut no_exp = c.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    assert_invalid(
        &verify(&router, &q, &mint(&key, &no_exp)).await,
        "malformed",
        "exp",
    );

    // Valid tokens that lack a scope or a group: 403 insufficient_scope.
    let answer = verify(
        &router,
        &q,
        &mint(&key, &with(c.clone(), "scope", json!("openid"))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.challenge().starts_with(SCOPE),
        "{}",
        answer.challenge()
    );
    assert!(answer.challenge().contains("orders:read"));
    assert!(
        answer
            .challenge()
            .ends_with("scope=\"orders:read orders:write\"")
    );
    assert!(
        answer.body.starts_with("missing_scope: "),
        "{}",
        answer.body
    );
    let answer = verify(
        &router,
        &q,
        &mint(&key, &with(c.clone(), "groups", json!(["guests"]))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.challenge().starts_with(SCOPE),
        "{}",
        answer.challenge()
    );
    assert!(
        answer.body.starts_with("missing_group: "),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("team-orders"), "{}", answer.body);
    // The groups claim named on the command line is the one read.
    assert_eq!(answer.header("x-forwarded-user"), "");
}

#[tokio::test]
async fn issuers_outside_allowed_issuers_are_refused() {
    let key = ec("es1", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;
    let token = mint(&key, &issuer.claims());

    // The rule's issuer is the test issuer, but the policy trusts another.
    let (router, _) = verifier(
        &issuer,
        &["https://login.example.com"],
        Duration::from_secs(10),
    );
    let answer = verify(&router, &issuer.rule_query(), &token).await;
    assert_invalid(&answer, "issuer_not_allowed", "allowedIssuers");
    assert_eq!(
        issuer.jwks_fetches(),
        0,
        "an issuer not allowed is never fetched"
    );

    // A prefix of the URL that is not at a path boundary does not count.
    let prefix = &issuer.url()[..issuer.url().len() - 1];
    let (router, _) = verifier(&issuer, &[prefix], Duration::from_secs(10));
    assert_invalid(
        &verify(&router, &issuer.rule_query(), &token).await,
        "issuer_not_allowed",
        "allowedIssuers",
    );

    // Nothing allowed: nothing trusted, and the answer says what to set; /readyz too.
    let (router, _) = verifier(&issuer, &[], Duration::from_secs(10));
    let answer = verify(&router, &issuer.rule_query(), &token).await;
    assert_invalid(&answer, "no_trusted_issuer", "trusts no issuer");
    assert!(
        answer.body.contains("policy.spec.allowedIssuers"),
        "{}",
        answer.body
    );
    let ready = get_with(&router, "/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.body.contains("trusts no issuer"), "{}", ready.body);
}

#[tokio::test]
async fn the_token_is_read_from_the_authorization_header_only() {
    let key = ec("es1", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_secs(10));
    let token = mint(&key, &issuer.claims());
    let uri = format!("/verify?{}", issuer.rule_query());
    let in_forwarded_uri = format!("/orders?access_token={token}");
    let cookie = format!("access_token={token}");
    let answer = get_with(
        &router,
        &uri,
        &[
            ("x-forwarded-uri", in_forwarded_uri.as_str()),
            ("cookie", cookie.as_str()),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(answer.challenge(), "Bearer realm=\"oam-traefik\"");
    assert!(
        answer.body.starts_with("missing_token: "),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains(&token));

    // A token in the verifier's own query is an unknown parameter: the rule is refused.
    let with_token = format!("{uri}&access_token={token}");
    let answer = verify(&router, &with_token[8..], &token).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer.body.contains("unknown parameter"), "{}", answer.body);
    assert!(!answer.body.contains(&token));

    // A rule is never taken from X-Forwarded-Uri: the request's own query decides.
    let lax = format!(
        "/orders?provider=oidc&issuer={}&audience=billing",
        oam_traefik_policy::forward_auth::escape(issuer.url())
    );
    let auth = format!(
        "Bearer {}",
        mint(&key, &with(issuer.claims(), "aud", json!(["billing"])))
    );
    let answer = get_with(
        &router,
        &uri,
        &[
            ("authorization", auth.as_str()),
            ("x-forwarded-uri", lax.as_str()),
        ],
    )
    .await;
    assert_invalid(&answer, "wrong_audience", "orders");
}

#[tokio::test]
async fn providers_the_verifier_does_not_enforce_let_nobody_through() {
    let key = ec("es1", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_secs(10));
    let token = mint(&key, &issuer.claims());
    for (provider, words) in [
        ("basic", "basicAuth Middleware"),
        ("forward-auth", "forwardAuth Middleware"),
        ("public", "nobody"),
    ] {
        let answer = verify(&router, &format!("provider={provider}"), &token).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{provider}");
        assert_eq!(answer.challenge(), "", "{provider}");
        assert!(
            answer.body.starts_with("provider_not_enforced: "),
            "{}",
            answer.body
        );
        assert!(answer.body.contains(words), "{}", answer.body);
    }
    for (query, words) in [
        ("", "no provider"),
        ("provider=oidc&audience=orders", "no issuer"),
        (
            &format!(
                "provider=oidc&issuer={}",
                oam_traefik_policy::forward_auth::escape(issuer.url())
            ) as &str,
            "no audience",
        ),
    ] {
        let answer = verify(&router, query, &token).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{query}");
        assert!(answer.body.starts_with("bad_rule: "), "{}", answer.body);
        assert!(answer.body.contains(words), "{}", answer.body);
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let key = ec("es1", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;
    let (router, state) = verifier(&issuer, &[issuer.url()], Duration::from_secs(10));
    assert_eq!(
        get_with(&router, "/healthz", &[]).await.status,
        StatusCode::OK
    );
    let ready = get_with(&router, "/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "no keys yet");
    assert!(ready.body.contains("no keys loaded yet"), "{}", ready.body);
    state
        .verifier
        .keys()
        .refresh_due(Duration::from_secs(300))
        .await;
    let ready = get_with(&router, "/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert!(ready.body.contains("\"keys\":1"), "{}", ready.body);

    let token = mint(&key, &issuer.claims());
    verify(&router, &issuer.rule_query(), &token).await;
    verify(&router, &issuer.rule_query(), &token).await;
    verify(&router, &issuer.rule_query(), "a.b.c").await;
    let metrics = get_with(&router, "/metrics", &[]).await.body;
    for line in [
        "oam_traefik_auth_decisions_total{result=\"allowed\",reason=\"ok\"} 2",
        "oam_traefik_auth_decisions_total{result=\"refused\",reason=\"malformed\"} 1",
        "oam_traefik_auth_token_cache_lookups_total{result=\"hit\"} 1",
        "oam_traefik_auth_verify_duration_seconds_count 3",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(
        metrics.contains(&format!(
            "oam_traefik_auth_key_fetches_total{{issuer=\"{}\",result=\"ok\"}} 1",
            issuer.url()
        )),
        "{metrics}"
    );
}

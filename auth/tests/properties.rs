//! Properties: the contract's query round-trips every rule; no altered token and no
//! arbitrary Authorization header gets through, and no answer echoes the token.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use jsonwebtoken::Algorithm;
use oam_traefik_policy::forward_auth::{self, RuleRequest};
use oam_traefik_policy::{IdentityRule, Provider};
use proptest::prelude::*;
use support::*;

fn provider() -> impl Strategy<Value = Provider> {
    prop_oneof![
        Just(Provider::Oidc),
        Just(Provider::Jwt),
        Just(Provider::Basic),
        Just(Provider::ForwardAuth),
        Just(Provider::Public),
    ]
}

fn value() -> impl Strategy<Value = String> {
    // Any non-empty text: URLs, spaces, &, =, %, +, non-ASCII.
    "\\PC{1,24}"
}

proptest! {
    #[test]
    fn every_rule_round_trips_through_its_query(
        provider in provider(),
        issuer in proptest::option::of(value()),
        audiences in proptest::collection::vec(value(), 0..4),
        scopes in proptest::collection::vec(value(), 0..4),
        groups in proptest::collection::vec(value(), 0..4),
    ) {
        let rule = IdentityRule {
            provider: Some(provider),
            issuer,
            audiences,
            scopes,
            groups,
            ..IdentityRule::default()
        };
        let query = forward_auth::query(&rule).expect("provider");
        // Only unreserved characters, escapes, + and the separators appear.
        prop_assert!(query.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~%+&=".contains(c)), "{}", query);
        let parsed = forward_auth::parse(&query).expect("parses");
        prop_assert_eq!(Some(parsed), RuleRequest::from_rule(&rule));
    }

    #[test]
    fn escaping_matches_the_form_decoding_every_http_library_does(text in "\\PC{0,32}") {
        let escaped = forward_auth::escape(&text);
        prop_assert_eq!(forward_auth::unescape(&escaped), Ok(text.clone()));
        let pairs: Vec<(String, String)> =
            reqwest::Url::parse(&format!("http://x/?k={escaped}")).expect("url").query_pairs().into_owned().collect();
        prop_assert_eq!(pairs, vec![("k".to_string(), text)]);
    }
}

/// A runtime and an issuer shared by the cases of one property.
fn harness() -> (
    tokio::runtime::Runtime,
    TestIssuer,
    axum::Router,
    String,
    SigningKey,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let key = ec("k1", Algorithm::ES256);
    let issuer = rt.block_on(TestIssuer::start(&[&key]));
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_secs(3600));
    let token = mint(&key, &issuer.claims());
    let ok = rt.block_on(verify(&router, &issuer.rule_query(), &token));
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    (rt, issuer, router, token, key)
}

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[test]
fn no_altered_token_is_let_through() {
    let (rt, issuer, router, token, _key) = harness();
    let q = issuer.rule_query();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(
            &(any::<prop::sample::Index>(), 0..B64URL.len()),
            |(at, with)| {
                let bytes = token.as_bytes();
                let i = at.index(bytes.len());
                // Keep the dots, and the last character of each part (its spare bits may not count).
                prop_assume!(bytes[i] != b'.' && bytes.get(i + 1).is_some_and(|b| *b != b'.'));
                prop_assume!(bytes[i] != B64URL[with]);
                let mut altered = bytes.to_vec();
                altered[i] = B64URL[with];
                let altered = String::from_utf8(altered).expect("ascii");
                let answer = rt.block_on(verify(&router, &q, &altered));
                prop_assert_ne!(answer.status, StatusCode::OK);
                prop_assert!(!answer.body.contains(&altered));
                prop_assert!(!answer.challenge().contains(&altered));
                Ok(())
            },
        )
        .expect("property");
}

#[test]
fn no_arbitrary_authorization_header_is_let_through() {
    let (rt, issuer, router, _token, _key) = harness();
    let q = issuer.rule_query();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(128));
    runner
        .run(&"[ -~]{0,200}", |header| {
            let answer = rt.block_on(get_with(
                &router,
                &format!("/verify?{q}"),
                &[("authorization", header.as_str())],
            ));
            prop_assert_ne!(answer.status, StatusCode::OK);
            prop_assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
            let secret = header.trim_start_matches("Bearer ").trim();
            if secret.len() > 12 {
                prop_assert!(!answer.body.contains(secret), "{}", answer.body);
            }
            Ok(())
        })
        .expect("property");
}

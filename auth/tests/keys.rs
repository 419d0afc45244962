//! Issuer keys over real HTTPS: rotation without a restart, one fetch for a flood of
//! unknown `kid`s, stale keys kept while the issuer is down, nothing accepted before
//! any key was loaded.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use jsonwebtoken::Algorithm;
use support::*;

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_a_restart() {
    let old = ec("2026-01", Algorithm::ES256);
    let new = rsa("2026-02", Algorithm::RS256);
    let issuer = TestIssuer::start(&[&old]).await;
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_millis(300));
    let q = issuer.rule_query();
    assert_eq!(
        verify(&router, &q, &mint(&old, &issuer.claims()))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(issuer.jwks_fetches(), 1);

    issuer.publish(&[&old, &new]);
    // Within the refetch interval the new kid is not fetched for yet...
    let early = verify(&router, &q, &mint(&new, &issuer.claims())).await;
    assert_eq!(early.status, StatusCode::UNAUTHORIZED);
    assert!(early.body.starts_with("unknown_key: "), "{}", early.body);
    assert!(
        early.challenge().contains("no key with kid '2026-02'"),
        "{}",
        early.challenge()
    );
    // ...after it, the unknown kid triggers one refetch, and the new key verifies.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let answer = verify(&router, &q, &mint(&new, &issuer.claims())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(issuer.jwks_fetches(), 2);

    // The old key withdrawn: its tokens stop verifying once the keys are refetched.
    issuer.publish(&[&new]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let mut claims = issuer.claims();
    claims["jti"] = "fresh".into();
    // An unknown kid refreshes the set; the old kid is gone from it.
    let stranger = ec("2026-99", Algorithm::ES256);
    verify(&router, &q, &mint(&stranger, &claims)).await;
    let answer = verify(&router, &q, &mint(&old, &claims)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_makes_one_fetch() {
    let key = ec("good", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_secs(10));
    let q = issuer.rule_query();
    assert_eq!(
        verify(&router, &q, &mint(&key, &issuer.claims()))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(issuer.jwks_fetches(), 1);
    // Make fetches slow so the forged requests overlap the one in flight.
    *issuer.state.delay.lock().expect("lock") = Duration::from_millis(200);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mut forged = ec("good", Algorithm::ES256);
        forged.kid = format!("forged-{i}");
        let token = mint(&forged, &issuer.claims());
        let (router, q) = (router.clone(), q.clone());
        tasks.push(tokio::spawn(
            async move { verify(&router, &q, &token).await },
        ));
    }
    for task in tasks {
        let answer = task.await.expect("task");
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer.body.starts_with("unknown_key: "), "{}", answer.body);
    }
    // The first load was under 10 s ago: no refetch at all.
    assert_eq!(issuer.jwks_fetches(), 1);

    // With the interval short, concurrent unknown kids share a single fetch.
    let (router, _) = verifier(&issuer, &[issuer.url()], Duration::from_millis(100));
    *issuer.state.delay.lock().expect("lock") = Duration::ZERO;
    assert_eq!(
        verify(&router, &q, &mint(&key, &issuer.claims()))
            .await
            .status,
        StatusCode::OK
    );
    let before = issuer.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(150)).await;
    *issuer.state.delay.lock().expect("lock") = Duration::from_millis(300);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let mut forged = ec("good", Algorithm::ES256);
        forged.kid = format!("forged-{i}");
        let token = mint(&forged, &issuer.claims());
        let (router, q) = (router.clone(), q.clone());
        tasks.push(tokio::spawn(
            async move { verify(&router, &q, &token).await },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        issuer.jwks_fetches() - before,
        1,
        "one fetch for the whole flood"
    );
}

#[tokio::test]
async fn keys_stay_while_the_issuer_is_down_and_none_means_nothing_passes() {
    let key = ec("k1", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;

    // Down from the start: no key was ever loaded, so nothing passes.
    issuer.state.down.store(true, Ordering::SeqCst);
    let (router, state) = verifier(&issuer, &[issuer.url()], Duration::from_millis(100));
    let q = issuer.rule_query();
    let answer = verify(&router, &q, &mint(&key, &issuer.claims())).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert!(answer.body.starts_with("no_keys: "), "{}", answer.body);
    assert!(answer.body.contains("HTTP 503"), "{}", answer.body);
    assert!(
        answer
            .challenge()
            .starts_with("Bearer error=\"invalid_token\"")
    );

    // Up: keys load on the next request after the interval.
    issuer.state.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let answer = verify(&router, &q, &mint(&key, &issuer.claims())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // Down again: a background refresh fails, the keys in force stay.
    issuer.state.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    state.verifier.keys().refresh_due(Duration::ZERO).await;
    let status = state.verifier.keys().status();
    assert_eq!(status[0].keys, 1, "{status:?}");
    assert!(
        status[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("503"))
    );
    let mut claims = issuer.claims();
    claims["jti"] = "not-cached".into();
    let answer = verify(&router, &q, &mint(&key, &claims)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let ready = get_with(&router, "/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
}

#[tokio::test]
async fn an_issuer_whose_certificate_is_not_trusted_loads_no_keys() {
    let key = ec("k1", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;
    // A verifier that trusts another CA only.
    let other = TestIssuer::start(&[&key]).await;
    let fetcher =
        oam_traefik_auth::fetch::Fetcher::new(Some(other.ca_file.path())).expect("fetcher");
    let err = fetcher
        .keys(issuer.url())
        .await
        .expect_err("untrusted certificate");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert_eq!(issuer.jwks_fetches(), 0);
}

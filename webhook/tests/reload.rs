//! Files swapped on disk: the policy and the certificate change without a restart, a
//! broken file is refused, and no request fails meanwhile.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Options, POLICY_HEADER, Webhook, app, client, identity_v1, review, write_atomic};

fn unversioned() -> serde_json::Value {
    let mut identity = identity_v1();
    identity.as_object_mut().expect("map").remove("version");
    app(Some(identity))
}

/// Poll `/validate` until `allowed` is `want`, for at most 10 s.
async fn wait_allowed(w: &Webhook, want: bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = w
            .review(
                "/validate",
                &review("u-poll", "CREATE", "shop", &unversioned(), None),
            )
            .await;
        if r["allowed"] == want {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "verdict never became allowed={want}; log:\n{}",
            w.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_swapped_policy_changes_verdicts_and_a_broken_one_is_refused() {
    let w = Webhook::start(Options {
        policy: Some(format!("{POLICY_HEADER}spec:\n  rules:\n    OT010: warn\n")),
        metrics: true,
        ..Options::default()
    })
    .await;
    let r = wait_allowed(&w, true).await;
    assert!(
        r["warnings"][0]
            .as_str()
            .expect("warning")
            .starts_with("OT010"),
        "{r}"
    );

    let policy = w.path("policy.yaml");
    write_atomic(
        &policy,
        &format!("{POLICY_HEADER}spec:\n  rules:\n    OT010: deny\n"),
    );
    let r = wait_allowed(&w, false).await;
    assert!(
        r["status"]["message"]
            .as_str()
            .expect("message")
            .contains("OT010"),
        "{r}"
    );
    w.wait_for_log("spec.rules.OT010: warn -> deny").await;
    assert!(
        !w.log().contains("LOOSENS"),
        "a tightening is not flagged:\n{}",
        w.log()
    );

    write_atomic(
        &policy,
        &format!("{POLICY_HEADER}spec:\n  maxScopes: many\n"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !w.log().contains("policy refused") {
        assert!(
            Instant::now() < deadline,
            "broken policy not reported:\n{}",
            w.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        w.log().contains("maxScopes"),
        "the refusal names the field:\n{}",
        w.log()
    );
    let r = w
        .review(
            "/validate",
            &review("u-after", "CREATE", "shop", &unversioned(), None),
        )
        .await;
    assert_eq!(r["allowed"], false, "the last good policy stays: {r}");
    let metrics = w.metrics().await;
    assert!(
        metrics.contains(r#"oam_traefik_webhook_reloads_total{file="policy",result="applied"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"oam_traefik_webhook_reloads_total{file="policy",result="refused"} 1"#),
        "{metrics}"
    );

    // Back to warn: taken, and flagged as a loosening.
    write_atomic(
        &policy,
        &format!("{POLICY_HEADER}spec:\n  rules:\n    OT010: warn\n"),
    );
    wait_allowed(&w, true).await;
    w.wait_for_log("LOOSENS").await;
    let log = w.log();
    let line = log
        .lines()
        .find(|l| l.contains("LOOSENS"))
        .expect("the loosening line");
    assert!(
        line.contains(r#""loosened":"spec.rules.OT010: deny -> warn""#),
        "{line}"
    );
}

#[tokio::test]
async fn a_certificate_swapped_under_load_fails_no_request() {
    let w = Arc::new(
        Webhook::start(Options {
            symlinked_certs: true,
            ..Options::default()
        })
        .await,
    );
    let old_der = w.cert_der.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let body = serde_json::to_vec(&review(
        "u-load",
        "CREATE",
        "shop",
        &app(Some(identity_v1())),
        None,
    ))
    .expect("json");

    // Keep-alive clients and clients that open a new connection for every request.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (w, stop, done, body) = (w.clone(), stop.clone(), done.clone(), body.clone());
        let c = client(&w.ca.pem, i % 2 == 0);
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match c.post(w.url("/validate")).body(body.clone()).send().await {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.push(format!("HTTP {}", r.status())),
                    Err(e) => failures.push(format!("{e:?}")),
                }
            }
            failures
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The kubelet's swap: a new data directory, then an atomic rename of `..data`.
    let (cert, key, new_der) = w.ca.leaf();
    let data = w.path("..data_2");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(data.join("tls.crt"), cert).expect("cert");
    std::fs::write(data.join("tls.key"), key).expect("key");
    std::os::unix::fs::symlink("..data_2", w.path("..data_tmp")).expect("symlink");
    std::fs::rename(w.path("..data_tmp"), w.path("..data")).expect("swap");

    // A new connection sees the new certificate.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = client(&w.ca.pem, false)
            .get(w.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        let served = r
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .expect("peer certificate")
            .to_vec();
        if served == new_der {
            break;
        }
        assert_eq!(served, old_der);
        assert!(
            Instant::now() < deadline,
            "new certificate never served; log:\n{}",
            w.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.expect("task"));
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(
        done.load(Ordering::Relaxed) > 50,
        "too few requests to prove anything"
    );
    w.wait_for_log("certificate reloaded").await;
}

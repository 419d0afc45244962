//! SIGTERM: a request in flight completes, then the process exits cleanly; with
//! --shutdown-delay, /readyz fails at once while new reviews are still answered.

mod common;

use std::time::{Duration, Instant};

use common::{Options, Webhook, app, identity_v1, review};
use futures::StreamExt;

#[tokio::test]
async fn sigterm_drains_an_http2_request_in_flight_then_exits() {
    drains(false).await;
}

#[tokio::test]
async fn sigterm_drains_an_http1_request_in_flight_then_exits() {
    drains(true).await;
}

async fn drains(http1: bool) {
    let mut w = Webhook::start(Options::default()).await;
    let mut client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(w.ca.pem.as_bytes()).expect("CA"));
    if http1 {
        client = client.http1_only();
    }
    let client = client.build().expect("client");
    let body = serde_json::to_vec(&review(
        "u-drain",
        "CREATE",
        "shop",
        &app(Some(identity_v1())),
        None,
    ))
    .expect("json");
    let (first, rest) = body.split_at(body.len() / 2);
    let (first, rest) = (first.to_vec(), rest.to_vec());
    // The body arrives in two halves, with SIGTERM sent in between.
    let stream = futures::stream::iter([0, 1]).then(move |i| {
        let (first, rest) = (first.clone(), rest.clone());
        async move {
            if i == 0 {
                Ok::<_, std::io::Error>(first)
            } else {
                tokio::time::sleep(Duration::from_millis(800)).await;
                Ok(rest)
            }
        }
    });
    let request = client
        .post(w.url("/validate"))
        .header("content-length", body.len())
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let pid = w.pid();
    let signal = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // SAFETY: plain kill(2) on the child we started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    };
    let (response, ()) = tokio::join!(request, signal);
    let response = response.expect("the request in flight is answered");
    assert_eq!(response.status(), 200);
    let version = if http1 {
        reqwest::Version::HTTP_11
    } else {
        reqwest::Version::HTTP_2
    };
    assert_eq!(response.version(), version);
    let out: serde_json::Value = response.json().await.expect("json");
    assert_eq!(out["response"]["uid"], "u-drain");
    assert_eq!(out["response"]["allowed"], true);

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = w.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after SIGTERM; log:\n{}",
            w.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        w.log()
    );
    assert!(w.log().contains("drained"), "{}", w.log());
}

#[tokio::test]
async fn with_a_shutdown_delay_readyz_fails_at_once_and_reviews_are_answered_until_it_ends() {
    let delay = Duration::from_secs(3);
    let mut w = Webhook::start(Options {
        extra_args: vec!["--shutdown-delay".into(), delay.as_secs().to_string()],
        ..Options::default()
    })
    .await;
    let ready = w.client.get(w.url("/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), 200, "{}", w.log());
    let body = review("u-0", "CREATE", "shop", &app(None), None);
    let sent = Instant::now();
    // SAFETY: plain kill(2) on the child we started.
    assert_eq!(unsafe { libc::kill(w.pid(), libc::SIGTERM) }, 0);
    w.wait_for_log("/readyz now fails").await;

    // During the delay: not ready, yet every review on a fresh connection gets a verdict.
    let fresh = common::client(&w.ca.pem, false);
    let mut answered = 0;
    while sent.elapsed() < delay - Duration::from_millis(800) {
        let r = fresh.get(w.url("/readyz")).send().await.expect("readyz");
        assert_eq!(r.status(), 503, "{}", w.log());
        assert_eq!(r.text().await.expect("text"), "draining\n");
        let r = fresh
            .post(w.url("/validate"))
            .json(&body)
            .send()
            .await
            .expect("a review during the delay is answered");
        assert_eq!(r.status(), 200);
        let out: serde_json::Value = r.json().await.expect("json");
        assert_eq!(out["response"]["allowed"], false, "{out}");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(answered >= 5, "only {answered} reviews during the delay");
    assert!(
        w.child.try_wait().expect("wait").is_none(),
        "exited before the delay was over; log:\n{}",
        w.log()
    );

    // After it: drained and gone.
    let deadline = Instant::now() + delay + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = w.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running; log:\n{}",
            w.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(sent.elapsed() >= delay, "exited after {:?}", sent.elapsed());
    assert!(status.success(), "{status:?}; log:\n{}", w.log());
    assert!(w.log().contains("drained"), "{}", w.log());
}

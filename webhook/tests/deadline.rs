//! A review that cannot finish within its deadline is refused, saying so, and the server
//! keeps answering health checks and other reviews meanwhile: the handlers served in
//! process over a lookup that hangs (in production the lookups are watch-cache reads; a
//! pathological object is what takes this long).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oam_traefik_policy::{Answer, Application, Lookup, Middleware, ObjectRef};
use oam_traefik_webhook::handlers::{
    self, AppState, INLINE_BODY_BYTES, REVIEW_DEADLINE, Readiness,
};
use oam_traefik_webhook::metrics::Metrics;
use oam_traefik_webhook::policy_store::PolicyStore;
use serde_json::{Value, json};

/// Every question takes `delay` before "there is no such object"; `asked` is set when the
/// first question arrives.
struct Hanging {
    delay: Duration,
    asked: Arc<AtomicBool>,
}

impl Hanging {
    fn new(delay: Duration) -> Self {
        Self {
            delay,
            asked: Arc::new(AtomicBool::new(false)),
        }
    }

    fn wait<T>(&self) -> Answer<T> {
        self.asked.store(true, Ordering::Release);
        std::thread::sleep(self.delay);
        Answer::Missing
    }
}

impl Lookup for Hanging {
    fn middleware(&self, _: &str, _: &str) -> Answer<Arc<Middleware>> {
        self.wait()
    }
    fn middlewares_by_key(&self, _: &str) -> Answer<Vec<Arc<Middleware>>> {
        self.wait()
    }
    fn application(&self, _: &str, _: &str) -> Answer<Arc<Application>> {
        self.wait()
    }
    fn routes_using_middleware(&self, _: &str, _: &str) -> Answer<Vec<ObjectRef>> {
        self.wait()
    }
    fn ingress_class_controller(&self, _: &str) -> Answer<String> {
        self.wait()
    }
    fn gateway_class(&self, _: &str, _: &str) -> Answer<String> {
        self.wait()
    }
    fn gateway_class_controller(&self, _: &str) -> Answer<String> {
        self.wait()
    }
}

/// The admission router over `lookup`, served on loopback (plain HTTP: TLS is proven by
/// the other suites) by a runtime of its own with one async worker, so that a review
/// decided on that worker would hold up everything else; its base URL.
fn serve(lookup: Hanging) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let (url, server) = router(lookup).await;
            tx.send(url).expect("send");
            server.await
        })
    });
    rx.recv().expect("the server's address")
}

async fn router(
    lookup: Hanging,
) -> (
    String,
    impl std::future::Future<Output = std::io::Result<()>>,
) {
    let state = Arc::new(AppState {
        policy: Arc::new(PolicyStore::open(None, None).expect("default policy")),
        lookup: Arc::new(lookup),
        metrics: Arc::new(Metrics::new()),
        readiness: Arc::new(Readiness {
            cache: None,
            draining: AtomicBool::new(false),
        }),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let router = handlers::admission_router(state, 3 * 1024 * 1024);
    (
        format!("http://{addr}"),
        axum::serve(listener, router).into_future(),
    )
}

/// An IngressRoute that references a Middleware (so the rules ask the lookup), its review
/// padded with an annotation to `size` bytes or more.
fn route_review(uid: &str, size: usize) -> Value {
    let mut route = json!({
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": "admin", "namespace": "shop", "annotations": {}},
        "spec": {"routes": [{
            "match": "Host(`admin.example.com`)",
            "kind": "Rule",
            "middlewares": [{"name": "sso"}],
            "services": [{"name": "admin", "port": 80}],
        }]}
    });
    route["metadata"]["annotations"]["example.com/padding"] = json!("x".repeat(size));
    common::review(uid, "CREATE", "shop", &route, None)
}

async fn post(client: &reqwest::Client, url: &str, review: &Value) -> (u16, Value, Duration) {
    let start = Instant::now();
    let r = client
        .post(format!("{url}/validate"))
        .json(review)
        .send()
        .await
        .expect("the review is answered");
    let status = r.status().as_u16();
    let body = r.json().await.expect("JSON");
    (status, body, start.elapsed())
}

#[tokio::test]
async fn a_review_past_its_deadline_is_refused_while_health_checks_answer() {
    let lookup = Hanging::new(REVIEW_DEADLINE + Duration::from_secs(2));
    let asked = lookup.asked.clone();
    let url = serve(lookup);
    let client = reqwest::Client::new();
    let big = route_review("big", INLINE_BODY_BYTES + 1024);
    assert!(serde_json::to_vec(&big).expect("JSON").len() > INLINE_BODY_BYTES);

    let review = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { post(&client, &url, &big).await }
    });
    // While the review hangs: /healthz answers at once, several times.
    while !asked.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..5 {
        let start = Instant::now();
        let health = client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(health.status(), 200);
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "/healthz waited {:?} behind a hanging review",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, body, took) = review.await.expect("task");
    // Answered (HTTP 200: an AdmissionReview), refused, and within the deadline, not after
    // the lookup gave up.
    assert_eq!(status, 200, "{body}");
    let response = &body["response"];
    assert_eq!(response["uid"], "big");
    assert_eq!(response["allowed"], false, "{body}");
    assert_eq!(response["status"]["code"], 503, "{body}");
    let message = response["status"]["message"].as_str().expect("message");
    assert!(
        message.contains("could not finish reviewing") && message.contains("split it"),
        "the refusal says why and what would be accepted: {message}"
    );
    assert!(
        took < REVIEW_DEADLINE + Duration::from_secs(1),
        "answered after {took:?}, past the {REVIEW_DEADLINE:?} deadline"
    );
}

#[tokio::test]
async fn a_review_within_its_deadline_is_decided_on_the_same_path() {
    // The same large review, over a lookup that answers in time: decided by the rules
    // (the Middleware does not exist: OT004), not refused as unfinished.
    let url = serve(Hanging::new(Duration::from_millis(10)));
    let client = reqwest::Client::new();
    let (status, body, _) = post(
        &client,
        &url,
        &route_review("big", INLINE_BODY_BYTES + 1024),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let message = body["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(body["response"]["allowed"], false, "{body}");
    assert!(!message.contains("could not finish"), "{message}");
    assert!(message.contains("OT004"), "{message}");
}

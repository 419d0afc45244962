//! `--dev-self-signed`: the README's first command works as printed.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn dev_mode_serves_a_self_signed_certificate_and_a_sample_review() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = dir.path().join("stderr");
    let addr = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oam-traefik-webhook"))
        .args(["--dev-self-signed", "--listen", &addr.to_string()])
        .env_remove("POD_NAMESPACE")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&err).expect("file")))
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        let text = std::fs::read_to_string(&err).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.trim_start().starts_with("curl ")) {
            break l.trim().to_string();
        }
        assert!(Instant::now() < deadline, "no curl line printed:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // curl --cacert CA -H '...' --data @REVIEW URL
    let words: Vec<&str> = line.split_whitespace().collect();
    let ca = words[words
        .iter()
        .position(|w| *w == "--cacert")
        .expect("--cacert")
        + 1];
    let review = words
        .iter()
        .find_map(|w| w.strip_prefix('@'))
        .expect("@review.json");
    let url = *words.last().expect("url");
    assert_eq!(url, format!("https://{addr}/validate"));

    let client = common::client(&std::fs::read_to_string(ca).expect("ca"), true);
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(std::fs::read(review).expect("review"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let out: serde_json::Value = r.json().await.expect("json");
    assert_eq!(out["response"]["allowed"], false);
    assert!(
        out["response"]["status"]["message"]
            .as_str()
            .expect("message")
            .contains("OT001")
    );
    let r = client
        .get(url.replace("/validate", "/readyz"))
        .send()
        .await
        .expect("readyz");
    assert!(
        r.text()
            .await
            .expect("text")
            .contains("no cluster: lookups unanswered")
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn every_setting_can_come_from_the_environment() {
    let ca = common::TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, _) = ca.leaf();
    std::fs::write(dir.path().join("tls.crt"), cert).expect("cert");
    std::fs::write(dir.path().join("tls.key"), key).expect("key");
    std::fs::write(
        dir.path().join("policy.yaml"),
        format!(
            "{}spec:\n  rules:\n    OT010: deny\n",
            common::POLICY_HEADER
        ),
    )
    .expect("policy");
    let addr = common::free_port();
    let metrics = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oam-traefik-webhook"))
        .env("OAM_TRAEFIK_LISTEN", addr.to_string())
        .env("OAM_TRAEFIK_TLS_CERT", dir.path().join("tls.crt"))
        .env("OAM_TRAEFIK_TLS_KEY", dir.path().join("tls.key"))
        .env("OAM_TRAEFIK_POLICY", dir.path().join("policy.yaml"))
        .env("OAM_TRAEFIK_METRICS_LISTEN", metrics.to_string())
        .env("OAM_TRAEFIK_NO_CLUSTER", "1")
        .env("OAM_TRAEFIK_MAX_BODY_BYTES", "4000")
        .env("POD_NAMESPACE", "mine")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let client = common::client(&ca.pem, true);
    let url = format!("https://127.0.0.1:{}", addr.port());
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "not serving");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let post = |body: Vec<u8>| client.post(format!("{url}/validate")).body(body).send();

    // OAM_TRAEFIK_MAX_BODY_BYTES.
    assert_eq!(post(vec![b' '; 5000]).await.expect("post").status(), 413);

    // OAM_TRAEFIK_POLICY: OT010 denies.
    let mut identity = common::identity_v1();
    identity.as_object_mut().expect("map").remove("version");
    let review = common::review(
        "u-env",
        "CREATE",
        "shop",
        &common::app(Some(identity)),
        None,
    );
    let r: serde_json::Value = post(serde_json::to_vec(&review).expect("json"))
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(r["response"]["allowed"], false, "{r}");

    // POD_NAMESPACE is exempt: an app without identity passes there.
    let mut object = common::app(None);
    object["metadata"]["namespace"] = serde_json::json!("mine");
    let review = common::review("u-env-2", "CREATE", "mine", &object, None);
    let r: serde_json::Value = post(serde_json::to_vec(&review).expect("json"))
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(r["response"]["allowed"], true, "{r}");

    // OAM_TRAEFIK_METRICS_LISTEN.
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains(r#"decision="exempt"} 1"#), "{text}");
    let _ = child.kill();
    let _ = child.wait();
}

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

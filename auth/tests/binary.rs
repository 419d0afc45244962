//! The `oam-traefik-auth` binary with the chart's flags: TLS, a policy file, a CA file
//! for the issuer, a metrics listener; one JSON decision line per request without the
//! token; a graceful exit on SIGTERM.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use serde_json::Value;
use support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_verifies_logs_and_drains() {
    let key = ec("k1", Algorithm::ES256);
    let issuer = TestIssuer::start(&[&key]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  allowedIssuers: [\"{}\"]\n",
            issuer.url()
        ),
    )
    .expect("policy");
    let pem = issuer
        .ca
        .serving("verifier", &["127.0.0.1"])
        .expect("serving");
    let (cert, tls_key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &pem.cert).expect("cert");
    std::fs::write(&tls_key, &pem.key).expect("key");
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_oam-traefik-auth"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&tls_key)
        .arg("--policy")
        .arg(&policy)
        .arg("--ca-file")
        .arg(issuer.ca_file.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");

    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(issuer.ca.cert_pem().as_bytes()).expect("ca"),
        )
        .build()
        .expect("client");
    let base = format!("https://127.0.0.1:{port}");
    // Ready once the allowed issuer's keys are loaded by the background refresher.
    let started = Instant::now();
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never ready: {ready:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);

    let token = mint(&key, &issuer.claims());
    let answer = client
        .get(format!("{base}/verify?{}", issuer.rule_query()))
        .bearer_auth(&token)
        .header("x-forwarded-for", "203.0.113.9, 10.0.0.7")
        .header("x-forwarded-host", "orders.example.com")
        .header("x-forwarded-method", "POST")
        .header(
            "x-forwarded-uri",
            format!("/orders/42?access_token={token}"),
        )
        .send()
        .await
        .expect("verify");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-forwarded-user"], "alice");
    let refused = client
        .get(format!("{base}/verify?{}", issuer.rule_query()))
        .send()
        .await
        .expect("verify");
    assert_eq!(refused.status(), 401);
    let mut narrow = issuer.claims();
    narrow["scope"] = "openid".into();
    let forbidden = client
        .get(format!("{base}/verify?{}", issuer.rule_query()))
        .bearer_auth(mint(&key, &narrow))
        .send()
        .await
        .expect("verify");
    assert_eq!(forbidden.status(), 403);

    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("oam_traefik_auth_decisions_total"),
        "{metrics}"
    );
    let not_on_main = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(not_on_main.status(), 404, "metrics has its own listener");

    // The policy edited in place: an issuer no longer allowed is refused without a restart,
    // even for a token verified (and cached) a moment ago.
    std::fs::write(
        &policy,
        "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  allowedIssuers: []\n",
    )
    .expect("policy");
    let started = Instant::now();
    loop {
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        if ready.status() == 503 {
            assert!(
                ready
                    .text()
                    .await
                    .expect("text")
                    .contains("trusts no issuer")
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "policy never reloaded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let untrusted = client
        .get(format!("{base}/verify?{}", issuer.rule_query()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("verify");
    assert_eq!(untrusted.status(), 401);

    // SIGTERM: drain and exit 0.
    // SAFETY: kill(2) on the child we spawned.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read");
    let decisions: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["msg"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 4, "{stdout}");
    let ok = &decisions[0];
    assert_eq!(ok["allowed"], true);
    assert_eq!(ok["subject"], "alice");
    assert_eq!(ok["issuer"], issuer.url());
    assert_eq!(ok["client_ip"], "10.0.0.7");
    assert_eq!(ok["host"], "orders.example.com");
    assert_eq!(ok["method"], "POST");
    assert_eq!(ok["path"], "/orders/42");
    assert_eq!(
        ok["rule"]["audiences"],
        serde_json::json!(["orders", "shop"])
    );
    assert!(
        ok["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{ok}"
    );
    assert_eq!(decisions[1]["allowed"], false);
    assert_eq!(decisions[1]["reason"], "missing_token");
    assert_eq!(decisions[1]["subject"], Value::Null);
    // A verified token refused for its claims: who it was is on record.
    assert_eq!(decisions[2]["reason"], "missing_scope");
    assert_eq!(decisions[2]["subject"], "alice");
    assert_eq!(decisions[3]["reason"], "no_trusted_issuer");
    assert!(stdout.contains("policy reloaded"), "{stdout}");
    assert!(!stdout.contains(&token), "the token is never logged");
    assert!(stdout.contains("drained"), "{stdout}");
}

//! `--self-signed-secret` against a real kube-apiserver: the webhook makes its CA and
//! serving certificate into a Secret, writes the CA into its webhook configurations,
//! serves that certificate, renews it when due (old and new CA published together, the
//! old one dropped later), and reuses it after a restart.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use oam_traefik_e2e::{ControlPlane, Kubectl};
use serde_json::Value;

const NS: &str = "oam-traefik-system";
const SECRET: &str = "oam-traefik-webhook-tls";
const SERVICE: &str = "oam-traefik-webhook";
const HOST: &str = "oam-traefik-webhook.oam-traefik-system.svc";

/// Two webhook configurations that point nowhere and match nothing: only their caBundle matters.
const CONFIGURATIONS: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: ss-test-mutating}
webhooks:
  - name: mutate.oam-traefik.io
    clientConfig: {url: "https://127.0.0.1:1/mutate"}
    rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
    namespaceSelector: {matchLabels: {never: matches}}
    failurePolicy: Ignore
    sideEffects: None
    admissionReviewVersions: [v1]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: ss-test-validating}
webhooks:
  - name: validate.oam-traefik.io
    clientConfig: {url: "https://127.0.0.1:1/validate"}
    rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
    namespaceSelector: {matchLabels: {never: matches}}
    failurePolicy: Ignore
    sideEffects: None
    admissionReviewVersions: [v1]
  - name: validate2.oam-traefik.io
    clientConfig: {url: "https://127.0.0.1:1/validate"}
    rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [secrets]}]
    namespaceSelector: {matchLabels: {never: matches}}
    failurePolicy: Ignore
    sideEffects: None
    admissionReviewVersions: [v1]
"#;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(kubeconfig: &Path, addr: SocketAddr, log: &Path) -> Running {
    let log = std::fs::File::create(log).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_oam-traefik-webhook"))
        .args(["--listen", &addr.to_string()])
        .args(["--self-signed-secret", &format!("{NS}/{SECRET}")])
        .args(["--service-name", SERVICE])
        .args([
            "--webhook-configurations",
            "ss-test-mutating,ss-test-validating",
        ])
        .args(["--self-signed-check-seconds", "1"])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--namespace", NS])
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start webhook");
    Running(child)
}

fn eventually<T>(what: &str, log: &Path, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen; webhook log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn secret_field(k: &Kubectl, key: &str) -> Option<String> {
    let s = k.get_json(NS, "secret", SECRET).ok()?;
    let b64 = s["data"][key].as_str()?;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).ok()?).ok()
}

fn bundles(k: &Kubectl) -> Vec<Value> {
    let mut out = Vec::new();
    for (kind, name) in [
        ("mutatingwebhookconfiguration", "ss-test-mutating"),
        ("validatingwebhookconfiguration", "ss-test-validating"),
    ] {
        let c = k.get_json("default", kind, name).expect("configuration");
        for w in c["webhooks"].as_array().expect("webhooks") {
            out.push(w["clientConfig"]["caBundle"].clone());
        }
    }
    out
}

/// The DER of the certificate the webhook serves to a client that trusts `ca_pem`.
fn served_cert(addr: SocketAddr, ca_pem: &str) -> Option<(Vec<u8>, String)> {
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .resolve(HOST, addr)
        .timeout(Duration::from_secs(5));
    for pem in split_pem(ca_pem) {
        builder =
            builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).ok()?);
    }
    let r = builder
        .build()
        .ok()?
        .get(format!("https://{HOST}:{}/readyz", addr.port()))
        .send()
        .ok()?;
    let der = r
        .extensions()
        .get::<reqwest::tls::TlsInfo>()?
        .peer_certificate()?
        .to_vec();
    Some((der, r.text().ok()?))
}

fn split_pem(pem: &str) -> Vec<String> {
    pem.split_inclusive("-----END CERTIFICATE-----")
        .filter(|p| p.contains("BEGIN CERTIFICATE"))
        .map(|p| p.trim_start().to_string())
        .collect()
}

fn der_of(pem: &str) -> Vec<u8> {
    let block = split_pem(pem).into_iter().next().expect("a certificate");
    let body: String = block.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM base64")
}

#[test]
fn self_signed_secret_is_made_served_published_renewed_and_reused() {
    let cp = ControlPlane::start().expect("control plane");
    let k = cp.kubectl();
    k.create_namespace(NS, &[]).expect("namespace");
    k.apply("default", CONFIGURATIONS)
        .expect("apply")
        .ok()
        .expect("configurations");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("webhook.log");
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };

    let webhook = start(cp.kubeconfig(), addr, &log);
    let ca = eventually("the Secret", &log, || secret_field(k, "ca.crt"));
    let cert = secret_field(k, "tls.crt").expect("tls.crt");
    assert!(secret_field(k, "tls.key").is_some());
    let ca_b64 = base64::engine::general_purpose::STANDARD.encode(&ca);
    eventually("caBundle in both configurations", &log, || {
        bundles(k)
            .iter()
            .all(|b| b == &Value::String(ca_b64.clone()))
            .then_some(())
    });
    assert_eq!(bundles(k).len(), 3);
    let (served, readyz) = eventually("the certificate served", &log, || served_cert(addr, &ca));
    assert_eq!(served, der_of(&cert), "serves the Secret's certificate");
    // No CRDs are installed on this control plane: those kinds stay unanswered, but ready.
    assert!(
        readyz.contains("ready; unanswered lookups for: Application absent"),
        "{readyz}"
    );

    // Make the certificate due: the webhook renews it, keeps trusting the old CA during the
    // rotation, publishes the new bundle and serves the new certificate.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    k.run(&[
        "annotate",
        "-n",
        NS,
        "secret",
        SECRET,
        "--overwrite",
        &format!("oam-traefik.io/not-after={}", now + 1),
    ])
    .expect("annotate")
    .ok()
    .expect("annotated");
    let renewed = eventually("renewal", &log, || {
        secret_field(k, "tls.crt").filter(|c| *c != cert)
    });
    let new_ca = secret_field(k, "ca.crt").expect("ca.crt");
    assert_eq!(split_pem(&new_ca).len(), 2, "new CA then old CA: {new_ca}");
    assert_eq!(split_pem(&new_ca)[1].trim(), ca.trim());
    let new_b64 = base64::engine::general_purpose::STANDARD.encode(&new_ca);
    eventually("new caBundle", &log, || {
        bundles(k)
            .iter()
            .all(|b| b == &Value::String(new_b64.clone()))
            .then_some(())
    });
    eventually("the renewed certificate served", &log, || {
        served_cert(addr, &new_ca).filter(|(der, _)| *der == der_of(&renewed))
    });
    // Once every replica serves the new certificate, the old CA leaves the Secret, then caBundle.
    let only_new = eventually("the old CA dropped", &log, || {
        secret_field(k, "ca.crt").filter(|c| split_pem(c).len() == 1)
    });
    assert_eq!(only_new.trim(), split_pem(&new_ca)[0].trim());
    let only_new_b64 = base64::engine::general_purpose::STANDARD.encode(&only_new);
    eventually("caBundle with the new CA only", &log, || {
        bundles(k)
            .iter()
            .all(|b| b == &Value::String(only_new_b64.clone()))
            .then_some(())
    });

    // A restart (or a second replica) serves the same Secret instead of making a new one.
    drop(webhook);
    let _again = start(cp.kubeconfig(), addr, &log);
    let (served, _) = eventually("served after restart", &log, || served_cert(addr, &new_ca));
    assert_eq!(served, der_of(&renewed));
    assert_eq!(
        secret_field(k, "tls.crt").as_deref(),
        Some(renewed.as_str())
    );
}

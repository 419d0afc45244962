//! The real `oam-traefik-webhook` binary on a loopback port, a CA made by rcgen, and a
//! client that verifies the served certificate against that CA.

#![allow(dead_code)] // each test file uses part of this

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use serde_json::{Value, json};

/// A test CA that signs serving certificates for 127.0.0.1.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "oam-traefik test CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA cert");
        Self {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// A serving certificate for 127.0.0.1 and localhost: (cert PEM, key PEM, cert DER).
    pub fn leaf(&self) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

/// How to start the webhook.
#[derive(Default)]
pub struct Options {
    /// Contents of a policy file, if any.
    pub policy: Option<String>,
    /// Serve /metrics too.
    pub metrics: bool,
    /// --max-body-bytes.
    pub max_body_bytes: Option<usize>,
    /// Put the cert and key behind a `..data` symlink, the way the kubelet mounts Secrets.
    pub symlinked_certs: bool,
    /// More command-line arguments.
    pub extra_args: Vec<String>,
}

/// A running webhook; killed when dropped.
pub struct Webhook {
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub ca: TestCa,
    pub dir: tempfile::TempDir,
    pub cert_der: Vec<u8>,
    pub client: reqwest::Client,
}

pub fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Write `contents` to `path` atomically (rename), as editors and the kubelet do.
pub fn write_atomic(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

impl Webhook {
    pub async fn start(options: Options) -> Webhook {
        let ca = TestCa::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert_pem, key_pem, cert_der) = ca.leaf();
        let (cert, key) = if options.symlinked_certs {
            let data = dir.path().join("..data_1");
            std::fs::create_dir(&data).expect("mkdir");
            std::fs::write(data.join("tls.crt"), &cert_pem).expect("write cert");
            std::fs::write(data.join("tls.key"), &key_pem).expect("write key");
            std::os::unix::fs::symlink("..data_1", dir.path().join("..data")).expect("symlink");
            for f in ["tls.crt", "tls.key"] {
                std::os::unix::fs::symlink(format!("..data/{f}"), dir.path().join(f))
                    .expect("symlink");
            }
            (dir.path().join("tls.crt"), dir.path().join("tls.key"))
        } else {
            let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
            std::fs::write(&cert, &cert_pem).expect("write cert");
            std::fs::write(&key, &key_pem).expect("write key");
            (cert, key)
        };
        let addr = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oam-traefik-webhook"));
        cmd.arg("--listen")
            .arg(addr.to_string())
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .arg("--no-cluster")
            .arg("--namespace")
            .arg("oam-traefik")
            .env_remove("POD_NAMESPACE")
            .env("RUST_LOG", "info");
        if let Some(policy) = &options.policy {
            let path = dir.path().join("policy.yaml");
            std::fs::write(&path, policy).expect("write policy");
            cmd.arg("--policy").arg(path);
        }
        let metrics_addr = options.metrics.then(free_port);
        if let Some(m) = metrics_addr {
            cmd.arg("--metrics-listen").arg(m.to_string());
        }
        if let Some(n) = options.max_body_bytes {
            cmd.arg("--max-body-bytes").arg(n.to_string());
        }
        cmd.args(&options.extra_args);
        let log = std::fs::File::create(dir.path().join("webhook.log")).expect("log file");
        cmd.stdout(Stdio::from(log.try_clone().expect("clone")))
            .stderr(Stdio::from(log));
        let child = cmd.spawn().expect("start oam-traefik-webhook");
        let client = client(&ca.pem, true);
        let webhook = Webhook {
            child,
            addr,
            metrics_addr,
            ca,
            dir,
            cert_der,
            client,
        };
        webhook.wait_healthy().await;
        webhook
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.client.get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "webhook did not become healthy; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("webhook.log")).unwrap_or_default()
    }

    /// Wait until the log contains `needle`: the webhook writes log lines from a writer
    /// thread in batches, so a line may land a few milliseconds after its response.
    pub async fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "the log never said {needle:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// POST `body` to `path`; the HTTP status and the parsed JSON (or text) body.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// POST a review and return its `response`, asserting HTTP 200 and the echoed envelope.
    pub async fn review(&self, path: &str, review: &Value) -> Value {
        let (status, out) = self
            .post(path, serde_json::to_vec(review).expect("json"))
            .await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["apiVersion"], review["apiVersion"]);
        assert_eq!(out["kind"], "AdmissionReview");
        assert_eq!(out["response"]["uid"], review["request"]["uid"]);
        out["response"].clone()
    }

    pub async fn metrics(&self) -> String {
        let addr = self.metrics_addr.expect("started with metrics");
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that trusts only `ca_pem`; `keep_alive` false opens a connection per request.
pub fn client(ca_pem: &str, keep_alive: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA"))
        .tls_info(true)
        .timeout(Duration::from_secs(10));
    if !keep_alive {
        b = b.pool_max_idle_per_host(0);
    }
    b.build().expect("client")
}

/// An AdmissionReview for `object` of this group/version/kind.
pub fn review(
    uid: &str,
    operation: &str,
    namespace: &str,
    object: &Value,
    old: Option<&Value>,
) -> Value {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": object["kind"]},
            "resource": {"group": group, "version": version, "resource": "things"},
            "name": object["metadata"]["name"],
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "alice", "groups": ["team-orders", "system:authenticated"]},
            "object": if operation == "DELETE" { Value::Null } else { object.clone() },
            "oldObject": old.cloned().unwrap_or(Value::Null),
            "dryRun": false,
        }
    })
}

/// The app `orders` with component `web` exposing a gateway route; `identity` is added as a trait.
pub fn app(identity: Option<Value>) -> Value {
    let mut traits = vec![json!({
        "type": "gateway",
        "properties": {"domain": "orders.example.com", "http": {"/": 8080}, "class": "traefik"}
    })];
    if let Some(props) = identity {
        traits.push(json!({"type": "identity", "properties": props}));
    }
    json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {"components": [{
            "name": "web",
            "type": "webservice",
            "properties": {"image": "example/orders:1"},
            "traits": traits,
        }]}
    })
}

/// A complete identity rule.
pub fn identity_v1() -> Value {
    json!({
        "version": "v1",
        "provider": "oidc",
        "issuer": "https://login.example.com/realms/prod",
        "audiences": ["orders"],
        "scopes": ["orders:read"],
        "groups": ["team-orders"],
    })
}

/// The policy file header.
pub const POLICY_HEADER: &str = "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\n";

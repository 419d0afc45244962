//! What the verifier's tests share: signing keys generated here, tokens minted with
//! them, an OpenID issuer (discovery + JWKS) served in-process over real HTTPS with a
//! test CA, and the verifier's router built against it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oam_traefik_auth::fetch::Fetcher;
use oam_traefik_auth::handlers::{self, AppState};
use oam_traefik_auth::issuers::KeyStore;
use oam_traefik_auth::metrics::Metrics;
use oam_traefik_auth::verify::{Settings, Verifier};
use oam_traefik_e2e::certs::Ca;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A key that signs test tokens, with its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    /// The `kid` it is published under.
    pub kid: String,
    /// The algorithm it signs with.
    pub alg: Algorithm,
    /// The private key.
    pub encoding: EncodingKey,
    /// The public JWK (with `kid`, `alg` and `use`).
    pub jwk: Value,
    /// The public key as PEM (for the HS256-with-the-public-key attack).
    pub public_pem: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA key (generated once per test binary: RSA generation is slow).
pub fn rsa(kid: &str, alg: Algorithm) -> SigningKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::traits::PublicKeyParts;
    static KEYS: OnceLock<[rsa::PrivateKey; 2]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        use rsa::Generate;
        [rsa::PrivateKey::generate(), rsa::PrivateKey::generate()]
    });
    // Two distinct keys: kids ending in "2" get the second.
    let key = &keys[usize::from(kid.ends_with('2'))];
    let public = key.to_public_key();
    let der = key.to_pkcs1_der().expect("pkcs1");
    SigningKey {
        kid: kid.to_string(),
        alg,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({"kty": "RSA", "use": "sig", "kid": kid, "alg": format!("{alg:?}"),
                    "n": b64(&public.n_bytes()), "e": b64(&public.e_bytes())}),
        public_pem: Some(
            public
                .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
                .expect("pem"),
        ),
    }
}

/// A fresh ECDSA key: P-256 for ES256, P-384 for ES384.
pub fn ec(kid: &str, alg: Algorithm) -> SigningKey {
    let (curve, rcgen_alg) = match alg {
        Algorithm::ES384 => ("P-384", &rcgen::PKCS_ECDSA_P384_SHA384),
        _ => ("P-256", &rcgen::PKCS_ECDSA_P256_SHA256),
    };
    let pair = rcgen::KeyPair::generate_for(rcgen_alg).expect("ec key");
    let raw = pair.public_key_raw();
    let half = (raw.len() - 1) / 2;
    SigningKey {
        kid: kid.to_string(),
        alg,
        encoding: EncodingKey::from_ec_der(&pair.serialize_der()),
        jwk: json!({"kty": "EC", "use": "sig", "kid": kid, "alg": format!("{alg:?}"), "crv": curve,
                    "x": b64(&raw[1..1 + half]), "y": b64(&raw[1 + half..])}),
        public_pem: Some(pair.public_key_pem()),
    }
}

/// A fresh Ed25519 key.
pub fn ed(kid: &str) -> SigningKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ed key");
    SigningKey {
        kid: kid.to_string(),
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(&pair.serialize_der()),
        jwk: json!({"kty": "OKP", "use": "sig", "kid": kid, "alg": "EdDSA", "crv": "Ed25519",
                    "x": b64(pair.public_key_raw())}),
        public_pem: None,
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A token signed by `key` (header `kid` from the key) with `claims`.
pub fn mint(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
}

/// A token with a header and payload as given and a signature of raw bytes: for forgeries.
pub fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// The HMAC-SHA256 of `message` under `secret`: what an HS256 forgery signs with.
pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut key = [0u8; 64];
    if secret.len() > 64 {
        key[..32].copy_from_slice(&sha2::Sha256::digest(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    let inner: Vec<u8> = key.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = key.iter().map(|b| b ^ 0x5c).collect();
    let mut h = sha2::Sha256::new();
    h.update(&inner);
    h.update(message);
    let inner_hash = h.finalize();
    let mut h = sha2::Sha256::new();
    h.update(&outer);
    h.update(inner_hash);
    h.finalize().to_vec()
}

/// What the test issuer serves, and how often it was asked.
pub struct IssuerState {
    /// Its URL (`https://127.0.0.1:PORT`).
    pub url: String,
    /// The JWKS it publishes now.
    pub jwks: Mutex<Value>,
    /// JWKS fetches answered.
    pub jwks_fetches: AtomicUsize,
    /// Discovery fetches answered.
    pub discovery_fetches: AtomicUsize,
    /// While set, every answer is 503.
    pub down: AtomicBool,
    /// How long each JWKS answer takes.
    pub delay: Mutex<Duration>,
}

/// An OpenID issuer on 127.0.0.1 over HTTPS, signed by its own test CA.
pub struct TestIssuer {
    /// What it serves.
    pub state: Arc<IssuerState>,
    /// A file with the test CA's PEM (for `--ca-file`).
    pub ca_file: tempfile::NamedTempFile,
    /// The CA, for other certificates.
    pub ca: Ca,
}

impl TestIssuer {
    /// Start an issuer publishing `keys`.
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = Ca::new("oam-traefik-auth test CA").expect("ca");
        let pem = ca
            .serving("issuer", &["127.0.0.1", "localhost"])
            .expect("serving");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let state = Arc::new(IssuerState {
            url: format!("https://{addr}"),
            jwks: Mutex::new(Value::Null),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            delay: Mutex::new(Duration::ZERO),
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&cert, &pem.cert).expect("write cert");
        std::fs::write(&key, &pem.key).expect("write key");
        let tls = oam_traefik_auth::tls::server_config(&cert, &key).expect("tls");
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .with_state(state.clone());
        tokio::spawn(oam_traefik_auth::server::serve(
            listener,
            Some(tls),
            app,
            std::future::pending(),
        ));
        let mut ca_file = tempfile::NamedTempFile::new().expect("ca file");
        std::io::Write::write_all(&mut ca_file, ca.cert_pem().as_bytes()).expect("write ca");
        let issuer = Self { state, ca_file, ca };
        issuer.publish(keys);
        issuer
    }

    /// Publish `keys` as the JWKS from now on.
    pub fn publish(&self, keys: &[&SigningKey]) {
        let jwks: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        *self.state.jwks.lock().expect("lock") = json!({ "keys": jwks });
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.state.url
    }

    /// JWKS fetches so far.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims that satisfy [`rule_query`]: issuer, audience, scopes, a group, 5 minutes left.
    pub fn claims(&self) -> Value {
        json!({"iss": self.url(), "sub": "alice", "aud": ["orders"], "email": "alice@example.com",
               "iat": now(), "nbf": now(), "exp": now() + 300,
               "scope": "openid orders:read", "scp": ["orders:write"], "groups": ["team-orders", "admins"]})
    }

    /// The query of a rule this issuer's good tokens satisfy.
    pub fn rule_query(&self) -> String {
        format!(
            "provider=oidc&issuer={}&audience=orders&audience=shop&scope=orders:read&scope=orders:write&group=team-orders",
            oam_traefik_policy::forward_auth::escape(self.url())
        )
    }
}

async fn discovery(State(state): State<Arc<IssuerState>>) -> Response {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    // The algorithms too: go-oidc clients (oauth2-proxy in the benchmark) assume RS256 only without them.
    axum::Json(json!({"issuer": state.url, "jwks_uri": format!("{}/jwks", state.url),
                      "id_token_signing_alg_values_supported":
                          ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]}))
    .into_response()
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let delay = *state.delay.lock().expect("lock");
    tokio::time::sleep(delay).await;
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let body = state.jwks.lock().expect("lock").clone();
    axum::Json(body).into_response()
}

/// A verifier trusting `allowed`, reaching issuers with `issuer`'s CA, refetching an
/// issuer's keys at most once per `refetch`.
pub fn verifier(issuer: &TestIssuer, allowed: &[&str], refetch: Duration) -> (Router, AppState) {
    let metrics = Arc::new(Metrics::new());
    let fetcher = Fetcher::new(Some(issuer.ca_file.path())).expect("fetcher");
    let keys = Arc::new(KeyStore::new(fetcher, metrics.clone(), refetch));
    let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    let settings = Settings {
        allowed_issuers: allowed,
        leeway: 60,
        groups_claim: "groups".to_string(),
    };
    let verifier = Arc::new(Verifier::new(settings, keys, 1000, metrics.clone()));
    let state = AppState { verifier, metrics };
    (handlers::router(state.clone(), true), state)
}

/// The answer to one request: status, headers, body.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Answer {
    /// The `WWW-Authenticate` header, or "".
    pub fn challenge(&self) -> &str {
        self.header("www-authenticate")
    }

    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// `GET uri` with `headers` through `router`.
pub async fn get_with(router: &Router, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::builder().method("GET").uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// `GET /verify?<query>` with `token` as the bearer token.
pub async fn verify(router: &Router, query: &str, token: &str) -> Answer {
    let auth = format!("Bearer {token}");
    get_with(
        router,
        &format!("/verify?{query}"),
        &[("authorization", auth.as_str())],
    )
    .await
}

//! The real OpenID provider: ory/hydra, built from the Go module proxy
//! (`tests/tools/hydra`), issuing RS256 JWT access tokens to client-credentials clients.
//!
//! Its public port serves TLS with a certificate from the test's CA (an `https://`
//! issuer, as the verifier requires); its admin port is plain HTTP on loopback. The
//! database is SQLite in memory (hydra migrates it at every start). A token hook (an
//! HTTP server of the test) may add claims; the claims it names in `top_level_claims`
//! are put at the top level of the access token, where the verifier reads them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use serde_json::{Value, json};

use crate::certs::Ca;
use crate::ports::free_port;
use crate::process::{Process, wait_until};
use crate::tools;

/// How long hydra may take to migrate its database and answer `/health/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// How a hydra is configured.
#[derive(Debug, Clone, Default)]
pub struct HydraConfig {
    /// Called for every token (`oauth2.token_hook`).
    pub token_hook: Option<String>,
    /// Claims of the hook's answer put at the top level of access tokens.
    pub top_level_claims: Vec<String>,
}

/// A running hydra.
pub struct Hydra {
    process: Process,
    issuer: String,
    admin: String,
    http: reqwest::blocking::Client,
    log: PathBuf,
}

/// A client-credentials client: its id and secret.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// `client_id`: the `sub` of its tokens.
    pub id: String,
    /// `client_secret`.
    pub secret: String,
}

impl Hydra {
    /// Starts hydra named `name` in `dir`, its public port served with a certificate for
    /// 127.0.0.1 signed by `ca`; waits until it is ready.
    pub fn start(dir: &Path, name: &str, ca: &Ca, config: &HydraConfig) -> Result<Self> {
        let bin = tools::hydra()?;
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir)?;
        let tls = ca
            .serving(&format!("hydra-{name}"), &["127.0.0.1", "localhost"])?
            .write(&dir, "public")?;
        let ca_file = dir.join("ca.crt");
        std::fs::write(&ca_file, ca.cert_pem())?;
        let (public, admin) = (free_port()?, free_port()?);
        let issuer = format!("https://127.0.0.1:{public}");
        let mut oauth2 = json!({
            "allowed_top_level_claims": config.top_level_claims,
            // Only at the top level, as an issuer configured for it sends them.
            "mirror_top_level_claims": false,
        });
        if let Some(hook) = &config.token_hook {
            oauth2["token_hook"] = Value::String(hook.clone());
        }
        let file = json!({
            // Each hydra its own in-memory database, shared by its connections.
            "dsn": format!("sqlite://file:{name}?mode=memory&cache=shared&_fk=true"),
            "serve": {
                "public": {
                    "host": "127.0.0.1",
                    "port": public,
                    "tls": {
                        "enabled": true,
                        "cert": {"path": tls.cert.display().to_string()},
                        "key": {"path": tls.key.display().to_string()},
                    },
                },
                "admin": {"host": "127.0.0.1", "port": admin, "tls": {"enabled": false}},
            },
            "urls": {"self": {"issuer": issuer}},
            "strategies": {"access_token": "jwt"},
            "oauth2": oauth2,
            "secrets": {"system": [format!("e2e-system-secret-of-{name}-0123456789")]},
            "log": {"level": "info", "format": "json"},
        });
        let config_file = dir.join("hydra.json");
        std::fs::write(&config_file, serde_json::to_vec_pretty(&file)?)?;
        let log = dir.join("hydra.log");
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "all", "--sqa-opt-out", "--config"])
            .arg(&config_file);
        let mut process = Process::spawn(&format!("hydra {name}"), cmd, &log)?;

        let ca_pem = std::fs::read(&ca_file)?;
        let http = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem)?)
            .timeout(Duration::from_secs(10))
            .build()?;
        let admin = format!("http://127.0.0.1:{admin}");
        let (discovery, health) = (
            format!("{issuer}/.well-known/openid-configuration"),
            format!("{admin}/health/ready"),
        );
        wait_until(
            &mut process,
            READY_TIMEOUT,
            Duration::from_millis(200),
            || {
                [&discovery, &health].iter().all(|url| {
                    http.get(url.as_str())
                        .send()
                        .is_ok_and(|r| r.status().is_success())
                })
            },
        )?;
        Ok(Self {
            process,
            issuer,
            admin,
            http,
            log,
        })
    }

    /// The issuer URL (`https://127.0.0.1:<public port>`), as its tokens' `iss` says it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Creates a client-credentials client that may ask for `scopes` and `audiences`;
    /// its access tokens live `lifespan` (hydra's duration syntax, e.g. `2s`; hydra's
    /// default of one hour without it).
    pub fn create_client(
        &self,
        name: &str,
        scopes: &[&str],
        audiences: &[&str],
        lifespan: Option<&str>,
    ) -> Result<OAuthClient> {
        let mut body = json!({
            "client_name": name,
            "grant_types": ["client_credentials"],
            "response_types": ["token"],
            "scope": scopes.join(" "),
            "audience": audiences,
            "token_endpoint_auth_method": "client_secret_basic",
            "access_token_strategy": "jwt",
        });
        if let Some(lifespan) = lifespan {
            body["client_credentials_grant_access_token_lifespan"] = Value::from(lifespan);
        }
        let resp = self
            .http
            .post(format!("{}/admin/clients", self.admin))
            .json(&body)
            .send()?;
        let status = resp.status();
        let created: Value = resp.json().context("hydra's answer to a new client")?;
        if !status.is_success() {
            bail!("hydra refused client {name}: {status} {created}");
        }
        Ok(OAuthClient {
            id: created["client_id"]
                .as_str()
                .context("no client_id")?
                .to_owned(),
            secret: created["client_secret"]
                .as_str()
                .context("no client_secret")?
                .to_owned(),
        })
    }

    /// An access token for `client` (the client-credentials grant) with `scopes` and
    /// `audiences`, from hydra's token endpoint.
    pub fn token(
        &self,
        client: &OAuthClient,
        scopes: &[&str],
        audiences: &[&str],
    ) -> Result<String> {
        let mut form = reqwest::Url::parse("http://form.invalid/")?;
        form.query_pairs_mut()
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", &scopes.join(" "))
            .append_pair("audience", &audiences.join(" "));
        let resp = self
            .http
            .post(format!("{}/oauth2/token", self.issuer))
            .basic_auth(&client.id, Some(&client.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.query().unwrap_or_default().to_owned())
            .send()?;
        let status = resp.status();
        let answer: Value = resp.json().context("hydra's token answer")?;
        if !status.is_success() {
            bail!("hydra refused a token for {}: {status} {answer}", client.id);
        }
        Ok(answer["access_token"]
            .as_str()
            .context("no access_token")?
            .to_owned())
    }

    /// Rotates the access-token signing key through hydra's admin API: a new RS256 key in
    /// the `hydra.jwt.access-token` set, which signs the tokens issued from now on.
    /// Returns its `kid`.
    pub fn rotate_access_token_key(&self, kid: &str) -> Result<String> {
        let resp = self
            .http
            .post(format!("{}/admin/keys/hydra.jwt.access-token", self.admin))
            .json(&json!({"alg": "RS256", "use": "sig", "kid": kid}))
            .send()?;
        let status = resp.status();
        let set: Value = resp.json().context("hydra's answer to a new key")?;
        if !status.is_success() {
            bail!("hydra refused a new access-token key: {status} {set}");
        }
        Ok(set["keys"][0]["kid"]
            .as_str()
            .context("no kid in the new key set")?
            .to_owned())
    }

    /// The `kid`s hydra publishes in its JWKS now.
    pub fn published_kids(&self) -> Result<Vec<String>> {
        let jwks: Value = self
            .http
            .get(format!("{}/.well-known/jwks.json", self.issuer))
            .send()?
            .json()?;
        Ok(jwks["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// hydra's process id, to tell that it was not restarted.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything hydra logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The decoded header and claims of a JWT (no verification: for assertions on what an
/// issuer sent).
pub fn jwt_parts(token: &str) -> Result<(Value, Value)> {
    let mut parts = token.split('.');
    let mut decode = |what: &str| -> Result<Value> {
        let part = parts.next().with_context(|| format!("no JWT {what}"))?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part)?;
        Ok(serde_json::from_slice(&bytes)?)
    };
    let header = decode("header")?;
    let claims = decode("claims")?;
    Ok((header, claims))
}

//! Reaching issuers: OpenID discovery (`<issuer>/.well-known/openid-configuration`),
//! then its `jwks_uri`, over HTTPS only, with timeouts and a size limit.

use std::path::Path;
use std::time::Duration;

use crate::keys::{JwksError, KeySet};

/// Connecting to an issuer gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole fetch (discovery or JWKS) gives up after this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A discovery or JWKS document larger than this is refused.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Why an issuer's keys could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The network or TLS failed, or the issuer did not answer in time.
    #[error("{url}: {message}")]
    Unreachable {
        /// What was fetched.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// The issuer answered, but not with 200.
    #[error("{url}: HTTP {status}")]
    Status {
        /// What was fetched.
        url: String,
        /// The status it answered.
        status: u16,
    },
    /// The discovery document is not usable.
    #[error("{url}: {message}")]
    Discovery {
        /// What was fetched.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The JWKS is not usable.
    #[error("{url}: {source}")]
    Jwks {
        /// What was fetched.
        url: String,
        /// What is wrong with it.
        source: JwksError,
    },
}

/// A client for issuers: HTTPS only, system roots plus `--ca-file`.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
}

/// A `--ca-file` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// It cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It holds no usable PEM certificate.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The HTTP client cannot be built with these roots.
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

impl Fetcher {
    /// A fetcher trusting the system roots and the PEM certificates in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, CaError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("oam-traefik-auth/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            for cert in read_ca(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            client: builder.build()?,
        })
    }

    /// The issuer's keys: discovery, then the JWKS it names.
    pub async fn keys(&self, issuer: &str) -> Result<KeySet, FetchError> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let body = self.get(&discovery_url).await?;
        let discovery = |message: String| FetchError::Discovery {
            url: discovery_url.clone(),
            message,
        };
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| discovery(format!("not JSON: {e}")))?;
        // OpenID Connect Discovery §4.3: the document's issuer must be the one asked for.
        if doc["issuer"].as_str() != Some(issuer) {
            return Err(discovery(format!(
                "its issuer {} is not {issuer:?}",
                doc["issuer"]
            )));
        }
        let jwks_uri = doc["jwks_uri"]
            .as_str()
            .ok_or_else(|| discovery("no jwks_uri".to_string()))?;
        if !jwks_uri.starts_with("https://") {
            return Err(discovery(format!("jwks_uri {jwks_uri:?} is not https://")));
        }
        let body = self.get(jwks_uri).await?;
        KeySet::from_jwks(&body).map_err(|source| FetchError::Jwks {
            url: jwks_uri.to_string(),
            source,
        })
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let unreachable = |e: reqwest::Error| FetchError::Unreachable {
            url: url.to_string(),
            message: error_chain(&e),
        };
        let mut response = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::Unreachable {
                    url: url.to_string(),
                    message: format!("document larger than {MAX_DOCUMENT_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, CaError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| CaError::Read {
        path: shown.clone(),
        source,
    })?;
    let ders = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaError::Pem {
            path: shown.clone(),
            message: format!("not PEM: {e}"),
        })?;
    if ders.is_empty() {
        return Err(CaError::Pem {
            path: shown,
            message: "no CERTIFICATE block".to_string(),
        });
    }
    ders.iter()
        .map(|der| {
            reqwest::Certificate::from_der(der).map_err(|e| CaError::Pem {
                path: shown.clone(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// An error and its causes on one line (reqwest hides the TLS or connect reason in its source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

//! Optional TLS for the verify endpoint: a PEM certificate chain and key served with
//! rustls (ring), TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls::crypto::ring;

/// The server configuration serving the pair in `cert` and `key`.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let cert_pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    let chain = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not PEM", cert.display()))?;
    if chain.is_empty() {
        bail!("{}: no CERTIFICATE block", cert.display());
    }
    let private = rustls_pemfile::private_key(&mut &key_pem[..])
        .with_context(|| format!("{}: not PEM", key.display()))?
        .with_context(|| format!("{}: no PRIVATE KEY block", key.display()))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .with_context(|| {
            format!(
                "certificate {} and key {} cannot be served",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

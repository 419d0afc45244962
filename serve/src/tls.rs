//! PEM certificates for rustls: a chain and key read and checked as a pair, and the
//! server configuration both servers use (TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// A certificate and key pair that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The PEM holds no certificate, no key, or something else that is not usable.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the pair (unsupported key, or a key that does not match the certificate).
    #[error("certificate {cert} and key {key} cannot be served: {source}")]
    Rustls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        source: rustls::Error,
    },
}

/// Load a PEM certificate chain and PEM private key into a pair rustls can serve.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    pair_from_pem(&read(cert)?, &read(key)?).map_err(|e| e.at(cert, key))
}

/// Why PEM text is not a servable pair.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// The certificate PEM.
    #[error("certificate: {0}")]
    Cert(String),
    /// The key PEM.
    #[error("key: {0}")]
    Key(String),
    /// rustls refused the pair.
    #[error("{0}")]
    Rustls(rustls::Error),
}

impl PairError {
    /// The error, naming the files it came from.
    pub fn at(self, cert: &Path, key: &Path) -> TlsError {
        match self {
            PairError::Cert(message) => TlsError::Pem {
                path: cert.to_path_buf(),
                message,
            },
            PairError::Key(message) => TlsError::Pem {
                path: key.to_path_buf(),
                message,
            },
            PairError::Rustls(source) => TlsError::Rustls {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                source,
            },
        }
    }
}

/// Build a servable pair from PEM text; the key must match the certificate.
pub fn pair_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, PairError> {
    let chain = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PairError::Cert(format!("not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(PairError::Cert("no CERTIFICATE block".to_string()));
    }
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| PairError::Key(format!("not PEM: {e}")))?
        .ok_or_else(|| PairError::Key("no PRIVATE KEY block".to_string()))?;
    let provider = ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(PairError::Rustls)?;
    Ok(certified)
}

/// The rustls server configuration: TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1, certificate from `resolver`.
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A resolver that serves one certificate for the life of the process.
#[derive(Debug)]
pub struct FixedCert(pub Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Read a certificate or key file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

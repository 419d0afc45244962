//! Optional TLS for the verify endpoint: a PEM certificate chain and key, read and checked
//! as a pair by `oam_traefik_serve::tls` and served for the life of the process.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;

pub use oam_traefik_serve::tls::TlsError;
use oam_traefik_serve::tls::{FixedCert, load_pair};

/// The server configuration serving the pair in `cert` and `key`.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let pair = Arc::new(load_pair(cert, key)?);
    oam_traefik_serve::tls::server_config(Arc::new(FixedCert(pair))).map_err(|source| {
        TlsError::Rustls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        }
    })
}

//! TLS for the admission endpoints: a rustls server whose certificate can be swapped
//! while connections are open. New handshakes see the new certificate; connections
//! already established keep theirs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub use oam_traefik_serve::tls::{
    PairError, TlsError, load_pair, pair_from_pem, read, server_config,
};

use crate::watch::{Reload, content_hash, is_atomic_mount};

/// How long plain certificate and key files must stay the same before they are taken: a
/// certificate written before its key is not refused as a mismatched pair.
pub const SETTLE: Duration = Duration::from_secs(3);

/// The certificate served now; swapped atomically on reload.
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver").finish_non_exhaustive()
    }
}

impl CertResolver {
    /// A resolver serving `key`.
    pub fn new(key: CertifiedKey) -> Self {
        Self {
            current: ArcSwap::from_pointee(key),
        }
    }

    /// Serve `key` to every handshake from now on.
    pub fn replace(&self, key: CertifiedKey) {
        self.current.store(Arc::new(key));
    }

    /// When the certificate served now expires (its leaf's notAfter), in Unix seconds.
    pub fn not_after(&self) -> Option<i64> {
        let key = self.current.load();
        let leaf = key.cert.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
        Some(cert.validity().not_after.timestamp())
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn pair_hash((cert, key): &(Vec<u8>, Vec<u8>)) -> u64 {
    content_hash(&[cert.as_slice(), b"\0", key.as_slice()].concat())
}

/// The certificate and key files behind a [`CertResolver`], reloaded on change.
pub struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    resolver: Arc<CertResolver>,
    seen: Mutex<Seen>,
}

/// The pair's content as last seen, by hash.
#[derive(Debug, Default)]
struct Seen {
    /// The pair in force.
    loaded: u64,
    /// The last pair (or read error) refused, so it is reported once.
    refused: Option<u64>,
    /// A new pair waiting to stay the same, and since when.
    candidate: Option<(u64, Instant)>,
}

impl CertFiles {
    /// Load the pair; an error here means the webhook cannot start.
    pub fn open(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let bytes = (read(cert)?, read(key)?);
        let pair = pair_from_pem(&bytes.0, &bytes.1).map_err(|e| e.at(cert, key))?;
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            resolver: Arc::new(CertResolver::new(pair)),
            seen: Mutex::new(Seen {
                loaded: pair_hash(&bytes),
                ..Seen::default()
            }),
        })
    }

    /// The resolver that serves the pair in force.
    pub fn resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// The certificate and key files.
    pub fn paths(&self) -> [&Path; 2] {
        [&self.cert, &self.key]
    }

    /// Read the files again; a pair that does not load is refused (once per distinct
    /// content) and the pair in force stays. Plain files must stay the same for [`SETTLE`]
    /// first; the kubelet's `..data` swap is taken at once.
    pub fn reload(&self) -> Result<Reload, TlsError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = match read(&self.cert).and_then(|c| Ok((c, read(&self.key)?))) {
            Ok(bytes) => bytes,
            Err(e) => {
                let hash = content_hash(e.to_string().as_bytes());
                if seen.refused == Some(hash) {
                    return Ok(Reload::Unchanged);
                }
                seen.refused = Some(hash);
                return Err(e);
            }
        };
        let hash = pair_hash(&bytes);
        if seen.loaded == hash {
            seen.candidate = None;
            return Ok(Reload::Unchanged);
        }
        if seen.refused == Some(hash) {
            return Ok(Reload::Unchanged);
        }
        if !(is_atomic_mount(&self.cert) && is_atomic_mount(&self.key)) {
            match seen.candidate {
                Some((h, first)) if h == hash => {
                    if first.elapsed() < SETTLE {
                        return Ok(Reload::Settling(SETTLE - first.elapsed()));
                    }
                }
                _ => {
                    seen.candidate = Some((hash, Instant::now()));
                    return Ok(Reload::Settling(SETTLE));
                }
            }
        }
        seen.candidate = None;
        match pair_from_pem(&bytes.0, &bytes.1) {
            Ok(pair) => {
                self.resolver.replace(pair);
                seen.loaded = hash;
                seen.refused = None;
                Ok(Reload::Applied)
            }
            Err(e) => {
                seen.refused = Some(hash);
                Err(e.at(&self.cert, &self.key))
            }
        }
    }
}

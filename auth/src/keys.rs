//! An issuer's signing keys, read from its JWKS: only public signature keys of the
//! asymmetric families, each bound to the algorithms its type, curve and `alg` allow.

use std::sync::Arc;

use crate::jose::{Algorithm, Jwk, PublicKey};
use crate::refusal::{Reason, Refusal, shown};

/// One verification key.
#[derive(Clone)]
pub struct Key {
    /// The key's `kid`, if it has one.
    pub kid: Option<String>,
    /// The algorithms this key verifies.
    pub algorithms: Vec<Algorithm>,
    /// The key itself.
    pub public: PublicKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The keys of one JWKS document.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// Usable keys, in document order (shared: a verification holds its key, not a copy).
    pub keys: Vec<Arc<Key>>,
}

/// A JWKS document that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Not JSON, or no `keys` array.
    #[error("JWKS is not a JSON object with a keys array: {0}")]
    Parse(String),
    /// It holds no key this verifier can use.
    #[error("JWKS holds no usable signature key (asymmetric RSA, EC P-256/P-384 or Ed25519)")]
    Empty,
}

#[derive(serde::Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Read a JWKS document; keys of other types or uses are skipped, not fatal.
    pub fn from_jwks(bytes: &[u8]) -> Result<Self, JwksError> {
        let doc: Document =
            serde_json::from_slice(bytes).map_err(|e| JwksError::Parse(e.to_string()))?;
        let keys: Vec<Arc<Key>> = doc
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
            .filter_map(|jwk| key(&jwk).map(Arc::new))
            .collect();
        if keys.is_empty() {
            return Err(JwksError::Empty);
        }
        Ok(Self { keys })
    }

    /// Whether a key with `kid` is present.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key that verifies a token with `alg` and `kid`: the key with that `kid`, or
    /// without a `kid` the only key for `alg`. `Ok(None)`: no such key (refetch may help).
    pub fn select(&self, alg: Algorithm, kid: Option<&str>) -> Result<Option<&Arc<Key>>, Refusal> {
        let key = match kid {
            Some(kid) => match self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                Some(key) => key,
                None => return Ok(None),
            },
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.algorithms.contains(&alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => key,
                    (None, _) => return Ok(None),
                    (Some(_), Some(_)) => {
                        return Err(Refusal::new(
                            Reason::UnknownKey,
                            format!(
                                "the token has no kid and the issuer publishes several {alg:?} keys"
                            ),
                        ));
                    }
                }
            }
        };
        if !key.algorithms.contains(&alg) {
            return Err(Refusal::new(
                Reason::KeyMismatch,
                format!(
                    "the key {} verifies {:?}, not the token's alg {alg:?}",
                    shown(key.kid.as_deref().unwrap_or("")),
                    key.algorithms
                ),
            ));
        }
        Ok(Some(key))
    }
}

/// A usable key from a JWK: public, for signatures, asymmetric, of a known shape.
fn key(jwk: &Jwk) -> Option<Key> {
    let (public, algorithms) = jwk.verification_key().ok()?;
    Some(Key {
        kid: jwk.kid.clone(),
        algorithms,
        public,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec1","alg":"ES256","use":"sig",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn symmetric_encryption_and_mislabelled_keys_are_skipped() {
        let jwks = format!(
            r#"{{"keys":[{EC},
            {{"kty":"oct","k":"c2VjcmV0","kid":"hs"}},
            {{"kty":"EC","crv":"P-256","kid":"enc","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}},
            {{"kty":"EC","crv":"P-256","kid":"rs","alg":"RS256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}},
            {{"kty":"weird"}}]}}"#
        );
        let set = KeySet::from_jwks(jwks.as_bytes()).expect("one usable key");
        assert_eq!(set.keys.len(), 1);
        assert!(set.has_kid("ec1") && !set.has_kid("hs") && !set.has_kid("enc"));
        assert!(
            set.select(Algorithm::ES256, Some("ec1"))
                .is_ok_and(|k| k.is_some())
        );
        assert!(
            set.select(Algorithm::ES256, None)
                .is_ok_and(|k| k.is_some())
        );
        assert!(
            set.select(Algorithm::ES256, Some("hs"))
                .is_ok_and(|k| k.is_none())
        );
        let mismatch = set
            .select(Algorithm::RS256, Some("ec1"))
            .expect_err("mismatch");
        assert_eq!(mismatch.reason, Reason::KeyMismatch);
        assert!(matches!(
            KeySet::from_jwks(br#"{"keys":[]}"#),
            Err(JwksError::Empty)
        ));
        assert!(matches!(KeySet::from_jwks(b"[]"), Err(JwksError::Parse(_))));
    }
}

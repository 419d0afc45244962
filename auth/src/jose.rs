//! The JWS signature check: the asymmetric algorithms a token may name, the public keys a
//! JWKS publishes for them, and the verification itself, done by ring (the
//! assembly-optimised primitives rustls already brings into the build).
//!
//! Only what a verifier needs: no signing, no symmetric keys, no `none`. An RSA key shorter
//! than 2048 bits is not a key here (RFC 7518 section 3.3 asks for 2048 at least).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

/// An algorithm a token may be signed with: the asymmetric JWS algorithms only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in the order the refusal message names them.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The algorithm a JOSE header's `alg` names; `None` for `none`, HS* and anything else.
    pub fn from_name(alg: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == alg)
    }

    /// Its JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }
}

/// A public signature key, checked for shape when it was read.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: modulus and exponent, big-endian, without leading zeros.
    Rsa {
        /// The modulus (at least 2048 bits).
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
    /// ECDSA on P-256: the uncompressed point `04 || x || y`.
    P256(Vec<u8>),
    /// ECDSA on P-384: the uncompressed point `04 || x || y`.
    P384(Vec<u8>),
    /// Ed25519: the 32-byte public key.
    Ed25519(Vec<u8>),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublicKey::Rsa { .. } => "Rsa",
            PublicKey::P256(_) => "P256",
            PublicKey::P384(_) => "P384",
            PublicKey::Ed25519(_) => "Ed25519",
        })
    }
}

impl PublicKey {
    /// The algorithms this key can verify: its family.
    pub fn family(&self) -> &'static [Algorithm] {
        match self {
            PublicKey::Rsa { .. } => &Algorithm::ALL[..6],
            PublicKey::P256(_) => &[Algorithm::ES256],
            PublicKey::P384(_) => &[Algorithm::ES384],
            PublicKey::Ed25519(_) => &[Algorithm::EdDSA],
        }
    }

    /// Whether `signature` over `message` verifies with this key under `alg`. An `alg`
    /// outside the key's family never verifies.
    pub fn verifies(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Rsa { n, e } => {
                let params: &signature::RsaParameters = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, signature)
                    .is_ok()
            }
            PublicKey::P256(point) if alg == Algorithm::ES256 => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            PublicKey::P384(point) if alg == Algorithm::ES384 => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            PublicKey::Ed25519(x) if alg == Algorithm::EdDSA => {
                UnparsedPublicKey::new(&signature::ED25519, x)
                    .verify(message, signature)
                    .is_ok()
            }
            _ => false,
        }
    }
}

/// The members of a JWK that this verifier reads (RFC 7517, RFC 7518 section 6, RFC 8037).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC` or `OKP` are read; `oct` and others are not keys here.
    #[serde(default)]
    pub kty: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// The one algorithm the key is meant for, when named.
    #[serde(default)]
    pub alg: Option<String>,
    /// `sig` or `enc`.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// Operations the key may be used for (`verify` among them, when present).
    #[serde(default)]
    pub key_ops: Option<Vec<String>>,
    /// Curve of an `EC` or `OKP` key.
    #[serde(default)]
    pub crv: Option<String>,
    /// RSA modulus.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA exponent.
    #[serde(default)]
    pub e: Option<String>,
    /// EC x coordinate, or the OKP public key.
    #[serde(default)]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default)]
    pub y: Option<String>,
    /// A private part: a JWKS that publishes one is misconfigured, and the key is not used.
    #[serde(default)]
    pub d: Option<serde::de::IgnoredAny>,
}

/// Why a JWK is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// Not a public signature key of a supported family.
    #[error("{0}")]
    Unusable(&'static str),
}

fn unusable(why: &'static str) -> JwkError {
    JwkError::Unusable(why)
}

fn member(value: &Option<String>, what: &'static str) -> Result<Vec<u8>, JwkError> {
    let text = value.as_deref().ok_or(JwkError::Unusable(what))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JwkError::Unusable("a key member is not base64url"))
}

fn unsigned(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

impl Jwk {
    /// The public key and the algorithms it verifies: its family, narrowed to its `alg`
    /// when it names one (an `alg` outside the family makes the key unusable).
    pub fn verification_key(&self) -> Result<(PublicKey, Vec<Algorithm>), JwkError> {
        if matches!(self.use_.as_deref(), Some(u) if u != "sig") {
            return Err(unusable("not a signature key (use is not sig)"));
        }
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|op| op == "verify")
        {
            return Err(unusable("key_ops does not allow verify"));
        }
        if self.d.is_some() {
            return Err(unusable("a private key is published"));
        }
        let key = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => {
                let n = unsigned(member(&self.n, "an RSA key has no n")?);
                let e = unsigned(member(&self.e, "an RSA key has no e")?);
                let bits = (n.len() * 8)
                    .saturating_sub(n.first().map_or(8, |b| b.leading_zeros() as usize));
                if !(2048..=8192).contains(&bits) {
                    return Err(unusable(
                        "an RSA modulus shorter than 2048 or longer than 8192 bits",
                    ));
                }
                if e.is_empty() || e.len() > 4 {
                    return Err(unusable("an RSA exponent that is not a small odd number"));
                }
                PublicKey::Rsa { n, e }
            }
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let size = if crv == "P-256" { 32 } else { 48 };
                let x = member(&self.x, "an EC key has no x")?;
                let y = member(&self.y, "an EC key has no y")?;
                if x.len() != size || y.len() != size {
                    return Err(unusable("an EC coordinate of the wrong length"));
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                if size == 32 {
                    PublicKey::P256(point)
                } else {
                    PublicKey::P384(point)
                }
            }
            ("EC", _) => return Err(unusable("an EC curve other than P-256 or P-384")),
            ("OKP", Some("Ed25519")) => {
                let x = member(&self.x, "an Ed25519 key has no x")?;
                if x.len() != 32 {
                    return Err(unusable("an Ed25519 key that is not 32 bytes"));
                }
                PublicKey::Ed25519(x)
            }
            ("OKP", _) => return Err(unusable("an OKP curve other than Ed25519")),
            _ => return Err(unusable("not an asymmetric key (RSA, EC or OKP)")),
        };
        let algorithms = match self.alg.as_deref() {
            None => key.family().to_vec(),
            Some(alg) => match Algorithm::from_name(alg) {
                Some(alg) if key.family().contains(&alg) => vec![alg],
                _ => return Err(unusable("its alg does not fit its key type")),
            },
        };
        Ok((key, algorithms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(json: &str) -> Jwk {
        serde_json::from_str(json).expect("jwk")
    }

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    #[test]
    fn names_round_trip_and_nothing_else_is_named() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(format!("{alg:?}"), alg.name());
        }
        for name in [
            "none", "HS256", "HS384", "HS512", "ES512", "rs256", "", "RS1",
        ] {
            assert_eq!(Algorithm::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn a_key_is_read_only_when_it_is_a_public_signature_key_of_a_known_shape() {
        let ok = jwk(&format!(
            r#"{{"kty":"EC","crv":"P-256","alg":"ES256","x":"{X}","y":"{Y}"}}"#
        ));
        let (key, algs) = ok.verification_key().expect("usable");
        assert!(matches!(key, PublicKey::P256(ref p) if p.len() == 65 && p[0] == 4));
        assert_eq!(algs, vec![Algorithm::ES256]);
        for (json, why) in [
            (
                format!(r#"{{"kty":"EC","crv":"P-256","use":"enc","x":"{X}","y":"{Y}"}}"#),
                "use",
            ),
            (
                format!(
                    r#"{{"kty":"EC","crv":"P-256","key_ops":["encrypt"],"x":"{X}","y":"{Y}"}}"#
                ),
                "key_ops",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","d":"AAAA","x":"{X}","y":"{Y}"}}"#),
                "private",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-521","x":"{X}","y":"{Y}"}}"#),
                "curve",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-256","alg":"RS256","x":"{X}","y":"{Y}"}}"#),
                "alg",
            ),
            (
                format!(r#"{{"kty":"EC","crv":"P-384","x":"{X}","y":"{Y}"}}"#),
                "length",
            ),
            (r#"{"kty":"oct","k":"c2VjcmV0"}"#.to_string(), "asymmetric"),
            (r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.to_string(), "2048"),
            (
                r#"{"kty":"OKP","crv":"X25519","x":"AAAA"}"#.to_string(),
                "OKP",
            ),
            (
                r#"{"kty":"EC","crv":"P-256","x":"***","y":"***"}"#.to_string(),
                "base64url",
            ),
        ] {
            let err = jwk(&json).verification_key().expect_err(&json);
            assert!(err.to_string().contains(why), "{json}: {err}");
        }
    }

    #[test]
    fn a_2048_bit_modulus_with_a_leading_zero_byte_is_read_and_a_2040_bit_one_is_not() {
        let mut n = vec![0u8];
        n.extend(std::iter::repeat_n(0xC5, 256));
        let json = |n: &[u8]| {
            format!(
                r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#,
                URL_SAFE_NO_PAD.encode(n)
            )
        };
        let (key, algs) = jwk(&json(&n)).verification_key().expect("2048 bits");
        assert!(matches!(key, PublicKey::Rsa { ref n, .. } if n.len() == 256));
        assert_eq!(algs.len(), 6);
        assert!(jwk(&json(&n[..256])).verification_key().is_err());
        let mut short = vec![0x7F];
        short.extend(std::iter::repeat_n(0xC5, 255));
        assert!(jwk(&json(&short)).verification_key().is_err());
    }

    #[test]
    fn an_algorithm_outside_the_keys_family_never_verifies() {
        let key = PublicKey::P256(vec![4; 65]);
        for alg in Algorithm::ALL {
            assert!(!key.verifies(alg, b"m", &[0; 64]), "{alg:?}");
        }
        let ed = PublicKey::Ed25519(vec![0; 32]);
        assert!(!ed.verifies(Algorithm::ES256, b"m", &[0; 64]));
    }
}

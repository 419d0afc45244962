//! The bearer token of a request and its JOSE header: read from `Authorization` only,
//! and refused before any key is looked up when its `alg` is not an asymmetric one.

use axum::http::{HeaderMap, header::AUTHORIZATION};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::jose::Algorithm;
use crate::refusal::{Reason, Refusal};

/// A token that is longer than this is refused unread.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The bearer token of `headers`: exactly one `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Result<&str, Refusal> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::new(
            Reason::MissingToken,
            "no bearer token: send Authorization: Bearer <JWT>",
        ));
    };
    if values.next().is_some() {
        return Err(malformed("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| malformed("the Authorization header is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::new(
            Reason::MissingToken,
            "no bearer token: the Authorization scheme is not Bearer",
        ));
    }
    let token = token.trim_matches(' ');
    if token.is_empty() {
        return Err(malformed("empty bearer token"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed("bearer token longer than 16 KiB"));
    }
    if token.split('.').count() != 3 {
        return Err(malformed(
            "not a signed JWT (compact JWS of three dot-separated parts)",
        ));
    }
    Ok(token)
}

/// The token's `alg` and `kid`, read from its header; `none`, HS* and unknown algorithms
/// and headers with `crit` extensions are refused.
pub fn header(token: &str) -> Result<(Algorithm, Option<String>), Refusal> {
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| malformed("the JWT header is not base64url"))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|_| malformed("the JWT header is not a JSON object"))?;
    let alg = match header.get("alg") {
        Some(serde_json::Value::String(alg)) => alg.as_str(),
        _ => return Err(malformed("the JWT header has no alg")),
    };
    let algorithm = algorithm(alg).ok_or_else(|| {
        Refusal::new(
            Reason::AlgorithmRefused,
            format!(
                "alg {} is refused: only RS256/384/512, PS256/384/512, ES256/384 and EdDSA",
                crate::refusal::shown(alg)
            ),
        )
    })?;
    if header.contains_key("crit") {
        return Err(malformed(
            "the JWT header has crit extensions this verifier does not know",
        ));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(serde_json::Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("the JWT header's kid is not a string")),
    };
    Ok((algorithm, kid))
}

/// The asymmetric algorithm named `alg`; `None` for `none`, HS* and unknown names.
pub fn algorithm(alg: &str) -> Option<Algorithm> {
    Algorithm::from_name(alg)
}

fn malformed(what: &str) -> Refusal {
    Refusal::new(Reason::Malformed, format!("malformed token: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).expect("ascii"));
        }
        h
    }

    fn encoded(header: &str) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn only_one_bearer_header_with_three_parts_is_read() {
        assert_eq!(bearer(&headers(&["Bearer a.b.c"])), Ok("a.b.c"));
        assert_eq!(bearer(&headers(&["bearer  a.b.c "])), Ok("a.b.c"));
        for (h, reason) in [
            (vec![], Reason::MissingToken),
            (vec!["Basic dXNlcjpwYXNz"], Reason::MissingToken),
            (vec!["Bearer"], Reason::Malformed),
            (vec!["Bearer a.b"], Reason::Malformed),
            (vec!["Bearer a.b.c", "Bearer d.e.f"], Reason::Malformed),
        ] {
            assert_eq!(
                bearer(&headers(&h)).map_err(|r| r.reason),
                Err(reason),
                "{h:?}"
            );
        }
    }

    #[test]
    fn exactly_the_asymmetric_algorithms_are_named() {
        for alg in Algorithm::ALL {
            assert_eq!(algorithm(alg.name()), Some(alg));
        }
        for alg in ["HS256", "HS384", "HS512"] {
            assert_eq!(algorithm(alg), None);
        }
    }

    #[test]
    fn none_symmetric_and_unknown_algorithms_are_refused() {
        for alg in ["none", "None", "HS256", "HS512", "RS1", "ES512"] {
            let token = encoded(&format!(r#"{{"alg":"{alg}"}}"#));
            assert_eq!(
                header(&token).map_err(|r| r.reason),
                Err(Reason::AlgorithmRefused),
                "{alg}"
            );
        }
        let token = encoded(r#"{"alg":"ES256","kid":"k1"}"#);
        assert_eq!(header(&token), Ok((Algorithm::ES256, Some("k1".into()))));
        let token = encoded(r#"{"alg":"ES256","crit":["b64"]}"#);
        assert_eq!(header(&token).map_err(|r| r.reason), Err(Reason::Malformed));
    }
}

//! The forwardAuth contract: the query string that carries an identity rule from the
//! generated Middleware's address to the verifier (`oam-traefik-auth`).
//!
//! The `identity` TraitDefinition writes it, the verifier reads it; the parameter names
//! live here once. Values are escaped like Go's `net/url.QueryEscape` (what CUE's
//! `net.QueryEscape` does): everything but `A-Z a-z 0-9 - _ . ~` as `%XX`, a space as `+`.

use serde::Serialize;

use crate::identity::{IdentityRule, Provider};

/// How callers authenticate (`oidc`, `jwt`, ...); exactly once.
pub const PROVIDER: &str = "provider";
/// The token issuer URL; at most once.
pub const ISSUER: &str = "issuer";
/// One accepted audience; repeatable.
pub const AUDIENCE: &str = "audience";
/// One required scope; repeatable.
pub const SCOPE: &str = "scope";
/// One accepted group; repeatable.
pub const GROUP: &str = "group";

/// Every parameter name, in the order the query writes them.
pub const PARAMETERS: [&str; 5] = [PROVIDER, ISSUER, AUDIENCE, SCOPE, GROUP];

/// The rule as the verifier receives it: what one request must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RuleRequest {
    /// How callers authenticate.
    pub provider: Provider,
    /// The issuer whose tokens are accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Accepted audiences: the token's `aud` must hold one of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Required scopes: the token must hold every one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Accepted groups: the caller must be in one of them, when any are given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl RuleRequest {
    /// The request an identity rule makes; `None` when the rule names no provider.
    pub fn from_rule(rule: &IdentityRule) -> Option<Self> {
        Some(Self {
            provider: rule.provider?,
            issuer: rule.issuer.clone().filter(|i| !i.is_empty()),
            audiences: rule.audiences.clone(),
            scopes: rule.scopes.clone(),
            groups: rule.groups.clone(),
        })
    }

    /// The query string (without `?`) that carries this request.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![(PROVIDER, self.provider.as_str())];
        if let Some(issuer) = &self.issuer {
            pairs.push((ISSUER, issuer));
        }
        pairs.extend(self.audiences.iter().map(|a| (AUDIENCE, a.as_str())));
        pairs.extend(self.scopes.iter().map(|s| (SCOPE, s.as_str())));
        pairs.extend(self.groups.iter().map(|g| (GROUP, g.as_str())));
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The query string for `rule`, as the `identity` TraitDefinition writes it; `None` without a provider.
pub fn query(rule: &IdentityRule) -> Option<String> {
    RuleRequest::from_rule(rule).map(|r| r.to_query())
}

/// Why a query string is not a rule request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// A parameter this contract does not define.
    #[error("unknown parameter {0:?} (known: provider, issuer, audience, scope, group)")]
    Unknown(String),
    /// `provider` is absent.
    #[error("no provider parameter")]
    MissingProvider,
    /// A parameter that may appear once appears again.
    #[error("parameter {0:?} given more than once")]
    Repeated(&'static str),
    /// A provider this contract does not define.
    #[error("unknown provider {0:?} (known: oidc, jwt, basic, forward-auth, public)")]
    UnknownProvider(String),
    /// A parameter with an empty value, or a bad `%` escape, or bytes that are not UTF-8.
    #[error("parameter {0:?}: {1}")]
    BadValue(String, &'static str),
}

/// Parse a query string (without `?`) into the rule request it carries. Unknown,
/// repeated single-valued and empty parameters are refused; empty `&&` segments are skipped.
pub fn parse(query: &str) -> Result<RuleRequest, ContractError> {
    let mut provider = None;
    let mut issuer = None;
    let (mut audiences, mut scopes, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        let (raw_key, raw_value) = segment.split_once('=').unwrap_or((segment, ""));
        let key = unescape(raw_key).map_err(|e| ContractError::BadValue(raw_key.into(), e))?;
        let value = unescape(raw_value).map_err(|e| ContractError::BadValue(key.clone(), e))?;
        let name = PARAMETERS
            .iter()
            .copied()
            .find(|p| *p == key)
            .ok_or_else(|| ContractError::Unknown(key.clone()))?;
        if value.is_empty() {
            return Err(ContractError::BadValue(key, "empty value"));
        }
        match name {
            PROVIDER => once(&mut provider, PROVIDER, parse_provider(&value)?)?,
            ISSUER => once(&mut issuer, ISSUER, value)?,
            AUDIENCE => audiences.push(value),
            SCOPE => scopes.push(value),
            _ => groups.push(value),
        }
    }
    Ok(RuleRequest {
        provider: provider.ok_or(ContractError::MissingProvider)?,
        issuer,
        audiences,
        scopes,
        groups,
    })
}

fn once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), ContractError> {
    if slot.replace(value).is_some() {
        return Err(ContractError::Repeated(name));
    }
    Ok(())
}

fn parse_provider(value: &str) -> Result<Provider, ContractError> {
    [
        Provider::Oidc,
        Provider::Jwt,
        Provider::Basic,
        Provider::ForwardAuth,
        Provider::Public,
    ]
    .into_iter()
    .find(|p| p.as_str() == value)
    .ok_or_else(|| ContractError::UnknownProvider(value.to_string()))
}

/// Escape like Go's `url.QueryEscape`.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Undo [`escape`] (and any `application/x-www-form-urlencoded` escaping).
pub fn unescape(value: &str) -> Result<String, &'static str> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or("truncated % escape")?;
                let digits = std::str::from_utf8(hex).map_err(|_| "bad % escape")?;
                let byte = u8::from_str_radix(digits, 16).map_err(|_| "bad % escape")?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> IdentityRule {
        IdentityRule {
            provider: Some(Provider::Oidc),
            issuer: Some("https://login.example.com/realms/prod".into()),
            audiences: vec!["orders".into()],
            scopes: vec!["orders:read".into(), "orders:write".into()],
            groups: vec!["team orders".into(), "a&b=c%".into()],
            ..IdentityRule::default()
        }
    }

    #[test]
    fn a_rule_round_trips_through_its_query() {
        let q = query(&rule()).expect("provider");
        assert_eq!(
            q,
            "provider=oidc&issuer=https%3A%2F%2Flogin.example.com%2Frealms%2Fprod&audience=orders\
             &scope=orders%3Aread&scope=orders%3Awrite&group=team+orders&group=a%26b%3Dc%25"
        );
        assert_eq!(
            parse(&q),
            Ok(RuleRequest::from_rule(&rule()).expect("provider"))
        );
    }

    #[test]
    fn unknown_repeated_missing_and_broken_parameters_are_refused() {
        let cases = [
            ("issuer=https%3A%2F%2Fx", ContractError::MissingProvider),
            (
                "provider=oidc&token=abc",
                ContractError::Unknown("token".into()),
            ),
            (
                "provider=oidc&provider=public",
                ContractError::Repeated(PROVIDER),
            ),
            (
                "provider=oidc&issuer=a&issuer=b",
                ContractError::Repeated(ISSUER),
            ),
            (
                "provider=saml",
                ContractError::UnknownProvider("saml".into()),
            ),
            (
                "provider=oidc&scope=",
                ContractError::BadValue("scope".into(), "empty value"),
            ),
            (
                "provider=oidc&scope=%4",
                ContractError::BadValue("scope".into(), "truncated % escape"),
            ),
            (
                "provider=oidc&scope=%zz",
                ContractError::BadValue("scope".into(), "bad % escape"),
            ),
            (
                "provider=oidc&scope=%ff",
                ContractError::BadValue("scope".into(), "not UTF-8"),
            ),
        ];
        for (q, want) in cases {
            assert_eq!(parse(q), Err(want), "{q}");
        }
    }

    #[test]
    fn empty_segments_are_skipped_and_no_provider_gives_no_query() {
        let r = parse("&provider=jwt&&audience=a&").expect("parses");
        assert_eq!(r.provider, Provider::Jwt);
        assert_eq!(r.audiences, ["a"]);
        assert_eq!(query(&IdentityRule::default()), None);
    }
}

//! Why a request is refused, and how that is answered: the status, the RFC 6750
//! `WWW-Authenticate` challenge and a body that names the requirement that failed.

use axum::http::StatusCode;

/// The realm of the challenge sent when a request carries no token.
pub const REALM: &str = "oam-traefik";

/// Why a request was refused; its `as_str` is the metrics label and the log's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The policy's `allowedIssuers` is empty: the verifier trusts no issuer.
    NoTrustedIssuer,
    /// The rule's issuer is not under the policy's `allowedIssuers`.
    IssuerNotAllowed,
    /// The rule's provider is not one this verifier enforces (basic, forward-auth, public).
    ProviderNotEnforced,
    /// The Middleware's query is not a rule this verifier can enforce.
    BadRule,
    /// No `Authorization: Bearer` token.
    MissingToken,
    /// The token is not a JWS compact JWT, or its header or claims do not parse.
    Malformed,
    /// The header's `alg` is `none`, symmetric (HS*), or unknown.
    AlgorithmRefused,
    /// No signing key of the issuer was ever loaded.
    NoKeys,
    /// The issuer publishes no key with the token's `kid`.
    UnknownKey,
    /// The key named by `kid` is of another type, curve or algorithm than the token's `alg`.
    KeyMismatch,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not the rule's issuer.
    WrongIssuer,
    /// `aud` holds none of the rule's audiences.
    WrongAudience,
    /// A required scope is missing.
    MissingScope,
    /// The caller is in none of the rule's groups.
    MissingGroup,
}

impl Reason {
    /// The reason as a stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoTrustedIssuer => "no_trusted_issuer",
            Reason::IssuerNotAllowed => "issuer_not_allowed",
            Reason::ProviderNotEnforced => "provider_not_enforced",
            Reason::BadRule => "bad_rule",
            Reason::MissingToken => "missing_token",
            Reason::Malformed => "malformed",
            Reason::AlgorithmRefused => "algorithm_refused",
            Reason::NoKeys => "no_keys",
            Reason::UnknownKey => "unknown_key",
            Reason::KeyMismatch => "key_mismatch",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::IssuedInFuture => "issued_in_future",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::MissingScope => "missing_scope",
            Reason::MissingGroup => "missing_group",
        }
    }

    /// The HTTP status of the answer.
    pub fn status(self) -> StatusCode {
        match self {
            Reason::BadRule => StatusCode::INTERNAL_SERVER_ERROR,
            Reason::ProviderNotEnforced | Reason::MissingScope | Reason::MissingGroup => {
                StatusCode::FORBIDDEN
            }
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 error code; none for a request without a token (RFC 6750 §3.1) or
    /// for a refusal that no token can fix.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Reason::MissingToken | Reason::BadRule | Reason::ProviderNotEnforced => None,
            Reason::MissingScope | Reason::MissingGroup => Some("insufficient_scope"),
            _ => Some("invalid_token"),
        }
    }
}

/// A refusal: the reason, and a description that names the requirement (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub reason: Reason,
    /// What failed, for the caller and the log.
    pub description: String,
    /// The scopes the rule requires, for an `insufficient_scope` challenge.
    pub scope: Option<String>,
}

impl Refusal {
    /// A refusal for `reason` described by `description`.
    pub fn new(reason: Reason, description: impl Into<String>) -> Self {
        Self {
            reason,
            description: description.into(),
            scope: None,
        }
    }

    /// The refusal, naming the scopes a token must hold in its challenge.
    pub fn with_scope(mut self, scopes: &[String]) -> Self {
        if !scopes.is_empty() {
            self.scope = Some(scopes.join(" "));
        }
        self
    }

    /// The `WWW-Authenticate` value, when the answer carries one (401, and 403 for scope or group).
    pub fn challenge(&self) -> Option<String> {
        match self.reason.error_code() {
            None if self.reason == Reason::MissingToken => {
                Some(format!("Bearer realm=\"{REALM}\""))
            }
            None => None,
            Some(code) => {
                let mut value = format!(
                    "Bearer error=\"{code}\", error_description=\"{}\"",
                    quoted(&self.description)
                );
                if let Some(scope) = &self.scope {
                    value.push_str(&format!(", scope=\"{}\"", quoted(scope)));
                }
                Some(value)
            }
        }
    }
}

/// Text fit for an RFC 6750 quoted attribute: printable ASCII without `"` and `\`, at most 200 chars.
fn quoted(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// Keep a claim value short in a description: the token's own text is not echoed at length.
pub fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(80).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        let missing = Refusal::new(Reason::MissingToken, "no bearer token");
        assert_eq!(
            missing.challenge().as_deref(),
            Some("Bearer realm=\"oam-traefik\"")
        );
        let bad = Refusal::new(Reason::Expired, "token expired \"now\"\\é");
        assert_eq!(
            bad.challenge().as_deref(),
            Some("Bearer error=\"invalid_token\", error_description=\"token expired 'now'/?\"")
        );
        let scope = Refusal::new(Reason::MissingScope, "needs orders:read")
            .with_scope(&["orders:read".into(), "b".into()]);
        assert_eq!(scope.reason.status(), StatusCode::FORBIDDEN);
        assert!(
            scope
                .challenge()
                .is_some_and(|c| c.starts_with("Bearer error=\"insufficient_scope\"")
                    && c.ends_with("scope=\"orders:read b\""))
        );
        assert_eq!(Refusal::new(Reason::BadRule, "x").challenge(), None);
    }
}

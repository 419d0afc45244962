//! The claims of a token whose signature verified, checked against the rule: times
//! (with leeway), issuer, audience, subject, scopes and groups. Pure: the clock is an argument.

use oam_traefik_policy::forward_auth::RuleRequest;
use serde_json::{Map, Value};

use crate::refusal::{Reason, Refusal, shown};

/// Who a token proved the caller to be: what the backend receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The `sub` claim (`X-Forwarded-User`).
    pub subject: String,
    /// The `email` claim (`X-Forwarded-Email`).
    pub email: Option<String>,
    /// The groups claim (`X-Forwarded-Groups`).
    pub groups: Vec<String>,
}

/// What the claim checks need besides the claims.
#[derive(Debug, Clone)]
pub struct ClaimRules<'a> {
    /// The rule the request must satisfy.
    pub rule: &'a RuleRequest,
    /// The issuer the token must name (the rule's).
    pub issuer: &'a str,
    /// The name of the claim that lists the caller's groups.
    pub groups_claim: &'a str,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
    /// Now, in seconds since the epoch.
    pub now: u64,
}

/// A token that satisfies the rule: who it proves, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Who the caller is.
    pub identity: Identity,
    /// The token's `exp`.
    pub exp: u64,
}

/// Check `claims` (already signature-verified) against `rules`.
pub fn check(claims: &Map<String, Value>, rules: &ClaimRules<'_>) -> Result<Accepted, Refusal> {
    let now = rules.now;
    let exp = time(claims, "exp")?
        .ok_or_else(|| Refusal::new(Reason::Malformed, "the token has no exp claim"))?;
    if now > exp.saturating_add(rules.leeway) {
        return Err(Refusal::new(
            Reason::Expired,
            format!("the token expired {} s ago", now - exp),
        ));
    }
    if let Some(nbf) = time(claims, "nbf")?
        && nbf > now.saturating_add(rules.leeway)
    {
        return Err(Refusal::new(
            Reason::NotYetValid,
            format!(
                "the token is not valid before {nbf} (nbf, {} s from now)",
                nbf - now
            ),
        ));
    }
    if let Some(iat) = time(claims, "iat")?
        && iat > now.saturating_add(rules.leeway)
    {
        return Err(Refusal::new(
            Reason::IssuedInFuture,
            format!("the token is issued {} s in the future (iat)", iat - now),
        ));
    }
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == rules.issuer => {}
        Some(Value::String(iss)) => {
            return Err(Refusal::new(
                Reason::WrongIssuer,
                format!(
                    "the token's issuer {} is not {:?}",
                    shown(iss),
                    rules.issuer
                ),
            ));
        }
        _ => {
            return Err(Refusal::new(
                Reason::WrongIssuer,
                format!(
                    "the token has no iss claim; the route needs {:?}",
                    rules.issuer
                ),
            ));
        }
    }
    let audiences = strings(claims.get("aud"), false);
    if !rules.rule.audiences.iter().any(|a| audiences.contains(a)) {
        return Err(Refusal::new(
            Reason::WrongAudience,
            format!(
                "the token's audience is not one of {}",
                rules.rule.audiences.join(", ")
            ),
        ));
    }
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        _ => {
            return Err(Refusal::new(
                Reason::Malformed,
                "the token has no sub claim",
            ));
        }
    };
    let mut scopes = strings(claims.get("scope"), true);
    scopes.extend(strings(claims.get("scp"), true));
    let missing: Vec<&str> = rules
        .rule
        .scopes
        .iter()
        .filter(|s| !scopes.contains(s))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Refusal::new(
            Reason::MissingScope,
            format!("the token lacks the scope {}", missing.join(", ")),
        )
        .with_scope(&rules.rule.scopes));
    }
    let groups = strings(claims.get(rules.groups_claim), false);
    if !rules.rule.groups.is_empty() && !rules.rule.groups.iter().any(|g| groups.contains(g)) {
        return Err(Refusal::new(
            Reason::MissingGroup,
            format!(
                "the caller is in none of the groups {} (claim {:?})",
                rules.rule.groups.join(", "),
                rules.groups_claim
            ),
        ));
    }
    let email = match claims.get("email") {
        Some(Value::String(email)) => Some(email.clone()),
        _ => None,
    };
    Ok(Accepted {
        identity: Identity {
            subject,
            email,
            groups,
        },
        exp,
    })
}

/// A NumericDate claim, in whole seconds; a claim of another type is malformed.
fn time(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(secs), _) => Ok(Some(secs)),
            (None, Some(f)) if f >= 0.0 && f.is_finite() => Ok(Some(f as u64)),
            _ => Err(Refusal::new(
                Reason::Malformed,
                format!("the token's {name} is not a time"),
            )),
        },
        Some(_) => Err(Refusal::new(
            Reason::Malformed,
            format!("the token's {name} is not a number"),
        )),
    }
}

/// A claim that is a string or an array of strings; `split` also splits strings at whitespace.
fn strings(claim: Option<&Value>, split: bool) -> Vec<String> {
    let one = |s: &str| -> Vec<String> {
        if split {
            s.split_whitespace().map(str::to_string).collect()
        } else {
            vec![s.to_string()]
        }
    };
    match claim {
        Some(Value::String(s)) => one(s),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .flat_map(one)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oam_traefik_policy::Provider;
    use serde_json::json;

    const ISS: &str = "https://idp.example/realms/prod";
    const NOW: u64 = 1_800_000_000;

    fn rule() -> RuleRequest {
        RuleRequest {
            provider: Provider::Oidc,
            issuer: Some(ISS.into()),
            audiences: vec!["orders".into(), "shop".into()],
            scopes: vec!["orders:read".into(), "orders:write".into()],
            groups: vec!["team-orders".into(), "admins".into()],
        }
    }

    fn good() -> Value {
        json!({"iss": ISS, "sub": "alice", "aud": ["other", "shop"], "exp": NOW + 300,
               "iat": NOW, "nbf": NOW, "scope": "openid orders:read", "scp": ["orders:write"],
               "groups": ["admins"], "email": "alice@example.com"})
    }

    fn run(claims: Value) -> Result<Accepted, Refusal> {
        let r = rule();
        let rules = ClaimRules {
            rule: &r,
            issuer: ISS,
            groups_claim: "groups",
            leeway: 60,
            now: NOW,
        };
        check(claims.as_object().expect("object"), &rules)
    }

    fn with(key: &str, value: Value) -> Value {
        let mut c = good();
        c[key] = value;
        c
    }

    fn without(key: &str) -> Value {
        let mut c = good();
        c.as_object_mut().expect("object").remove(key);
        c
    }

    #[test]
    fn a_token_meeting_every_requirement_is_accepted() {
        let ok = run(good()).expect("accepted");
        assert_eq!(ok.identity.subject, "alice");
        assert_eq!(ok.identity.email.as_deref(), Some("alice@example.com"));
        assert_eq!(ok.identity.groups, ["admins"]);
        assert_eq!(ok.exp, NOW + 300);
        // Within the leeway.
        assert!(run(with("exp", json!(NOW - 59))).is_ok());
        assert!(run(with("nbf", json!(NOW + 59))).is_ok());
        assert!(run(with("aud", json!("orders"))).is_ok());
    }

    #[test]
    fn each_requirement_refuses_with_its_reason() {
        for (claims, reason) in [
            (without("exp"), Reason::Malformed),
            (with("exp", json!("soon")), Reason::Malformed),
            (with("exp", json!(NOW - 61)), Reason::Expired),
            (with("nbf", json!(NOW + 61)), Reason::NotYetValid),
            (with("iat", json!(NOW + 61)), Reason::IssuedInFuture),
            (
                with("iss", json!("https://evil.example")),
                Reason::WrongIssuer,
            ),
            (without("iss"), Reason::WrongIssuer),
            (with("aud", json!(["other"])), Reason::WrongAudience),
            (without("aud"), Reason::WrongAudience),
            (without("sub"), Reason::Malformed),
            (with("scope", json!("openid")), Reason::MissingScope),
            (without("scp"), Reason::MissingScope),
            (with("groups", json!(["guests"])), Reason::MissingGroup),
            (without("groups"), Reason::MissingGroup),
        ] {
            assert_eq!(
                run(claims.clone()).map_err(|r| r.reason),
                Err(reason),
                "{claims}"
            );
        }
        let scope = run(with("scope", json!("openid"))).expect_err("scope");
        assert!(
            scope.description.contains("orders:read"),
            "{}",
            scope.description
        );
        assert_eq!(scope.scope.as_deref(), Some("orders:read orders:write"));
    }
}

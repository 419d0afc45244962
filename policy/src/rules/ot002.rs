//! OT002: an identity rule whose issuer is not allowed, or that lacks issuer or audiences.

use crate::Policy;
use crate::config::url_host;
use crate::identity::Provider;
use crate::config::Level;
use crate::evaluate::{Findings, RuleSite};
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT002,
    title: "issuer and audiences",
    rejects: "an identity rule whose issuer is not allowed or has no host, with a wildcard audience, or that lacks provider, issuer, audiences or middleware where its provider needs them",
    hint: "name a provider; for oidc and jwt give an https:// issuer from the policy's allowedIssuers and at least one exact audience; for basic and forward-auth name your auth Middleware in `middleware:`",
    default_level: Level::Deny,
};

pub(crate) fn check(site: &RuleSite, policy: &Policy, out: &mut Findings) {
    let rule = site.rule;
    let Some(provider) = rule.provider else {
        out.add(
            RuleId::OT002,
            site.subject(),
            site.field("provider"),
            "declares no provider (oidc, jwt, basic, forward-auth or public)",
        );
        return;
    };
    match rule.issuer.as_deref().filter(|i| !i.is_empty()) {
        None if provider.needs_issuer() => out.add(
            RuleId::OT002,
            site.subject(),
            site.field("issuer"),
            format!("provider {} needs an issuer", provider.as_str()),
        ),
        None => {}
        Some(issuer) if !issuer.starts_with("https://") || url_host(issuer).is_none() => out.add(
            RuleId::OT002,
            site.subject(),
            site.field("issuer"),
            format!("issuer {issuer:?} is not an https:// URL with a host"),
        ),
        Some(issuer)
            if !policy.allowed_issuers.is_empty()
                && !policy
                    .allowed_issuers
                    .iter()
                    .any(|a| issuer_matches(issuer, a)) =>
        {
            out.add(
                RuleId::OT002,
                site.subject(),
                site.field("issuer"),
                format!(
                    "issuer {issuer:?} is not allowed (allowed: {})",
                    policy.allowed_issuers.join(", ")
                ),
            )
        }
        Some(_) => {}
    }
    // The generated Middleware asks oam-traefik-auth, which verifies tokens only: a basic
    // or forward-auth rule means something only with a Middleware of its own.
    if matches!(provider, Provider::Basic | Provider::ForwardAuth)
        && rule.middleware.as_deref().is_none_or(|m| m.trim().is_empty())
    {
        let kind = match provider {
            Provider::Basic => "basicAuth or digestAuth",
            _ => "forwardAuth",
        };
        out.add(
            RuleId::OT002,
            site.subject(),
            site.field("middleware"),
            format!(
                "provider {} needs `middleware:` naming the {kind} Middleware that enforces it; the generated Middleware verifies tokens only (oidc, jwt)",
                provider.as_str()
            ),
        );
    }
    if let Some(i) = rule
        .audiences
        .iter()
        .position(|a| a.contains('*') || a.trim().is_empty())
    {
        out.add(
            RuleId::OT002,
            site.subject(),
            format!("{}/{i}", site.field("audiences")),
            format!(
                "audience {:?} would accept tokens meant for any service; name the audience of this one",
                rule.audiences[i]
            ),
        );
    }
    if provider.needs_issuer() && rule.audiences.iter().all(|a| a.trim().is_empty()) {
        out.add(
            RuleId::OT002,
            site.subject(),
            site.field("audiences"),
            format!("provider {} needs at least one audience", provider.as_str()),
        );
    }
}

/// An issuer matches an allowed entry exactly, or below it when the entry ends in `/`.
fn issuer_matches(issuer: &str, allowed: &str) -> bool {
    issuer == allowed
        || issuer.trim_end_matches('/') == allowed.trim_end_matches('/')
        || (allowed.ends_with('/') && issuer.starts_with(allowed))
}

#[cfg(test)]
mod tests {
    use super::issuer_matches;

    #[test]
    fn prefix_only_below_a_slash() {
        assert!(issuer_matches(
            "https://login.example.com/realms/prod",
            "https://login.example.com/realms/"
        ));
        assert!(issuer_matches(
            "https://login.example.com/",
            "https://login.example.com"
        ));
        assert!(!issuer_matches(
            "https://login.example.com.evil.io",
            "https://login.example.com"
        ));
    }
}

//! Whether the verifier trusts a rule's issuer: it must be a plain `https://` URL under
//! one of the policy's `allowedIssuers` prefixes, at a path boundary. With no prefix,
//! no issuer is trusted: a Middleware written by hand cannot name an attacker's issuer.

use crate::refusal::{Reason, Refusal, shown};

/// What to tell an operator whose policy trusts no issuer.
pub const NO_TRUSTED_ISSUER: &str = "this verifier trusts no issuer: its AdmissionPolicy's spec.allowedIssuers is empty \
     (set the chart value policy.spec.allowedIssuers)";

/// `Ok` when `issuer` is under one of `allowed`.
pub fn check(issuer: &str, allowed: &[String]) -> Result<(), Refusal> {
    if allowed.is_empty() {
        return Err(Refusal::new(Reason::NoTrustedIssuer, NO_TRUSTED_ISSUER));
    }
    if !plain_https(issuer) {
        return Err(Refusal::new(
            Reason::IssuerNotAllowed,
            format!(
                "the rule's issuer {} is not a plain https:// URL (no query, fragment, user info, escapes or dot segments)",
                shown(issuer)
            ),
        ));
    }
    if allowed.iter().any(|prefix| under(issuer, prefix)) {
        return Ok(());
    }
    Err(Refusal::new(
        Reason::IssuerNotAllowed,
        format!(
            "the rule's issuer {} is not under the verifier's allowedIssuers",
            shown(issuer)
        ),
    ))
}

/// `issuer` equals `prefix`, or continues it after a `/`.
fn under(issuer: &str, prefix: &str) -> bool {
    match issuer.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// An `https://` URL whose text is exactly what is fetched: no characters that a URL
/// parser would reinterpret, and no `.` or `..` path segments.
fn plain_https(issuer: &str) -> bool {
    let Some(rest) = issuer.strip_prefix("https://") else {
        return false;
    };
    let clean = rest
        .chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '@' | '\\' | '%'));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    clean && !host.is_empty() && !path.split('/').any(|s| s == "." || s == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![
            "https://login.example.com/realms/".into(),
            "https://idp.example".into(),
        ]
    }

    #[test]
    fn issuers_under_a_prefix_at_a_boundary_are_trusted() {
        for issuer in [
            "https://login.example.com/realms/prod",
            "https://idp.example",
            "https://idp.example/tenant/a",
        ] {
            assert_eq!(check(issuer, &allowed()), Ok(()), "{issuer}");
        }
    }

    #[test]
    fn other_issuers_and_lookalikes_are_refused() {
        for issuer in [
            "https://idp.example.evil.com",
            "https://idp.examplex",
            "https://idp.example@evil.com",
            "https://idp.example?x=/",
            "https://login.example.com/realms/../../evil",
            "https://login.example.com/realms/%2e%2e/evil",
            "https://login.example.com/realm",
            "http://idp.example",
            "https://evil.com",
        ] {
            let refusal = check(issuer, &allowed()).expect_err(issuer);
            assert_eq!(refusal.reason, Reason::IssuerNotAllowed, "{issuer}");
        }
    }

    #[test]
    fn an_empty_list_trusts_nobody_and_says_so() {
        let refusal = check("https://idp.example", &[]).expect_err("none trusted");
        assert_eq!(refusal.reason, Reason::NoTrustedIssuer);
        assert!(refusal.description.contains("allowedIssuers"));
    }
}

//! The `AdmissionPolicy` file: what "declared identity" means on a cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::RuleId;

/// The `apiVersion` of the policy file.
pub const API_VERSION: &str = "oam-traefik.io/v1alpha1";
/// The `kind` of the policy file.
pub const KIND: &str = "AdmissionPolicy";

/// KubeVela's controller, as its chart names its service account.
pub const DEFAULT_TRUSTED_CONTROLLER: &str = "system:serviceaccount:vela-system:kubevela-vela-core";
/// cert-manager's controller, as its chart names its service account.
pub const DEFAULT_ACME_SOLVER: &str = "system:serviceaccount:cert-manager:cert-manager";

/// What a rule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Refuse the object.
    Deny,
    /// Admit it with a warning.
    Warn,
}

impl Level {
    /// The level as the policy file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Deny => "deny",
            Level::Warn => "warn",
        }
    }
}

/// A policy file that cannot be used; the last good policy stays in force.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The YAML does not parse or a field has the wrong type.
    #[error("policy file: {path}: {message}")]
    Parse {
        /// Path of the offending field.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// It parses but says something that cannot be enforced.
    #[error("policy file: {0}")]
    Invalid(String),
}

/// The policy file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyFile {
    api_version: String,
    kind: String,
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<serde_yaml::Value>,
    #[serde(default)]
    spec: Policy,
}

/// The admission policy in force. `Policy::default()` is safe when no file is given.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Policy {
    /// Issuer URL prefixes that identity rules may name; empty allows any `https://` issuer.
    pub allowed_issuers: Vec<String>,
    /// Scopes no identity rule may grant.
    pub denied_scopes: Vec<String>,
    /// The most scopes one identity rule may list.
    pub max_scopes: usize,
    /// Trait types that expose routes.
    pub route_traits: Vec<String>,
    /// Namespaces never intercepted.
    pub exempt_namespaces: Vec<String>,
    /// The break-glass annotation and who may set it.
    pub break_glass: BreakGlass,
    /// Namespaces allowed to publish `public` routes.
    pub public_namespaces: Vec<String>,
    /// Middleware kinds (keys of a Middleware's `spec`) that authenticate.
    pub auth_middleware_kinds: Vec<String>,
    /// Traefik plugin names that authenticate, for `plugin` middlewares.
    pub auth_plugins: Vec<String>,
    /// Provider-qualified middleware references outside Kubernetes (`sso@file`) that authenticate.
    pub trusted_middlewares: Vec<String>,
    /// Address prefixes of the auth services a `forwardAuth` may call to count as
    /// authentication; empty accepts any non-empty address (and `check` and `/readyz` say so).
    pub trusted_auth_services: Vec<String>,
    /// Users (service accounts) whose writes prove that a route or Middleware was rendered
    /// for an app: KubeVela's controller. Labels alone prove nothing.
    pub trusted_controllers: Vec<String>,
    /// Users that may create cert-manager's ACME HTTP-01 solver routes, which serve only
    /// `/.well-known/acme-challenge/` and so need no identity.
    pub acme_solvers: Vec<String>,
    /// Ingress classes served by Traefik.
    pub ingress_classes: Vec<String>,
    /// Gateway classes served by Traefik.
    pub gateway_classes: Vec<String>,
    /// Level per rule id; rules not named keep their default level.
    pub rules: BTreeMap<RuleId, Level>,
}

/// Who may bypass the rules, and with which annotation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct BreakGlass {
    /// The annotation whose value is the reason for the bypass.
    pub annotation: String,
    /// Groups whose members may set it; empty means nobody.
    pub groups: Vec<String>,
}

impl Default for BreakGlass {
    fn default() -> Self {
        Self {
            annotation: "oam-traefik.io/break-glass".to_string(),
            groups: Vec::new(),
        }
    }
}

/// A serde message with Rust type names said in words (`expected usize` → `expected a whole number`).
fn in_words(message: &str) -> String {
    const WORDS: [(&str, &str); 8] = [
        ("expected usize", "expected a whole number (0 or more)"),
        ("expected u64", "expected a whole number (0 or more)"),
        ("expected u32", "expected a whole number (0 or more)"),
        ("expected i64", "expected a whole number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a mapping (key: value)"),
        ("expected struct ", "expected a mapping for "),
        ("expected a borrowed string", "expected a string"),
    ];
    WORDS
        .iter()
        .fold(message.to_string(), |m, (from, to)| m.replace(from, to))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_issuers: Vec::new(),
            denied_scopes: Vec::new(),
            max_scopes: 10,
            // KubeVela's built-in route traits and the Traefik addon's.
            route_traits: strings(&[
                "gateway",
                "ingress",
                "ingress-1-20",
                "pure-ingress",
                "http-route",
                "https-route",
                "tcp-route",
            ]),
            exempt_namespaces: strings(&["kube-system"]),
            break_glass: BreakGlass::default(),
            public_namespaces: Vec::new(),
            auth_middleware_kinds: strings(&["forwardAuth", "basicAuth", "digestAuth"]),
            auth_plugins: Vec::new(),
            trusted_middlewares: Vec::new(),
            trusted_auth_services: Vec::new(),
            trusted_controllers: strings(&[DEFAULT_TRUSTED_CONTROLLER]),
            acme_solvers: strings(&[DEFAULT_ACME_SOLVER]),
            ingress_classes: strings(&["traefik"]),
            gateway_classes: strings(&["traefik"]),
            rules: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// Parse a policy file; every problem names the field.
    pub fn from_yaml(text: &str) -> Result<Policy, PolicyError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let file: PolicyFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            // serde_yaml puts the path in its own message too: say it once.
            let message = e.into_inner().to_string();
            let message = message
                .strip_prefix(&format!("{path}: "))
                .unwrap_or(&message);
            PolicyError::Parse {
                message: in_words(message),
                path,
            }
        })?;
        if file.api_version != API_VERSION || file.kind != KIND {
            return Err(PolicyError::Invalid(format!(
                "expected apiVersion {API_VERSION} and kind {KIND}, found {} {}",
                file.api_version, file.kind
            )));
        }
        file.spec.validate()?;
        Ok(file.spec)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        if self.max_scopes == 0 {
            return Err(PolicyError::Invalid(
                "spec.maxScopes must be at least 1".to_string(),
            ));
        }
        if let Some(bad) = self
            .allowed_issuers
            .iter()
            .find(|i| !i.starts_with("https://"))
        {
            return Err(PolicyError::Invalid(format!(
                "spec.allowedIssuers: {bad:?} is not an https:// URL"
            )));
        }
        if let Some(bad) = self.trusted_auth_services.iter().find(|a| {
            !(a.starts_with("https://") || a.starts_with("http://")) || url_host(a).is_none()
        }) {
            return Err(PolicyError::Invalid(format!(
                "spec.trustedAuthServices: {bad:?} is not an http:// or https:// address with a host"
            )));
        }
        if self.break_glass.annotation.is_empty() {
            return Err(PolicyError::Invalid(
                "spec.breakGlass.annotation must not be empty".to_string(),
            ));
        }
        Ok(())
    }

    /// The level of `rule` under this policy.
    pub fn level(&self, rule: RuleId) -> Level {
        self.rules
            .get(&rule)
            .copied()
            .unwrap_or_else(|| rule.info().default_level)
    }

    /// Whether a `forwardAuth` to `address` counts as authentication: under one of the
    /// trusted auth services (a prefix that ends at a `/`, `?` or the address's end), or
    /// any address when none is pinned.
    pub fn trusts_auth_service(&self, address: &str) -> bool {
        self.trusted_auth_services.is_empty()
            || self.trusted_auth_services.iter().any(|prefix| {
                address.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                    prefix.ends_with('/')
                        || rest.is_empty()
                        || rest.starts_with('/')
                        || rest.starts_with('?')
                })
            })
    }

    /// Whether `username` is a trusted controller, whose writes prove an object was rendered for an app.
    pub fn is_trusted_controller(&self, username: &str) -> bool {
        self.trusted_controllers.iter().any(|c| c == username)
    }

    /// Whether objects in `namespace` are never intercepted.
    pub fn is_exempt(&self, namespace: &str) -> bool {
        self.exempt_namespaces.iter().any(|n| n == namespace)
    }

    /// This policy with `namespace` exempt too (the webhook adds its own namespace).
    pub fn with_exempt_namespace(mut self, namespace: &str) -> Policy {
        if !self.is_exempt(namespace) {
            self.exempt_namespaces.push(namespace.to_string());
        }
        self
    }
}

/// The host of an `http(s)://host[:port]/...` URL, if it has a well-formed one (no user info).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') || authority.chars().any(char::is_whitespace) {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inside, after) = v6.split_once(']')?;
            (inside, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    (!host.is_empty() && port_ok).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_spec_gives_safe_defaults() {
        let p = Policy::from_yaml("apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\n")
            .expect("parses");
        assert_eq!(p, Policy::default());
        assert!(p.is_exempt("kube-system"));
        assert_eq!(p.max_scopes, 10);
        assert_eq!(p.level(RuleId::OT010), Level::Warn);
        assert_eq!(p.level(RuleId::OT001), Level::Deny);
    }

    #[test]
    fn rule_levels_are_overridden_by_id() {
        let p = Policy::from_yaml(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  rules:\n    OT006: warn\n    OT010: deny\n",
        )
        .expect("parses");
        assert_eq!(p.level(RuleId::OT006), Level::Warn);
        assert_eq!(p.level(RuleId::OT010), Level::Deny);
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = Policy::from_yaml(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  maxScopes: many\n",
        )
        .expect_err("must not parse");
        let text = err.to_string();
        assert!(text.contains("spec.maxScopes"), "{text}");
        assert_eq!(
            text.matches("spec.maxScopes").count(),
            1,
            "the path once: {text}"
        );
        assert!(text.contains("a whole number"), "the type in words: {text}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let err = Policy::from_yaml(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  allowedIssuer: [x]\n",
        )
        .expect_err("typo must not pass");
        assert!(err.to_string().contains("allowedIssuer"), "{err}");
    }

    #[test]
    fn unknown_rule_id_is_refused() {
        let err = Policy::from_yaml(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  rules:\n    OT999: warn\n",
        )
        .expect_err("unknown rule");
        assert!(err.to_string().contains("spec.rules"), "{err}");
    }

    #[test]
    fn wrong_kind_and_http_issuer_are_refused() {
        assert!(Policy::from_yaml("apiVersion: v1\nkind: ConfigMap\n").is_err());
        let err = Policy::from_yaml(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  allowedIssuers: [\"http://idp\"]\n",
        )
        .expect_err("http issuer");
        assert!(err.to_string().contains("allowedIssuers"), "{err}");
    }

    #[test]
    fn trusted_auth_services_match_at_a_boundary() {
        let p = Policy {
            trusted_auth_services: vec!["http://auth.oam-traefik.svc:8080".into()],
            ..Policy::default()
        };
        assert!(p.trusts_auth_service("http://auth.oam-traefik.svc:8080/verify?provider=oidc"));
        assert!(p.trusts_auth_service("http://auth.oam-traefik.svc:8080"));
        assert!(!p.trusts_auth_service("http://auth.oam-traefik.svc:80800/verify"));
        assert!(!p.trusts_auth_service("http://auth.oam-traefik.svc:8080.evil.io/"));
        assert!(Policy::default().trusts_auth_service("http://anything/"));
    }

    #[test]
    fn url_host_needs_a_host() {
        assert_eq!(
            url_host("https://login.example.com/realms/x"),
            Some("login.example.com")
        );
        assert_eq!(url_host("https://idp:8443"), Some("idp"));
        assert_eq!(url_host("https://"), None);
        assert_eq!(url_host("https:///path"), None);
        assert_eq!(url_host("https://user@evil.io/"), None);
        assert_eq!(url_host("ftp://x"), None);
    }

    #[test]
    fn malformed_yaml_is_an_error_not_a_panic() {
        assert!(Policy::from_yaml("{{{").is_err());
        assert!(Policy::from_yaml("").is_err());
    }
}

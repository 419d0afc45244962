//! One verify request, decided: the rule from the verifier's own query, the issuer
//! trusted by the policy, the bearer token's signature against the issuer's keys, then
//! its claims against the rule. Nothing the client sends besides the token is read.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oam_traefik_policy::Provider;
use oam_traefik_policy::forward_auth::{self, RuleRequest};
use serde_json::{Map, Value};

use crate::cache::{self, TokenCache};
use crate::claims::{self, ClaimRules, Identity};
use crate::issuers::KeyStore;
use crate::jose::Algorithm;
use crate::keys::Key;
use crate::metrics::Metrics;
use crate::refusal::{Reason, Refusal, shown};
use crate::{allowed, token};

/// How tokens are checked, besides the rule.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer URL prefixes trusted at start (the policy's `allowedIssuers`).
    pub allowed_issuers: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
    /// The claim that lists the caller's groups.
    pub groups_claim: String,
}

/// What was decided, and what the log needs to say about it.
#[derive(Debug)]
pub struct Decision {
    /// The rule the request asked for, when its query parsed.
    pub rule: Option<RuleRequest>,
    /// Who was let through, or why not.
    pub outcome: Result<Arc<Identity>, Refusal>,
    /// Whether the answer came from the verified-token cache.
    pub cached: bool,
    /// The `sub` of a token whose signature verified, even when its claims were refused.
    pub subject: Option<String>,
}

/// What the log may say about a request besides its outcome.
#[derive(Default)]
struct Seen {
    cached: bool,
    subject: Option<String>,
}

/// The verifier: settings, keys and the token cache.
pub struct Verifier {
    settings: Settings,
    /// The policy's `allowedIssuers` in force; swapped when the policy file changes.
    allowed: ArcSwap<Vec<String>>,
    keys: Arc<KeyStore>,
    cache: TokenCache,
    metrics: Arc<Metrics>,
}

impl Verifier {
    /// A verifier with `settings` over `keys`, caching up to `cache_capacity` tokens.
    pub fn new(
        settings: Settings,
        keys: Arc<KeyStore>,
        cache_capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        keys.prefetch(&settings.allowed_issuers);
        Self {
            allowed: ArcSwap::from_pointee(settings.allowed_issuers.clone()),
            settings,
            keys,
            cache: TokenCache::new(cache_capacity),
            metrics,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The issuer URL prefixes trusted now.
    pub fn allowed_issuers(&self) -> Arc<Vec<String>> {
        self.allowed.load_full()
    }

    /// Trust `issuers` from now on (a reloaded policy); their keys are loaded in the background.
    pub fn set_allowed_issuers(&self, issuers: Vec<String>) {
        self.keys.prefetch(&issuers);
        self.allowed.store(Arc::new(issuers));
    }

    /// The issuers' keys.
    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    /// Decide a request whose own query string is `query`.
    pub async fn verify(&self, query: Option<&str>, headers: &HeaderMap) -> Decision {
        let rule = match forward_auth::parse(query.unwrap_or("")) {
            Ok(rule) => rule,
            Err(e) => {
                return Decision {
                    rule: None,
                    outcome: Err(Refusal::new(
                        Reason::BadRule,
                        format!("the Middleware's address does not carry a rule: {e}"),
                    )),
                    cached: false,
                    subject: None,
                };
            }
        };
        let mut seen = Seen::default();
        let outcome = self.decide(&rule, headers, &mut seen).await;
        Decision {
            rule: Some(rule),
            subject: match &outcome {
                Ok(identity) => Some(identity.subject.clone()),
                Err(_) => seen.subject,
            },
            outcome,
            cached: seen.cached,
        }
    }

    async fn decide(
        &self,
        rule: &RuleRequest,
        headers: &HeaderMap,
        seen: &mut Seen,
    ) -> Result<Arc<Identity>, Refusal> {
        let issuer = enforced_issuer(rule)?;
        allowed::check(issuer, &self.allowed.load())?;
        let token = token::bearer(headers)?;
        let cache_key = cache::key(&rule.to_query(), token);
        if let Some(identity) = self.cache.get(&cache_key) {
            self.metrics.cache_lookup(true);
            seen.cached = true;
            return Ok(identity);
        }
        self.metrics.cache_lookup(false);
        let (alg, kid) = token::header(token)?;
        let key = self.key(issuer, alg, kid.as_deref()).await?;
        let verified = signed_claims(token, alg, &key)?;
        seen.subject = verified
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_string);
        let accepted = claims::check(
            &verified,
            &ClaimRules {
                rule,
                issuer,
                groups_claim: &self.settings.groups_claim,
                leeway: self.settings.leeway,
                now: cache::now(),
            },
        )?;
        let identity = Arc::new(accepted.identity);
        self.cache.insert(cache_key, identity.clone(), accepted.exp);
        Ok(identity)
    }

    /// The issuer's key for `alg`/`kid`, refetching the issuer's keys once for an unknown `kid`.
    async fn key(
        &self,
        issuer: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Arc<Key>, Refusal> {
        let entry = self.keys.issuer(issuer).ok_or_else(|| {
            Refusal::new(
                Reason::NoKeys,
                "too many issuers in use; this one is not fetched",
            )
        })?;
        let no_keys = || {
            Refusal::new(
                Reason::NoKeys,
                format!(
                    "no signing key of {issuer:?} could be loaded yet ({})",
                    entry
                        .last_error()
                        .unwrap_or_else(|| "no fetch finished".into())
                ),
            )
        };
        let set = self.keys.keys(&entry).await.ok_or_else(no_keys)?;
        if let Some(key) = set.select(alg, kid)? {
            return Ok(key.clone());
        }
        // An unknown kid: the issuer may have rotated. Refetch (rate-limited, single flight).
        let set = self.keys.refetch(&entry).await.ok_or_else(no_keys)?;
        match set.select(alg, kid)? {
            Some(key) => Ok(key.clone()),
            None => Err(Refusal::new(
                Reason::UnknownKey,
                match kid {
                    Some(kid) => format!("the issuer publishes no key with kid {}", shown(kid)),
                    None => format!("the token has no kid and the issuer publishes no {alg:?} key"),
                },
            )),
        }
    }
}

/// The rule's issuer, when the rule is one this verifier enforces.
fn enforced_issuer(rule: &RuleRequest) -> Result<&str, Refusal> {
    let needs_own = |kind: &str| {
        Refusal::new(
            Reason::ProviderNotEnforced,
            format!(
                "provider {} is not enforced by oam-traefik-auth: the identity rule must name \
                 its own {kind} Middleware with middleware:",
                rule.provider.as_str()
            ),
        )
    };
    match rule.provider {
        Provider::Oidc | Provider::Jwt => {}
        Provider::Basic => return Err(needs_own("basicAuth")),
        Provider::ForwardAuth => return Err(needs_own("forwardAuth")),
        Provider::Public => {
            return Err(Refusal::new(
                Reason::ProviderNotEnforced,
                "provider public needs no auth Middleware; oam-traefik-auth lets nobody through for it",
            ));
        }
    }
    let issuer = rule
        .issuer
        .as_deref()
        .ok_or_else(|| Refusal::new(Reason::BadRule, "the rule names no issuer"))?;
    if rule.audiences.is_empty() {
        return Err(Refusal::new(Reason::BadRule, "the rule names no audience"));
    }
    Ok(issuer)
}

/// The token's claims, once its signature verifies with `key` (times are checked by `claims`).
/// The payload is read only after the signature over it has verified.
fn signed_claims(token: &str, alg: Algorithm, key: &Key) -> Result<Map<String, Value>, Refusal> {
    let malformed = || {
        Refusal::new(
            Reason::Malformed,
            "malformed token: its parts are not base64url JSON",
        )
    };
    let (signed, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed())?;
    if !key.public.verifies(alg, signed.as_bytes(), &signature) {
        return Err(Refusal::new(
            Reason::BadSignature,
            format!(
                "the signature does not verify with the issuer's key {}",
                shown(key.kid.as_deref().unwrap_or(""))
            ),
        ));
    }
    let payload = signed
        .split_once('.')
        .map(|(_, p)| p)
        .ok_or_else(malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
    serde_json::from_slice(&payload).map_err(|_| malformed())
}

//! The verified-token cache: a bounded map from SHA-256(rule, token) to the identity a
//! token proved for that rule. An entry is never used past the token's `exp`, nor past
//! [`MAX_AGE`] (so a key withdrawn by the issuer stops counting soon).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::claims::Identity;

/// The longest an entry is trusted, whatever the token's `exp`.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// The cache key: a hash of the rule and the token, so neither is kept in memory as text.
pub type CacheKey = [u8; 32];

/// The key of `token` checked against the rule written as `rule`.
pub fn key(rule: &str, token: &str) -> CacheKey {
    let mut hash = Sha256::new();
    hash.update((rule.len() as u64).to_be_bytes());
    hash.update(rule.as_bytes());
    hash.update(token.as_bytes());
    hash.finalize().into()
}

#[derive(Clone)]
struct Entry {
    identity: Arc<Identity>,
    /// Seconds since the epoch after which the entry is not used.
    until: u64,
}

/// Identities proved by tokens recently verified.
pub struct TokenCache {
    entries: Option<quick_cache::sync::Cache<CacheKey, Entry>>,
}

impl TokenCache {
    /// A cache of at most `capacity` entries; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
        }
    }

    /// The identity cached under `key`, unless it expired.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<Identity>> {
        let entry = self.entries.as_ref()?.get(key)?;
        (now() < entry.until).then_some(entry.identity)
    }

    /// Remember `identity` under `key` until `exp` (at most [`MAX_AGE`] from now).
    pub fn insert(&self, key: CacheKey, identity: Arc<Identity>, exp: u64) {
        let Some(entries) = &self.entries else {
            return;
        };
        let until = exp.min(now() + MAX_AGE.as_secs());
        entries.insert(key, Entry { identity, until });
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Arc<Identity> {
        Arc::new(Identity {
            subject: "alice".into(),
            ..Identity::default()
        })
    }

    #[test]
    fn entries_are_keyed_by_rule_and_token_and_end_at_exp() {
        let cache = TokenCache::new(8);
        cache.insert(key("r1", "t"), who(), now() + 30);
        assert!(cache.get(&key("r1", "t")).is_some());
        assert!(cache.get(&key("r2", "t")).is_none());
        assert!(cache.get(&key("r1", "u")).is_none());
        // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(key("ab", "c"), key("a", "bc"));
        cache.insert(key("r1", "old"), who(), now());
        assert!(cache.get(&key("r1", "old")).is_none());
        let off = TokenCache::new(0);
        off.insert(key("r1", "t"), who(), now() + 30);
        assert!(off.get(&key("r1", "t")).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TokenCache::new(16);
        for i in 0..1000 {
            cache.insert(key("r", &i.to_string()), who(), now() + 30);
        }
        let kept = (0..1000)
            .filter(|i| cache.get(&key("r", &i.to_string())).is_some())
            .count();
        assert!(kept <= 32, "{kept}");
    }
}

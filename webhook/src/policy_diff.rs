//! What changed between two policies, in words, with every change that loosens the rules
//! flagged: an issuer, exempt namespace, break-glass group or trusted middleware added, a
//! denied scope or route trait removed, a rule moved from deny to warn, a higher maximum.

use std::collections::BTreeSet;

use oam_traefik_policy::{CATALOGUE, Level, Policy};
use serde_json::Value;

/// One change of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `spec.allowedIssuers: added "https://idp.example.com/"`.
    pub text: String,
    /// Whether it lets through something the old policy refused.
    pub loosens: bool,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Lists where an added entry lets more through.
const LOOSER_WHEN_ADDED: &[&str] = &[
    "exemptNamespaces",
    "breakGlass.groups",
    "publicNamespaces",
    "authMiddlewareKinds",
    "authPlugins",
    "trustedMiddlewares",
];
/// Lists where a removed entry lets more through.
const LOOSER_WHEN_REMOVED: &[&str] = &[
    "deniedScopes",
    "routeTraits",
    "ingressClasses",
    "gatewayClasses",
];

/// The changes from `old` to `new`, rules first, then the fields in the file's order.
pub fn diff(old: &Policy, new: &Policy) -> Vec<Change> {
    let mut changes = Vec::new();
    for info in CATALOGUE {
        let (before, after) = (old.level(info.id), new.level(info.id));
        if before != after {
            changes.push(Change {
                text: format!(
                    "spec.rules.{}: {} -> {}",
                    info.id.as_str(),
                    before.as_str(),
                    after.as_str()
                ),
                loosens: before == Level::Deny,
            });
        }
    }
    let (Ok(mut a), Ok(mut b)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return changes;
    };
    // Compared above, level by level, with the defaults.
    for v in [&mut a, &mut b] {
        if let Some(m) = v.as_object_mut() {
            m.remove("rules");
        }
    }
    walk("", &a, &b, &mut changes);
    changes
}

fn walk(path: &str, old: &Value, new: &Value, changes: &mut Vec<Change>) {
    if old == new {
        return;
    }
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let null = Value::Null;
                walk(
                    &at(key),
                    a.get(key).unwrap_or(&null),
                    b.get(key).unwrap_or(&null),
                    changes,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) => list(path, a, b, changes),
        (Value::Number(a), Value::Number(b)) => changes.push(Change {
            text: format!("spec.{path}: {a} -> {b}"),
            // The only number is maxScopes: a higher maximum lets more through.
            loosens: b.as_f64() > a.as_f64(),
        }),
        _ => changes.push(Change {
            text: format!("spec.{path}: {old} -> {new}"),
            loosens: false,
        }),
    }
}

fn list(path: &str, old: &[Value], new: &[Value], changes: &mut Vec<Change>) {
    let added: Vec<&Value> = new.iter().filter(|v| !old.contains(v)).collect();
    let removed: Vec<&Value> = old.iter().filter(|v| !new.contains(v)).collect();
    if path == "allowedIssuers" {
        // An empty list allows every https:// issuer.
        if new.is_empty() {
            changes.push(Change {
                text: "spec.allowedIssuers: emptied: every https:// issuer is now allowed"
                    .to_string(),
                loosens: true,
            });
            return;
        }
        for v in added {
            changes.push(Change {
                text: format!("spec.allowedIssuers: added {v}"),
                loosens: !old.is_empty(),
            });
        }
        for v in removed {
            changes.push(Change {
                text: format!("spec.allowedIssuers: removed {v}"),
                loosens: false,
            });
        }
        return;
    }
    for v in added {
        changes.push(Change {
            text: format!("spec.{path}: added {v}"),
            loosens: LOOSER_WHEN_ADDED.contains(&path),
        });
    }
    for v in removed {
        changes.push(Change {
            text: format!("spec.{path}: removed {v}"),
            loosens: LOOSER_WHEN_REMOVED.contains(&path),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(spec: &str) -> Policy {
        Policy::from_yaml(&format!(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n{spec}"
        ))
        .expect("policy")
    }

    fn loosened(old: &Policy, new: &Policy) -> Vec<String> {
        diff(old, new)
            .into_iter()
            .filter(|c| c.loosens)
            .map(|c| c.text)
            .collect()
    }

    #[test]
    fn every_loosening_is_flagged() {
        let strict = policy(
            "  allowedIssuers: [\"https://login.example.com/\"]\n  deniedScopes: [admin]\n  maxScopes: 3\n  rules:\n    OT010: deny\n",
        );
        let empty = policy("  {}\n");
        let l = loosened(&strict, &empty);
        assert!(
            l.iter().any(|t| t.contains("allowedIssuers: emptied")),
            "{l:?}"
        );
        assert!(
            l.iter()
                .any(|t| t.contains("deniedScopes: removed \"admin\"")),
            "{l:?}"
        );
        assert!(l.iter().any(|t| t.contains("maxScopes: 3 -> 10")), "{l:?}");
        assert!(
            l.iter().any(|t| t == "spec.rules.OT010: deny -> warn"),
            "{l:?}"
        );

        let more = policy(
            "  allowedIssuers: [\"https://login.example.com/\", \"https://evil.example.com/\"]\n  exemptNamespaces: [kube-system, shop]\n  breakGlass:\n    groups: [everyone]\n",
        );
        let base = policy("  allowedIssuers: [\"https://login.example.com/\"]\n");
        let l = loosened(&base, &more);
        assert_eq!(l.len(), 3, "{l:?}");
        assert!(
            l[0].contains("allowedIssuers: added \"https://evil.example.com/\""),
            "{l:?}"
        );
        assert!(
            l.iter()
                .any(|t| t.contains("breakGlass.groups: added \"everyone\"")),
            "{l:?}"
        );
        assert!(
            l.iter()
                .any(|t| t.contains("exemptNamespaces: added \"shop\"")),
            "{l:?}"
        );
    }

    #[test]
    fn tightening_is_reported_but_not_flagged() {
        let empty = policy("  {}\n");
        let strict = policy(
            "  allowedIssuers: [\"https://login.example.com/\"]\n  maxScopes: 3\n  rules:\n    OT010: deny\n",
        );
        let changes = diff(&empty, &strict);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes.iter().all(|c| !c.loosens), "{changes:?}");
        assert!(diff(&strict, &strict).is_empty());
    }
}

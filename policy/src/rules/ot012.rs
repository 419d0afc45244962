//! OT012: a Middleware whose Traefik key another Middleware already has.
//!
//! Traefik files every Middleware under `normalize(<namespace>-<name>)`: `shop/a-b`,
//! `shop/a.b` and `shop-a/b` share one key, and which of them a route runs is not defined.

use crate::config::Level;
use crate::evaluate::Findings;
use crate::lookup::{Answer, Lookup};
use crate::middleware::Middleware;
use crate::naming;
use crate::rules::{RuleId, RuleInfo};

pub(crate) const INFO: RuleInfo = RuleInfo {
    id: RuleId::OT012,
    title: "Middleware key collision",
    rejects: "a Middleware that Traefik files under the same key as another Middleware (names that differ only in punctuation, or a namespace-name split)",
    hint: "rename the Middleware so that its namespace and name, with every run of non-alphanumerics folded to '-', differ from every other Middleware's",
    default_level: Level::Deny,
};

pub(crate) fn check(mw: &Middleware, namespace: &str, lookup: &dyn Lookup, out: &mut Findings) {
    let name = &mw.metadata.name;
    let key = naming::crd_key(namespace, name);
    match lookup.middlewares_by_key(&key) {
        Answer::Found(found) => {
            let others: Vec<String> = found
                .iter()
                .filter(|m| {
                    m.metadata.name != *name
                        || m.metadata.namespace.as_deref().is_some_and(|n| n != namespace)
                })
                .map(|m| {
                    format!(
                        "{}/{}",
                        m.metadata.namespace.as_deref().unwrap_or(namespace),
                        m.metadata.name
                    )
                })
                .collect();
            if !others.is_empty() {
                out.add(
                    RuleId::OT012,
                    format!("Middleware {namespace}/{name}"),
                    "/metadata/name".to_string(),
                    format!(
                        "is filed by Traefik under key {key:?}, which Middleware {} already has",
                        others.join(", ")
                    ),
                );
            }
        }
        Answer::Missing => {}
        Answer::Unknown => out.unresolved(format!("Middlewares under Traefik key {key:?}")),
    }
}

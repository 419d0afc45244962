//! The hostile manifests of `examples/bad` through the running webhook over HTTPS, as a
//! user who is no trusted controller: each file is refused with exactly the rules that
//! `kubectl oam-traefik check` finds in it (`# expect:`), so both programs give one verdict.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Options, Webhook, review};
use serde::Deserialize;
use serde_json::Value;

/// Files whose verdict needs the other objects of the same file (a Middleware it
/// references, a Middleware it collides with): a webhook without a cluster cannot see them.
const NEED_THE_CLUSTER: &[&str] = &[
    "ot001-custom-route-trait.yaml",
    "ot005-headers-is-not-auth.yaml",
    "ot006-ingress-with-headers-only.yaml",
    "ot006-forward-auth-null.yaml",
    "ot012-middleware-key-collision.yaml",
];

fn expected(text: &str) -> BTreeSet<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("# expect:"))
        .expect("an # expect: line")
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn rule_ids(message: &str) -> BTreeSet<String> {
    message
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| id.starts_with("OT"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_hostile_example_is_refused_as_check_refuses_it() {
    let w = Webhook::start(Options::default()).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/bad")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut checked = 0;
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if NEED_THE_CLUSTER.contains(&name.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let mut found = BTreeSet::new();
        for (i, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let doc = Value::deserialize(doc).expect("YAML");
            if doc.is_null() {
                continue;
            }
            let ns = doc["metadata"]["namespace"]
                .as_str()
                .unwrap_or("shop")
                .to_string();
            let r = w
                .review(
                    "/validate",
                    &review(&format!("{name}-{i}"), "CREATE", &ns, &doc, None),
                )
                .await;
            if r["allowed"] == false {
                found.extend(rule_ids(
                    r["status"]["message"].as_str().unwrap_or_default(),
                ));
            }
        }
        assert_eq!(found, expected(&text), "{name}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} examples checked");
}

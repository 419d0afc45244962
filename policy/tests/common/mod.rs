//! Fixtures the rule tests share: YAML into values and typed views, an index over documents.

#![allow(dead_code)] // Each test binary uses its own part of these.

use oam_traefik_policy::config::DEFAULT_TRUSTED_CONTROLLER;
use oam_traefik_policy::{Index, Object, Requester};
use serde_json::Value;

/// A YAML document as a JSON value.
pub fn value(yaml: &str) -> Value {
    serde_yaml::from_str(yaml).expect("test YAML parses")
}

/// A YAML document as its typed view.
pub fn object(yaml: &str) -> Object {
    Object::from_value(&value(yaml))
        .expect("test object parses")
        .expect("a kind the policy reads")
}

/// A complete index over `docs` (absence means Missing); objects default to namespace shop.
pub fn index(docs: &[&str]) -> Index {
    let mut index = Index::new(true);
    for doc in docs {
        index.insert_value(&value(doc), "shop").expect("doc parses");
    }
    index
}

/// KubeVela's controller, the default trusted controller.
pub fn vela_core() -> Requester {
    Requester {
        username: DEFAULT_TRUSTED_CONTROLLER.into(),
        groups: vec!["system:serviceaccounts".into()],
    }
}

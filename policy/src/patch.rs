//! Mutations as RFC 6902 JSON patches. Each builder returns nothing when the reference is
//! already there, so applying a patch and evaluating again yields no patch.

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, ReplaceOperation};
use serde_json::{Value, json};

use crate::application::{Component, IDENTITY_TYPE};
use crate::http_route::{HttpRoute, TRAEFIK_GROUP};
use crate::ingress::{MIDDLEWARES_ANNOTATION, split_middleware_list};
use crate::ingress_route::IngressRoute;

/// A JSON pointer from unescaped tokens (`/` in a token becomes `~1`).
pub fn pointer(tokens: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().copied())
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: pointer(tokens),
        value,
    })
}

fn replace(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Replace(ReplaceOperation {
        path: pointer(tokens),
        value,
    })
}

/// The `router.middlewares` value with `reference` first (auth runs before anything else),
/// or `None` when it is already listed.
pub fn merge_middleware_list(existing: Option<&str>, reference: &str) -> Option<String> {
    let entries = existing.map(split_middleware_list).unwrap_or_default();
    if entries.contains(&reference) {
        return None;
    }
    Some(
        std::iter::once(reference)
            .chain(entries)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Put `reference` into the `router.middlewares` key of the annotations map at `base`
/// (`None` when the map is absent).
pub fn annotation(
    base: &[&str],
    annotations: Option<&BTreeMap<String, String>>,
    reference: &str,
) -> Option<PatchOperation> {
    let existing = annotations.and_then(|a| a.get(MIDDLEWARES_ANNOTATION));
    let merged = merge_middleware_list(existing.map(String::as_str), reference)?;
    let mut key_path = base.to_vec();
    key_path.push("annotations");
    Some(match (annotations, existing) {
        (None, _) => add(&key_path, json!({ MIDDLEWARES_ANNOTATION: merged })),
        (Some(_), None) => {
            key_path.push(MIDDLEWARES_ANNOTATION);
            add(&key_path, Value::String(merged))
        }
        (Some(_), Some(_)) => {
            key_path.push(MIDDLEWARES_ANNOTATION);
            replace(&key_path, Value::String(merged))
        }
    })
}

/// Put `reference` into `properties.annotations` of a `gateway` trait at `trait_path`;
/// `Ok(None)` when it is already there. Properties or annotations of the wrong shape are
/// an error, never a reason to skip the reference.
pub fn gateway_trait(
    trait_path: &[&str],
    properties: Option<&Value>,
    reference: &str,
) -> Result<Option<PatchOperation>, String> {
    let mut path = trait_path.to_vec();
    path.push("properties");
    let props = match properties {
        None | Some(Value::Null) => {
            return Ok(Some(add(
                &path,
                json!({ "annotations": { MIDDLEWARES_ANNOTATION: reference } }),
            )));
        }
        Some(Value::Object(map)) => map,
        Some(other) => return Err(format!("properties is {}, not a map", type_name(other))),
    };
    path.push("annotations");
    let annotations = match props.get("annotations") {
        None | Some(Value::Null) => {
            return Ok(Some(add(
                &path,
                json!({ MIDDLEWARES_ANNOTATION: reference }),
            )));
        }
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(format!(
                "properties.annotations is {}, not a map",
                type_name(other)
            ));
        }
    };
    path.push(MIDDLEWARES_ANNOTATION);
    match annotations.get(MIDDLEWARES_ANNOTATION) {
        None | Some(Value::Null) => Ok(Some(add(&path, Value::String(reference.to_string())))),
        Some(Value::String(existing)) => Ok(merge_middleware_list(Some(existing), reference)
            .map(|merged| replace(&path, Value::String(merged)))),
        Some(other) => Err(format!(
            "properties.annotations[{MIDDLEWARES_ANNOTATION:?}] is {}, not a string",
            type_name(other)
        )),
    }
}

/// The `identity` trait property that marks the trait as a copy of the app-level
/// `identity` policy of that name (the TraitDefinition declares it).
pub const FROM_POLICY: &str = "fromPolicy";

/// Copy the app-level `identity` policy `policy_name` (its `properties`) onto component
/// `index` as an `identity` trait with [`FROM_POLICY`] set, so that KubeVela renders the
/// component's generated Middleware from the trait: nothing when the component has a rule
/// of its own; a refresh of an earlier copy of this policy whose properties differ.
pub fn policy_identity_trait(
    index: usize,
    component: &Component,
    policy_name: &str,
    policy_properties: Option<&Value>,
) -> Option<PatchOperation> {
    let mut wanted = match policy_properties {
        Some(Value::Object(map)) => map.clone(),
        _ => serde_json::Map::new(),
    };
    wanted.insert(
        FROM_POLICY.to_string(),
        Value::String(policy_name.to_string()),
    );
    let wanted = Value::Object(wanted);
    let index = index.to_string();
    match component.own_identity() {
        Some((j, _)) => {
            let current = component.traits[j].properties.as_ref();
            let copied_from = current
                .and_then(|p| p.get(FROM_POLICY))
                .and_then(Value::as_str);
            if copied_from != Some(policy_name) || current == Some(&wanted) {
                return None;
            }
            let j = j.to_string();
            Some(replace(
                &["spec", "components", &index, "traits", &j, "properties"],
                wanted,
            ))
        }
        None => {
            let entry = json!({ "type": IDENTITY_TYPE, "properties": wanted });
            Some(if component.traits.is_empty() {
                // `add` on a member that exists replaces it: covers absent, null and [].
                add(&["spec", "components", &index, "traits"], json!([entry]))
            } else {
                add(&["spec", "components", &index, "traits", "-"], entry)
            })
        }
    }
}

/// A JSON value's type in words.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Put Middleware `name` first in every route of an IngressRoute that lacks it.
pub fn ingress_route(route: &IngressRoute, namespace: &str, name: &str) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    for (i, r) in route.spec.routes.iter().enumerate() {
        let index = i.to_string();
        let entry = json!({ "name": name });
        match &r.middlewares {
            None => ops.push(add(
                &["spec", "routes", &index, "middlewares"],
                json!([entry]),
            )),
            Some(list)
                if !list.iter().any(|m| {
                    m.name == name && m.namespace.as_deref().is_none_or(|n| n == namespace)
                }) =>
            {
                ops.push(add(&["spec", "routes", &index, "middlewares", "0"], entry))
            }
            Some(_) => {}
        }
    }
    ops
}

/// The ExtensionRef filter that attaches Traefik Middleware `name` to an HTTPRoute rule.
pub fn extension_ref_filter(name: &str) -> Value {
    json!({
        "type": "ExtensionRef",
        "extensionRef": { "group": TRAEFIK_GROUP, "kind": "Middleware", "name": name }
    })
}

/// Put an ExtensionRef to Middleware `name` first in every rule of an HTTPRoute that lacks it.
pub fn http_route(route: &HttpRoute, name: &str) -> Vec<PatchOperation> {
    let filter = extension_ref_filter(name);
    let Some(rules) = &route.spec.rules else {
        return vec![add(&["spec", "rules"], json!([{ "filters": [filter] }]))];
    };
    let mut ops = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let index = i.to_string();
        match &rule.filters {
            None => ops.push(add(
                &["spec", "rules", &index, "filters"],
                json!([filter.clone()]),
            )),
            Some(_) if rule.middleware_names().any(|n| n == name) => {}
            Some(_) => ops.push(add(
                &["spec", "rules", &index, "filters", "0"],
                filter.clone(),
            )),
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(
            pointer(&["metadata", "annotations", MIDDLEWARES_ANNOTATION]).as_str(),
            "/metadata/annotations/traefik.ingress.kubernetes.io~1router.middlewares"
        );
        assert_eq!(pointer(&["a~b"]).as_str(), "/a~0b");
    }

    #[test]
    fn merge_puts_reference_first_without_duplicates() {
        assert_eq!(
            merge_middleware_list(Some("shop-gzip@kubernetescrd, "), "shop-sso@kubernetescrd"),
            Some("shop-sso@kubernetescrd,shop-gzip@kubernetescrd".to_string())
        );
        assert_eq!(
            merge_middleware_list(
                Some("shop-gzip@kubernetescrd,shop-sso@kubernetescrd"),
                "shop-sso@kubernetescrd"
            ),
            None
        );
    }
}

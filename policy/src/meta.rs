//! The part of `metadata` the rules read, and references between objects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `metadata` of any object: name, namespace, labels, annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `metadata.name` (empty while `generateName` is pending).
    #[serde(default)]
    pub name: String,
    /// `metadata.generateName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// `metadata.namespace`; admission fills it from the request when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.labels`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`; `None` when the object has no annotations map at all.
    #[serde(default, deserialize_with = "null_as_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Meta {
    /// The namespace, or `fallback` (the request's namespace) when the object names none.
    pub fn namespace_or<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(fallback)
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The name to show a human: the name, or `generateName*` before the server picks one.
    pub fn display_name(&self) -> String {
        match (&self.name, &self.generate_name) {
            (n, _) if !n.is_empty() => n.clone(),
            (_, Some(g)) => format!("{g}*"),
            _ => "<unnamed>".to_string(),
        }
    }
}

/// A reference to one object: its kind, namespace and name (`IngressRoute shop/web`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The object's kind, as Kubernetes spells it.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Deserialize an explicit `null` as the type's default (the API server may send `labels: null`).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn null_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

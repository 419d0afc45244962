//! AdmissionReview bodies, for tests and benchmarks that post straight to the webhook as
//! the API server would.

use serde_json::{Value, json};

/// An `admission.k8s.io/v1` AdmissionReview of `operation` on `object` (and `old`, or
/// `null`) of `kind` (group, version, kind) in `ns`, asked by user `alice`.
pub fn review(
    uid: &str,
    operation: &str,
    ns: &str,
    kind: (&str, &str, &str),
    object: Value,
    old: Value,
) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": kind.0, "version": kind.1, "kind": kind.2},
            "name": old["metadata"]["name"].as_str().or(object["metadata"]["name"].as_str()),
            "namespace": ns,
            "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": old,
        }
    })
}

//! AdmissionReview in, AdmissionReview out: parsing the request, deciding with the
//! policy crate, and writing the response that echoes `uid`, `apiVersion` and `kind`.

use base64::Engine;
use oam_traefik_policy::{
    Exemption, Kind, Lookup, Object, Operation, Policy, Requester, Review, Verdict, evaluate,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// The apiVersion answered when the request names none.
pub const ADMISSION_V1: &str = "admission.k8s.io/v1";

/// Which webhook was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /validate`: denies or allows with warnings.
    Validate,
    /// `POST /mutate`: allows with a JSON patch.
    Mutate,
}

impl Endpoint {
    /// The endpoint's name in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

/// A request that is not an AdmissionReview we can answer: HTTP 400 with this text.
#[derive(Debug, thiserror::Error)]
pub enum BadReview {
    /// The body is not JSON, or a field has the wrong type.
    #[error("malformed AdmissionReview: {0}")]
    Json(#[from] serde_json::Error),
    /// No `request`.
    #[error("AdmissionReview has no request")]
    NoRequest,
    /// No `request.uid`, so there is nothing to answer to.
    #[error("AdmissionReview request has no uid")]
    NoUid,
}

/// An AdmissionReview as sent by the API server.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    request: Option<Request>,
}

/// The AdmissionReview's `request`: only the fields the webhook reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Echoed in the response.
    #[serde(default)]
    pub uid: String,
    /// The object's group, version and kind.
    #[serde(default)]
    pub kind: GroupVersionKind,
    /// The object's name (may be empty on CREATE with generateName).
    #[serde(default)]
    pub name: String,
    /// The request's namespace.
    #[serde(default)]
    pub namespace: String,
    /// CREATE, UPDATE, DELETE or CONNECT.
    #[serde(default)]
    pub operation: String,
    /// Who asked.
    #[serde(default)]
    pub user_info: UserInfo,
    /// The object as it would be stored, as JSON text: parsed once, straight into its
    /// typed view, never into a `serde_json::Value` first (the hot path).
    #[serde(default)]
    pub object: Option<Box<RawValue>>,
    /// The object as it is stored, as JSON text.
    #[serde(default)]
    pub old_object: Option<Box<RawValue>>,
    /// Whether nothing will be persisted.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// `request.kind`.
#[derive(Debug, Default, Deserialize)]
pub struct GroupVersionKind {
    /// API group, empty for the core group.
    #[serde(default)]
    pub group: String,
    /// Version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// `request.userInfo`.
#[derive(Debug, Default, Deserialize)]
pub struct UserInfo {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A parsed AdmissionReview: the envelope to echo and the request.
#[derive(Debug)]
pub struct Incoming {
    /// `apiVersion` to echo.
    pub api_version: String,
    /// `kind` to echo.
    pub kind: String,
    /// The request.
    pub request: Request,
}

/// Parse the body of a POST; `Err` is an HTTP 400.
pub fn parse(body: &[u8]) -> Result<Incoming, BadReview> {
    let review: ReviewIn = serde_json::from_slice(body)?;
    let request = review.request.ok_or(BadReview::NoRequest)?;
    if request.uid.is_empty() {
        return Err(BadReview::NoUid);
    }
    Ok(Incoming {
        api_version: review
            .api_version
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| ADMISSION_V1.to_string()),
        kind: review
            .kind
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "AdmissionReview".to_string()),
        request,
    })
}

/// What was decided, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed, nothing to change.
    Allowed,
    /// Refused by a rule.
    Denied,
    /// Allowed with a patch.
    Patched,
    /// Allowed because the namespace is exempt or break-glass applies.
    Exempt,
    /// A kind or operation the webhook does not handle: allowed unchanged.
    Unhandled,
    /// The object does not fit its typed view: refused.
    Invalid,
}

impl Outcome {
    /// The outcome's name in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Patched => "patched",
            Outcome::Exempt => "exempt",
            Outcome::Unhandled => "unhandled",
            Outcome::Invalid => "invalid",
        }
    }
}

/// The answer to one review, and what the decision log needs.
#[derive(Debug)]
pub struct Decision {
    /// What was decided.
    pub outcome: Outcome,
    /// The kind, when the webhook handles it.
    pub kind: Option<Kind>,
    /// The operation, when known.
    pub operation: Option<Operation>,
    /// Refusal: HTTP-like code, reason and message for `response.status`.
    pub status: Option<Status>,
    /// The JSON patch (RFC 6902), serialized.
    pub patch: Option<Vec<u8>>,
    /// One string per warning (`OT010 ...`).
    pub warnings: Vec<String>,
    /// The verdict, when the rules ran.
    pub verdict: Option<Verdict>,
    /// Why the rules did not run or what else the log should say.
    pub note: Option<String>,
    /// The object's name as its parsed view gives it (a CREATE's request carries none), so
    /// that the decision line does not parse the object a second time.
    pub object_name: Option<String>,
}

/// `response.status` of a refusal.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Always `Failure`.
    pub status: &'static str,
    /// 403 for a rule, 400 for an object that does not parse.
    pub code: u16,
    /// `Forbidden` or `BadRequest`.
    pub reason: &'static str,
    /// What the user sees.
    pub message: String,
}

impl Decision {
    /// Whether the object is admitted.
    pub fn allowed(&self) -> bool {
        self.status.is_none()
    }

    /// Refused because the review did not finish within `deadline`: whatever it would
    /// have found, nothing is admitted unreviewed.
    pub fn unfinished(deadline: std::time::Duration) -> Self {
        let message = format!(
            "oam-traefik could not finish reviewing this object within {} ms and refuses it unreviewed; split it into smaller objects (fewer middleware references or components) and apply again",
            deadline.as_millis()
        );
        Self {
            outcome: Outcome::Denied,
            kind: None,
            operation: None,
            status: Some(Status {
                status: "Failure",
                code: 503,
                reason: "ServiceUnavailable",
                message: message.clone(),
            }),
            patch: None,
            warnings: Vec::new(),
            verdict: None,
            note: Some(message),
            object_name: None,
        }
    }

    /// Allowed unchanged without running the rules, saying why.
    fn pass(
        outcome: Outcome,
        kind: Option<Kind>,
        operation: Option<Operation>,
        note: String,
    ) -> Self {
        Self {
            outcome,
            kind,
            operation,
            status: None,
            patch: None,
            warnings: Vec::new(),
            verdict: None,
            note: Some(note),
            object_name: None,
        }
    }
}

/// Decide one request under `policy`, asking `lookup` about other objects.
pub fn decide(
    endpoint: Endpoint,
    request: &Request,
    policy: &Policy,
    lookup: &dyn Lookup,
) -> Decision {
    let gvk = &request.kind;
    let Some(kind) = Kind::from_group_kind(&gvk.group, &gvk.kind) else {
        return Decision::pass(
            Outcome::Unhandled,
            None,
            Operation::parse(&request.operation),
            format!(
                "kind {}/{} {} is not handled",
                gvk.group, gvk.version, gvk.kind
            ),
        );
    };
    let operation = match Operation::parse(&request.operation) {
        Some(op @ (Operation::Create | Operation::Update | Operation::Delete)) => op,
        other => {
            return Decision::pass(
                Outcome::Unhandled,
                Some(kind),
                other,
                format!("operation {:?} is not handled", request.operation),
            );
        }
    };

    // Once deletion has begun, controllers must be able to remove their finalizers, even
    // under a policy tightened since admission. Traefik still serves the object until it
    // is gone, so any other change is evaluated like every update.
    if operation == Operation::Update
        && being_deleted(&request.object)
        && only_bookkeeping_changed(&request.object, &request.old_object)
    {
        return Decision::pass(
            Outcome::Allowed,
            Some(kind),
            Some(operation),
            "being deleted: only finalizers or bookkeeping changed, not evaluated".to_string(),
        );
    }
    let object = match present(&request.object).map(|v| Object::parse_json_str(kind, v)) {
        None => None,
        Some(Ok(object)) => Some(object),
        Some(Err(e)) => {
            let message = format!("oam-traefik cannot read this {kind}: {e}");
            return Decision {
                outcome: Outcome::Invalid,
                kind: Some(kind),
                operation: Some(operation),
                status: Some(Status {
                    status: "Failure",
                    code: 400,
                    reason: "BadRequest",
                    message: message.clone(),
                }),
                patch: None,
                warnings: Vec::new(),
                verdict: None,
                note: Some(message),
                object_name: None,
            };
        }
    };
    // A stored object that no longer parses must not block its own repair or deletion.
    let mut note = None;
    let old_object = match present(&request.old_object).map(|v| Object::parse_json_str(kind, v)) {
        None => None,
        Some(Ok(old)) => Some(old),
        Some(Err(e)) => {
            note = Some(format!("oldObject ignored, it does not parse: {e}"));
            None
        }
    };

    let requester = Requester {
        username: request.user_info.username.clone(),
        groups: request.user_info.groups.clone(),
    };
    let review = Review {
        operation,
        namespace: &request.namespace,
        object: object.as_ref(),
        old_object: old_object.as_ref(),
        requester: &requester,
    };
    let verdict = evaluate(&review, policy, lookup);

    let mut decision = Decision {
        outcome: Outcome::Allowed,
        kind: Some(kind),
        operation: Some(operation),
        status: None,
        patch: None,
        warnings: Vec::new(),
        verdict: None,
        note,
        object_name: object
            .as_ref()
            .map(|o| o.meta())
            .filter(|m| !m.name.is_empty() || m.generate_name.is_some())
            .map(|m| m.display_name()),
    };
    if verdict.exemption.is_some() {
        decision.outcome = Outcome::Exempt;
    } else {
        match endpoint {
            Endpoint::Validate => {
                // Only /validate warns, so that the user sees each warning once.
                decision.warnings = verdict.warnings.iter().map(ToString::to_string).collect();
                if !verdict.allowed() {
                    decision.outcome = Outcome::Denied;
                    decision.status = Some(Status {
                        status: "Failure",
                        code: 403,
                        reason: "Forbidden",
                        message: verdict.denial_message(),
                    });
                }
            }
            Endpoint::Mutate => {
                if !verdict.patch.0.is_empty() {
                    match serde_json::to_vec(&verdict.patch) {
                        Ok(bytes) => {
                            decision.outcome = Outcome::Patched;
                            decision.patch = Some(bytes);
                        }
                        Err(e) => decision.note = Some(format!("patch not serialized: {e}")),
                    }
                }
            }
        }
    }
    decision.verdict = Some(verdict);
    decision
}

/// Whether the object carries `metadata.deletionTimestamp`.
fn being_deleted(object: &Option<Box<RawValue>>) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        metadata: Option<ProbeMeta>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ProbeMeta {
        #[serde(default)]
        deletion_timestamp: Option<serde::de::IgnoredAny>,
    }
    present(object)
        .and_then(|text| serde_json::from_str::<Probe>(text).ok())
        .and_then(|p| p.metadata)
        .is_some_and(|m| m.deletion_timestamp.is_some())
}

/// Whether `object` and `old` differ only in what controllers change while an object is
/// deleted: finalizers, managed fields, the resource version, generation, deletion
/// stamps and status.
fn only_bookkeeping_changed(object: &Option<Box<RawValue>>, old: &Option<Box<RawValue>>) -> bool {
    fn stripped(raw: &Option<Box<RawValue>>) -> Option<Value> {
        let mut v: Value = serde_json::from_str(present(raw)?).ok()?;
        let o = v.as_object_mut()?;
        o.remove("status");
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for key in [
                "finalizers",
                "managedFields",
                "resourceVersion",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.remove(key);
            }
        }
        Some(v)
    }
    match (stripped(object), stripped(old)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The JSON text of a present, non-null object.
fn present(value: &Option<Box<RawValue>>) -> Option<&str> {
    value
        .as_deref()
        .map(RawValue::get)
        .filter(|v| v.trim() != "null")
}

/// The AdmissionReview sent back.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'a str,
    kind: &'a str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

/// The response body for `decision`, echoing the request's envelope and uid.
pub fn respond(incoming: &Incoming, decision: &Decision) -> Vec<u8> {
    let patch = decision
        .patch
        .as_ref()
        .map(|p| base64::engine::general_purpose::STANDARD.encode(p));
    let out = ReviewOut {
        api_version: &incoming.api_version,
        kind: &incoming.kind,
        response: ResponseOut {
            uid: &incoming.request.uid,
            allowed: decision.allowed(),
            status: decision.status.as_ref(),
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch,
            warnings: &decision.warnings,
        },
    };
    // Strings, bools and numbers only: serialization cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

/// How the log names an exemption.
pub fn describe_exemption(exemption: &Exemption) -> String {
    match exemption {
        Exemption::Namespace { namespace } => format!("namespace {namespace} is exempt"),
        Exemption::BreakGlass { reason, user } => {
            format!("break-glass by {user}: {reason}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oam_traefik_policy::NoLookup;
    use serde_json::{Value, json};

    fn raw(v: &Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).expect("valid JSON")
    }

    fn review(object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "core.oam.dev", "version": "v1beta1", "kind": "Application"},
                "namespace": "shop",
                "operation": "CREATE",
                "userInfo": {"username": "alice", "groups": ["dev"]},
                "object": object,
            }
        }))
        .expect("json")
    }

    #[test]
    fn missing_uid_and_malformed_json_are_bad_reviews() {
        assert!(matches!(parse(b"{not json"), Err(BadReview::Json(_))));
        assert!(matches!(parse(b"{}"), Err(BadReview::NoRequest)));
        assert!(matches!(
            parse(br#"{"request":{"operation":"CREATE"}}"#),
            Err(BadReview::NoUid)
        ));
        assert!(matches!(
            parse(br#"{"request":{"uid": 7}}"#),
            Err(BadReview::Json(_))
        ));
    }

    #[test]
    fn the_decision_names_the_object_from_its_parsed_view() {
        let name_of = |metadata: Value| {
            let body = review(json!({
                "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
                "metadata": metadata, "spec": {"components": []}
            }));
            let incoming = parse(&body).expect("parses");
            decide(
                Endpoint::Validate,
                &incoming.request,
                &Policy::default(),
                &NoLookup,
            )
            .object_name
        };
        assert_eq!(name_of(json!({"name": "shop"})).as_deref(), Some("shop"));
        assert_eq!(
            name_of(json!({"generateName": "shop-"})).as_deref(),
            Some("shop-*")
        );
        assert_eq!(name_of(json!({})), None);
    }

    #[test]
    fn a_wrongly_typed_object_is_refused_with_its_path() {
        let body = review(json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "a"}, "spec": {"components": "oops"}
        }));
        let incoming = parse(&body).expect("parses");
        let d = decide(
            Endpoint::Validate,
            &incoming.request,
            &Policy::default(),
            &NoLookup,
        );
        assert_eq!(d.outcome, Outcome::Invalid);
        let status = d.status.expect("refused");
        assert!(
            status.message.contains("spec.components"),
            "{}",
            status.message
        );
        let out: Value = serde_json::from_slice(&respond(
            &incoming,
            &Decision {
                status: Some(status),
                ..d
            },
        ))
        .expect("json");
        assert_eq!(out["response"]["uid"], "u-1");
        assert_eq!(out["response"]["allowed"], false);
    }

    #[test]
    fn finalizer_updates_of_an_object_being_deleted_are_allowed() {
        let object = json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "a", "deletionTimestamp": "2026-11-28T10:00:00Z", "finalizers": []},
            "spec": {"components": [{"name": "web", "type": "webservice",
                "traits": [{"type": "gateway", "properties": {"domain": "a.example.com"}}]}]}
        });
        let mut incoming = parse(&review(object.clone())).expect("parses");
        incoming.request.operation = "UPDATE".into();
        incoming.request.old_object = Some(raw(&object));
        let d = decide(
            Endpoint::Validate,
            &incoming.request,
            &Policy::default(),
            &NoLookup,
        );
        assert!(d.allowed(), "{d:?}");
        // The same object without deletionTimestamp is refused (OT001): the exception is narrow.
        let mut alive = object.clone();
        alive["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("deletionTimestamp");
        incoming.request.object = Some(raw(&alive));
        let d = decide(
            Endpoint::Validate,
            &incoming.request,
            &Policy::default(),
            &NoLookup,
        );
        assert!(!d.allowed(), "{d:?}");
    }

    #[test]
    fn a_terminating_object_whose_spec_changes_is_evaluated() {
        let old = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop",
                "deletionTimestamp": "2026-11-28T10:00:00Z", "finalizers": ["x"],
                "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": "sso@file"}},
            "spec": {"ingressClassName": "traefik"}
        });
        let policy = Policy {
            trusted_middlewares: vec!["sso@file".into()],
            ..Policy::default()
        };
        // Traefik serves it until the finalizer goes: dropping its auth is still refused.
        let mut loosened = old.clone();
        loosened["metadata"]["annotations"] = json!({});
        let mut incoming = parse(&review(loosened)).expect("parses");
        incoming.request.kind = GroupVersionKind {
            group: "networking.k8s.io".into(),
            version: "v1".into(),
            kind: "Ingress".into(),
        };
        incoming.request.operation = "UPDATE".into();
        incoming.request.old_object = Some(raw(&old));
        let d = decide(Endpoint::Validate, &incoming.request, &policy, &NoLookup);
        assert!(!d.allowed(), "{d:?}");
        assert!(format!("{d:?}").contains("OT006"), "{d:?}");
        // Removing the finalizer alone passes, even under a policy that no longer trusts it.
        let mut released = old.clone();
        released["metadata"]["finalizers"] = json!([]);
        incoming.request.object = Some(raw(&released));
        let d = decide(
            Endpoint::Validate,
            &incoming.request,
            &Policy::default(),
            &NoLookup,
        );
        assert!(d.allowed(), "{d:?}");
    }

    #[test]
    fn a_review_past_its_deadline_is_refused_and_says_why() {
        let incoming = parse(&review(json!({"metadata": {"name": "a"}}))).expect("parses");
        let d = Decision::unfinished(std::time::Duration::from_millis(2000));
        assert!(!d.allowed());
        let out: Value = serde_json::from_slice(&respond(&incoming, &d)).expect("JSON");
        assert_eq!(out["response"]["uid"], incoming.request.uid.as_str());
        assert_eq!(out["response"]["allowed"], false);
        assert_eq!(out["response"]["status"]["code"], 503);
        let message = out["response"]["status"]["message"]
            .as_str()
            .expect("message");
        assert!(message.contains("within 2000 ms"), "{message}");
        assert!(message.contains("refuses it unreviewed"), "{message}");
    }

    #[test]
    fn an_unhandled_kind_is_allowed_unchanged() {
        let mut incoming = parse(&review(json!({}))).expect("parses");
        incoming.request.kind.group = "apps".into();
        incoming.request.kind.kind = "Deployment".into();
        let d = decide(
            Endpoint::Mutate,
            &incoming.request,
            &Policy::default(),
            &NoLookup,
        );
        assert_eq!(d.outcome, Outcome::Unhandled);
        assert!(d.allowed() && d.patch.is_none());
    }
}

//! `check`: the webhook's rules over manifests, offline, with references between the given
//! documents resolved (and, with `--cluster`, the rest looked up in the cluster).

use std::collections::BTreeSet;
use std::sync::Arc;

use oam_traefik_policy::middleware::Middleware;
use oam_traefik_policy::{
    Answer, Application, Index, Level, Lookup, Object, ObjectRef, Operation, Policy, Requester,
    Review, Violation, evaluate,
};
use serde::Serialize;

use crate::documents::{Document, ReadError};

/// One rule that fired on one document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The file.
    pub file: String,
    /// The document's position in the file, from 0.
    pub document: usize,
    /// The line the document starts on.
    pub line: usize,
    /// The object.
    pub object: ObjectRef,
    /// The violation: rule, level, subject, JSON path, message, hint.
    #[serde(flatten)]
    pub violation: Violation,
}

impl Finding {
    /// The object, the subject within it (when it is not the object itself) and the message.
    pub fn describe(&self) -> String {
        let object = self.object.to_string();
        let v = &self.violation;
        if v.subject == oam_traefik_policy::Subject::Object(object.clone()) {
            format!("{object} {}", v.message)
        } else {
            format!("{object}: {} {}", v.subject, v.message)
        }
    }
}

/// A reference that neither the documents nor the cluster could answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unresolved {
    /// The file.
    pub file: String,
    /// The document's position in the file, from 0.
    pub document: usize,
    /// The line the document starts on.
    pub line: usize,
    /// The object that makes the reference.
    pub object: ObjectRef,
    /// What could not be looked up.
    pub reference: String,
}

/// A document or file that could not be checked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The file.
    pub file: String,
    /// The line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What went wrong.
    pub message: String,
}

/// Everything `check` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Rules that fired, deny and warn.
    pub findings: Vec<Finding>,
    /// References nobody could answer.
    pub unresolved: Vec<Unresolved>,
    /// Files and documents that could not be read.
    pub errors: Vec<Problem>,
    /// Counts.
    pub summary: Summary,
    /// What the policy leaves open that a reader should know (no auth service pinned).
    pub notes: Vec<String>,
    /// Whether unresolved references count as errors.
    #[serde(skip)]
    pub strict: bool,
}

/// Counts for the last line.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Objects the rules read.
    pub objects: usize,
    /// Documents of other kinds, not checked.
    pub skipped: usize,
    /// Rules at level deny that fired.
    pub violations: usize,
    /// Rules at level warn that fired.
    pub warnings: usize,
    /// References nobody could answer.
    pub unresolved: usize,
}

impl Report {
    /// 0 clean, 1 a violation (or, with `--strict`, an unresolved reference), 2 a read error.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            2
        } else if self.summary.violations > 0 || (self.strict && !self.unresolved.is_empty()) {
            1
        } else {
            0
        }
    }
}

/// Answers from the documents first, then from `fallback` for what they do not hold.
pub struct Layered<'a> {
    first: &'a dyn Lookup,
    fallback: &'a dyn Lookup,
}

impl<'a> Layered<'a> {
    /// Ask `first`; where it cannot say, ask `fallback`.
    pub fn new(first: &'a dyn Lookup, fallback: &'a dyn Lookup) -> Self {
        Self { first, fallback }
    }

    fn pick<T>(&self, a: Answer<T>, b: impl FnOnce() -> Answer<T>) -> Answer<T> {
        match a {
            Answer::Unknown => b(),
            found_or_missing => found_or_missing,
        }
    }
}

impl Lookup for Layered<'_> {
    fn middlewares_by_key(&self, key: &str) -> Answer<Vec<Arc<Middleware>>> {
        // Both sides count: a file's Middleware may collide with one in the cluster. The
        // file's version of the same object replaces the cluster's.
        match (
            self.first.middlewares_by_key(key),
            self.fallback.middlewares_by_key(key),
        ) {
            (Answer::Found(mut mine), Answer::Found(theirs)) => {
                let same = |a: &Middleware, b: &Middleware| {
                    a.metadata.name == b.metadata.name
                        && a.metadata.namespace == b.metadata.namespace
                };
                let extra: Vec<_> = theirs
                    .into_iter()
                    .filter(|t| !mine.iter().any(|m| same(m, t)))
                    .collect();
                mine.extend(extra);
                Answer::Found(mine)
            }
            (Answer::Found(a), _) | (_, Answer::Found(a)) => Answer::Found(a),
            (Answer::Missing, Answer::Missing) => Answer::Missing,
            _ => Answer::Unknown,
        }
    }
    fn middleware(&self, namespace: &str, name: &str) -> Answer<Arc<Middleware>> {
        self.pick(self.first.middleware(namespace, name), || {
            self.fallback.middleware(namespace, name)
        })
    }
    fn application(&self, namespace: &str, name: &str) -> Answer<Arc<Application>> {
        self.pick(self.first.application(namespace, name), || {
            self.fallback.application(namespace, name)
        })
    }
    fn routes_using_middleware(&self, namespace: &str, name: &str) -> Answer<Vec<ObjectRef>> {
        let mine = self.first.routes_using_middleware(namespace, name);
        match (mine, self.fallback.routes_using_middleware(namespace, name)) {
            (Answer::Found(mut a), Answer::Found(b)) => {
                a.extend(b.into_iter().filter(|r| !a.contains(r)).collect::<Vec<_>>());
                Answer::Found(a)
            }
            (Answer::Found(a), _) | (_, Answer::Found(a)) => Answer::Found(a),
            (a, _) => a,
        }
    }
    fn ingress_class_controller(&self, name: &str) -> Answer<String> {
        self.pick(self.first.ingress_class_controller(name), || {
            self.fallback.ingress_class_controller(name)
        })
    }
    fn gateway_class(&self, namespace: &str, name: &str) -> Answer<String> {
        self.pick(self.first.gateway_class(namespace, name), || {
            self.fallback.gateway_class(namespace, name)
        })
    }
    fn gateway_class_controller(&self, name: &str) -> Answer<String> {
        self.pick(self.first.gateway_class_controller(name), || {
            self.fallback.gateway_class_controller(name)
        })
    }
    fn trait_renders_route(&self, name: &str) -> Answer<bool> {
        self.pick(self.first.trait_renders_route(name), || {
            self.fallback.trait_renders_route(name)
        })
    }
}

/// The documents indexed for lookups, and the ones the rules read.
pub struct Parsed {
    /// The index over every document (absence means `Unknown`).
    pub index: Index,
    /// Documents the rules read, with their typed views.
    pub objects: Vec<(Document<()>, Object)>,
    /// Documents of other kinds.
    pub skipped: usize,
    /// Documents that do not fit their typed view.
    pub errors: Vec<Problem>,
}

/// What the reader makes of a document (on the core that read it): its typed view when it
/// is a kind the rules read, the value itself otherwise (other kinds the index keeps, and
/// documents that do not fit their view, whose error [`parse`] reports).
// Nearly every document is `Typed`: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Content {
    /// A kind the rules read.
    Typed(Object),
    /// Anything else.
    Raw(serde_json::Value),
}

impl Content {
    /// The typed view of `value`, or `value`.
    pub fn of(value: serde_json::Value) -> Content {
        match Object::from_value(&value) {
            Ok(Some(object)) => Content::Typed(object),
            _ => Content::Raw(value),
        }
    }
}

/// Parse and index `docs`; objects without a namespace live in `namespace`.
pub fn parse(docs: Vec<Document<Content>>, namespace: &str) -> Parsed {
    let mut parsed = Parsed {
        index: Index::new(false),
        objects: Vec::new(),
        skipped: 0,
        errors: Vec::new(),
    };
    for doc in docs {
        let place = Document {
            file: doc.file,
            index: doc.index,
            line: doc.line,
            value: (),
        };
        let value = match doc.value {
            Content::Typed(object) => {
                parsed.index.insert(&object, namespace);
                parsed.objects.push((place, object));
                continue;
            }
            Content::Raw(value) => value,
        };
        match parsed.index.insert_value(&value, namespace) {
            Ok(Some(object)) => parsed.objects.push((place, object)),
            Ok(None) => parsed.skipped += 1,
            Err(e) => parsed.errors.push(Problem {
                file: place.file.clone(),
                line: Some(place.line),
                message: format!(
                    "document {} ({} {}): {e}",
                    place.index,
                    value.get("kind").and_then(|k| k.as_str()).unwrap_or("?"),
                    value
                        .pointer("/metadata/name")
                        .and_then(|k| k.as_str())
                        .unwrap_or("?"),
                ),
            }),
        }
    }
    parsed
}

/// The namespaces the documents live in (for `--cluster` lookups).
pub fn namespaces(parsed: &Parsed, namespace: &str) -> BTreeSet<String> {
    parsed
        .objects
        .iter()
        .map(|(_, o)| o.meta().namespace_or(namespace).to_string())
        .collect()
}

/// Evaluate every object as a CREATE by an anonymous requester.
pub fn run(
    parsed: &Parsed,
    read_errors: Vec<ReadError>,
    files: usize,
    namespace: &str,
    policy: &Policy,
    lookup: &dyn Lookup,
    strict: bool,
) -> Report {
    // Nobody in particular applies these files: break-glass (OT007) is never theirs to use.
    let requester = Requester {
        username: "offline check".to_string(),
        groups: Vec::new(),
    };
    let mut findings = Vec::new();
    let mut unresolved = Vec::new();
    for (doc, object) in &parsed.objects {
        let verdict = evaluate(
            &Review {
                operation: Operation::Create,
                namespace,
                object: Some(object),
                old_object: None,
                requester: &requester,
            },
            policy,
            lookup,
        );
        let object_ref = object.object_ref(namespace);
        for violation in verdict.violations.into_iter().chain(verdict.warnings) {
            findings.push(Finding {
                file: doc.file.clone(),
                document: doc.index,
                line: doc.line,
                object: object_ref.clone(),
                violation,
            });
        }
        for reference in verdict.unresolved {
            unresolved.push(Unresolved {
                file: doc.file.clone(),
                document: doc.index,
                line: doc.line,
                object: object_ref.clone(),
                reference,
            });
        }
    }
    let mut errors: Vec<Problem> = read_errors
        .into_iter()
        .map(|e| Problem {
            file: e.file,
            line: None,
            message: e.message,
        })
        .collect();
    errors.extend(parsed.errors.iter().cloned());
    let summary = Summary {
        files,
        objects: parsed.objects.len(),
        skipped: parsed.skipped,
        violations: findings
            .iter()
            .filter(|f| f.violation.level == Level::Deny)
            .count(),
        warnings: findings
            .iter()
            .filter(|f| f.violation.level == Level::Warn)
            .count(),
        unresolved: unresolved.len(),
    };
    let mut notes = Vec::new();
    if policy.trusted_auth_services.is_empty() {
        notes.push(NO_AUTH_SERVICE_PINNED.to_string());
    }
    Report {
        findings,
        unresolved,
        errors,
        summary,
        notes,
        strict,
    }
}

/// Said when the policy pins no auth service.
pub const NO_AUTH_SERVICE_PINNED: &str = "no auth service is pinned (the policy's trustedAuthServices is empty): a forwardAuth to any address counts as authentication";

/// The report as text: one finding per line with its hint, then a summary.
pub fn text(report: &Report, colour: bool) -> String {
    let paint = |code: &str, s: &str| {
        if colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    for e in &report.errors {
        let at = e.line.map(|l| format!(":{l}")).unwrap_or_default();
        out.push_str(&format!(
            "{}{at}: {} {}\n",
            e.file,
            paint("31", "error:"),
            e.message
        ));
    }
    for f in &report.findings {
        let v = &f.violation;
        let level = match v.level {
            Level::Deny => paint("31", "deny"),
            Level::Warn => paint("33", "warn"),
        };
        out.push_str(&format!(
            "{}:{} [doc {}] {} {level}: {} (at {})\n    hint: {}\n",
            f.file,
            f.line,
            f.document,
            v.rule,
            f.describe(),
            v.path,
            v.hint
        ));
    }
    let (label, code) = if report.strict {
        ("error", "31")
    } else {
        ("warning", "33")
    };
    for u in &report.unresolved {
        out.push_str(&format!(
            "{}:{} [doc {}] {}: {} cannot resolve {} (not in the given documents; use --cluster or add it)\n",
            u.file,
            u.line,
            u.document,
            u.object,
            paint(code, &format!("{label}:")),
            u.reference
        ));
    }
    for note in &report.notes {
        out.push_str(&format!("{} {note}\n", paint("36", "note:")));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "{} object{} checked in {} file{} ({} other document{} skipped): {} violation{}, {} warning{}, {} unresolved reference{}\n",
        s.objects,
        plural(s.objects),
        s.files,
        plural(s.files),
        s.skipped,
        plural(s.skipped),
        s.violations,
        plural(s.violations),
        s.warnings,
        plural(s.warnings),
        s.unresolved,
        plural(s.unresolved),
    ));
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

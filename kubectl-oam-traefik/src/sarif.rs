//! The `check` report as SARIF 2.1.0, for code scanning.

use oam_traefik_policy::{CATALOGUE, Level, Policy};
use serde_json::{Value, json};

use crate::check::Report;

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
const INFORMATION_URI: &str = env!("CARGO_PKG_REPOSITORY");

fn level(level: Level) -> &'static str {
    match level {
        Level::Deny => "error",
        Level::Warn => "warning",
    }
}

/// The report as one SARIF log with one run; rules come from the catalogue at the policy's levels.
pub fn log(report: &Report, policy: &Policy) -> Value {
    let rules: Vec<Value> = CATALOGUE
        .iter()
        .map(|info| {
            json!({
                "id": info.id.as_str(),
                "name": info.title,
                "shortDescription": {"text": info.rejects},
                "fullDescription": {"text": format!("Rejects {}.", info.rejects)},
                "help": {"text": info.hint},
                "defaultConfiguration": {"level": level(policy.level(info.id))},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let v = &f.violation;
            json!({
                "ruleId": v.rule.as_str(),
                "ruleIndex": v.rule as usize,
                "level": level(v.level),
                "message": {"text": format!("{} (at {}). Fix: {}", f.describe(), v.path, v.hint)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&f.file)},
                        "region": {"startLine": f.line},
                    },
                    "logicalLocations": [{
                        "fullyQualifiedName": format!("{}/{}/{}", f.object.kind, f.object.namespace, f.object.name),
                        "kind": "resource",
                    }],
                }],
                "properties": {"jsonPointer": v.path, "subject": v.subject, "document": f.document},
            })
        })
        .collect();
    let notifications: Vec<Value> = report
        .unresolved
        .iter()
        .map(|u| {
            json!({
                "level": if report.strict { "error" } else { "warning" },
                "message": {"text": format!("{}: cannot resolve {}", u.object, u.reference)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&u.file)},
                        "region": {"startLine": u.line},
                    },
                }],
            })
        })
        .chain(report.errors.iter().map(|e| {
            json!({
                "level": "error",
                "message": {"text": e.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&e.file)},
                        "region": {"startLine": e.line.unwrap_or(1)},
                    },
                }],
            })
        }))
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kubectl-oam-traefik",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

/// A relative URI for a path as given (stdin gets a name of its own).
fn uri(file: &str) -> String {
    if file == "-" {
        return "stdin".to_string();
    }
    file.trim_start_matches("./")
        .split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    b => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

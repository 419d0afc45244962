//! What `routes`, `identities`, `explain` and `rules` print.

use comfy_table::{Cell, Color};
use oam_traefik_policy::routes::{EffectiveRoute, Explanation, IdentityRoutes, Status};
use oam_traefik_policy::{CATALOGUE, Level, Policy, Violation};
use serde::Serialize;

use crate::cli::{ExplainFormat, ListFormat, RulesFormat};
use crate::table::{cell, render};

fn status_colour(status: Status) -> Color {
    match status {
        Status::Protected => Color::Green,
        Status::Public | Status::Exempt => Color::Yellow,
        Status::Unprotected | Status::Broken => Color::Red,
    }
}

fn dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or("-").to_string()
}

/// JSON with a trailing newline.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// YAML.
pub fn yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_yaml::to_string(value)?)
}

/// A kubectl-style list: `{"apiVersion": "v1", "kind": "List", "items": [...]}` would mislead
/// (these are not Kubernetes objects), so JSON and YAML print `{"items": [...]}`.
#[derive(Serialize)]
struct Items<'a, T> {
    items: &'a [T],
}

/// `routes`.
pub fn routes(
    routes: &[EffectiveRoute],
    format: ListFormat,
    no_headers: bool,
    colour: bool,
) -> anyhow::Result<String> {
    let wide = match format {
        ListFormat::Json => return json(&Items { items: routes }),
        ListFormat::Yaml => return yaml(&Items { items: routes }),
        ListFormat::Table => false,
        ListFormat::Wide => true,
    };
    let mut headers = vec![
        "NAMESPACE",
        "APP",
        "COMPONENT",
        "URL",
        "BACKEND",
        "MIDDLEWARES",
        "IDENTITY",
        "STATUS",
    ];
    if wide {
        headers.extend(["OBJECT", "REASON"]);
    }
    let rows = routes
        .iter()
        .map(|r| {
            let mut row: Vec<Cell> = vec![
                cell(&r.namespace, None),
                cell(dash(r.app.as_deref()), None),
                cell(dash(r.component.as_deref()), None),
                cell(&r.url, None),
                cell(&r.backend, None),
                cell(
                    dash(Some(
                        &r.middlewares
                            .iter()
                            .map(|m| m.name.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    )),
                    None,
                ),
                cell(
                    dash(r.identity.as_ref().map(|i| i.summary()).as_deref()),
                    None,
                ),
                cell(r.status.as_str(), colour.then(|| status_colour(r.status))),
            ];
            if wide {
                row.push(cell(format!("{}/{}", r.object.kind, r.object.name), None));
                row.push(cell(&r.reason, None));
            }
            row
        })
        .collect();
    Ok(render(&headers, rows, no_headers, colour))
}

/// `identities`.
pub fn identities(
    groups: &[IdentityRoutes],
    format: ListFormat,
    no_headers: bool,
    colour: bool,
) -> anyhow::Result<String> {
    let wide = match format {
        ListFormat::Json => return json(&Items { items: groups }),
        ListFormat::Yaml => return yaml(&Items { items: groups }),
        ListFormat::Table => false,
        ListFormat::Wide => true,
    };
    let mut headers = vec!["IDENTITY", "ROUTES", "APPS", "URLS"];
    if wide {
        headers.push("STATUSES");
    }
    let rows = groups
        .iter()
        .map(|g| {
            let mut apps: Vec<String> = g
                .routes
                .iter()
                .map(|r| format!("{}/{}", r.namespace, dash(r.app.as_deref())))
                .collect();
            apps.sort();
            apps.dedup();
            let urls: Vec<&str> = g.routes.iter().map(|r| r.url.as_str()).collect();
            let danger = !matches!(g.reach, oam_traefik_policy::routes::Reach::Identity { .. });
            let mut row = vec![
                cell(
                    g.reach.summary(),
                    (colour && danger).then_some(Color::Yellow),
                ),
                cell(g.routes.len().to_string(), None),
                cell(apps.join(","), None),
                cell(urls.join(","), None),
            ];
            if wide {
                let mut statuses: Vec<&str> = g.routes.iter().map(|r| r.status.as_str()).collect();
                statuses.sort();
                statuses.dedup();
                row.push(cell(statuses.join(","), None));
            }
            row
        })
        .collect();
    Ok(render(&headers, rows, no_headers, colour))
}

fn finding_lines(out: &mut String, indent: &str, findings: &[Violation]) {
    if findings.is_empty() {
        out.push_str(&format!("{indent}verdict: admitted, no rule fires\n"));
    }
    for v in findings {
        out.push_str(&format!(
            "{indent}{} {}: {} {} (at {})\n{indent}  hint: {}\n",
            v.rule,
            v.level.as_str(),
            v.subject,
            v.message,
            v.path,
            v.hint
        ));
    }
}

/// `explain`.
pub fn explain(e: &Explanation, format: ExplainFormat) -> anyhow::Result<String> {
    match format {
        ExplainFormat::Json => return json(e),
        ExplainFormat::Yaml => return yaml(e),
        ExplainFormat::Text => {}
    }
    let mut out = format!("Application {}/{}\n", e.app.namespace, e.app.name);
    finding_lines(&mut out, "  ", &e.findings);
    for c in &e.components {
        out.push_str(&format!("  component {}\n", c.name));
        if c.route_traits.is_empty() {
            out.push_str("    route traits: none\n");
        }
        for t in &c.route_traits {
            out.push_str(&format!("    trait {t}\n"));
        }
        match (&c.identity, &c.identity_source) {
            (Some(id), Some(source)) => out.push_str(&format!(
                "    identity {} (from {source}, enforced by Middleware {})\n",
                id.summary(),
                dash(c.identity_middleware.as_deref())
            )),
            _ => out.push_str("    identity: none declared\n"),
        }
        if c.routes.is_empty() {
            out.push_str("    route objects: none rendered (KubeVela has not applied it yet, or it exposes nothing)\n");
        }
        for r in &c.routes {
            out.push_str(&format!("    {}\n", r.object));
            for route in &r.routes {
                let mws: Vec<String> = route
                    .middlewares
                    .iter()
                    .map(|m| format!("{} ({})", m.name, m.state.as_str()))
                    .collect();
                out.push_str(&format!(
                    "      {} -> {}  middlewares: {}  reach: {}  status: {} ({})\n",
                    route.url,
                    route.backend,
                    dash(Some(&mws.join(", "))),
                    route.reach.summary(),
                    route.status,
                    route.reason
                ));
            }
            if r.routes.is_empty() {
                out.push_str("      not served by Traefik\n");
            }
            for i in &r.would_inject {
                out.push_str(&format!("      the webhook would inject {i}\n"));
            }
            finding_lines(&mut out, "      ", &r.findings);
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct RuleRow {
    id: String,
    level: Level,
    title: &'static str,
    rejects: &'static str,
    hint: &'static str,
}

/// `rules`: the catalogue at the policy's levels.
pub fn rules(
    policy: &Policy,
    format: RulesFormat,
    no_headers: bool,
    colour: bool,
) -> anyhow::Result<String> {
    let rows: Vec<RuleRow> = CATALOGUE
        .iter()
        .map(|i| RuleRow {
            id: i.id.to_string(),
            level: policy.level(i.id),
            title: i.title,
            rejects: i.rejects,
            hint: i.hint,
        })
        .collect();
    match format {
        RulesFormat::Json => json(&Items { items: &rows }),
        RulesFormat::Yaml => yaml(&Items { items: &rows }),
        RulesFormat::Table => Ok(render(
            &["ID", "LEVEL", "REJECTS", "FIX"],
            rows.iter()
                .map(|r| {
                    let c = match r.level {
                        Level::Deny => Color::Red,
                        Level::Warn => Color::Yellow,
                    };
                    vec![
                        cell(&r.id, None),
                        cell(r.level.as_str(), colour.then_some(c)),
                        cell(r.rejects, None),
                        cell(r.hint, None),
                    ]
                })
                .collect(),
            no_headers,
            colour,
        )),
    }
}

//! Manifests from files, directories and stdin: multi-document YAML, JSON, and `List`s.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One document of a manifest file.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file as given (`-` for stdin), with `/` separators.
    pub file: String,
    /// Position of the document in its file, from 0.
    pub index: usize,
    /// The line the document starts on, from 1.
    pub line: usize,
    /// The document.
    pub value: Value,
}

/// A file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ReadError {
    /// The file.
    pub file: String,
    /// What went wrong.
    pub message: String,
}

/// Read every document of `paths`; directories are walked recursively for
/// `*.yaml`, `*.yml` and `*.json`, in name order.
pub fn read_all(paths: &[PathBuf]) -> (Vec<Document>, Vec<ReadError>) {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let files = if path.as_os_str() == "-" {
            vec![path.clone()]
        } else if path.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = walk(path, &mut found) {
                errors.push(ReadError {
                    file: display(path),
                    message: e.to_string(),
                });
            }
            found
        } else {
            vec![path.clone()]
        };
        for file in files {
            match read_file(&file) {
                Ok(mut d) => docs.append(&mut d),
                Err(e) => errors.push(e),
            }
        }
    }
    (docs, errors)
}

fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Vec<Document>, ReadError> {
    let file = display(path);
    let fail = |message: String| ReadError {
        file: file.clone(),
        message,
    };
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| fail(format!("reading stdin: {e}")))?;
    } else {
        text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    }
    let values = if looks_like_json(path, &text) {
        parse_json(&text).map_err(fail)?
    } else {
        parse_yaml(&text).map_err(fail)?
    };
    let mut docs = Vec::new();
    for (line, value) in values {
        for value in flatten_list(value) {
            docs.push(Document {
                file: file.clone(),
                index: docs.len(),
                line,
                value,
            });
        }
    }
    Ok(docs)
}

fn looks_like_json(path: &Path, text: &str) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("json")
        || text.trim_start().starts_with(['{', '['])
}

/// The objects of a document as kubectl applies them: the items of a `kind: List` (or
/// `*List`), at any depth, else the document itself; empty documents vanish. Iterative, so
/// a deep nesting costs no stack.
fn flatten_list(value: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Null => {}
            Value::Array(items) => pending.extend(items.into_iter().rev()),
            Value::Object(mut map)
                if map
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && map.get("items").is_some_and(Value::is_array) =>
            {
                if let Some(Value::Array(items)) = map.remove("items") {
                    pending.extend(items.into_iter().rev());
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A stream of JSON values, each with the line it starts on.
fn parse_json(text: &str) -> Result<Vec<(usize, Value)>, String> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut start = 0;
    while let Some(next) = stream.next() {
        let value = next.map_err(|e| format!("line {}: {e}", e.line()))?;
        let skipped = text[start..].len() - text[start..].trim_start().len();
        out.push((line_of(text, start + skipped), value));
        start = stream.byte_offset();
    }
    Ok(out)
}

/// Multi-document YAML as kubectl reads it. Documents are split at the `---` and `...`
/// markers, which YAML only allows at the start of a line (content after `--- ` on the
/// marker line belongs to the new document); each is parsed by the YAML parser with merge
/// keys (`<<: *anchor`) applied, and carries the line of its first content.
fn parse_yaml(text: &str) -> Result<Vec<(usize, Value)>, String> {
    let mut out = Vec::new();
    let mut chunk = String::new();
    let mut chunk_start = 1;
    let mut first_content: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(rest) = marker(line, "---") {
            push_yaml(&chunk, chunk_start, first_content, &mut out)?;
            chunk.clear();
            chunk_start = i + 1;
            first_content = None;
            // Keep the columns: the marker becomes spaces, its remainder stays in place.
            chunk.push_str("   ");
            chunk.push_str(rest);
            chunk.push('\n');
            let t = rest.trim_start();
            if !t.is_empty() && !t.starts_with('#') {
                first_content = Some(i + 1);
            }
            continue;
        }
        if marker(line, "...").is_some() {
            push_yaml(&chunk, chunk_start, first_content, &mut out)?;
            chunk.clear();
            chunk_start = i + 2;
            first_content = None;
            continue;
        }
        let t = line.trim_start();
        if first_content.is_none() && !t.is_empty() && !t.starts_with('#') && !t.starts_with('%') {
            first_content = Some(i + 1);
        }
        chunk.push_str(line);
        chunk.push('\n');
    }
    push_yaml(&chunk, chunk_start, first_content, &mut out)?;
    Ok(out)
}

/// The rest of `line` when it is the document marker `m` (`---` or `...`).
fn marker<'a>(line: &'a str, m: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(m)?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then_some(rest)
}

fn push_yaml(
    chunk: &str,
    start: usize,
    first: Option<usize>,
    out: &mut Vec<(usize, Value)>,
) -> Result<(), String> {
    let Some(first) = first else {
        return Ok(());
    };
    let mut yaml: serde_yaml::Value =
        serde_yaml::from_str(chunk).map_err(|e| match e.location() {
            Some(l) => format!("line {}: {e}", start + l.line() - 1),
            None => e.to_string(),
        })?;
    yaml.apply_merge()
        .map_err(|e| format!("line {first}: merge key: {e}"))?;
    let value = serde_json::to_value(yaml).map_err(|e| format!("line {first}: {e}"))?;
    out.push((first, value));
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_carry_their_first_line() {
        let text = "# expect: OT001\napiVersion: v1\nkind: A\n---\n\n---\n# c\nkind: B\n";
        let docs = parse_yaml(text).expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0, 2);
        assert_eq!(docs[1].0, 8);
        assert_eq!(docs[1].1["kind"], "B");
    }

    #[test]
    fn yaml_error_names_the_line() {
        let err = parse_yaml("kind: A\n---\nkind: B\nkind: C\n").expect_err("duplicate key");
        assert!(err.starts_with("line 3"), "{err}");
    }

    #[test]
    fn a_document_may_start_on_its_marker_line() {
        let text = "kind: A\n--- {kind: Ingress, metadata: {name: x}}\n---   # comment\nkind: C\n";
        let docs = parse_yaml(text).expect("parses");
        let kinds: Vec<&str> = docs
            .iter()
            .filter_map(|(_, v)| v["kind"].as_str())
            .collect();
        assert_eq!(kinds, ["A", "Ingress", "C"]);
        assert_eq!(docs[1].0, 2);
        assert_eq!(docs[2].0, 4);
        // `----` and `---x` are content, not markers.
        assert!(parse_yaml("a: |\n  ----\n").is_ok());
    }

    #[test]
    fn merge_keys_are_applied() {
        let text =
            "base: &b {annotations: {x: \"1\"}}\nkind: Ingress\nmetadata:\n  <<: *b\n  name: web\n";
        let docs = parse_yaml(text).expect("parses");
        assert_eq!(docs[0].1["metadata"]["annotations"]["x"], "1");
        assert!(docs[0].1["metadata"].get("<<").is_none());
    }

    #[test]
    fn lists_inside_lists_are_flattened_at_any_depth() {
        let inner = serde_json::json!({"kind": "List", "items": [{"kind": "B"}, {"kind": "ConfigMapList", "items": [{"kind": "C"}]}]});
        let outer = serde_json::json!({"kind": "List", "items": [{"kind": "A"}, inner]});
        let kinds: Vec<String> = flatten_list(outer)
            .into_iter()
            .map(|v| v["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(kinds, ["A", "B", "C"]);
    }

    #[test]
    fn json_stream_and_lists() {
        let text = "{\"kind\": \"A\"}\n\n{\"kind\": \"List\", \"items\": [{\"kind\": \"B\"}, {\"kind\": \"C\"}]}";
        let docs = parse_json(text).expect("parses");
        assert_eq!(docs[1].0, 3);
        let items: Vec<Value> = docs
            .into_iter()
            .flat_map(|(_, v)| flatten_list(v))
            .collect();
        assert_eq!(items.len(), 3);
    }
}

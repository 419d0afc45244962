//! Manifests from files, directories and stdin: multi-document YAML, JSON, and `List`s.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One document of a manifest file: its place, and what the reader made of it (`T`).
#[derive(Debug, Clone)]
pub struct Document<T = Value> {
    /// The file as given (`-` for stdin), with `/` separators.
    pub file: String,
    /// Position of the document in its file, from 0.
    pub index: usize,
    /// The line the document starts on, from 1.
    pub line: usize,
    /// The document.
    pub value: T,
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
/// `*.yaml`, `*.yml` and `*.json`, in name order. Files are parsed on every core, each
/// document handed to `make` there (so that a file's values need not all live at once), and
/// the documents come back in the order of the files.
pub fn read_all<T: Send>(
    paths: &[PathBuf],
    make: impl Fn(Value) -> T + Sync,
) -> (Vec<Document<T>>, Vec<ReadError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let found_files = if path.as_os_str() == "-" {
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
        files.extend(found_files);
    }
    let mut docs = Vec::new();
    for read in read_files(&files, &make) {
        match read {
            Ok(mut d) => docs.append(&mut d),
            Err(e) => errors.push(e),
        }
    }
    (docs, errors)
}

/// The documents of one file, or why it could not be read.
type FileRead<T> = Result<Vec<Document<T>>, ReadError>;

/// `read_file` of each of `files`, in their order, spread over the available cores (each
/// worker takes the next file not yet taken).
fn read_files<T: Send>(files: &[PathBuf], make: &(impl Fn(Value) -> T + Sync)) -> Vec<FileRead<T>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    if workers <= 1 {
        return files.iter().map(|f| read_file(f, make)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, FileRead<T>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = files.get(i) else {
                            return mine;
                        };
                        mine.push((i, read_file(file, make)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
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

fn read_file<T>(path: &Path, make: &impl Fn(Value) -> T) -> FileRead<T> {
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
                value: make(value),
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
    let located = |e: serde_yaml::Error| match e.location() {
        Some(l) => format!("line {}: {e}", start + l.line() - 1),
        None => e.to_string(),
    };
    // Without a merge key (`<<`), straight into JSON values: one tree instead of two. With
    // one, through YAML's own values, where the merge is applied; so also when the plain
    // way refuses the document (a key that is no scalar, a tag), which says why.
    if !chunk.contains("<<")
        && let Ok(value) = serde::de::DeserializeSeed::deserialize(
            Strict,
            serde_yaml::Deserializer::from_str(chunk),
        )
    {
        out.push((first, value));
        return Ok(());
    }
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(chunk).map_err(located)?;
    yaml.apply_merge()
        .map_err(|e| format!("line {first}: merge key: {e}"))?;
    let value = serde_json::to_value(yaml).map_err(|e| format!("line {first}: {e}"))?;
    out.push((first, value));
    Ok(())
}

/// A JSON value read straight from YAML, refusing a key given twice in one mapping, as
/// YAML's own values do (serde_json's keep the last one silently: two readers of one
/// manifest must not see two different objects).
struct Strict;

impl<'de> serde::de::DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key {key:?}"
                )));
            }
            let value = map.next_value_seed(Strict)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
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
    fn documents_read_the_same_with_or_without_a_merge_key() {
        // Scalars of every kind, quoted and plain, integer keys, nulls, nested flows, block
        // strings: the direct reading and the one through YAML's values agree.
        let body = "kind: Ingress\nmetadata:\n  name: \"web\"\n  labels: {a: 'x', b: \"8080\", c: yes}\nspec:\n  n: 3\n  f: 1.5\n  neg: -7\n  t: true\n  z: ~\n  e: []\n  ports: {8080: http, 9090: metrics}\n  text: |\n    line one\n    line two\n  list:\n    - {name: a, port: 80}\n    - plain words here\n";
        let direct = parse_yaml(body).expect("parses");
        let merged =
            parse_yaml(&format!("{body}base: &b {{x: 1}}\nother:\n  <<: *b\n")).expect("parses");
        let mut through_yaml = merged[0].1.clone();
        let map = through_yaml.as_object_mut().expect("object");
        map.remove("base");
        map.remove("other");
        assert_eq!(direct[0].1, through_yaml);
        assert_eq!(direct[0].1["spec"]["ports"]["8080"], "http");
        assert_eq!(direct[0].1["spec"]["neg"], -7);
        assert_eq!(direct[0].1["metadata"]["labels"]["c"], "yes");
        assert!(direct[0].1["spec"]["z"].is_null());
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

//! The canonical form of JSON this tool hashes and shows: object keys sorted by their bytes at
//! every depth, no insignificant white space (or, for people, a two-space indent). The order is
//! imposed here, not inherited from `serde_json::Map`, whose order changes if any crate in the
//! build enables `serde_json/preserve_order`.

use serde_json::{Map, Value};

/// The same value with its object keys inserted in sorted order at every depth, so that it
/// serializes sorted whether or not `serde_json` preserves insertion order.
pub fn sorted_value(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(sorted_value).collect()),
        Value::Object(m) => Value::Object(sorted_object(m, false)),
        other => other.clone(),
    }
}

/// An object with its keys in sorted order; `drop_null` drops null-valued keys of this level only.
pub(crate) fn sorted_object(m: &Map<String, Value>, drop_null: bool) -> Map<String, Value> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let mut out = Map::new();
    for k in keys {
        let v = &m[k.as_str()];
        if drop_null && v.is_null() {
            continue;
        }
        out.insert(k.clone(), sorted_value(v));
    }
    out
}

/// Canonical JSON: keys sorted at every depth, no insignificant white space.
pub fn canonical_json(config: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_canonical_object(config, &mut out);
    out
}

/// Canonical JSON of any value (keys sorted at every depth, no white space).
pub fn canonical_value(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn sorted_entries(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn write_string(s: &str, out: &mut String) {
    // Serializing a str cannot fail; the fallback is never taken.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => write_canonical_object(m, out),
        Value::String(s) => write_string(s, out),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

fn write_canonical_object(m: &Map<String, Value>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in sorted_entries(m).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_canonical(v, out);
    }
    out.push('}');
}

/// Canonical JSON pretty-printed (keys sorted, two-space indent), for people and unified diffs.
pub fn pretty_json(config: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_pretty_object(config, 0, &mut out);
    out.push('\n');
    out
}

/// A value pretty-printed like [`pretty_json`], without the trailing newline.
pub fn pretty_value(v: &Value) -> String {
    let mut out = String::new();
    write_pretty(v, 0, &mut out);
    out
}

fn indent(depth: usize, out: &mut String) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_pretty(v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(depth + 1, out);
                write_pretty(item, depth + 1, out);
            }
            out.push('\n');
            indent(depth, out);
            out.push(']');
        }
        Value::Object(m) => write_pretty_object(m, depth, out),
        other => write_canonical(other, out),
    }
}

fn write_pretty_object(m: &Map<String, Value>, depth: usize, out: &mut String) {
    if m.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (i, (k, v)) in sorted_entries(m).into_iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        indent(depth + 1, out);
        write_string(k, out);
        out.push_str(": ");
        write_pretty(v, depth + 1, out);
    }
    out.push('\n');
    indent(depth, out);
    out.push('}');
}

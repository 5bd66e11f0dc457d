//! The canonical form of JSON this tool hashes and shows: object keys sorted by their bytes at
//! every depth, no insignificant white space (or, for people, a two-space indent). The order is
//! imposed here, not inherited from `serde_json::Map`, whose order changes if any crate in the
//! build enables `serde_json/preserve_order`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
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

/// The canonical JSON of a value given as JSON text: [`canonical_value`] of it parsed, made
/// without building the value. Text already canonical (as the history stores the values of
/// changes) is returned as it is, after one pass that checks it; anything else is read as its
/// members' JSON text, borrowed, and written again member by member, keys sorted.
pub fn canonical_text(json: &str) -> Cow<'_, str> {
    if canonical_len(json.as_bytes(), 0) == Some(json.len()) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    match write_canonical_text(json, &mut out) {
        Ok(()) => Cow::Owned(out),
        // Not JSON (or nested too deep to read): shown as it is, control characters made
        // visible.
        Err(_) => Cow::Owned(crate::task::text::visible(json).into_owned()),
    }
}

/// The length of the JSON value `b` begins with, if it is written exactly as
/// [`canonical_value`] would write it: no white space, object keys in strictly ascending byte
/// order, strings without escapes (so without quotes, backslashes or control characters
/// inside), integers that fit 64 bits. `None` if it is written otherwise or is not JSON. What
/// follows the value is the caller's to check. Written by hand: no JSON crate answers "is this
/// text already canonical" without building the value, which is the cost avoided here.
fn canonical_len(b: &[u8], depth: usize) -> Option<usize> {
    // As deep as serde_json reads; deeper text takes the parsing path, which refuses it.
    if depth > 127 {
        return None;
    }
    match *b.first()? {
        b'"' => {
            let end = b[1..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            (b[1 + end] == b'"').then_some(end + 2)
        }
        open @ (b'{' | b'[') => {
            let close = if open == b'{' { b'}' } else { b']' };
            if b.get(1) == Some(&close) {
                return Some(2);
            }
            let mut i = 1;
            let mut previous: Option<&[u8]> = None;
            loop {
                if open == b'{' {
                    let key_len = match b.get(i) {
                        Some(b'"') => canonical_len(&b[i..], depth + 1)?,
                        _ => return None,
                    };
                    let key = &b[i + 1..i + key_len - 1];
                    if previous.is_some_and(|p| p >= key) {
                        return None;
                    }
                    previous = Some(key);
                    i += key_len;
                    if b.get(i) != Some(&b':') {
                        return None;
                    }
                    i += 1;
                }
                i += canonical_len(&b[i..], depth + 1)?;
                match *b.get(i)? {
                    b',' => i += 1,
                    c if c == close => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b't' => b.starts_with(b"true").then_some(4),
        b'f' => b.starts_with(b"false").then_some(5),
        b'n' => b.starts_with(b"null").then_some(4),
        b'-' | b'0'..=b'9' => {
            let sign = usize::from(b[0] == b'-');
            let digits = b[sign..].iter().take_while(|c| c.is_ascii_digit()).count();
            let next = b.get(sign + digits);
            // An integer that fits 64 bits, without a leading zero; `-0` is read as a float
            // and comes back `-0.0`; a fraction or exponent is written again by serde_json.
            let integer = (1..=18).contains(&digits)
                && !(b[sign] == b'0' && (digits > 1 || sign == 1))
                && !matches!(next, Some(b'.' | b'e' | b'E'));
            integer.then_some(sign + digits)
        }
        _ => None,
    }
}

/// An object's key, borrowed from its JSON text unless it has escapes.
#[derive(PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

fn write_canonical_text(json: &str, out: &mut String) -> serde_json::Result<()> {
    let json = json.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    if canonical_len(json.as_bytes(), 0) == Some(json.len()) {
        out.push_str(json);
        return Ok(());
    }
    match json.as_bytes().first() {
        Some(b'{') => {
            // Sorted by key as `canonical_value` sorts them; a repeated key keeps its last
            // value, as a parsed `Value` does.
            let members: BTreeMap<Key<'_>, &RawValue> = serde_json::from_str(json)?;
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(&k.0, out);
                out.push(':');
                write_canonical_text(v.get(), out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(json)?;
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical_text(v.get(), out)?;
            }
            out.push(']');
        }
        // A string with escapes, or a number in another form: read and written again.
        _ => write_canonical(&serde_json::from_str::<Value>(json)?, out),
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::test_support::json_value;

    #[test]
    fn the_canonical_text_of_a_values_json_is_its_canonical_json() {
        for (text, plain) in [
            ("\"03:00:00\"", true),
            ("\"a\\u001bb\"", false),
            ("\"\\u0041\"", false),
            ("17", true),
            ("-17", true),
            ("0", true),
            ("-0", false),
            ("1.0", false),
            ("1e3", false),
            ("123456789012345678901234", false),
            ("true", true),
            ("null", true),
            ("{\"b\":1,\"a\":[2, 3]}", false),
            ("{\"a\":[2,3],\"b\":{\"c\":\"d\"}}", true),
            ("{\"a\":1,\"a\":2}", false),
            ("[1,2.5]", false),
            ("[true,false,null,\"x\",-3]", true),
            (" 1", false),
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let shown = canonical_text(text);
            assert_eq!(shown, canonical_value(&value), "{text}");
            assert_eq!(matches!(shown, Cow::Borrowed(_)), plain, "{text}");
        }
        assert_eq!(canonical_text("{\"b\":1,\"a\":2}"), "{\"a\":2,\"b\":1}");
        // Not JSON: nothing of it reaches a terminal raw, nor is it taken as canonical.
        for text in ["\"a\u{1b}b\"", "[1,]", "{\"a\"}", "tru", "\"open"] {
            assert!(!canonical_text(text).contains('\u{1b}'), "{text:?}");
            assert_eq!(
                canonical_len(text.as_bytes(), 0).filter(|n| *n == text.len()),
                None
            );
        }
        assert_eq!(canonical_value(&json!("\u{1b}")), "\"\\u001b\"");
    }

    proptest! {
        /// Whatever spelling the stored text uses (serde_json's own, pretty, or escaped more
        /// than it needs), the text shown is the value's canonical JSON.
        #[test]
        fn any_json_text_shows_as_its_values_canonical_json(value in json_value()) {
            let compact = serde_json::to_string(&value).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            let ascii = compact.chars().fold(String::new(), |mut s, c| {
                if c.is_ascii() {
                    s.push(c);
                } else {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        s.push_str(&format!("\\u{u:04x}"));
                    }
                }
                s
            });
            let want = canonical_value(&value);
            for text in [&compact, &pretty, &ascii] {
                prop_assert_eq!(canonical_text(text), want.as_str(), "{}", text);
            }
        }
    }
}

//! That every raw answer kept normalizes to the config its snapshot names, shown cheaply.
//!
//! Normalizing an answer means parsing it, which at a fleet's year of nightly answers would cost
//! more than the rest of `verify` together. Most rows are packed against a base: an earlier
//! answer of the same target and config. Each base is normalized once; a row is then shown to be
//! its base but for the values of the fields that are not configuration (`RequestId`,
//! `LastScanTime`, `ScanResult`) by comparing bytes, which changes no config. A row that differs
//! anywhere else, or in a way this comparison does not follow, is normalized itself.

use std::ops::Range;

use crate::task::answer;
use crate::task::fields;
use crate::task::normalize;

/// A base as the check uses it: the config hash it normalizes to, and where the values of its
/// fields that are not configuration lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseView {
    /// Lower-case hex; `None` when the base is not an answer (each row is then normalized
    /// itself, and fails the same way).
    pub hash: Option<String>,
    spans: Vec<Range<usize>>,
}

impl BaseView {
    /// Reads `base`: normalizes it once and finds its volatile values.
    pub fn of(base: &[u8]) -> BaseView {
        match answer::parse_any(base) {
            Ok((shape, parsed)) => {
                let depth = match shape {
                    answer::Shape::Envelope => 2,
                    answer::Shape::Bare => 1,
                };
                BaseView {
                    hash: Some(hash_of_answer(&parsed)),
                    spans: volatile_spans(base, depth),
                }
            }
            Err(_) => BaseView {
                hash: None,
                spans: Vec::new(),
            },
        }
    }

    /// The config hash `row` normalizes to when it is `base` but for volatile values; `None`
    /// when that is not shown (the row must then be normalized itself).
    pub fn hash_of<'a>(&'a self, base: &[u8], row: &[u8]) -> Option<&'a str> {
        let hash = self.hash.as_deref()?;
        same_but_volatile(base, &self.spans, row).then_some(hash)
    }
}

/// The config hash a raw answer normalizes to, or why it is not an answer.
pub(crate) fn config_hash_of(raw: &[u8]) -> Result<String, String> {
    let (_, parsed) = answer::parse_any(raw).map_err(|e| e.to_string())?;
    Ok(hash_of_answer(&parsed))
}

/// The config hash of a parsed answer.
fn hash_of_answer(parsed: &answer::Answer) -> String {
    normalize::config_hash(&normalize::normalize(&parsed.fields))
}

/// Whether `name` is a field of the answer that is not configuration.
fn is_volatile(name: &[u8]) -> bool {
    std::str::from_utf8(name).is_ok_and(|n| fields::field(n).is_some() && !fields::is_config(n))
}

/// The spans of the values of the volatile fields of the object at `depth` (1: the outer object
/// of a bare answer; 2: the envelope's `Response`), each a plain string or `null`. `json` is
/// valid JSON (it parsed). A key written with escapes is not recognized, so its value counts as
/// configuration and must match byte for byte: the check can only fall back, never pass more.
fn volatile_spans(json: &[u8], depth: usize) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut level = 0usize;
    // At `depth`, whether the next string is a key (after `{` or `,`).
    let mut key_next = false;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'{' => {
                level += 1;
                key_next = level == depth;
                i += 1;
            }
            b'[' => {
                level += 1;
                key_next = false;
                i += 1;
            }
            b'}' | b']' => {
                level = level.saturating_sub(1);
                key_next = false;
                i += 1;
            }
            b',' => {
                key_next = level == depth;
                i += 1;
            }
            b'"' => {
                let end = string_end(json, i).unwrap_or(json.len());
                if key_next && is_volatile(&json[i + 1..end - 1]) {
                    let start = skip_colon(json, end);
                    if let Some(value_end) = plain_value_end(json, start) {
                        spans.push(start..value_end);
                        i = value_end;
                        key_next = false;
                        continue;
                    }
                }
                key_next = false;
                i = end;
            }
            _ => i += 1,
        }
    }
    spans
}

/// The index just past the string that opens at `start` (a `"`), following escapes.
fn string_end(json: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Where the value after a key ending at `at` starts: past white space, the colon and white
/// space.
fn skip_colon(json: &[u8], mut at: usize) -> usize {
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    while at < json.len() && space(json[at]) {
        at += 1;
    }
    if at < json.len() && json[at] == b':' {
        at += 1;
    }
    while at < json.len() && space(json[at]) {
        at += 1;
    }
    at
}

/// The end of a value starting at `start` that the comparison follows: `null`, or a string of
/// printable ASCII with no escape. Anything else is `None`.
fn plain_value_end(json: &[u8], start: usize) -> Option<usize> {
    let rest = json.get(start..)?;
    if rest.starts_with(b"null") {
        let after = rest.get(4).copied();
        return (!after.is_some_and(|b| b.is_ascii_alphanumeric())).then_some(start + 4);
    }
    if rest.first() != Some(&b'"') {
        return None;
    }
    let len = rest[1..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b))?;
    (rest[1 + len] == b'"').then_some(start + len + 2)
}

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    // Sixteen bytes at a time: most of a row is its base's bytes.
    while i + 16 <= n && a[i..i + 16] == b[i..i + 16] {
        i += 16;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Whether `row` is `base` with some of the values at `spans` (the base's volatile values)
/// replaced by other plain values. Each difference must begin inside the next such span; the
/// row's value there must be plain too; after both values the bytes must agree again.
fn same_but_volatile(base: &[u8], spans: &[Range<usize>], row: &[u8]) -> bool {
    let (mut b, mut r) = (0usize, 0usize);
    let mut next = 0usize;
    loop {
        let p = common_prefix(&base[b..], &row[r..]);
        b += p;
        r += p;
        if b == base.len() && r == row.len() {
            return true;
        }
        let Some(k) = spans[next..]
            .iter()
            .position(|s| s.start <= b && b <= s.end)
        else {
            return false;
        };
        let span = &spans[next + k];
        // The row's value starts where the base's does: the bytes before it agreed.
        let row_start = r - (b - span.start);
        let Some(row_end) = plain_value_end(row, row_start) else {
            return false;
        };
        b = span.end;
        r = row_end;
        next += k + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &[u8] = include_bytes!("../../tests/fixtures/api/describe_seed_example.json");

    fn replace(s: &[u8], from: &str, to: &str) -> Vec<u8> {
        let text = std::str::from_utf8(s).unwrap();
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, 1).into_bytes()
    }

    fn view(base: &[u8]) -> BaseView {
        BaseView::of(base)
    }

    #[test]
    fn the_volatile_values_of_an_envelope_and_a_bare_answer_are_found() {
        let env = br#"{"Response":{"Enable":true,"LastScanTime":"2026-01-01 03:00:00","RequestId":"r-1","ScanResult":null,"X":{"RequestId":"inner"}}}"#;
        let spans = volatile_spans(env, 2);
        let values: Vec<&str> = spans
            .iter()
            .map(|s| std::str::from_utf8(&env[s.clone()]).unwrap())
            .collect();
        assert_eq!(values, ["\"2026-01-01 03:00:00\"", "\"r-1\"", "null"]);
        let bare = br#"{ "RequestId" : "r-2", "Images": [{"RequestId": "no"}], "Enable": false }"#;
        let spans = volatile_spans(bare, 1);
        assert_eq!(spans.len(), 1);
        assert_eq!(&bare[spans[0].clone()], b"\"r-2\"");
    }

    #[test]
    fn a_row_that_differs_only_in_volatile_values_has_its_base_config() {
        let v = view(SEED);
        let hash = v.hash.clone().unwrap();
        assert_eq!(config_hash_of(SEED).unwrap(), hash);
        let row = replace(
            SEED,
            "f60f0ef9-a105-4535-8dfd-42ad8b3a9c73",
            "0000-a-much-longer-request-id-than-before-0000",
        );
        assert_eq!(v.hash_of(SEED, &row), Some(hash.as_str()));
        assert_eq!(v.hash_of(SEED, SEED), Some(hash.as_str()));
    }

    #[test]
    fn a_row_that_differs_in_configuration_is_not_shown_the_same() {
        let v = view(SEED);
        let off = replace(SEED, "\"Enable\": true", "\"Enable\": false");
        assert_eq!(v.hash_of(SEED, &off), None);
        let other = config_hash_of(&off).unwrap();
        assert_ne!(Some(other), v.hash);
        // A volatile value that is no plain string, or one longer by a field smuggled into it.
        let smuggled = replace(
            SEED,
            "\"f60f0ef9-a105-4535-8dfd-42ad8b3a9c73\"",
            "\"x\", \"Enable\": false, \"Y\": \"y\"",
        );
        assert_eq!(v.hash_of(SEED, &smuggled), None);
        let escaped = replace(SEED, "f60f0ef9-a105", "f60f0ef9\\u002da105");
        assert_eq!(v.hash_of(SEED, &escaped), None);
        assert_eq!(v.hash_of(SEED, &SEED[..SEED.len() - 1]), None);
        let longer = [SEED, b" "].concat();
        assert_eq!(v.hash_of(SEED, &longer), None);
    }

    #[test]
    fn a_base_that_is_no_answer_shows_nothing() {
        let v = view(b"{\"Response\":");
        assert_eq!(v.hash, None);
        assert_eq!(v.hash_of(b"{\"Response\":", b"{\"Response\":"), None);
        assert!(config_hash_of(b"[1]").is_err());
    }

    proptest::proptest! {
        /// Whatever the volatile values are replaced with, a row the comparison accepts
        /// normalizes to its base's config.
        #[test]
        fn what_is_accepted_normalizes_to_the_base(
            a in "[ -~]{0,40}", b in "[ -~]{0,40}", c in "[ -~]{0,12}", enable: bool,
        ) {
            let json = |rid: &str, last: &str, result: &str| {
                serde_json::to_vec(&serde_json::json!({"Response": {
                    "Enable": enable, "ScanPeriod": 1, "RequestId": rid,
                    "LastScanTime": last, "ScanResult": result, "ScanType": ["vul"],
                }})).unwrap()
            };
            let base = json("base-request", "2026-01-01 00:00:00", "ok");
            let row = json(&a, &b, &c);
            let v = view(&base);
            if let Some(hash) = v.hash_of(&base, &row) {
                proptest::prop_assert_eq!(Some(hash.to_string()), config_hash_of(&row).ok());
            }
            // Plain values are always followed.
            if ![&a, &b, &c].iter().any(|s| s.contains('"') || s.contains('\\')) {
                proptest::prop_assert!(v.hash_of(&base, &row).is_some());
            }
        }
    }
}

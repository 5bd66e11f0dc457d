//! Hostile input for the answer parser (and normalize, hash and diff after it) and the WHEN parser:
//! property tests with generators that build wrong shapes on purpose, and one example per case.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tcss_audit::task::canonical::canonical_json;
use tcss_audit::task::diff::diff;
use tcss_audit::task::normalize::{config_hash, normalize};
use tcss_audit::task::when::{When, parse_instant};
use tcss_audit::tencent::model::{AnswerError, MAX_ANSWER_BYTES, parse_any, parse_envelope};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The message of a refused answer; fails the test if it was accepted.
fn refused(bytes: &[u8]) -> String {
    match parse_any(bytes) {
        Ok(_) => panic!(
            "accepted: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ),
        Err(e) => e.to_string(),
    }
}

/// Checks what must hold of every accepted answer.
fn assert_sound(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((_, answer)) = parse_any(bytes) {
        let once = normalize(&answer.fields);
        let twice = normalize(&once);
        prop_assert_eq!(canonical_json(&once), canonical_json(&twice));
        prop_assert_eq!(config_hash(&once), config_hash(&twice));
        prop_assert!(diff(&once, &once).is_empty());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// The documented fields of the task and the type each must have.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Bool,
    Str,
    Int,
    Strings,
    Ids,
}

const TYPED: [(&str, Want); 16] = [
    ("Enable", Want::Bool),
    ("ScanTime", Want::Str),
    ("ScanPeriod", Want::Int),
    ("ScanType", Want::Strings),
    ("All", Want::Bool),
    ("Id", Want::Ids),
    ("Latest", Want::Bool),
    ("ScanEndTime", Want::Str),
    ("RegistryType", Want::Strings),
    ("ContainerRunning", Want::Bool),
    ("ScanScope", Want::Int),
    ("Namespace", Want::Strings),
    ("ExcludeImageAssetIds", Want::Ids),
    ("LastScanTime", Want::Str),
    ("ScanResult", Want::Str),
    ("RequestId", Want::Str),
];

/// A value of some JSON type, never null.
fn some_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        prop::collection::vec(any::<i64>().prop_map(|n| json!(n)), 0..4).prop_map(Value::Array),
        prop::collection::vec("[a-z]{0,4}".prop_map(Value::String), 0..4).prop_map(Value::Array),
        prop::collection::vec(any::<bool>().prop_map(Value::Bool), 1..4).prop_map(Value::Array),
        Just(json!({"a": 1})),
        Just(json!([{"x": "y"}])),
    ]
}

/// Whether `v` has the type `want` (null is handled by the caller).
fn fits(want: Want, v: &Value) -> bool {
    match want {
        Want::Bool => v.is_boolean(),
        Want::Str => v.is_string(),
        Want::Int => v.is_i64(),
        Want::Strings => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Want::Ids => v.as_array().is_some_and(|a| a.iter().all(Value::is_u64)),
    }
}

/// A documented field bound to a value of the wrong type.
fn wrong_typed_field() -> impl Strategy<Value = (String, Value)> {
    (prop::sample::select(TYPED.to_vec()), some_value())
        .prop_filter("a value of the right type", |((_, want), v)| {
            !fits(*want, v)
        })
        .prop_map(|((name, _), v)| (name.to_string(), v))
}

/// A plausible value for a documented field.
fn right_value(want: Want) -> BoxedStrategy<Value> {
    match want {
        Want::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Want::Str => "[0-9:a-z]{0,8}".prop_map(Value::String).boxed(),
        Want::Int => (0i64..30).prop_map(|n| json!(n)).boxed(),
        Want::Strings => prop::collection::vec(
            prop::sample::select(vec!["vul", "VUL", "risk", "tcr"]),
            0..4,
        )
        .prop_map(|v| json!(v))
        .boxed(),
        Want::Ids => prop::collection::vec(0u64..9, 0..4)
            .prop_map(|v| json!(v))
            .boxed(),
    }
}

/// An answer whose documented fields all have the right type, plus unknown fields of any shape.
fn good_answer() -> impl Strategy<Value = Map<String, Value>> {
    let fields =
        TYPED.map(|(name, want)| prop::option::of(right_value(want)).prop_map(move |v| (name, v)));
    (
        fields.to_vec(),
        prop::collection::btree_map("[A-Z][a-z]{0,5}", some_value(), 0..3),
    )
        .prop_map(|(known, extra)| {
            // An extra key may spell a documented field (`Id`); it must not stand for one.
            let mut m: Map<String, Value> = extra
                .into_iter()
                .filter(|(k, _)| tcss_audit::task::fields::field(k).is_none())
                .collect();
            for (name, v) in known {
                if let Some(v) = v {
                    m.insert(name.to_string(), v);
                }
            }
            m.remove("Error");
            m.remove("Images");
            m
        })
}

/// `depth` levels of nested arrays around `inner`.
fn nested(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A JSON object text with `key` given twice, at the top, in `Response`, in an image or deeper.
fn with_duplicate(place: u8, key: &str) -> String {
    let k = serde_json::to_string(key).unwrap();
    match place % 4 {
        0 => format!(r#"{{{k}:1,"Enable":true,{k}:2}}"#),
        1 => format!(r#"{{"Response":{{{k}:"a",{k}:"a","RequestId":"r"}}}}"#),
        2 => format!(r#"{{"Response":{{"Images":[{{{k}:"x","ImageTag":"v1",{k}:"y"}}]}}}}"#),
        _ => format!(r#"{{"Response":{{"NewKnob":[{{"a":{{{k}:null,{k}:null}}}}]}}}}"#),
    }
}

// ---------------------------------------------------------------------------------------------
// The answer parser
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn a_documented_field_of_the_wrong_type_is_an_error_naming_it(
        base in good_answer(),
        (name, value) in wrong_typed_field(),
        envelope in any::<bool>(),
    ) {
        let mut inner = base;
        inner.insert(name.clone(), value);
        let text = if envelope {
            json!({"Response": inner}).to_string()
        } else {
            Value::Object(inner).to_string()
        };
        let message = refused(text.as_bytes());
        prop_assert!(message.contains(&format!("field {name} should be")), "{}", message);
        prop_assert!(message.len() < 200, "the message quotes too much: {}", message);
    }

    #[test]
    fn an_image_with_a_field_of_the_wrong_type_is_an_error_naming_it(
        field in prop::sample::select(tcss_audit::task::fields::IMAGE_FIELDS.to_vec()),
        value in some_value().prop_filter("a string", |v| !v.is_string()),
        at in 0usize..3,
    ) {
        let mut images = vec![json!({"ImageRepoAddress": "reg/a:1"}); 3];
        images[at] = json!({ field: value });
        let text = json!({"Response": {"Images": images}}).to_string();
        let message = refused(text.as_bytes());
        prop_assert!(message.contains(&format!("Images[{at}].{field} should be a string")), "{}", message);
    }

    #[test]
    fn well_typed_answers_are_accepted_and_normalize_soundly(m in good_answer()) {
        let text = json!({"Response": m}).to_string();
        prop_assert!(parse_envelope(text.as_bytes()).is_ok(), "{}", text);
        assert_sound(text.as_bytes())?;
    }

    #[test]
    fn nesting_past_the_limit_is_refused_at_any_depth(depth in 33usize..20_000, in_field in any::<bool>()) {
        let text = if in_field {
            format!(r#"{{"Response":{{"NewKnob":{}}}}}"#, nested(depth, "1"))
        } else {
            nested(depth, "")
        };
        let message = refused(text.as_bytes());
        prop_assert!(message.contains("nests deeper than 32 levels"), "{}", message);
    }

    #[test]
    fn brackets_inside_strings_do_not_count_as_nesting(n in 0usize..2_000, escaped in any::<bool>()) {
        let quote = if escaped { "\\\"" } else { "" };
        let text = format!(
            r#"{{"Response":{{"NewKnob":"{quote}{}{quote}","Enable":true}}}}"#,
            "[{".repeat(n)
        );
        prop_assert!(parse_any(text.as_bytes()).is_ok());
        assert_sound(text.as_bytes())?;
    }

    #[test]
    fn duplicate_keys_are_an_error_naming_the_key(place in any::<u8>(), key in "[A-Za-z]{1,12}") {
        let text = with_duplicate(place, &key);
        let message = refused(text.as_bytes());
        prop_assert!(message.contains(&format!("duplicate key {key:?}")), "{}", message);
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic(
        prefix in "\\PC{0,20}",
        bad in prop::sample::select(vec![
            vec![0xff], vec![0xc0, 0x80], vec![0xed, 0xa0, 0x80], vec![0xe2, 0x82],
            vec![0xf4, 0x90, 0x80, 0x80], vec![0x80],
        ]),
        inside_string in any::<bool>(),
    ) {
        let mut bytes = br#"{"Response":{"ScanTime":""#.to_vec();
        if !inside_string {
            bytes.clear();
        }
        bytes.extend_from_slice(prefix.as_bytes());
        bytes.extend_from_slice(&bad);
        bytes.extend_from_slice(br#""}}"#);
        let message = refused(&bytes);
        prop_assert!(message.contains("not UTF-8"), "{}", message);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        assert_sound(&bytes)?;
    }

    #[test]
    fn mutated_answers_never_panic(
        base in good_answer(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = json!({"Response": base}).to_string().into_bytes();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => bytes[i] = byte,
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        assert_sound(&bytes)?;
    }
}

proptest! {
    // Each case parses a megabyte or so in a debug build; a few cases cover it.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn huge_strings_are_kept_and_quoted_briefly(len in 10_000usize..300_000, c in "\\PC") {
        let huge: String = c.repeat(len / c.len() + 1);
        let ok = json!({"Response": {"NewKnob": huge, "ScanTime": huge}}).to_string();
        prop_assert!(parse_any(ok.as_bytes()).is_ok());
        assert_sound(ok.as_bytes())?;
        let bad = json!({"Response": {"Enable": huge}}).to_string();
        let message = refused(bad.as_bytes());
        prop_assert!(message.contains("field Enable should be"));
        prop_assert!(message.len() < 200, "{} bytes of message", message.len());
    }
}

#[test]
fn example_enable_yes_names_the_field() {
    let message = refused(br#"{"Response":{"Enable":"yes","RequestId":"r"}}"#);
    assert!(
        message.contains("field Enable should be true or false, found \"yes\""),
        "{message}"
    );
}

#[test]
fn example_deep_nesting_is_refused_without_overflowing_the_stack() {
    // Far past serde_json's own limit and deep enough to overflow a recursive walk.
    for text in [
        nested(1_000_000, ""),
        format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)),
        format!(r#"{{"Response":{{"NewKnob":{}}}}}"#, nested(1_000, "null")),
    ] {
        let message = refused(text.as_bytes());
        assert!(message.contains("nests deeper than 32 levels"), "{message}");
    }
    // Exactly at the limit is fine.
    let ok = format!(r#"{{"Response":{{"NewKnob":{}}}}}"#, nested(30, "1"));
    assert!(parse_any(ok.as_bytes()).is_ok());
}

#[test]
fn example_huge_string_is_kept_and_an_oversized_answer_refused() {
    let huge = "x".repeat(MAX_ANSWER_BYTES - 100);
    let text = json!({"Response": {"NewKnob": huge}}).to_string();
    let (_, answer) = parse_any(text.as_bytes()).unwrap();
    assert_eq!(
        normalize(&answer.fields)["NewKnob"].as_str().unwrap().len(),
        huge.len()
    );
    let too_big = json!({"Response": {"NewKnob": "x".repeat(MAX_ANSWER_BYTES)}}).to_string();
    let message = refused(too_big.as_bytes());
    assert!(
        message.contains("more than the 4194304 accepted"),
        "{message}"
    );
}

#[test]
fn example_invalid_utf8_is_refused_with_its_offset() {
    let message = refused(b"{\"Response\":{\"ScanTime\":\"03:00\xff\"}}");
    assert_eq!(message, "the answer is not UTF-8 (at byte 30)");
    // A lone byte-order mark is allowed; a broken one is not.
    assert!(parse_any(b"\xef\xbb\xbf{\"Enable\":true}").is_ok());
    assert!(refused(b"\xef\xbb{\"Enable\":true}").contains("not UTF-8"));
}

#[test]
fn example_duplicate_keys_are_refused_wherever_they_are() {
    for text in [
        r#"{"Response":{"Enable":true,"Enable":false}}"#,
        r#"{"Response":{},"Response":{}}"#,
        r#"{"Response":{"Images":[{"ImageTag":"a","ImageTag":"a"}]}}"#,
    ] {
        let message = refused(text.as_bytes());
        assert!(message.contains("duplicate key"), "{text}: {message}");
    }
}

#[test]
fn example_wrong_shapes_of_images_and_response() {
    let cases: [(&str, &str); 4] = [
        (
            r#"{"Response":{"Images":"all"}}"#,
            "field Images should be a list of images",
        ),
        (
            r#"{"Response":{"Images":[7]}}"#,
            "Images[0] should be an object",
        ),
        (
            r#"{"Response":[]}"#,
            "\"Response\" is a JSON array, not an object",
        ),
        (r#""Response""#, "a JSON string, not an object"),
    ];
    for (text, want) in cases {
        let message = refused(text.as_bytes());
        assert!(message.contains(want), "{text}: {message}");
    }
    assert!(matches!(
        parse_any(br#"{"Response":{"Error":{"Code":5}}}"#),
        Err(AnswerError::Api(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// The WHEN parser
// ---------------------------------------------------------------------------------------------

const FORMS: [&str; 5] = ["latest", "snapshot id", "date", "RFC 3339", "age"];

fn zone() -> impl Strategy<Value = Tz> {
    prop::sample::select(vec![
        Tz::UTC,
        Tz::Asia__Shanghai,
        Tz::America__St_Johns,
        Tz::Pacific__Apia,
        Tz::America__Sao_Paulo,
        Tz::Pacific__Kiritimati,
    ])
}

/// Text near the accepted forms: ages with odd units and sizes, dates and times with junk,
/// non-ASCII characters where bytes are counted.
fn when_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "[0-9]{1,25}[a-zA-Zµ ]{0,6}",
        "[0-9]{1,12}(ns|us|ms|s|m|h|d|w|M|y|years|months)( [0-9]{1,6}[a-z]{1,3}){0,4}",
        "[+-]?[0-9]{4,6}-[0-9]{2}-[0-9]{2}[T ]?[0-9:.]{0,12}(Z|[+-][0-9]{2}:[0-9]{2})?",
        "[0-9]{9}[é€𝄞][a-z]{0,3}",
        "[0-9-]{8,11}[^0-9]{1,4}",
        "(latest|LATEST|Latest) ?",
        " {0,70}[0-9]d",
    ]
}

proptest! {
    #[test]
    fn when_never_panics_and_every_error_names_the_forms(text in when_text(), tz in zone()) {
        match When::parse(&text, now()) {
            Err(e) => {
                let message = e.to_string();
                for form in FORMS {
                    prop_assert!(message.contains(form), "{} lacks {}", message, form);
                }
                prop_assert!(parse_instant(&text, now(), tz).is_err());
            }
            Ok(when) => {
                let is_rfc3339 = DateTime::parse_from_rfc3339(text.trim()).is_ok();
                if let When::Instant(at) = when && !is_rfc3339 {
                    prop_assert!(at <= now(), "{:?} is in the future", text);
                    prop_assert!(now() - at <= Duration::days(365 * 1000), "{:?}", text);
                }
                if let (Some(lower), Some(upper)) = (when.lower_instant(tz), when.upper_instant(tz)) {
                    prop_assert!(lower <= upper, "{:?} in {}: {} > {}", text, tz, lower, upper);
                }
                let _ = parse_instant(&text, now(), tz);
            }
        }
    }
}

#[test]
fn example_when_multibyte_character_at_byte_ten_is_an_error() {
    for text in ["123456789é", "2026-11-2€x", "123456789𝄞"] {
        let e = When::parse(text, now()).unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{text}: {e}");
    }
}

#[test]
fn example_when_huge_ages_and_ids_are_errors() {
    for text in [
        "99999999999999999999999",
        "1000000y",
        "18446744073709551615s",
        "99999999999999999999d",
        "365001d",
    ] {
        let e = When::parse(text, now()).unwrap_err();
        assert!(e.to_string().contains("latest"), "{text}: {e}");
    }
    let far = When::parse("365000d", now()).unwrap();
    assert_eq!(far, When::Instant(now() - Duration::days(365_000)));
}

#[test]
fn example_when_extreme_dates_do_not_panic() {
    for text in ["+262143-12-31", "-262143-01-01", "0000-01-01", "9999-12-31"] {
        if let Ok(when) = When::parse(text, now()) {
            for tz in [Tz::UTC, Tz::Asia__Shanghai, Tz::Etc__GMTPlus12] {
                let (lower, upper) = (when.lower_instant(tz), when.upper_instant(tz));
                if let (Some(lower), Some(upper)) = (lower, upper) {
                    assert!(lower <= upper, "{text} in {tz}: {lower} > {upper}");
                }
            }
        }
    }
}

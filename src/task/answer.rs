//! The answer model: Tencent's envelope, its error form, and the answer's fields checked against
//! the catalogue of `task::fields` (whatever else the answer holds is kept as it came).

use serde_json::{Map, Value};

use crate::task::fields::{self, Elem, Type};
use crate::task::text::visible;

/// Tencent's error envelope: `{"Response":{"Error":{"Code","Message"},"RequestId"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

/// A successful answer: the inner object (the envelope's `Response`) as it came, every field
/// kept, its documented fields checked against the catalogue's types.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub fields: Map<String, Value>,
}

impl Answer {
    pub fn request_id(&self) -> Option<&str> {
        self.fields
            .get(crate::task::fields::REQUEST_ID)
            .and_then(Value::as_str)
    }
}

/// Why bytes are not an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("{0}")]
    Malformed(String),
    #[error("{}: {} (RequestId {})", .0.code, .0.message, .0.request_id)]
    Api(ApiError),
}

pub use crate::task::fields::MAX_ANSWER_BYTES;

/// How deep JSON may nest. The real answer is three levels deep.
const MAX_DEPTH: usize = 32;

/// The shapes an answer may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"Response": {...}}`, as the API sends it.
    Envelope,
    /// The inner object alone, as tccli prints it or as saved by hand.
    Bare,
}

/// Parses an answer as the API sends it: `{"Response": {...}}` only.
pub fn parse_envelope(bytes: &[u8]) -> Result<Answer, AnswerError> {
    let (shape, answer) = parse_any(bytes)?;
    if shape != Shape::Envelope {
        return Err(AnswerError::Malformed(
            "the answer has no \"Response\" object".into(),
        ));
    }
    Ok(answer)
}

/// Parses a saved answer in any of its shapes: the envelope, or the bare inner object (which is
/// also what tccli prints).
pub fn parse_any(bytes: &[u8]) -> Result<(Shape, Answer), AnswerError> {
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(AnswerError::Malformed(format!(
            "the answer is {} bytes, more than the {} accepted",
            bytes.len(),
            MAX_ANSWER_BYTES
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        AnswerError::Malformed(format!(
            "the answer is not UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_depth(text)?;
    let value: Value = parse_json_strict(text)?;
    let Value::Object(mut outer) = value else {
        return Err(AnswerError::Malformed(format!(
            "the answer is a JSON {}, not an object",
            kind_of(&value)
        )));
    };
    let (shape, inner) = match outer.remove("Response") {
        Some(Value::Object(inner)) if outer.is_empty() => (Shape::Envelope, inner),
        Some(other) if outer.is_empty() => {
            return Err(AnswerError::Malformed(format!(
                "\"Response\" is a JSON {}, not an object",
                kind_of(&other)
            )));
        }
        Some(v) => {
            // A bare object that happens to have a field named Response: put it back.
            outer.insert("Response".into(), v);
            (Shape::Bare, outer)
        }
        None => (Shape::Bare, outer),
    };
    if let Some(error) = inner.get("Error") {
        return Err(AnswerError::Api(api_error(error, &inner)));
    }
    check_types(&inner)?;
    Ok((shape, Answer { fields: inner }))
}

/// The error envelope's parts, their control characters escaped where they enter: they are
/// the server's words, and reach terminals, logs and reports.
fn api_error(error: &Value, inner: &Map<String, Value>) -> ApiError {
    let get = |v: Option<&Value>| visible(v.and_then(Value::as_str).unwrap_or("")).into_owned();
    ApiError {
        code: match get(error.get("Code")) {
            c if c.is_empty() => "(no code)".into(),
            c => c,
        },
        message: get(error.get("Message")),
        request_id: match get(inner.get(crate::task::fields::REQUEST_ID)) {
            r if r.is_empty() => "(none)".into(),
            r => r,
        },
    }
}

/// What a field of `ty` must be, as the message about a wrong one says it.
fn expected(ty: Type) -> &'static str {
    match ty {
        Type::Bool => "true or false",
        Type::Int => "an integer",
        Type::Text | Type::TimeOfDay | Type::DateTime => "a string",
        Type::List(Elem::Text) => "a list of strings",
        Type::List(Elem::Int) => "a list of non-negative integers",
        Type::List(Elem::Object) => "a list of images",
        Type::Any => "any value",
    }
}

fn fits(ty: Type, v: &Value) -> bool {
    match ty {
        Type::Bool => v.is_boolean(),
        Type::Int => v.is_i64(),
        Type::Text | Type::TimeOfDay | Type::DateTime => v.is_string(),
        Type::List(Elem::Text) => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Type::List(Elem::Int) => v.as_array().is_some_and(|a| a.iter().all(Value::is_u64)),
        Type::List(Elem::Object) => v.is_array(),
        Type::Any => true,
    }
}

/// Checks every documented field's type (and each image's), naming the field that is wrong.
/// Nothing is copied: the answer is kept as the JSON it came as.
fn check_types(inner: &Map<String, Value>) -> Result<(), AnswerError> {
    for f in &fields::FIELDS {
        let Some(v) = inner.get(f.name).filter(|v| !v.is_null()) else {
            continue;
        };
        if !fits(f.ty, v) {
            return Err(AnswerError::Malformed(format!(
                "field {} should be {}, found {}",
                f.name,
                expected(f.ty),
                preview(v)
            )));
        }
    }
    let Some(Value::Array(images)) = inner.get(fields::IMAGES) else {
        return Ok(());
    };
    for (i, item) in images.iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(AnswerError::Malformed(format!(
                "Images[{i}] should be an object, found {}",
                preview(item)
            )));
        };
        for (k, v) in obj {
            if fields::IMAGE_FIELDS.contains(&k.as_str()) && !(v.is_string() || v.is_null()) {
                return Err(AnswerError::Malformed(format!(
                    "Images[{i}].{k} should be a string, found {}",
                    preview(v)
                )));
            }
        }
    }
    Ok(())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn preview(v: &Value) -> String {
    let text = visible(&v.to_string()).into_owned();
    if text.len() > 40 {
        format!("{}…", &text[..text.floor_char_boundary(40)])
    } else {
        text
    }
}

/// Refuses nesting deeper than [`MAX_DEPTH`] before parsing, so a hostile answer cannot exhaust
/// the stack (serde_json's own limit is 128, far beyond any real answer).
fn check_depth(text: &str) -> Result<(), AnswerError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(AnswerError::Malformed(format!(
                        "the answer nests deeper than {MAX_DEPTH} levels"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses JSON, refusing duplicate keys: with two values for one field, which one the API meant
/// cannot be known, and silently keeping the last would hide it.
fn parse_json_strict(text: &str) -> Result<Value, AnswerError> {
    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

    struct Strict;
    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = Value;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(StrictVisitor)
        }
    }
    struct StrictVisitor;
    impl<'de> Visitor<'de> for StrictVisitor {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
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
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element_seed(Strict)? {
                out.push(v);
            }
            Ok(Value::Array(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value_seed(Strict)?;
                if out.contains_key(&key) {
                    return Err(de::Error::custom(format!("duplicate key {key:?}")));
                }
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| AnswerError::Malformed(format!("not valid JSON: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../tests/fixtures/api/describe_seed_example.json");

    #[test]
    fn the_reference_example_parses_with_every_field() {
        let answer = parse_envelope(SEED.as_bytes()).unwrap();
        assert_eq!(answer.fields["Enable"], serde_json::json!(true));
        assert_eq!(answer.fields["All"], serde_json::json!(false));
        assert_eq!(
            answer.fields["ScanType"],
            serde_json::json!(["risk", "virus"])
        );
        assert_eq!(
            answer.request_id(),
            Some("f60f0ef9-a105-4535-8dfd-42ad8b3a9c73")
        );
        assert_eq!(
            answer.fields["Images"][0]["ImageTag"],
            serde_json::json!("v1")
        );
        assert!(
            answer.fields.keys().all(|k| fields::field(k).is_some()),
            "every field of the reference answer is in the catalogue"
        );
    }

    #[test]
    fn unknown_fields_are_kept() {
        let answer =
            parse_envelope(br#"{"Response":{"Enable":true,"NewKnob":{"a":1},"RequestId":"r"}}"#)
                .unwrap();
        assert_eq!(answer.fields["NewKnob"], serde_json::json!({"a": 1}));
    }

    #[test]
    fn the_error_envelope_becomes_an_api_error() {
        let e = parse_envelope(
            br#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad"},"RequestId":"abc"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            AnswerError::Api(ApiError {
                code: "AuthFailure.SignatureFailure".into(),
                message: "bad".into(),
                request_id: "abc".into()
            })
        );
    }

    #[test]
    fn the_servers_words_in_an_error_cannot_forge_a_line() {
        let e = parse_envelope(
            b"{\"Response\":{\"Error\":{\"Code\":\"X\\u001b[2J\",\"Message\":\"bad\\nprod  #9  2026  unchanged\"},\"RequestId\":\"r\\r\"}}",
        )
        .unwrap_err()
        .to_string();
        assert!(
            !e.contains('\n') && !e.contains('\r') && !e.contains('\u{1b}'),
            "{e:?}"
        );
        assert!(e.contains("bad\\nprod  #9"), "{e}");
    }

    #[test]
    fn bare_and_tccli_shapes_are_accepted() {
        let (shape, a) =
            parse_any(b"{\n  \"Enable\": false,\n  \"RequestId\": \"x\"\n}\n").unwrap();
        assert_eq!(shape, Shape::Bare);
        assert_eq!(a.fields["Enable"], serde_json::json!(false));
        assert!(parse_envelope(br#"{"Enable":false}"#).is_err());
    }

    #[test]
    fn hostile_answers_are_refused_with_the_reason() {
        let cases: [(&[u8], &str); 8] = [
            (b"<html>502</html>", "not valid JSON"),
            (br#"{"Response":{"Enable":true"#, "not valid JSON"),
            (
                br#"{"Response":{"Enable":"yes"}}"#,
                "Enable should be true or false",
            ),
            (br#"{"Response":{"Id":[-1]}}"#, "Id should be"),
            (
                br#"{"Response":{"Images":[{"ImageTag":5}]}}"#,
                "Images[0].ImageTag should be a string",
            ),
            (
                br#"{"Response":{"Enable":true,"Enable":false}}"#,
                "duplicate key",
            ),
            (b"{\"Response\":{\"ScanTime\":\"\xff\"}}", "not UTF-8"),
            (br#"[1,2]"#, "not an object"),
        ];
        for (bytes, want) in cases {
            let e = parse_any(bytes).unwrap_err().to_string();
            assert!(e.contains(want), "{}: {e}", String::from_utf8_lossy(bytes));
        }
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(
            parse_any(deep.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("nests deeper")
        );
        let huge = vec![b' '; MAX_ANSWER_BYTES + 1];
        assert!(parse_any(&huge).unwrap_err().to_string().contains("bytes"));
    }
}

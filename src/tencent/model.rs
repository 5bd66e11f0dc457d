//! The answer model: Tencent's envelope, its error form, and the task's documented fields (with
//! whatever else the answer holds kept as it came).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One image chosen for scanning. Every field is a string in the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInfo {
    pub instance_name: Option<String>,
    pub namespace: Option<String>,
    pub image_name: Option<String>,
    pub image_tag: Option<String>,
    pub force: Option<String>,
    pub image_digest: Option<String>,
    pub registry_type: Option<String>,
    pub image_repo_address: Option<String>,
    pub instance_id: Option<String>,
    /// Fields the API may add to an image later.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The scheduled scan task as `DescribeImageRegistryTimingScanTask` returns it. Any field may be
/// missing or null; fields this model does not name are kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScanTask {
    pub enable: Option<bool>,
    pub scan_time: Option<String>,
    pub scan_period: Option<i64>,
    pub scan_type: Option<Vec<String>>,
    pub all: Option<bool>,
    pub images: Option<Vec<ImageInfo>>,
    pub id: Option<Vec<u64>>,
    pub latest: Option<bool>,
    pub scan_end_time: Option<String>,
    pub registry_type: Option<Vec<String>>,
    pub container_running: Option<bool>,
    pub scan_scope: Option<i64>,
    pub namespace: Option<Vec<String>>,
    pub exclude_image_asset_ids: Option<Vec<u64>>,
    pub last_scan_time: Option<String>,
    pub scan_result: Option<String>,
    pub request_id: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Tencent's error envelope: `{"Response":{"Error":{"Code","Message"},"RequestId"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

/// A successful answer: the inner object (the envelope's `Response`) as it came, and the typed task.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The inner object, every field kept.
    pub fields: Map<String, Value>,
    pub task: ScanTask,
}

impl Answer {
    pub fn request_id(&self) -> Option<&str> {
        self.task.request_id.as_deref()
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

/// The largest answer accepted. The real one is a few kilobytes; a cap keeps a hostile or broken
/// endpoint from exhausting memory.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

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
    let task = typed(&inner)?;
    Ok((
        shape,
        Answer {
            fields: inner,
            task,
        },
    ))
}

fn api_error(error: &Value, inner: &Map<String, Value>) -> ApiError {
    let get = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    ApiError {
        code: match get(error.get("Code")) {
            c if c.is_empty() => "(no code)".into(),
            c => c,
        },
        message: get(error.get("Message")),
        request_id: match get(inner.get("RequestId")) {
            r if r.is_empty() => "(none)".into(),
            r => r,
        },
    }
}

/// Checks every documented field's type, naming the field that is wrong.
fn typed(inner: &Map<String, Value>) -> Result<ScanTask, AnswerError> {
    fn field<T: serde::de::DeserializeOwned>(
        inner: &Map<String, Value>,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, AnswerError> {
        match inner.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value::<T>(v.clone())
                .map(Some)
                .map_err(|_| {
                    AnswerError::Malformed(format!(
                        "field {name} should be {expected}, found {}",
                        preview(v)
                    ))
                }),
        }
    }
    let images: Option<Vec<ImageInfo>> = match inner.get("Images") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Value::Object(obj) = item else {
                    return Err(AnswerError::Malformed(format!(
                        "Images[{i}] should be an object, found {}",
                        preview(item)
                    )));
                };
                for (k, v) in obj {
                    if IMAGE_FIELDS.contains(&k.as_str()) && !(v.is_string() || v.is_null()) {
                        return Err(AnswerError::Malformed(format!(
                            "Images[{i}].{k} should be a string, found {}",
                            preview(v)
                        )));
                    }
                }
                out.push(
                    serde_json::from_value(item.clone())
                        .map_err(|e| AnswerError::Malformed(format!("Images[{i}]: {e}")))?,
                );
            }
            Some(out)
        }
        Some(v) => {
            return Err(AnswerError::Malformed(format!(
                "field Images should be a list of images, found {}",
                preview(v)
            )));
        }
    };
    let extra = inner
        .iter()
        .filter(|(k, _)| !is_task_field(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ScanTask {
        enable: field(inner, "Enable", "true or false")?,
        scan_time: field(inner, "ScanTime", "a string")?,
        scan_period: field(inner, "ScanPeriod", "an integer")?,
        scan_type: field(inner, "ScanType", "a list of strings")?,
        all: field(inner, "All", "true or false")?,
        images,
        id: field(inner, "Id", "a list of non-negative integers")?,
        latest: field(inner, "Latest", "true or false")?,
        scan_end_time: field(inner, "ScanEndTime", "a string")?,
        registry_type: field(inner, "RegistryType", "a list of strings")?,
        container_running: field(inner, "ContainerRunning", "true or false")?,
        scan_scope: field(inner, "ScanScope", "an integer")?,
        namespace: field(inner, "Namespace", "a list of strings")?,
        exclude_image_asset_ids: field(
            inner,
            "ExcludeImageAssetIds",
            "a list of non-negative integers",
        )?,
        last_scan_time: field(inner, "LastScanTime", "a string")?,
        scan_result: field(inner, "ScanResult", "a string")?,
        request_id: field(inner, "RequestId", "a string")?,
        extra,
    })
}

/// Whether a field of the answer is documented: configuration, status, or the RequestId.
fn is_task_field(name: &str) -> bool {
    crate::normalize::KNOWN_FIELDS.contains(&name)
        || crate::normalize::STATUS_FIELDS.contains(&name)
        || name == "RequestId"
}

/// The documented fields of an image.
pub const IMAGE_FIELDS: [&str; 9] = [
    "InstanceName",
    "Namespace",
    "ImageName",
    "ImageTag",
    "Force",
    "ImageDigest",
    "RegistryType",
    "ImageRepoAddress",
    "InstanceId",
];

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
    let text = v.to_string();
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
        assert_eq!(answer.task.enable, Some(true));
        assert_eq!(answer.task.all, Some(false));
        assert_eq!(
            answer.task.scan_type.as_deref(),
            Some(&["risk".to_string(), "virus".to_string()][..])
        );
        assert_eq!(
            answer.request_id(),
            Some("f60f0ef9-a105-4535-8dfd-42ad8b3a9c73")
        );
        let images = answer.task.images.as_ref().unwrap();
        assert_eq!(images[0].image_tag.as_deref(), Some("v1"));
        assert!(answer.fields.contains_key("All"));
        assert!(answer.task.extra.is_empty());
    }

    #[test]
    fn unknown_fields_are_kept() {
        let answer =
            parse_envelope(br#"{"Response":{"Enable":true,"NewKnob":{"a":1},"RequestId":"r"}}"#)
                .unwrap();
        assert_eq!(answer.task.extra["NewKnob"], serde_json::json!({"a": 1}));
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
    fn bare_and_tccli_shapes_are_accepted() {
        let (shape, a) =
            parse_any(b"{\n  \"Enable\": false,\n  \"RequestId\": \"x\"\n}\n").unwrap();
        assert_eq!(shape, Shape::Bare);
        assert_eq!(a.task.enable, Some(false));
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

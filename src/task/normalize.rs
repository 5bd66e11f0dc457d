//! The one place that decides what "the same config" means.
//!
//! [`normalize`] turns the inner object of an answer (`Response` less the envelope) into a
//! [`Config`]; two answers describe the same configuration exactly when their configs have the same
//! [`config_hash`]. The rules, each with its own test below:
//!
//! 1. `RequestId` and the status fields `LastScanTime` and `ScanResult` ([`fields::Role`]) are not
//!    configuration and are dropped; [`status_of`] reads the status fields instead.
//! 2. `null` and missing are the same: a key whose value is `null` is dropped, at the top level and
//!    inside each object of `Images`. `null` elements of `Images` and of the set-like arrays are
//!    dropped too, since they name nothing.
//! 3. Set-like arrays (`ScanType`, `RegistryType`, `Namespace`, `Id`, `ExcludeImageAssetIds`):
//!    order and duplicates do not matter. Elements are sorted and exact duplicates removed.
//!    Elements sort by type first (booleans, numbers, strings, arrays, objects), strings by their
//!    bytes, numbers by exact numeric value (ties, such as `1` and `1.0`, by their JSON text), and
//!    anything else by its canonical JSON text, so that elements of a wrong type never panic.
//! 4. `ScanType` and `RegistryType` compare case-insensitively: their string elements are
//!    lower-cased (before sorting and removing duplicates, so `VUL` and `vul` are one element).
//! 5. An empty set-like array or an empty `Images` equals a missing one: the key is dropped.
//! 6. `Images` are matched by [`image_key`]: `ImageRepoAddress` when it is a non-empty string, else
//!    `InstanceId/ImageName:ImageTag`. Images are sorted by key (then by canonical JSON text) and
//!    exact duplicates (identical after rule 2) are dropped. Two *different* images that share a key
//!    are both kept: dropping either would hide a difference from the hash, and keeping "the
//!    first" would make the config depend on the order of the answer. Elements of `Images` that
//!    are not objects are kept, after the objects, in the order of rule 3.
//! 7. `ScanTime` of the shape `HH:MM` (two digits, colon, two digits) becomes `HH:MM:00`; every
//!    other shape is left as it came, since guessing at it could make two different times equal.
//! 8. Fields the API adds later (not in [`fields::FIELDS`]) are kept as plain JSON (a `null` value is
//!    dropped, rule 2); so are known fields whose value has an unexpected type (a set-like field
//!    that is not an array, an `Images` that is not an array), as nothing safe can be assumed.
//! 9. [`normalize`] never panics on any JSON object and is idempotent.
//!
//! The identity of a config is the lower-case hex SHA-256 of its canonical JSON
//! ([`super::canonical`]). For the reason given there, [`normalize`] inserts keys in sorted
//! order, so a config serializes the same whether or not `serde_json` preserves insertion order.

use std::cmp::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use super::canonical::{canonical_value, sorted_object, sorted_value};
use super::fields;

/// A normalized configuration: the answer less `RequestId` and the status fields, with the rules
/// above applied. Only [`normalize`] makes one from an answer; [`Config::from_canonical`] reads
/// back one this tool stored. It derefs to its JSON object for reading.
///
/// A config never changes once made, so it is shared rather than copied: a clone is a
/// reference count (a year of one target's observations holds a handful of configs, each
/// observation a handle on one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config(Arc<Map<String, Value>>);

impl Serialize for Config {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(s)
    }
}

impl std::ops::Deref for Config {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        &self.0
    }
}

impl Config {
    /// A config from the canonical JSON this tool stored for it (its hash is checked by
    /// `audit verify`, not here).
    pub fn from_canonical(text: &str) -> Result<Config, serde_json::Error> {
        serde_json::from_str(text).map(|m| Config(Arc::new(m)))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        Arc::try_unwrap(self.0).unwrap_or_else(|shared| shared.as_ref().clone())
    }
}

/// The status fields of one answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    #[serde(rename = "LastScanTime", skip_serializing_if = "Option::is_none")]
    pub last_scan_time: Option<String>,
    #[serde(rename = "ScanResult", skip_serializing_if = "Option::is_none")]
    pub scan_result: Option<String>,
}

impl Status {
    /// The status fields by their names in the answer, those present only.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            (fields::LAST_SCAN_TIME, &self.last_scan_time),
            (fields::SCAN_RESULT, &self.scan_result),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
    }
}

/// Normalizes the inner object of an answer (`Response` less the envelope).
pub fn normalize(answer: &Map<String, Value>) -> Config {
    let mut keys: Vec<&String> = answer.keys().collect();
    keys.sort();
    let mut out = Map::new();
    for key in keys {
        let name = key.as_str();
        if !fields::is_config(name) {
            continue;
        }
        let value = &answer[name];
        if value.is_null() {
            continue;
        }
        let normalized = match (name, value) {
            (_, Value::Array(items)) if fields::is_set_like(name) => {
                normalize_set(items, fields::is_caseless(name))
            }
            (fields::IMAGES, Value::Array(items)) => normalize_images(items),
            (fields::SCAN_TIME, Value::String(s)) => Some(Value::String(normalize_scan_time(s))),
            _ => Some(sorted_value(value)),
        };
        if let Some(v) = normalized {
            out.insert(key.clone(), v);
        }
    }
    Config(Arc::new(out))
}

/// A set-like array as a sorted, duplicate-free array; `None` when nothing is left (rule 5).
fn normalize_set(items: &[Value], caseless: bool) -> Option<Value> {
    let mut elems: Vec<Value> = items
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| match v {
            Value::String(s) if caseless => Value::String(s.to_lowercase()),
            other => sorted_value(other),
        })
        .collect();
    elems.sort_by(cmp_values);
    elems.dedup_by(|a, b| cmp_values(a, b) == Ordering::Equal);
    (!elems.is_empty()).then_some(Value::Array(elems))
}

fn normalize_images(items: &[Value]) -> Option<Value> {
    let mut images: Vec<Value> = items
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| match v {
            Value::Object(m) => Value::Object(sorted_object(m, true)),
            other => sorted_value(other),
        })
        .collect();
    images.sort_by(cmp_images);
    images.dedup_by(|a, b| cmp_images(a, b) == Ordering::Equal);
    (!images.is_empty()).then_some(Value::Array(images))
}

/// Images by key, then by canonical text; non-objects after every object.
fn cmp_images(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => image_key(x)
            .cmp(&image_key(y))
            .then_with(|| canonical_value(a).cmp(&canonical_value(b))),
        (Value::Object(_), _) => Ordering::Less,
        (_, Value::Object(_)) => Ordering::Greater,
        _ => cmp_values(a, b),
    }
}

/// `HH:MM` becomes `HH:MM:00`; any other text is returned unchanged (rule 7).
pub fn normalize_scan_time(s: &str) -> String {
    let b = s.as_bytes();
    let short = b.len() == 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit());
    if short {
        format!("{s}:00")
    } else {
        s.to_string()
    }
}

/// A total order on JSON values: by type, then strings by bytes, numbers by exact value (ties by
/// text), everything else by canonical JSON text. It is total so that sorting never panics.
pub fn cmp_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => {
            cmp_numbers(x, y).then_with(|| x.to_string().cmp(&y.to_string()))
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => rank(a)
            .cmp(&rank(b))
            .then_with(|| canonical_value(a).cmp(&canonical_value(b))),
    }
}

/// Exact numeric order of two JSON numbers. Converting integers to `f64` would be inexact above
/// 2^53 and could make the order intransitive, which `sort_by` may answer with a panic.
fn cmp_numbers(x: &Number, y: &Number) -> Ordering {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(x), int(y)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(a), None) => cmp_int_float(a, y.as_f64().unwrap_or(0.0)),
        (None, Some(b)) => cmp_int_float(b, x.as_f64().unwrap_or(0.0)).reverse(),
        (None, None) => {
            let (a, b) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            a.total_cmp(&b)
        }
    }
}

/// Exact comparison of an integer with a finite float.
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    // Beyond ±2^100 no i64/u64 value can reach, and the cast below stays in range.
    const BOUND: f64 = 1.0e30;
    if f >= BOUND {
        return Ordering::Less;
    }
    if f <= -BOUND {
        return Ordering::Greater;
    }
    let floor = f.floor();
    match i.cmp(&(floor as i128)) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

/// The status fields of the inner object of an answer. A status value that is not a string is kept
/// as its canonical JSON text rather than lost; `null` is absent.
pub fn status_of(answer: &Map<String, Value>) -> Status {
    let text = |name: &str| match answer.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(canonical_value(other)),
    };
    Status {
        last_scan_time: text(fields::LAST_SCAN_TIME),
        scan_result: text(fields::SCAN_RESULT),
    }
}

/// Lower-case hex SHA-256 of the canonical JSON: the identity of a config.
pub fn config_hash(config: &Config) -> String {
    hex::encode(Sha256::digest(
        super::canonical::canonical_json(config).as_bytes(),
    ))
}

/// A config with its canonical JSON and hash, computed once, together, and never apart: what
/// recording takes, so that a caller who already hashed a config (to check it against an
/// export, say) does not pay for it twice.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    config: Config,
    canonical: String,
    hash: String,
}

impl Prepared {
    pub fn new(config: Config) -> Prepared {
        let canonical = super::canonical::canonical_json(&config);
        let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
        Prepared {
            config,
            canonical,
            hash,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The same as [`config_hash`] of the config.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// The key an image is matched by: `ImageRepoAddress`, else `InstanceId/ImageName:ImageTag`.
///
/// A part that is missing or `null` counts as empty; a part that is not a string stands as its
/// canonical JSON text, so that an odd answer still yields a key.
pub fn image_key(image: &Map<String, Value>) -> String {
    let part = |name: &str| match image.get(name) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => canonical_value(other),
    };
    let address = part(fields::IMAGE_KEY);
    if !address.is_empty() {
        return address;
    }
    let [instance, name, tag] = fields::IMAGE_KEY_PARTS.map(part);
    format!("{instance}/{name}:{tag}")
}

/// Top-level fields of a config that the API did not document (in sorted order).
pub fn unknown_fields(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = config
        .keys()
        .filter(|k| fields::field(k).is_none())
        .cloned()
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::canonical::{canonical_json, pretty_json};
    use proptest::prelude::*;
    use serde_json::json;

    const SEED: &str = include_str!("../../tests/fixtures/api/describe_seed_example.json");

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn norm(v: Value) -> Config {
        normalize(&obj(v))
    }

    fn seed_inner() -> Map<String, Value> {
        let answer: Value = serde_json::from_str(SEED).unwrap();
        obj(answer["Response"].clone())
    }

    #[test]
    fn a_prepared_config_carries_its_own_canonical_json_and_hash() {
        let c = normalize(&obj(json!({"ScanType": ["virus", "vul"], "Enable": true})));
        let p = Prepared::new(c.clone());
        assert_eq!(p.canonical(), canonical_json(&c));
        assert_eq!(p.hash(), config_hash(&c));
        assert_eq!(p.config(), &c);
    }

    #[test]
    fn request_id_and_status_fields_are_dropped() {
        let c = norm(json!({
            "RequestId": "r-1", "LastScanTime": "2026-10-01 03:10:00",
            "ScanResult": "Success", "Enable": true
        }));
        assert_eq!(*c, obj(json!({"Enable": true})));
    }

    #[test]
    fn status_is_read_from_the_answer() {
        let s = status_of(&obj(json!({
            "LastScanTime": "2026-10-01 03:10:00", "ScanResult": null, "Enable": true
        })));
        assert_eq!(s.last_scan_time.as_deref(), Some("2026-10-01 03:10:00"));
        assert_eq!(s.scan_result, None);
        let odd = status_of(&obj(json!({"ScanResult": 3})));
        assert_eq!(odd.scan_result.as_deref(), Some("3"));
    }

    #[test]
    fn null_equals_missing_at_top_level_and_in_images() {
        let a = norm(json!({
            "Enable": true, "ScanEndTime": null, "Mystery": null,
            "Images": [{"ImageRepoAddress": "r/a:1", "Force": null}, null]
        }));
        let b = norm(json!({"Enable": true, "Images": [{"ImageRepoAddress": "r/a:1"}]}));
        assert_eq!(a, b);
        assert!(!a.contains_key("ScanEndTime"));
    }

    #[test]
    fn set_like_arrays_ignore_order_and_duplicates() {
        let a = norm(json!({"Namespace": ["b", "a", "b"], "Id": [3, 1, 3, 2]}));
        assert_eq!(a["Namespace"], json!(["a", "b"]));
        assert_eq!(a["Id"], json!([1, 2, 3]));
        let b = norm(json!({"Namespace": ["a", "b"], "Id": [2, 3, 1]}));
        assert_eq!(config_hash(&a), config_hash(&b));
    }

    #[test]
    fn numbers_sort_numerically_not_as_text() {
        let c = norm(json!({"ExcludeImageAssetIds": [10, 9, 100, 1]}));
        assert_eq!(c["ExcludeImageAssetIds"], json!([1, 9, 10, 100]));
    }

    #[test]
    fn empty_set_like_array_equals_missing() {
        for field in crate::task::fields::set_like() {
            let c = norm(json!({ field: [], "Enable": true }));
            assert_eq!(*c, obj(json!({"Enable": true})), "{field}");
            let only_null = norm(json!({ field: [null] }));
            assert!(only_null.is_empty(), "{field}");
        }
    }

    #[test]
    fn scan_type_and_registry_type_ignore_case() {
        let c = norm(json!({
            "ScanType": ["VUL", "vul", "Risk"], "RegistryType": ["TCR", "ccr"],
            "Namespace": ["Prod", "prod"]
        }));
        assert_eq!(c["ScanType"], json!(["risk", "vul"]));
        assert_eq!(c["RegistryType"], json!(["ccr", "tcr"]));
        // Namespaces are names, and their case is kept.
        assert_eq!(c["Namespace"], json!(["Prod", "prod"]));
    }

    #[test]
    fn wrong_types_in_set_like_arrays_sort_without_panic() {
        let c = norm(json!({"Id": ["7", 2, {"b": 1, "a": 2}, [1], true, 1.5, 1]}));
        assert_eq!(
            c["Id"],
            json!([true, 1, 1.5, 2, "7", [1], {"a": 2, "b": 1}])
        );
        let scalar = norm(json!({"ScanType": "VUL"}));
        assert_eq!(scalar["ScanType"], json!("VUL"));
    }

    #[test]
    fn images_are_sorted_by_key_and_exact_duplicates_dropped() {
        let b = json!({"InstanceId": "i", "ImageName": "b", "ImageTag": "1"});
        let a = json!({"ImageRepoAddress": "reg/a:1", "Force": "f"});
        let c = norm(json!({"Images": [b.clone(), a.clone(), b.clone()]}));
        // "i/b:1" sorts before "reg/a:1".
        assert_eq!(c["Images"], json!([b, a]));
    }

    #[test]
    fn different_images_with_one_key_are_both_kept_in_a_fixed_order() {
        let x = json!({"ImageRepoAddress": "reg/a:1", "Force": "x"});
        let y = json!({"ImageRepoAddress": "reg/a:1", "Force": "y"});
        let one = norm(json!({"Images": [y.clone(), x.clone()]}));
        let two = norm(json!({"Images": [x.clone(), y.clone()]}));
        assert_eq!(one["Images"], json!([x, y]));
        assert_eq!(config_hash(&one), config_hash(&two));
    }

    #[test]
    fn empty_images_equals_missing() {
        assert!(norm(json!({"Images": []})).is_empty());
        assert!(norm(json!({"Images": [null]})).is_empty());
    }

    #[test]
    fn image_key_prefers_a_non_empty_repo_address() {
        let with = obj(json!({"ImageRepoAddress": "reg/x:2", "InstanceId": "i"}));
        assert_eq!(image_key(&with), "reg/x:2");
        let empty = obj(json!({
            "ImageRepoAddress": "", "InstanceId": "ins-1", "ImageName": "x", "ImageTag": "2"
        }));
        assert_eq!(image_key(&empty), "ins-1/x:2");
        let none = obj(json!({"ImageName": "x", "ImageTag": 2}));
        assert_eq!(image_key(&none), "/x:2");
    }

    #[test]
    fn short_scan_time_gains_seconds_and_other_shapes_stay() {
        assert_eq!(norm(json!({"ScanTime": "18:10"}))["ScanTime"], "18:10:00");
        assert_eq!(
            norm(json!({"ScanTime": "03:00:00"}))["ScanTime"],
            "03:00:00"
        );
        for odd in ["3:00", "1810", "ab:cd", "18:10 ", "tomorrow"] {
            assert_eq!(norm(json!({"ScanTime": odd}))["ScanTime"], odd);
        }
        assert_eq!(norm(json!({"ScanTime": 1810}))["ScanTime"], 1810);
    }

    #[test]
    fn unknown_fields_are_kept_as_plain_json() {
        let c = norm(json!({
            "Enable": true, "NewThing": {"z": [3, 1], "a": null}, "Gone": null
        }));
        assert_eq!(c["NewThing"], json!({"z": [3, 1], "a": null}));
        assert!(!c.contains_key("Gone"));
        assert_eq!(unknown_fields(&c), vec!["NewThing".to_string()]);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_without_spaces() {
        let c = obj(json!({"b": {"y": 1, "x": [{"d": 1, "c": "é\n"}]}, "a": true}));
        assert_eq!(
            canonical_json(&c),
            r#"{"a":true,"b":{"x":[{"c":"é\n","d":1}],"y":1}}"#
        );
    }

    #[test]
    fn pretty_json_indents_two_spaces_and_ends_with_newline() {
        let c = obj(json!({"b": [1, 2], "a": {}, "c": []}));
        assert_eq!(
            pretty_json(&c),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": []\n}\n"
        );
        assert_eq!(pretty_json(&Map::new()), "{}\n");
    }

    #[test]
    fn config_hash_is_sha256_of_canonical_json() {
        let c = norm(json!({"Enable": true}));
        // The digest of the 15 bytes `{"Enable":true}`, computed independently.
        assert_eq!(
            config_hash(&c),
            "868dee3a1d4a2a074f99f9c35245ce11309f3848c750c489bfedc7f4071948d8"
        );
        assert_eq!(config_hash(&c).len(), 64);
        assert!(
            config_hash(&c)
                .chars()
                .all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase())
        );
    }

    #[test]
    fn seed_example_keeps_all_and_every_config_field() {
        let c = normalize(&seed_inner());
        assert_eq!(c["All"], json!(false));
        for field in [
            "ScanTime",
            "ScanPeriod",
            "ScanType",
            "All",
            "Images",
            "Id",
            "Enable",
            "Latest",
        ] {
            assert!(c.contains_key(field), "{field} lost");
        }
        assert!(!c.contains_key("RequestId"));
        assert_eq!(c["ScanType"], json!(["risk", "virus"]));
        let images = c["Images"].as_array().unwrap();
        assert_eq!(
            image_key(images[0].as_object().unwrap()),
            "ccr.ccs.tencentyun.com/yunding/luping:v1"
        );
        assert!(unknown_fields(&c).is_empty());
        assert_eq!(normalize(&c), c);
    }

    #[test]
    fn keys_come_out_sorted_whatever_the_map_order() {
        let c = normalize(&seed_inner());
        let keys: Vec<&String> = c.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    // Arbitrary JSON, small enough to keep the property tests quick.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            // Quarters and a few extremes: serde_json (without `float_roundtrip`) may read
            // back a 17-digit float one ulp off, which is not what these tests are about.
            (-1_000_000i32..1_000_000).prop_map(|n| json!(f64::from(n) / 4.0)),
            prop::sample::select(vec![1.0e300, -1.0e-300, 0.1, 1.0e19, -0.0])
                .prop_map(|f| json!(f)),
            "\\PC{0,8}".prop_map(Value::String),
            prop::sample::select(vec!["vul", "VUL", "Risk", "18:10", "03:00:00", ""])
                .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(field_name(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(
                crate::task::fields::FIELDS
                    .iter()
                    .map(|f| &f.name)
                    .chain(
                        [
                            "RequestId",
                            "ImageRepoAddress",
                            "InstanceId",
                            "ImageName",
                            "ImageTag",
                            "Force",
                        ]
                        .iter()
                    )
                    .copied()
                    .collect::<Vec<_>>()
            )
            .prop_map(str::to_string),
            "[A-Za-z]{1,6}",
        ]
    }

    fn any_object() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map(field_name(), any_json(), 0..10)
            .prop_map(|m| m.into_iter().collect())
    }

    fn image() -> impl Strategy<Value = Value> {
        (
            prop::option::of(prop::sample::select(vec!["", "reg/a:1", "reg/b:2"])),
            prop::sample::select(vec!["ins-1", "ins-2"]),
            prop::sample::select(vec!["app", "db"]),
            prop::sample::select(vec!["v1", "v2"]),
            prop::option::of(prop::sample::select(vec!["Force", "no"])),
        )
            .prop_map(|(addr, ins, name, tag, force)| {
                let mut m = Map::new();
                if let Some(a) = addr {
                    m.insert("ImageRepoAddress".into(), json!(a));
                }
                m.insert("InstanceId".into(), json!(ins));
                m.insert("ImageName".into(), json!(name));
                m.insert("ImageTag".into(), json!(tag));
                m.insert("Force".into(), force.map_or(Value::Null, |f| json!(f)));
                Value::Object(m)
            })
    }

    // A plausible answer, with set-like arrays and images that the tests below shuffle.
    fn answer() -> impl Strategy<Value = Map<String, Value>> {
        (
            prop::collection::vec(
                prop::sample::select(vec!["vul", "VUL", "risk", "Virus", "CVE"]),
                0..6,
            ),
            prop::collection::vec(prop::sample::select(vec!["tcr", "CCR", "harbor"]), 0..4),
            prop::collection::vec(0u64..20, 0..6),
            prop::collection::vec(image(), 0..5),
            prop::sample::select(vec!["03:00", "03:00:00", "18:10", "2:5"]),
            any_object(),
        )
            .prop_map(|(scan, reg, ids, images, time, extra)| {
                let mut m = extra;
                m.insert("ScanType".into(), json!(scan));
                m.insert("RegistryType".into(), json!(reg));
                m.insert("Id".into(), json!(ids));
                m.insert("Images".into(), Value::Array(images));
                m.insert("ScanTime".into(), json!(time));
                m
            })
    }

    fn shuffle_and_duplicate(v: &Value, seed: u64) -> Value {
        let Value::Array(items) = v else {
            return v.clone();
        };
        let mut items = items.clone();
        if let Some(first) = items.first().cloned() {
            items.push(first);
        }
        // A seeded Fisher-Yates shuffle keeps failures reproducible from the proptest seed.
        let mut state = seed | 1;
        for i in (1..items.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let j = (state % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
        Value::Array(items)
    }

    proptest! {
        #[test]
        fn normalize_never_panics_and_is_idempotent(m in any_object()) {
            let once = normalize(&m);
            prop_assert_eq!(normalize(&once), once.clone());
            prop_assert_eq!(config_hash(&normalize(&once)), config_hash(&once));
        }

        #[test]
        fn plausible_answers_normalize_idempotently(m in answer()) {
            let once = normalize(&m);
            prop_assert_eq!(normalize(&once), once);
        }

        #[test]
        fn shuffling_and_duplicating_sets_and_images_keeps_the_hash(m in answer(), seed in any::<u64>()) {
            let mut shuffled = m.clone();
            for field in crate::task::fields::set_like().chain([crate::task::fields::IMAGES]).collect::<Vec<_>>().iter() {
                if let Some(v) = m.get(*field) {
                    shuffled.insert(field.to_string(), shuffle_and_duplicate(v, seed));
                }
            }
            prop_assert_eq!(config_hash(&normalize(&m)), config_hash(&normalize(&shuffled)));
        }

        #[test]
        fn short_and_long_scan_time_hash_alike(m in answer(), h in 0u8..24, min in 0u8..60) {
            let mut short = m.clone();
            short.insert("ScanTime".into(), json!(format!("{h:02}:{min:02}")));
            let mut long = m;
            long.insert("ScanTime".into(), json!(format!("{h:02}:{min:02}:00")));
            prop_assert_eq!(config_hash(&normalize(&short)), config_hash(&normalize(&long)));
        }

        #[test]
        fn case_of_scan_type_never_changes_the_hash(m in answer(), upper in any::<bool>()) {
            let mut recased = m.clone();
            if let Some(Value::Array(items)) = m.get("ScanType") {
                let items = items
                    .iter()
                    .map(|v| match v.as_str() {
                        Some(s) if upper => json!(s.to_uppercase()),
                        Some(s) => json!(s.to_lowercase()),
                        None => v.clone(),
                    })
                    .collect();
                recased.insert("ScanType".into(), Value::Array(items));
            }
            prop_assert_eq!(config_hash(&normalize(&m)), config_hash(&normalize(&recased)));
        }

        #[test]
        fn canonical_json_parses_back_to_the_same_value(m in any_object()) {
            let text = canonical_json(&m);
            let back: Map<String, Value> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(canonical_json(&back), text);
            let pretty: Map<String, Value> = serde_json::from_str(&pretty_json(&m)).unwrap();
            prop_assert_eq!(canonical_json(&pretty), canonical_json(&m));
        }
    }
}

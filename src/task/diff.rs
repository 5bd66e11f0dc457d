//! Structural diff of two normalized configs into field-level changes.
//!
//! Both sides are normalized again first (normalization is idempotent), so a diff never depends on
//! whether its caller normalized, and it is empty exactly when the two config hashes are equal.
//!
//! - A scalar (or any field compared as plain JSON) that differs is `changed` with `old` and `new`;
//!   a field present on one side only is `added` (with `new`) or `removed` (with `old`).
//! - Set-like arrays compare element by element: one change per element, whose `path` is the field
//!   and whose `new` (added) or `old` (removed) is the element. A missing set is the empty set.
//! - `Images` are matched by `image_key`: an image on one side only is `Images[KEY]`, added or
//!   removed with the whole ImageInfo; a field of an image on both sides is `Images[KEY].Field`.
//!   Where a key names more than one image on either side (normalization keeps different images
//!   that share a key), matching by key is ambiguous, so those images compare as whole images.
//! - A set-like field or `Images` that is not an array on one side compares as plain JSON.
//! - Order: fields in the API's order (the catalogue, [`fields::FIELDS`]), then unknown fields alphabetically. Within
//!   a set field, removed elements before added ones, each sorted; within `Images`, removed images,
//!   then added images, then the field changes of kept images, each by key.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::task::canonical::{canonical_text, canonical_value};
use crate::task::fields::{self, Role};
use crate::task::normalize::{Config, Status, cmp_values, image_key, unknown_fields};

/// What happened to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One field-level change, as the diff and log JSON documents carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// A change as it is stored, read without building its values: its path borrowed from the
/// stored JSON where it can be, its values left as their JSON text. What the text log reads, a
/// year of a fleet at a time.
#[derive(Debug, Deserialize)]
pub struct StoredChange<'a> {
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    pub kind: ChangeKind,
    #[serde(borrow, default)]
    pub old: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub new: Option<&'a RawValue>,
}

/// A change as the text renderers show it, whether built or as stored.
pub trait ShownChange {
    fn path(&self) -> &str;
    fn kind(&self) -> ChangeKind;
    /// A value as one line of text: its canonical JSON, so `true` and `"true"` stay apart;
    /// empty when there is none.
    fn old_text(&self) -> Cow<'_, str>;
    fn new_text(&self) -> Cow<'_, str>;
}

impl ShownChange for Change {
    fn path(&self) -> &str {
        &self.path
    }
    fn kind(&self) -> ChangeKind {
        self.kind
    }
    fn old_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.old.as_ref().map(canonical_value).unwrap_or_default())
    }
    fn new_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.new.as_ref().map(canonical_value).unwrap_or_default())
    }
}

impl ShownChange for StoredChange<'_> {
    fn path(&self) -> &str {
        &self.path
    }
    fn kind(&self) -> ChangeKind {
        self.kind
    }
    fn old_text(&self) -> Cow<'_, str> {
        self.old
            .map(|v| canonical_text(v.get()))
            .unwrap_or_default()
    }
    fn new_text(&self) -> Cow<'_, str> {
        self.new
            .map(|v| canonical_text(v.get()))
            .unwrap_or_default()
    }
}

impl Change {
    /// The top-level field the change is under.
    pub fn field(&self) -> &str {
        fields::head(&self.path)
    }

    /// Whether it adds or removes a whole image (`Images[KEY]`), not one of an image's fields.
    pub fn is_whole_image(&self) -> bool {
        self.field() == fields::IMAGES && self.path.ends_with(']')
    }

    fn added(path: impl Into<String>, new: Value) -> Change {
        Change {
            path: path.into(),
            kind: ChangeKind::Added,
            old: None,
            new: Some(new),
        }
    }

    fn removed(path: impl Into<String>, old: Value) -> Change {
        Change {
            path: path.into(),
            kind: ChangeKind::Removed,
            old: Some(old),
            new: None,
        }
    }

    fn changed(path: impl Into<String>, old: Value, new: Value) -> Change {
        Change {
            path: path.into(),
            kind: ChangeKind::Changed,
            old: Some(old),
            new: Some(new),
        }
    }
}

/// The changes that turn `old` into `new`, in a deterministic order. Both are normalized (the
/// type says so), so only meaningful differences are seen.
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut unknown = unknown_fields(old);
    unknown.extend(unknown_fields(new));
    unknown.sort();
    unknown.dedup();

    let mut changes = Vec::new();
    let names = fields::with_role(Role::Config)
        .map(|f| f.name)
        .chain(unknown.iter().map(String::as_str));
    for field in names {
        let (a, b) = (old.get(field), new.get(field));
        let arrays = |v: Option<&Value>| matches!(v, None | Some(Value::Array(_)));
        if field == fields::IMAGES && arrays(a) && arrays(b) {
            diff_images(elements(a), elements(b), &mut changes);
        } else if fields::is_set_like(field) && arrays(a) && arrays(b) {
            diff_set(field, elements(a), elements(b), &mut changes);
        } else {
            diff_plain(field, a, b, &mut changes);
        }
    }
    changes
}

fn elements(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

fn diff_plain(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Change>) {
    match (a, b) {
        (None, None) => {}
        (None, Some(b)) => out.push(Change::added(path, b.clone())),
        (Some(a), None) => out.push(Change::removed(path, a.clone())),
        (Some(a), Some(b)) => {
            if canonical_value(a) != canonical_value(b) {
                out.push(Change::changed(path, a.clone(), b.clone()));
            }
        }
    }
}

/// Elements of `a` missing from `b`, sorted, each once.
fn missing_from(a: &[Value], b: &[Value]) -> Vec<Value> {
    let present: std::collections::BTreeSet<String> = b.iter().map(canonical_value).collect();
    let mut out: Vec<Value> = a
        .iter()
        .filter(|v| !present.contains(&canonical_value(v)))
        .cloned()
        .collect();
    out.sort_by(cmp_values);
    out.dedup_by(|x, y| canonical_value(x) == canonical_value(y));
    out
}

fn diff_set(field: &str, a: &[Value], b: &[Value], out: &mut Vec<Change>) {
    for gone in missing_from(a, b) {
        out.push(Change::removed(field, gone));
    }
    for came in missing_from(b, a) {
        out.push(Change::added(field, came));
    }
}

/// The key an element of `Images` is matched by; a non-object stands as its JSON text.
fn element_key(v: &Value) -> String {
    match v {
        Value::Object(m) => image_key(m),
        other => canonical_value(other),
    }
}

fn by_key(items: &[Value]) -> BTreeMap<String, Vec<&Value>> {
    let mut groups: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for item in items {
        groups.entry(element_key(item)).or_default().push(item);
    }
    groups
}

fn diff_images(a: &[Value], b: &[Value], out: &mut Vec<Change>) {
    let (old, new) = (by_key(a), by_key(b));
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();

    let (mut removed, mut added, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for key in keys {
        let path = format!("Images[{key}]");
        let empty = Vec::new();
        let olds = old.get(key).unwrap_or(&empty);
        let news = new.get(key).unwrap_or(&empty);
        match (olds.as_slice(), news.as_slice()) {
            ([Value::Object(x)], [Value::Object(y)]) => {
                diff_image_fields(&path, x, y, &mut changed)
            }
            _ => {
                let olds: Vec<Value> = olds.iter().map(|v| (*v).clone()).collect();
                let news: Vec<Value> = news.iter().map(|v| (*v).clone()).collect();
                for gone in missing_from(&olds, &news) {
                    removed.push(Change::removed(path.clone(), gone));
                }
                for came in missing_from(&news, &olds) {
                    added.push(Change::added(path.clone(), came));
                }
            }
        }
    }
    out.extend(removed);
    out.extend(added);
    out.extend(changed);
}

fn diff_image_fields(
    path: &str,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    out: &mut Vec<Change>,
) {
    let mut fields: Vec<&String> = a.keys().chain(b.keys()).collect();
    fields.sort();
    fields.dedup();
    for field in fields {
        diff_plain(&format!("{path}.{field}"), a.get(field), b.get(field), out);
    }
}

/// Changes of the status fields, which are not drift.
pub fn diff_status(old: &Status, new: &Status) -> Vec<Change> {
    let mut changes = Vec::new();
    let pairs = [
        (
            fields::LAST_SCAN_TIME,
            &old.last_scan_time,
            &new.last_scan_time,
        ),
        (fields::SCAN_RESULT, &old.scan_result, &new.scan_result),
    ];
    for (path, a, b) in pairs {
        let a = a.as_ref().map(|s| Value::String(s.clone()));
        let b = b.as_ref().map(|s| Value::String(s.clone()));
        diff_plain(path, a.as_ref(), b.as_ref(), &mut changes);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::normalize::config_hash;
    use crate::task::normalize::normalize;
    use proptest::prelude::*;
    use serde_json::json;

    use crate::test_support::config as cfg;

    fn change(path: &str, kind: ChangeKind, old: Option<Value>, new: Option<Value>) -> Change {
        Change {
            path: path.to_string(),
            kind,
            old,
            new,
        }
    }

    #[test]
    fn a_scalar_that_differs_is_changed_with_both_values() {
        let d = diff(
            &cfg(json!({"Enable": true, "ScanPeriod": 1})),
            &cfg(json!({"Enable": false, "ScanPeriod": 1})),
        );
        assert_eq!(
            d,
            vec![change(
                "Enable",
                ChangeKind::Changed,
                Some(json!(true)),
                Some(json!(false))
            )]
        );
    }

    #[test]
    fn a_field_on_one_side_is_added_or_removed() {
        let a = cfg(json!({"Latest": true}));
        let b = cfg(json!({"ScanScope": 1}));
        assert_eq!(
            diff(&a, &b),
            vec![
                change("Latest", ChangeKind::Removed, Some(json!(true)), None),
                change("ScanScope", ChangeKind::Added, None, Some(json!(1))),
            ]
        );
    }

    #[test]
    fn set_elements_change_one_by_one_removed_first() {
        let a = cfg(json!({"ScanType": ["risk", "virus"]}));
        let b = cfg(json!({"ScanType": ["VUL", "risk", "cve"]}));
        assert_eq!(
            diff(&a, &b),
            vec![
                change("ScanType", ChangeKind::Removed, Some(json!("virus")), None),
                change("ScanType", ChangeKind::Added, None, Some(json!("cve"))),
                change("ScanType", ChangeKind::Added, None, Some(json!("vul"))),
            ]
        );
    }

    #[test]
    fn a_missing_set_is_the_empty_set() {
        let d = diff(&cfg(json!({})), &cfg(json!({"Id": [2, 1]})));
        assert_eq!(
            d,
            vec![
                change("Id", ChangeKind::Added, None, Some(json!(1))),
                change("Id", ChangeKind::Added, None, Some(json!(2))),
            ]
        );
    }

    fn img(addr: &str, force: &str) -> Value {
        json!({"ImageRepoAddress": addr, "ImageName": "app", "Force": force})
    }

    #[test]
    fn images_are_added_removed_and_changed_by_key() {
        let a = cfg(json!({"Images": [img("r/a:1", "f"), img("r/b:1", "f")]}));
        let b = cfg(json!({"Images": [img("r/c:1", "f"), img("r/a:1", "g")]}));
        assert_eq!(
            diff(&a, &b),
            vec![
                change(
                    "Images[r/b:1]",
                    ChangeKind::Removed,
                    Some(img("r/b:1", "f")),
                    None
                ),
                change(
                    "Images[r/c:1]",
                    ChangeKind::Added,
                    None,
                    Some(img("r/c:1", "f"))
                ),
                change(
                    "Images[r/a:1].Force",
                    ChangeKind::Changed,
                    Some(json!("f")),
                    Some(json!("g"))
                ),
            ]
        );
    }

    #[test]
    fn a_field_of_a_kept_image_can_be_added_or_removed() {
        let a = cfg(json!({"Images": [{"InstanceId": "i", "ImageName": "n", "ImageTag": "t"}]}));
        let b = cfg(json!({"Images": [{
            "InstanceId": "i", "ImageName": "n", "ImageTag": "t", "Namespace": "ns"
        }]}));
        assert_eq!(
            diff(&a, &b),
            vec![change(
                "Images[i/n:t].Namespace",
                ChangeKind::Added,
                None,
                Some(json!("ns"))
            )]
        );
        assert_eq!(diff(&b, &a)[0].kind, ChangeKind::Removed);
    }

    #[test]
    fn images_sharing_a_key_compare_whole() {
        let a = cfg(json!({"Images": [img("r/a:1", "x"), img("r/a:1", "y")]}));
        let b = cfg(json!({"Images": [img("r/a:1", "y"), img("r/a:1", "z")]}));
        assert_eq!(
            diff(&a, &b),
            vec![
                change(
                    "Images[r/a:1]",
                    ChangeKind::Removed,
                    Some(img("r/a:1", "x")),
                    None
                ),
                change(
                    "Images[r/a:1]",
                    ChangeKind::Added,
                    None,
                    Some(img("r/a:1", "z"))
                ),
            ]
        );
    }

    #[test]
    fn unknown_fields_compare_whole_and_come_last_alphabetically() {
        let a = cfg(json!({"Zeta": {"x": [1, 2]}, "Alpha": 1, "Enable": true}));
        let b = cfg(json!({"Zeta": {"x": [2, 1]}, "Beta": 1, "Enable": false}));
        let d = diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["Enable", "Alpha", "Beta", "Zeta"]);
        let zeta = diff(&a, &b).pop().unwrap();
        assert_eq!(zeta.new, Some(json!({"x": [2, 1]})));
    }

    #[test]
    fn known_fields_follow_the_api_order() {
        let a = cfg(json!({"ExcludeImageAssetIds": [1], "Enable": true, "ScanTime": "01:00"}));
        let b = cfg(json!({"ExcludeImageAssetIds": [2], "Enable": false, "ScanTime": "02:00"}));
        let d = diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "Enable",
                "ScanTime",
                "ExcludeImageAssetIds",
                "ExcludeImageAssetIds"
            ]
        );
    }

    #[test]
    fn a_set_field_of_the_wrong_type_compares_whole() {
        let a = cfg(json!({"ScanType": "vul"}));
        let b = cfg(json!({"ScanType": ["vul"]}));
        assert_eq!(
            diff(&a, &b),
            vec![change(
                "ScanType",
                ChangeKind::Changed,
                Some(json!("vul")),
                Some(json!(["vul"]))
            )]
        );
    }

    #[test]
    fn answers_that_normalize_alike_have_no_diff() {
        let raw = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let a = raw(json!({"RequestId": "1", "ScanTime": "03:00", "ScanType": ["VUL", "vul"]}));
        let b = raw(json!({"RequestId": "2", "ScanTime": "03:00:00", "ScanType": ["vul"]}));
        assert!(diff(&normalize(&a), &normalize(&b)).is_empty());
    }

    #[test]
    fn status_changes_are_reported_by_field() {
        let a = Status {
            last_scan_time: Some("2026-10-01 03:10:00".into()),
            scan_result: Some("Success".into()),
        };
        let b = Status {
            last_scan_time: Some("2026-10-02 03:10:00".into()),
            scan_result: None,
        };
        assert_eq!(
            diff_status(&a, &b),
            vec![
                change(
                    "LastScanTime",
                    ChangeKind::Changed,
                    Some(json!("2026-10-01 03:10:00")),
                    Some(json!("2026-10-02 03:10:00"))
                ),
                change(
                    "ScanResult",
                    ChangeKind::Removed,
                    Some(json!("Success")),
                    None
                ),
            ]
        );
        assert!(diff_status(&a, &a).is_empty());
        assert_eq!(diff_status(&b, &a)[1].kind, ChangeKind::Added);
    }

    #[test]
    fn changes_serialize_in_the_documented_shape() {
        let c = change("ScanType", ChangeKind::Added, None, Some(json!("vul")));
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"path": "ScanType", "kind": "added", "new": "vul"})
        );
    }

    fn image() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec!["", "r/a:1", "r/b:1"]),
            prop::sample::select(vec!["i1", "i2"]),
            prop::sample::select(vec!["f", "g"]),
            prop::option::of(prop::sample::select(vec!["ns1", "ns2"])),
        )
            .prop_map(|(addr, ins, force, ns)| {
                json!({
                    "ImageRepoAddress": addr, "InstanceId": ins, "ImageName": "app",
                    "ImageTag": "v1", "Force": force, "Namespace": ns
                })
            })
    }

    fn config() -> impl Strategy<Value = Config> {
        (
            prop::option::of(any::<bool>()),
            prop::sample::select(vec!["03:00", "03:00:00", "04:00", "04:00:00"]),
            prop::collection::vec(prop::sample::select(vec!["vul", "RISK", "virus"]), 0..4),
            prop::collection::vec(0u64..5, 0..4),
            prop::collection::vec(image(), 0..4),
            prop::option::of(prop::sample::select(vec![json!(1), json!({"a": [1]})])),
        )
            .prop_map(|(enable, time, scan, ids, images, extra)| {
                let mut m = Map::new();
                m.insert("Enable".into(), json!(enable));
                m.insert("ScanTime".into(), json!(time));
                m.insert("ScanType".into(), json!(scan));
                m.insert("Id".into(), json!(ids));
                m.insert("Images".into(), json!(images));
                m.insert("Future".into(), json!(extra));
                normalize(&m)
            })
    }

    proptest! {
        #[test]
        fn a_config_has_no_changes_against_itself(a in config()) {
            prop_assert!(diff(&a, &a).is_empty());
        }

        #[test]
        fn no_changes_exactly_when_the_hashes_match(a in config(), b in config()) {
            prop_assert_eq!(diff(&a, &b).is_empty(), config_hash(&a) == config_hash(&b));
        }

        #[test]
        fn the_diff_is_symmetric_in_kind(a in config(), b in config()) {
            let forward = diff(&a, &b);
            let backward = diff(&b, &a);
            prop_assert_eq!(forward.len(), backward.len());
            let count = |cs: &[Change], k| cs.iter().filter(|c| c.kind == k).count();
            prop_assert_eq!(count(&forward, ChangeKind::Added), count(&backward, ChangeKind::Removed));
        }

        #[test]
        fn reordering_sets_and_images_is_no_change(a in config(), rotate in 0usize..5) {
            let mut b = a.as_map().clone();
            for field in crate::task::fields::set_like().chain([crate::task::fields::IMAGES]).collect::<Vec<_>>().iter() {
                if let Some(Value::Array(items)) = a.get(*field) {
                    let mut items = items.clone();
                    let n = items.len();
                    items.rotate_left(rotate % n.max(1));
                    items.reverse();
                    b.insert(field.to_string(), Value::Array(items));
                }
            }
            prop_assert!(diff(&a, &normalize(&b)).is_empty());
        }

        #[test]
        fn short_and_long_scan_time_are_no_change(a in config(), h in 0u8..24, m in 0u8..60) {
            let mut short = a.as_map().clone();
            short.insert("ScanTime".into(), json!(format!("{h:02}:{m:02}")));
            let mut long = a.into_map();
            long.insert("ScanTime".into(), json!(format!("{h:02}:{m:02}:00")));
            prop_assert!(diff(&normalize(&short), &normalize(&long)).is_empty());
        }
    }
}

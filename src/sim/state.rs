//! The task the stand-in serves: its seed, the state file, and the checks of an Update.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::SimError;
use super::envelope::ApiError;
use crate::task::fields::{self, Elem, IMAGE_FIELDS, Type, Update};

/// The example answer of the reference page, less its RequestId.
pub fn seed() -> Map<String, Value> {
    let text = include_str!("seed.json");
    let value: Value = serde_json::from_str(text).expect("the embedded seed is JSON");
    unwrap_task(value).expect("the embedded seed is a task").0
}

/// The task of `{"Response": {...}}` or of the bare object, less its RequestId, and whether it
/// came wrapped (so a write-back keeps the file's shape).
fn unwrap_task(value: Value) -> Result<(Map<String, Value>, bool), String> {
    let Value::Object(mut outer) = value else {
        return Err("expected a JSON object".into());
    };
    let wrapped = outer.len() == 1 && outer.contains_key("Response");
    let mut task = if wrapped {
        match outer.remove("Response") {
            Some(Value::Object(task)) => task,
            _ => return Err("`Response` is not an object".into()),
        }
    } else {
        outer
    };
    if task.contains_key("Error") {
        return Err("it holds an error answer, not a task".into());
    }
    task.remove("RequestId");
    Ok((task, wrapped))
}

/// Where the state comes from and goes to.
#[derive(Debug)]
pub struct StateFile {
    pub path: PathBuf,
    wrapped: bool,
}

/// Reads a state file in either shape.
pub fn load(path: &Path) -> Result<(Map<String, Value>, StateFile), SimError> {
    let bad = |message: String| SimError::State {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let (task, wrapped) = unwrap_task(value).map_err(bad)?;
    Ok((
        task,
        StateFile {
            path: path.to_path_buf(),
            wrapped,
        },
    ))
}

impl StateFile {
    /// Writes the task back through a temporary file and a rename, so that a reader (or a crash)
    /// never sees half a file.
    pub fn save(&self, task: &Map<String, Value>) -> std::io::Result<()> {
        let value = if self.wrapped {
            serde_json::json!({ "Response": task })
        } else {
            Value::Object(task.clone())
        };
        let mut text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)?;
        text.push('\n');
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state.json".into());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Str,
    Strings,
    UInts,
    Images,
}

impl Kind {
    fn tencent_name(self) -> &'static str {
        match self {
            Kind::Bool => "Boolean",
            Kind::Int => "Integer",
            Kind::Str => "String",
            Kind::Strings => "Array of String",
            Kind::UInts => "Array of Integer",
            Kind::Images => "Array of ImageInfo",
        }
    }
}

/// The kind of an Update parameter, as the catalogue types the field.
fn kind_of(ty: Type) -> Kind {
    match ty {
        Type::Bool => Kind::Bool,
        Type::Int => Kind::Int,
        Type::List(Elem::Text) => Kind::Strings,
        Type::List(Elem::Int) => Kind::UInts,
        Type::List(Elem::Object) => Kind::Images,
        Type::Text | Type::TimeOfDay | Type::DateTime | Type::Any => Kind::Str,
    }
}

/// The parameters `UpdateImageRegistryTimingScanTask` takes, from the field catalogue: name,
/// kind, and whether required.
fn update_params() -> impl Iterator<Item = (&'static str, Kind, bool)> {
    fields::FIELDS
        .iter()
        .filter(|f| f.update != Update::No)
        .map(|f| (f.name, kind_of(f.ty), f.update == Update::Required))
}

fn type_error(name: &str, kind: Kind, got: &Value) -> ApiError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "Boolean",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    };
    ApiError::new(
        "InvalidParameter",
        format!(
            "The type of parameter `{name}` is invalid: expected {}, got {got}.",
            kind.tencent_name()
        ),
    )
}

fn check(name: &str, kind: Kind, value: &Value) -> Result<(), ApiError> {
    let wrong = || type_error(name, kind, value);
    let bad_value = |why: &str| {
        ApiError::new(
            "InvalidParameterValue",
            format!("The value of parameter `{name}` ({value}) is invalid: {why}."),
        )
    };
    match kind {
        Kind::Bool => value.as_bool().map(|_| ()).ok_or_else(wrong),
        Kind::Int => {
            let n = value.as_i64().ok_or_else(wrong)?;
            match name {
                "ScanPeriod" if n < 1 => Err(bad_value("it must be at least 1")),
                "ScanScope" if !(0..=2).contains(&n) => Err(bad_value("it must be 0, 1 or 2")),
                _ => Ok(()),
            }
        }
        Kind::Str => {
            let s = value.as_str().ok_or_else(wrong)?;
            if name == "ScanTime" && !is_time_of_day(s) {
                return Err(bad_value("expected a time of day HH:MM:SS or HH:MM"));
            }
            Ok(())
        }
        Kind::Strings => {
            let items = value.as_array().ok_or_else(wrong)?;
            for (i, item) in items.iter().enumerate() {
                if !item.is_string() {
                    return Err(type_error(&format!("{name}.{i}"), Kind::Str, item));
                }
            }
            Ok(())
        }
        Kind::UInts => {
            let items = value.as_array().ok_or_else(wrong)?;
            for (i, item) in items.iter().enumerate() {
                if item.as_u64().is_none() {
                    return Err(type_error(&format!("{name}.{i}"), Kind::Int, item));
                }
            }
            Ok(())
        }
        Kind::Images => {
            let items = value.as_array().ok_or_else(wrong)?;
            for (i, item) in items.iter().enumerate() {
                let Value::Object(image) = item else {
                    return Err(type_error(&format!("{name}.{i}"), Kind::Images, item));
                };
                for (field, v) in image {
                    let path = format!("{name}.{i}.{field}");
                    if !IMAGE_FIELDS.contains(&field.as_str()) {
                        return Err(unknown(&path));
                    }
                    if !v.is_string() && !v.is_null() {
                        return Err(type_error(&path, Kind::Str, v));
                    }
                }
            }
            Ok(())
        }
    }
}

fn is_time_of_day(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let ok = |p: &str, max: u32| p.len() == 2 && p.parse::<u32>().is_ok_and(|n| n <= max);
    match parts[..] {
        [h, m] => ok(h, 23) && ok(m, 59),
        [h, m, sec] => ok(h, 23) && ok(m, 59) && ok(sec, 59),
        _ => false,
    }
}

fn unknown(name: &str) -> ApiError {
    ApiError::new(
        "UnknownParameter",
        format!("The parameter `{name}` is not recognized."),
    )
}

/// Rejects any parameter of an action that takes none.
pub fn check_no_params(params: &Map<String, Value>) -> Result<(), ApiError> {
    match params.keys().next() {
        Some(name) => Err(unknown(name)),
        None => Ok(()),
    }
}

/// Checks an Update's parameters and returns the fields to set. A `null` counts as not given,
/// as Tencent's SDKs leave unset fields out.
pub fn check_update(params: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    if let Some(name) = params
        .keys()
        .find(|k| !update_params().any(|(p, _, _)| p == k.as_str()))
    {
        return Err(unknown(name));
    }
    let mut set = Map::new();
    for (name, kind, required) in update_params() {
        match params.get(name) {
            None | Some(Value::Null) if required => return Err(ApiError::missing(name)),
            None | Some(Value::Null) => {}
            Some(value) => {
                check(name, kind, value)?;
                set.insert(name.to_string(), value.clone());
            }
        }
    }
    Ok(set)
}

/// Turns GET query parameters (`Enable=true`, `ScanType.0=vul`, `Images.0.ImageName=x`) into the
/// JSON a POST would carry, typing scalars by the parameter's declared kind.
pub fn params_from_query(pairs: &[(String, String)]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (key, text) in pairs {
        let mut parts = key.split('.');
        let name = parts.next().unwrap_or_default();
        let kind = update_params()
            .find(|(p, _, _)| *p == name)
            .map(|(_, k, _)| k);
        let rest: Vec<&str> = parts.collect();
        let scalar = |k: Kind| -> Value {
            match k {
                // Python's SDK encodes booleans in a query as `True` and `False`.
                Kind::Bool => match text.to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::String(text.clone()),
                },
                Kind::Int | Kind::UInts => text
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(text.clone())),
                _ => Value::String(text.clone()),
            }
        };
        match (kind, &rest[..]) {
            (Some(k), []) => {
                out.insert(name.to_string(), scalar(k));
            }
            (Some(k @ (Kind::Strings | Kind::UInts)), [i]) => {
                let i: usize = i.parse().map_err(|_| unknown(key))?;
                set_index(&mut out, name, i, scalar(k));
            }
            (Some(Kind::Images), [i, field]) => {
                let i: usize = i.parse().map_err(|_| unknown(key))?;
                let arr = out
                    .entry(name.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = arr {
                    while items.len() <= i {
                        items.push(Value::Object(Map::new()));
                    }
                    if let Value::Object(image) = &mut items[i] {
                        image.insert(field.to_string(), Value::String(text.clone()));
                    }
                }
            }
            _ => return Err(unknown(key)),
        }
    }
    Ok(out)
}

fn set_index(out: &mut Map<String, Value>, name: &str, i: usize, value: Value) {
    let arr = out
        .entry(name.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = arr {
        while items.len() <= i {
            items.push(Value::Null);
        }
        items[i] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_seed_is_the_reference_example_without_request_id() {
        let seed = seed();
        assert_eq!(seed["All"], json!(false));
        assert_eq!(seed["ScanTime"], json!("03:00:00"));
        assert!(!seed.contains_key("RequestId"));
    }

    #[test]
    fn update_checks_required_types_values_and_names() {
        let ok = json!({"ScanPeriod": 7, "Enable": false, "ScanTime": "18:10", "ScanType": ["vul"], "Namespace": null});
        let set = check_update(&obj(ok)).unwrap();
        assert_eq!(set.len(), 4, "null is not given: {set:?}");
        let cases = [
            (
                json!({"Enable": true, "ScanTime": "03:00:00"}),
                "MissingParameter",
                "`ScanPeriod`",
            ),
            (
                json!({"ScanPeriod": "1", "Enable": true, "ScanTime": "03:00:00"}),
                "InvalidParameter",
                "expected Integer, got String",
            ),
            (
                json!({"ScanPeriod": 1, "Enable": 1, "ScanTime": "03:00:00"}),
                "InvalidParameter",
                "`Enable`",
            ),
            (
                json!({"ScanPeriod": 1, "Enable": true, "ScanTime": "25:00"}),
                "InvalidParameterValue",
                "`ScanTime`",
            ),
            (
                json!({"ScanPeriod": 0, "Enable": true, "ScanTime": "03:00"}),
                "InvalidParameterValue",
                "at least 1",
            ),
            (
                json!({"ScanPeriod": 1, "Enable": true, "ScanTime": "03:00", "ScanScope": 3}),
                "InvalidParameterValue",
                "`ScanScope`",
            ),
            (
                json!({"ScanPeriod": 1, "Enable": true, "ScanTime": "03:00", "Id": [1, -2]}),
                "InvalidParameter",
                "`Id.1`",
            ),
            (
                json!({"ScanPeriod": 1, "Enable": true, "ScanTime": "03:00", "ScanType": ["vul", 3]}),
                "InvalidParameter",
                "`ScanType.1`",
            ),
            (
                json!({"ScanPeriod": 1, "Enable": true, "ScanTime": "03:00", "Images": [{"Tag": "x"}]}),
                "UnknownParameter",
                "`Images.0.Tag`",
            ),
            (
                json!({"ScanPeriod": 1, "Enable": true, "ScanTime": "03:00", "Colour": "red"}),
                "UnknownParameter",
                "`Colour`",
            ),
        ];
        for (params, code, needle) in cases {
            let err = check_update(&obj(params.clone())).unwrap_err();
            assert_eq!(err.code, code, "{params}: {err:?}");
            assert!(err.message.contains(needle), "{params}: {err:?}");
        }
    }

    #[test]
    fn query_parameters_become_typed_json() {
        let pairs: Vec<(String, String)> = [
            ("ScanPeriod", "2"),
            ("Enable", "True"),
            ("ScanTime", "03:00:00"),
            ("ScanType.0", "vul"),
            ("ScanType.1", "risk"),
            ("Id.0", "5"),
            ("Images.0.ImageName", "nginx"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let params = params_from_query(&pairs).unwrap();
        assert_eq!(
            Value::Object(params.clone()),
            json!({"ScanPeriod": 2, "Enable": true, "ScanTime": "03:00:00", "ScanType": ["vul", "risk"], "Id": [5], "Images": [{"ImageName": "nginx"}]})
        );
        check_update(&params).unwrap();
        let err = params_from_query(&[("Foo".into(), "1".into())]).unwrap_err();
        assert_eq!(err.code, "UnknownParameter");
    }

    #[test]
    fn a_state_file_is_read_in_either_shape_and_written_back_in_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let wrapped = dir.path().join("wrapped.json");
        std::fs::write(
            &wrapped,
            r#"{"Response": {"Enable": true, "RequestId": "x"}}"#,
        )
        .unwrap();
        let (mut task, file) = load(&wrapped).unwrap();
        assert_eq!(Value::Object(task.clone()), json!({"Enable": true}));
        task.insert("Enable".into(), json!(false));
        file.save(&task).unwrap();
        let back: Value =
            serde_json::from_str(&std::fs::read_to_string(&wrapped).unwrap()).unwrap();
        assert_eq!(back, json!({"Response": {"Enable": false}}));

        let bare = dir.path().join("bare.json");
        std::fs::write(&bare, r#"{"ScanPeriod": 3}"#).unwrap();
        let (task, file) = load(&bare).unwrap();
        file.save(&task).unwrap();
        let back: Value = serde_json::from_str(&std::fs::read_to_string(&bare).unwrap()).unwrap();
        assert_eq!(back, json!({"ScanPeriod": 3}));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temp file left"
        );

        let error = dir.path().join("error.json");
        std::fs::write(&error, r#"{"Response": {"Error": {"Code": "X"}}}"#).unwrap();
        assert!(
            load(&error)
                .unwrap_err()
                .to_string()
                .contains("error answer")
        );
        std::fs::write(&error, "[1]").unwrap();
        assert!(load(&error).unwrap_err().to_string().contains("object"));
    }
}

/// The scheduled scan as the stand-in runs it: with the task on, a scan "runs" every day at
/// `ScanTime` (Beijing time, as Tencent means it) and succeeds, so that `LastScanTime` and
/// `ScanResult` move the way the real service's do. A state that sets `LastScanTime` itself
/// is answered as it is.
#[derive(Debug, Default)]
pub struct ScanSimulation {
    /// When the task was last switched on; scans before it did not happen. `None`: always on.
    enabled_since: Option<chrono::DateTime<chrono::Utc>>,
    last_scan: Option<chrono::DateTime<chrono::Utc>>,
}

impl ScanSimulation {
    /// Notes an Update: the scans the task ran before it are kept (the real service keeps its
    /// last scan's status across a change of the task), and switching the task on starts the
    /// clock for its next scan.
    pub fn updated(
        &mut self,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        self.catch_up(before, now);
        let on = |t: &Map<String, Value>| t.get("Enable") == Some(&Value::Bool(true));
        if on(after) && !on(before) {
            self.enabled_since = Some(now);
        }
    }

    /// Records the newest scan `task` has run by `now`, if it is on and has a scan time.
    fn catch_up(&mut self, task: &Map<String, Value>, now: chrono::DateTime<chrono::Utc>) {
        let enabled = task.get("Enable") == Some(&Value::Bool(true));
        let time = task.get("ScanTime").and_then(Value::as_str).and_then(|t| {
            chrono::NaiveTime::parse_from_str(t, "%H:%M:%S")
                .or_else(|_| chrono::NaiveTime::parse_from_str(t, "%H:%M"))
                .ok()
        });
        let (true, Some(time)) = (enabled, time) else {
            return;
        };
        let local_now = now.with_timezone(&beijing());
        let mut day = local_now.date_naive();
        if local_now.time() < time {
            day = day.pred_opt().unwrap_or(day);
        }
        use chrono::TimeZone;
        if let Some(occurrence) = beijing().from_local_datetime(&day.and_time(time)).single() {
            let occurrence = occurrence.with_timezone(&chrono::Utc);
            if self.enabled_since.is_none_or(|since| since <= occurrence) {
                self.last_scan = Some(occurrence);
            }
        }
    }

    /// The task as Describe answers it at `now`.
    pub fn answer(
        &mut self,
        task: &Map<String, Value>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Map<String, Value> {
        let mut out = task.clone();
        if !task.contains_key("LastScanTime") {
            self.catch_up(task, now);
            if let Some(last) = self.last_scan {
                // A scan takes a few minutes; the answer shows when it finished.
                let finished = (last + chrono::Duration::minutes(10)).with_timezone(&beijing());
                out.insert(
                    "LastScanTime".into(),
                    Value::String(finished.format("%Y-%m-%d %H:%M:%S").to_string()),
                );
                out.insert("ScanResult".into(), Value::String("Success".into()));
            }
        }
        with_nulls(out)
    }
}

/// Beijing time, in which Tencent means the times of day and the `LastScanTime` it shows.
fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is valid")
}

/// The fields Tencent's SDK marks as optional ("may return null"): the real API answers each
/// one it has no value for as `null` rather than leaving it out, so clients meet both.
pub const NULLABLE: [&str; 8] = [
    "ScanEndTime",
    "RegistryType",
    "ContainerRunning",
    "ScanScope",
    "Namespace",
    "ExcludeImageAssetIds",
    "LastScanTime",
    "ScanResult",
];

/// `answer` with every nullable field it lacks given as `null`.
fn with_nulls(mut answer: Map<String, Value>) -> Map<String, Value> {
    for name in NULLABLE {
        answer.entry(name).or_insert(Value::Null);
    }
    answer
}

#[cfg(test)]
mod scan_tests {
    use super::*;
    use crate::test_support::at;
    use serde_json::json;

    #[test]
    fn scans_follow_the_clock_while_the_task_is_on() {
        let mut sim = ScanSimulation::default();
        let on = json!({"Enable": true, "ScanTime": "03:00:00"})
            .as_object()
            .unwrap()
            .clone();
        // 19:30 UTC on the 1st is 03:30 on the 2nd in Beijing: today's 03:00 scan has run.
        let a = sim.answer(&on, at("2026-11-01T19:30:00Z"));
        assert_eq!(a["LastScanTime"], "2026-11-02 03:10:00");
        assert_eq!(a["ScanResult"], "Success");
        // Before 03:00 Beijing, the last scan is yesterday's.
        let b = sim.answer(&on, at("2026-11-02T18:00:00Z"));
        assert_eq!(b["LastScanTime"], "2026-11-02 03:10:00");
        // Switched off at 04:00 Beijing on the 3rd, unread since the 2nd: that morning's scan
        // ran before the switch and stays the last one.
        let off = json!({"Enable": false, "ScanTime": "03:00:00"})
            .as_object()
            .unwrap()
            .clone();
        sim.updated(&on, &off, at("2026-11-02T20:00:00Z"));
        let c = sim.answer(&off, at("2026-11-05T20:00:00Z"));
        assert_eq!(c["LastScanTime"], "2026-11-03 03:10:00");
        // On again at 12:00 UTC on the 5th: the next scan is 03:00 Beijing on the 6th (19:00 UTC).
        sim.updated(&off, &on, at("2026-11-05T12:00:00Z"));
        assert_eq!(
            sim.answer(&on, at("2026-11-05T18:00:00Z"))["LastScanTime"],
            "2026-11-03 03:10:00"
        );
        assert_eq!(
            sim.answer(&on, at("2026-11-05T19:05:00Z"))["LastScanTime"],
            "2026-11-06 03:10:00"
        );
    }

    #[test]
    fn every_nullable_field_is_a_documented_one() {
        for name in NULLABLE {
            assert!(crate::task::fields::field(name).is_some(), "{name}");
        }
    }

    #[test]
    fn a_pinned_last_scan_is_answered_as_it_is() {
        let mut sim = ScanSimulation::default();
        let pinned =
            json!({"Enable": true, "ScanTime": "03:00", "LastScanTime": "2020-01-01 00:00:00"})
                .as_object()
                .unwrap()
                .clone();
        assert_eq!(
            sim.answer(&pinned, at("2026-11-01T00:00:00Z"))["LastScanTime"],
            "2020-01-01 00:00:00"
        );
        assert_eq!(
            sim.answer(&pinned, at("2026-11-01T00:00:00Z"))
                .get("ScanResult"),
            Some(&Value::Null)
        );
    }
}

//! What putting a task back takes: the fields a live config and the one to restore differ in,
//! the `UpdateImageRegistryTimingScanTask` parameters that set them, and the fields no Update
//! can set. Pure: the application fetches, records and sends.
//!
//! Rules, each tested below:
//! 1. Fields are compared top-level field by top-level field of the normalized configs.
//! 2. The Update always carries its required parameters (`Enable`, `ScanTime`, `ScanPeriod`),
//!    from the config to restore, and every other documented field that differs.
//! 3. A list (a set-like field, `Images`) absent from the config to restore is sent as `[]`:
//!    an empty list and a missing one are the same config.
//! 4. Not restorable: a field the catalogue does not document (the Update does not take it); a
//!    scalar absent from the config to restore but set live (no Update clears it); a value whose
//!    type the Update does not take; an image holding fields the Update does not take.
//! 5. The plan is data (`tcss-audit/restore-plan/v2`): the target, the account it was made
//!    against, what it restores to (a baseline's journal entry, or a snapshot) with its config
//!    hash, the live config hash, times to the second, and a `binding`: the SHA-256 of the
//!    canonical JSON of all the rest. An apply derives the plan again from the history and the
//!    live task and sends nothing unless the two bindings are equal.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical::canonical_value;
use super::fields::{self, Elem, IMAGE_FIELDS, Type, Update};
use super::normalize::Config;

pub const PLAN_SCHEMA: &str = "tcss-audit/restore-plan/v2";

/// A restore entry's outcome when the Update was accepted and the task could not be read back.
pub const READ_BACK_FAILED: &str = "read-back failed";

/// Plans of earlier versions: bound to less than an apply checks now, so never applied.
const OLDER_SCHEMAS: [&str; 1] = ["tcss-audit/restore-plan/v1"];

/// A restore plan, as `audit restore --format json` prints it and `--out` saves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub schema: String,
    pub target: String,
    /// The account (UIN) the plan was made against: the one the credentials that read the live
    /// task belong to (`sts:GetCallerIdentity`).
    pub account: String,
    /// When the plan was made (UTC, RFC 3339, to the second).
    pub planned_at: String,
    pub live: Live,
    pub restore_to: RestoreTo,
    /// Each field that differs, in catalogue order (undocumented fields last, by name).
    pub changes: Vec<FieldChange>,
    /// The parameters the Update would send; empty when nothing is to be sent.
    pub update: Map<String, Value>,
    pub not_restorable: Vec<NotRestorable>,
    /// SHA-256 (hex) of the canonical JSON of every other field: see [`binding`].
    pub binding: String,
}

/// The live config the plan was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Live {
    pub config_hash: String,
    /// When it was read (UTC, RFC 3339, to the second).
    pub observed_at: String,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// What to restore: the approved baseline (its journal entry), or a recorded snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreTo {
    /// `baseline` or `snapshot`.
    pub kind: String,
    /// The journal entry that approved the baseline, for a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_entry: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<i64>,
    pub config_hash: String,
    /// The baseline's approval, for a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// The binding of `plan`: SHA-256 (hex) of the canonical JSON of the plan without `binding`,
/// so that a change to any other field changes it.
pub fn binding(plan: &Plan) -> String {
    let mut value = serde_json::to_value(plan).expect("plans serialize");
    if let Value::Object(m) = &mut value {
        m.remove("binding");
    }
    hex::encode(Sha256::digest(canonical_value(&value).as_bytes()))
}

/// Why a saved plan cannot be read as one to apply.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("not a restore plan: {0}")]
    NotAPlan(String),
    #[error(
        "the plan was made by an older version ({0}), which bound it to less than an apply checks now: plan again"
    )]
    Older(String),
    #[error("the plan's schema is {0:?}, not {PLAN_SCHEMA}")]
    Unknown(String),
    #[error("the plan's binding is not the hash of its content: it was edited; make a new plan")]
    Unbound,
}

/// Reads a saved plan: one of this version, whose binding is the hash of its content.
pub fn read_plan(text: &str) -> Result<Plan, PlanError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| PlanError::NotAPlan(e.to_string()))?;
    let schema = value.get("schema").and_then(Value::as_str).unwrap_or("");
    if OLDER_SCHEMAS.contains(&schema) {
        return Err(PlanError::Older(schema.to_string()));
    }
    if schema != PLAN_SCHEMA {
        return Err(PlanError::Unknown(schema.to_string()));
    }
    let plan: Plan =
        serde_json::from_value(value).map_err(|e| PlanError::NotAPlan(e.to_string()))?;
    if binding(&plan) != plan.binding {
        return Err(PlanError::Unbound);
    }
    Ok(plan)
}

/// One field that differs: its live value and the one to restore (`None`: absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    pub field: String,
    pub live: Option<Value>,
    pub restored: Option<Value>,
    pub restorable: bool,
}

/// A field that differs and that no Update can set, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotRestorable {
    pub field: String,
    pub reason: String,
}

/// The fields that differ, the parameters, and what cannot be set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parts {
    pub changes: Vec<FieldChange>,
    pub update: Map<String, Value>,
    pub not_restorable: Vec<NotRestorable>,
}

/// Compares `live` with `restored` and says what an Update must send (rules 1 to 4).
pub fn parts(live: &Config, restored: &Config) -> Parts {
    let mut names: Vec<&str> = fields::FIELDS
        .iter()
        .filter(|f| fields::is_config(f.name))
        .map(|f| f.name)
        .collect();
    let mut unknown: Vec<&str> = live
        .keys()
        .chain(restored.keys())
        .map(String::as_str)
        .filter(|k| fields::field(k).is_none())
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    names.extend(unknown);

    let mut out = Parts::default();
    for name in names {
        let (l, r) = (live.get(name), restored.get(name));
        if l == r {
            continue;
        }
        let why = not_settable(name, r);
        out.changes.push(FieldChange {
            field: name.to_string(),
            live: l.cloned(),
            restored: r.cloned(),
            restorable: why.is_none(),
        });
        match why {
            Some(reason) => out.not_restorable.push(NotRestorable {
                field: name.to_string(),
                reason,
            }),
            None => {
                out.update.insert(
                    name.to_string(),
                    r.cloned().unwrap_or(Value::Array(Vec::new())),
                );
            }
        }
    }
    let required = fields::FIELDS
        .iter()
        .filter(|f| f.update == Update::Required);
    if !out.update.is_empty() {
        for f in required {
            match restored.get(f.name) {
                Some(v) if not_settable(f.name, Some(v)).is_none() => {
                    out.update.insert(f.name.to_string(), v.clone());
                }
                _ => {
                    // Without every required parameter nothing can be sent.
                    if !out.not_restorable.iter().any(|n| n.field == f.name) {
                        out.not_restorable.push(NotRestorable {
                            field: f.name.to_string(),
                            reason: "the Update requires it, and the config to restore has no value of its type".into(),
                        });
                    }
                    out.update.clear();
                    for c in &mut out.changes {
                        c.restorable = false;
                    }
                    return out;
                }
            }
        }
    }
    out
}

/// Why no Update can set `name` to `value` (`None`: absent from the config to restore).
fn not_settable(name: &str, value: Option<&Value>) -> Option<String> {
    let Some(field) = fields::field(name) else {
        return Some(
            "the Update does not take it (a field the API added that this tool does not document)"
                .into(),
        );
    };
    if field.update == Update::No {
        return Some("the Update does not take it".into());
    }
    let Some(value) = value else {
        return match field.ty {
            Type::List(_) => None,
            _ => {
                Some("it is absent from the config to restore, and no Update clears a field".into())
            }
        };
    };
    let fits = match field.ty {
        Type::Bool => value.is_boolean(),
        Type::Int => value.is_i64(),
        Type::Text | Type::TimeOfDay | Type::DateTime => value.is_string(),
        Type::List(Elem::Text) => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
        Type::List(Elem::Int) => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_u64)),
        Type::List(Elem::Object) => {
            let Some(images) = value.as_array() else {
                return Some(format!(
                    "its value to restore is not {}, which the Update takes",
                    field.ty.describe()
                ));
            };
            let extra = images.iter().find_map(|i| match i {
                Value::Object(m) => m
                    .iter()
                    .find(|(k, v)| !IMAGE_FIELDS.contains(&k.as_str()) || !v.is_string())
                    .map(|(k, _)| k.clone()),
                _ => Some(String::new()),
            });
            return extra.map(|k| {
                if k.is_empty() {
                    "an image to restore is not an object".into()
                } else {
                    format!(
                        "an image to restore has a field {k:?} that the Update does not take as given"
                    )
                }
            });
        }
        Type::Any => true,
    };
    (!fits).then(|| {
        format!(
            "its value to restore is not {}, which the Update takes",
            field.ty.describe()
        )
    })
}

/// The fields of `after` that still differ from `restored`, in catalogue order: what did not
/// take.
pub fn not_taken(after: &Config, restored: &Config) -> Vec<String> {
    parts(after, restored)
        .changes
        .into_iter()
        .map(|c| c.field)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::normalize::normalize;
    use serde_json::json;

    fn config(v: Value) -> Config {
        normalize(v.as_object().unwrap())
    }

    fn base() -> Value {
        json!({"Enable": true, "ScanTime": "03:00", "ScanPeriod": 1, "ScanType": ["vul", "risk", "virus"],
               "Namespace": ["prod"], "ContainerRunning": false})
    }

    #[test]
    fn equal_configs_need_no_update() {
        let p = parts(&config(base()), &config(base()));
        assert_eq!(p, Parts::default());
    }

    #[test]
    fn the_update_carries_the_required_fields_and_what_differs() {
        let mut live = base();
        live["Enable"] = json!(false);
        live["ScanType"] = json!(["VUL"]);
        let p = parts(&config(live), &config(base()));
        let fields: Vec<&str> = p.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["Enable", "ScanType"]);
        assert_eq!(
            Value::Object(p.update),
            json!({"Enable": true, "ScanTime": "03:00:00", "ScanPeriod": 1, "ScanType": ["risk", "virus", "vul"]})
        );
        assert!(p.not_restorable.is_empty());
    }

    #[test]
    fn a_list_absent_from_the_config_to_restore_is_sent_empty() {
        let mut restored = base();
        restored.as_object_mut().unwrap().remove("Namespace");
        let p = parts(&config(base()), &config(restored));
        assert_eq!(p.update["Namespace"], json!([]));
        assert_eq!(p.changes[0].restored, None);
    }

    #[test]
    fn what_no_update_sets_is_named_and_not_sent() {
        let mut live = base();
        live["NewKnob"] = json!(1);
        live["ScanScope"] = json!(1);
        let p = parts(&config(live), &config(base()));
        let names: Vec<&str> = p.not_restorable.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(names, ["ScanScope", "NewKnob"]);
        assert!(p.update.is_empty(), "nothing else differs: {:?}", p.update);
        assert!(p.not_restorable[0].reason.contains("clears"));
    }

    #[test]
    fn a_value_of_the_wrong_type_or_an_odd_image_is_not_restorable() {
        let mut restored = base();
        restored["Latest"] = json!("yes");
        restored["Images"] = json!([{"ImageName": "a", "Secret": "x"}]);
        let p = parts(&config(base()), &config(restored));
        let names: Vec<&str> = p.not_restorable.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(names, ["Images", "Latest"]);
        assert!(p.update.is_empty());
    }

    #[test]
    fn without_a_required_field_nothing_is_sent() {
        let mut restored = base();
        restored.as_object_mut().unwrap().remove("ScanPeriod");
        let mut live = base();
        live["Enable"] = json!(false);
        let p = parts(&config(live), &config(restored));
        assert!(p.update.is_empty());
        assert!(p.changes.iter().all(|c| !c.restorable));
        assert!(p.not_restorable.iter().any(|n| n.field == "ScanPeriod"));
    }

    fn plan() -> Plan {
        let p = parts(
            &config(json!({"Enable": false, "ScanTime": "03:00", "ScanPeriod": 1})),
            &config(base()),
        );
        let mut plan = Plan {
            schema: PLAN_SCHEMA.into(),
            target: "prod".into(),
            account: "100000000001".into(),
            planned_at: "2026-10-01T03:00:00Z".into(),
            live: Live {
                config_hash: "a".repeat(64),
                observed_at: "2026-10-01T02:59:58Z".into(),
                request_id: Some("req-1".into()),
            },
            restore_to: RestoreTo {
                kind: "baseline".into(),
                journal_entry: Some(3),
                snapshot: Some(7),
                config_hash: "b".repeat(64),
                approved_at: Some("2026-09-01T00:00:00Z".into()),
                approved_by: Some("alice".into()),
            },
            changes: p.changes,
            update: p.update,
            not_restorable: p.not_restorable,
            binding: String::new(),
        };
        plan.binding = binding(&plan);
        plan
    }

    #[test]
    fn a_saved_plan_reads_back_and_any_edit_unbinds_it() {
        let plan = plan();
        let text = serde_json::to_string_pretty(&plan).unwrap();
        assert_eq!(read_plan(&text), Ok(plan.clone()));
        let edits: [fn(&mut Plan); 5] = [
            |p| p.target = "other".into(),
            |p| p.account = "100000000002".into(),
            |p| p.restore_to.config_hash = "c".repeat(64),
            |p| p.changes[0].restored = Some(json!(false)),
            |p| {
                p.update.insert("ScanPeriod".into(), json!(30));
            },
        ];
        for edit in edits {
            let mut edited = plan.clone();
            edit(&mut edited);
            let text = serde_json::to_string(&edited).unwrap();
            assert_eq!(read_plan(&text), Err(PlanError::Unbound));
        }
    }

    #[test]
    fn an_older_or_unknown_plan_is_not_read() {
        let v1 = json!({"schema": "tcss-audit/restore-plan/v1", "target": "prod", "made_at": "x"});
        let e = read_plan(&v1.to_string()).unwrap_err();
        assert!(e.to_string().contains("older version"), "{e}");
        assert!(e.to_string().ends_with("plan again"), "{e}");
        assert!(matches!(
            read_plan(r#"{"schema": "x"}"#),
            Err(PlanError::Unknown(_))
        ));
        assert!(matches!(read_plan("[1"), Err(PlanError::NotAPlan(_))));
    }

    #[test]
    fn what_did_not_take_is_named() {
        let mut after = base();
        after["ScanPeriod"] = json!(7);
        assert_eq!(not_taken(&config(after), &config(base())), ["ScanPeriod"]);
        assert!(not_taken(&config(base()), &config(base())).is_empty());
    }
}

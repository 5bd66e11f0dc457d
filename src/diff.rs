//! Structural diff of two normalized configs into field-level changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::normalize::{Config, Status};

/// What happened to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One field-level change (PRODUCT.md, JSON outputs: diff).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// The changes that turn `old` into `new`, in a deterministic order.
pub fn diff(_old: &Config, _new: &Config) -> Vec<Change> {
    todo!("diff")
}

/// Changes of the status fields, which are not drift.
pub fn diff_status(_old: &Status, _new: &Status) -> Vec<Change> {
    todo!("diff_status")
}

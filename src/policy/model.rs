//! The checked policy model: rules, waivers and tests, as loaded from every policy file.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::baseline::Baseline;
use super::diagnostic::Location;
use super::fields::FieldPath;
use super::ops::{HistoryOp, StateOp};

/// How much a failure matters, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("{s:?} is not a severity; use one of info, low, medium, high, critical")
            })
    }
}

/// A field, an op and its value: a state rule's check, or a `when` precondition.
#[derive(Debug, Clone)]
pub struct Condition {
    pub field: FieldPath,
    pub op: StateOp,
    /// The op and value as written, for reports (`contains_all ["vul","risk","virus"]`).
    pub expected: String,
}

/// What a rule checks.
#[derive(Debug, Clone)]
pub enum Check {
    State(Condition),
    History {
        /// `None` for `max_gap`, and for `unchanged` / `max_changes` over the whole config.
        field: Option<FieldPath>,
        window: Duration,
        op: HistoryOp,
        expected: String,
    },
    /// `equals_baseline`: the config as observed equals the approved baseline in force, top-level
    /// field by top-level field.
    Baseline {
        /// Top-level config fields left out of the comparison, as written.
        ignore: Vec<String>,
        /// `equals_baseline`, with ` ignore [...]` when fields are left out.
        expected: String,
    },
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub check: Check,
    pub when: Option<Condition>,
    pub remediation: String,
    /// Index into [`PolicySet::files`].
    pub file: usize,
    pub location: Location,
}

impl Rule {
    /// What a finding of the rule is about, in words: its field, else "the history" for the
    /// gaps between observations, else "the config" for a rule that follows or compares the
    /// whole config.
    pub fn subject(&self) -> String {
        match &self.check {
            Check::State(c) => c.field.text.clone(),
            Check::History { field: Some(f), .. } => f.text.clone(),
            Check::History {
                op: HistoryOp::MaxGap(_),
                ..
            } => "the history".into(),
            Check::History { .. } | Check::Baseline { .. } => "the config".into(),
        }
    }

    /// The field as the JSON of a finding names it: `(observations)` and `(config)` where the
    /// rule follows no field (a baseline rule compares the whole config).
    pub fn field_text(&self) -> String {
        match &self.check {
            Check::State(c) => c.field.text.clone(),
            Check::History { field: Some(f), .. } => f.text.clone(),
            Check::History {
                op: HistoryOp::MaxGap(_),
                ..
            } => "(observations)".into(),
            Check::History { .. } | Check::Baseline { .. } => "(config)".into(),
        }
    }

    pub fn expected(&self) -> &str {
        match &self.check {
            Check::State(c) => &c.expected,
            Check::History { expected, .. } | Check::Baseline { expected, .. } => expected,
        }
    }
}

/// A waiver: a known failure accepted until a date.
#[derive(Debug, Clone)]
pub struct Waiver {
    pub rule: String,
    /// `None`: every target.
    pub target: Option<String>,
    pub reason: String,
    pub owner: String,
    /// Valid through the end of this UTC day.
    pub expires: NaiveDate,
    pub file: usize,
    pub location: Location,
}

impl Waiver {
    /// Whether it still applies at `now`.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        now.date_naive() <= self.expires
    }

    pub fn covers_target(&self, target: &str) -> bool {
        self.target.as_deref().is_none_or(|t| t == target)
    }
}

/// One observation in a policy test.
#[derive(Debug, Clone)]
pub struct TestPoint {
    pub at: DateTime<Utc>,
    /// Config and status fields together, as written.
    pub view: Map<String, Value>,
}

/// A `[[test]]` case.
#[derive(Debug, Clone)]
pub struct PolicyTest {
    pub name: String,
    pub target: String,
    pub now: DateTime<Utc>,
    /// Earlier observations, oldest first; the test's `config` is observed at `now` after them.
    pub history: Vec<TestPoint>,
    pub config: Map<String, Value>,
    /// The test's `baseline`: approved one second before `now`, so in force at `now`. `None`:
    /// the target has no approved baseline.
    pub baseline: Option<Baseline>,
    pub expect_fail: Vec<String>,
    pub expect_pass: Vec<String>,
    pub expect_waived: Vec<String>,
    pub file: usize,
    pub location: Location,
}

/// One loaded policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyFileInfo {
    pub file: String,
    pub name: String,
    pub sha256: String,
}

/// Every rule, waiver and test of the loaded files, in file order.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub(crate) files: Vec<PolicyFileInfo>,
    pub(crate) descriptions: Vec<String>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) waivers: Vec<Waiver>,
    pub(crate) tests: Vec<PolicyTest>,
}

impl PolicySet {
    pub fn files(&self) -> &[PolicyFileInfo] {
        &self.files
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn waivers(&self) -> &[Waiver] {
        &self.waivers
    }

    pub fn tests(&self) -> &[PolicyTest] {
        &self.tests
    }

    /// The description of file `i` from its `[policy]` table.
    pub fn description(&self, i: usize) -> &str {
        self.descriptions.get(i).map_or("", String::as_str)
    }

    /// The longest history window any rule needs (zero with no history rules); the caller passes
    /// this much history before the evaluated snapshot, plus one observation before that.
    pub fn max_window(&self) -> Duration {
        self.rules
            .iter()
            .filter_map(|r| match &r.check {
                Check::History { window, .. } => Some(*window),
                Check::State(_) | Check::Baseline { .. } => None,
            })
            .max()
            .unwrap_or_else(Duration::zero)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert!(
            "severe"
                .parse::<Severity>()
                .unwrap_err()
                .contains("critical")
        );
    }
}

//! What both readable formats say of the report, format aside: the parts of a target's section
//! in order, the rows of its tables and the wording of its verdicts. The Markdown and the HTML
//! renderers walk these, so they cannot drift apart; each only marks the text up.

use chrono::NaiveDate;
use serde_json::Value;

use super::{
    ComplianceReport, DayResult, DayStatus, Membership, RunTarget, SeverityCounts, TargetReport,
};
use crate::policy::RuleResult;
use crate::task::source::Source;
use crate::task::text::count;

/// The parts of a target's section, in order. Both the Markdown and the HTML renderers walk
/// [`TargetSection::of`] and match every part, so a part is in both reports or in neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSection {
    /// The latest snapshot and its verdict, the account it came from and account changes (or
    /// that there is nothing to judge).
    Latest,
    Configuration,
    FailingRules,
    Waivers,
    Drift,
    Baseline,
    Restores,
    Days,
    Evidence,
}

impl TargetSection {
    /// The parts a target's section has: without a snapshot, only what says so and its days.
    pub fn of(t: &TargetReport) -> Vec<TargetSection> {
        use TargetSection::*;
        if t.latest.is_none() || t.check.is_none() {
            return vec![Latest, Days];
        }
        let mut parts = vec![
            Latest,
            Configuration,
            FailingRules,
            Waivers,
            Drift,
            Baseline,
        ];
        if !t.restores.is_empty() {
            parts.push(Restores);
        }
        parts.extend([Days, Evidence]);
        parts
    }

    /// Its heading, the same in every format; the first part has none.
    pub fn title(self) -> Option<&'static str> {
        use TargetSection::*;
        Some(match self {
            Latest => return None,
            Configuration => "Configuration",
            FailingRules => "Failing rules",
            Waivers => "Waivers in force",
            Drift => "Drift in the window",
            Baseline => "Drift from the approved baseline",
            Restores => "Restores applied",
            Days => "Days",
            Evidence => "Evidence",
        })
    }
}

/// A row of a day-by-day table: a day, or a run of consecutive days not observed, said once (a
/// new target's window is mostly days before its first snapshot).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DayRow<'a> {
    Day(&'a DayResult),
    NotObserved {
        first: NaiveDate,
        last: NaiveDate,
        days: usize,
    },
}

/// The rows of `daily`, runs of days not observed folded into one.
pub fn day_rows(daily: &[DayResult]) -> Vec<DayRow<'_>> {
    let mut rows: Vec<DayRow<'_>> = Vec::new();
    for d in daily {
        match (d.status, rows.last_mut()) {
            (DayStatus::NotObserved, Some(DayRow::NotObserved { last, days, .. })) => {
                *last = d.date;
                *days += 1;
            }
            (DayStatus::NotObserved, _) => rows.push(DayRow::NotObserved {
                first: d.date,
                last: d.date,
                days: 1,
            }),
            _ => rows.push(DayRow::Day(d)),
        }
    }
    rows
}

/// The longest window whose days the reports list one by one; a longer one (a quarter, a year)
/// is summarized month by month, and its days are in the JSON report and the HTML calendar.
pub const MAX_DAILY_DAYS: usize = 31;

/// A month of a long window: how its days were judged, and which rules failed on how many.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthRow {
    pub year: i32,
    pub month: u32,
    pub days: usize,
    pub compliant: usize,
    pub failing: usize,
    pub missed: usize,
    pub not_observed: usize,
    pub rules: std::collections::BTreeMap<String, usize>,
}

/// The months of `daily`, in order.
pub fn month_rows(daily: &[DayResult]) -> Vec<MonthRow> {
    use chrono::Datelike;
    let mut months: Vec<MonthRow> = Vec::new();
    for d in daily {
        let (year, month) = (d.date.year(), d.date.month());
        if months
            .last()
            .is_none_or(|m| (m.year, m.month) != (year, month))
        {
            months.push(MonthRow {
                year,
                month,
                ..MonthRow::default()
            });
        }
        let Some(m) = months.last_mut() else { continue };
        m.days += 1;
        match d.status {
            DayStatus::Compliant => m.compliant += 1,
            DayStatus::Failing => m.failing += 1,
            DayStatus::Missed => m.missed += 1,
            DayStatus::NotObserved => m.not_observed += 1,
        }
        for rule in &d.failing {
            *m.rules.entry(rule.clone()).or_default() += 1;
        }
    }
    months
}

/// A run of days as text: `2026-11-01` alone, `2026-11-01 to 2026-11-29` otherwise.
pub fn day_range(first: NaiveDate, last: NaiveDate) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first} to {last}")
    }
}

/// `N/M (P%)`, the percentage rounded half up.
pub(super) fn share(n: usize, m: usize) -> String {
    if m == 0 {
        return "0/0".into();
    }
    format!("{n}/{m} ({}%)", (200 * n + m) / (2 * m))
}

/// Failures by severity, most severe first: `2 high, 1 medium`, or `none`.
pub(super) fn severities(c: &SeverityCounts) -> String {
    if c.total() == 0 {
        return "none".into();
    }
    [
        (c.critical, "critical"),
        (c.high, "high"),
        (c.medium, "medium"),
        (c.low, "low"),
        (c.info, "info"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, s)| format!("{n} {s}"))
    .collect::<Vec<_>>()
    .join(", ")
}

/// The sentence that opens a target's days: the share, the missed nights, and the days not
/// observed, said once as the runs of days they are.
pub(super) fn days_sentence(r: &ComplianceReport, t: &TargetReport) -> String {
    let runs: Vec<String> = day_rows(&t.daily)
        .into_iter()
        .filter_map(|row| match row {
            DayRow::NotObserved { first, last, .. } => Some(day_range(first, last)),
            DayRow::Day(_) => None,
        })
        .collect();
    let when = if runs.is_empty() {
        String::new()
    } else {
        format!("{}, ", runs.join(", "))
    };
    format!(
        "{} of the observed days compliant at {}; {}; {} not observed ({when}before the history held).",
        share(t.compliant_days, t.observed_days),
        r.fail_on,
        count(t.gaps.len() as u64, "missed night", "missed nights"),
        count(t.not_observed.len() as u64, "day", "days"),
    )
}

/// The verdict of a run of days not observed.
pub(super) fn not_observed_verdict(days: usize) -> String {
    format!(
        "not observed ({}, before the history held)",
        count(days as u64, "day", "days")
    )
}

/// A cell's content before markup: plain words, words to stress, or a value shown as JSON.
pub(super) enum Shown<'a> {
    Plain(&'static str),
    Alarm(&'static str),
    Value(&'a Value),
}

/// `Enable` on a day: on, off, missing from the snapshot, or empty on a day without one.
pub(super) fn enable_of(d: &DayResult) -> Shown<'_> {
    match &d.enable {
        Some(Value::Bool(true)) => Shown::Plain("on"),
        Some(Value::Bool(false)) => Shown::Alarm("off"),
        Some(other) => Shown::Value(other),
        None if d.snapshot.is_some() => Shown::Plain("missing"),
        None => Shown::Plain(""),
    }
}

/// A row of the configuration table: a field's value, or one image.
pub(super) enum ConfigValue<'a> {
    Value(&'a Value),
    Image(&'a Value),
}

/// The latest config's rows: a field a row, an image a row by its key, as the drift names them.
pub(super) fn config_rows(t: &TargetReport) -> Vec<(String, ConfigValue<'_>)> {
    let mut rows = Vec::new();
    let Some(config) = &t.config else { return rows };
    for (k, v) in config.iter() {
        match (k.as_str(), v) {
            (crate::task::fields::IMAGES, Value::Array(images)) => {
                for image in images {
                    let key = image
                        .as_object()
                        .map(crate::task::normalize::image_key)
                        .unwrap_or_default();
                    rows.push((format!("Images[{key}]"), ConfigValue::Image(image)));
                }
            }
            _ => rows.push((k.clone(), ConfigValue::Value(v))),
        }
    }
    rows
}

/// The rules of the check that fail or cannot be evaluated, most severe first, in rule order
/// otherwise.
pub(super) fn failing_rules(t: &TargetReport) -> Vec<&RuleResult> {
    let Some(check) = &t.check else {
        return Vec::new();
    };
    let mut failing: Vec<_> = check
        .results
        .iter()
        .filter(|r| r.status.is_failing())
        .collect();
    failing.sort_by_key(|r| std::cmp::Reverse(r.severity));
    failing
}

/// Whether a result names a field of the task: a rule on the whole config or on the
/// observations does not.
pub(super) fn names_field(res: &RuleResult) -> bool {
    !res.field.starts_with('(')
}

/// The value a rule saw.
pub(super) enum Seen<'a> {
    /// A duration or a count: read as itself.
    Text(&'a str),
    /// A value of the task: read as its JSON.
    Value(&'a Value),
}

pub(super) fn seen_value(res: &RuleResult) -> Seen<'_> {
    match &res.actual {
        Value::String(s) if !res.measured.is_value() => Seen::Text(s),
        v => Seen::Value(v),
    }
}

pub(super) fn source_name(s: Source) -> &'static str {
    match s {
        Source::Fetch => "fetched",
        Source::Import => "imported",
    }
}

/// What a snapshot of the evidence is to the report: the latest, and each change's ends.
pub(super) fn evidence_roles(t: &TargetReport, id: i64) -> Vec<String> {
    let mut roles = Vec::new();
    if t.latest.as_ref().is_some_and(|l| l.id == id) {
        roles.push("latest".to_string());
    }
    for c in t.changes.iter().filter(|c| c.from == id) {
        roles.push(format!("before the change at #{}", c.to));
    }
    for c in t.changes.iter().filter(|c| c.to == id) {
        roles.push(format!("after the change from #{}", c.from));
    }
    roles
}

/// What the run did for a target.
pub(super) enum Outcome<'a> {
    /// It failed, and why.
    Failed(&'a str),
    /// Plain words: recorded (first, changed or not), nothing recorded, a member new or gone.
    Done(String),
}

pub(super) fn run_outcome(t: &RunTarget) -> Outcome<'_> {
    let outcome = match (&t.error, t.snapshot) {
        (Some(e), _) => return Outcome::Failed(e),
        (None, Some(id)) => format!(
            "recorded #{id}, {}",
            match (t.first, t.changed) {
                (true, _) => "first",
                (false, Some(true)) => "changed",
                (false, Some(false)) => "unchanged",
                (false, None) => "change unknown",
            }
        ),
        (None, None) if t.membership == Some(Membership::Gone) => {
            "no longer a member of the organization: not audited; its history stays".into()
        }
        (None, None) => "nothing recorded".into(),
    };
    Outcome::Done(match t.membership {
        Some(Membership::New) => format!("new member of the organization; {outcome}"),
        _ => outcome,
    })
}

/// An image as a person reads it: its tag, digest, registry and instance, when it has any.
pub(super) fn image_parts(v: &Value) -> Vec<(&'static str, &str)> {
    let Some(image) = v.as_object() else {
        return Vec::new();
    };
    [
        ("tag", "ImageTag"),
        ("digest", "ImageDigest"),
        ("registry", "RegistryType"),
        ("instance", "InstanceId"),
    ]
    .into_iter()
    .filter_map(|(label, name)| {
        image
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|value| (label, value))
    })
    .collect()
}

//! The compliance report for a window: config, check, drift, compliant days and missed nights.
//! Its model lives here; [`build`] makes it from what the application gathered (a pure function
//! of its inputs), and one module per format renders it.
//!
//! Definitions:
//! - The days of a window are the calendar days, in the report's zone, that the window touches,
//!   first and last included even when the window covers only part of them.
//! - A day is compliant when the last snapshot of that day (inside the window) has no rule at or
//!   above `fail_on` that fails or cannot be evaluated, judged as of that snapshot's own time, so
//!   that a later snapshot cannot change an earlier day's verdict. Waived failures do not count. A
//!   day without a snapshot is a gap (a missed night) and is not compliant.
//! - `latest` is the newest snapshot at or before `until`, even one from before the window, and
//!   `check` judges it as of `min(until, generated_at)`, exactly as `audit check` would then.
//! - `snapshots` counts the snapshots inside the window; `changes` lists the change events inside
//!   it, oldest first.

mod build;
mod html;
mod json;
mod markdown;
mod parts;

pub use build::{
    TargetInput, assemble, build_target, failed_targets, history_from, policy_baselines,
};
pub use html::{
    html, html_head, html_run, html_tail, summary_row as html_summary_row, target as html_target,
};
pub use json::{JsonTargets, json};
pub use markdown::{
    SummaryRow, markdown, markdown_head, markdown_head_with, markdown_tail, summary_line,
    target_section,
};
pub use parts::{DayRow, MAX_DAILY_DAYS, MonthRow, TargetSection, day_range, day_rows, month_rows};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};

use crate::policy::{CheckReport, PolicyFileInfo, Severity, Times, WaiverRef};
use crate::report::check::CHECK_SCHEMA;
use crate::store::{ChainBreak, SnapshotMeta};
use crate::task::diff::Change;
use crate::task::normalize::Config;
use crate::task::source::{Identity, Source};
use crate::task::when::fmt_utc;

/// The `schema` of the JSON report.
pub const REPORT_SCHEMA: &str = "tcss-audit/report/v1";

/// What the report covers and how it judges.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The zone whose calendar days are counted and in which Markdown shows times.
    pub tz: Tz,
    pub fail_on: Severity,
    pub generated_at: DateTime<Utc>,
    /// The offset of API times written without one (`LastScanTime`).
    pub api_offset: FixedOffset,
}

impl ReportOptions {
    /// How the report's judgements read API times and show times.
    pub fn times(&self) -> Times {
        Times::new(self.api_offset, self.tz)
    }
}

/// What the nightly job did for one target, for the report's "This run" section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunTarget {
    pub target: String,
    /// The snapshot recorded, when one was.
    pub snapshot: Option<i64>,
    /// Whether its config differs from the one before (false for a first snapshot).
    pub changed: Option<bool>,
    /// The target's first snapshot: nothing before it to differ from.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub first: bool,
    /// Why the target failed, when it did.
    pub error: Option<String>,
    pub exit_code: crate::task::exit::ExitCode,
    /// For an organization's member: `new` (first seen in this run) or `gone` (no longer a
    /// member; its history stays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
}

/// What the run found of an organization's member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Membership {
    /// First seen in this run.
    New,
    /// No longer a member: not audited; its history stays.
    Gone,
}

/// The report: plain data, serialized as the JSON document (`schema` [`REPORT_SCHEMA`]).
#[derive(Debug, Clone, Serialize)]
pub struct ComplianceReport {
    pub schema: &'static str,
    #[serde(serialize_with = "ser_time")]
    pub generated_at: DateTime<Utc>,
    pub window: Window,
    pub targets: Vec<TargetReport>,
    pub integrity: Integrity,
    pub tool_version: &'static str,
    #[serde(rename = "timezone", serialize_with = "ser_tz")]
    pub tz: Tz,
    pub fail_on: Severity,
    pub policies: Vec<PolicyFileInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<Vec<RunTarget>>,
    /// Notifications the run could not deliver (each destination and why); they are tried
    /// again at the next run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications_failed: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    #[serde(serialize_with = "ser_time")]
    pub since: DateTime<Utc>,
    #[serde(serialize_with = "ser_time")]
    pub until: DateTime<Utc>,
}

/// One target's part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub name: String,
    /// The nightly run that writes this report could not audit it (its part of the run says
    /// why): the summary does not call it compliant on an older snapshot's word.
    #[serde(skip)]
    pub failed_this_run: bool,
    /// Snapshots inside the window.
    pub snapshots: usize,
    pub latest: Option<SnapshotEvidence>,
    pub config: Option<Config>,
    #[serde(serialize_with = "ser_check")]
    pub check: Option<CheckReport>,
    /// Change events inside the window, oldest first.
    pub changes: Vec<ChangeEvent>,
    /// Observed days whose verdict was compliant.
    pub compliant_days: usize,
    /// Missed nights: observed days of the window without a snapshot.
    pub gaps: Vec<NaiveDate>,
    /// Days in the window.
    pub days: usize,
    /// Days of the window inside the history held: from the day of the target's earliest
    /// snapshot still held on. The share of compliant days is of these.
    pub observed_days: usize,
    /// Days of the window before that (before the first snapshot, or removed by `prune`): not
    /// missed nights, since nothing was there to miss, and not in the share.
    pub not_observed: Vec<NaiveDate>,
    /// `check` has no failure at or above `fail_on` (false without a snapshot).
    pub compliant: bool,
    /// Failing (or unevaluable) rules of `check`, by severity.
    pub failures_by_severity: SeverityCounts,
    /// Waivers that turned a failure of `check` into `waived`.
    pub waivers: Vec<WaiverRef>,
    /// Every day of the window and how it was judged.
    pub daily: Vec<DayResult>,
    /// The snapshots the report relies on: `latest` and both ends of every change, by time.
    pub evidence: Vec<SnapshotEvidence>,
    /// Snapshots in the window whose account differs from the snapshot's before them: the
    /// target's credentials now reach another account.
    pub account_changes: Vec<AccountChange>,
    /// The approved baseline in force when the latest snapshot is judged, and how the latest
    /// config differs from it (beside `changes`, the drift from one night to the next).
    pub baseline: Option<BaselineDrift>,
    /// Restores applied inside the window, oldest first.
    pub restores: Vec<RestoreRecord>,
}

/// The baseline in force and the latest config's drift from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineDrift {
    /// Its journal entry.
    pub entry: i64,
    #[serde(serialize_with = "ser_time")]
    pub approved_at: DateTime<Utc>,
    pub by: String,
    pub reason: String,
    pub snapshot: Option<i64>,
    pub config_hash: String,
    /// The latest config equals it.
    pub equals: bool,
    /// What turns the baseline into the latest config.
    pub changes: Vec<Change>,
}

/// A restore applied: who, to what, and whether the task took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreRecord {
    /// Its journal entry.
    pub entry: i64,
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    pub by: String,
    /// `baseline` or `snapshot`.
    pub restored_to: String,
    pub config_hash: String,
    /// The observation read back after the Update.
    pub snapshot: Option<i64>,
    /// The fields the Update set.
    pub fields: Vec<String>,
    pub converged: bool,
    /// The fields that still differed afterwards.
    pub not_taken: Vec<String>,
}

/// A snapshot as evidence: which, when, the RequestId Tencent gave, and the config's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotEvidence {
    pub id: i64,
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub config_hash: String,
    /// Fetched from the API, or imported from a saved answer or a backup.
    pub source: Source,
    /// When this tool recorded it.
    #[serde(serialize_with = "ser_time")]
    pub recorded_at: DateTime<Utc>,
    /// Which account it came from (`sts:GetCallerIdentity`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
}

/// A target whose answers came from another account than the snapshot before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountChange {
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    pub snapshot: i64,
    pub from: String,
    pub to: String,
}

impl SnapshotEvidence {
    pub(crate) fn of(m: &SnapshotMeta) -> SnapshotEvidence {
        SnapshotEvidence {
            id: m.id,
            at: m.observed_at,
            request_id: m.request_id.clone(),
            config_hash: m.config_hash.clone(),
            source: m.source,
            recorded_at: m.recorded_at,
            identity: m.identity.clone(),
        }
    }
}

/// A change event, as in the log document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeEvent {
    /// When the change was first seen: the time of snapshot `to`.
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    /// The time of snapshot `from`, the last one before the change: it happened in between.
    #[serde(serialize_with = "ser_opt_time")]
    pub from_at: Option<DateTime<Utc>>,
    pub from: i64,
    pub to: i64,
    pub changes: Vec<Change>,
}

/// Counts by severity, most severe first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
}

impl SeverityCounts {
    pub(crate) fn add(&mut self, s: Severity) {
        match s {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
            Severity::Info => self.info += 1,
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.critical + self.high + self.medium + self.low + self.info
    }
}

/// What a day of the window was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    /// Its last snapshot had no failure at or above `fail_on`.
    Compliant,
    /// Its last snapshot had one.
    Failing,
    /// No snapshot on a day inside the history held: the nightly job missed it.
    Missed,
    /// Before the history held: nothing to judge, and nothing missed.
    NotObserved,
}

/// How one day of the window was judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayResult {
    pub date: NaiveDate,
    pub status: DayStatus,
    /// The day's last snapshot, the one judged; `None` on a missed or unobserved day.
    pub snapshot: Option<i64>,
    #[serde(serialize_with = "ser_opt_time")]
    pub at: Option<DateTime<Utc>>,
    pub compliant: bool,
    /// Rules at or above `fail_on` that failed or could not be evaluated.
    pub failing: Vec<String>,
    /// `Enable` in the day's snapshot: was scanning on that night?
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable: Option<serde_json::Value>,
    /// `ScanType` in the day's snapshot: which scans ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_type: Option<serde_json::Value>,
}

/// The hash chain of the whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Integrity {
    pub ok: bool,
    pub checked: u64,
    pub configs_checked: u64,
    /// The change events and first-seen fields compared with what the snapshots imply.
    pub events_checked: u64,
    pub fields_checked: u64,
    /// The chain head the report was made from: a witness for `audit verify --witness`.
    pub head: Option<crate::trust::Head>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_break: Option<ChainBreak>,
    /// Why the run that wrote this report could not sign: it recorded without signing, and
    /// the report has no signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_line_broken: Option<String>,
}

fn ser_time<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_utc(*at))
}

fn ser_opt_time<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&fmt_utc(*at)),
        None => s.serialize_none(),
    }
}

fn ser_tz<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

/// The check exactly as `audit check --format json` writes it, schema included.
fn ser_check<S: Serializer>(check: &Option<CheckReport>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Versioned<'a> {
        schema: &'static str,
        #[serde(flatten)]
        report: &'a CheckReport,
    }
    match check {
        Some(report) => Versioned {
            schema: CHECK_SCHEMA,
            report,
        }
        .serialize(s),
        None => s.serialize_none(),
    }
}

/// The calendar days in `tz` that `[since, until]` touches, in order.
pub fn window_days(since: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> Vec<NaiveDate> {
    let first = day_of(since, tz);
    let last = day_of(until, tz);
    first.iter_days().take_while(|d| *d <= last).collect()
}

/// The calendar day of an instant in `tz`.
pub fn day_of(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests;

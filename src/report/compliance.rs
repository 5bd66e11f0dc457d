//! The compliance report for a window: config, check, drift, compliant days and missed nights.
//!
//! Definitions (PRODUCT.md, JSON outputs: report, leaves these open):
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

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::diff::{Change, ChangeKind};
use crate::normalize::{Config, canonical_value, sorted_value};
use crate::policy::render::CHECK_SCHEMA;
use crate::policy::{
    self, Check, CheckInput, CheckReport, Observation, PolicyFileInfo, PolicySet, RuleStatus,
    Severity, WaiverRef,
};
use crate::store::{ChainBreak, SnapshotMeta, Store};
use crate::when::{fmt_time, fmt_utc};

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

/// What the nightly job did for one target, for the report's "This run" section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunTarget {
    pub target: String,
    /// The snapshot recorded, when one was.
    pub snapshot: Option<i64>,
    /// Whether its config differs from the one before.
    pub changed: Option<bool>,
    /// Why the target failed, when it did.
    pub error: Option<String>,
    pub exit_code: u8,
}

/// The report: plain data, serialized as the JSON document of PRODUCT.md.
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
    /// Snapshots inside the window.
    pub snapshots: usize,
    pub latest: Option<SnapshotEvidence>,
    pub config: Option<Config>,
    #[serde(serialize_with = "ser_check")]
    pub check: Option<CheckReport>,
    /// Change events inside the window, oldest first.
    pub changes: Vec<ChangeEvent>,
    pub compliant_days: usize,
    /// Days of the window without a snapshot.
    pub gaps: Vec<NaiveDate>,
    /// Days in the window.
    pub days: usize,
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
}

/// A snapshot as evidence: which, when, the RequestId Tencent gave, and the config's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotEvidence {
    pub id: i64,
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub config_hash: String,
}

impl SnapshotEvidence {
    fn of(m: &SnapshotMeta) -> SnapshotEvidence {
        SnapshotEvidence {
            id: m.id,
            at: m.observed_at,
            request_id: m.request_id.clone(),
            config_hash: m.config_hash.clone(),
        }
    }
}

/// A change event, as in the log document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeEvent {
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
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
    fn add(&mut self, s: Severity) {
        match s {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
            Severity::Info => self.info += 1,
        }
    }

    fn total(&self) -> usize {
        self.critical + self.high + self.medium + self.low + self.info
    }
}

/// How one day of the window was judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayResult {
    pub date: NaiveDate,
    /// The day's last snapshot, the one judged; `None` on a missed night.
    pub snapshot: Option<i64>,
    #[serde(serialize_with = "ser_opt_time")]
    pub at: Option<DateTime<Utc>>,
    pub compliant: bool,
    /// Rules at or above `fail_on` that failed or could not be evaluated.
    pub failing: Vec<String>,
}

/// The hash chain of the whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Integrity {
    pub ok: bool,
    pub checked: u64,
    pub configs_checked: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_break: Option<ChainBreak>,
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

/// Builds the report for `targets` (sorted and deduplicated here) over the window of `opts`.
pub fn build(
    store: &Store,
    set: &PolicySet,
    targets: &[String],
    opts: &ReportOptions,
    run: Option<&[RunTarget]>,
) -> Result<ComplianceReport, crate::Error> {
    if opts.since > opts.until {
        return Err(crate::Error::Usage(format!(
            "the report window starts ({}) after it ends ({}); give a --since earlier than --until",
            fmt_utc(opts.since),
            fmt_utc(opts.until)
        )));
    }
    let mut names = targets.to_vec();
    names.sort();
    names.dedup();
    let days = window_days(opts.since, opts.until, opts.tz);
    // The whole chain is verified on a second connection while the targets are judged on this
    // one; if a second connection cannot be had, it is verified here afterwards.
    let (reports, verified) = std::thread::scope(|scope| {
        let path = store.path().to_path_buf();
        let verifying = scope.spawn(move || {
            Store::open(&path, crate::store::OpenMode::Existing).and_then(|s| s.verify())
        });
        let reports: Result<Vec<_>, crate::Error> = names
            .iter()
            .map(|name| build_target(store, set, name, opts, &days))
            .collect();
        (reports, verifying.join())
    });
    let reports = reports?;
    let verify = match verified {
        Ok(Ok(v)) => v,
        _ => store.verify()?,
    };
    let run = run.map(|r| {
        let mut r = r.to_vec();
        r.sort_by(|a, b| a.target.cmp(&b.target));
        r
    });
    Ok(ComplianceReport {
        schema: REPORT_SCHEMA,
        generated_at: opts.generated_at,
        window: Window {
            since: opts.since,
            until: opts.until,
        },
        targets: reports,
        integrity: Integrity {
            ok: verify.ok(),
            checked: verify.checked,
            configs_checked: verify.configs_checked,
            first_break: verify.first_break,
        },
        tool_version: env!("CARGO_PKG_VERSION"),
        tz: opts.tz,
        fail_on: opts.fail_on,
        policies: set.files().to_vec(),
        run,
    })
}

/// The observations of one target, loaded once, and the evaluations the report needs from them.
struct Loaded<'a> {
    set: &'a PolicySet,
    target: &'a str,
    api_offset: FixedOffset,
    metas: Vec<SnapshotMeta>,
    obs: Vec<Observation>,
}

/// The key that stands for a whole config in a [`trimmed`] observation; no API field can be named so.
const WHOLE_CONFIG: &str = "\u{0}config_hash";

/// The top-level fields the rules of `set` read, and whether a rule follows the whole config.
fn fields_read(set: &PolicySet) -> (BTreeSet<String>, bool) {
    let mut fields = BTreeSet::new();
    let mut whole = false;
    for rule in set.rules() {
        if let Some(when) = &rule.when {
            fields.insert(when.field.head.clone());
        }
        match &rule.check {
            Check::State(c) => {
                fields.insert(c.field.head.clone());
            }
            Check::History { field: Some(f), .. } => {
                fields.insert(f.head.clone());
            }
            Check::History { field: None, .. } => whole = true,
        }
    }
    (fields, whole)
}

/// An observation reduced to what the rules read, for judging days: evaluation copies every
/// observation of the history for each judgement, and whole configs (images and all) made that
/// the report's main cost. A rule that follows the whole config sees its hash instead, which
/// changes exactly when the config does; only its messages differ, and days keep only verdicts.
fn trimmed(o: &Observation, hash: &str, fields: &BTreeSet<String>, whole: bool) -> Observation {
    let mut config: Config = fields
        .iter()
        .filter_map(|f| o.config.get(f).map(|v| (f.clone(), v.clone())))
        .collect();
    if whole {
        config.insert(WHOLE_CONFIG.into(), Value::String(hash.to_string()));
    }
    Observation {
        snapshot_id: o.snapshot_id,
        at: o.at,
        config,
        status: o.status.clone(),
    }
}

impl Loaded<'_> {
    /// Where the history of observation `idx` judged at `now` starts: with the history
    /// `checker::check_snapshot` would read from the database, from the last observation before
    /// `now - max_window` through `idx`. The caller has loaded at least that much.
    fn history_start(&self, idx: usize, now: DateTime<Utc>) -> usize {
        let obs = &self.obs;
        let lo = (now - self.set.max_window()).min(obs[idx].at);
        let before = obs.partition_point(|o| o.at < lo);
        // The store includes every observation at the latest time before `lo`, not only one.
        match before.checked_sub(1) {
            Some(prev) => {
                let t = obs[prev].at;
                obs.partition_point(|o| o.at < t)
            }
            None => 0,
        }
    }

    /// Judges observation `idx` as of `now`, with the history [`Self::history_start`] gives.
    fn evaluate(&self, idx: usize, now: DateTime<Utc>) -> CheckReport {
        let start = self.history_start(idx, now);
        let obs = &self.obs;
        policy::evaluate(
            self.set,
            &CheckInput {
                target: self.target,
                now,
                current: &obs[idx],
                history: &obs[start..=idx],
                api_offset: self.api_offset,
                config_hash: &self.metas[idx].config_hash,
            },
        )
    }
}

fn build_target(
    store: &Store,
    set: &PolicySet,
    name: &str,
    opts: &ReportOptions,
    days: &[NaiveDate],
) -> Result<TargetReport, crate::Error> {
    let check_now = opts.until.min(opts.generated_at);
    let load_from = opts.since.min(check_now) - set.max_window();
    let (metas, obs): (Vec<_>, Vec<_>) = store
        .observations(name, load_from, opts.until)?
        .into_iter()
        .map(|(m, config)| {
            let o = Observation {
                snapshot_id: m.id,
                at: m.observed_at,
                config,
                status: m.status.clone(),
            };
            (m, o)
        })
        .unzip();
    let loaded = Loaded {
        set,
        target: name,
        api_offset: opts.api_offset,
        metas,
        obs,
    };

    // The store returns observations up to `until`, so the last one is the newest at or before it.
    let latest_idx = loaded.obs.len().checked_sub(1);
    let check = match latest_idx {
        // Its history is in memory unless it is the one observation the store adds from before
        // the loaded span (nothing newer exists): then the store is asked, as `audit check` does.
        Some(i) if loaded.obs[i].at >= load_from => Some(loaded.evaluate(i, check_now)),
        Some(i) => Some(crate::checker::check_snapshot(
            store,
            set,
            &loaded.metas[i],
            check_now,
            opts.api_offset,
        )?),
        None => None,
    };

    let in_window: Vec<usize> = (0..loaded.obs.len())
        .filter(|&i| loaded.obs[i].at >= opts.since)
        .collect();
    let mut last_of_day: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    for &i in &in_window {
        // Observations come oldest first, so the last insert for a day is its last snapshot.
        last_of_day.insert(day_of(loaded.obs[i].at, opts.tz), i);
    }
    let (fields, whole) = fields_read(set);
    let light: Vec<Observation> = loaded
        .obs
        .iter()
        .zip(&loaded.metas)
        .map(|(o, m)| trimmed(o, &m.config_hash, &fields, whole))
        .collect();
    let judge = policy::Judge::new(set, name, opts.api_offset, &light);
    drop(light);
    let mut daily = Vec::with_capacity(days.len());
    for &date in days {
        daily.push(match last_of_day.get(&date) {
            Some(&i) => {
                let at = loaded.obs[i].at;
                let failing = judge.failing(loaded.history_start(i, at), i, at, opts.fail_on);
                DayResult {
                    date,
                    snapshot: Some(loaded.obs[i].snapshot_id),
                    at: Some(at),
                    compliant: failing.is_empty(),
                    failing,
                }
            }
            None => DayResult {
                date,
                snapshot: None,
                at: None,
                compliant: false,
                failing: Vec::new(),
            },
        });
    }

    let mut events = store.events(name, Some(opts.since), Some(opts.until))?;
    events.reverse();
    let changes: Vec<ChangeEvent> = events
        .into_iter()
        .map(|e| ChangeEvent {
            at: e.at,
            from: e.from,
            to: e.to,
            // Sorted keys inside values, whatever order their maps were built in.
            changes: e
                .changes
                .into_iter()
                .map(|c| Change {
                    old: c.old.as_ref().map(sorted_value),
                    new: c.new.as_ref().map(sorted_value),
                    ..c
                })
                .collect(),
        })
        .collect();

    let mut evidence_ids: Vec<i64> = changes.iter().flat_map(|c| [c.from, c.to]).collect();
    evidence_ids.extend(latest_idx.map(|i| loaded.metas[i].id));
    let mut evidence = Vec::new();
    for id in evidence_ids {
        if evidence.iter().any(|e: &SnapshotEvidence| e.id == id) {
            continue;
        }
        // A change's earlier end is normally loaded; one from before the loaded span is read.
        let ev = match loaded.metas.iter().find(|m| m.id == id) {
            Some(m) => SnapshotEvidence::of(m),
            None => SnapshotEvidence::of(&store.meta(id)?),
        };
        evidence.push(ev);
    }
    evidence.sort_by_key(|e| (e.at, e.id));

    let mut failures_by_severity = SeverityCounts::default();
    let mut waivers = Vec::new();
    if let Some(c) = &check {
        for r in &c.results {
            if matches!(r.status, RuleStatus::Fail | RuleStatus::Error) {
                failures_by_severity.add(r.severity);
            }
            if let Some(w) = &r.waiver {
                waivers.push(w.clone());
            }
        }
    }
    let compliant = check
        .as_ref()
        .is_some_and(|c| !c.fails_at_or_above(opts.fail_on));
    let (latest, config) = match latest_idx {
        Some(i) => (
            Some(SnapshotEvidence::of(&loaded.metas[i])),
            Some(loaded.obs[i].config.clone()),
        ),
        None => (None, None),
    };
    Ok(TargetReport {
        name: name.to_string(),
        snapshots: in_window.len(),
        latest,
        config,
        check,
        changes,
        compliant_days: daily.iter().filter(|d| d.compliant).count(),
        gaps: daily
            .iter()
            .filter(|d| d.snapshot.is_none())
            .map(|d| d.date)
            .collect(),
        days: days.len(),
        compliant,
        failures_by_severity,
        waivers,
        daily,
        evidence,
    })
}

/// The report as the JSON document of PRODUCT.md, pretty and deterministic.
pub fn json(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    super::write_json(w, r)
}

/// Text for a table cell or a list item: nothing in it can end the row or open HTML.
fn text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
        .replace('<', "&lt;")
}

/// Inline code that survives any content, in a table cell too: a fence longer than any run of
/// backticks inside, pipes escaped (code hosts unescape `\|` inside code spans in tables).
fn code(s: &str) -> String {
    if s.is_empty() {
        return "(empty)".into();
    }
    let s = s.replace(['\r', '\n'], " ").replace('|', "\\|");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if longest > 0 || s.starts_with(' ') || s.ends_with(' ') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

fn value_code(v: &Value) -> String {
    code(&canonical_value(v))
}

/// `N/M (P%)`, the percentage rounded half up.
fn share(n: usize, m: usize) -> String {
    if m == 0 {
        return "0/0".into();
    }
    format!("{n}/{m} ({}%)", (200 * n + m) / (2 * m))
}

fn severities(c: &SeverityCounts) -> String {
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

fn change_text(c: &Change) -> String {
    let show = |v: &Option<Value>| v.as_ref().map(value_code).unwrap_or_default();
    match c.kind {
        ChangeKind::Added => format!("added {}", show(&c.new)),
        ChangeKind::Removed => format!("removed {}", show(&c.old)),
        ChangeKind::Changed => format!("{} -> {}", show(&c.old), show(&c.new)),
    }
}

/// The report as Markdown for a code host: a header, a summary table, one section per target,
/// the run when there was one, and the chain check.
pub fn markdown(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    let day_count = window_days(r.window.since, r.window.until, tz).len();
    writeln!(w, "# TCSS scheduled scan compliance report")?;
    writeln!(w)?;
    writeln!(
        w,
        "- Window: {} to {} ({day_count} day{} in {})",
        fmt_time(r.window.since, tz),
        fmt_time(r.window.until, tz),
        if day_count == 1 { "" } else { "s" },
        tz.name()
    )?;
    writeln!(w, "- Generated: {}", fmt_time(r.generated_at, tz))?;
    writeln!(w, "- Tool: tcss-audit {}", r.tool_version)?;
    writeln!(
        w,
        "- Compliant means: no rule of severity {} or above fails or cannot be evaluated (waived failures do not count); a day is judged by its last snapshot, as of that snapshot's time",
        r.fail_on
    )?;
    writeln!(w, "- Policies:")?;
    for p in &r.policies {
        writeln!(
            w,
            "  - {}: {}, SHA-256 {}",
            text(&p.name),
            code(&p.file),
            code(&p.sha256)
        )?;
    }
    writeln!(w)?;
    writeln!(w, "## Summary")?;
    writeln!(w)?;
    writeln!(
        w,
        "| Target | Compliant at {} | Failing now | Changes | Snapshots | Days compliant | Missed nights |",
        r.fail_on
    )?;
    writeln!(w, "|---|---|---|---|---|---|---|")?;
    for t in &r.targets {
        writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} |",
            code(&t.name),
            if t.compliant { "yes" } else { "**no**" },
            severities(&t.failures_by_severity),
            t.changes.len(),
            t.snapshots,
            share(t.compliant_days, t.days),
            t.gaps.len()
        )?;
    }
    if let Some(run) = &r.run {
        run_section(run, w)?;
    }
    for t in &r.targets {
        target_section(r, t, w)?;
    }
    writeln!(w)?;
    writeln!(w, "## Chain of custody")?;
    writeln!(w)?;
    let i = &r.integrity;
    match &i.first_break {
        None => writeln!(
            w,
            "The hash chain holds: {} snapshots and {} configs of the whole history were re-hashed and verified.",
            i.checked, i.configs_checked
        ),
        Some(b) => writeln!(
            w,
            "**The hash chain is BROKEN** at snapshot #{}: {} ({} snapshots read). The history cannot be relied on past that point.",
            b.snapshot,
            text(&b.reason),
            i.checked
        ),
    }
}

fn run_section(run: &[RunTarget], w: &mut dyn Write) -> io::Result<()> {
    writeln!(w)?;
    writeln!(w, "## This run")?;
    writeln!(w)?;
    writeln!(w, "| Target | Outcome | Exit code |")?;
    writeln!(w, "|---|---|---|")?;
    for t in run {
        let outcome = match (&t.error, t.snapshot) {
            (Some(e), _) => format!("**FAILED**: {}", text(e)),
            (None, Some(id)) => format!(
                "recorded #{id}, {}",
                match t.changed {
                    Some(true) => "changed",
                    Some(false) => "unchanged",
                    None => "change unknown",
                }
            ),
            (None, None) => "nothing recorded".into(),
        };
        writeln!(w, "| {} | {outcome} | {} |", code(&t.target), t.exit_code)?;
    }
    let failed: Vec<String> = run
        .iter()
        .filter(|t| t.error.is_some())
        .map(|t| code(&t.target))
        .collect();
    writeln!(w)?;
    if failed.is_empty() {
        writeln!(w, "Every target was recorded.")
    } else {
        writeln!(w, "**Failed targets:** {}.", failed.join(", "))
    }
}

fn target_section(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    writeln!(w)?;
    writeln!(w, "## Target {}", code(&t.name))?;
    writeln!(w)?;
    let (Some(latest), Some(check)) = (&t.latest, &t.check) else {
        writeln!(
            w,
            "No snapshot at or before {}: nothing to judge.",
            fmt_time(r.window.until, tz)
        )?;
        return days_section(r, t, w);
    };
    let s = check.summary;
    writeln!(
        w,
        "Latest snapshot #{} at {} (RequestId {}), judged as of {}: **{}** at {}. Rules: {} pass, {} fail, {} waived, {} error.",
        latest.id,
        fmt_time(latest.at, tz),
        latest
            .request_id
            .as_deref()
            .map(code)
            .unwrap_or_else(|| "none".into()),
        fmt_time(r.window.until.min(r.generated_at), tz),
        if t.compliant {
            "compliant"
        } else {
            "not compliant"
        },
        r.fail_on,
        s.pass,
        s.fail,
        s.waived,
        s.error
    )?;

    writeln!(w)?;
    writeln!(w, "### Configuration")?;
    writeln!(w)?;
    match &t.config {
        Some(config) if !config.is_empty() => {
            writeln!(w, "| Field | Value |")?;
            writeln!(w, "|---|---|")?;
            for (k, v) in config {
                writeln!(w, "| {} | {} |", code(k), value_code(v))?;
            }
        }
        _ => writeln!(w, "The config is empty.")?,
    }

    writeln!(w)?;
    writeln!(w, "### Failing rules")?;
    writeln!(w)?;
    let mut failing: Vec<_> = check
        .results
        .iter()
        .filter(|r| matches!(r.status, RuleStatus::Fail | RuleStatus::Error))
        .collect();
    // Most severe first; rule order otherwise (the sort is stable).
    failing.sort_by_key(|r| std::cmp::Reverse(r.severity));
    if failing.is_empty() {
        writeln!(w, "No rule fails.")?;
    }
    for (i, res) in failing.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        let below = if res.severity < r.fail_on {
            format!(", below {}: does not count", r.fail_on)
        } else {
            String::new()
        };
        let status = if res.status == RuleStatus::Error {
            ", could not be evaluated"
        } else {
            ""
        };
        writeln!(
            w,
            "#### {} ({}{status}{below}): {}",
            text(&res.rule),
            res.severity,
            text(&res.title)
        )?;
        writeln!(w)?;
        writeln!(w, "- Field: {}", code(&res.field))?;
        writeln!(w, "- Seen: {}", value_code(&res.actual))?;
        writeln!(w, "- Expected: {}", code(&res.expected))?;
        writeln!(w, "- Finding: {}", text(&res.message))?;
        writeln!(w, "- Remediation: {}", text(&res.remediation))?;
    }

    writeln!(w)?;
    writeln!(w, "### Waivers in force")?;
    writeln!(w)?;
    if t.waivers.is_empty() {
        writeln!(w, "None.")?;
    } else {
        writeln!(w, "| Rule | Owner | Reason | Expires |")?;
        writeln!(w, "|---|---|---|---|")?;
        for v in &t.waivers {
            writeln!(
                w,
                "| {} | {} | {} | {} |",
                code(&v.rule),
                text(&v.owner),
                text(&v.reason),
                v.expires
            )?;
        }
    }

    writeln!(w)?;
    writeln!(w, "### Drift in the window")?;
    writeln!(w)?;
    if t.changes.is_empty() {
        writeln!(w, "No changes.")?;
    } else {
        writeln!(w, "| When | Snapshots | Field | Change |")?;
        writeln!(w, "|---|---|---|---|")?;
        for e in &t.changes {
            for c in &e.changes {
                writeln!(
                    w,
                    "| {} | #{} -> #{} | {} | {} |",
                    fmt_time(e.at, tz),
                    e.from,
                    e.to,
                    code(&c.path),
                    change_text(c)
                )?;
            }
        }
    }

    days_section(r, t, w)?;

    writeln!(w)?;
    writeln!(w, "### Evidence")?;
    writeln!(w)?;
    writeln!(
        w,
        "| Snapshot | Observed | RequestId | Config hash | Role |"
    )?;
    writeln!(w, "|---|---|---|---|---|")?;
    for e in &t.evidence {
        let mut roles = Vec::new();
        if e.id == latest.id {
            roles.push("latest".to_string());
        }
        for c in t.changes.iter().filter(|c| c.from == e.id) {
            roles.push(format!("before the change at #{}", c.to));
        }
        for c in t.changes.iter().filter(|c| c.to == e.id) {
            roles.push(format!("after the change from #{}", c.from));
        }
        writeln!(
            w,
            "| #{} | {} | {} | {} | {} |",
            e.id,
            fmt_time(e.at, tz),
            e.request_id
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "none".into()),
            code(&e.config_hash),
            roles.join("; ")
        )?;
    }
    Ok(())
}

fn days_section(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w)?;
    writeln!(w, "### Days")?;
    writeln!(w)?;
    writeln!(
        w,
        "{} of the window's days compliant at {}; {} missed night{}{}.",
        share(t.compliant_days, t.days),
        r.fail_on,
        t.gaps.len(),
        if t.gaps.len() == 1 { "" } else { "s" },
        if t.gaps.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                t.gaps
                    .iter()
                    .map(NaiveDate::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    )?;
    let bad: Vec<&DayResult> = t.daily.iter().filter(|d| !d.compliant).collect();
    if bad.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "| Day | Snapshot | Failing at {} |", r.fail_on)?;
    writeln!(w, "|---|---|---|")?;
    for d in bad {
        let snap = match (d.snapshot, d.at) {
            (Some(id), Some(at)) => format!("#{id} at {}", fmt_time(at, r.tz)),
            _ => "none: missed".into(),
        };
        writeln!(
            w,
            "| {} | {snap} | {} |",
            d.date,
            d.failing
                .iter()
                .map(|f| code(f))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{Status, normalize};
    use crate::store::{NewSnapshot, OpenMode, Source};
    use crate::when::parse_zone;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn shanghai() -> Tz {
        parse_zone("Asia/Shanghai").unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// A store holding one target's observations: (time, answer).
    fn store_with(dir: &tempfile::TempDir, points: &[(&str, Value)]) -> Store {
        let mut store = Store::open(&dir.path().join("a.db"), OpenMode::Create).unwrap();
        for (i, (when, answer)) in points.iter().enumerate() {
            let raw = serde_json::to_vec(answer).unwrap();
            let object = answer.as_object().unwrap();
            let status = Status {
                last_scan_time: object
                    .get("LastScanTime")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                scan_result: object
                    .get("ScanResult")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            };
            let request_id = format!("req-{i}");
            store
                .record(&NewSnapshot {
                    target: "prod",
                    observed_at: at(when),
                    recorded_at: at(when),
                    source: Source::Import,
                    endpoint: None,
                    request_id: Some(&request_id),
                    raw: &raw,
                    config: &crate::normalize::Prepared::new(normalize(object)),
                    status: &status,
                })
                .unwrap();
        }
        store
    }

    /// One rule: the task is switched on.
    const SWITCH_POLICY: &str = r#"
[policy]
name = "switch"
[[rule]]
id = "ON"
title = "on"
severity = "high"
field = "Enable"
op = "eq"
value = true
"#;

    fn switch_policy() -> PolicySet {
        policy::load_str("switch.toml", SWITCH_POLICY).unwrap().set
    }

    fn options(since: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> ReportOptions {
        ReportOptions {
            since,
            until,
            tz,
            fail_on: Severity::Low,
            generated_at: at("2026-12-01T00:00:00Z"),
            api_offset: policy::default_api_offset(),
        }
    }

    #[test]
    fn days_are_calendar_days_of_the_zone() {
        // The nightly job at 03:00 in Shanghai runs at 19:00 UTC the day before.
        assert_eq!(
            day_of(at("2026-11-04T19:00:00Z"), shanghai()),
            date("2026-11-05")
        );
        assert_eq!(
            day_of(at("2026-11-04T19:00:00Z"), Tz::UTC),
            date("2026-11-04")
        );
        assert_eq!(
            day_of(at("2026-11-04T15:59:59Z"), shanghai()),
            date("2026-11-04")
        );
        let since = at("2026-11-01T00:00:00+08:00");
        let until = at("2026-11-03T23:59:59+08:00");
        assert_eq!(
            window_days(since, until, shanghai()),
            [date("2026-11-01"), date("2026-11-02"), date("2026-11-03")]
        );
        // The same instants touch four UTC days: 31 October from 16:00 on.
        assert_eq!(window_days(since, until, Tz::UTC).len(), 4);
        assert_eq!(window_days(since, since, Tz::UTC), [date("2026-10-31")]);
    }

    #[test]
    fn a_day_is_judged_by_its_last_snapshot_in_the_zone() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(
            &dir,
            &[
                // Shanghai 1 Nov 09:00.
                ("2026-11-01T01:00:00Z", json!({"Enable": true})),
                // Shanghai 2 Nov 03:00, then 20:00 the same day: the day ends switched on.
                ("2026-11-01T19:00:00Z", json!({"Enable": false})),
                ("2026-11-02T12:00:00Z", json!({"Enable": true})),
                // Shanghai 4 Nov 03:00; nothing on 3 Nov.
                ("2026-11-03T19:00:00Z", json!({"Enable": false})),
            ],
        );
        let set = switch_policy();
        let since = at("2026-11-01T00:00:00+08:00");
        let until = at("2026-11-04T23:59:59+08:00");
        let targets = ["prod".to_string()];

        let sh = build(
            &store,
            &set,
            &targets,
            &options(since, until, shanghai()),
            None,
        )
        .unwrap();
        let t = &sh.targets[0];
        let verdicts: Vec<(String, bool)> = t
            .daily
            .iter()
            .map(|d| (d.date.to_string(), d.compliant))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("2026-11-01".to_string(), true),
                ("2026-11-02".to_string(), true),
                ("2026-11-03".to_string(), false),
                ("2026-11-04".to_string(), false),
            ]
        );
        assert_eq!((t.days, t.compliant_days), (4, 2));
        assert_eq!(t.gaps, [date("2026-11-03")]);
        assert_eq!(
            t.daily[1].snapshot,
            Some(3),
            "the later of the day's two snapshots"
        );
        assert_eq!(t.daily[3].failing, ["ON"]);

        // In UTC the same instants fall on other days: 1 Nov ends switched off.
        let utc = build(
            &store,
            &set,
            &targets,
            &options(since, until, Tz::UTC),
            None,
        )
        .unwrap();
        let t = &utc.targets[0];
        let compliant: Vec<String> = t
            .daily
            .iter()
            .filter(|d| d.compliant)
            .map(|d| d.date.to_string())
            .collect();
        assert_eq!(compliant, ["2026-11-02"]);
        assert_eq!(t.gaps, [date("2026-10-31"), date("2026-11-04")]);
        assert_eq!(t.snapshots, 4);
        assert_eq!(t.latest.as_ref().unwrap().id, 4);
        assert!(!t.compliant);
    }

    fn counting_failures(check: &CheckReport, fail_on: Severity) -> Vec<String> {
        check
            .results
            .iter()
            .filter(|r| {
                r.severity >= fail_on && matches!(r.status, RuleStatus::Fail | RuleStatus::Error)
            })
            .map(|r| r.rule.clone())
            .collect()
    }

    #[test]
    fn a_waiver_counts_on_the_days_it_was_in_force_and_not_after() {
        let dir = tempfile::tempdir().unwrap();
        let points: Vec<(String, Value)> = (1..=6)
            .map(|d| {
                (
                    format!("2026-11-{d:02}T19:00:00Z"),
                    json!({"Enable": false, "ScanPeriod": 1}),
                )
            })
            .collect();
        let points: Vec<(&str, Value)> = points
            .iter()
            .map(|(t, v)| (t.as_str(), v.clone()))
            .collect();
        let store = store_with(&dir, &points);
        let waived = format!(
            "{SWITCH_POLICY}{}",
            r#"
[[waiver]]
rule = "ON"
target = "prod"
reason = "migration"
owner = "sec"
expires = "2026-11-03"
"#,
        );
        let set = policy::load_str("switch.toml", &waived).unwrap().set;
        let opts = options(
            at("2026-11-01T00:00:00Z"),
            at("2026-11-06T23:00:00Z"),
            Tz::UTC,
        );
        let r = build(&store, &set, &["prod".to_string()], &opts, None).unwrap();
        let failing: Vec<(String, Vec<String>)> = r.targets[0]
            .daily
            .iter()
            .map(|d| (d.date.to_string(), d.failing.clone()))
            .collect();
        let on = || vec!["ON".to_string()];
        assert_eq!(
            failing,
            [
                ("2026-11-01".into(), vec![]),
                ("2026-11-02".into(), vec![]),
                ("2026-11-03".into(), vec![]),
                ("2026-11-04".into(), on()),
                ("2026-11-05".into(), on()),
                ("2026-11-06".into(), on()),
            ]
        );
        for d in &r.targets[0].daily {
            let meta = store.meta(d.snapshot.unwrap()).unwrap();
            let check = crate::checker::check_snapshot(
                &store,
                &set,
                &meta,
                meta.observed_at,
                opts.api_offset,
            )
            .unwrap();
            assert_eq!(d.failing, counting_failures(&check, opts.fail_on));
        }
    }

    #[test]
    fn in_memory_judgements_equal_the_checkers() {
        let dir = tempfile::tempdir().unwrap();
        let mut points = Vec::new();
        let times: Vec<String> = (1..=12)
            .filter(|d| *d != 6)
            .map(|d| format!("2026-11-{d:02}T19:00:00Z"))
            .collect();
        for (i, t) in times.iter().enumerate() {
            let day = i + 1;
            points.push((
                t.as_str(),
                json!({
                    "Enable": !(4..=5).contains(&day),
                    "ScanType": if day >= 9 { json!(["vul"]) } else { json!(["vul", "risk", "virus"]) },
                    "ScanPeriod": 1, "All": true, "Latest": false,
                    "LastScanTime": format!("2026-11-{day:02} 03:10:00"), "ScanResult": "Success",
                }),
            ));
        }
        let store = store_with(&dir, &points);
        let set = policy::builtin().set;
        let opts = options(
            at("2026-11-03T00:00:00Z"),
            at("2026-11-13T00:00:00Z"),
            Tz::UTC,
        );
        let r = build(&store, &set, &["prod".to_string()], &opts, None).unwrap();
        let t = &r.targets[0];
        let latest = store.meta(t.latest.as_ref().unwrap().id).unwrap();
        let expected =
            crate::checker::check_snapshot(&store, &set, &latest, opts.until, opts.api_offset)
                .unwrap();
        assert_eq!(t.check.as_ref(), Some(&expected));
        let mut judged = 0;
        for d in &t.daily {
            let Some(id) = d.snapshot else { continue };
            let meta = store.meta(id).unwrap();
            let check = crate::checker::check_snapshot(
                &store,
                &set,
                &meta,
                meta.observed_at,
                opts.api_offset,
            )
            .unwrap();
            assert_eq!(
                d.failing,
                counting_failures(&check, opts.fail_on),
                "{}",
                d.date
            );
            judged += 1;
        }
        assert_eq!(judged, 9, "3..=12 November less the missed 6th");
        assert!(t.compliant_days > 0 && t.compliant_days < judged);
    }

    #[test]
    fn markdown_code_survives_pipes_and_backticks() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "`` x`y ``");
        assert_eq!(code("two\nlines"), "`two lines`");
        assert_eq!(text("a|b\n<c>"), "a\\|b &lt;c>");
        assert_eq!(share(8, 21), "8/21 (38%)");
        assert_eq!(share(1, 2), "1/2 (50%)");
        assert_eq!(share(2, 3), "2/3 (67%)");
    }
}

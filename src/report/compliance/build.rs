//! Building the compliance report from what was gathered: a pure function of its inputs (no
//! database, no clock), so the same inputs give the same report.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    AccountChange, BaselineDrift, ChangeEvent, ComplianceReport, DayResult, DayStatus, Integrity,
    REPORT_SCHEMA, ReportOptions, RestoreRecord, RunTarget, SeverityCounts, SnapshotEvidence,
    TargetReport, Window, day_of,
};
use crate::policy::{Baseline, CheckReport, Judge, Observation, PolicySet, WaiverRef};
use crate::store::{Entry, Event, SnapshotMeta, VerifyReport};
use crate::task::canonical::sorted_value;
use crate::task::diff::{Change, diff};
use crate::task::fields;
use crate::task::normalize::Config;

/// What the report needs of one target's history.
#[derive(Debug, Clone)]
pub struct TargetInput {
    pub name: String,
    /// Oldest first: from the last observation before [`history_from`] (or, when the newest one
    /// is older than that, from the last one before the newest) through `until`.
    pub observations: Vec<(SnapshotMeta, Config)>,
    /// The change events inside the window, in any order.
    pub events: Vec<Event>,
    /// The snapshots that an event names but `observations` does not hold (older ones).
    pub earlier: Vec<SnapshotMeta>,
    /// Every baseline approved for the target, oldest first, with its config.
    pub baselines: Vec<(Entry, Config)>,
    /// The restores applied to it, oldest first.
    pub restores: Vec<Entry>,
}

/// The moment from which a target's observations must be loaded for every judgement the report
/// makes: the window's start (or the check's time, if earlier) less the longest rule window.
pub fn history_from(set: &PolicySet, opts: &ReportOptions) -> DateTime<Utc> {
    opts.since.min(check_time(opts)) - set.max_window()
}

/// The moment the latest snapshot is judged as of: the window's end, or the report's time if
/// that is earlier, exactly as `audit check` would judge it then.
pub fn check_time(opts: &ReportOptions) -> DateTime<Utc> {
    opts.until.min(opts.generated_at)
}

/// The baselines (journal entries with their configs) as the policies judge them.
pub fn policy_baselines(baselines: &[(Entry, Config)]) -> Vec<Baseline> {
    baselines
        .iter()
        .map(|(e, config)| Baseline {
            entry: e.id,
            approved_at: e.at,
            snapshot: e.snapshot,
            config_hash: e.config_hash.clone(),
            config: config.as_map().clone(),
        })
        .collect()
}

/// One target's part of the report; `days` are the window's days ([`super::window_days`]).
pub fn build_target(
    set: &PolicySet,
    opts: &ReportOptions,
    days: &[NaiveDate],
    input: TargetInput,
) -> TargetReport {
    let TargetInput {
        name,
        observations,
        events,
        earlier,
        baselines,
        restores,
    } = input;
    // Days before the history held are not observed; with no history at all, none is. The
    // observations start with the last one before the span the report needs, so their first is
    // the target's earliest held whenever that one lies inside the window, and lies before the
    // window's first day otherwise: either way it tells which days are not observed.
    let first_day = observations
        .first()
        .map(|(m, _)| day_of(m.observed_at, opts.tz));
    let (metas, obs): (Vec<SnapshotMeta>, Vec<Observation>) = observations
        .into_iter()
        .map(|(m, config)| {
            let o = Observation {
                snapshot_id: m.id,
                at: m.observed_at,
                config,
                config_hash: m.config_hash.clone(),
                status: m.status.clone(),
            };
            (m, o)
        })
        .unzip();
    let in_force = policy_baselines(&baselines);
    let judge = Judge::new(set, &name, opts.times(), &obs).with_baselines(&in_force);
    // A snapshot the report names, held or read from before the observations.
    let meta_of = |id: i64| metas.iter().chain(&earlier).find(|m| m.id == id);

    // The observations end at `until`, so the last one is the newest at or before it.
    let latest_idx = obs.len().checked_sub(1);
    let check = latest_idx.map(|i| judge.report(i, check_time(opts)));
    let in_window: Vec<usize> = (0..obs.len())
        .filter(|&i| obs[i].at >= opts.since)
        .collect();
    let daily = daily_results(&judge, &obs, &in_window, days, first_day, opts);
    let changes = change_events(events, &meta_of);
    let latest = latest_idx.map(|i| SnapshotEvidence::of(&metas[i]));
    let evidence = evidence(&changes, latest.as_ref().map(|l| l.id), &meta_of);
    let (failures_by_severity, waivers) = tally(check.as_ref());
    let compliant = check
        .as_ref()
        .is_some_and(|c| !c.fails_at_or_above(opts.fail_on));
    let config = latest_idx.map(|i| obs[i].config.clone());
    let baseline = baseline_drift(&baselines, config.as_ref(), check_time(opts));
    TargetReport {
        failed_this_run: false,
        name,
        snapshots: in_window.len(),
        latest,
        config,
        check,
        changes,
        compliant_days: daily.iter().filter(|d| d.compliant).count(),
        gaps: daily
            .iter()
            .filter(|d| d.status == DayStatus::Missed)
            .map(|d| d.date)
            .collect(),
        days: days.len(),
        observed_days: daily
            .iter()
            .filter(|d| d.status != DayStatus::NotObserved)
            .count(),
        not_observed: daily
            .iter()
            .filter(|d| d.status == DayStatus::NotObserved)
            .map(|d| d.date)
            .collect(),
        compliant,
        failures_by_severity,
        waivers,
        daily,
        evidence,
        account_changes: account_changes(&metas, opts.since),
        baseline,
        restores: restore_records(restores, opts),
    }
}

/// Each day of the window, judged by its last snapshot; a day without one is missed once the
/// history holds the target (from `first_day`), and not observed before.
fn daily_results(
    judge: &Judge<'_>,
    obs: &[Observation],
    in_window: &[usize],
    days: &[NaiveDate],
    first_day: Option<NaiveDate>,
    opts: &ReportOptions,
) -> Vec<DayResult> {
    let mut last_of_day: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    for &i in in_window {
        // Observations come oldest first, so the last insert for a day is its last snapshot.
        last_of_day.insert(day_of(obs[i].at, opts.tz), i);
    }
    days.iter()
        .map(|&date| match last_of_day.get(&date) {
            Some(&i) => {
                let at = obs[i].at;
                let failing = judge.failing(i, at, opts.fail_on);
                DayResult {
                    date,
                    status: if failing.is_empty() {
                        DayStatus::Compliant
                    } else {
                        DayStatus::Failing
                    },
                    snapshot: Some(obs[i].snapshot_id),
                    at: Some(at),
                    compliant: failing.is_empty(),
                    failing,
                    enable: obs[i].config.get(fields::ENABLE).cloned(),
                    scan_type: obs[i].config.get(fields::SCAN_TYPE).cloned(),
                }
            }
            None => DayResult {
                date,
                status: match first_day {
                    Some(first) if date >= first => DayStatus::Missed,
                    _ => DayStatus::NotObserved,
                },
                snapshot: None,
                at: None,
                compliant: false,
                failing: Vec::new(),
                enable: None,
                scan_type: None,
            },
        })
        .collect()
}

/// The window's change events, oldest first, their values' keys sorted whatever order their
/// maps were built in.
fn change_events<'m>(
    mut events: Vec<Event>,
    meta_of: &impl Fn(i64) -> Option<&'m SnapshotMeta>,
) -> Vec<ChangeEvent> {
    events.sort_by_key(|e| (e.at, e.to));
    events
        .into_iter()
        .map(|e| ChangeEvent {
            at: e.at,
            from_at: meta_of(e.from).map(|m| m.observed_at),
            from: e.from,
            to: e.to,
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
        .collect()
}

/// The snapshots the report names (each change's two, and the latest), once each, in time.
fn evidence<'m>(
    changes: &[ChangeEvent],
    latest: Option<i64>,
    meta_of: &impl Fn(i64) -> Option<&'m SnapshotMeta>,
) -> Vec<SnapshotEvidence> {
    let mut ids: Vec<i64> = changes.iter().flat_map(|c| [c.from, c.to]).collect();
    ids.extend(latest);
    let mut evidence: Vec<SnapshotEvidence> = Vec::new();
    for id in ids {
        if evidence.iter().any(|e| e.id == id) {
            continue;
        }
        if let Some(m) = meta_of(id) {
            evidence.push(SnapshotEvidence::of(m));
        }
    }
    evidence.sort_by_key(|e| (e.at, e.id));
    evidence
}

/// The latest check's failures by severity, and the waivers it applied.
fn tally(check: Option<&CheckReport>) -> (SeverityCounts, Vec<WaiverRef>) {
    let mut failures_by_severity = SeverityCounts::default();
    let mut waivers = Vec::new();
    for r in check.iter().flat_map(|c| &c.results) {
        if r.status.is_failing() {
            failures_by_severity.add(r.severity);
        }
        if let Some(w) = &r.waiver {
            waivers.push(w.clone());
        }
    }
    (failures_by_severity, waivers)
}

/// Consecutive snapshots (in time) with known accounts that differ, the later in the window.
fn account_changes(metas: &[SnapshotMeta], since: DateTime<Utc>) -> Vec<AccountChange> {
    let mut changes = Vec::new();
    let mut last_known: Option<&str> = None;
    for m in metas {
        let Some(id) = &m.identity else { continue };
        if let Some(prev) = last_known
            && prev != id.account
            && m.observed_at >= since
        {
            changes.push(AccountChange {
                at: m.observed_at,
                snapshot: m.id,
                from: prev.to_string(),
                to: id.account.clone(),
            });
        }
        last_known = Some(&id.account);
    }
    changes
}

/// The baseline in force when the latest snapshot is judged, and how the latest config differs
/// from it.
fn baseline_drift(
    baselines: &[(Entry, Config)],
    latest: Option<&Config>,
    judged_at: DateTime<Utc>,
) -> Option<BaselineDrift> {
    crate::task::in_force::in_force(baselines, |(e, _)| (e.id, e.at), judged_at)
        .zip(latest)
        .map(|((e, approved), latest)| {
            let changes = diff(approved, latest);
            BaselineDrift {
                entry: e.id,
                approved_at: e.at,
                by: e.by.clone(),
                reason: e.reason.clone(),
                snapshot: e.snapshot,
                config_hash: e.config_hash.clone(),
                equals: changes.is_empty(),
                changes,
            }
        })
}

/// The restores applied inside the window, as their journal entries tell them.
fn restore_records(restores: Vec<Entry>, opts: &ReportOptions) -> Vec<RestoreRecord> {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    restores
        .into_iter()
        .filter(|e| e.at >= opts.since && e.at <= opts.until)
        .map(|e| {
            let plan = &e.detail["plan"];
            RestoreRecord {
                entry: e.id,
                at: e.at,
                by: e.by,
                restored_to: plan["restore_to"]["kind"]
                    .as_str()
                    .unwrap_or("snapshot")
                    .to_string(),
                config_hash: e.config_hash,
                snapshot: e.snapshot,
                fields: plan["update"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default(),
                converged: e.detail["outcome"] == "converged",
                not_taken: strings(&e.detail["not_taken"]),
            }
        })
        .collect()
}

impl Integrity {
    /// What the report says of the chain check.
    pub fn of(verify: VerifyReport) -> Integrity {
        Integrity {
            ok: verify.ok(),
            checked: verify.checked,
            configs_checked: verify.configs_checked,
            events_checked: verify.events_checked,
            fields_checked: verify.fields_checked,
            head: verify.head,
            first_break: verify.first_break,
            signature_line_broken: None,
        }
    }
}

/// The whole report from its targets' parts (sorted here by name), the chain check and, for the
/// nightly job, what the run did.
pub fn assemble(
    set: &PolicySet,
    opts: &ReportOptions,
    mut targets: Vec<TargetReport>,
    verify: VerifyReport,
    run: Option<&[RunTarget]>,
) -> ComplianceReport {
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    let run = run.map(|r| {
        let mut r = r.to_vec();
        r.sort_by(|a, b| a.target.cmp(&b.target));
        r
    });
    if let Some(run) = &run {
        let failed = failed_targets(run);
        for t in &mut targets {
            t.failed_this_run = failed.contains(t.name.as_str());
        }
    }
    ComplianceReport {
        schema: REPORT_SCHEMA,
        generated_at: opts.generated_at,
        window: Window {
            since: opts.since,
            until: opts.until,
        },
        targets,
        integrity: Integrity::of(verify),
        tool_version: env!("CARGO_PKG_VERSION"),
        tz: opts.tz,
        fail_on: opts.fail_on,
        policies: set.files().to_vec(),
        run,
        notifications_failed: Vec::new(),
    }
}

/// The targets a run could not audit (a set: a fleet's run names ten thousand).
pub fn failed_targets(run: &[RunTarget]) -> std::collections::HashSet<&str> {
    run.iter()
        .filter(|r| r.error.is_some())
        .map(|r| r.target.as_str())
        .collect()
}

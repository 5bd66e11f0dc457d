//! Judging a snapshot: which policies apply, the history they need, evaluation, and keeping the
//! result with the snapshot.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::app::config::Settings;
use crate::app::{Error, ExitCode};
use crate::policy::{self, CheckReport, Judge, Loaded, Observation, PolicySet, Times};
use crate::store::{CheckCounts, SnapshotMeta, Store, StoredCheck};
use crate::task::normalize::Config;
use crate::tencent::sign::sha256_hex;

/// The policies a command uses: `--policies` paths, else the config file's, else the shipped set.
pub fn load_policies(cli: &[PathBuf], settings: &Settings) -> Result<Loaded, Error> {
    let paths = if cli.is_empty() {
        &settings.policies
    } else {
        cli
    };
    let loaded = if paths.is_empty() {
        policy::builtin()
    } else {
        policy::load_paths(paths)?
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    Ok(loaded)
}

/// One name for a policy set: the hash of its files' names and hashes, in order.
pub fn policy_digest(set: &PolicySet) -> String {
    let mut text = String::new();
    for f in set.files() {
        text.push_str(&f.file);
        text.push('\n');
        text.push_str(&f.sha256);
        text.push('\n');
    }
    sha256_hex(text.as_bytes())
}

/// Evaluates `set` on snapshot `meta` as of `now`: its history is read from the store, and the
/// judge decides how much of it the verdict sees, as it does for a report's days.
pub fn check_snapshot(
    store: &Store,
    set: &PolicySet,
    meta: &SnapshotMeta,
    now: DateTime<Utc>,
    times: Times,
) -> Result<CheckReport, Error> {
    let since = (now - set.max_window()).min(meta.observed_at);
    let rows = store.observations(&meta.target, since, meta.observed_at)?;
    let mut history: Vec<Observation> = rows
        .into_iter()
        .filter(|(m, _)| (m.observed_at, m.id) <= (meta.observed_at, meta.id))
        .map(|(m, config)| observation(m, config))
        .collect();
    if history.last().map(|o| o.snapshot_id) != Some(meta.id) {
        // Not among the rows read (a store whose rows moved under it): judge it on its own.
        history.push(observation(meta.clone(), store.config(&meta.config_hash)?));
    }
    let (baselines, _) = crate::app::baseline::journal_of(store, &meta.target)?;
    let baselines = crate::report::compliance::policy_baselines(&baselines);
    let judge = Judge::new(set, &meta.target, times, &history).with_baselines(&baselines);
    Ok(judge.report(history.len() - 1, now))
}

/// A stored snapshot as the policies see it.
pub fn observation(meta: SnapshotMeta, config: Config) -> Observation {
    Observation {
        snapshot_id: meta.id,
        at: meta.observed_at,
        config,
        config_hash: meta.config_hash,
        status: meta.status,
    }
}

/// A check's result as it is kept with the snapshot it judged.
pub fn to_stored(
    set: &PolicySet,
    report: &CheckReport,
    now: DateTime<Utc>,
) -> Result<StoredCheck, Error> {
    let mut json = Vec::new();
    crate::report::check::json(report, &mut json).map_err(|source| Error::Output {
        what: "a check result".into(),
        source,
    })?;
    let s = report.summary;
    Ok(StoredCheck {
        snapshot_id: report.snapshot.id,
        policy_digest: policy_digest(set),
        checked_at: now,
        counts: CheckCounts {
            pass: s.pass as u64,
            fail: s.fail as u64,
            waived: s.waived as u64,
            error: s.error as u64,
        },
        report_json: String::from_utf8_lossy(&json).into_owned(),
    })
}

/// Keeps a check's result with the snapshot it judged.
pub fn save(
    store: &mut Store,
    set: &PolicySet,
    report: &CheckReport,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    store.save_check(&to_stored(set, report, now)?)?;
    Ok(())
}

/// The exit code a check earns: 1 when a rule at or above `fail_on` failed.
pub fn verdict(report: &CheckReport, fail_on: policy::Severity) -> ExitCode {
    if report.fails_at_or_above(fail_on) {
        ExitCode::Wanting
    } else {
        ExitCode::Ok
    }
}

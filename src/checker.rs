//! Judging a snapshot: which policies apply, the history they need, evaluation, and keeping the
//! result with the snapshot.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, Utc};

use crate::config::Settings;
use crate::policy::{self, CheckInput, CheckReport, Loaded, Observation, PolicySet};
use crate::store::{CheckCounts, SnapshotMeta, Store, StoredCheck};
use crate::tencent::sign::sha256_hex;
use crate::{Error, ExitCode};

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

/// Evaluates `set` on snapshot `meta` as of `now`, with the history its rules need.
pub fn check_snapshot(
    store: &Store,
    set: &PolicySet,
    meta: &SnapshotMeta,
    now: DateTime<Utc>,
    api_offset: FixedOffset,
) -> Result<CheckReport, Error> {
    let since = now - set.max_window();
    let rows = store.observations(&meta.target, since.min(meta.observed_at), meta.observed_at)?;
    let mut history: Vec<Observation> = rows
        .into_iter()
        .filter(|(m, _)| (m.observed_at, m.id) <= (meta.observed_at, meta.id))
        .map(|(m, config)| Observation {
            snapshot_id: m.id,
            at: m.observed_at,
            config,
            status: m.status,
        })
        .collect();
    let current = match history.last() {
        Some(last) if last.snapshot_id == meta.id => history.pop().expect("not empty"),
        _ => Observation {
            snapshot_id: meta.id,
            at: meta.observed_at,
            config: store.config(&meta.config_hash)?,
            status: meta.status.clone(),
        },
    };
    let report = policy::evaluate(
        set,
        &CheckInput {
            target: &meta.target,
            now,
            current: &current,
            history: &history,
            api_offset,
            config_hash: &meta.config_hash,
        },
    );
    Ok(report)
}

/// A check's result as it is kept with the snapshot it judged.
pub fn to_stored(
    set: &PolicySet,
    report: &CheckReport,
    now: DateTime<Utc>,
) -> Result<StoredCheck, Error> {
    let mut json = Vec::new();
    policy::render::json(report, &mut json).map_err(|source| Error::Output {
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

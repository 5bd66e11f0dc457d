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
    stored_document(set, report, document(report)?, now)
}

/// The check's JSON document, as `audit check --format json` writes it.
pub fn document(report: &CheckReport) -> Result<serde_json::Value, Error> {
    crate::report::check::document(report).map_err(|e| Error::Output {
        what: "a check result".into(),
        source: e.into(),
    })
}

/// [`to_stored`], from the check's [`document`] already made.
pub fn stored_document(
    set: &PolicySet,
    report: &CheckReport,
    document: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<StoredCheck, Error> {
    let (head, body) = crate::store::split_document(document);
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
        head,
        body,
    })
}

/// The exit code a check earns: 1 when a rule at or above `fail_on` failed.
pub fn verdict(report: &CheckReport, fail_on: policy::Severity) -> ExitCode {
    if report.fails_at_or_above(fail_on) {
        ExitCode::Wanting
    } else {
        ExitCode::Ok
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::store::OpenMode;
    use crate::test_support::{at, record_points, store_with};

    fn answer(enable: bool) -> Value {
        json!({
            "Enable": enable, "ScanType": ["vul", "risk", "virus"], "ScanPeriod": 1,
            "All": true, "Latest": false, "LastScanTime": "2026-11-01 03:10:00",
            "ScanResult": "Success",
        })
    }

    /// Checks `meta` as of `now` as `audit check` does, keeps the result, and gives the check's
    /// JSON document as `audit check --format json` wrote it.
    fn check_and_keep(
        store: &mut Store,
        set: &PolicySet,
        meta: &SnapshotMeta,
        now: DateTime<Utc>,
    ) -> Value {
        let report = check_snapshot(store, set, meta, now, Times::default()).unwrap();
        store
            .save_checks(&[to_stored(set, &report, now).unwrap()])
            .unwrap();
        let mut text = Vec::new();
        crate::report::check::json(&report, &mut text).unwrap();
        serde_json::from_slice(&text).unwrap()
    }

    /// [`check_and_keep`] for the latest snapshot of each of `targets`, with each one's id.
    fn check_all(store: &mut Store, set: &PolicySet, targets: &[&str]) -> Vec<(i64, Value)> {
        let now = at("2026-11-02T00:00:00Z");
        targets
            .iter()
            .map(|target| {
                let latest = store
                    .resolve(target, &crate::task::when::When::Latest, chrono_tz::UTC)
                    .unwrap();
                (latest.id, check_and_keep(store, set, &latest, now))
            })
            .collect()
    }

    fn count(path: &std::path::Path, table: &str) -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_kept_check_reads_back_whole_and_the_same_results_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let mut store = store_with(&path, "a", &[("2026-11-01T19:00:00Z", answer(true))]);
        record_points(&mut store, "b", &[("2026-11-01T19:00:00Z", answer(true))]);
        record_points(&mut store, "c", &[("2026-11-01T19:00:00Z", answer(false))]);
        let set = policy::builtin().set;
        let documents = check_all(&mut store, &set, &["a", "b", "c"]);
        for (id, document) in &documents {
            let kept = store.kept_checks(*id).unwrap();
            assert_eq!(kept.len(), 1);
            assert_eq!(&kept[0].document, document);
            assert_eq!(kept[0].policy_digest, policy_digest(&set));
        }
        assert_ne!(documents[0].1["target"], documents[1].1["target"]);
        // a and b were judged alike; c, switched off, otherwise.
        assert_eq!(count(&path, "check_results"), 3);
        assert_eq!(count(&path, "check_documents"), 2);
        // Checked again, the same snapshot's check is replaced, not added.
        check_all(&mut store, &set, &["a"]);
        assert_eq!(count(&path, "check_results"), 3);
    }

    #[test]
    fn pruning_a_snapshot_lets_go_of_the_results_only_its_check_gave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let mut store = store_with(
            &path,
            "a",
            &[
                ("2026-11-01T19:00:00Z", answer(true)),
                ("2026-11-02T19:00:00Z", answer(false)),
            ],
        );
        let set = policy::builtin().set;
        let metas: Vec<SnapshotMeta> = store
            .observations("a", at("2026-11-01T00:00:00Z"), at("2026-11-03T00:00:00Z"))
            .unwrap()
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        for meta in &metas {
            check_and_keep(&mut store, &set, meta, meta.observed_at);
        }
        assert_eq!(count(&path, "check_documents"), 2);
        let pruned = store
            .prune(
                at("2026-11-02T00:00:00Z"),
                at("2026-11-03T00:00:00Z"),
                false,
            )
            .unwrap();
        assert_eq!(pruned.removed, 1);
        assert_eq!(count(&path, "check_results"), 1);
        assert_eq!(count(&path, "check_documents"), 1);
        assert_eq!(store.kept_checks(metas[1].id).unwrap().len(), 1);
    }

    #[test]
    fn checks_kept_whole_by_an_older_version_are_split_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let mut store = store_with(&path, "a", &[("2026-11-01T19:00:00Z", answer(true))]);
        record_points(&mut store, "b", &[("2026-11-01T19:00:00Z", answer(true))]);
        let set = policy::builtin().set;
        let documents = check_all(&mut store, &set, &["a", "b"]);
        let digest = policy_digest(&set);
        drop(store);
        // The same checks as the schema before this one kept them: each document whole, pretty,
        // as `audit check --format json` wrote it; and one that is not JSON at all.
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(concat!(
            // The views a later migration adds, not there yet.
            "DROP VIEW current_state; DROP VIEW drift_timeline; DROP VIEW compliance_by_day;
             DROP VIEW stale_targets;",
            "DROP TABLE check_results; DROP TABLE check_documents;",
            include_str!("../../migrations/03-check-results/up.sql"),
            // The tables later migrations change, as they were before them.
            "DROP TABLE signed_checkpoints;",
            include_str!("../../migrations/06-signed-checkpoints/up.sql"),
            "DROP TABLE journal;
             CREATE TABLE journal (
                 id INTEGER PRIMARY KEY, target_id INTEGER NOT NULL REFERENCES targets(id),
                 kind TEXT NOT NULL CHECK (kind IN ('baseline', 'restore')), at INTEGER NOT NULL,
                 by_whom TEXT NOT NULL, reason TEXT NOT NULL, snapshot INTEGER,
                 config_hash TEXT NOT NULL, detail TEXT NOT NULL,
                 hash BLOB NOT NULL CHECK (length(hash) = 32));"
        ))
        .unwrap();
        for (id, document) in &documents {
            old.execute(
                "INSERT INTO check_results VALUES (?1, ?2, 0, 1, 2, 0, 0, ?3)",
                rusqlite::params![id, digest, serde_json::to_string_pretty(document).unwrap()],
            )
            .unwrap();
        }
        old.execute(
            "INSERT INTO check_results VALUES (?1, 'other', 0, 0, 0, 0, 0, 'not JSON')",
            [documents[1].0],
        )
        .unwrap();
        old.pragma_update(None, "user_version", 11).unwrap();
        drop(old);

        let store = Store::open(&path, OpenMode::Existing).unwrap();
        let kept = store.kept_checks(documents[0].0).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].document, documents[0].1);
        assert_eq!((kept[0].counts.pass, kept[0].counts.fail), (1, 2));
        // The text that is not JSON is kept, and reading it says what is wrong.
        let e = store.kept_checks(documents[1].0).unwrap_err();
        assert!(e.to_string().contains("not a JSON document"), "{e}");
        assert_eq!(count(&path, "check_results"), 3);
        assert_eq!(count(&path, "check_documents"), 2);
        let kept_text: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM check_documents WHERE body = 'not JSON'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept_text, 1);
    }
}

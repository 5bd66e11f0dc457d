//! Gathering the compliance report from the history (each target's observations, change events
//! and evidence, and the chain check on a second connection), and writing a run's reports to a
//! folder: one Markdown and one JSON file named by the UTC time, each written to a temporary file
//! first and renamed, so a reader never sees half a report.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use crate::app::Error;
use crate::app::output::write_atomically;
use crate::policy::PolicySet;
use crate::report::compliance::{
    self, ComplianceReport, ReportOptions, RunTarget, TargetInput, TargetReport,
};
use crate::store::{OpenMode, Store, VerifyReport};
use crate::task::when::fmt_utc;
use crate::trust::SigningKey;

/// The compliance report for `targets` (sorted and deduplicated here) over the window of `opts`.
pub fn compliance_report(
    store: &Store,
    set: &PolicySet,
    targets: &[String],
    opts: &ReportOptions,
    run: Option<&[RunTarget]>,
) -> Result<ComplianceReport, Error> {
    let mut parts = Vec::new();
    let verify = each_target(store, set, targets, opts, |t| {
        parts.push(t);
        Ok(())
    })?;
    Ok(compliance::assemble(set, opts, parts, verify, run))
}

/// How a report is written a target at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streamed {
    Markdown,
    Json,
}

/// Writes the compliance report of `targets` over `opts` a target at a time: each target's
/// part is built, rendered and let go before the next, so that memory does not grow with the
/// number of targets. The Markdown's sections wait in a temporary file until the summary table
/// above them is known; the JSON comes out as it goes. Same bytes as the whole report rendered.
pub fn stream_report(
    store: &Store,
    set: &PolicySet,
    targets: &[String],
    opts: &ReportOptions,
    format: Streamed,
    w: &mut dyn Write,
) -> Result<(), Error> {
    let io = |source: std::io::Error| Error::Output {
        what: "the report".into(),
        source,
    };
    // The parts every target shares; the chain check is filled in once it is done.
    let mut shared = compliance::assemble(set, opts, Vec::new(), VerifyReport::default(), None);
    match format {
        Streamed::Json => {
            let mut json = compliance::JsonTargets::start(&shared, w).map_err(io)?;
            let verify = each_target(store, set, targets, opts, |t| {
                json.target(&t, w).map_err(io)
            })?;
            shared.integrity = compliance::Integrity::of(verify);
            json.finish(&shared, w).map_err(io)
        }
        Streamed::Markdown => {
            let spool = tempfile::tempfile().map_err(io)?;
            let mut sections = std::io::BufWriter::with_capacity(1 << 20, spool);
            let mut rows = Vec::new();
            let verify = each_target(store, set, targets, opts, |t| {
                rows.push(compliance::SummaryRow::of(&t));
                compliance::target_section(&shared, &t, &mut sections).map_err(io)
            })?;
            shared.integrity = compliance::Integrity::of(verify);
            let mut spool = sections.into_inner().map_err(|e| io(e.into_error()))?;
            compliance::markdown_head(&shared, &rows, w).map_err(io)?;
            spool.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
            std::io::copy(&mut spool, w).map_err(io)?;
            compliance::markdown_tail(&shared, w).map_err(io)
        }
    }
}

/// Builds each of `targets`' parts (sorted and deduplicated here) in turn and hands it to
/// `each`, while the whole chain is verified on a second connection (if a second connection
/// cannot be had, on this one afterwards). Gives the chain check.
fn each_target(
    store: &Store,
    set: &PolicySet,
    targets: &[String],
    opts: &ReportOptions,
    mut each: impl FnMut(TargetReport) -> Result<(), Error>,
) -> Result<VerifyReport, Error> {
    if opts.since > opts.until {
        return Err(Error::Usage(format!(
            "the report window starts ({}) after it ends ({}); give a --since earlier than --until",
            fmt_utc(opts.since),
            fmt_utc(opts.until)
        )));
    }
    let mut names = targets.to_vec();
    names.sort();
    names.dedup();
    let days = compliance::window_days(opts.since, opts.until, opts.tz);
    let build = |store: &Store, name: &str| -> Result<TargetReport, Error> {
        let input = gather_target(store, set, name, opts)?;
        Ok(compliance::build_target(set, opts, &days, input))
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS);
    let path = store.path().to_path_buf();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (built, verified) = std::thread::scope(|scope| {
        let verifying = {
            let path = path.clone();
            scope.spawn(move || Store::open(&path, OpenMode::Existing).and_then(|s| s.verify()))
        };
        // Targets are judged on worker threads, each with a connection of its own, and handed
        // on in order; with one core, or a single target, on this thread.
        let built = if workers < 2 || names.len() < 2 {
            names.iter().try_for_each(|name| each(build(store, name)?))
        } else {
            let (send, parts) =
                std::sync::mpsc::sync_channel::<(usize, Result<TargetReport, Error>)>(2 * workers);
            for _ in 0..workers {
                let send = send.clone();
                let (names, next, path, build) = (&names, &next, &path, &build);
                scope.spawn(move || {
                    let store = match Store::open(path, OpenMode::Existing)
                        .and_then(|s| s.read_once().map(|()| s))
                    {
                        Ok(s) => s,
                        Err(e) => {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let _ = send.send((i, Err(e.into())));
                            return;
                        }
                    };
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(name) = names.get(i) else { return };
                        // A receiver gone means the report stopped on an error: stop too.
                        if send.send((i, build(&store, name))).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(send);
            let mut waiting = std::collections::BTreeMap::new();
            let mut due = 0;
            let mut result = Ok(());
            for (i, part) in parts.iter() {
                waiting.insert(i, part);
                while let Some(part) = waiting.remove(&due) {
                    due += 1;
                    if let Err(e) = part.and_then(&mut each) {
                        result = Err(e);
                        break;
                    }
                }
                if result.is_err() {
                    break;
                }
            }
            // Stop the workers: the next item each takes is past the end.
            next.store(names.len(), std::sync::atomic::Ordering::Relaxed);
            drop(parts);
            result.and_then(|()| {
                if due == names.len() {
                    Ok(())
                } else {
                    Err(Error::Usage(format!(
                        "the report stopped after {due} of {} targets",
                        names.len()
                    )))
                }
            })
        };
        (built, verifying.join())
    });
    built?;
    Ok(match verified {
        Ok(Ok(v)) => v,
        _ => store.verify()?,
    })
}

/// The most threads that judge a report's targets at once.
const MAX_WORKERS: usize = 4;

/// What the report needs of one target's history, read from the store.
fn gather_target(
    store: &Store,
    set: &PolicySet,
    name: &str,
    opts: &ReportOptions,
) -> Result<TargetInput, Error> {
    let from = compliance::history_from(set, opts);
    let mut observations = store.observations(name, from, opts.until)?;
    // The newest snapshot is older than the span every judgement in the window needs: it is the
    // one the store adds from before that span, and its own check reaches back from its time.
    if let Some((last, _)) = observations.last()
        && last.observed_at < from
    {
        let since = last.observed_at;
        observations = store.observations(name, since, opts.until)?;
    }
    let events = store.events(name, Some(opts.since), Some(opts.until))?;
    let mut earlier = Vec::new();
    for id in events.iter().flat_map(|e| [e.from, e.to]) {
        let held = observations.iter().any(|(m, _)| m.id == id)
            || earlier
                .iter()
                .any(|m: &crate::store::SnapshotMeta| m.id == id);
        if !held {
            earlier.push(store.meta(id)?);
        }
    }
    let (baselines, restores) = crate::app::baseline::journal_of(store, name)?;
    Ok(TargetInput {
        name: name.to_string(),
        observations,
        events,
        earlier,
        baselines,
        restores,
    })
}

/// Builds the compliance report of `targets` over `opts`, with what the run did, and writes `tcss-audit-YYYYMMDDTHHMMSSZ.md` and `.json` into `dir`
/// (`…Z-2.md` and so on if those names are taken).
pub fn write_run_reports(
    store: &Store,
    set: &PolicySet,
    targets: &[String],
    opts: &ReportOptions,
    run: &[RunTarget],
    dir: &Path,
    signing_key: Option<&SigningKey>,
) -> Result<Vec<PathBuf>, Error> {
    let report = compliance_report(store, set, targets, opts, Some(run))?;
    write_report_files(&report, dir, signing_key, None)
}

/// Writes `report` as Markdown and JSON (and, with a key, their `.sig`s) into `dir`, named by
/// its time, or over the files `at` (a run's reports written again, with what came after).
pub fn write_report_files(
    report: &ComplianceReport,
    dir: &Path,
    signing_key: Option<&SigningKey>,
    at: Option<&[PathBuf]>,
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Output {
        what: dir.display().to_string(),
        source,
    })?;
    let (md, json, html) = match at {
        Some([md, json, html, ..]) => (md.clone(), json.clone(), html.clone()),
        _ => {
            // Named by the time; a second run within the same second (or a clock set back)
            // gets a suffix rather than replace reports that are already there.
            let base = format!(
                "tcss-audit-{}",
                report.generated_at.format("%Y%m%dT%H%M%SZ")
            );
            (1..)
                .map(|n| match n {
                    1 => base.clone(),
                    n => format!("{base}-{n}"),
                })
                .map(|stem| {
                    (
                        dir.join(format!("{stem}.md")),
                        dir.join(format!("{stem}.json")),
                        dir.join(format!("{stem}.html")),
                    )
                })
                .find(|(md, json, html)| !md.exists() && !json.exists() && !html.exists())
                .expect("some suffix is free")
        }
    };
    // Rendered side by side: a fleet's report is many MB of each.
    let (md_done, json_done, html_done) = std::thread::scope(|scope| {
        let json_done = scope.spawn(|| write_atomically(&json, |w| compliance::json(report, w)));
        let html_done = scope.spawn(|| write_atomically(&html, |w| compliance::html(report, w)));
        let md_done = write_atomically(&md, |w| compliance::markdown(report, w));
        (md_done, json_done.join(), html_done.join())
    });
    md_done?;
    json_done.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    html_done.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    let mut written = vec![md, json, html];
    if let Some(key) = signing_key {
        let signatures = written
            .iter()
            .map(|report| sign_file(report, key))
            .collect::<Result<Vec<_>, Error>>()?;
        written.extend(signatures);
    }
    Ok(written)
}

/// Writes the OCSF Compliance Finding events of every target's latest check beside the JSON
/// report (`NAME.ocsf.json`), signed like the reports when there is a key.
pub fn write_ocsf(
    report: &ComplianceReport,
    json_report: &Path,
    signing_key: Option<&SigningKey>,
) -> Result<Vec<PathBuf>, Error> {
    let name = json_report
        .file_name()
        .map(|n| n.to_string_lossy().replace(".json", ".ocsf.json"))
        .unwrap_or_else(|| "findings.ocsf.json".into());
    let path = json_report.with_file_name(name);
    let pairs: Vec<_> = report
        .targets
        .iter()
        .filter_map(|t| {
            let account = t
                .latest
                .as_ref()
                .and_then(|l| l.identity.as_ref())
                .map(|i| i.account.as_str());
            t.check.as_ref().map(|c| (c, account))
        })
        .collect();
    write_atomically(&path, |w| crate::report::check::ocsf(&pairs, w))?;
    let mut out = vec![path.clone()];
    if let Some(key) = signing_key {
        out.push(sign_file(&path, key)?);
    }
    Ok(out)
}

/// Writes `REPORT.sig` beside `report`: an SSH signature (namespace `tcss-audit`) of the bytes on
/// disk, which `ssh-keygen -Y verify -n tcss-audit` checks with nothing of this tool's.
pub fn sign_file(report: &Path, key: &SigningKey) -> Result<PathBuf, Error> {
    let bytes = std::fs::read(report).map_err(|source| Error::Output {
        what: report.display().to_string(),
        source,
    })?;
    let signature = key.sign(crate::trust::REPORT_NAMESPACE, &bytes);
    let mut name = report.as_os_str().to_owned();
    name.push(".sig");
    let path = PathBuf::from(name);
    write_atomically(&path, |w| w.write_all(signature.as_bytes()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use chrono_tz::Tz;
    use serde_json::{Value, json};

    use super::*;
    use crate::app::check::check_snapshot;
    use crate::policy::{self, CheckReport, Severity};
    use crate::report::compliance::DayStatus;
    use crate::task::when::parse_zone;
    use crate::test_support::{at, date, store_with};

    fn shanghai() -> Tz {
        parse_zone("Asia/Shanghai").unwrap()
    }

    /// The report's part for target `prod`, the only one these tests record.
    fn prod(store: &Store, set: &PolicySet, opts: &ReportOptions) -> TargetReport {
        compliance_report(store, set, &["prod".to_string()], opts, None)
            .unwrap()
            .targets
            .remove(0)
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
    fn a_day_is_judged_by_its_last_snapshot_in_the_zone() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(
            &dir.path().join("a.db"),
            "prod",
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
        let t = &prod(&store, &set, &options(since, until, shanghai()));
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
        let t = &prod(&store, &set, &options(since, until, Tz::UTC));
        let compliant: Vec<String> = t
            .daily
            .iter()
            .filter(|d| d.compliant)
            .map(|d| d.date.to_string())
            .collect();
        assert_eq!(compliant, ["2026-11-02"]);
        // 31 October (UTC) comes before the first snapshot: not observed, not missed.
        assert_eq!(t.gaps, [date("2026-11-04")]);
        assert_eq!(t.not_observed, [date("2026-10-31")]);
        assert_eq!((t.days, t.observed_days), (5, 4));
        assert_eq!(t.snapshots, 4);
        assert_eq!(t.latest.as_ref().unwrap().id, 4);
        assert!(!t.compliant);
    }

    #[test]
    fn days_before_the_history_held_are_not_observed_nor_missed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        // A new target's first night: the thirty days before it were never observed.
        let mut store = store_with(
            &path,
            "prod",
            &[("2026-11-30T19:00:00Z", json!({"Enable": true}))],
        );
        let set = switch_policy();
        let opts = options(
            at("2026-11-01T00:00:00Z"),
            at("2026-11-30T23:00:00Z"),
            Tz::UTC,
        );
        let t = &prod(&store, &set, &opts);
        assert_eq!((t.days, t.observed_days, t.compliant_days), (30, 1, 1));
        assert!(t.gaps.is_empty(), "{:?}", t.gaps);
        assert_eq!(t.not_observed.len(), 29);
        assert_eq!(t.daily[29].status, DayStatus::Compliant);
        assert_eq!(t.daily[0].status, DayStatus::NotObserved);
        // A night missed after the first is a missed night.
        crate::test_support::record_points(
            &mut store,
            "prod",
            &[(
                "2026-12-02T19:00:00Z",
                json!({"Enable": false, "RequestId": "later"}),
            )],
        );
        let opts = options(
            at("2026-11-01T00:00:00Z"),
            at("2026-12-02T23:00:00Z"),
            Tz::UTC,
        );
        let t = &prod(&store, &set, &opts);
        assert_eq!(t.gaps, [date("2026-12-01")]);
        assert_eq!((t.observed_days, t.compliant_days), (3, 1));
        // Pruned days are outside the history held again.
        store
            .prune(
                at("2026-12-01T00:00:00Z"),
                at("2026-12-03T00:00:00Z"),
                false,
            )
            .unwrap();
        let t = &prod(&store, &set, &opts);
        assert_eq!(t.not_observed.len(), 31, "1 November to 1 December");
        assert!(t.gaps.is_empty(), "{:?}", t.gaps);
    }

    /// What `audit check` says of snapshot `id` as of its own time: the failures that count.
    fn checked_that_day(
        store: &Store,
        set: &PolicySet,
        id: i64,
        opts: &ReportOptions,
    ) -> Vec<String> {
        let meta = store.meta(id).unwrap();
        let at = meta.observed_at;
        let check = check_snapshot(store, set, &meta, at, opts.times()).unwrap();
        counting_failures(&check, opts.fail_on)
    }

    fn counting_failures(check: &CheckReport, fail_on: Severity) -> Vec<String> {
        check
            .failing_at_or_above(fail_on)
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
        let store = store_with(&dir.path().join("a.db"), "prod", &points);
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
        let t = prod(&store, &set, &opts);
        let failing: Vec<(String, Vec<String>)> = t
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
        for d in &t.daily {
            assert_eq!(
                d.failing,
                checked_that_day(&store, &set, d.snapshot.unwrap(), &opts)
            );
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
        let store = store_with(&dir.path().join("a.db"), "prod", &points);
        let set = policy::builtin().set;
        let opts = options(
            at("2026-11-03T00:00:00Z"),
            at("2026-11-13T00:00:00Z"),
            Tz::UTC,
        );
        let t = &prod(&store, &set, &opts);
        let latest = store.meta(t.latest.as_ref().unwrap().id).unwrap();
        let expected = check_snapshot(&store, &set, &latest, opts.until, opts.times()).unwrap();
        assert_eq!(t.check.as_ref(), Some(&expected));
        let mut judged = 0;
        for d in &t.daily {
            let Some(id) = d.snapshot else { continue };
            assert_eq!(
                d.failing,
                checked_that_day(&store, &set, id, &opts),
                "{}",
                d.date
            );
            judged += 1;
        }
        assert_eq!(judged, 9, "3..=12 November less the missed 6th");
        assert!(t.compliant_days > 0 && t.compliant_days < judged);
    }
}

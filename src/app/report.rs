//! Gathering the compliance report from the history (each target's observations, change events
//! and evidence, and the chain check on a second connection), and writing a run's reports to a
//! folder: one Markdown and one JSON file named by the UTC time, each written to a temporary file
//! first and renamed, so a reader never sees half a report.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::app::Error;
use crate::app::output::{write_atomically, write_file_atomically};
use crate::policy::PolicySet;
use crate::report::compliance::{
    self, ComplianceReport, ReportOptions, RunTarget, TargetInput, TargetReport,
};
use crate::store::{OpenMode, READ_ONCE_CACHE_KIB, Store, VerifyReport};
use crate::task::when::fmt_utc;
use crate::trust::SigningKey;

/// The compliance report for `targets` (sorted and deduplicated here) over the window of `opts`,
/// held whole: what the reports written a target at a time are tested against.
#[cfg(test)]
pub fn compliance_report(
    store: &Store,
    set: &PolicySet,
    targets: &[String],
    opts: &ReportOptions,
    run: Option<&[RunTarget]>,
) -> Result<ComplianceReport, Error> {
    let mut parts = Vec::new();
    let verify = each_target(store, set, targets, opts, Ok, |t| {
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
    Html,
}

fn io_error(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Output {
        what: what.into(),
        source,
    }
}

/// Renders into a buffer of its own (on a worker thread).
fn rendered(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    render(&mut out).map_err(io_error("the report"))?;
    Ok(out)
}

/// The buffer a spool of sections is written through, and a spool of summary rows (a line a
/// target).
const SECTIONS_BUFFER: usize = 1 << 20;
const ROWS_BUFFER: usize = 1 << 16;

/// A temporary file that a report's parts wait in until what comes before them is known: in
/// `dir` (where the report goes, so that it has room for it) or else the system's, written
/// through a buffer of `buffer` bytes.
fn spool(dir: Option<&Path>, buffer: usize) -> Result<std::io::BufWriter<std::fs::File>, Error> {
    let file = match dir {
        Some(dir) => tempfile::tempfile_in(dir),
        None => tempfile::tempfile(),
    }
    .map_err(io_error("a temporary file for the report"))?;
    Ok(std::io::BufWriter::with_capacity(buffer, file))
}

/// A spool whose writing is done, read back from its start.
fn spooled(w: std::io::BufWriter<std::fs::File>) -> Result<std::fs::File, Error> {
    w.into_inner()
        .map_err(|e| io_error("the report's temporary file")(e.into_error()))
}

/// Copies the whole of `spool` into `w`; from file to file, in the kernel.
fn copy_spool<W: Write + ?Sized>(spool: &mut std::fs::File, w: &mut W) -> std::io::Result<()> {
    spool.seek(std::io::SeekFrom::Start(0))?;
    std::io::copy(spool, w).map(drop)
}

/// Writes into `file` what `head` writes, the whole of `spool`, then what `tail` writes. The
/// spool goes file to file, in the kernel: a fleet's report is hundreds of MB.
fn around_spool(
    file: &mut std::fs::File,
    spool: &mut std::fs::File,
    head: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    tail: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut *file);
    head(&mut w)?;
    w.flush()?;
    drop(w);
    copy_spool(spool, file)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
    tail(&mut w)?;
    w.flush()
}

/// Writes the compliance report of `targets` over `opts` a target at a time: each target's
/// part is built and rendered on a worker thread, written in order and let go, so that memory
/// does not grow with the number of targets. The Markdown's and HTML's sections wait in a
/// temporary file until the summary table above them is known; the JSON comes out as it goes.
/// Same bytes as the whole report rendered.
pub fn stream_report(
    store: &Store,
    set: &PolicySet,
    targets: &[String],
    opts: &ReportOptions,
    format: Streamed,
    w: &mut dyn Write,
) -> Result<(), Error> {
    let io = io_error("the report");
    // The parts every target shares; the chain check is filled in once it is done.
    let mut shared = compliance::assemble(set, opts, Vec::new(), VerifyReport::default(), None);
    match format {
        Streamed::Json => {
            let mut json = compliance::JsonTargets::start(&shared, w).map_err(&io)?;
            let verify = each_target(
                store,
                set,
                targets,
                opts,
                |t| compliance::JsonTargets::render(&t).map_err(&io),
                |text| json.push(&text, w).map_err(&io),
            )?;
            shared.integrity = compliance::Integrity::of(verify);
            json.finish(&shared, w).map_err(io)
        }
        Streamed::Markdown => {
            let (mut rows, mut sections, verify) =
                spool_sections((store, set, targets, opts), |t| {
                    let row =
                        rendered(|b| compliance::summary_line(&compliance::SummaryRow::of(t), b))?;
                    let section = rendered(|b| compliance::target_section(&shared, t, b))?;
                    Ok((row, section))
                })?;
            shared.integrity = compliance::Integrity::of(verify);
            compliance::markdown_head_with(&shared, &mut |w| copy_spool(&mut rows, w), w)
                .map_err(&io)?;
            copy_spool(&mut sections, w).map_err(&io)?;
            compliance::markdown_tail(&shared, w).map_err(io)
        }
        Streamed::Html => {
            let (mut rows, mut sections, verify) =
                spool_sections((store, set, targets, opts), |t| {
                    let row = rendered(|b| compliance::html_summary_row(t, b))?;
                    let section = rendered(|b| compliance::html_target(&shared, t, b))?;
                    Ok((row, section))
                })?;
            shared.integrity = compliance::Integrity::of(verify);
            compliance::html_head(&shared, w).map_err(&io)?;
            copy_spool(&mut rows, w).map_err(&io)?;
            compliance::html_run(&shared, w).map_err(&io)?;
            copy_spool(&mut sections, w).map_err(&io)?;
            compliance::html_tail(&shared, w).map_err(io)
        }
    }
}

/// For a format whose summary stands above the targets' sections: judges and renders every
/// target (on the workers) into its summary row and its section, and spools each. Gives both
/// spools, the rows' and the sections', and the chain check: neither grows memory with the
/// number of targets.
fn spool_sections(
    (store, set, targets, opts): (&Store, &PolicySet, &[String], &ReportOptions),
    render: impl Fn(&TargetReport) -> Result<(Vec<u8>, Vec<u8>), Error> + Sync,
) -> Result<(std::fs::File, std::fs::File, VerifyReport), Error> {
    let mut rows = spool(None, ROWS_BUFFER)?;
    let mut sections = spool(None, SECTIONS_BUFFER)?;
    let io = io_error("the report");
    let verify = each_target(
        store,
        set,
        targets,
        opts,
        |t| render(&t),
        |(row, section)| {
            rows.write_all(&row)
                .and_then(|()| sections.write_all(&section))
                .map_err(&io)
        },
    )?;
    Ok((spooled(rows)?, spooled(sections)?, verify))
}

/// Builds each of `targets`' parts (sorted and deduplicated here) in turn, makes of it what
/// `make` makes (a rendering, on the worker thread that built it) and hands that to `each` in
/// the targets' order, while the whole chain is verified on a second connection (if a second
/// connection cannot be had, on this one afterwards). Gives the chain check.
fn each_target<T: Send>(
    store: &Store,
    set: &PolicySet,
    targets: &[String],
    opts: &ReportOptions,
    make: impl Fn(TargetReport) -> Result<T, Error> + Sync,
    mut each: impl FnMut(T) -> Result<(), Error>,
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
    let build = |store: &Store, name: &str| -> Result<T, Error> {
        let input = gather_target(store, set, name, opts)?;
        make(compliance::build_target(set, opts, &days, input))
    };
    // This connection reads each target once, or waits while the workers do: its page cache is
    // kept as small as theirs, since all of them are one pool (see `Store::with_cache`).
    let (built, verified) = store.with_cache(READ_ONCE_CACHE_KIB, || {
        Ok::<_, Error>(std::thread::scope(|scope| {
            let verifying = {
                let path = store.path().to_path_buf();
                scope.spawn(move || Store::open(&path, OpenMode::Existing).and_then(|s| s.verify()))
            };
            let built = in_order(store, &names, &build, &mut each);
            (built, verifying.join())
        }))
    })?;
    built?;
    Ok(match verified {
        Ok(Ok(v)) => v,
        _ => store.verify()?,
    })
}

/// Builds each of `names` with `build` and hands the parts to `each` in their order: on worker
/// threads, each with a connection of its own; with one core, or a single target, on this one.
fn in_order<T: Send>(
    store: &Store,
    names: &[String],
    build: &(impl Fn(&Store, &str) -> Result<T, Error> + Sync),
    each: &mut impl FnMut(T) -> Result<(), Error>,
) -> Result<(), Error> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS);
    if workers < 2 || names.len() < 2 {
        // One read transaction: every target read from one moment of the history, with
        // SQLite's shared lock taken once rather than once a query.
        let _reading = store.reading()?;
        return names.iter().try_for_each(|name| each(build(store, name)?));
    }
    let path = store.path();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (send, parts) = std::sync::mpsc::sync_channel::<(usize, Result<T, Error>)>(2 * workers);
        for _ in 0..workers {
            let send = send.clone();
            let next = &next;
            scope.spawn(move || build_some(path, names, next, &send, build));
        }
        drop(send);
        let (result, due) = hand_in_order(parts.iter(), each);
        // Stop the workers: the next item each takes is past the end.
        next.store(names.len(), std::sync::atomic::Ordering::Relaxed);
        drop(parts);
        result.and_then(|()| {
            if due == names.len() {
                Ok(())
            } else {
                Err(Error::Internal {
                    what: format!("the report stopped after {due} of {} targets", names.len()),
                })
            }
        })
    })
}

/// A worker of [`in_order`]: takes the next target until none is left (or the receiver is
/// gone, the report having stopped on an error), building each from a connection of its own.
fn build_some<T>(
    path: &Path,
    names: &[String],
    next: &std::sync::atomic::AtomicUsize,
    send: &std::sync::mpsc::SyncSender<(usize, Result<T, Error>)>,
    build: &impl Fn(&Store, &str) -> Result<T, Error>,
) {
    // A worker that cannot read says so in the place of its next target.
    let fail = |e: Error| {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = send.send((i, Err(e)));
    };
    let store = match Store::open(path, OpenMode::Existing).and_then(|s| s.read_once().map(|()| s))
    {
        Ok(s) => s,
        Err(e) => return fail(e.into()),
    };
    // One read transaction for the worker's targets (see above).
    let _reading = match store.reading() {
        Ok(r) => r,
        Err(e) => return fail(e.into()),
    };
    loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(name) = names.get(i) else { return };
        if send.send((i, build(&store, name))).is_err() {
            return;
        }
    }
}

/// Hands the parts, which arrive in any order, to `each` in their order; stops at the first
/// error. Gives the outcome and how many were handed.
fn hand_in_order<T>(
    parts: impl Iterator<Item = (usize, Result<T, Error>)>,
    each: &mut impl FnMut(T) -> Result<(), Error>,
) -> (Result<(), Error>, usize) {
    let mut waiting = std::collections::BTreeMap::new();
    let mut due = 0;
    for (i, part) in parts {
        waiting.insert(i, part);
        while let Some(part) = waiting.remove(&due) {
            due += 1;
            if let Err(e) = part.and_then(&mut *each) {
                return (Err(e), due);
            }
        }
    }
    (Ok(()), due)
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

/// Builds the compliance report of `targets` over `opts`, with what the run did, and writes
/// `tcss-audit-YYYYMMDDTHHMMSSZ.md`, `.json` and `.html` into `dir` (`…Z-2.md` and so on if
/// those names are taken), with their signatures when there is a key.
pub fn write_run_reports(
    store: &Store,
    set: &PolicySet,
    targets: &[String],
    opts: &ReportOptions,
    run: &[RunTarget],
    dir: &Path,
    signing_key: Option<&SigningKey>,
) -> Result<Vec<PathBuf>, Error> {
    RunReport::build(store, set, targets, opts, run, dir, None)?.write(signing_key, None)
}

/// What a run's notifications and metrics need of a target's newest snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Newest {
    pub config_hash: Option<String>,
    pub at: Option<DateTime<Utc>>,
    /// `Enable` in its config: was scanning on?
    pub scan_enabled: Option<bool>,
}

impl Newest {
    fn of(t: &TargetReport) -> Newest {
        Newest {
            config_hash: t.latest.as_ref().map(|l| l.config_hash.clone()),
            at: t.latest.as_ref().map(|l| l.at),
            scan_enabled: t.config.as_ref().map(|c| {
                c.get(crate::task::fields::ENABLE) == Some(&serde_json::Value::Bool(true))
            }),
        }
    }
}

/// A run's compliance report, built a target at a time: each target's part is rendered in every
/// format on a worker thread as soon as it is judged, and waits in temporary files (spools)
/// while the next is built, so that a fleet's report is never held whole. The files are then
/// written from the spools with what every target shares around them, the same bytes as the
/// whole report rendered, and can be written again (with the notifications that could not be
/// delivered) without judging the targets again.
pub struct RunReport {
    /// The report without its targets: what every format shares.
    shared: ComplianceReport,
    rows: Vec<compliance::SummaryRow>,
    markdown: std::fs::File,
    json: compliance::JsonTargets,
    json_targets: std::fs::File,
    html_rows: Vec<u8>,
    html: std::fs::File,
    /// The OCSF findings of every target's latest check, when asked for.
    ocsf: Option<(crate::report::PrettyArray, std::fs::File)>,
    newest: std::collections::HashMap<String, Newest>,
    /// Where the files are written.
    dir: PathBuf,
}

/// The configured region of each target that names one, by target name.
pub type Regions = std::collections::HashMap<String, String>;

/// One target's part of a run's report in every format.
struct RunPart {
    name: String,
    newest: Newest,
    row: compliance::SummaryRow,
    markdown: Vec<u8>,
    json: Vec<u8>,
    html_row: Vec<u8>,
    html: Vec<u8>,
    ocsf: Option<Vec<u8>>,
}

impl RunReport {
    /// Judges and renders every one of `targets` over `opts` into spools in `dir`, the folder
    /// the report is for (made if missing); `ocsf` adds the findings of each target's latest
    /// check, each with its target's region where it has one.
    pub fn build(
        store: &Store,
        set: &PolicySet,
        targets: &[String],
        opts: &ReportOptions,
        run: &[RunTarget],
        dir: &Path,
        ocsf: Option<&Regions>,
    ) -> Result<RunReport, Error> {
        let io = io_error("the report");
        std::fs::create_dir_all(dir).map_err(io_error(&dir.display().to_string()))?;
        let mut shared =
            compliance::assemble(set, opts, Vec::new(), VerifyReport::default(), Some(run));
        let in_dir = || spool(Some(dir), SECTIONS_BUFFER);
        let (mut markdown, mut json_targets, mut html) = (in_dir()?, in_dir()?, in_dir()?);
        let mut findings = match ocsf {
            Some(_) => Some((crate::report::PrettyArray::default(), in_dir()?)),
            None => None,
        };
        let mut rows = Vec::new();
        let mut html_rows = Vec::new();
        let mut json = compliance::JsonTargets::default();
        let mut newest = std::collections::HashMap::new();
        let failed = compliance::failed_targets(run);
        let verify = each_target(
            store,
            set,
            targets,
            opts,
            |mut t| {
                t.failed_this_run = failed.contains(t.name.as_str());
                let ocsf = match (&t.check, ocsf) {
                    (Some(check), Some(regions)) => {
                        let place = crate::report::check::CloudOf {
                            account: t
                                .latest
                                .as_ref()
                                .and_then(|l| l.identity.as_ref())
                                .map(|i| i.account.as_str()),
                            region: regions.get(&t.name).map(String::as_str),
                        };
                        crate::report::check::render_ocsf_events(check, place).map_err(&io)?
                    }
                    _ => None,
                };
                Ok(RunPart {
                    name: t.name.clone(),
                    newest: Newest::of(&t),
                    row: compliance::SummaryRow::of(&t),
                    markdown: rendered(|b| compliance::target_section(&shared, &t, b))?,
                    json: compliance::JsonTargets::render(&t).map_err(&io)?,
                    html_row: rendered(|b| compliance::html_summary_row(&t, b))?,
                    html: rendered(|b| compliance::html_target(&shared, &t, b))?,
                    ocsf,
                })
            },
            |part| {
                rows.push(part.row);
                html_rows.extend_from_slice(&part.html_row);
                markdown.write_all(&part.markdown).map_err(&io)?;
                json.push(&part.json, &mut json_targets).map_err(&io)?;
                html.write_all(&part.html).map_err(&io)?;
                if let (Some((array, spool)), Some(events)) = (&mut findings, &part.ocsf) {
                    array.push(events, spool).map_err(&io)?;
                }
                newest.insert(part.name, part.newest);
                Ok(())
            },
        )?;
        shared.integrity = compliance::Integrity::of(verify);
        Ok(RunReport {
            shared,
            rows,
            markdown: spooled(markdown)?,
            json,
            json_targets: spooled(json_targets)?,
            html_rows,
            html: spooled(html)?,
            ocsf: match findings {
                Some((array, spool)) => Some((array, spooled(spool)?)),
                None => None,
            },
            newest,
            dir: dir.to_path_buf(),
        })
    }

    /// Whether the whole chain verified.
    pub fn chain_ok(&self) -> bool {
        self.shared.integrity.ok
    }

    /// A target's newest snapshot, as its part of the report shows it.
    pub fn newest(&self, target: &str) -> Option<&Newest> {
        self.newest.get(target)
    }

    /// Why the run could not sign (its report then has no signature).
    pub fn set_signature_line_broken(&mut self, why: &str) {
        self.shared.integrity.signature_line_broken = Some(why.to_string());
    }

    /// The notifications the run could not deliver, shown when the report is written again.
    pub fn set_notifications_failed(&mut self, failed: Vec<String>) {
        self.shared.notifications_failed = failed;
    }

    /// Writes the report as Markdown, JSON and HTML (and, with a key, their `.sig`s) into its
    /// folder, named by its time, or over the files `at` (the report written again).
    pub fn write(
        &mut self,
        signing_key: Option<&SigningKey>,
        at: Option<&[PathBuf]>,
    ) -> Result<Vec<PathBuf>, Error> {
        let (md, json, html) = report_paths(self.shared.generated_at, &self.dir, at);
        let RunReport {
            shared,
            rows,
            markdown,
            json: targets,
            json_targets,
            html_rows,
            html: html_sections,
            ..
        } = self;
        let shared = &*shared;
        let write_json = || {
            write_file_atomically(&json, |f| {
                around_spool(
                    f,
                    json_targets,
                    |w| compliance::JsonTargets::head(shared, w),
                    |w| targets.finish(shared, w),
                )
            })
        };
        let html_head = |w: &mut dyn std::io::Write| -> std::io::Result<()> {
            compliance::html_head(shared, w)?;
            w.write_all(html_rows)?;
            compliance::html_run(shared, w)
        };
        let write_html = || {
            write_file_atomically(&html, |f| {
                around_spool(f, html_sections, html_head, |w| {
                    compliance::html_tail(shared, w)
                })
            })
        };
        let mut write_md = || {
            write_file_atomically(&md, |f| {
                around_spool(
                    f,
                    markdown,
                    |w| compliance::markdown_head(shared, rows, w),
                    |w| compliance::markdown_tail(shared, w),
                )
            })
        };
        // Written side by side: a fleet's report is many MB of each.
        let (md_done, json_done, html_done) = std::thread::scope(|scope| {
            let json_done = scope.spawn(write_json);
            let html_done = scope.spawn(write_html);
            (write_md(), json_done.join(), html_done.join())
        });
        md_done?;
        json_done.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        html_done.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        signed(vec![md, json, html], signing_key)
    }

    /// Writes the OCSF Compliance Finding events of every target's latest check beside the JSON
    /// report (`NAME.ocsf.json`), signed like the reports when there is a key. Nothing without
    /// findings asked for at [`RunReport::build`].
    pub fn write_ocsf(
        &mut self,
        json_report: &Path,
        signing_key: Option<&SigningKey>,
    ) -> Result<Vec<PathBuf>, Error> {
        let Some((array, spool)) = &mut self.ocsf else {
            return Ok(Vec::new());
        };
        let name = json_report
            .file_name()
            .map(|n| n.to_string_lossy().replace(".json", ".ocsf.json"))
            .unwrap_or_else(|| "findings.ocsf.json".into());
        let path = json_report.with_file_name(name);
        write_file_atomically(&path, |f| {
            around_spool(
                f,
                spool,
                |w| crate::report::PrettyArray::open(w).map(drop),
                |w| array.close(w),
            )
        })?;
        signed(vec![path], signing_key)
    }
}

/// Where a run's Markdown, JSON and HTML reports go: `at`'s, or new names in `dir` (which
/// [`RunReport::build`] made) by the report's time.
fn report_paths(
    generated_at: DateTime<Utc>,
    dir: &Path,
    at: Option<&[PathBuf]>,
) -> (PathBuf, PathBuf, PathBuf) {
    match at {
        Some([md, json, html, ..]) => (md.clone(), json.clone(), html.clone()),
        _ => {
            // Named by the time; a second run within the same second (or a clock set back)
            // gets a suffix rather than replace reports that are already there.
            let base = format!("tcss-audit-{}", generated_at.format("%Y%m%dT%H%M%SZ"));
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
    }
}

/// `written`, followed by each one's signature when there is a key.
fn signed(mut written: Vec<PathBuf>, key: Option<&SigningKey>) -> Result<Vec<PathBuf>, Error> {
    if let Some(key) = key {
        let signatures = written
            .iter()
            .map(|report| sign_file(report, key))
            .collect::<Result<Vec<_>, Error>>()?;
        written.extend(signatures);
    }
    Ok(written)
}

/// Writes `REPORT.sig` beside `report`: an SSH signature (namespace `tcss-audit`) of the bytes on
/// disk, which `ssh-keygen -Y verify -n tcss-audit` checks with nothing of this tool's.
pub fn sign_file(report: &Path, key: &SigningKey) -> Result<PathBuf, Error> {
    let shown = report.display().to_string();
    let unreadable = io_error(&shown);
    let file = std::fs::File::open(report).map_err(&unreadable)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let signature = key
        .sign_reader(crate::trust::REPORT_NAMESPACE, &mut reader)
        .map_err(unreadable)?;
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

    /// "prod" switched off on its second night, and each of `others` observed on that night
    /// alone, on or off; the window covers both nights.
    fn two_nights(path: &Path, others: &[(&str, bool)]) -> (Store, ReportOptions) {
        let mut store = store_with(
            path,
            "prod",
            &[
                ("2026-11-01T19:00:00Z", json!({"Enable": true})),
                ("2026-11-02T19:00:00Z", json!({"Enable": false})),
            ],
        );
        for (name, enable) in others {
            crate::test_support::record_points(
                &mut store,
                name,
                &[("2026-11-02T19:00:00Z", json!({ "Enable": enable }))],
            );
        }
        let opts = options(
            at("2026-11-01T00:00:00Z"),
            at("2026-11-03T00:00:00Z"),
            Tz::UTC,
        );
        (store, opts)
    }

    #[test]
    fn a_report_streamed_a_target_at_a_time_is_the_whole_report_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        let (store, opts) = two_nights(
            &dir.path().join("a.db"),
            &[("staging", true), ("dev", false)],
        );
        let set = switch_policy();
        // Out of order, and one without a snapshot: the summary rows come from their own
        // spool, in the targets' order, and must meet the sections' order.
        let names: Vec<String> = ["staging", "prod", "unseen", "dev"]
            .map(String::from)
            .to_vec();
        let whole = compliance_report(&store, &set, &names, &opts, None).unwrap();
        assert_eq!(whole.targets.len(), 4);
        type Render = fn(&ComplianceReport, &mut dyn Write) -> std::io::Result<()>;
        let formats: [(Streamed, Render); 3] = [
            (Streamed::Markdown, compliance::markdown),
            (Streamed::Json, compliance::json),
            (Streamed::Html, compliance::html),
        ];
        for (format, render) in formats {
            let mut expected = Vec::new();
            render(&whole, &mut expected).unwrap();
            let mut streamed = Vec::new();
            stream_report(&store, &set, &names, &opts, format, &mut streamed).unwrap();
            assert_eq!(
                String::from_utf8(streamed).unwrap(),
                String::from_utf8(expected).unwrap(),
                "{format:?}"
            );
        }
    }

    #[test]
    fn a_run_report_built_a_target_at_a_time_is_the_whole_report_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let (store, opts) = two_nights(&path, &[("staging", true)]);
        let set = switch_policy();
        let names: Vec<String> = ["staging", "prod", "new"].map(String::from).to_vec();
        let run = vec![
            RunTarget {
                target: "new".into(),
                snapshot: None,
                changed: None,
                first: false,
                error: Some("the API said no <b>".into()),
                exit_code: crate::app::ExitCode::Storage,
                membership: None,
            },
            RunTarget {
                target: "prod".into(),
                snapshot: Some(2),
                changed: Some(true),
                first: false,
                error: None,
                exit_code: crate::app::ExitCode::Wanting,
                membership: None,
            },
        ];
        let mut whole = compliance_report(&store, &set, &names, &opts, Some(&run)).unwrap();
        let out = dir.path().join("reports");
        let mut streamed = RunReport::build(
            &store,
            &set,
            &names,
            &opts,
            &run,
            &out,
            Some(&Regions::new()),
        )
        .unwrap();
        let mut written = streamed.write(None, None).unwrap();
        let json_path = written[1].clone();
        written.extend(streamed.write_ocsf(&json_path, None).unwrap());
        assert_eq!(written.len(), 4, "{written:?}");
        // The spools beside the reports leave nothing behind.
        let mut listed: Vec<PathBuf> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        listed.sort();
        let mut expected_files = written.clone();
        expected_files.sort();
        assert_eq!(listed, expected_files);

        let expect = |whole: &ComplianceReport, written: &[PathBuf]| {
            type Render = fn(&ComplianceReport, &mut dyn Write) -> std::io::Result<()>;
            let renderers: [Render; 3] = [compliance::markdown, compliance::json, compliance::html];
            for (render, file) in renderers.iter().zip(written) {
                let mut expected = Vec::new();
                render(whole, &mut expected).unwrap();
                assert_eq!(
                    std::fs::read_to_string(file).unwrap(),
                    String::from_utf8(expected).unwrap(),
                    "{}",
                    file.display()
                );
            }
        };
        expect(&whole, &written);
        // The target the run could not audit is not called compliant on its summary row.
        let md = std::fs::read_to_string(&written[0]).unwrap();
        assert!(
            md.contains("| `new` | **not audited** (this run failed) |"),
            "{md}"
        );
        let pairs: Vec<_> = whole
            .targets
            .iter()
            .filter_map(|t| t.check.as_ref().map(|c| (c, Default::default())))
            .collect();
        assert_eq!(pairs.len(), 2, "two targets have a check");
        let mut findings = Vec::new();
        crate::report::check::ocsf(&pairs, &mut findings).unwrap();
        assert_eq!(
            std::fs::read_to_string(&written[3]).unwrap(),
            String::from_utf8(findings).unwrap()
        );

        // The newest snapshot of each target, as the notifications and metrics read it.
        for t in &whole.targets {
            let newest = streamed.newest(&t.name).unwrap();
            assert_eq!(
                newest.config_hash,
                t.latest.as_ref().map(|l| l.config_hash.clone())
            );
            assert_eq!(newest.at, t.latest.as_ref().map(|l| l.at));
        }
        assert_eq!(streamed.newest("prod").unwrap().scan_enabled, Some(false));
        assert_eq!(streamed.newest("staging").unwrap().scan_enabled, Some(true));
        assert_eq!(streamed.newest("new").unwrap().scan_enabled, None);
        assert!(streamed.chain_ok());

        // Written again over the same files, with what could not be delivered.
        let failed = vec!["webhook ops: connection refused".to_string()];
        streamed.set_notifications_failed(failed.clone());
        let again = streamed.write(None, Some(&written)).unwrap();
        assert_eq!(again, written[..3]);
        whole.notifications_failed = failed;
        expect(&whole, &again);
        let md = std::fs::read_to_string(&again[0]).unwrap();
        assert!(md.contains("connection refused"), "{md}");
    }
}

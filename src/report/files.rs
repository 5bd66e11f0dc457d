//! Writing a run's reports to a folder: one Markdown and one JSON file named by the UTC time,
//! each written to a temporary file first and renamed, so a reader never sees half a report.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;

use super::compliance::{self, ReportOptions, RunTarget};
use crate::Error;
use crate::policy::{PolicySet, Severity};
use crate::store::Store;

/// What a run's reports cover.
pub struct RunReport<'a> {
    pub targets: &'a [String],
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub tz: Tz,
    pub fail_on: Severity,
    pub api_offset: FixedOffset,
    pub run: &'a [RunTarget],
}

/// Builds the compliance report and writes `tcss-audit-YYYYMMDDTHHMMSSZ.md` and `.json` into `dir`
/// (`…Z-2.md` and so on if those names are taken).
pub fn write_run_reports(
    store: &Store,
    set: &PolicySet,
    spec: &RunReport<'_>,
    dir: &Path,
) -> Result<Vec<PathBuf>, Error> {
    let report = compliance::build(
        store,
        set,
        spec.targets,
        &ReportOptions {
            since: spec.since,
            until: spec.until,
            tz: spec.tz,
            fail_on: spec.fail_on,
            generated_at: spec.generated_at,
            api_offset: spec.api_offset,
        },
        Some(spec.run),
    )?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Output {
        what: dir.display().to_string(),
        source,
    })?;
    // Named by the time; a second run within the same second (or a clock set back) gets a
    // suffix rather than replace reports that are already there.
    let base = format!("tcss-audit-{}", spec.generated_at.format("%Y%m%dT%H%M%SZ"));
    let (md, json) = (1..)
        .map(|n| match n {
            1 => base.clone(),
            n => format!("{base}-{n}"),
        })
        .map(|stem| {
            (
                dir.join(format!("{stem}.md")),
                dir.join(format!("{stem}.json")),
            )
        })
        .find(|(md, json)| !md.exists() && !json.exists())
        .expect("some suffix is free");
    // The two are rendered side by side: a fleet's report is many MB of each.
    let (md_done, json_done) = std::thread::scope(|scope| {
        let json_done =
            scope.spawn(|| super::write_atomically(&json, |w| compliance::json(&report, w)));
        let md_done = super::write_atomically(&md, |w| compliance::markdown(&report, w));
        (md_done, json_done.join())
    });
    md_done?;
    json_done.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    let written = vec![md, json];
    Ok(written)
}

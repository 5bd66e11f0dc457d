//! `audit check`: evaluate policies on the snapshot at a moment.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::{Context, TargetArgs};
use crate::app::check;
use crate::app::{Error, ExitCode};
use crate::policy::PolicySet;
use crate::policy::Severity;
use crate::report::{PrettyArray, pretty_element};
use crate::store::{OpenMode, SnapshotMeta, Store};
use crate::task::when::When;

/// Checks kept together in one commit by `--all`.
const SAVE_BATCH: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Sarif,
    Junit,
    /// OCSF 1.x Compliance Finding events (class_uid 2003), one per rule result, as a JSON array
    Ocsf,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without --policies (and none in the config file) the shipped policies are used. \
A WHEN other than `latest` judges the snapshot as it stood then: time rules (within, history windows) \
count back from that moment; `latest` counts back from now, so a stopped nightly job shows as a gap."
)]
pub struct Args {
    /// The moment to judge
    #[arg(default_value = "latest", value_name = "WHEN")]
    pub when: String,
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Policy files or folders (repeatable; `@builtin` is the shipped set) [default: the config file's, else the shipped set]
    #[arg(long = "policies", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Exit 1 when a rule of this severity or above fails [default: the config's fail_on, else low]
    #[arg(long, value_enum, value_name = "SEV")]
    pub fail_on: Option<Severity>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `--fail-on`, else the config file's `fail_on`, else `default`.
pub fn fail_on(
    flag: Option<Severity>,
    ctx: &Context,
    default: Severity,
) -> Result<Severity, Error> {
    if let Some(s) = flag {
        return Ok(s);
    }
    match &ctx.settings.fail_on {
        Some(text) => text
            .parse()
            .map_err(|e| Error::Usage(format!("fail_on in the config file: {e}"))),
        None => Ok(default),
    }
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let loaded = check::load_policies(&args.policies, &ctx.settings)?;
    let fail_on = fail_on(args.fail_on, ctx, Severity::Low)?;
    if args.targets.all && matches!(args.format, Format::Sarif | Format::Junit) {
        return Err(Error::Usage(
            "SARIF and JUnit documents hold one target: use --target NAME, or text, json or markdown with --all".into(),
        ));
    }
    let mut store = ctx.open_store(OpenMode::Existing)?;
    let when = When::parse(&args.when, ctx.now())?;
    // Every target's snapshot is found first: a name without one at WHEN stops the command
    // before anything is judged, kept or written.
    let names = ctx.target_names(&args.targets, &store)?;
    if names.len() > 1 {
        // Each target's rows are read about once: a large page cache would only fill with them.
        store.read_once()?;
    }
    let metas = names
        .iter()
        .map(|target| {
            let meta = store.resolve(target, &when, ctx.tz)?;
            let now = crate::app::baseline::judged_at(&when, meta.observed_at, ctx.now());
            Ok((meta, now))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut result = Ok(ExitCode::Ok);
    ctx.emit(|w| {
        result = check_each(args, ctx, &mut store, &loaded.set, &metas, fail_on, w);
        Ok(())
    })?;
    result
}

/// Judges, keeps and writes each of `metas` in turn, so that memory holds one target's check
/// and the results are kept [`SAVE_BATCH`] a commit; gives the worst verdict. Each snapshot is
/// judged as of the moment beside it.
fn check_each(
    args: &Args,
    ctx: &Context,
    store: &mut Store,
    set: &PolicySet,
    metas: &[(SnapshotMeta, DateTime<Utc>)],
    fail_on: Severity,
    w: &mut dyn Write,
) -> Result<ExitCode, Error> {
    let written = |source| Error::Output {
        what: "to stdout".into(),
        source,
    };
    // OCSF findings, and JSON documents of more than one target, make one array.
    let json_array = metas.len() > 1 && args.format == Format::Json;
    let mut array = if json_array || args.format == Format::Ocsf {
        Some(PrettyArray::open(w).map_err(written)?)
    } else {
        None
    };
    let mut code = ExitCode::Ok;
    let mut kept = Vec::with_capacity(SAVE_BATCH);
    for (i, (meta, now)) in metas.iter().enumerate() {
        let report = check::check_snapshot(store, set, meta, *now, ctx.times())?;
        code = code.worst(check::verdict(&report, fail_on));
        let document = check::document(&report)?;
        let element = match &array {
            Some(_) if json_array => Some(pretty_element(&document, 1).map_err(written)?),
            Some(_) => {
                let place = crate::report::check::CloudOf {
                    account: meta.identity.as_ref().map(|i| i.account.as_str()),
                    region: ctx
                        .settings
                        .targets
                        .iter()
                        .find(|t| t.name == meta.target)
                        .and_then(|t| t.region.as_deref()),
                };
                crate::report::check::render_ocsf_events(&report, place).map_err(written)?
            }
            None => None,
        };
        kept.push(check::stored_document(set, &report, document, ctx.now())?);
        if kept.len() >= SAVE_BATCH {
            store.save_checks(&kept)?;
            kept.clear();
        }
        if let Some(array) = &mut array {
            if let Some(element) = element {
                array.push(&element, w).map_err(written)?;
            }
            continue;
        }
        // With several targets, each one's results under its name (its summary line ends them).
        if args.targets.all && args.format == Format::Text {
            if i > 0 {
                writeln!(w).map_err(written)?;
            }
            writeln!(w, "target {}", crate::task::text::visible(&report.target))
                .map_err(written)?;
        }
        match args.format {
            Format::Text => crate::report::check::text(&report, ctx.color, ctx.tz, w),
            Format::Json => crate::report::check::json(&report, w),
            Format::Markdown => crate::report::check::markdown(&report, ctx.tz, w),
            Format::Sarif => crate::report::check::sarif(&report, w),
            Format::Junit => crate::report::check::junit(&report, w),
            // Written as an array, above.
            Format::Ocsf => Ok(()),
        }
        .map_err(written)?;
    }
    store.save_checks(&kept)?;
    if let Some(array) = array {
        array.close(w).map_err(written)?;
    }
    Ok(code)
}

//! `audit report`: the compliance report for a window, as Markdown or JSON, to stdout or a file.

use crate::app::output::write_atomically;
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};

use super::{Context, TargetArgs};
use crate::app::check;
use crate::app::report::{Streamed, stream_report};
use crate::app::{Error, ExitCode};
use crate::policy::Severity;
use crate::report::compliance::ReportOptions;
use crate::store::{OpenMode, Store, StoreError};
use crate::task::when::When;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Json,
    /// One self-contained page (no external resource, no script) with a calendar per target
    Html,
}

/// The window a report covers when --since is not given.
const DEFAULT_WINDOW_DAYS: i64 = 30;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The window's days are the calendar days (UTC, or --tz / the config's timezone) it touches. A day \
is compliant when its last snapshot has no failing rule at or above --fail-on, judged as of that \
snapshot's time; waived failures do not count; a day without a snapshot is a missed night and is \
not compliant. The current check judges the newest snapshot at or before --until, as of --until \
(or now, if earlier).

A snapshot id or `latest` as --since/--until stands for that snapshot's time (`latest`: the newest \
snapshot of the chosen targets).

Exit status: 0 when the report was written, whatever it finds: a report is a record, not a \
verdict. `audit check` and `audit run` exit 1 on policy failures at or above --fail-on; `audit \
verify` exits 1 on a broken chain.")]
pub struct Args {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Start of the window (a date means its start) [default: 30 days before now]
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// End of the window (a date means its end) [default: now]
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Write the report to this file (replaced atomically) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Policy files or folders (repeatable; `@builtin` is the shipped set) [default: the config file's, else the shipped set]
    #[arg(long = "policies", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Count a day or target as compliant only without failures of this severity or above [default: the config's fail_on, else low]
    #[arg(long, value_enum, value_name = "SEV")]
    pub fail_on: Option<Severity>,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let loaded = check::load_policies(&args.policies, &ctx.settings)?;
    let fail_on = super::check::fail_on(args.fail_on, ctx, Severity::Low)?;
    let store = ctx.open_store(OpenMode::Existing)?;
    let names = ctx.target_names(&args.targets, &store)?;
    // Still reported (every day not observed), but a misspelt name should not pass unnoticed.
    for name in store.unobserved(&names)? {
        tracing::warn!(
            "target \"{}\" has no snapshots: the report shows no day observed; check the name, or run `audit snapshot --target NAME`",
            crate::task::text::visible(name)
        );
    }
    let now = ctx.now();
    let since = match &args.since {
        Some(text) => window_bound(&store, &names, text, ctx, super::End::Start)?,
        None => now - Duration::days(DEFAULT_WINDOW_DAYS),
    };
    let until = match &args.until {
        Some(text) => window_bound(&store, &names, text, ctx, super::End::Finish)?,
        None => now,
    };
    if since > until {
        return Err(Error::Usage(format!(
            "--since ({}) is later than --until ({}); give an earlier --since",
            crate::task::when::fmt_utc(since),
            crate::task::when::fmt_utc(until)
        )));
    }
    let opts = ReportOptions {
        since,
        until,
        tz: ctx.tz,
        fail_on,
        generated_at: now,
        api_offset: ctx.settings.api_offset,
    };
    // Every format is written a target at a time.
    let format = match args.format {
        Format::Markdown => Streamed::Markdown,
        Format::Json => Streamed::Json,
        Format::Html => Streamed::Html,
    };
    let render = |w: &mut dyn Write| -> Result<(), Error> {
        stream_report(&store, &loaded.set, &names, &opts, format, w)
    };
    match &args.output {
        Some(path) => {
            let mut failed = None;
            let written = write_atomically(path, |w| {
                render(w).map_err(|e| {
                    let message = e.to_string();
                    failed = Some(e);
                    std::io::Error::other(message)
                })
            });
            if let Some(e) = failed {
                return Err(e);
            }
            written?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            render(&mut out)?;
            out.flush().map_err(|source| Error::Output {
                what: "to stdout".into(),
                source,
            })?;
        }
    }
    Ok(ExitCode::Ok)
}

/// One moment for every target: a report has one window. Days and instants go through
/// [`super::bound`]; a snapshot id is that snapshot's time, whichever target it belongs to;
/// `latest` is the newest snapshot of the chosen targets.
fn window_bound(
    store: &Store,
    names: &[String],
    text: &str,
    ctx: &Context,
    end: super::End,
) -> Result<DateTime<Utc>, Error> {
    match When::parse(text, ctx.now())? {
        When::Snapshot(id) => Ok(store.meta(id)?.observed_at),
        When::Latest => {
            let mut newest = None;
            let mut first_err = None;
            for name in names {
                match store.resolve(name, &When::Latest, ctx.tz) {
                    Ok(m) => newest = newest.max(Some(m.observed_at)),
                    Err(e @ StoreError::NoSnapshot { .. }) => {
                        first_err.get_or_insert(e);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            match (newest, first_err) {
                (Some(at), _) => Ok(at),
                (None, Some(e)) => Err(e.into()),
                (None, None) => Err(Error::Usage("no target is selected".into())),
            }
        }
        _ => {
            let any = names.first().map(String::as_str).unwrap_or_default();
            Ok(super::bound(store, any, Some(text), ctx, end)?
                .expect("a moment was given, so there is a bound"))
        }
    }
}

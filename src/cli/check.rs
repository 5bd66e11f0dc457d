//! `audit check`: evaluate policies on the snapshot at a moment.

use std::path::PathBuf;

use super::{Context, TargetArgs};
use crate::app::check;
use crate::app::{Error, ExitCode};
use crate::policy::Severity;
use crate::store::OpenMode;
use crate::task::when::When;

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
    let mut code = ExitCode::Ok;
    let mut reports = Vec::new();
    let mut accounts = Vec::new();
    for target in ctx.target_names(&args.targets, &store)? {
        let meta = store.resolve(&target, &when, ctx.tz)?;
        accounts.push(meta.identity.as_ref().map(|i| i.account.clone()));
        let now = if when == When::Latest {
            ctx.now()
        } else {
            meta.observed_at
        };
        let report = check::check_snapshot(&store, &loaded.set, &meta, now, ctx.times())?;
        check::save(&mut store, &loaded.set, &report, ctx.now())?;
        code = code.worst(check::verdict(&report, fail_on));
        reports.push(report);
    }
    if args.format == Format::Ocsf {
        let pairs: Vec<_> = reports
            .iter()
            .zip(&accounts)
            .map(|(r, a)| (r, a.as_deref()))
            .collect();
        ctx.emit(|w| crate::report::check::ocsf(&pairs, w))?;
        return Ok(code);
    }
    if reports.len() > 1 && args.format == Format::Json {
        ctx.emit(|w| {
            crate::report::write_json_array(w, &reports, |r, w| crate::report::check::json(r, w))
        })?;
        return Ok(code);
    }
    ctx.emit(|w| {
        for (i, report) in reports.iter().enumerate() {
            if i > 0 && args.format == Format::Text {
                writeln!(w)?;
            }
            match args.format {
                Format::Text => crate::report::check::text(report, ctx.color, ctx.tz, w)?,
                Format::Json => crate::report::check::json(report, w)?,
                Format::Markdown => crate::report::check::markdown(report, ctx.tz, w)?,
                Format::Sarif => crate::report::check::sarif(report, w)?,
                Format::Junit => crate::report::check::junit(report, w)?,
                // One array for every target, written above.
                Format::Ocsf => {}
            }
        }
        Ok(())
    })?;
    Ok(code)
}

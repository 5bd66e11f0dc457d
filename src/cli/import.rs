//! `audit import`: record saved answers.

use std::path::PathBuf;

use super::Context;
use crate::app::import;
use crate::app::{Error, ExitCode};
use crate::report::history::recorded_line;
use crate::task::when::parse_instant;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each FILE holds one answer: {\"Response\":{…}} as the API sends it, the bare \
object, or what `tccli tcss DescribeImageRegistryTimingScanTask` prints. The bytes are kept exactly. \
Without --at, an answer is recorded at its file's modification time (standard input: now). \
All files are checked before any is recorded: one bad file records nothing."
)]
pub struct Args {
    /// Saved answers; `-` reads standard input
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The target the answers belong to [default: the config's first target, or `default`]
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// When the answers were observed: an RFC 3339 time, a date (its start), or an age (3d)
    #[arg(long, value_name = "WHEN-TIME", conflicts_with = "jsonl")]
    pub at: Option<String>,
    /// Each FILE is a backup written by `audit export --jsonl`
    #[arg(long)]
    pub jsonl: bool,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    if args.jsonl {
        let key = ctx.signing_key()?;
        let line = ctx.line_settings()?;
        let done = import::restore_into(&ctx.db_path(), &args.files, key.map(|k| (k, line)))?;
        if !ctx.quiet() {
            eprintln!(
                "imported {}; {} already present",
                crate::task::text::count(done.recorded, "snapshot", "snapshots"),
                done.present
            );
        }
        return Ok(ExitCode::Ok);
    }
    let target = args
        .target
        .clone()
        .unwrap_or_else(|| ctx.settings.targets[0].name.clone());
    if target.trim().is_empty() {
        return Err(Error::Usage("--target needs a name".into()));
    }
    let at = args
        .at
        .as_deref()
        .map(|t| parse_instant(t, ctx.now(), ctx.tz))
        .transpose()?;
    let answers = import::read_answers(&args.files, at, ctx.now())?;
    let mut store = ctx.open_recording_store()?;
    import::record_answers(&mut store, &target, &answers, ctx.now(), |r| {
        ctx.emit(|w| recorded_line(&target, r, ctx.tz, w))
    })?;
    crate::app::signature_line(&store)?;
    Ok(ExitCode::Ok)
}

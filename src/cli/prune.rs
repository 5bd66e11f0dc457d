//! `audit prune`: retention of the oldest observations.

use super::Context;
use crate::app::{Error, ExitCode};
use crate::store::OpenMode;
use crate::task::when::{When, fmt_utc};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Removes observations older than WHEN from the start of the history. The hash \
chain then starts from a recorded checkpoint (the last removed snapshot's chain hash), so `audit \
verify` still checks every remaining link. Configs a kept snapshot uses are never removed. Back up \
first: `audit export --jsonl -o backup.jsonl`."
)]
pub struct Args {
    /// Remove observations before this moment (a date means its start)
    #[arg(long, value_name = "WHEN")]
    pub before: String,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let when = When::parse(&args.before, ctx.now())?;
    let Some(before) = when.lower_instant(ctx.tz) else {
        return Err(Error::Usage(
            "--before takes a date, a time or an age (such as 400d), not a snapshot".into(),
        ));
    };
    let mut store = ctx.open_store(OpenMode::Existing)?;
    let pruned = store.prune(before, ctx.now())?;
    ctx.emit(|w| {
        match pruned.through {
            Some(id) => writeln!(
                w,
                "removed {} snapshots observed before {} (through #{id}); the chain now starts from a checkpoint at #{id}",
                pruned.removed,
                fmt_utc(before)
            )?,
            None => writeln!(w, "nothing to remove before {}", fmt_utc(before))?,
        }
        if pruned.kept_older > 0 {
            writeln!(
                w,
                "kept {} older observations that were recorded after newer ones (imported out of order); they go once everything recorded before them is older than the cut",
                pruned.kept_older
            )?;
        }
        Ok(())
    })?;
    Ok(ExitCode::Ok)
}

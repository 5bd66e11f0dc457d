//! `audit prune`: retention of the oldest observations.

use std::io::IsTerminal;

use super::Context;
use crate::app::{Error, ExitCode};
use crate::store::OpenMode;
use crate::task::text::count;
use crate::task::when::{When, fmt_utc};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Removes observations older than WHEN from the start of the history. The hash \
chain then starts from a recorded checkpoint (the last removed snapshot's chain hash), so `audit \
verify` still checks every remaining link. The newest snapshot of every target is never removed, \
and configs a kept snapshot uses stay. On a terminal it asks before removing anything (--yes does \
not ask; without a terminal, as under cron, it does not ask). Back up first: \
`audit export -o backup.jsonl`."
)]
pub struct Args {
    /// Remove observations before this moment (a date means its start)
    #[arg(long, value_name = "WHEN")]
    pub before: String,
    /// Say what would be removed, and remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Remove without asking
    #[arg(long, short)]
    pub yes: bool,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let when = When::parse(&args.before, ctx.now())?;
    let Some(before) = when.lower_instant(ctx.tz) else {
        return Err(Error::Usage(
            "--before takes a date, a time or an age (such as 400d), not a snapshot".into(),
        ));
    };
    let mut store = ctx.open_store(OpenMode::Existing)?;
    let ask = !args.dry_run && !args.yes && std::io::stdin().is_terminal();
    let pruned = if ask {
        let plan = store.prune(before, ctx.now(), true)?;
        if plan.removed == 0 {
            plan
        } else {
            let question = format!(
                "remove {} observed before {} (through #{}) from {}?",
                snapshots(plan.removed),
                fmt_utc(before),
                plan.through.unwrap_or_default(),
                ctx.db_path().display()
            );
            if !super::confirm(&question)? {
                return Err(Error::Usage("nothing was removed".into()));
            }
            store.prune(before, ctx.now(), false)?
        }
    } else {
        store.prune(before, ctx.now(), args.dry_run)?
    };
    ctx.emit(|w| {
        let verb = if pruned.dry_run { "would remove" } else { "removed" };
        match pruned.through {
            Some(id) if pruned.dry_run => writeln!(
                w,
                "{verb} {} observed before {} (through #{id}); nothing was removed",
                snapshots(pruned.removed),
                fmt_utc(before)
            )?,
            Some(id) => writeln!(
                w,
                "{verb} {} observed before {} (through #{id}); the chain now starts from a checkpoint at #{id}",
                snapshots(pruned.removed),
                fmt_utc(before)
            )?,
            None => writeln!(w, "nothing to remove before {}", fmt_utc(before))?,
        }
        if pruned.kept_newest > 0 {
            writeln!(
                w,
                "kept {}: the newest snapshot of each target stays, and the chain is cut only before it",
                count(pruned.kept_newest, "older observation", "older observations")
            )?;
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

fn snapshots(n: u64) -> String {
    count(n, "snapshot", "snapshots")
}

//! `audit history`: list snapshots, oldest first.

use super::{Context, TargetArgs, TextOrJson, WindowArgs};
use crate::app::{Error, ExitCode};
use crate::report::history::{history_json_value, history_text};
use crate::report::write_json;
use crate::store::OpenMode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub targets: TargetArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Only snapshots whose config differs from the one before
    #[arg(long)]
    pub changes_only: bool,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let store = ctx.open_store(OpenMode::Existing)?;
    let names = ctx.known_target_names(&args.targets, &store)?;
    let mut docs = Vec::new();
    let mut texts = Vec::new();
    for name in &names {
        let (since, until) = args.window.resolve(&store, name, ctx)?;
        let mut rows = store.history(name, since, until)?;
        if args.changes_only {
            rows.retain(|r| r.changed);
        }
        match args.format {
            TextOrJson::Json => docs.push(history_json_value(name, &rows)),
            TextOrJson::Text => texts.push((name.clone(), rows)),
        }
    }
    ctx.emit(|w| match args.format {
        TextOrJson::Json if docs.len() == 1 => write_json(w, &docs[0]),
        TextOrJson::Json => write_json(w, &docs),
        TextOrJson::Text => {
            for (i, (name, rows)) in texts.iter().enumerate() {
                if texts.len() > 1 {
                    if i > 0 {
                        writeln!(w)?;
                    }
                    writeln!(w, "== {name}")?;
                }
                history_text(name, rows, ctx.tz, w)?;
            }
            Ok(())
        }
    })?;
    Ok(ExitCode::Ok)
}

//! `audit export`: the whole history as JSON lines, for backups and moves.

use std::io::Write;
use std::path::PathBuf;

use super::Context;
use crate::app::output::write_atomically;
use crate::app::{Error, ExitCode};
use crate::store::{EXPORT_SCHEMA, ExportHeader, OpenMode};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The first line is a header ({\"schema\":\"tcss-audit/export/v1\",…}); each \
further line is one observation in recording order, its raw answer kept exactly, or an entry \
of the journal (an approved baseline, an applied restore) as {\"journal\":{…}}, before the first \
observation that links it. \
`audit import --jsonl FILE` into an empty database rebuilds the same configs, hashes and chain."
)]
pub struct Args {
    /// JSON lines, the only format (accepted for clarity; it is the default)
    #[arg(long)]
    pub jsonl: bool,
    /// Write here instead of stdout (written to a temporary file first, then renamed)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let store = ctx.open_store(OpenMode::Existing)?;
    let write_all = |w: &mut dyn Write| -> Result<u64, Error> {
        let total = store.count()?;
        let header = ExportHeader {
            schema: EXPORT_SCHEMA.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            snapshots: total,
        };
        let io = |source| Error::Output {
            what: "the export".into(),
            source,
        };
        serde_json::to_writer(&mut *w, &header).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
        let n = store.export(|line| {
            serde_json::to_writer(&mut *w, &line)?;
            w.write_all(b"\n")
        })?;
        w.flush().map_err(io)?;
        Ok(n)
    };
    match &args.output {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write_all(&mut out)?;
        }
        Some(path) => {
            let mut n = 0;
            write_atomically(path, |w| {
                n = write_all(w).map_err(|e| std::io::Error::other(e.to_string()))?;
                Ok(())
            })?;
            if !ctx.quiet() {
                eprintln!(
                    "exported {} to {}",
                    crate::task::text::count(n, "snapshot", "snapshots"),
                    path.display()
                );
            }
        }
    }
    Ok(ExitCode::Ok)
}

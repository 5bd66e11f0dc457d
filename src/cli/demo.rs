//! `audit demo`: the whole job end to end on the stand-in, in seconds, with no account.

use std::path::PathBuf;

use super::Context;
use crate::app::demo;
use crate::app::{Error, ExitCode};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Starts the stand-in endpoint in this process, records three weeks of nightly \
snapshots on a simulated clock while drift happens through signed Update calls (virus scanning \
dropped, the task switched off for two nights, a missed night, an image added), checks the shipped \
policies every night and writes the reports. Nothing leaves this machine."
)]
pub struct Args {
    /// Where the demo's database and reports go [default: a new folder under the system's temporary directory]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Refused (the demo keeps its database in its folder). Declared here, hidden, so that the
    /// global --db is neither offered in the demo's help nor taken silently.
    #[arg(long = "db", hide = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// The demo keeps its own database in its folder; a --db given for it would be silently unused.
/// One that comes from TCSS_AUDIT_DB is the environment's, not a request, and is left (clap
/// gives it to both the global flag and the demo's hidden one).
fn refuse_db(args: &Args, ctx: &Context) -> Result<(), Error> {
    let from_env =
        |db: &PathBuf| std::env::var_os("TCSS_AUDIT_DB").is_some_and(|v| v == db.as_os_str());
    match args.db.as_ref().or(ctx.global.db.as_ref()) {
        Some(db) if !from_env(db) => Err(Error::Usage(format!(
            "audit demo keeps its database in its own folder and does not use --db {}; give --dir DIR to choose where it goes",
            db.display()
        ))),
        _ => Ok(()),
    }
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    refuse_db(args, ctx)?;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("tcss-audit-demo-")
                .tempdir()
                .map_err(|source| Error::File {
                    path: std::env::temp_dir(),
                    action: "make a folder for the demo",
                    source,
                })?
                .keep();
            // Run in a folder, one might look for the files there: say where they go instead.
            eprintln!(
                "audit demo: writing to {} (--dir DIR chooses the folder)",
                dir.display()
            );
            dir
        }
    };
    let started = std::time::Instant::now();
    let result = demo::run(&dir, ctx.now(), ctx.tz)?;
    let db = result.db.display().to_string();
    ctx.emit(|w| {
        writeln!(
            w,
            "tcss-audit demo: {} simulated nights in {:.1} s, no account, no network",
            demo::NIGHTS,
            started.elapsed().as_secs_f64()
        )?;
        writeln!(w)?;
        writeln!(w, "What happened to the scan task:")?;
        for line in &result.summary {
            writeln!(w, "  {line}")?;
        }
        writeln!(w)?;
        writeln!(
            w,
            "On the last night `audit run --fail-on high` would have exited {}.",
            result.last_night as u8
        )?;
        writeln!(w)?;
        writeln!(w, "Reports:")?;
        for r in &result.reports {
            writeln!(w, "  {}", r.display())?;
        }
        writeln!(w, "Database: {db}")?;
        writeln!(w)?;
        writeln!(w, "Look around:")?;
        writeln!(
            w,
            "  audit --db {db} --tz Asia/Shanghai history --all --changes-only"
        )?;
        writeln!(w, "  audit --db {db} log --all")?;
        writeln!(
            w,
            "  audit --db {db} diff --target org-ads --from 14d --format markdown"
        )?;
        writeln!(w, "  audit --db {db} check --all --fail-on high")?;
        writeln!(w, "  audit --db {db} verify")?;
        // The JSON report witnesses the head it was made from; the key signed every night.
        if let Some(json) = result
            .reports
            .iter()
            .find(|r| r.extension().is_some_and(|e| e == "json"))
        {
            writeln!(
                w,
                "  audit --db {db} verify --witness {} --public-key {} --require-signed",
                json.display(),
                result.public_key.display()
            )?;
        }
        Ok(())
    })?;
    Ok(ExitCode::Ok)
}

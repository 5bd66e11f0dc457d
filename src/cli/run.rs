//! `audit run`: the nightly job. Snapshot every target, diff against the previous snapshot,
//! check, write reports, and exit with a code a scheduler can act on.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use super::{ClientArgs, Context, TargetArgs};
use crate::app::nightly::{JobOptions, TargetOutcome};
use crate::app::run::{RunDone, RunRequest};
use crate::app::snapshot;
use crate::app::{Error, ExitCode};
use crate::policy::Severity;
use crate::task::when::When;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 all recorded and compliant; 1 a policy failure at or above \
--fail-on (or, with --fail-on-drift, a config that drifted); 2 a bad flag, config or policy, or \
organization members whose target names are a configured target's or each other's (those \
members are not audited, every other target is); 3 a target could not be fetched (credentials, API, network); 4 the database (or the run \
lock) failed, or the signing key's signature line is broken (everything is recorded, nothing \
signed, no report signature); 5 a bug (a target's work stopped unexpectedly: please report it). Over several targets the most severe wins (5 > 4 > 3 > 2 > 1 > 0), after every target that \
can be done is done. Reports are written as tcss-audit-YYYYMMDDTHHMMSSZ.md, .json and .html. With \
[[notify]] destinations, what is new since each was last told is sent after the reports are \
written; a delivery that fails is named, tried again at the next run, and makes the run exit 3 \
when nothing worse happened."
)]
pub struct Args {
    /// Only this target [default: every target of the config file]
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Where the run's Markdown, JSON and HTML reports go [default: `reports` beside the database]
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Exit 1 when a rule of this severity or above fails [default: the config's fail_on, else low]
    #[arg(long, value_enum, value_name = "SEV")]
    pub fail_on: Option<Severity>,
    /// Exit 1 when a target's config drifted, even when no rule fails [default: the config's
    /// fail_on_drift, else off]
    #[arg(long)]
    pub fail_on_drift: bool,
    /// Targets fetched at once
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    /// Policy files or folders (repeatable; `@builtin` is the shipped set) [default: the config file's, else the shipped set]
    #[arg(long = "policies", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// The reports' window, back from now
    #[arg(long, default_value = "30d", value_name = "AGE")]
    pub window: String,
    /// Send every request here instead of each target's endpoint (http:// only to loopback)
    #[arg(long, value_name = "HOST|URL")]
    pub endpoint: Option<String>,
    /// Seconds to wait for another run on the same database before giving up (exit 4)
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Print what the config's [[notify]] destinations would be sent, and send nothing
    #[arg(long)]
    pub notify_dry_run: bool,
    /// Also write the OCSF 1.3 Compliance Finding events of every target's check beside the
    /// reports, as NAME.ocsf.json (for a SIEM)
    #[arg(long)]
    pub ocsf: bool,
    /// Write the run's Prometheus metrics to FILE (written whole, then renamed into place, for
    /// node_exporter's textfile collector) [default: the config's metrics_file]
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let window = match When::parse(&args.window, ctx.now())? {
        When::Instant(at) => ctx.now() - at,
        _ => {
            return Err(Error::Usage(format!(
                "--window {:?}: give an age such as 30d",
                args.window
            )));
        }
    };
    let selection = TargetArgs {
        target: args.target.clone(),
        all: args.target.is_none(),
    };
    let configured = match ctx.configured_targets(&selection) {
        // A member of the organization is no target of the file.
        Err(_) if ctx.settings.organization.is_some() => Vec::new(),
        other => other?,
    };
    let request = RunRequest {
        settings: &ctx.settings,
        configured,
        only: args.target.clone(),
        profile: args.client.profile.clone(),
        policies: args.policies.clone(),
        db: ctx.db_path(),
        lock_timeout: Duration::from_secs(args.lock_timeout),
        window,
        tz: ctx.tz,
        out_dir: args.out_dir.clone(),
        signing_key: ctx.signing_key()?,
        line: ctx.line_settings()?,
        notify_dry_run: args.notify_dry_run,
        metrics: args.metrics.clone(),
        ocsf: args.ocsf,
        job: JobOptions {
            concurrency: args.concurrency as usize,
            fail_on_drift: args.fail_on_drift || ctx.settings.fail_on_drift,
            endpoint: args.endpoint.clone(),
            client: args.client.options(&ctx.settings),
            fail_on: super::check::fail_on(args.fail_on, ctx, Severity::Low)?,
            times: ctx.times(),
            env: snapshot::process_env(),
            services: ctx.services(),
        },
    };
    let mut progress = Progress {
        bar: indicatif::ProgressBar::hidden(),
        quiet: ctx.quiet(),
        terminal: !ctx.global.quiet && std::io::stderr().is_terminal(),
    };
    let quiet = ctx.quiet();
    let RunDone { done, collisions } =
        crate::app::run::run(request, ctx.clock.clone(), &mut progress)?;
    progress.bar.finish_and_clear();
    // Said last, beside the exit code they give, once every other target is done.
    for c in &collisions {
        eprintln!("error: {}", crate::task::text::visible(&c.to_string()));
    }
    for d in &done.deliveries {
        if let Some(why) = &d.failed {
            eprintln!(
                "notify {}: not delivered ({}); it is tried again at the next run",
                crate::task::text::visible(&d.destination),
                crate::task::text::visible(why)
            );
        } else if !quiet && d.dry_run.is_none() && d.events > 0 {
            eprintln!(
                "notify {}: told {}",
                crate::task::text::visible(&d.destination),
                crate::task::text::count(d.events as u64, "event", "events")
            );
        }
    }
    ctx.emit(|w| {
        for path in &done.written {
            writeln!(w, "{}", path.display())?;
        }
        for d in &done.deliveries {
            if let Some(doc) = &d.dry_run {
                writeln!(
                    w,
                    "notify {} (dry run, nothing sent): {}",
                    crate::task::text::visible(&d.destination),
                    crate::task::text::count(d.events as u64, "event", "events")
                )?;
                crate::report::write_json(w, doc)?;
            }
        }
        Ok(())
    })?;
    Ok(done.code)
}

/// A progress bar on a terminal for a fleet, and a line a target on stderr.
struct Progress {
    bar: indicatif::ProgressBar,
    quiet: bool,
    terminal: bool,
}

impl crate::app::run::Progress for Progress {
    fn start(&mut self, targets: usize) {
        if targets < 10 || !self.terminal {
            return;
        }
        self.bar = indicatif::ProgressBar::new(targets as u64);
        self.bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} targets {msg}",
            )
            .expect("the template is valid"),
        );
    }

    fn done(&mut self, o: &TargetOutcome) {
        self.bar.inc(1);
        // With -q only a target that failed is worth a line.
        if !self.quiet || o.run.error.is_some() {
            self.bar.suspend(|| eprintln!("{}", o.line));
        }
    }
}

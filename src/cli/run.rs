//! `audit run`: the nightly job. Snapshot every target, diff against the previous snapshot,
//! check, write reports, and exit with a code a scheduler can act on.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use super::{ClientArgs, Context, TargetArgs};
use crate::app::check;
use crate::app::nightly::{self, JobOptions, NightlyRun};
use crate::app::organization;
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
signed, no report signature). Over several targets the most severe wins (4 > 3 > 2 > 1 > 0), after every target that \
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
    // A destination that may not be sent to is a configuration error before any request.
    if !args.notify_dry_run {
        crate::app::notify::check_destinations(&ctx.settings.notify, &|name: &str| {
            std::env::var(name).ok()
        })?;
    }
    let (targets, organization, collisions) = targets_of(args, ctx)?;
    let targets = args.client.apply(targets);
    let loaded = check::load_policies(&args.policies, &ctx.settings)?;
    let fail_on = super::check::fail_on(args.fail_on, ctx, Severity::Low)?;
    let db = ctx.db_path();
    let progress = if targets.len() >= 10 && !ctx.global.quiet && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(targets.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} targets {msg}",
            )
            .expect("the template is valid"),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let out_dir = match &args.out_dir {
        Some(d) => d.clone(),
        None => db
            .parent()
            .map(|p| p.join("reports"))
            .unwrap_or_else(|| PathBuf::from("reports")),
    };
    let plan = NightlyRun {
        db,
        lock_timeout: Duration::from_secs(args.lock_timeout),
        set: &loaded.set,
        targets: &targets,
        job: JobOptions {
            concurrency: args.concurrency as usize,
            fail_on_drift: args.fail_on_drift || ctx.settings.fail_on_drift,
            endpoint: args.endpoint.clone(),
            client: args.client.options(&ctx.settings),
            fail_on,
            times: ctx.times(),
            env: snapshot::process_env(),
            services: ctx.services(),
        },
        window,
        tz: ctx.tz,
        out_dir,
        signing_key: ctx.signing_key()?,
        line: ctx.line_settings()?,
        organization,
        notify: ctx.settings.notify.clone(),
        notify_dry_run: args.notify_dry_run,
        metrics: args
            .metrics
            .clone()
            .or_else(|| ctx.settings.metrics_file.clone()),
        ocsf: args.ocsf,
    };
    let quiet = ctx.quiet();
    let done = nightly::run(&plan, ctx.clock.clone(), |o| {
        progress.inc(1);
        // With -q only a target that failed is worth a line.
        if !quiet || o.run.error.is_some() {
            progress.suspend(|| eprintln!("{}", o.line));
        }
    })?;
    progress.finish_and_clear();
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

/// The run's targets, the organization's members among them, and the members left out.
type RunTargets = (
    Vec<crate::app::config::TargetSpec>,
    Option<nightly::OrgMembers>,
    Vec<organization::Collision>,
);

/// The run's targets: the config file's, and with an organization its members (and then not
/// the default target); members whose names are not their own are left out, as collisions.
fn targets_of(args: &Args, ctx: &Context) -> Result<RunTargets, Error> {
    let selection = TargetArgs {
        target: args.target.clone(),
        all: args.target.is_none(),
    };
    let mut targets = match ctx.configured_targets(&selection) {
        // A member of the organization is no target of the file.
        Err(_) if ctx.settings.organization.is_some() => Vec::new(),
        other => other?,
    };
    let Some(spec) = &ctx.settings.organization else {
        return Ok((targets, None, Vec::new()));
    };
    if !ctx.settings.targets_given {
        targets.clear();
    }
    let members = organization::resolve_members(
        spec,
        &ctx.services(),
        args.endpoint.as_deref(),
        ctx.clock.clone(),
        &args.client.options(&ctx.settings),
        &snapshot::process_env(),
    )?;
    let configured: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let named = organization::name_members(spec, &members, &configured, |name| {
        args.target.as_ref().is_none_or(|t| t == name)
    });
    let names: Vec<String> = named.targets.iter().map(|t| t.name.clone()).collect();
    targets.extend(named.targets);
    let collisions = named.collisions;
    if targets.is_empty() && !collisions.is_empty() {
        let each: Vec<String> = collisions.iter().map(ToString::to_string).collect();
        return Err(Error::Usage(each.join("\n")));
    }
    if targets.is_empty() {
        return Err(Error::Usage(format!(
            "target {:?} is neither in the config file nor a member of the organization",
            crate::task::text::visible(args.target.as_deref().unwrap_or(""))
        )));
    }
    let organization = nightly::OrgMembers {
        template: spec.name.clone(),
        members: names,
        collided: collisions.iter().map(|c| c.name.clone()).collect(),
    };
    Ok((targets, Some(organization), collisions))
}

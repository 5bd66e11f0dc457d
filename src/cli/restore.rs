//! `audit restore`: plan putting a target's task back to its baseline or a recorded moment, and
//! with `--apply`, do exactly that plan or nothing.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::{ClientArgs, Context, TargetArgs, TextOrJson};
use crate::app::output::write_atomically;
use crate::app::restore::{Applied, Restorer, To};
use crate::app::snapshot::process_env;
use crate::app::{Error, ExitCode, baseline};
use crate::report::restore::{
    ApplyOutcome, applied_json, applied_text, names, plan_json, plan_text,
};
use crate::report::short;
use crate::task::restore::Plan;
use crate::task::text::visible;
use crate::task::when::When;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Planning reads the live task and changes nothing, here or in the \
account. --apply sends UpdateImageRegistryTimingScanTask only if the live config still has the \
hash the plan was made from, then reads the task back and records that observation together \
with the apply (its plan, who ran it, the outcome) inside the chain.\n\nExit codes: 0 the live \
config now equals the one restored (or already did); 1 it does not (the fields that did not \
take, or cannot be restored, are named), or the plan is stale and nothing was sent; 2 a usage \
error (no baseline, no terminal without --yes); 3 the Update was refused or the task could not \
be read; nothing is recorded as applied."
)]
pub struct Args {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// What to restore: `baseline` (the approved one) or a moment whose config was recorded
    /// (a snapshot id, a date, a time, an age)
    #[arg(long, value_name = "baseline|WHEN", default_value = "baseline")]
    pub to: String,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// Also save the plan (JSON, bound to the live config's hash) here, for `--apply --plan`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Send the Update: of a fresh plan, or of the one in --plan
    #[arg(long)]
    pub apply: bool,
    /// The saved plan to apply (from --out)
    #[arg(long, value_name = "FILE", requires = "apply")]
    pub plan: Option<PathBuf>,
    /// Apply without asking (required without a terminal)
    #[arg(long, requires = "apply")]
    pub yes: bool,
    /// Who applies it [default: the user this runs as]
    #[arg(long, value_name = "WHO", requires = "apply")]
    pub by: Option<String>,
    /// Send requests here instead of the target's endpoint (a host, or a URL; http:// only to loopback)
    #[arg(long, value_name = "HOST|URL")]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    if args.targets.all {
        return Err(Error::Usage(
            "audit restore acts on one target: use --target NAME".into(),
        ));
    }
    let by = match args.apply {
        true => Some(baseline::who(args.by.as_deref())?),
        false => None,
    };
    if args.apply && !args.yes && !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "--apply without a terminal needs --yes: nothing was sent".into(),
        ));
    }
    let saved: Option<Plan> = match &args.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Input(format!("{}: cannot read the plan: {e}", path.display()))
            })?;
            Some(serde_json::from_str(&text).map_err(|e| {
                Error::Input(format!("{}: not a restore plan: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let mut selection = args.targets.clone();
    if selection.target.is_none()
        && let Some(p) = &saved
    {
        selection.target = Some(p.target.clone());
    }
    let target = args
        .client
        .apply(ctx.configured_targets(&selection)?)
        .remove(0);
    let options = args.client.options(&ctx.settings);
    let services = ctx.services();
    let restorer = Restorer {
        target: &target,
        endpoint_override: args.endpoint.as_deref(),
        clock: ctx.clock.clone(),
        options: &options,
        settings: &services,
        env: process_env(),
    };
    let mut store = if args.apply {
        ctx.open_recording_store()?
    } else {
        ctx.open_store(crate::store::OpenMode::Existing)?
    };
    let (plan, restored) = match saved {
        Some(plan) => {
            let restored = restorer.check_saved(&store, &plan)?;
            (plan, restored)
        }
        None => {
            let to = match args.to.as_str() {
                "baseline" => To::Baseline,
                other => To::At(When::parse(other, ctx.now())?),
            };
            let (to, restored) = restorer.resolve_to(&store, &to, ctx.tz)?;
            let live = restorer.fetch_live()?;
            (restorer.plan(&live, to, &restored, ctx.now()), restored)
        }
    };
    if let Some(out) = &args.out {
        write_atomically(out, |w| plan_json(&plan, w))?;
        if !ctx.quiet() {
            eprintln!(
                "saved the plan to {} (bound to live config {})",
                out.display(),
                short(&plan.live.config_hash)
            );
        }
    }
    // With --apply and JSON, stdout carries the outcome only (which holds the plan).
    if !(args.apply && args.format == TextOrJson::Json) {
        ctx.emit(|w| match args.format {
            TextOrJson::Text => plan_text(&plan, ctx.tz, w),
            TextOrJson::Json => plan_json(&plan, w),
        })?;
    }
    if !args.apply {
        return Ok(if plan.changes.is_empty() {
            ExitCode::Ok
        } else {
            ExitCode::Wanting
        });
    }
    if plan.changes.is_empty() {
        return Ok(ExitCode::Ok);
    }
    if plan.update.is_empty() {
        eprintln!(
            "error: nothing can be sent: {} cannot be restored by an Update; nothing was sent",
            names(
                &plan
                    .not_restorable
                    .iter()
                    .map(|n| n.field.clone())
                    .collect::<Vec<_>>()
            )
        );
        return Ok(ExitCode::Wanting);
    }
    if !args.yes
        && !super::confirm(&format!(
            "send this Update to target {}?",
            visible(&target.name)
        ))?
    {
        return Err(Error::Usage("nothing was sent".into()));
    }
    let by = by.expect("--apply has a person");
    let applied = restorer
        .apply(&mut store, &plan, &restored, &by)
        .inspect_err(|e| {
            if matches!(e, Error::Remote(_)) {
                eprintln!("note: nothing was recorded as applied");
            }
        })?;
    let code = match &applied {
        Applied::Stale { found, planned } => {
            eprintln!(
                "error: target {}: the live config changed since the plan (it is {} now, the plan was made from {}); nothing was sent: make a new plan",
                visible(&target.name),
                short(found),
                short(planned)
            );
            ExitCode::Wanting
        }
        Applied::NothingToSend => ExitCode::Wanting,
        Applied::Sent {
            entry,
            recorded,
            not_taken,
            request_id,
        } => {
            let outcome = ApplyOutcome {
                plan: &plan,
                entry,
                recorded,
                not_taken,
                request_id,
            };
            ctx.emit(|w| match args.format {
                TextOrJson::Text => applied_text(&outcome, w),
                TextOrJson::Json => applied_json(&outcome, w),
            })?;
            if not_taken.is_empty() {
                ExitCode::Ok
            } else {
                eprintln!(
                    "error: target {}: the Update did not take for {}",
                    visible(&target.name),
                    names(not_taken)
                );
                ExitCode::Wanting
            }
        }
    };
    Ok(code)
}

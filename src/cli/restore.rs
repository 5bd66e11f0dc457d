//! `audit restore`: plan putting a target's task back to its baseline or a recorded moment, and
//! with `--apply`, do exactly that plan or nothing.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{ClientArgs, Context, OneTarget, TextOrJson};
use crate::app::output::write_atomically;
use crate::app::restore::{Applied, Restorer, Stale, To};
use crate::app::snapshot::process_env;
use crate::app::{Error, ExitCode, baseline};
use crate::report::restore::{
    ApplyHint, ApplyOutcome, applied_json, applied_text, names, plan_json, plan_text_with,
};
use crate::report::short;
use crate::task::restore::{Plan, read_plan};
use crate::task::text::visible;
use crate::task::when::When;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Planning reads the live task and changes nothing, here or in the \
account. A plan (tcss-audit/restore-plan/v2) names the account it was made against and carries a \
binding: the SHA-256 of everything else in it. --apply derives the plan again from the history and \
the live task, and sends UpdateImageRegistryTimingScanTask only when it is the same plan, the \
baseline is still the one in force, and the credentials reach the plan's account; then it reads \
the task back and records that observation together with the apply (its plan, who ran it, the \
outcome) inside the chain.\n\nExit codes: 0 the live config now equals the one restored (or \
already did); 1 it does not (the fields that did not take, or cannot be restored, are named), or \
the plan is stale and nothing was sent; 2 a usage error or a refused plan (edited, of an older \
version, another account, no baseline, no terminal without --yes), nothing sent; 3 the Update was \
refused or the task could not be read (nothing recorded as applied), or the Update was accepted \
and the read-back failed (the apply is journalled)."
)]
pub struct Args {
    #[command(flatten)]
    pub targets: OneTarget,
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
    let by = match args.apply {
        true => Some(baseline::who(args.by.as_deref())?),
        false => None,
    };
    if args.apply && !args.yes && !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "--apply without a terminal needs --yes: nothing was sent".into(),
        ));
    }
    let saved = args.plan.as_deref().map(load_plan).transpose()?;
    let mut selection = args.targets.clone();
    if selection.target.is_none()
        && let Some(p) = &saved
    {
        selection.target = Some(p.target.clone());
    }
    let target = args
        .client
        .apply(vec![ctx.configured_target(&selection)?])
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
    let plan = match saved {
        Some(plan) => plan,
        None => {
            let to = match args.to.as_str() {
                "baseline" => To::Baseline,
                other => To::At(When::parse(other, ctx.now())?),
            };
            restorer.plan_to(&store, &to, ctx.tz)?
        }
    };
    show_plan(args, ctx, &plan)?;
    match by {
        Some(by) => apply(args, ctx, &restorer, &mut store, &plan, &by),
        None if plan.changes.is_empty() => Ok(ExitCode::Ok),
        None => Ok(ExitCode::Wanting),
    }
}

/// Reads a saved plan: this version's, bound to its content.
fn load_plan(path: &Path) -> Result<Plan, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::File {
        path: path.to_path_buf(),
        action: "read the plan",
        source,
    })?;
    read_plan(&text).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// Saves the plan with `--out`, and prints it (with `--apply` and JSON, stdout carries the
/// outcome only, which holds the plan).
fn show_plan(args: &Args, ctx: &Context, plan: &Plan) -> Result<(), Error> {
    if let Some(out) = &args.out {
        write_atomically(out, |w| plan_json(plan, w))?;
        if !ctx.quiet() {
            eprintln!(
                "saved the plan to {} (bound to live config {} of account {})",
                out.display(),
                short(&plan.live.config_hash),
                visible(&plan.account)
            );
        }
    }
    if !(args.apply && args.format == TextOrJson::Json) {
        ctx.emit(|w| match args.format {
            TextOrJson::Text => {
                let hint = match args.apply {
                    true => ApplyHint::Omit,
                    false => ApplyHint::Show,
                };
                plan_text_with(plan, ctx.tz, hint, w)
            }
            TextOrJson::Json => plan_json(plan, w),
        })?;
    }
    Ok(())
}

/// `--apply`: asks (unless `--yes`), applies, and says what happened.
fn apply(
    args: &Args,
    ctx: &Context,
    restorer: &Restorer<'_>,
    store: &mut crate::store::Store,
    plan: &Plan,
    by: &str,
) -> Result<ExitCode, Error> {
    if plan.changes.is_empty() {
        return Ok(ExitCode::Ok);
    }
    if plan.update.is_empty() {
        let fields: Vec<String> = plan
            .not_restorable
            .iter()
            .map(|n| n.field.clone())
            .collect();
        eprintln!(
            "error: nothing can be sent: {} cannot be restored by an Update; nothing was sent",
            names(&fields)
        );
        return Ok(ExitCode::Wanting);
    }
    let name = visible(&restorer.target.name).into_owned();
    if !args.yes && !super::confirm(&format!("send this Update to target {name}?"))? {
        return Err(Error::Usage("nothing was sent".into()));
    }
    let applied = restorer.apply(store, plan, by).inspect_err(|e| {
        if matches!(e, Error::Remote(_)) {
            eprintln!("note: nothing was recorded as applied");
        }
    })?;
    let code = say(args, ctx, &name, plan, applied)?;
    crate::app::signature_line(store)?;
    Ok(code)
}

/// What an apply did, on stdout (the outcome) and stderr (what went wrong), and its exit code.
fn say(
    args: &Args,
    ctx: &Context,
    name: &str,
    plan: &Plan,
    applied: Applied,
) -> Result<ExitCode, Error> {
    match applied {
        Applied::Stale(Stale::LiveChanged { found, planned }) => {
            eprintln!(
                "error: target {name}: the live config changed since the plan (it is {} now, the plan was made from {}); nothing was sent: make a new plan",
                short(&found),
                short(&planned)
            );
            Ok(ExitCode::Wanting)
        }
        Applied::Stale(Stale::BaselineReplaced { planned, in_force }) => {
            eprintln!(
                "error: target {name}: the plan restores the baseline of journal entry {planned}, which is no longer the one in force ({}); nothing was sent: make a new plan",
                in_force.map_or("none is now".into(), |e| format!("journal entry {e} is"))
            );
            Ok(ExitCode::Wanting)
        }
        Applied::NothingToSend => Ok(ExitCode::Wanting),
        Applied::ReadBackFailed {
            entry,
            request_id,
            error,
        } => {
            eprintln!(
                "error: target {name}: the Update was accepted (RequestId {}) but reading the task back failed: {}; the apply is recorded as journal entry {} (read-back failed): run `audit snapshot` to record what the task holds now",
                visible(&request_id),
                visible(&error),
                entry.id
            );
            Ok(ExitCode::Remote)
        }
        Applied::Sent {
            entry,
            recorded,
            not_taken,
            request_id,
        } => {
            let outcome = ApplyOutcome {
                plan,
                entry: &entry,
                recorded: &recorded,
                not_taken: &not_taken,
                request_id: &request_id,
            };
            ctx.emit(|w| match args.format {
                TextOrJson::Text => applied_text(&outcome, w),
                TextOrJson::Json => applied_json(&outcome, w),
            })?;
            if not_taken.is_empty() {
                return Ok(ExitCode::Ok);
            }
            eprintln!(
                "error: target {name}: the Update did not take for {}",
                names(&not_taken)
            );
            Ok(ExitCode::Wanting)
        }
    }
}

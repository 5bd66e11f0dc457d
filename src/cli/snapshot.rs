//! `audit snapshot`: fetch the task now and record it, one line per target.

use serde_json::json;

use super::{ClientArgs, Context, TargetArgs, TextOrJson};
use crate::app::snapshot;
use crate::app::{Error, ExitCode};
use crate::report::history::recorded_line;
use crate::report::write_json;
use crate::task::text::visible;
use crate::task::when::fmt_utc;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Send requests here instead of the target's endpoint (a host, or a URL; http:// only to loopback)
    #[arg(long, value_name = "HOST|URL")]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let targets = args.client.apply(ctx.configured_targets(&args.targets)?);
    let mut store = ctx.open_recording_store()?;
    let options = args.client.options(&ctx.settings);
    let mut code = ExitCode::Ok;
    let mut results = Vec::new();
    let single = targets.len() == 1;
    let outcomes = snapshot::snapshot_targets(
        &mut store,
        &targets,
        args.endpoint.as_deref(),
        ctx.clock.clone(),
        &options,
        &ctx.services(),
        |outcome| {
            code = code.worst(outcome.exit_code());
            match &outcome.result {
                Ok(recorded) => {
                    if args.format == TextOrJson::Text {
                        ctx.emit(|w| recorded_line(&outcome.target, recorded, ctx.tz, w))?;
                    }
                    // A first snapshot is no change: `changed: false, first: true`, as in
                    // `history` and the run report.
                    let mut result = json!({
                        "target": outcome.target,
                        "id": recorded.id,
                        "at": fmt_utc(recorded.observed_at),
                        "changed": recorded.changed && !recorded.first,
                        "config_hash": recorded.config_hash,
                        "new_fields": recorded.new_fields,
                    });
                    if recorded.first {
                        result["first"] = json!(true);
                    }
                    results.push(result);
                }
                Err(e) => {
                    // One target failing does not stop the others; each failure is named.
                    if !single {
                        eprintln!(
                            "error: target {}: {}",
                            visible(&outcome.target),
                            visible(&e.to_string())
                        );
                        results.push(json!({"target": outcome.target, "error": e.to_string()}));
                    }
                }
            }
            Ok(())
        },
    )?;
    if single && let Some(outcome) = outcomes.into_iter().next() {
        outcome.result?;
    }
    if args.format == TextOrJson::Json {
        ctx.emit(|w| {
            write_json(
                w,
                &json!({"schema": "tcss-audit/snapshot/v1", "results": results}),
            )
        })?;
    }
    crate::app::signature_line(&store)?;
    Ok(code)
}

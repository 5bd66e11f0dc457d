//! `audit show`: the config (or the raw answer) at a moment.

use serde_json::json;

use super::{Context, TargetArgs, TextOrJson};
use crate::app::{Error, ExitCode};
use crate::report::{short, write_json};
use crate::store::OpenMode;
use crate::task::when::{When, fmt_time, fmt_utc};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The moment: latest, a snapshot id, a date, an RFC 3339 time, or an age (7d)
    #[arg(default_value = "latest", value_name = "WHEN")]
    pub when: String,
    #[command(flatten)]
    pub targets: TargetArgs,
    /// The answer exactly as it was received, byte for byte (for a file or a pipe: on a
    /// terminal, control characters in it would reach the terminal as they are)
    #[arg(long, conflicts_with = "format")]
    pub raw: bool,
    #[arg(long, value_enum)]
    pub format: Option<TextOrJson>,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    if args.targets.all {
        return Err(Error::Usage(
            "audit show takes one target: use --target NAME".into(),
        ));
    }
    let store = ctx.open_store(OpenMode::Existing)?;
    let target = ctx.target_names(&args.targets, &store)?.remove(0);
    let when = When::parse(&args.when, ctx.now())?;
    let meta = store.resolve(&target, &when, ctx.tz)?;
    let snap = store.snapshot(meta.id)?;
    ctx.emit(|w| {
        if args.raw {
            return w.write_all(&snap.raw);
        }
        match args.format.unwrap_or(TextOrJson::Text) {
            TextOrJson::Text => {
                writeln!(
                    w,
                    "# target {}, snapshot {}, observed {}, config {}{}",
                    crate::task::text::visible(&target),
                    meta.id,
                    fmt_time(meta.observed_at, ctx.tz),
                    short(&meta.config_hash),
                    meta.identity
                        .as_ref()
                        .map(|i| format!(
                            ", account {} ({})",
                            crate::task::text::visible(&i.account),
                            crate::task::text::visible(&i.arn)
                        ))
                        .unwrap_or_default()
                )?;
                // JSON escapes C0 controls in strings, not DEL, C1 controls or bidirectional
                // overrides.
                let text = crate::task::canonical::pretty_json(&snap.config);
                w.write_all(crate::task::text::visible_lines(&text).as_bytes())
            }
            TextOrJson::Json => write_json(
                w,
                &json!({
                    "schema": "tcss-audit/show/v1",
                    "target": target,
                    "snapshot": {
                        "id": meta.id,
                        "at": fmt_utc(meta.observed_at),
                        "request_id": meta.request_id,
                        "config_hash": meta.config_hash,
                        "identity": meta.identity,
                    },
                    "config": snap.config,
                    "status": meta.status,
                }),
            ),
        }
    })?;
    Ok(ExitCode::Ok)
}

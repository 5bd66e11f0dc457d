//! `audit diff`: what changed between two moments.

use super::{Context, TargetArgs};
use crate::app::{Error, ExitCode};
use crate::report::diff::{DiffDoc, DiffEnd, diff_json, diff_markdown, diff_text, diff_unified};
use crate::store::{OpenMode, SnapshotMeta};
use crate::task::diff::{diff, diff_status};
use crate::task::normalize::Config;
use crate::task::when::{When, fmt_time};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
    Unified,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The earlier moment, or `baseline` (the approved baseline) [default: the snapshot before
    /// --to]
    #[arg(long, value_name = "WHEN|baseline")]
    pub from: Option<String>,
    /// The later moment
    #[arg(long, value_name = "WHEN", default_value = "latest")]
    pub to: String,
    #[command(flatten)]
    pub targets: TargetArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 1 when there are changes
    #[arg(long)]
    pub exit_code: bool,
    /// Also show changes of LastScanTime and ScanResult, which are status, not drift
    #[arg(long)]
    pub include_status: bool,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    if args.targets.all {
        return Err(Error::Usage(
            "audit diff compares one target: use --target NAME".into(),
        ));
    }
    let store = ctx.open_store(OpenMode::Existing)?;
    let target = ctx.target_names(&args.targets, &store)?.remove(0);
    let to_when = When::parse(&args.to, ctx.now())?;
    let to = store.resolve(&target, &to_when, ctx.tz)?;
    if args.from.as_deref() == Some("baseline") {
        // The baseline in force for `to` as `audit check` judges it.
        let judged = crate::app::baseline::judged_at(&to_when, to.observed_at, ctx.now());
        let b = crate::app::baseline::in_force(&store, &target, judged)?;
        let old = store.config(&b.config_hash)?;
        let new = store.config(&to.config_hash)?;
        let from = DiffEnd {
            snapshot: b.snapshot.unwrap_or_default(),
            at: b
                .detail
                .get("observed_at")
                .and_then(|v| v.as_str())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map_or(b.at, |t| t.with_timezone(&chrono::Utc)),
            config_hash: b.config_hash.clone(),
        };
        let label = format!("{target}@baseline (approved {})", fmt_time(b.at, ctx.tz));
        let earlier = Earlier {
            end: from,
            label,
            config: old,
            status_changes: Vec::new(),
        };
        return render(args, ctx, &target, earlier, &to, &new);
    }
    let from: SnapshotMeta = match &args.from {
        Some(text) => store.resolve(&target, &When::parse(text, ctx.now())?, ctx.tz)?,
        // With a single snapshot there is nothing before it: compare it with itself (no changes).
        None => store.previous(&to)?.unwrap_or_else(|| to.clone()),
    };
    if (from.observed_at, from.id) > (to.observed_at, to.id) {
        return Err(Error::Usage(format!(
            "--from is later than --to: snapshot {} ({}) comes after snapshot {} ({}); swap them",
            from.id,
            fmt_time(from.observed_at, ctx.tz),
            to.id,
            fmt_time(to.observed_at, ctx.tz)
        )));
    }
    let old = store.config(&from.config_hash)?;
    let new = store.config(&to.config_hash)?;
    let label = format!(
        "{target}@{} ({})",
        from.id,
        fmt_time(from.observed_at, ctx.tz)
    );
    let end = DiffEnd {
        snapshot: from.id,
        at: from.observed_at,
        config_hash: from.config_hash.clone(),
    };
    let status = if args.include_status {
        diff_status(&from.status, &to.status)
    } else {
        Vec::new()
    };
    let earlier = Earlier {
        end,
        label,
        config: old,
        status_changes: status,
    };
    render(args, ctx, &target, earlier, &to, &new)
}

/// The earlier end of a diff: a snapshot, or the approved baseline.
struct Earlier {
    end: DiffEnd,
    /// How the unified diff names it.
    label: String,
    config: Config,
    status_changes: Vec<crate::task::diff::Change>,
}

/// Renders the diff from `from` to snapshot `to`, whose config is `new`.
fn render(
    args: &Args,
    ctx: &Context,
    target: &str,
    from: Earlier,
    to: &SnapshotMeta,
    new: &Config,
) -> Result<ExitCode, Error> {
    let old = &from.config;
    let doc = DiffDoc {
        target: target.to_string(),
        from: from.end.clone(),
        to: DiffEnd {
            snapshot: to.id,
            at: to.observed_at,
            config_hash: to.config_hash.clone(),
        },
        changes: diff(old, new),
        status_changes: from.status_changes.clone(),
        include_status: args.include_status,
    };
    ctx.emit(|w| match args.format {
        Format::Text => diff_text(&doc, ctx.tz, ctx.color, w),
        Format::Markdown => diff_markdown(&doc, ctx.tz, w),
        Format::Json => diff_json(&doc, w),
        Format::Unified => diff_unified(
            old,
            new,
            &from.label,
            &format!("{target}@{} ({})", to.id, fmt_time(to.observed_at, ctx.tz)),
            w,
        ),
    })?;
    let changed =
        !doc.changes.is_empty() || (args.include_status && !doc.status_changes.is_empty());
    Ok(if args.exit_code && changed {
        ExitCode::Wanting
    } else {
        ExitCode::Ok
    })
}

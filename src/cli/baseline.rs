//! `audit baseline`: approve the config at a moment as a target's baseline, and read it back.

use super::{Context, OneTarget, TextOrJson};
use crate::app::{Error, ExitCode, baseline};
use crate::report::restore::{
    BaselineView, baseline_history_json, baseline_history_text, baseline_json, baseline_text,
};
use crate::report::short;
use crate::store::{EntryKind, OpenMode};
use crate::task::diff::diff;
use crate::task::text::visible;
use crate::task::when::{When, fmt_time};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Record the config at WHEN as the target's approved baseline (who, why, when), inside the
    /// chain
    #[command(
        after_help = "The approval is a journal entry: chained, and linked by every snapshot \
recorded after it, so `audit verify`, witnesses and signed checkpoints cover it from the next \
snapshot on. A newer approval replaces the baseline; `audit baseline history` lists them all. \
The policy rule TCSS-BASE-001 fails while the config differs from the baseline, and `audit \
restore --to baseline` puts it back."
    )]
    Approve {
        /// The moment whose config is approved: latest, a snapshot id, a date, a time, an age
        #[arg(default_value = "latest", value_name = "WHEN")]
        when: String,
        #[command(flatten)]
        targets: OneTarget,
        /// Why this config is the right one (a change ticket, a decision)
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Who approves it [default: the user this runs as]
        #[arg(long, value_name = "WHO")]
        by: Option<String>,
    },
    /// The target's baseline now, and whether the latest snapshot equals it
    Show {
        #[command(flatten)]
        targets: OneTarget,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Every baseline the target had, oldest first
    History {
        #[command(flatten)]
        targets: OneTarget,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
}

pub fn run(cmd: &Command, ctx: &Context) -> Result<ExitCode, Error> {
    match cmd {
        Command::Approve {
            when,
            targets,
            reason,
            by,
        } => {
            let by = baseline::who(by.as_deref())?;
            let when = When::parse(when, ctx.now())?;
            let mut store = ctx.open_store(OpenMode::Existing)?;
            let target = ctx.one_target_name(targets, &store)?;
            let entry =
                baseline::approve(&mut store, &target, &when, ctx.tz, reason, &by, ctx.now())?;
            ctx.emit(|w| {
                writeln!(
                    w,
                    "{}: approved snapshot {} (config {}) as the baseline, by {}, at {} (journal entry {})",
                    visible(&target),
                    entry.snapshot.unwrap_or_default(),
                    short(&entry.config_hash),
                    visible(&entry.by),
                    fmt_time(entry.at, ctx.tz),
                    entry.id
                )
            })?;
            Ok(ExitCode::Ok)
        }
        Command::Show { targets, format } => {
            let store = ctx.open_store(OpenMode::Existing)?;
            let target = ctx.one_target_name(targets, &store)?;
            let entry = baseline::in_force(&store, &target, ctx.now())?;
            let config = store.config(&entry.config_hash)?;
            let latest = match store.resolve(&target, &When::Latest, ctx.tz) {
                Ok(m) => Some(m),
                Err(crate::store::StoreError::NoSnapshot { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let changes = match &latest {
                Some(m) => diff(&config, &store.config(&m.config_hash)?),
                None => Vec::new(),
            };
            let view = BaselineView {
                target: &target,
                entry: &entry,
                config: &config,
                latest: latest
                    .as_ref()
                    .map(|m| (m.id, m.observed_at, m.config_hash.as_str(), &changes[..])),
            };
            ctx.emit(|w| match format {
                TextOrJson::Text => baseline_text(&view, ctx.tz, w),
                TextOrJson::Json => baseline_json(&view, w),
            })?;
            Ok(ExitCode::Ok)
        }
        Command::History { targets, format } => {
            let store = ctx.open_store(OpenMode::Existing)?;
            let target = ctx.one_target_name(targets, &store)?;
            let entries = store.entries(Some(&target), Some(EntryKind::Baseline))?;
            ctx.emit(|w| match format {
                TextOrJson::Text => baseline_history_text(&target, &entries, ctx.tz, w),
                TextOrJson::Json => baseline_history_json(&target, &entries, w),
            })?;
            Ok(ExitCode::Ok)
        }
    }
}

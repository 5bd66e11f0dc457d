//! Renderers for baselines (`audit baseline show`/`history`) and restore plans (`audit restore`).

use std::io::{self, Write};

use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{short, write_json};
use crate::store::Entry;
use crate::task::canonical::{canonical_value, pretty_json};
use crate::task::diff::Change;
use crate::task::normalize::Config;
use crate::task::restore::Plan;
use crate::task::text::{count, visible};
use crate::task::when::{fmt_time, fmt_utc};

/// A value as one line: its canonical JSON, escaped, cut at `max` characters.
fn value_line(v: Option<&Value>, max: usize) -> String {
    let Some(v) = v else {
        return "(absent)".into();
    };
    let text = canonical_value(v);
    let text = visible(&text);
    if text.chars().count() <= max {
        return text.into_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Whether a plan shown as text ends with how to apply it: not while it is being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyHint {
    Show,
    Omit,
}

/// `audit restore` as text: what would change, and the Update it would send.
pub fn plan_text(plan: &Plan, tz: Tz, w: &mut dyn Write) -> io::Result<()> {
    plan_text_with(plan, tz, ApplyHint::Show, w)
}

/// [`plan_text`], with the hint of how to apply it as `hint` says.
pub fn plan_text_with(plan: &Plan, tz: Tz, hint: ApplyHint, w: &mut dyn Write) -> io::Result<()> {
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| fmt_time(t.with_timezone(&chrono::Utc), tz))
            .unwrap_or_else(|_| visible(t).into_owned())
    };
    writeln!(
        w,
        "Restore plan for target {} (account {}), made {}",
        visible(&plan.target),
        visible(&plan.account),
        at(&plan.planned_at)
    )?;
    writeln!(
        w,
        "  live:       config {} (read {}{})",
        short(&plan.live.config_hash),
        at(&plan.live.observed_at),
        plan.live
            .request_id
            .as_deref()
            .map(|r| format!(", RequestId {}", visible(r)))
            .unwrap_or_default()
    )?;
    let to = &plan.restore_to;
    let snapshot = to
        .snapshot
        .map(|s| format!("snapshot {s}, "))
        .unwrap_or_default();
    let entry = to
        .journal_entry
        .map(|e| format!("journal entry {e}, "))
        .unwrap_or_default();
    match (&to.approved_at, &to.approved_by) {
        (Some(when), Some(by)) => writeln!(
            w,
            "  restore to: the baseline approved {} by {} ({entry}{snapshot}config {})",
            at(when),
            visible(by),
            short(&to.config_hash)
        )?,
        _ => writeln!(
            w,
            "  restore to: {snapshot}config {}",
            short(&to.config_hash)
        )?,
    }
    writeln!(w)?;
    if plan.changes.is_empty() {
        writeln!(
            w,
            "Nothing to restore: the live config equals the one to restore."
        )?;
        return Ok(());
    }
    let width = plan
        .changes
        .iter()
        .map(|c| visible(&c.field).chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(w, "  {:<width$}  {:<36}  RESTORED", "FIELD", "LIVE")?;
    for c in &plan.changes {
        writeln!(
            w,
            "  {:<width$}  {:<36}  {}{}",
            visible(&c.field),
            value_line(c.live.as_ref(), 36),
            value_line(c.restored.as_ref(), 60),
            if c.restorable {
                ""
            } else {
                "  (not restorable)"
            }
        )?;
    }
    writeln!(w)?;
    if plan.update.is_empty() {
        writeln!(w, "No Update would be sent.")?;
    } else {
        writeln!(w, "UpdateImageRegistryTimingScanTask would be sent:")?;
        writeln!(
            w,
            "  {}",
            visible(&canonical_value(&Value::Object(plan.update.clone())))
        )?;
    }
    if !plan.not_restorable.is_empty() {
        writeln!(w)?;
        writeln!(w, "Not restorable (no Update sets them):")?;
        for n in &plan.not_restorable {
            writeln!(w, "  {}: {}", visible(&n.field), visible(&n.reason))?;
        }
    }
    if hint == ApplyHint::Show && !plan.update.is_empty() {
        let to = match (to.kind.as_str(), to.snapshot) {
            ("snapshot", Some(id)) => id.to_string(),
            _ => "baseline".into(),
        };
        writeln!(w)?;
        writeln!(
            w,
            "To apply: audit restore --target {} --to {to} --apply (or save it with --out FILE and apply it with --apply --plan FILE)",
            visible(&plan.target)
        )?;
    }
    Ok(())
}

/// `audit restore --format json` (and `--out`): the plan as data.
pub fn plan_json(plan: &Plan, w: &mut dyn Write) -> io::Result<()> {
    write_json(w, plan)
}

/// What an apply did, for its report: the Update sent, the observation read back and recorded
/// with its journal entry, and the fields that still differ.
pub struct ApplyOutcome<'a> {
    pub plan: &'a Plan,
    pub entry: &'a Entry,
    pub recorded: &'a crate::store::Recorded,
    pub not_taken: &'a [String],
    pub request_id: &'a str,
}

/// An apply's outcome as text, after its plan.
pub fn applied_text(a: &ApplyOutcome<'_>, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "\nsent the Update (RequestId {}); read the task back as snapshot {} (config {}); recorded as journal entry {}",
        visible(a.request_id),
        a.recorded.id,
        short(&a.recorded.config_hash),
        a.entry.id
    )?;
    if a.not_taken.is_empty() {
        writeln!(w, "converged: the live config equals the one restored")
    } else {
        writeln!(
            w,
            "NOT converged: {} still differ from the config restored",
            names(a.not_taken)
        )
    }
}

/// An apply's outcome as JSON (`tcss-audit/restore-apply/v1`), its plan included.
pub fn applied_json(a: &ApplyOutcome<'_>, w: &mut dyn Write) -> io::Result<()> {
    write_json(
        w,
        &json!({
            "schema": "tcss-audit/restore-apply/v1",
            "target": a.plan.target,
            "plan": a.plan,
            "update_request_id": a.request_id,
            "snapshot": a.recorded.id,
            "config_hash": a.recorded.config_hash,
            "journal_entry": a.entry.id,
            "converged": a.not_taken.is_empty(),
            "not_taken": a.not_taken,
        }),
    )
}

/// Field names, escaped, comma-separated.
pub fn names(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| visible(f).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The baseline in force and how the latest snapshot compares with it.
pub struct BaselineView<'a> {
    pub target: &'a str,
    pub entry: &'a Entry,
    pub config: &'a Config,
    /// The latest snapshot (id, observed) and its changes from the baseline.
    pub latest: Option<(i64, chrono::DateTime<chrono::Utc>, &'a str, &'a [Change])>,
}

/// `audit baseline show` as text.
pub fn baseline_text(v: &BaselineView<'_>, tz: Tz, w: &mut dyn Write) -> io::Result<()> {
    let e = v.entry;
    writeln!(
        w,
        "# target {}: baseline approved {} by {}{}, config {}",
        visible(v.target),
        fmt_time(e.at, tz),
        visible(&e.by),
        e.snapshot
            .map(|s| format!(" (snapshot {s})"))
            .unwrap_or_default(),
        short(&e.config_hash)
    )?;
    writeln!(w, "# reason: {}", visible(&e.reason))?;
    match v.latest {
        Some((id, at, _, [])) => writeln!(
            w,
            "# the latest snapshot {id} ({}) equals it",
            fmt_time(at, tz)
        )?,
        Some((id, at, _, changes)) => {
            let mut fields: Vec<&str> = changes.iter().map(Change::field).collect();
            fields.dedup();
            writeln!(
                w,
                "# the latest snapshot {id} ({}) differs from it in {}: see `audit diff --from baseline`",
                fmt_time(at, tz),
                fields
                    .iter()
                    .map(|f| visible(f).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?
        }
        None => writeln!(w, "# the target has no snapshot now")?,
    }
    w.write_all(pretty_json(v.config).as_bytes())
}

/// `audit baseline show --format json`.
pub fn baseline_json(v: &BaselineView<'_>, w: &mut dyn Write) -> io::Result<()> {
    write_json(
        w,
        &json!({
            "schema": "tcss-audit/baseline/v1",
            "target": v.target,
            "baseline": entry_json(v.entry),
            "config": v.config,
            "latest": v.latest.map(|(id, at, hash, changes)| json!({
                "snapshot": id,
                "at": fmt_utc(at),
                "config_hash": hash,
                "equals_baseline": changes.is_empty(),
                "changes": changes,
            })),
        }),
    )
}

fn entry_json(e: &Entry) -> Value {
    json!({
        "id": e.id,
        "approved_at": fmt_utc(e.at),
        "by": e.by,
        "reason": e.reason,
        "snapshot": e.snapshot,
        "config_hash": e.config_hash,
    })
}

/// `audit baseline history` as text: every approval, oldest first.
pub fn baseline_history_text(
    target: &str,
    entries: &[Entry],
    tz: Tz,
    w: &mut dyn Write,
) -> io::Result<()> {
    if entries.is_empty() {
        return writeln!(w, "{}: no baseline approved", visible(target));
    }
    writeln!(
        w,
        "{}: {}",
        visible(target),
        count(entries.len() as u64, "approval", "approvals")
    )?;
    writeln!(
        w,
        "{:>5}  {:<25}  {:<16}  {:>8}  {:<12}  REASON",
        "ENTRY", "APPROVED", "BY", "SNAPSHOT", "CONFIG"
    )?;
    for e in entries {
        writeln!(
            w,
            "{:>5}  {:<25}  {:<16}  {:>8}  {:<12}  {}",
            e.id,
            fmt_time(e.at, tz),
            visible(&e.by),
            e.snapshot.map(|s| s.to_string()).unwrap_or("-".into()),
            short(&e.config_hash),
            visible(&e.reason)
        )?;
    }
    Ok(())
}

/// `audit baseline history --format json`.
pub fn baseline_history_json(target: &str, entries: &[Entry], w: &mut dyn Write) -> io::Result<()> {
    write_json(
        w,
        &json!({
            "schema": "tcss-audit/baseline-history/v1",
            "target": target,
            "approvals": entries.iter().map(entry_json).collect::<Vec<_>>(),
        }),
    )
}

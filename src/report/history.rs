//! Renderers for `audit history`, `audit snapshot`/`import` lines and `audit verify`.

use std::io::{self, Write};

use chrono_tz::Tz;
use serde_json::json;

use super::{short, write_json};
use crate::store::{HistoryRow, Recorded, VerifyReport};
use crate::task::text::visible;
use crate::task::when::{fmt_time, fmt_utc};

/// `audit history` as text: one line per snapshot.
pub fn history_text(
    target: &str,
    rows: &[HistoryRow],
    tz: Tz,
    w: &mut dyn Write,
) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(w, "{}: no snapshots in this window", visible(target));
    }
    writeln!(
        w,
        "{:>6}  {:<25}  {:<12}  {:<9}  {:<6}  REQUEST ID",
        "ID", "OBSERVED", "CONFIG", "CHANGE", "SOURCE"
    )?;
    for r in rows {
        writeln!(
            w,
            "{:>6}  {:<25}  {:<12}  {:<9}  {:<6}  {}",
            r.meta.id,
            fmt_time(r.meta.observed_at, tz),
            short(&r.meta.config_hash),
            if r.first {
                "first"
            } else if r.changed {
                "changed"
            } else {
                "unchanged"
            },
            r.meta.source,
            visible(r.meta.request_id.as_deref().unwrap_or("-")),
        )?;
    }
    Ok(())
}

/// The history JSON document: `{schema, target, snapshots:[{id, at, request_id, config_hash, changed}]}`.
pub fn history_json_value(target: &str, rows: &[HistoryRow]) -> serde_json::Value {
    json!({
        "schema": "tcss-audit/history/v1",
        "target": target,
        "snapshots": rows.iter().map(|r| json!({
            "id": r.meta.id,
            "at": fmt_utc(r.meta.observed_at),
            "request_id": r.meta.request_id,
            "config_hash": r.meta.config_hash,
            "changed": r.changed,
        })).collect::<Vec<_>>(),
    })
}

/// One line for a recorded observation: target, id, time, changed or unchanged, short hash.
pub fn recorded_line(target: &str, r: &Recorded, tz: Tz, w: &mut dyn Write) -> io::Result<()> {
    let state = if r.duplicate {
        "already recorded"
    } else if r.first {
        "first"
    } else if r.changed {
        "changed"
    } else {
        "unchanged"
    };
    writeln!(
        w,
        "{}  #{}  {}  {state}  {}",
        visible(target),
        r.id,
        fmt_time(r.observed_at, tz),
        short(&r.config_hash)
    )
}

/// `audit verify` as text.
pub fn verify_text(report: &VerifyReport, w: &mut dyn Write) -> io::Result<()> {
    match &report.first_break {
        None => writeln!(
            w,
            "chain holds: {} snapshots and {} configs verified",
            report.checked, report.configs_checked
        ),
        Some(b) => writeln!(
            w,
            "chain BROKEN at snapshot {}: {} ({} snapshots read)",
            b.snapshot,
            visible(&b.reason),
            report.checked
        ),
    }
}

/// `audit verify` as JSON.
pub fn verify_json(report: &VerifyReport, w: &mut dyn Write) -> io::Result<()> {
    write_json(
        w,
        &json!({
            "schema": "tcss-audit/verify/v1",
            "ok": report.ok(),
            "checked": report.checked,
            "configs_checked": report.configs_checked,
            "first_break": report.first_break,
        }),
    )
}

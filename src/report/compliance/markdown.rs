//! The compliance report as Markdown for a code host: a header, a summary table, one section per
//! target, the run when there was one, and the chain check.

use std::io::{self, Write};

use serde_json::Value;

use super::parts::{
    ConfigValue, Outcome, Seen, Shown, config_rows, days_sentence, enable_of, evidence_roles,
    failing_rules, image_parts, names_field, not_observed_verdict, run_outcome, seen_value,
    severities, share, source_name,
};
use super::{
    ComplianceReport, DayRow, DayStatus, MAX_DAILY_DAYS, RunTarget, SeverityCounts, TargetReport,
    TargetSection, day_range, day_rows, month_rows, window_days,
};
use crate::policy::RuleStatus;
use crate::report::markdown::{code, text, value_code};
use crate::task::diff::{Change, ChangeKind};
use crate::task::when::fmt_time;

/// An image as a person reads it: its tag, digest and registry, not its JSON.
fn image_text(v: &Value) -> String {
    let parts = image_parts(v);
    if parts.is_empty() {
        return value_code(v);
    }
    parts
        .iter()
        .map(|(label, value)| format!("{label} {}", code(value)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn change_text(c: &Change) -> String {
    let show = |v: &Option<Value>| match v {
        Some(v) if c.is_whole_image() => image_text(v),
        Some(v) => value_code(v),
        None => String::new(),
    };
    match c.kind {
        ChangeKind::Added => format!("added {}", show(&c.new)),
        ChangeKind::Removed => format!("removed {}", show(&c.old)),
        ChangeKind::Changed => format!("{} -> {}", show(&c.old), show(&c.new)),
    }
}

/// One row of the summary table: what it needs of a target's part, kept when the part itself
/// is let go (a report written a target at a time).
#[derive(Debug, Clone)]
pub struct SummaryRow {
    name: String,
    compliant: bool,
    failed_this_run: bool,
    failures: SeverityCounts,
    changes: usize,
    snapshots: usize,
    compliant_days: usize,
    observed_days: usize,
    gaps: usize,
    not_observed: usize,
}

impl SummaryRow {
    pub fn of(t: &TargetReport) -> SummaryRow {
        SummaryRow {
            name: t.name.clone(),
            compliant: t.compliant,
            failed_this_run: t.failed_this_run,
            failures: t.failures_by_severity,
            changes: t.changes.len(),
            snapshots: t.snapshots,
            compliant_days: t.compliant_days,
            observed_days: t.observed_days,
            gaps: t.gaps.len(),
            not_observed: t.not_observed.len(),
        }
    }
}

pub fn markdown(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<SummaryRow> = r.targets.iter().map(SummaryRow::of).collect();
    markdown_head(r, &rows, w)?;
    for t in &r.targets {
        target_section(r, t, w)?;
    }
    markdown_tail(r, w)
}

/// The header, the summary table of `rows`, and the run: everything before the targets'
/// sections. `r`'s own targets are not read.
pub fn markdown_head(
    r: &ComplianceReport,
    rows: &[SummaryRow],
    w: &mut dyn Write,
) -> io::Result<()> {
    markdown_head_with(
        r,
        &mut |w| rows.iter().try_for_each(|t| summary_line(t, w)),
        w,
    )
}

/// One line of the summary table.
pub fn summary_line(t: &SummaryRow, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "| {} | {} | {} | {} | {} | {} | {} | {} |",
        code(&t.name),
        match (t.failed_this_run, t.compliant) {
            (true, _) => "**not audited** (this run failed)",
            (false, true) => "yes",
            (false, false) => "**no**",
        },
        severities(&t.failures),
        t.changes,
        t.snapshots,
        share(t.compliant_days, t.observed_days),
        t.gaps,
        t.not_observed
    )
}

/// [`markdown_head`] with the summary table's lines written by `rows` (a report written a
/// target at a time keeps them in a temporary file: at 10,000 targets they are a megabyte).
pub fn markdown_head_with(
    r: &ComplianceReport,
    rows: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    w: &mut dyn Write,
) -> io::Result<()> {
    let tz = r.tz;
    let day_count = window_days(r.window.since, r.window.until, tz).len();
    writeln!(w, "# TCSS scheduled scan compliance report")?;
    writeln!(w)?;
    writeln!(
        w,
        "- Window: {} to {} ({day_count} day{} in {})",
        fmt_time(r.window.since, tz),
        fmt_time(r.window.until, tz),
        if day_count == 1 { "" } else { "s" },
        tz.name()
    )?;
    writeln!(w, "- Generated: {}", fmt_time(r.generated_at, tz))?;
    writeln!(w, "- Tool: tcss-audit {}", r.tool_version)?;
    writeln!(
        w,
        "- Compliant means: no rule of severity {} or above fails or cannot be evaluated (waived failures do not count); a day is judged by its last snapshot, as of that snapshot's time",
        r.fail_on
    )?;
    writeln!(w, "- Policies:")?;
    for p in &r.policies {
        writeln!(
            w,
            "  - {}: {}, SHA-256 {}",
            text(&p.name),
            code(&p.file),
            code(&p.sha256)
        )?;
    }
    writeln!(w)?;
    writeln!(w, "## Summary")?;
    writeln!(w)?;
    writeln!(
        w,
        "| Target | Compliant at {} | Failing now | Changes | Snapshots | Observed days compliant | Missed nights | Days not observed |",
        r.fail_on
    )?;
    writeln!(w, "|---|---|---|---|---|---|---|---|")?;
    rows(w)?;
    if let Some(run) = &r.run {
        run_section(run, w)?;
    }
    if !r.notifications_failed.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "**Notifications not delivered** (they are tried again at the next run):"
        )?;
        writeln!(w)?;
        for n in &r.notifications_failed {
            writeln!(w, "- {}", text(n))?;
        }
    }
    Ok(())
}

/// The chain of custody: everything after the targets' sections.
pub fn markdown_tail(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w)?;
    writeln!(w, "## Chain of custody")?;
    writeln!(w)?;
    let i = &r.integrity;
    match &i.first_break {
        None => writeln!(
            w,
            "The hash chain holds: {} snapshots and {} configs of the whole history were re-hashed and verified, and {} change events and {} first-seen fields match what the snapshots imply.",
            i.checked, i.configs_checked, i.events_checked, i.fields_checked
        )?,
        Some(b) => writeln!(
            w,
            "**The hash chain is BROKEN** at snapshot #{}: {} ({} snapshots read). The history cannot be relied on past that point.",
            b.snapshot,
            text(&b.reason),
            i.checked
        )?,
    }
    if let Some(why) = &i.signature_line_broken {
        writeln!(w)?;
        writeln!(
            w,
            "**Signature line broken**: {}. This run recorded its observations without signing them and this report carries no signature.",
            text(why)
        )?;
    }
    // File this report where the database's writers cannot change it: `audit verify --witness`
    // then proves that the history still holds this head unchanged.
    writeln!(w)?;
    writeln!(
        w,
        "{}",
        crate::trust::witness::markdown_head_line(i.head.as_ref())
    )
}

fn run_section(run: &[RunTarget], w: &mut dyn Write) -> io::Result<()> {
    writeln!(w)?;
    writeln!(w, "## This run")?;
    writeln!(w)?;
    writeln!(w, "| Target | Outcome | Exit code |")?;
    writeln!(w, "|---|---|---|")?;
    for t in run {
        let outcome = match run_outcome(t) {
            Outcome::Failed(e) => format!("**FAILED**: {}", text(e)),
            Outcome::Done(words) => words,
        };
        writeln!(w, "| {} | {outcome} | {} |", code(&t.target), t.exit_code)?;
    }
    let failed: Vec<String> = run
        .iter()
        .filter(|t| t.error.is_some())
        .map(|t| code(&t.target))
        .collect();
    writeln!(w)?;
    if failed.is_empty() {
        writeln!(w, "Every target was recorded.")
    } else {
        writeln!(w, "**Failed targets:** {}.", failed.join(", "))
    }
}

/// One target's section; of `r`, only what the whole report shares is read (not its targets).
/// It walks [`TargetSection::of`], as the HTML report does.
pub fn target_section(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w)?;
    writeln!(w, "## Target {}", code(&t.name))?;
    for part in TargetSection::of(t) {
        writeln!(w)?;
        if let Some(title) = part.title() {
            writeln!(w, "### {title}")?;
            writeln!(w)?;
        }
        match part {
            TargetSection::Latest => latest_part(r, t, w)?,
            TargetSection::Configuration => config_part(t, w)?,
            TargetSection::FailingRules => failing_part(r, t, w)?,
            TargetSection::Waivers => waivers_part(t, w)?,
            TargetSection::Drift => drift_part(r, t, w)?,
            TargetSection::Baseline => baseline_part(r, t, w)?,
            TargetSection::Restores => restores_part(r, t, w)?,
            TargetSection::Days => days_part(r, t, w)?,
            TargetSection::Evidence => evidence_part(r, t, w)?,
        }
    }
    Ok(())
}

/// The latest snapshot, its verdict and the account it came from.
fn latest_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    let (Some(latest), Some(check)) = (&t.latest, &t.check) else {
        return writeln!(
            w,
            "No snapshot at or before {}: nothing to judge.",
            fmt_time(r.window.until, tz)
        );
    };
    let s = check.summary;
    writeln!(
        w,
        "Latest snapshot #{} at {} (RequestId {}), judged as of {}: **{}** at {}. Rules: {} pass, {} fail, {} waived, {} error.",
        latest.id,
        fmt_time(latest.at, tz),
        latest
            .request_id
            .as_deref()
            .map(code)
            .unwrap_or_else(|| "none".into()),
        fmt_time(r.window.until.min(r.generated_at), tz),
        if t.compliant {
            "compliant"
        } else {
            "not compliant"
        },
        r.fail_on,
        s.pass,
        s.fail,
        s.waived,
        s.error
    )?;
    if let Some(id) = &latest.identity {
        writeln!(w)?;
        writeln!(
            w,
            "Audited account: {} ({}, {}), as `sts:GetCallerIdentity` said for the credentials that fetched it.",
            code(&id.account),
            code(&id.arn),
            text(&id.principal_type)
        )?;
    }
    for c in &t.account_changes {
        writeln!(w)?;
        writeln!(
            w,
            "**The account changed** at snapshot #{} ({}): the answers came from account {} before and from {} since. Check that the target's credentials reach the account meant.",
            c.snapshot,
            fmt_time(c.at, tz),
            code(&c.from),
            code(&c.to)
        )?;
    }
    Ok(())
}

fn config_part(t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let rows = config_rows(t);
    if rows.is_empty() {
        return writeln!(w, "The config is empty.");
    }
    writeln!(w, "| Field | Value |")?;
    writeln!(w, "|---|---|")?;
    for (field, value) in rows {
        match value {
            ConfigValue::Image(image) => {
                writeln!(w, "| {} | {} |", code(&field), image_text(image))?
            }
            ConfigValue::Value(v) => writeln!(w, "| {} | {} |", code(&field), value_code(v))?,
        }
    }
    Ok(())
}

fn failing_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let failing = failing_rules(t);
    if failing.is_empty() {
        writeln!(w, "No rule fails.")?;
    }
    for (i, res) in failing.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        let below = if res.severity < r.fail_on {
            format!(", below {}: does not count", r.fail_on)
        } else {
            String::new()
        };
        let status = if res.status == RuleStatus::Error {
            ", could not be evaluated"
        } else {
            ""
        };
        writeln!(
            w,
            "#### {} ({}{status}{below}): {}",
            text(&res.rule),
            res.severity,
            text(&res.title)
        )?;
        writeln!(w)?;
        // A rule on the whole config or on the observations names no field of the task.
        if names_field(res) {
            writeln!(w, "- Field: {}", code(&res.field))?;
        }
        let seen = match seen_value(res) {
            Seen::Text(s) => code(s),
            Seen::Value(v) => value_code(v),
        };
        writeln!(w, "- Seen: {}: {seen}", text(&res.measured.to_string()))?;
        writeln!(w, "- Expected: {}", code(&res.expected))?;
        writeln!(w, "- Finding: {}", text(&res.message))?;
        writeln!(w, "- Remediation: {}", text(&res.remediation))?;
    }
    Ok(())
}

fn waivers_part(t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    if t.waivers.is_empty() {
        return writeln!(w, "None.");
    }
    writeln!(w, "| Rule | Owner | Reason | Expires |")?;
    writeln!(w, "|---|---|---|---|")?;
    for v in &t.waivers {
        writeln!(
            w,
            "| {} | {} | {} | {} |",
            code(&v.rule),
            text(&v.owner),
            text(&v.reason),
            v.expires
        )?;
    }
    Ok(())
}

fn drift_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    if t.changes.is_empty() {
        return writeln!(w, "No changes.");
    }
    writeln!(
        w,
        "A change happened after the earlier snapshot and was seen at the later one."
    )?;
    writeln!(w)?;
    writeln!(w, "| Between | Field | Change |")?;
    writeln!(w, "|---|---|---|")?;
    for e in &t.changes {
        let from = match e.from_at {
            Some(at) => format!("#{} ({})", e.from, fmt_time(at, tz)),
            None => format!("#{}", e.from),
        };
        for c in &e.changes {
            writeln!(
                w,
                "| {from} and #{} ({}) | {} | {} |",
                e.to,
                fmt_time(e.at, tz),
                code(&c.path),
                change_text(c)
            )?;
        }
    }
    Ok(())
}

fn evidence_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    writeln!(
        w,
        "| Snapshot | Observed | Source | Recorded | Account | RequestId | Config hash | Role |"
    )?;
    writeln!(w, "|---|---|---|---|---|---|---|---|")?;
    for e in &t.evidence {
        writeln!(
            w,
            "| #{} | {} | {} | {} | {} | {} | {} | {} |",
            e.id,
            fmt_time(e.at, tz),
            source_name(e.source),
            fmt_time(e.recorded_at, tz),
            e.identity
                .as_ref()
                .map(|i| code(&i.account))
                .unwrap_or_else(|| "not known".into()),
            e.request_id
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "none".into()),
            code(&e.config_hash),
            evidence_roles(t, e.id).join("; ")
        )?;
    }
    Ok(())
}

/// The drift from the approved baseline, beside the night-to-night drift above it.
fn baseline_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let Some(b) = &t.baseline else {
        return writeln!(
            w,
            "No approved baseline (`audit baseline approve` records one)."
        );
    };
    writeln!(
        w,
        "Baseline approved {} by {}{} (config {}): {}",
        fmt_time(b.approved_at, r.tz),
        text(&b.by),
        b.snapshot
            .map(|s| format!(" from snapshot #{s}"))
            .unwrap_or_default(),
        code(&b.config_hash),
        text(&b.reason)
    )?;
    writeln!(w)?;
    if b.equals {
        return writeln!(w, "The latest config **equals** it.");
    }
    writeln!(
        w,
        "The latest config **differs** from it (`audit restore --to baseline` plans putting it back):"
    )?;
    writeln!(w)?;
    writeln!(w, "| Field | Baseline -> latest |")?;
    writeln!(w, "|---|---|")?;
    for c in &b.changes {
        writeln!(w, "| {} | {} |", code(&c.path), change_text(c))?;
    }
    Ok(())
}

/// The restores applied in the window.
fn restores_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "| When | By | To | Fields sent | Read back | Outcome |")?;
    writeln!(w, "|---|---|---|---|---|---|")?;
    for x in &t.restores {
        writeln!(
            w,
            "| {} | {} | {} {} | {} | {} | {} |",
            fmt_time(x.at, r.tz),
            text(&x.by),
            text(&x.restored_to),
            code(&x.config_hash),
            codes(&x.fields),
            x.snapshot
                .map(|s| format!("#{s}"))
                .unwrap_or_else(|| "-".into()),
            if x.converged {
                "converged".to_string()
            } else {
                format!("**not converged**: {}", codes(&x.not_taken))
            }
        )?;
    }
    Ok(())
}

/// A long window month by month: how each month's days were judged, and which rules failed on
/// how many of them.
fn months_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w)?;
    writeln!(
        w,
        "The window is longer than {MAX_DAILY_DAYS} days: its days are summarized month by month here; the day-by-day detail is in the JSON report (`daily`) and the HTML report."
    )?;
    writeln!(w)?;
    writeln!(
        w,
        "| Month | Days | Compliant | Failing | Missed nights | Not observed | Failing at {} (days) |",
        r.fail_on
    )?;
    writeln!(w, "|---|---|---|---|---|---|---|")?;
    for m in month_rows(&t.daily) {
        writeln!(
            w,
            "| {}-{:02} | {} | {} | {} | {} | {} | {} |",
            m.year,
            m.month,
            m.days,
            m.compliant,
            if m.failing > 0 {
                format!("**{}**", m.failing)
            } else {
                "0".into()
            },
            m.missed,
            m.not_observed,
            m.rules
                .iter()
                .map(|(rule, n)| format!("{} ({n})", code(rule)))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    Ok(())
}

/// Names as code, comma-separated.
fn codes(names: &[String]) -> String {
    names.iter().map(|f| code(f)).collect::<Vec<_>>().join(", ")
}

fn days_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{}", days_sentence(r, t))?;
    if t.daily.is_empty() {
        return Ok(());
    }
    if t.daily.len() > MAX_DAILY_DAYS {
        return months_part(r, t, w);
    }
    writeln!(w)?;
    writeln!(
        w,
        "| Day | Verdict | Snapshot | Enable | Scan types | Failing at {} |",
        r.fail_on
    )?;
    writeln!(w, "|---|---|---|---|---|---|")?;
    for row in day_rows(&t.daily) {
        let d = match row {
            DayRow::Day(d) => d,
            DayRow::NotObserved { first, last, days } => {
                writeln!(
                    w,
                    "| {} | {} | | | | |",
                    day_range(first, last),
                    not_observed_verdict(days)
                )?;
                continue;
            }
        };
        let verdict = match d.status {
            DayStatus::Compliant => "compliant",
            DayStatus::Failing => "**failing**",
            DayStatus::Missed => "**missed night**",
            DayStatus::NotObserved => "not observed",
        };
        let snap = match (d.snapshot, d.at) {
            (Some(id), Some(at)) => format!("#{id} at {}", fmt_time(at, r.tz)),
            _ => String::new(),
        };
        let enable = match enable_of(d) {
            Shown::Plain(s) => s.to_string(),
            Shown::Alarm(s) => format!("**{s}**"),
            Shown::Value(v) => value_code(v),
        };
        let types = match &d.scan_type {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(code).unwrap_or_else(|| value_code(v)))
                .collect::<Vec<_>>()
                .join(" "),
            Some(other) => value_code(other),
            None if d.snapshot.is_some() => "none".to_string(),
            None => String::new(),
        };
        writeln!(
            w,
            "| {} | {verdict} | {snap} | {enable} | {types} | {} |",
            d.date,
            codes(&d.failing)
        )?;
    }
    Ok(())
}

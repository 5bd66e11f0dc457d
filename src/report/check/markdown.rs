//! The Markdown check report, for pull requests, tickets and audit files.

use std::io::{self, Write};

use super::ordered;
use crate::policy::{CheckReport, RuleStatus};
use crate::report::markdown::{code, text as cell};

/// Times are shown in `tz`.
pub fn markdown(report: &CheckReport, tz: chrono_tz::Tz, w: &mut dyn Write) -> io::Result<()> {
    let s = report.summary;
    writeln!(w, "# Policy check: {}", cell(&report.target))?;
    writeln!(w)?;
    writeln!(
        w,
        "Snapshot {} at {}, config `{}`.",
        report.snapshot.id,
        crate::task::when::fmt_time(report.snapshot.at, tz),
        report.snapshot.config_hash
    )?;
    writeln!(w)?;
    writeln!(
        w,
        "**{} pass, {} fail, {} waived, {} error**",
        s.pass, s.fail, s.waived, s.error
    )?;
    writeln!(w)?;
    writeln!(w, "| Status | Severity | Rule | Title | Field | Finding |")?;
    writeln!(w, "|---|---|---|---|---|---|")?;
    for r in ordered(report) {
        let status = match r.status {
            RuleStatus::Fail => "**fail**",
            RuleStatus::Error => "**error**",
            RuleStatus::Waived => "waived",
            RuleStatus::Pass => "pass",
        };
        writeln!(
            w,
            "| {status} | {} | {} | {} | {} | {} |",
            r.severity,
            code(&r.rule),
            cell(&r.title),
            code(&r.field),
            cell(&r.message)
        )?;
    }
    let todo: Vec<_> = ordered(report)
        .into_iter()
        .filter(|r| r.status.is_failing())
        .collect();
    if !todo.is_empty() {
        writeln!(w)?;
        writeln!(w, "## What to do")?;
        writeln!(w)?;
        for r in todo {
            writeln!(
                w,
                "- **{}** ({}): {}",
                cell(&r.rule),
                r.severity,
                cell(&r.remediation)
            )?;
        }
    }
    let waived: Vec<_> = report
        .results
        .iter()
        .filter_map(|r| r.waiver.as_ref())
        .collect();
    if !waived.is_empty() || !report.waiver_notes.is_empty() {
        writeln!(w)?;
        writeln!(w, "## Waivers")?;
        writeln!(w)?;
        for v in waived {
            writeln!(
                w,
                "- {} waived until {} by {}: {}",
                code(&v.rule),
                v.expires,
                cell(&v.owner),
                cell(&v.reason)
            )?;
        }
        for n in &report.waiver_notes {
            writeln!(w, "- note: {} ({})", cell(&n.message), n.location)?;
        }
    }
    writeln!(w)?;
    writeln!(w, "## Policies")?;
    writeln!(w)?;
    for p in &report.policies {
        writeln!(
            w,
            "- {} ({}, sha256 `{}`)",
            cell(&p.name),
            code(&p.file),
            p.sha256
        )?;
    }
    Ok(())
}

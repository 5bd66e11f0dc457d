//! The plain-text check report: one line per result, failures first; colour only when asked.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use super::ordered;
use chrono_tz::Tz;

use crate::policy::{CheckReport, RuleStatus};
use crate::report::Color;
use crate::task::text::visible;

/// Writes one line per result, with the remediation under each failure, then waiver notes and a
/// summary line.
/// Times are shown in `tz`.
pub fn text(report: &CheckReport, color: Color, tz: Tz, w: &mut dyn Write) -> io::Result<()> {
    for r in ordered(report) {
        let label = format!("{:<6}", r.status.as_str().to_uppercase());
        let label = match (color, r.status) {
            (Color::Plain, _) => label,
            (Color::Ansi, RuleStatus::Fail) => label.red().bold().to_string(),
            (Color::Ansi, RuleStatus::Error) => label.magenta().bold().to_string(),
            (Color::Ansi, RuleStatus::Waived) => label.yellow().to_string(),
            (Color::Ansi, RuleStatus::Pass) => label.green().to_string(),
        };
        writeln!(
            w,
            "{label} {:<8} {:<14} {}: {}",
            r.severity.as_str(),
            visible(&r.rule),
            visible(&r.title),
            visible(&r.message)
        )?;
        if r.status.is_failing() && !r.remediation.is_empty() {
            writeln!(w, "{:>31}fix: {}", "", visible(&r.remediation))?;
        }
    }
    for n in &report.waiver_notes {
        writeln!(w, "note: {} ({})", visible(&n.message), n.location)?;
    }
    let s = report.summary;
    writeln!(
        w,
        "{} snapshot {} at {}: {} pass, {} fail, {} waived, {} error",
        visible(&report.target),
        report.snapshot.id,
        crate::task::when::fmt_time(report.snapshot.at, tz),
        s.pass,
        s.fail,
        s.waived,
        s.error
    )
}

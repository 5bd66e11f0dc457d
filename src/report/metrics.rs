//! The run's metrics in the Prometheus text exposition format, for node_exporter's textfile
//! collector (the file is written whole and renamed into place by the caller).

use std::collections::BTreeMap;
use std::io::{self, Write};

use chrono::{DateTime, Utc};

/// One target's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetMetrics {
    pub target: String,
    pub compliant: bool,
    /// Failing rules by severity (every severity present, 0 where none fails).
    pub failing_by_severity: BTreeMap<String, u64>,
    /// Changes between the snapshot this run recorded and the one before it.
    pub drift_changes: u64,
    /// The newest snapshot recorded without error.
    pub last_success: Option<DateTime<Utc>>,
    /// Seconds since the newest snapshot was observed.
    pub snapshot_age_seconds: Option<f64>,
    /// `Enable` in the newest snapshot: is scheduled scanning on?
    pub scan_enabled: Option<bool>,
}

/// The run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetrics {
    pub duration_seconds: f64,
    pub exit_code: crate::task::exit::ExitCode,
    pub chain_ok: bool,
    pub targets: Vec<TargetMetrics>,
}

/// A label value as the format wants it: backslash, double quote and newline escaped.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(w: &mut dyn Write, name: &str, kind: &str, help: &str) -> io::Result<()> {
    writeln!(w, "# HELP {name} {help}")?;
    writeln!(w, "# TYPE {name} {kind}")
}

/// Writes every metric family, targets in name order.
pub fn prometheus(m: &RunMetrics, w: &mut dyn Write) -> io::Result<()> {
    let mut targets: Vec<&TargetMetrics> = m.targets.iter().collect();
    targets.sort_by(|a, b| a.target.cmp(&b.target));
    family(
        w,
        "tcss_audit_compliant",
        "gauge",
        "1 when the target's scan task has no failing rule at or above fail_on, else 0.",
    )?;
    for t in &targets {
        writeln!(
            w,
            "tcss_audit_compliant{{target=\"{}\"}} {}",
            label(&t.target),
            u8::from(t.compliant)
        )?;
    }
    family(
        w,
        "tcss_audit_scan_enabled",
        "gauge",
        "1 when the newest snapshot has the scheduled scan switched on (Enable), else 0.",
    )?;
    for t in &targets {
        if let Some(on) = t.scan_enabled {
            writeln!(
                w,
                "tcss_audit_scan_enabled{{target=\"{}\"}} {}",
                label(&t.target),
                u8::from(on)
            )?;
        }
    }
    family(
        w,
        "tcss_audit_failing_rules",
        "gauge",
        "Rules failing (or not evaluable) on the target's newest snapshot, by severity.",
    )?;
    for t in &targets {
        for (severity, n) in &t.failing_by_severity {
            writeln!(
                w,
                "tcss_audit_failing_rules{{target=\"{}\",severity=\"{}\"}} {n}",
                label(&t.target),
                label(severity)
            )?;
        }
    }
    family(
        w,
        "tcss_audit_drift_changes",
        "gauge",
        "Changes between the snapshot this run recorded and the one before it.",
    )?;
    for t in &targets {
        writeln!(
            w,
            "tcss_audit_drift_changes{{target=\"{}\"}} {}",
            label(&t.target),
            t.drift_changes
        )?;
    }
    family(
        w,
        "tcss_audit_last_success_timestamp_seconds",
        "gauge",
        "When the target's newest snapshot recorded without error was observed (Unix time).",
    )?;
    for t in &targets {
        if let Some(at) = t.last_success {
            writeln!(
                w,
                "tcss_audit_last_success_timestamp_seconds{{target=\"{}\"}} {}",
                label(&t.target),
                at.timestamp()
            )?;
        }
    }
    family(
        w,
        "tcss_audit_snapshot_age_seconds",
        "gauge",
        "Seconds since the target's newest snapshot was observed, at the end of the run.",
    )?;
    for t in &targets {
        if let Some(age) = t.snapshot_age_seconds {
            writeln!(
                w,
                "tcss_audit_snapshot_age_seconds{{target=\"{}\"}} {age:.3}",
                label(&t.target)
            )?;
        }
    }
    family(
        w,
        "tcss_audit_run_duration_seconds",
        "gauge",
        "How long the run took.",
    )?;
    writeln!(
        w,
        "tcss_audit_run_duration_seconds {:.3}",
        m.duration_seconds
    )?;
    family(
        w,
        "tcss_audit_run_exit_code",
        "gauge",
        "The run's exit code: 0 done, 1 found wanting, 2 usage, 3 remote, 4 storage.",
    )?;
    writeln!(w, "tcss_audit_run_exit_code {}", m.exit_code)?;
    family(
        w,
        "tcss_audit_chain_ok",
        "gauge",
        "1 when the history's hash chain and derived tables verified at the end of the run.",
    )?;
    writeln!(w, "tcss_audit_chain_ok {}", u8::from(m.chain_ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

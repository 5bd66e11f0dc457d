//! Placeholder until the compliance report lands.
use std::io::{self, Write};

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;

use crate::policy::{PolicySet, Severity};
use crate::store::Store;

pub struct ReportOptions {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub tz: Tz,
    pub fail_on: Severity,
    pub generated_at: DateTime<Utc>,
    pub api_offset: FixedOffset,
}
#[derive(Debug, Clone)]
pub struct RunTarget {
    pub target: String,
    pub snapshot: Option<i64>,
    pub changed: Option<bool>,
    pub error: Option<String>,
    pub exit_code: u8,
}
pub struct ComplianceReport;
pub fn build(
    _: &Store,
    _: &PolicySet,
    _: &[String],
    _: &ReportOptions,
    _: Option<&[RunTarget]>,
) -> Result<ComplianceReport, crate::Error> {
    Ok(ComplianceReport)
}
pub fn markdown(_: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "stub")
}
pub fn json(_: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{{}}")
}

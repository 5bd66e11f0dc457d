//! Renderers of a [`CheckReport`](crate::policy::CheckReport), one per `--format`, each writing to a `Write`.

mod junit;
mod markdown;
mod ocsf;
mod sarif;
mod text;

pub use junit::junit;
pub use markdown::markdown;
pub use ocsf::{
    CloudOf, OCSF_VERSION, events as ocsf_events, ocsf, render_events as render_ocsf_events,
};
pub use sarif::sarif;
pub use text::text;

use std::io::{self, Write};

use crate::policy::{CheckReport, RuleResult, RuleStatus};

/// The `schema` of the JSON check document.
pub const CHECK_SCHEMA: &str = "tcss-audit/check/v1";

#[derive(serde::Serialize)]
struct Versioned<'a> {
    schema: &'static str,
    #[serde(flatten)]
    report: &'a CheckReport,
}

/// The check as its JSON document (`schema` [`CHECK_SCHEMA`]), pretty and deterministic.
pub fn json(report: &CheckReport, w: &mut dyn Write) -> io::Result<()> {
    super::write_json(
        w,
        &Versioned {
            schema: CHECK_SCHEMA,
            report,
        },
    )
}

/// The check's JSON document (what [`json`] writes) as a value.
pub fn document(report: &CheckReport) -> serde_json::Result<serde_json::Value> {
    serde_json::to_value(Versioned {
        schema: CHECK_SCHEMA,
        report,
    })
}

/// Results as people read them: failures and errors first, then by severity, most severe first;
/// rule order otherwise.
pub(crate) fn ordered(report: &CheckReport) -> Vec<&RuleResult> {
    let rank = |s: RuleStatus| match s {
        RuleStatus::Fail => 0,
        RuleStatus::Error => 1,
        RuleStatus::Waived => 2,
        RuleStatus::Pass => 3,
    };
    let mut v: Vec<&RuleResult> = report.results.iter().collect();
    v.sort_by_key(|r| (rank(r.status), std::cmp::Reverse(r.severity)));
    v
}

#[cfg(test)]
mod tests;

//! SARIF 2.1.0 output, for code-scanning dashboards: one rule per policy rule, one result per failure.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::policy::{CheckReport, RuleStatus, Severity};

/// The SARIF level of a severity.
pub fn level(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The SARIF log; only failed and waived results appear, waived ones with an external suppression.
pub fn sarif(report: &CheckReport, w: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = report
        .results
        .iter()
        .map(|r| {
            json!({
                "id": r.rule,
                "name": r.rule,
                "shortDescription": { "text": r.title },
                "fullDescription": { "text": format!("{}: {} {}", r.title, r.field, r.expected) },
                "help": { "text": r.remediation },
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": { "severity": r.severity.as_str() },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .results
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.status, RuleStatus::Fail | RuleStatus::Waived))
        .map(|(i, r)| {
            let mut result = json!({
                "ruleId": r.rule,
                "ruleIndex": i,
                "level": level(r.severity),
                "message": { "text": r.message },
                "locations": [{
                    "logicalLocations": [{
                        "name": r.field,
                        "fullyQualifiedName": format!("{}/{}", report.target, r.field),
                        "kind": "member",
                    }],
                }],
                "properties": {
                    "target": report.target,
                    "snapshot": report.snapshot.id,
                    "actual": r.actual,
                    "expected": r.expected,
                },
            });
            if let Some(waiver) = &r.waiver {
                result["suppressions"] = json!([{
                    "kind": "external",
                    "justification": format!(
                        "{} (owner {}, expires {})",
                        waiver.reason, waiver.owner, waiver.expires
                    ),
                }]);
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "tcss-audit",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                },
            },
            "automationDetails": { "id": format!("tcss-audit/check/{}", report.target) },
            "results": results,
        }],
    });
    crate::report::write_json(w, &log)
}

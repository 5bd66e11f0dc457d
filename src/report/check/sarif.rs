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

/// A policy file's path as a relative URI reference: `/` between segments, and the few
/// characters a URI cannot hold as they are percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.replace('\\', "/").chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' | '/' | ':' => out.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
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
                    // Code-scanning front ends place a result by its physical location: the
                    // rule that failed, in its policy file.
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&r.location.file) },
                        "region": {
                            "startLine": r.location.line.max(1),
                            "startColumn": r.location.col.max(1),
                        },
                    },
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

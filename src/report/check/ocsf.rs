//! `audit check --format ocsf`: one OCSF 1.x Compliance Finding event (class_uid 2003) per rule
//! result, as a JSON array a SIEM ingests. The mapping, where OCSF leaves a choice:
//! - the resource is the target's scan task (`resources[0]`: its name, the account where known,
//!   the snapshot and config hash in `data`);
//! - the events follow the `cloud` profile (`metadata.profiles`): `cloud.provider` is Tencent
//!   Cloud, with the target's region and account where known;
//! - `compliance.standards` names the policy the rule comes from, `compliance.control` the rule;
//!   `compliance.status_id` is Pass (1), Fail (3), or Warning (2) for a rule that could not be
//!   evaluated; a waived failure is Fail with the finding's `status_id` Suppressed (3);
//! - `severity_id` follows the rule's severity: info 1, low 2, medium 3, high 4, critical 5;
//! - `time` is the snapshot's time (Unix milliseconds), `finding_info.uid` is
//!   `TARGET/RULE/SNAPSHOT`, stable for the same judgement.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::policy::{CheckReport, RuleStatus, Severity};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";

fn severity_id(s: Severity) -> (u8, &'static str) {
    match s {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// Where a target lives, where known: the UIN its snapshot came from, and the region its
/// config names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloudOf<'a> {
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
}

/// The events of one check report.
pub fn events(report: &CheckReport, place: CloudOf<'_>) -> Vec<Value> {
    let time = report.snapshot.at.timestamp_millis();
    report
        .results
        .iter()
        .map(|r| {
            let (sev_id, sev) = severity_id(r.severity);
            let (compliance_id, compliance) = match r.status {
                RuleStatus::Pass => (1, "Pass"),
                RuleStatus::Error => (2, "Warning"),
                RuleStatus::Fail | RuleStatus::Waived => (3, "Fail"),
            };
            let (status_id, status) = match r.status {
                RuleStatus::Pass => (4, "Resolved"),
                RuleStatus::Waived => (3, "Suppressed"),
                RuleStatus::Fail | RuleStatus::Error => (1, "New"),
            };
            let standard = report
                .policies
                .iter()
                .find(|p| p.file == r.policy_file)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| r.policy_file.clone());
            let mut resource = json!({
                "type": "TCSS scheduled image-registry scan task",
                "name": report.target,
                "uid": report.target,
                "data": {"snapshot": report.snapshot.id, "config_hash": report.snapshot.config_hash},
            });
            let mut cloud = json!({"provider": "Tencent Cloud"});
            if let Some(region) = place.region {
                cloud["region"] = json!(region);
            }
            if let Some(a) = place.account {
                resource["owner"] = json!({"account": {"uid": a, "type": "Tencent Cloud account"}});
                cloud["account"] = json!({"uid": a});
            }
            let mut event = json!({
                "activity_id": 1,
                "activity_name": "Create",
                "category_uid": 2,
                "category_name": "Findings",
                "class_uid": 2003,
                "class_name": "Compliance Finding",
                "type_uid": 200301,
                "type_name": "Compliance Finding: Create",
                "severity_id": sev_id,
                "severity": sev,
                "time": time,
                "message": r.message,
                "status_id": status_id,
                "status": status,
                "metadata": {
                    "version": OCSF_VERSION,
                    "product": {
                        "name": "tcss-audit",
                        "vendor_name": "tcss-audit",
                        "version": env!("CARGO_PKG_VERSION"),
                    },
                    "log_name": "audit check",
                    "profiles": ["cloud"],
                },
                "finding_info": {
                    "uid": format!("{}/{}/{}", report.target, r.rule, report.snapshot.id),
                    "title": r.title,
                    "desc": r.message,
                    "created_time": time,
                },
                "compliance": {
                    "standards": [standard],
                    "control": r.rule,
                    "status_id": compliance_id,
                    "status": compliance,
                    "status_detail": r.message,
                },
                "resources": [resource],
                "cloud": cloud,
            });
            if !r.remediation.is_empty() {
                event["remediation"] = json!({"desc": r.remediation});
            }
            if let Some(w) = &r.waiver {
                event["comment"] = json!(format!("waived: {}", w.reason));
            }
            event
        })
        .collect()
}

/// Every report's events as one JSON array.
pub fn ocsf(reports: &[(&CheckReport, CloudOf<'_>)], w: &mut dyn Write) -> io::Result<()> {
    let mut array = crate::report::PrettyArray::open(w)?;
    for (r, place) in reports {
        if let Some(events) = render_events(r, *place)? {
            array.push(&events, w)?;
        }
    }
    array.close(w)
}

/// One report's events as elements of the top-level array, joined, for
/// [`crate::report::PrettyArray::push`]; `None` when it has none.
pub fn render_events(report: &CheckReport, place: CloudOf<'_>) -> io::Result<Option<Vec<u8>>> {
    let mut out: Vec<u8> = Vec::new();
    for (i, e) in events(report, place).iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend(crate::report::pretty_element(e, 1)?);
    }
    Ok((!out.is_empty()).then_some(out))
}

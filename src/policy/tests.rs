//! Tests of loading, the shipped policies, and evaluation end to end.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::normalize::Status;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn obs(id: i64, when: &str, config: serde_json::Value, status: Status) -> Observation {
    Observation {
        snapshot_id: id,
        at: at(when),
        config: config.as_object().unwrap().clone(),
        status,
    }
}

#[test]
fn the_shipped_policies_load_without_warnings_and_pass_their_tests() {
    let loaded = builtin();
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    assert_eq!(loaded.set.files().len(), 2);
    assert!(loaded.set.tests().len() >= 15);
    let report = run_tests(&loaded.set);
    let failed: Vec<_> = report.outcomes.iter().filter(|o| !o.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(loaded.set.max_window(), chrono::Duration::days(30));
}

#[test]
fn the_reference_example_fails_the_vulnerability_scan_at_high() {
    let loaded = builtin();
    let seed = json!({
        "Enable": true, "ScanTime": "03:00:00", "ScanPeriod": 1, "ScanType": ["risk", "virus"],
        "All": false, "Id": [1], "Latest": true,
        "Images": [{"ImageDigest": "sha256:1319b1ea", "RegistryType": "ccr",
                    "ImageRepoAddress": "ccr.ccs.tencentyun.com/yunding/luping:v1",
                    "InstanceId": "ins-apqv42***", "InstanceName": "InstanceName",
                    "Namespace": "tcss", "ImageName": "yunding/luping", "ImageTag": "v1",
                    "Force": "Force"}]
    });
    let current = obs(1, "2026-10-01T19:00:00Z", seed, Status::default());
    let history = [current.clone()];
    let input = CheckInput {
        target: "default",
        now: at("2026-10-01T19:00:05Z"),
        current: &current,
        history: &history,
        api_offset: default_api_offset(),
        config_hash: "abc",
    };
    let report = evaluate(&loaded.set, &input);
    let r002 = report
        .results
        .iter()
        .find(|r| r.rule == "TCSS-SCAN-002")
        .unwrap();
    assert_eq!(r002.status, RuleStatus::Fail);
    assert!(r002.message.contains("\"vul\""), "{}", r002.message);
    assert_eq!(r002.severity, Severity::High);
    assert!(report.fails_at_or_above(Severity::High));
    assert!(!report.fails_at_or_above(Severity::Critical));
    let status = |id: &str| report.results.iter().find(|r| r.rule == id).unwrap().status;
    assert_eq!(status("TCSS-SCAN-001"), RuleStatus::Pass);
    assert_eq!(status("TCSS-SCAN-004"), RuleStatus::Fail);
    // One observation: nothing changed, no gap.
    assert_eq!(status("TCSS-CC-002"), RuleStatus::Pass);
    assert_eq!(status("TCSS-CC-003"), RuleStatus::Pass);
    assert_eq!(
        report.summary.pass + report.summary.fail + report.summary.waived + report.summary.error,
        report.results.len()
    );
}

//! Tests of loading, the shipped policies, and evaluation end to end.

use serde_json::json;

use super::*;
use crate::task::normalize::{self, Status};
use crate::test_support::at;

fn obs(id: i64, when: &str, config: serde_json::Value, status: Status) -> Observation {
    Observation {
        snapshot_id: id,
        at: at(when),
        config_hash: normalize::config_hash(&normalize::normalize(config.as_object().unwrap())),
        config: normalize::normalize(config.as_object().unwrap()),
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
        times: crate::policy::Times::default(),
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

const FIVE_MISTAKES: &str = r#"[policy]
name = "mistakes"

[[rule]]
id = "M-1"
title = "unknown op"
severity = "high"
field = "Enable"
op = "equals"
value = true
remediation = "x"

[[rule]]
id = "M-2"
title = "gt on a list"
severity = "low"
field = "ScanType"
op = "gt"
value = 1
remediation = "x"

[[rule]]
id = "M-3"
title = "broken regex"
severity = "low"
field = "ScanResult"
op = "matches"
value = "Succ(ess"
remediation = "x"

[[rule]]
title = "no id"
severity = "low"
field = "LastScanTime"
op = "within"
value = "two days"
remediation = "x"

[[waiver]]
rule = "M-404"
reason = "x"
owner = "me"
expires = "2027-01-01"
"#;

#[test]
fn five_kinds_of_mistake_give_every_located_error_in_one_load() {
    let err = load_str("p/mistakes.toml", FIVE_MISTAKES).unwrap_err();
    let errors: Vec<String> = err.errors().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 6, "{errors:#?}");
    let expect = [
        (
            "p/mistakes.toml:9:6: error[M-1]: unknown op `equals`",
            "valid ops: eq, ne",
        ),
        (
            "p/mistakes.toml:19:9: error[M-2]: `gt` does not apply to ScanType",
            "ops that do",
        ),
        ("p/mistakes.toml:28:9: error[M-3]:", "unclosed group"),
        (
            "p/mistakes.toml:31:1: error[rule #4]: rule #4 has no `id`",
            "add `id",
        ),
        ("p/mistakes.toml:36:9: error[rule #4]:", "not a duration"),
        (
            "p/mistakes.toml:40:8: error[waiver for M-404]:",
            "no loaded policy file defines",
        ),
    ];
    for ((start, has), got) in expect.iter().zip(&errors) {
        assert!(
            got.starts_with(start) && got.contains(has),
            "{got}\n{errors:#?}"
        );
    }
    let shown = err.to_string();
    assert!(shown.starts_with("6 errors in policy files"), "{shown}");
    assert_eq!(shown.lines().count(), 7);
}

#[test]
fn unknown_keys_are_errors_and_unknown_fields_warnings() {
    let text = r#"
[policy]
name = "k"
[[rule]]
id = "K-1"
title = "t"
severity = "low"
field = "Enabel"
op = "eq"
value = true
remedation = "x"
[[test]]
name = "n"
config = {}
expect = ["K-1"]
"#;
    let err = load_str("k.toml", text).unwrap_err();
    let all: Vec<String> = err.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        all.iter().any(
            |d| d.starts_with("k.toml:11:1: error[K-1]: unknown key `remedation`")
                && d.contains("did you mean `remediation`")
        ),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|d| d.starts_with("k.toml:15:1: error[test \"n\"]: unknown key `expect`")),
        "{all:#?}"
    );
    assert!(
        all.iter().any(
            |d| d.starts_with("k.toml:8:9: warning[K-1]: unknown field `Enabel`")
                && d.contains("did you mean `Enable`")
        ),
        "{all:#?}"
    );
}

#[test]
fn tests_naming_unknown_rules_and_duplicate_ids_are_load_errors() {
    let text = r#"
[policy]
name = "d"
[[rule]]
id = "D-1"
title = "t"
severity = "low"
field = "Enable"
op = "exists"
remediation = "x"
[[rule]]
id = "D-1"
title = "t"
severity = "low"
field = "Enable"
op = "exists"
remediation = "x"
[[test]]
name = "n"
config = {}
expect_fail = ["D-2"]
"#;
    let err = load_str("d.toml", text).unwrap_err();
    let errors: Vec<String> = err.errors().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0]
            .starts_with("d.toml:11:1: error[D-1]: rule id D-1 is already defined at d.toml:4:1")
    );
    assert!(
        errors[1].starts_with("d.toml:21:16: error[test \"n\"]: a test names rule D-2")
            && errors[1].contains("did you mean D-1?")
    );
}

const WAIVED: &str = r#"
[policy]
name = "w"
[[rule]]
id = "W-1"
title = "no exclusions"
severity = "high"
field = "ExcludeImageAssetIds"
op = "empty"
remediation = "x"
[[rule]]
id = "W-2"
title = "on"
severity = "high"
field = "Enable"
op = "eq"
value = true
remediation = "x"
[[waiver]]
rule = "W-1"
target = "prod"
reason = "vendor pipeline"
owner = "secops@example.com"
expires = "2026-10-31"
[[waiver]]
rule = "W-2"
reason = "never needed"
owner = "ops@example.com"
expires = "2027-06-30"
[[test]]
name = "the waiver covers prod only"
target = "prod"
now = "2026-10-01T00:00:00Z"
config = { Enable = true, ExcludeImageAssetIds = [7] }
expect_waived = ["W-1"]
expect_pass = ["W-2"]
[[test]]
name = "a wrong expectation is reported"
target = "staging"
now = "2026-10-01T00:00:00Z"
config = { Enable = true, ExcludeImageAssetIds = [7] }
expect_pass = ["W-1"]
"#;

fn check_waived(target: &str, now: &str) -> CheckReport {
    let loaded = load_str("w.toml", WAIVED).unwrap();
    let current = obs(
        3,
        "2026-10-01T00:00:00Z",
        json!({"Enable": true, "ExcludeImageAssetIds": [7]}),
        Status::default(),
    );
    let history = [current.clone()];
    evaluate(
        &loaded.set,
        &CheckInput {
            target,
            now: at(now),
            current: &current,
            history: &history,
            times: crate::policy::Times::default(),
        },
    )
}

#[test]
fn waivers_apply_to_their_target_until_the_end_of_their_day() {
    let r = check_waived("prod", "2026-10-31T23:59:59Z");
    let w1 = &r.results[0];
    assert_eq!(w1.status, RuleStatus::Waived);
    assert_eq!(w1.waiver.as_ref().unwrap().owner, "secops@example.com");
    assert!(!r.fails_at_or_above(Severity::Info));
    let kinds: Vec<(WaiverNoteKind, &str)> = r
        .waiver_notes
        .iter()
        .map(|n| (n.kind, n.rule.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (WaiverNoteKind::ExpiringSoon, "W-1"),
            (WaiverNoteKind::Unused, "W-2")
        ]
    );

    let r = check_waived("prod", "2026-11-01T00:00:00Z");
    assert_eq!(r.results[0].status, RuleStatus::Fail);
    assert!(
        r.results[0].message.contains("expired on 2026-10-31"),
        "{}",
        r.results[0].message
    );
    assert_eq!(r.waiver_notes[0].kind, WaiverNoteKind::Expired);
    assert!(r.fails_at_or_above(Severity::High));

    let r = check_waived("staging", "2026-10-01T00:00:00Z");
    assert_eq!(r.results[0].status, RuleStatus::Fail);
    assert!(r.results[0].waiver.is_none());
}

#[test]
fn run_tests_accounts_for_each_mismatch() {
    let loaded = load_str("w.toml", WAIVED).unwrap();
    let report = run_tests(&loaded.set);
    assert_eq!((report.passed(), report.failed()), (1, 1));
    let bad = &report.outcomes[1];
    assert_eq!(bad.name, "a wrong expectation is reported");
    assert_eq!(bad.location.to_string(), "w.toml:37:1");
    assert_eq!(bad.mismatches.len(), 1);
    let m = &bad.mismatches[0];
    assert_eq!(
        (m.rule.as_str(), m.expected, m.got),
        ("W-1", RuleStatus::Pass, RuleStatus::Fail)
    );
    assert!(m.message.contains("not empty"), "{}", m.message);
}

#[test]
fn load_paths_reads_directories_in_name_order_and_reports_missing_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.toml"), super::BUILTIN[1].1).unwrap();
    std::fs::write(dir.path().join("a.toml"), super::BUILTIN[0].1).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    let loaded = load_paths(&[dir.path().to_path_buf()]).unwrap();
    let names: Vec<&str> = loaded.set.files().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["tcss-baseline", "change-control"]);
    assert_eq!(loaded.set.files()[0].sha256.len(), 64);
    let missing = dir.path().join("nope.toml");
    let err = load_paths(&[missing]).unwrap_err();
    assert!(
        err.to_string().contains("nope.toml: error: cannot read"),
        "{err}"
    );
}

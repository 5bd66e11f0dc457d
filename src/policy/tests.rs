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
    assert_eq!(loaded.set.files().len(), 3);
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
        baseline: None,
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
            baseline: None,
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

// equals_baseline: parsing, evaluation, the baseline in force, and the judge's two paths.

const BASELINE_MISTAKES: &str = r#"[policy]
name = "b"
[[rule]]
id = "B-1"
title = "t"
severity = "high"
op = "equals_baseline"
field = "ScanType"
value = 1
window = "7d"
duration = "1h"
remediation = "x"
[[rule]]
id = "B-2"
title = "t"
severity = "high"
kind = "history"
op = "equals_baseline"
remediation = "x"
[[rule]]
id = "B-3"
title = "t"
severity = "high"
field = "Enable"
op = "eq"
value = true
ignore = ["ScanTime"]
remediation = "x"
[[rule]]
id = "B-4"
title = "t"
severity = "high"
op = "equals_baseline"
ignore = "ScanTime"
remediation = "x"
[[rule]]
id = "B-5"
title = "t"
severity = "high"
op = "equals_baseline"
ignore = ["ScanTime", 3]
remediation = "x"
[[rule]]
id = "B-6"
title = "t"
severity = "high"
when = { field = "Enable", op = "equals_baseline" }
op = "equals_baseline"
remediation = "x"
[[rule]]
id = "B-7"
title = "t"
severity = "high"
field = "Enable"
op = "equal_baseline"
remediation = "x"
"#;

#[test]
fn equals_baseline_mistakes_are_every_one_a_located_error() {
    let err = load_str("b.toml", BASELINE_MISTAKES).unwrap_err();
    let errors: Vec<String> = err.errors().map(ToString::to_string).collect();
    let expect = [
        (
            "b.toml:8:1: error[B-1]: `equals_baseline` takes no `field`",
            "list them in `ignore`",
        ),
        (
            "b.toml:9:1: error[B-1]: `equals_baseline` takes no `value`",
            "remove it",
        ),
        (
            "b.toml:10:1: error[B-1]: `equals_baseline` takes no `window`",
            "remove it",
        ),
        (
            "b.toml:11:1: error[B-1]: `equals_baseline` takes no `duration`",
            "remove it",
        ),
        (
            "b.toml:18:6: error[B-2]:",
            "not a history; remove kind = \"history\"",
        ),
        (
            "b.toml:27:1: error[B-3]: `ignore` is only for op = \"equals_baseline\"",
            "remove it",
        ),
        (
            "b.toml:34:10: error[B-4]: `ignore` must be a list",
            "[\"ScanTime\", \"Images\"]",
        ),
        (
            "b.toml:41:23: error[B-5]: `ignore` holds integer",
            "not a config field name",
        ),
        ("b.toml:47:33: error[B-6]:", "not a `when` precondition"),
        (
            "b.toml:55:6: error[B-7]: unknown op `equal_baseline` (did you mean `equals_baseline`?)",
            "time_between, equals_baseline; history ops",
        ),
    ];
    assert_eq!(errors.len(), expect.len(), "{errors:#?}");
    for ((start, has), got) in expect.iter().zip(&errors) {
        assert!(
            got.starts_with(start) && got.contains(has),
            "{got}\n{errors:#?}"
        );
    }
}

#[test]
fn ignore_entries_that_are_not_config_fields_warn_with_the_nearest_name() {
    let text = r#"[policy]
name = "w"
[[rule]]
id = "W-1"
title = "t"
severity = "high"
op = "equals_baseline"
ignore = ["ScanTime", "scantime", "LastScanTime", "Images[*].Force", "RequestId"]
remediation = "x"
"#;
    let loaded = load_str("w.toml", text).unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    let expect = [
        "w.toml:8:23: warning[W-1]: unknown config field `scantime` in `ignore` (did you mean `ScanTime`?)",
        "w.toml:8:35: warning[W-1]: `LastScanTime` is a status field",
        "w.toml:8:51: warning[W-1]: unknown config field `Images[*].Force` in `ignore` (did you mean `Images`?)",
        "w.toml:8:70: warning[W-1]: unknown config field `RequestId` in `ignore`",
    ];
    assert_eq!(warnings.len(), expect.len(), "{warnings:#?}");
    for (start, got) in expect.iter().zip(&warnings) {
        assert!(got.starts_with(start), "{got}\n{warnings:#?}");
    }
    // Warnings do not stop the load: the names are kept as written.
    match &loaded.set.rules()[0].check {
        Check::Baseline { ignore, .. } => assert_eq!(
            ignore,
            &[
                "ScanTime",
                "scantime",
                "LastScanTime",
                "Images[*].Force",
                "RequestId"
            ]
        ),
        other => panic!("{other:?}"),
    }
}

const BASELINE_RULES: &str = r#"[policy]
name = "b"
description = "Baseline rules for the tests."

[[rule]]
id = "B-ALL"
title = "The task equals its baseline"
severity = "high"
op = "equals_baseline"
remediation = "x"

[[rule]]
id = "B-IGN"
title = "The task equals its baseline but for the scan time"
severity = "medium"
kind = "state"
op = "equals_baseline"
ignore = ["ScanTime"]
remediation = "x"

[[rule]]
id = "B-WHEN"
title = "A task that is on equals its baseline"
severity = "low"
when = { field = "Enable", op = "eq", value = true }
op = "equals_baseline"
remediation = "x"

[[rule]]
id = "B-ON"
title = "The task is on"
severity = "low"
field = "Enable"
op = "eq"
value = true
remediation = "x"

[[test]]
name = "only the ignored field differs"
config = { Enable = true, ScanTime = "04:00:00", ScanPeriod = 1 }
baseline = { Enable = true, ScanTime = "03:00:00", ScanPeriod = 1 }
expect_pass = ["B-IGN"]
expect_fail = ["B-ALL", "B-WHEN"]

[[test]]
name = "an ignored field and another differ"
config = { Enable = true, ScanTime = "04:00:00", ScanPeriod = 7 }
baseline = { Enable = true, ScanTime = "03:00:00", ScanPeriod = 1 }
expect_fail = ["B-ALL", "B-IGN", "B-WHEN"]

[[test]]
name = "no baseline, no finding"
config = { Enable = true, ScanTime = "04:00:00" }
expect_pass = ["B-ALL", "B-IGN", "B-WHEN"]

[[test]]
name = "the precondition does not hold"
config = { Enable = false }
baseline = { Enable = true }
expect_pass = ["B-WHEN"]
expect_fail = ["B-ALL", "B-ON"]
"#;

fn approved(when: &str, snapshot: i64, config: serde_json::Value) -> Baseline {
    let config = normalize::normalize(config.as_object().unwrap());
    Baseline {
        entry: snapshot,
        approved_at: at(when),
        snapshot: Some(snapshot),
        config_hash: normalize::config_hash(&config),
        config: config.into_map(),
    }
}

fn last_scan(result: &str) -> Status {
    Status {
        last_scan_time: Some("2026-10-02 03:10:00".into()),
        scan_result: Some(result.into()),
    }
}

/// The findings of [`BASELINE_RULES`] on `config` as of 2026-10-05, with `baseline` in force.
fn check_baseline(
    config: serde_json::Value,
    status: Status,
    baseline: Option<&Baseline>,
) -> CheckReport {
    let loaded = load_str("b.toml", BASELINE_RULES).unwrap();
    let current = obs(9, "2026-10-05T00:00:00Z", config, status);
    let history = [current.clone()];
    let shanghai = crate::policy::Times::new(default_api_offset(), chrono_tz::Asia::Shanghai);
    evaluate(
        &loaded.set,
        &CheckInput {
            target: "prod",
            now: at("2026-10-05T00:00:00Z"),
            current: &current,
            history: &history,
            times: shanghai,
            baseline,
        },
    )
}

fn result<'r>(report: &'r CheckReport, rule: &str) -> &'r RuleResult {
    report.results.iter().find(|r| r.rule == rule).unwrap()
}

fn seed() -> serde_json::Value {
    json!({"Enable": true, "ScanTime": "03:00:00", "ScanPeriod": 1,
           "ScanType": ["risk", "virus", "vul"], "All": true, "Latest": false})
}

#[test]
fn equals_baseline_rules_load_with_their_words() {
    let loaded = load_str("b.toml", BASELINE_RULES).unwrap();
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let rules = loaded.set.rules();
    let words: Vec<(String, String, &str)> = rules[..3]
        .iter()
        .map(|r| (r.subject(), r.field_text(), r.expected()))
        .collect();
    assert_eq!(
        words,
        [
            ("the config".into(), "(config)".into(), "equals_baseline"),
            (
                "the config".into(),
                "(config)".into(),
                "equals_baseline ignore [\"ScanTime\"]"
            ),
            ("the config".into(), "(config)".into(), "equals_baseline"),
        ]
    );
    assert!(rules[2].when.is_some());
    assert_eq!(loaded.set.max_window(), chrono::Duration::zero());
    let tests = loaded.set.tests();
    let b = tests[0].baseline.as_ref().unwrap();
    assert_eq!(b.approved_at, tests[0].now - chrono::Duration::seconds(1));
    assert_eq!(b.config_hash.len(), 64);
    assert!(tests[2].baseline.is_none());
}

#[test]
fn policy_tests_with_a_baseline_run_against_it() {
    let loaded = load_str("b.toml", BASELINE_RULES).unwrap();
    let report = run_tests(&loaded.set);
    assert_eq!(report.outcomes.len(), 4);
    let failed: Vec<_> = report.outcomes.iter().filter(|o| !o.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");

    // A wrong expectation about a baseline is caught, with the rule's message.
    let wrong = BASELINE_RULES.replace(
        "expect_pass = [\"B-IGN\"]\nexpect_fail = [\"B-ALL\", \"B-WHEN\"]",
        "expect_pass = [\"B-ALL\"]",
    );
    let report = run_tests(&load_str("b.toml", &wrong).unwrap().set);
    let m = &report.outcomes[0].mismatches;
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!((m[0].rule.as_str(), m[0].got), ("B-ALL", RuleStatus::Fail));
    assert!(
        m[0].message.ends_with("in 1 field: ScanTime"),
        "{}",
        m[0].message
    );
}

#[test]
fn a_test_baseline_with_status_fields_warns_and_leaves_them_out() {
    let text = r#"[policy]
name = "s"
[[rule]]
id = "S-1"
title = "t"
severity = "high"
op = "equals_baseline"
remediation = "x"
[[test]]
name = "status"
config = { Enable = true }
baseline = { Enable = true, ScanResult = "Success" }
expect_pass = ["S-1"]
"#;
    let loaded = load_str("s.toml", text).unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0]
            .starts_with("s.toml:12:29: warning[test \"status\"]: `ScanResult` is a status field"),
        "{warnings:#?}"
    );
    let b = loaded.set.tests()[0].baseline.as_ref().unwrap();
    assert_eq!(b.config.keys().collect::<Vec<_>>(), ["Enable"]);
}

#[test]
fn without_a_baseline_equals_baseline_does_not_apply() {
    let report = check_baseline(seed(), Status::default(), None);
    let r = result(&report, "B-ALL");
    assert_eq!(r.status, RuleStatus::Pass);
    assert!(
        r.message.starts_with(
            "not applicable: the target has no approved baseline as of 2026-10-05T08:00:00+08:00"
        ),
        "{}",
        r.message
    );
    assert_eq!(r.actual, serde_json::Value::Null);
    assert_eq!(
        (r.field.as_str(), r.expected.as_str()),
        ("(config)", "equals_baseline")
    );
}

#[test]
fn an_equal_config_passes_whatever_its_status_fields_say() {
    let mut b = approved("2026-10-01T03:00:00Z", 7, seed());
    // Status fields count on neither side, even in a baseline that holds one.
    b.config.insert("ScanResult".into(), json!("Success"));
    let report = check_baseline(seed(), last_scan("InsufficientLicense"), Some(&b));
    for rule in ["B-ALL", "B-IGN", "B-WHEN"] {
        let r = result(&report, rule);
        assert_eq!(r.status, RuleStatus::Pass, "{rule}: {}", r.message);
        assert_eq!(r.actual, json!([]), "{rule}");
    }
    let m = &result(&report, "B-ALL").message;
    assert_eq!(
        m,
        &format!(
            "the config equals the baseline approved at 2026-10-01T11:00:00+08:00 (snapshot 7, config hash {}): holds",
            &b.config_hash[..12]
        )
    );
}

#[test]
fn a_different_config_fails_naming_each_differing_field_and_the_baseline() {
    let b = approved("2026-10-01T03:00:00Z", 7, seed());
    // ScanPeriod and ScanType differ; ExcludeImageAssetIds is only observed, Latest only approved.
    let config = json!({"Enable": true, "ScanTime": "03:00:00", "ScanPeriod": 7,
                        "ScanType": ["risk", "virus"], "All": true,
                        "ExcludeImageAssetIds": [12]});
    let report = check_baseline(config, last_scan("Success"), Some(&b));
    let r = result(&report, "B-ALL");
    assert_eq!(r.status, RuleStatus::Fail);
    assert_eq!(
        r.actual,
        json!(["ExcludeImageAssetIds", "Latest", "ScanPeriod", "ScanType"])
    );
    assert_eq!(
        r.message,
        format!(
            "the config differs from the baseline approved at 2026-10-01T11:00:00+08:00 (snapshot 7, config hash {}) in 4 fields: ExcludeImageAssetIds, Latest, ScanPeriod, ScanType",
            &b.config_hash[..12]
        )
    );
    assert_eq!(
        r.measured.to_string(),
        "the config fields that differ from the baseline"
    );
    assert!(report.fails_at_or_above(Severity::High));
}

#[test]
fn ignored_fields_are_left_out_of_the_comparison() {
    let b = Baseline {
        snapshot: None,
        ..approved("2026-10-01T03:00:00Z", 7, seed())
    };
    let mut config = seed();
    config["ScanTime"] = json!("04:00:00");
    let report = check_baseline(config.clone(), Status::default(), Some(&b));
    let all = result(&report, "B-ALL");
    assert_eq!(
        (all.status, &all.actual),
        (RuleStatus::Fail, &json!(["ScanTime"]))
    );
    // No snapshot known: the baseline is named by its time and hash alone.
    assert!(
        all.message
            .contains("2026-10-01T11:00:00+08:00 (config hash "),
        "{}",
        all.message
    );
    let ign = result(&report, "B-IGN");
    assert_eq!((ign.status, &ign.actual), (RuleStatus::Pass, &json!([])));
    assert!(
        ign.message
            .starts_with("the config (ignoring ScanTime) equals"),
        "{}",
        ign.message
    );

    config["ScanPeriod"] = json!(7);
    let report = check_baseline(config, Status::default(), Some(&b));
    let ign = result(&report, "B-IGN");
    assert_eq!(
        (ign.status, &ign.actual),
        (RuleStatus::Fail, &json!(["ScanPeriod"]))
    );
    assert_eq!(ign.expected, "equals_baseline ignore [\"ScanTime\"]");
    assert!(
        ign.message.ends_with("in 1 field: ScanPeriod"),
        "{}",
        ign.message
    );
}

#[test]
fn a_precondition_still_applies_to_a_baseline_rule() {
    let b = approved("2026-10-01T03:00:00Z", 7, seed());
    let mut config = seed();
    config["Enable"] = json!(false);
    let report = check_baseline(config, Status::default(), Some(&b));
    let when = result(&report, "B-WHEN");
    assert_eq!(when.status, RuleStatus::Pass);
    assert!(
        when.message.starts_with("not applicable: the precondition"),
        "{}",
        when.message
    );
    assert_eq!(result(&report, "B-ALL").actual, json!(["Enable"]));
}

/// Observations on 2026-10-03, -05, -08 and -12: the period set to 7 from the 5th, back to 1 on
/// the 12th; and baselines approved on the 1st (period 1) and the 10th (period 7).
fn baseline_story() -> (Vec<Observation>, Vec<Baseline>) {
    let with_period = |p: i64| {
        let mut c = seed();
        c["ScanPeriod"] = json!(p);
        c
    };
    let history = vec![
        obs(
            1,
            "2026-10-03T00:00:00Z",
            with_period(1),
            last_scan("Success"),
        ),
        obs(
            2,
            "2026-10-05T00:00:00Z",
            with_period(7),
            last_scan("Success"),
        ),
        obs(
            3,
            "2026-10-08T00:00:00Z",
            with_period(7),
            last_scan("InternalError"),
        ),
        obs(
            4,
            "2026-10-12T00:00:00Z",
            with_period(1),
            last_scan("Success"),
        ),
    ];
    let baselines = vec![
        approved("2026-10-01T00:00:00Z", 100, with_period(1)),
        approved("2026-10-10T00:00:00Z", 200, with_period(7)),
    ];
    (history, baselines)
}

#[test]
fn a_judgement_compares_with_the_baseline_in_force_at_its_now() {
    let loaded = load_str("b.toml", BASELINE_RULES).unwrap();
    let (history, baselines) = baseline_story();
    let times = crate::policy::Times::default();
    let judge = Judge::new(&loaded.set, "prod", times, &history).with_baselines(&baselines);
    let b_all = |idx: usize, now: &str| {
        let r = judge.report(idx, at(now));
        let r = result(&r, "B-ALL");
        (r.status, r.message.clone())
    };
    // Before the first approval: no baseline.
    let (status, message) = b_all(0, "2026-09-30T00:00:00Z");
    assert_eq!(status, RuleStatus::Pass);
    assert!(message.starts_with("not applicable:"), "{message}");
    // Period 7 against the first baseline (period 1) fails, against the second passes.
    let (status, message) = b_all(2, "2026-10-09T23:59:59Z");
    assert_eq!(status, RuleStatus::Fail);
    assert!(
        message.contains("snapshot 100") && message.ends_with("ScanPeriod"),
        "{message}"
    );
    let (status, message) = b_all(2, "2026-10-10T00:00:00Z");
    assert_eq!(status, RuleStatus::Pass, "{message}");
    assert!(message.contains("snapshot 200"), "{message}");
    // Back to period 1 after the second approval: drift from it.
    let (status, message) = b_all(3, "2026-10-12T00:00:00Z");
    assert_eq!(status, RuleStatus::Fail);
    assert!(message.contains("snapshot 200"), "{message}");
    // The same judge without baselines finds nothing to compare with.
    let plain = Judge::new(&loaded.set, "prod", times, &history);
    let r = plain.report(2, at("2026-10-09T00:00:00Z"));
    assert!(result(&r, "B-ALL").message.starts_with("not applicable:"));
}

#[test]
fn judge_failing_and_report_agree_on_baseline_rules() {
    // B-ON reads only Enable: the verdict path must still see every config field.
    let loaded = load_str("b.toml", BASELINE_RULES).unwrap();
    let (history, baselines) = baseline_story();
    let judge = Judge::new(
        &loaded.set,
        "prod",
        crate::policy::Times::default(),
        &history,
    )
    .with_baselines(&baselines);
    let nows = [
        "2026-09-30T00:00:00Z",
        "2026-10-05T00:00:00Z",
        "2026-10-09T23:59:59Z",
        "2026-10-10T00:00:00Z",
        "2026-10-12T00:00:00Z",
    ];
    let (mut fails, mut passes) = (0, 0);
    for (idx, o) in history.iter().enumerate() {
        for now in nows.map(at).into_iter().filter(|n| *n >= o.at) {
            let report = judge.report(idx, now);
            for sev in [Severity::Info, Severity::Medium, Severity::High] {
                let want: Vec<String> = report
                    .failing_at_or_above(sev)
                    .map(|r| r.rule.clone())
                    .collect();
                assert_eq!(judge.failing(idx, now, sev), want, "{idx} {now} {sev}");
            }
            match result(&report, "B-ALL").status {
                RuleStatus::Fail => fails += 1,
                _ => passes += 1,
            }
        }
    }
    assert!(fails >= 2 && passes >= 2, "{fails} {passes}");
}

#[test]
fn judge_failing_and_report_agree_on_the_shipped_history_rules() {
    // Sixty nights with the task switched off for three, the scan types changed, the period
    // lengthened and two nights missed: every history op of the shipped set fails somewhere.
    let loaded = builtin();
    let mut history = Vec::new();
    for night in 0..60i64 {
        if night == 20 || night == 21 {
            continue;
        }
        let mut config = seed();
        if (10..13).contains(&night) {
            config["Enable"] = json!(false);
        }
        if night >= 30 {
            config["ScanType"] = json!(["risk", "vul"]);
        }
        if night >= 40 {
            config["ScanPeriod"] = json!(3);
        }
        let when = (at("2026-09-01T19:00:00Z") + chrono::Duration::days(night)).to_rfc3339();
        history.push(obs(night + 1, &when, config, last_scan("Success")));
    }
    let judge = Judge::new(
        &loaded.set,
        "prod",
        crate::policy::Times::default(),
        &history,
    );
    let mut failing_seen = std::collections::BTreeSet::new();
    for (idx, o) in history.iter().enumerate() {
        for now in [o.at, o.at + chrono::Duration::hours(30)] {
            let report = judge.report(idx, now);
            for sev in [Severity::Info, Severity::Medium, Severity::High] {
                let want: Vec<String> = report
                    .failing_at_or_above(sev)
                    .map(|r| r.rule.clone())
                    .collect();
                assert_eq!(judge.failing(idx, now, sev), want, "{idx} {now} {sev}");
                failing_seen.extend(want);
            }
        }
    }
    for rule in ["TCSS-CC-001", "TCSS-CC-002", "TCSS-CC-003", "TCSS-CC-005"] {
        assert!(
            failing_seen.contains(rule),
            "{rule} never failed: {failing_seen:?}"
        );
    }
}

//! Golden tests of every renderer on one fixed report.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Value, json};

use crate::policy::{CheckInput, CheckReport, Observation, evaluate, load_str};
use crate::task::normalize::Status;
use crate::test_support::at;
use chrono_tz::Tz;

const POLICY: &str = r#"
[policy]
name = "golden <&> \"checks\""
description = "A fixed policy for the renderers."

[[rule]]
id = "G-001"
title = "Scanning is on"
severity = "critical"
field = "Enable"
op = "eq"
value = true
remediation = "Switch it on."

[[rule]]
id = "G-002"
title = "All scan types | vul & risk"
severity = "high"
field = "ScanType"
op = "contains_all"
value = ["vul", "risk", "virus"]
remediation = "Tick <every> scan type & save."

[[rule]]
id = "G-003"
title = "Daily"
severity = "medium"
field = "ScanPeriod"
op = "lte"
value = 1
remediation = "Set the period to 1."

[[rule]]
id = "G-004"
title = "Recent scan while on"
severity = "high"
when = { field = "Enable", op = "eq", value = false }
field = "LastScanTime"
op = "within"
value = "48h"
remediation = "Run a scan."

[[rule]]
id = "G-005"
title = "No exclusions"
severity = "low"
field = "ExcludeImageAssetIds"
op = "empty"
remediation = "Remove the exclusions."

[[rule]]
id = "G-006"
title = "A field from a later API version"
severity = "info"
field = "ScanMode"
op = "gt"
value = 1
remediation = "Look at ScanMode."

[[waiver]]
rule = "G-005"
reason = "two images are scanned by the vendor's own pipeline"
owner = "secops@example.com"
expires = "2026-10-10"

[[waiver]]
rule = "G-003"
target = "prod"
reason = "weekly until the licence upgrade"
owner = "ops@example.com"
expires = "2026-09-01"
"#;

fn fixed_report() -> CheckReport {
    let loaded = load_str("policies/golden.toml", POLICY).unwrap();
    let config = json!({
        "Enable": true, "ScanType": ["risk", "virus"], "ScanPeriod": 7,
        "ExcludeImageAssetIds": [1201, 1202], "ScanMode": "fast"
    });
    let current = Observation {
        snapshot_id: 42,
        at: at("2026-10-01T19:00:00Z"),
        config: crate::task::normalize::normalize(config.as_object().unwrap()),
        config_hash: "9f2c4e0d".into(),
        status: Status {
            last_scan_time: Some("2026-10-01 03:10:00".into()),
            scan_result: Some("Success".into()),
        },
    };
    let history = [current.clone()];
    evaluate(
        &loaded.set,
        &CheckInput {
            target: "prod",
            now: at("2026-10-01T19:00:05Z"),
            current: &current,
            history: &history,
            times: crate::policy::Times::default(),
            baseline: None,
        },
    )
}

fn render(f: impl Fn(&CheckReport, &mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&fixed_report(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_fixed_report_has_every_status() {
    let r = fixed_report();
    let s = r.summary;
    assert_eq!(
        (s.pass, s.fail, s.waived, s.error),
        (2, 2, 1, 1),
        "{:#?}",
        r.results
    );
    let kinds: Vec<_> = r.waiver_notes.iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        [
            crate::policy::WaiverNoteKind::ExpiringSoon,
            crate::policy::WaiverNoteKind::Expired
        ]
    );
}

#[test]
fn text_golden() {
    insta::assert_snapshot!(render(|r, w| super::text(
        r,
        crate::report::Color::Plain,
        Tz::UTC,
        w
    )));
}

#[test]
fn text_has_colour_only_when_asked() {
    let plain = render(|r, w| super::text(r, crate::report::Color::Plain, Tz::UTC, w));
    let coloured = render(|r, w| super::text(r, crate::report::Color::Ansi, Tz::UTC, w));
    assert!(!plain.contains('\x1b'));
    assert!(coloured.contains("\x1b["));
}

#[test]
fn json_golden() {
    let out = render(super::json);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "tcss-audit/check/v1");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "schema", "target", "snapshot", "policies", "results", "summary",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert_eq!(keys.len(), 6, "{keys:?}");
    let result_keys: Vec<&str> = v["results"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(result_keys.len(), 10, "{result_keys:?}");
    assert_eq!(v["snapshot"]["at"], "2026-10-01T19:00:00Z");
    insta::assert_snapshot!(out);
}

#[test]
fn markdown_golden() {
    insta::assert_snapshot!(render(|r, w| super::markdown(r, Tz::UTC, w)));
}

#[test]
fn sarif_golden_and_structure() {
    let out = render(super::sarif);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "tcss-audit");
    assert!(run["tool"]["driver"]["version"].is_string());
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 6);
    assert_eq!(rules[0]["defaultConfiguration"]["level"], "error");
    assert_eq!(rules[2]["help"]["text"], "Set the period to 1.");
    let results = run["results"].as_array().unwrap();
    // Two failures and one waived; passes and errors are not findings.
    assert_eq!(results.len(), 3);
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        assert!(r["message"]["text"].is_string());
        assert!(
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                .as_str()
                .unwrap()
                .starts_with("prod/")
        );
        // The physical location is the failing rule's own `[[rule]]` in its policy file.
        let place = &r["locations"][0]["physicalLocation"];
        assert_eq!(place["artifactLocation"]["uri"], "policies/golden.toml");
        let line = place["region"]["startLine"].as_u64().unwrap() as usize;
        let text: Vec<&str> = POLICY.lines().collect();
        assert_eq!(text[line - 1], "[[rule]]", "line {line}");
        let id = r["ruleId"].as_str().unwrap();
        assert_eq!(text[line], format!("id = \"{id}\""), "line {line}");
    }
    let waived: Vec<_> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(waived.len(), 1);
    assert_eq!(waived[0]["ruleId"], "G-005");
    assert_eq!(waived[0]["suppressions"][0]["kind"], "external");
    insta::assert_snapshot!(out);
}

#[test]
fn junit_golden_and_well_formed() {
    let out = render(super::junit);
    let mut reader = Reader::from_str(&out);
    let (mut cases, mut failures, mut skipped, mut errors, mut depth) = (0, 0, 0, 0, 0i32);
    let mut messages = Vec::new();
    loop {
        // The reader checks that every end tag matches its start tag; an error is malformed XML.
        let event = reader.read_event().expect("well-formed XML");
        let e = match event {
            Event::Eof => break,
            Event::End(_) => {
                depth -= 1;
                continue;
            }
            Event::Start(e) => {
                depth += 1;
                e
            }
            Event::Empty(e) => e,
            _ => continue,
        };
        match e.name().as_ref() {
            b"testcase" => cases += 1,
            b"failure" => failures += 1,
            b"skipped" => skipped += 1,
            b"error" => errors += 1,
            _ => {}
        }
        for a in e.attributes() {
            let a = a.unwrap();
            if a.key.as_ref() == b"name" {
                messages.push(a.unescape_value().unwrap().into_owned());
            }
        }
    }
    assert_eq!(depth, 0);
    assert_eq!((cases, failures, skipped, errors), (6, 2, 1, 1));
    assert!(
        messages.iter().any(|m| m == "golden <&> \"checks\""),
        "{messages:?}"
    );
    insta::assert_snapshot!(out);
}

//! `audit check` and `audit policy` through the real binary.

use crate::support::{Env, SEED, seed_with_request_id};

fn seeded() -> Env {
    let mut env = Env::new();
    env.now = Some("2026-11-28T12:00:00Z".into());
    let file = env.write("seed.json", SEED);
    env.run(&[
        "import",
        file.to_str().unwrap(),
        "--at",
        "2026-11-28T03:00:00Z",
    ])
    .ok();
    env
}

#[test]
fn the_reference_example_fails_what_a_reviewer_would_flag() {
    let env = seeded();
    let run = env.run(&["check", "--format", "json"]).code(1);
    let doc = run.json();
    assert_eq!(doc["schema"], "tcss-audit/check/v1");
    let status = |rule: &str| {
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == rule)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("TCSS-SCAN-002"), "fail", "no vulnerability scan");
    assert_eq!(status("TCSS-SCAN-001"), "pass", "the task is on");
    let failing = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "TCSS-SCAN-002")
        .unwrap();
    assert_eq!(failing["actual"], serde_json::json!(["risk", "virus"]));
    assert!(
        failing["remediation"]
            .as_str()
            .unwrap()
            .contains("scan type")
    );
    // Only critical failures count with --fail-on critical, and there are none.
    env.run(&["check", "--fail-on", "critical"]).ok();
}

#[test]
fn every_format_renders_and_is_what_it_claims() {
    let env = seeded();
    let sarif = env.run(&["check", "--format", "sarif"]).code(1).json();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ruleId"] == "TCSS-SCAN-002")
    );
    let junit = env.run(&["check", "--format", "junit"]).code(1).stdout;
    assert!(
        junit.starts_with("<?xml") && junit.contains("<failure"),
        "{junit}"
    );
    let md = env.run(&["check", "--format", "markdown"]).code(1).stdout;
    assert!(md.contains("TCSS-SCAN-002"), "{md}");
}

#[test]
fn a_waiver_in_a_custom_policy_turns_a_failure_into_waived() {
    let env = seeded();
    let dir = env.path("policies");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("team.toml"),
        r#"
[policy]
name = "team"
description = "what this team requires"

[[rule]]
id = "TEAM-001"
title = "Vulnerability scanning is on"
severity = "high"
field = "ScanType"
op = "contains"
value = "vul"
remediation = "tick it"

[[waiver]]
rule = "TEAM-001"
reason = "vulnerability scanning waits for the licence upgrade"
owner = "secops@example.com"
expires = "2027-01-31"
"#,
    )
    .unwrap();
    let run = env
        .run(&[
            "check",
            "--policies",
            dir.to_str().unwrap(),
            "--format",
            "json",
        ])
        .ok();
    let doc = run.json();
    assert_eq!(doc["summary"]["waived"], 1);
    assert_eq!(doc["results"][0]["waiver"]["owner"], "secops@example.com");
    // After the expiry the waiver no longer applies.
    let mut later = seeded();
    later.now = Some("2027-02-15T00:00:00Z".into());
    let file = later.write("seed2.json", &seed_with_request_id("a-later-night"));
    later
        .run(&[
            "import",
            file.to_str().unwrap(),
            "--at",
            "2027-02-14T03:00:00Z",
        ])
        .ok();
    let expired = later
        .run(&[
            "check",
            "--policies",
            dir.to_str().unwrap(),
            "--format",
            "json",
        ])
        .code(1)
        .json();
    assert_eq!(expired["summary"]["fail"], 1);
    assert!(
        expired["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{expired}"
    );
}

#[test]
fn five_mistakes_give_five_located_errors_in_one_run() {
    let env = Env::new();
    let file = env.write(
        "broken.toml",
        r#"[policy]
name = "broken"

[[rule]]
id = "B-1"
title = "unknown op"
severity = "high"
field = "Enable"
op = "equals"
value = true

[[rule]]
id = "B-2"
title = "gt on a list"
severity = "low"
field = "ScanType"
op = "gt"
value = 1

[[rule]]
id = "B-3"
title = "broken regex"
severity = "low"
field = "ScanTime"
op = "matches"
value = "(03"

[[rule]]
id = "B-4"
title = "bad duration"
severity = "low"
field = "LastScanTime"
op = "within"
value = "two days"

[[waiver]]
rule = "NOPE-9"
reason = "r"
owner = "o"
expires = "2027-01-01"
"#,
    );
    let run = env
        .run(&["policy", "validate", file.to_str().unwrap()])
        .code(2);
    let located: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("broken.toml:") && l.contains("error"))
        .collect();
    assert_eq!(located.len(), 5, "{}", run.stderr);
    for needle in ["B-1", "B-2", "B-3", "B-4", "NOPE-9"] {
        assert!(
            located.iter().any(|l| l.contains(needle)),
            "{needle}: {}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains("contains_all"),
        "an unknown op lists the valid ones: {}",
        run.stderr
    );
}

/// A path that never ends is read only up to the limit, then refused by name.
#[test]
fn a_policy_path_larger_than_the_limit_is_refused_by_name() {
    let env = Env::new();
    let run = env.run(&["policy", "validate", "/dev/zero"]).code(2);
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("/dev/zero: error"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(line.contains("more than 4 MiB"), "{line}");
}

#[test]
fn the_shipped_policies_pass_their_own_tests() {
    let env = Env::new();
    let run = env.run(&["policy", "test"]).ok();
    assert!(run.stdout.contains("0 mismatched"), "{}", run.stdout);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    env.run(&["policy", "test", root]).ok();
    env.run(&["policy", "validate", root]).ok();
}

#[test]
fn sarif_output_is_valid_against_the_sarif_2_1_0_schema() {
    // The OASIS SARIF 2.1.0 schema (rtm.5, the published version), as shipped in Microsoft's
    // MIT-licensed @microsoft/jest-sarif package.
    let text = include_str!("../fixtures/sarif/sarif-2.1.0-rtm.5.json");
    // The published schema's language-tag pattern has a stray `]` that a strict validator
    // refuses as a regex; use the pattern it means (a tag such as `en` or `en-US`).
    let flawed = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert!(text.contains(flawed));
    let schema: serde_json::Value =
        serde_json::from_str(&text.replace(flawed, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#)).unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let env = seeded();
    let sarif = env.run(&["check", "--format", "sarif"]).code(1).json();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The validator is not vacuous: a document without its version is refused.
    let mut broken = sarif.clone();
    broken.as_object_mut().unwrap().remove("version");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn a_fleet_is_checked_a_target_at_a_time_each_as_it_is_alone_and_all_kept() {
    let env = seeded();
    // A second target whose task is off.
    let off = SEED.replace("\"Enable\": true", "\"Enable\": false");
    assert_ne!(off, SEED);
    let file = env.write("off.json", &off);
    env.run(&[
        "import",
        "--target",
        "staging",
        file.to_str().unwrap(),
        "--at",
        "2026-11-28T03:05:00Z",
    ])
    .ok();
    let alone = |target: &str| {
        env.run(&["check", "--target", target, "--format", "json"])
            .code(1)
            .json()
    };
    let (default, staging) = (alone("default"), alone("staging"));
    let all = env.run(&["check", "--all", "--format", "json"]).code(1);
    assert_eq!(all.json(), serde_json::json!([default, staging]));
    assert!(all.stdout.starts_with("[\n  {\n") && all.stdout.ends_with("\n]\n"));

    let ocsf = env
        .run(&["check", "--all", "--format", "ocsf"])
        .code(1)
        .json();
    let events = ocsf.as_array().unwrap();
    let alone_events = |target: &str| {
        env.run(&["check", "--target", target, "--format", "ocsf"])
            .code(1)
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        events.len(),
        alone_events("default") + alone_events("staging")
    );

    let text = env.run(&["check", "--all"]).code(1).stdout;
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {text}"))
    };
    assert!(at("default") < at("staging"), "{text}");
    assert!(text.contains("\n\n"), "targets apart: {text}");
    // One check a snapshot and policy set is kept, however often it is run.
    assert_eq!(env.rows("check_results"), 2);

    // A configured target without a snapshot stops the command before anything is judged,
    // kept or written, though "default" comes before it.
    rusqlite::Connection::open(env.db())
        .unwrap()
        .execute("DELETE FROM check_results", [])
        .unwrap();
    let cfg = env.write(
        "config.toml",
        "[[target]]\nname = \"default\"\n\n[[target]]\nname = \"unseen\"\n",
    );
    let run = env.run(&["--config", cfg.to_str().unwrap(), "check", "--all"]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("unseen"), "{}", run.stderr);
    assert_eq!(env.rows("check_results"), 0, "nothing was kept");
}

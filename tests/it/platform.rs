//! What a platform team expects around the job: completion scripts and man pages generated from
//! the command line's own definitions, and the run's Prometheus metrics.

use std::process::Command;

use crate::support::Env;

fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let env = Env::new();
    for (shell, checker) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let script = env.run(&["completions", shell]).ok();
        assert!(
            script.stdout.contains("verify"),
            "{shell}: names the subcommands"
        );
        if !installed(checker) {
            assert!(shell != "bash", "bash is on every machine this runs on");
            eprintln!("skipped: {checker} is not installed, its script is not checked");
            continue;
        }
        let file = env.write(&format!("audit.{shell}"), &script.stdout);
        let checked = Command::new(checker).arg("-n").arg(&file).output().unwrap();
        assert!(
            checked.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    for shell in ["powershell", "elvish"] {
        assert!(!env.run(&["completions", shell]).ok().stdout.is_empty());
    }
    env.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn man_pages_cover_every_subcommand_and_render() {
    let env = Env::new();
    let dir = env.path("man");
    let out = env.run(&["man", "--out-dir", dir.to_str().unwrap()]).ok();
    for page in [
        "audit.1",
        "audit-verify.1",
        "audit-key-generate.1",
        "audit-policy-validate.1",
    ] {
        assert!(dir.join(page).is_file(), "{page}: {}", out.stdout);
    }
    assert!(!dir.join("audit-help.1").exists());
    let verify = std::fs::read_to_string(dir.join("audit-verify.1")).unwrap();
    assert!(
        verify.contains(".TH") && verify.contains("witness"),
        "{verify}"
    );
    if !installed("man") {
        eprintln!("skipped: man is not installed, the pages are not rendered");
        return;
    }
    let shown = Command::new("man")
        .arg("-l")
        .arg(dir.join("audit-verify.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(String::from_utf8_lossy(&shown.stdout).contains("NAME"));
}

#[test]
fn man_alone_prints_the_main_page_and_says_how_to_get_them_all() {
    let out = Env::new().run(&["man"]).ok();
    assert!(out.stdout.contains("\n.TH audit 1 "), "{}", out.stdout);
    assert!(out.stdout.contains("audit\\-verify(1)"), "{}", out.stdout);
    assert!(out.stderr.contains("--out-dir DIR"), "{}", out.stderr);
}

/// The `audit-*` pages a page names in its text, e.g. `audit\-policy\-validate(1)`.
fn page_references(page: &str) -> Vec<String> {
    let text = page.replace("\\-", "-");
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '-';
    text.match_indices("(1)")
        .map(|(at, _)| {
            let before = &text[..at];
            let start = before.rfind(|c| !is_name(c)).map_or(0, |i| i + 1);
            before[start..].to_string()
        })
        .filter(|name| name.starts_with("audit-"))
        .collect()
}

#[test]
fn man_pages_are_dated_plain_and_name_only_pages_that_are_written() {
    let env = Env::new();
    let dir = env.path("man");
    env.run_with(&["man", "--out-dir", dir.to_str().unwrap()], |c| {
        c.env("SOURCE_DATE_EPOCH", "1767225600");
    })
    .ok();
    let groff = installed("groff");
    if !groff {
        // Even in CI: .ci/run installs only what other tests need, not groff.
        eprintln!("skipped: groff is not installed, the pages are not checked for its warnings");
    }
    let pages = crate::support::files_under(&dir);
    assert!(pages.len() > 10, "{pages:?}");
    for path in pages {
        let page = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        let title = page.lines().find(|l| l.starts_with(".TH")).unwrap();
        assert!(
            title.replace("\\-", "-").contains("2026-01-01"),
            "{name}: {title}"
        );
        assert!(!page.contains('\u{2026}'), "{name} holds a raw ellipsis");
        for named in page_references(&page) {
            assert!(
                dir.join(format!("{named}.1")).is_file(),
                "{name} names {named}(1)"
            );
        }
        if groff {
            let out = Command::new("groff")
                .args(["-ww", "-man", "-Tutf8"])
                .arg(&path)
                .output()
                .unwrap();
            let warned = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && warned.is_empty(),
                "{name}: {warned}"
            );
        }
    }
}

#[test]
fn run_writes_prometheus_metrics_for_a_compliant_and_a_failing_target() {
    use crate::support::{SIM_ID, SIM_KEY, Sim};
    let env = Env::new();
    let mut off: serde_json::Value = serde_json::from_str(crate::support::SEED).unwrap();
    off["Response"]["Enable"] = serde_json::Value::Bool(false);
    let state = env.write("off.json", &off.to_string());
    let (on_sim, off_sim) = (Sim::start(&[]), Sim::start_in(Some(&state), &[]));
    std::fs::create_dir_all(env.path("policies")).unwrap();
    env.write(
        "policies/on.toml",
        "[policy]\nname = \"on\"\n\n[[rule]]\nid = \"ON-001\"\ntitle = \"Scanning is on\"\nseverity = \"high\"\nfield = \"Enable\"\nop = \"eq\"\nvalue = true\n",
    );
    let metrics = env.path("metrics/tcss-audit.prom");
    std::fs::create_dir_all(metrics.parent().unwrap()).unwrap();
    let cfg = env.write(
        "config.toml",
        &format!(
            "policies = [\"policies\"]\nmetrics_file = \"metrics/tcss-audit.prom\"\n\n[[target]]\nname = \"on\"\nendpoint = \"{}\"\nregion = \"ap-shanghai\"\n\n[[target]]\nname = \"off\"\nendpoint = \"{}\"\n",
            on_sim.url, off_sim.url
        ),
    );
    let run = env
        .run_with(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "run",
                "--ocsf",
                "--out-dir",
                env.path("reports").to_str().unwrap(),
            ],
            |c| {
                c.env("TENCENTCLOUD_SECRET_ID", SIM_ID)
                    .env("TENCENTCLOUD_SECRET_KEY", SIM_KEY);
            },
        )
        .code(1);
    let text = std::fs::read_to_string(&metrics).unwrap();
    let lines: Vec<std::io::Result<String>> = text.lines().map(|l| Ok(l.to_string())).collect();
    let scrape = prometheus_parse::Scrape::parse(lines.into_iter()).unwrap();
    let value = |name: &str, target: Option<&str>, severity: Option<&str>| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == name
                    && target.is_none_or(|t| s.labels.get("target") == Some(t))
                    && severity.is_none_or(|v| s.labels.get("severity") == Some(v))
            })
            .unwrap_or_else(|| panic!("{name} {target:?} {severity:?}:\n{text}"));
        match s.value {
            prometheus_parse::Value::Gauge(v) => v,
            ref other => panic!("{name} is {other:?}, not a gauge"),
        }
    };
    assert_eq!(value("tcss_audit_compliant", Some("on"), None), 1.0);
    assert_eq!(value("tcss_audit_compliant", Some("off"), None), 0.0);
    assert_eq!(value("tcss_audit_scan_enabled", Some("on"), None), 1.0);
    assert_eq!(value("tcss_audit_scan_enabled", Some("off"), None), 0.0);
    assert_eq!(
        value("tcss_audit_failing_rules", Some("off"), Some("high")),
        1.0
    );
    assert_eq!(
        value("tcss_audit_failing_rules", Some("on"), Some("high")),
        0.0
    );
    assert_eq!(value("tcss_audit_drift_changes", Some("on"), None), 0.0);
    assert!(
        value(
            "tcss_audit_last_success_timestamp_seconds",
            Some("off"),
            None
        ) > 1.7e9
    );
    assert!(value("tcss_audit_snapshot_age_seconds", Some("on"), None) >= 0.0);
    assert_eq!(value("tcss_audit_run_exit_code", None, None), 1.0);
    assert_eq!(value("tcss_audit_chain_ok", None, None), 1.0);
    assert!(value("tcss_audit_run_duration_seconds", None, None) > 0.0);
    assert!(text.contains("# TYPE tcss_audit_compliant gauge"), "{text}");
    assert!(run.stderr.contains("off:"), "{}", run.stderr);
    // With --ocsf the run's findings are beside its reports, for both targets.
    let ocsf = run
        .stdout
        .lines()
        .find(|l| l.ends_with(".ocsf.json"))
        .expect("the OCSF findings are listed");
    let events: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(ocsf).unwrap()).unwrap();
    for target in ["on", "off"] {
        assert!(
            events
                .iter()
                .any(|e| e["class_uid"] == 2003 && e["resources"][0]["name"] == target)
        );
    }
    // Each names its target's region where the config gives one.
    for e in &events {
        let region = (e["resources"][0]["name"] == "on").then_some("ap-shanghai");
        assert_eq!(e["cloud"]["region"].as_str(), region, "{e}");
        assert_eq!(e["metadata"]["profiles"], serde_json::json!(["cloud"]));
    }
    // No temporary file is left beside it.
    let left: Vec<_> = std::fs::read_dir(metrics.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1);
}

/// A history of one snapshot of `prod` that fails rules, for the OCSF findings.
fn one_failing_snapshot() -> Env {
    let env = Env::new();
    crate::common::store_with(
        &env.db(),
        "prod",
        &[(
            "2026-11-01T03:00:00Z",
            serde_json::json!({"Enable": true, "ScanPeriod": 1, "ScanTime": "03:00:00", "ScanType": ["vul"]}),
        )],
    );
    env
}

#[test]
fn check_ocsf_events_have_every_attribute_the_class_requires() {
    let env = one_failing_snapshot();
    let out = env
        .run(&["check", "--target", "prod", "--format", "ocsf"])
        .code(1);
    let events: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    let def: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/ocsf/compliance_finding-1.3.json")).unwrap();
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert!(events.len() > 3, "one event per rule result");
    let class = &def["class"];
    for e in &events {
        for attr in names(&class["required"]) {
            assert!(e.get(&attr).is_some(), "{attr} missing in {e}");
        }
        for (object, spec) in def["objects"].as_object().unwrap() {
            if let Some(o) = e.get(object) {
                for attr in names(&spec["required"]) {
                    assert!(o.get(&attr).is_some(), "{object}.{attr} missing in {e}");
                }
                for (field, allowed) in spec
                    .get("enums")
                    .and_then(|v| v.as_object())
                    .into_iter()
                    .flatten()
                {
                    assert!(
                        allowed.as_array().unwrap().contains(&o[field]),
                        "{object}.{field}: {e}"
                    );
                }
            }
        }
        for (field, allowed) in class["enums"].as_object().unwrap() {
            assert!(
                allowed.as_array().unwrap().contains(&e[field]),
                "{field}: {e}"
            );
        }
        // The events follow the cloud profile, and hold what it requires.
        let profiles = names(&e["metadata"]["profiles"]);
        assert!(profiles.contains(&"cloud".to_string()), "{e}");
        for profile in &profiles {
            for attr in names(&def["profiles"][profile]["required"]) {
                assert!(
                    e.get(&attr).is_some(),
                    "profile {profile}: {attr} missing in {e}"
                );
            }
        }
        assert_eq!(e["cloud"]["provider"], "Tencent Cloud");
        assert_eq!(e["class_uid"], class["uid"]);
        assert_eq!(e["category_uid"], class["category_uid"]);
        assert_eq!(
            e["type_uid"].as_i64().unwrap(),
            e["class_uid"].as_i64().unwrap() * 100 + e["activity_id"].as_i64().unwrap()
        );
        assert!(
            e["time"].as_i64().unwrap() > 1_700_000_000_000,
            "milliseconds"
        );
        assert_eq!(e["resources"][0]["name"], "prod");
    }
    // A failing rule is Fail with its remediation; a passing one is Pass.
    let status = |s: &str| {
        events
            .iter()
            .filter(|e| e["compliance"]["status"] == s)
            .count()
    };
    assert!(status("Fail") >= 1 && status("Pass") >= 1, "{}", out.stdout);
    assert!(
        events
            .iter()
            .any(|e| e["compliance"]["status"] == "Fail" && e["remediation"]["desc"].is_string())
    );
}

#[test]
fn check_ocsf_events_name_the_region_the_config_gives() {
    let env = one_failing_snapshot();
    let cloud = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = env.run(args).code(1);
        let events: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
        assert!(!events.is_empty());
        events.iter().map(|e| e["cloud"].clone()).collect()
    };
    // Imported without an identity and no region configured: the provider alone.
    for c in cloud(&["check", "--target", "prod", "--format", "ocsf"]) {
        assert_eq!(c, serde_json::json!({"provider": "Tencent Cloud"}));
    }
    let cfg = env.write(
        "config.toml",
        "[[target]]\nname = \"prod\"\nregion = \"ap-guangzhou\"\n",
    );
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "check",
        "--format",
        "ocsf",
    ];
    for c in cloud(&args) {
        assert_eq!(
            c,
            serde_json::json!({"provider": "Tencent Cloud", "region": "ap-guangzhou"})
        );
    }
}

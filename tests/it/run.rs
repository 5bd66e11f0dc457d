//! The nightly job against the real stand-in: several targets, one failing, reports, exit codes,
//! and the demo.

use crate::support::{Env, SIM_ID, SIM_KEY, Sim};

fn config(env: &Env, url: &str) -> std::path::PathBuf {
    env.write(
        "audit.toml",
        &format!(
            r#"
db = "audit.db"
fail_on = "critical"

[[target]]
name = "prod"
endpoint = "{url}"

[[target]]
name = "staging"
endpoint = "{url}"

[[target]]
name = "broken"
endpoint = "{url}"
secret_id_env = "BROKEN_SECRET_ID"
secret_key_env = "BROKEN_SECRET_KEY"
"#
        ),
    )
}

fn run_job(env: &Env, cfg: &std::path::Path, out: &std::path::Path) -> crate::support::Run {
    env.run_with(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--out-dir",
            out.to_str().unwrap(),
        ],
        |c| {
            c.env_remove("TCSS_AUDIT_DB")
                .env("TENCENTCLOUD_SECRET_ID", SIM_ID)
                .env("TENCENTCLOUD_SECRET_KEY", SIM_KEY)
                .env("BROKEN_SECRET_ID", SIM_ID)
                .env("BROKEN_SECRET_KEY", "WrongKeyForTheBrokenTarget0000");
        },
    )
}

#[test]
fn three_targets_one_with_a_wrong_key() {
    let sim = Sim::start(&[]);
    let env = Env::new();
    let cfg = config(&env, &sim.url);
    let out = env.path("reports");
    let first = run_job(&env, &cfg, &out).code(3);
    assert!(
        first.stderr.contains("broken: error:")
            && first.stderr.contains("AuthFailure.SignatureFailure"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("prod: #") && first.stderr.contains("staging: #"),
        "{}",
        first.stderr
    );
    assert!(!first.stderr.contains("WrongKeyForTheBrokenTarget0000"));
    let written: Vec<_> = first.stdout.lines().collect();
    assert_eq!(written.len(), 3, "{}", first.stdout);
    assert!(
        written.iter().any(|p| p.ends_with(".md"))
            && written.iter().any(|p| p.ends_with(".json"))
            && written.iter().any(|p| p.ends_with(".html"))
    );
    for p in &written {
        assert!(std::path::Path::new(p).exists(), "{p}");
    }
    let h = env
        .run_with(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "history",
                "--all",
                "--format",
                "json",
            ],
            |c| {
                c.env_remove("TCSS_AUDIT_DB");
            },
        )
        .ok()
        .json();
    let counts: Vec<(String, usize)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["target"].as_str().unwrap().to_string(),
                d["snapshots"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("broken".to_string(), 0),
            ("prod".to_string(), 1),
            ("staging".to_string(), 1)
        ]
    );
    assert!(
        env.path("audit.db").exists(),
        "the config's db, relative to the config file"
    );
    let logs = env
        .run_with(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "log",
                "--all",
                "--format",
                "json",
            ],
            |c| {
                c.env_remove("TCSS_AUDIT_DB");
            },
        )
        .ok()
        .json();
    let names: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["broken", "prod", "staging"],
        "one log document a target, as one JSON array"
    );
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .all(|d| d["schema"] == "tcss-audit/log/v1")
    );

    // The same again with nothing changed: each target is recorded unchanged.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = run_job(&env, &cfg, &out).code(3);
    assert!(
        second.stderr.contains("prod: #") && second.stderr.contains("unchanged"),
        "{}",
        second.stderr
    );
    assert!(!second.stderr.contains(" changed"), "{}", second.stderr);
    let json_path = second
        .stdout
        .lines()
        .find(|p| p.ends_with(".json"))
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    assert_eq!(report["schema"], "tcss-audit/report/v1");
    let run = report["run"].as_array().unwrap();
    assert_eq!(run.len(), 3);
    for entry in run {
        match entry["target"].as_str().unwrap() {
            "broken" => assert!(
                entry["error"]
                    .as_str()
                    .unwrap()
                    .contains("AuthFailure.SignatureFailure")
            ),
            _ => assert_eq!(
                entry["changed"], false,
                "no drift on the second night: {entry}"
            ),
        }
    }
    for t in report["targets"].as_array().unwrap() {
        assert_eq!(
            t["changes"],
            serde_json::json!([]),
            "no drift in the window: {}",
            t["name"]
        );
    }
    let md = std::fs::read_to_string(second.stdout.lines().find(|p| p.ends_with(".md")).unwrap())
        .unwrap();
    assert!(
        md.contains("`broken`") && md.contains("AuthFailure.SignatureFailure"),
        "the failing target is named"
    );
}

#[test]
fn policy_failures_at_or_above_fail_on_exit_1() {
    let sim = Sim::start(&[]);
    let env = Env::new();
    let out = env.path("reports");
    // The reference example lacks the vulnerability scan (high).
    let run = env
        .run_signed(&[
            "run",
            "--endpoint",
            &sim.url,
            "--out-dir",
            out.to_str().unwrap(),
            "--fail-on",
            "high",
        ])
        .code(1);
    assert!(
        run.stderr
            .contains("default: #1 first; 1 rule failing at or above high"),
        "{}",
        run.stderr
    );
    let run = env
        .run_signed(&[
            "run",
            "--endpoint",
            &sim.url,
            "--out-dir",
            out.to_str().unwrap(),
            "--fail-on",
            "critical",
        ])
        .ok();
    assert!(
        run.stderr.contains("default: #2 unchanged"),
        "{}",
        run.stderr
    );
}

#[test]
fn two_runs_in_the_same_second_keep_both_reports() {
    let sim = Sim::start(&[]);
    let mut env = Env::new();
    // Both runs at the same second, a real one (the stand-in checks request times).
    let now = chrono::Utc::now();
    env.now = Some(now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let stem = format!("tcss-audit-{}", now.format("%Y%m%dT%H%M%SZ"));
    let out = env.path("reports");
    let args = [
        "run",
        "--endpoint",
        &sim.url,
        "--out-dir",
        out.to_str().unwrap(),
        "--fail-on",
        "critical",
    ];
    env.run_signed(&args).ok();
    env.run_signed(&args).ok();
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{stem}-2.html"),
            format!("{stem}-2.json"),
            format!("{stem}-2.md"),
            format!("{stem}.html"),
            format!("{stem}.json"),
            format!("{stem}.md"),
        ]
    );
    let first = std::fs::read_to_string(out.join(format!("{stem}.md"))).unwrap();
    let second = std::fs::read_to_string(out.join(format!("{stem}-2.md"))).unwrap();
    assert!(first.contains("recorded #1, first"), "{first}");
    assert!(second.contains("recorded #2, unchanged"), "{second}");
    assert_ne!(first, second, "the second run's report is its own");
}

#[test]
fn a_second_run_on_the_same_database_waits_then_exits_4_naming_the_holder() {
    let env = Env::new();
    let db = env.db();
    let holder = tcss_audit::app::lock::RunLock::acquire(
        &db,
        std::time::Duration::ZERO,
        "audit run, process 4242 since earlier",
    )
    .unwrap();
    let run = env
        .run_signed(&[
            "run",
            "--endpoint",
            "http://127.0.0.1:9",
            "--lock-timeout",
            "1",
        ])
        .code(4);
    assert!(run.stderr.contains("process 4242"), "{}", run.stderr);
    drop(holder);
}

/// The rows of the Days table in `target`'s section of a Markdown report.
fn day_rows<'a>(md: &'a str, target: &str) -> Vec<&'a str> {
    let start = md.find(&format!("## Target `{target}`")).unwrap();
    let section = &md[start..];
    let end = section[1..].find("\n## ").map_or(section.len(), |i| i + 1);
    let days = &section[..end][section.find("### Days").unwrap()..];
    days.lines().filter(|l| l.starts_with("| 20")).collect()
}

#[test]
fn the_demos_member_is_compliant_until_it_drops_virus_scanning() {
    let env = Env::new();
    let dir = env.path("demo");
    let run = env.run(&["demo", "--dir", dir.to_str().unwrap()]).ok();
    assert!(
        run.stdout
            .contains("in member account ads (100000000003), virus scanning dropped"),
        "{}",
        run.stdout
    );
    let report = run.stdout.lines().map(str::trim);
    let md = std::fs::read_to_string(report.clone().find(|l| l.ends_with(".md")).unwrap()).unwrap();
    let rows = day_rows(&md, "org-ads");
    // Before the drift the task scans for everything and passes; after, it lacks only virus.
    let (before, after): (Vec<&str>, Vec<&str>) = rows.iter().partition(|r| r.contains("`virus`"));
    assert!(!before.is_empty() && !after.is_empty(), "{rows:#?}");
    for row in &before {
        assert!(
            row.contains("| compliant |") && row.contains("`vul`"),
            "{row}"
        );
    }
    for row in after.iter().filter(|r| !r.contains("missed night")) {
        assert!(
            row.contains("**failing**") && row.contains("`TCSS-SCAN-002`"),
            "{row}"
        );
    }
    // The drift the summary tells of is the only change to the member's scan types.
    assert!(md.contains("| `ScanType` | removed `\"virus\"` |"), "{md}");
    assert!(!md.contains("added `\"vul\"`"), "{md}");
    // The other members stay compliant at high throughout.
    for member in ["org-shop", "org-data"] {
        let rows = day_rows(&md, member);
        assert!(
            rows.iter()
                .all(|r| r.contains("| compliant |") || r.contains("missed night")),
            "{member}: {rows:#?}"
        );
    }
}

#[test]
fn the_demos_help_does_not_offer_the_db_it_refuses() {
    let help = Env::new().run(&["demo", "--help"]).ok().stdout;
    assert!(help.contains("--dir"), "{help}");
    assert!(!help.contains("--db"), "{help}");
}

#[test]
fn the_demo_runs_and_its_report_names_each_drift() {
    let env = Env::new();
    let dir = env.path("demo");
    let run = env.run(&["demo", "--dir", dir.to_str().unwrap()]).ok();
    for drift in [
        "virus scanning dropped",
        "switched off",
        "missed night",
        "image added",
        "3 member accounts (shop, ads, data)",
        "in member account ads (100000000003), virus scanning dropped",
    ] {
        assert!(run.stdout.contains(drift), "{drift}: {}", run.stdout);
    }
    let db = dir.join("audit.db");
    let log = env
        .run(&[
            "--db",
            db.to_str().unwrap(),
            "log",
            "--target",
            "prod",
            "--format",
            "json",
        ])
        .ok()
        .json();
    let paths: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            e["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["path"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(paths.iter().any(|p| p == "ScanType"), "{paths:?}");
    assert_eq!(
        paths.iter().filter(|p| *p == "Enable").count(),
        2,
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.starts_with("Images[")), "{paths:?}");
    // The first night's config is prod's approved baseline, and the drift since is judged.
    assert_eq!(log["journal"][0]["by"], "secops", "{}", log["journal"]);
    let baseline = env
        .run(&[
            "--db",
            db.to_str().unwrap(),
            "baseline",
            "show",
            "--target",
            "prod",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(baseline["latest"]["equals_baseline"], false);
    let check = env
        .run(&[
            "--db",
            db.to_str().unwrap(),
            "check",
            "--target",
            "prod",
            "--format",
            "json",
        ])
        .json();
    let rule = check["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "TCSS-BASE-001")
        .unwrap()
        .clone();
    assert_eq!(
        rule["actual"],
        serde_json::json!(["Images", "ScanType"]),
        "{rule}"
    );
    env.run(&["--db", db.to_str().unwrap(), "verify"]).ok();
    // The demo's last line verifies its history against the report it filed and the public key
    // of the key that signed every night.
    let line = run.stdout.lines().last().unwrap().trim();
    assert!(line.contains("--public-key"), "{line}");
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let verified = env.run(&args).ok();
    assert!(
        verified.stdout.contains("(signature verified): snapshot")
            && verified.stdout.contains(" held")
            && verified
                .stdout
                .contains("0 snapshots after the newest verified one"),
        "{}",
        verified.stdout
    );
    let report = run
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with(".md"))
        .unwrap();
    let md = std::fs::read_to_string(report).unwrap();
    // Each member account is a target of the report, with the account it was read from.
    for member in ["org-shop", "org-ads", "org-data"] {
        assert!(md.contains(&format!("## Target `{member}`")), "{member}");
    }
    assert!(
        md.contains("Audited account: `100000000003`"),
        "the ads account"
    );
    for drift in [
        "removed `\"virus\"`",
        "`true` -> `false`",
        "`false` -> `true`",
        "`Images[ccr.ccs.tencentyun.com/shop/api:v7]` | added",
        "missed",
    ] {
        assert!(md.contains(drift), "the report names {drift}");
    }
    // A second demo in the same folder replaces the first.
    env.run(&["demo", "--dir", dir.to_str().unwrap()]).ok();
    let not_ours = env.path("notes");
    std::fs::create_dir_all(&not_ours).unwrap();
    std::fs::write(not_ours.join("todo.txt"), "mine").unwrap();
    env.run(&["demo", "--dir", not_ours.to_str().unwrap()])
        .code(2);
    assert_eq!(
        std::fs::read_to_string(not_ours.join("todo.txt")).unwrap(),
        "mine"
    );
}

//! What a new user and a hostile user tripped over: input that slipped through, output that
//! misled, each through the real binary.

use crate::support::{Env, SEED, Sim, seed_with_request_id};

fn import_at(env: &Env, name: &str, text: &str, at: &str) -> crate::support::Run {
    let file = env.write(name, text);
    env.run(&["import", file.to_str().unwrap(), "--at", at])
}

#[test]
fn answers_that_are_not_the_task_are_refused_naming_what_is_missing() {
    let env = Env::new();
    for (i, text) in [
        "{}",
        r#"{"Response":{}}"#,
        r#"{"Foo":1}"#,
        r#"{"Response":{"Enable":true,"ScanTime":"03:00:00","ScanPeriod":1}}"#,
    ]
    .iter()
    .enumerate()
    {
        let run = import_at(&env, &format!("{i}.json"), text, "2026-11-01T00:00:00Z").code(2);
        assert!(
            run.stderr.contains("it lacks") && run.stderr.contains("ScanType"),
            "{text}: {}",
            run.stderr
        );
        assert!(
            !env.db().exists(),
            "{text}: a refused import creates nothing"
        );
    }
}

#[test]
fn a_time_in_the_future_and_a_request_id_seen_at_another_time_are_refused() {
    let mut env = Env::new();
    env.now = Some("2026-11-28T12:00:00Z".into());
    let run = import_at(&env, "a.json", SEED, "2027-01-01").code(2);
    assert!(run.stderr.contains("after now"), "{}", run.stderr);
    // Within the clock allowance is fine.
    import_at(&env, "a.json", SEED, "2026-11-28T12:03:00Z").ok();
    // The same answer again at its own moment is recorded once; at another moment, refused.
    let again = import_at(&env, "a.json", SEED, "2026-11-28T12:03:00Z").ok();
    assert!(
        again.stdout.contains("already recorded"),
        "{}",
        again.stdout
    );
    let run = import_at(&env, "a.json", SEED, "2026-11-27T03:00:00Z").code(2);
    assert!(
        run.stderr.contains("already observed") && run.stderr.contains("#1 at"),
        "{}",
        run.stderr
    );
    assert_eq!(env.rows("snapshots"), 1);
    // Two files with one RequestId in one import: nothing is recorded.
    let a = env.write("b.json", &seed_with_request_id("twice"));
    let run = env
        .run(&[
            "import",
            a.to_str().unwrap(),
            a.to_str().unwrap(),
            "--at",
            "2026-11-28T03:00:00Z",
        ])
        .ok();
    assert!(run.stdout.contains("already recorded"), "{}", run.stdout);
}

#[test]
fn a_backup_without_line_breaks_is_refused_and_a_failed_restore_leaves_no_database() {
    let env = Env::new();
    let run = env.run(&["import", "--jsonl", "/dev/zero"]).code(2);
    assert!(run.stderr.contains("longer than"), "{}", run.stderr);
    assert!(!env.db().exists(), "nothing left behind");
    let bad = env.write("bad.jsonl", "{\"schema\":\"something-else\"}\n");
    env.run(&["import", "--jsonl", bad.to_str().unwrap()])
        .code(2);
    assert!(!env.db().exists(), "nothing left behind");
    for p in ["audit.db-wal", "audit.db-shm"] {
        assert!(!env.path(p).exists(), "{p}");
    }
}

#[test]
fn restoring_a_backup_again_counts_what_was_already_there() {
    let env = Env::new();
    for (i, day) in ["2026-11-01", "2026-11-02"].iter().enumerate() {
        import_at(
            &env,
            "n.json",
            &seed_with_request_id(&format!("night-{i}")),
            &format!("{day}T03:00:00Z"),
        )
        .ok();
    }
    let backup = env.path("backup.jsonl");
    let run = env.run(&["export", "-o", backup.to_str().unwrap()]).ok();
    assert!(
        run.stderr.contains("exported 2 snapshots"),
        "{}",
        run.stderr
    );
    let run = env
        .run(&["import", "--jsonl", backup.to_str().unwrap()])
        .ok();
    assert!(
        run.stderr
            .contains("imported 0 snapshots; 2 already present"),
        "{}",
        run.stderr
    );
}

#[test]
fn all_means_the_targets_held_and_an_unnamed_target_among_several_is_asked_for() {
    let env = Env::new();
    for (i, target) in ["prod", "staging"].iter().enumerate() {
        let file = env.write("n.json", &seed_with_request_id(&format!("r{i}")));
        env.run(&[
            "import",
            file.to_str().unwrap(),
            "--target",
            target,
            "--at",
            "2026-11-01T03:00:00Z",
        ])
        .ok();
    }
    let h = env
        .run(&["history", "--all", "--format", "json"])
        .ok()
        .json();
    let names: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["target"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod", "staging"], "no invented `default`");
    let run = env.run(&["history"]).code(2);
    assert!(
        run.stderr.contains("prod, staging") && run.stderr.contains("--target"),
        "{}",
        run.stderr
    );
    let run = env
        .run(&["log", "--target", "prod", "--field", "ScanTyp"])
        .code(2);
    assert!(
        run.stderr.contains("did you mean ScanType"),
        "{}",
        run.stderr
    );
    env.run(&["log", "--target", "prod", "--field", "ScanType"])
        .ok();
}

#[test]
fn text_from_outside_reaches_the_terminal_escaped() {
    let env = Env::new();
    let hostile = "req\u{1b}[31m\nprod  #9  2026  unchanged";
    let mut seed: serde_json::Value = serde_json::from_str(SEED).unwrap();
    seed["Response"]["RequestId"] = serde_json::Value::String(hostile.into());
    import_at(&env, "h.json", &seed.to_string(), "2026-11-01T03:00:00Z").ok();
    let out = env.run(&["history"]).ok().stdout;
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("req\\u{1b}[31m\\nprod"), "{out}");
    assert_eq!(out.lines().count(), 2, "a header and one row: {out}");
}

#[test]
fn an_image_named_with_control_characters_reaches_the_terminal_escaped_in_diff_and_log() {
    let env = Env::new();
    let mut seed: serde_json::Value = serde_json::from_str(SEED).unwrap();
    // The image's key (its address) as an API answer could send it.
    seed["Response"]["Images"][0]["ImageRepoAddress"] = "ccr.example/evil\u{1b}[31mred:v1".into();
    import_at(&env, "a.json", &seed.to_string(), "2026-11-01T03:00:00Z").ok();
    seed["Response"]["RequestId"] = "req-2".into();
    // A value: JSON escapes its C0 controls, not a C1 control, DEL or a bidirectional override.
    seed["Response"]["Images"][0]["ImageDigest"] = "sha256:\u{202e}bb\u{9b}31m\u{7f}".into();
    import_at(&env, "b.json", &seed.to_string(), "2026-11-02T03:00:00Z").ok();
    // Change lines name the image's path; the config as pretty JSON (whole, or as a unified
    // diff) keeps its line breaks.
    for (args, lines) in [
        (&["log", "--since", "2026-10-01"][..], true),
        (&["log", "--all", "--since", "2026-10-01"][..], true),
        (&["diff", "--from", "1", "--to", "2"][..], true),
        (&["show"][..], false),
        (
            &["diff", "--from", "1", "--to", "2", "--format", "unified"][..],
            false,
        ),
    ] {
        let out = env.run(args).ok().stdout;
        for hidden in ['\u{1b}', '\u{202e}', '\u{9b}', '\u{7f}'] {
            assert!(!out.contains(hidden), "{args:?}: {out:?}");
        }
        assert!(
            out.contains("sha256:\\u{202e}bb\\u{9b}31m\\u{7f}\""),
            "{args:?}: {out}"
        );
        if lines {
            assert!(
                out.contains("Images[ccr.example/evil\\u{1b}[31mred:v1].ImageDigest"),
                "{args:?}: {out}"
            );
        } else {
            assert!(out.lines().count() > 5, "{args:?}: {out}");
        }
    }
}

#[test]
fn colour_follows_the_flag_on_stderr_too_and_quiet_means_errors_only() {
    let env = Env::new();
    // A field the API added later is worth a warning on stderr.
    let mut seed: serde_json::Value = serde_json::from_str(SEED).unwrap();
    seed["Response"]["NewKnob"] = serde_json::json!(1);
    let file = env.write("k.json", &seed.to_string());
    let args = |color: &'static str| {
        vec![
            "--color".to_string(),
            color.to_string(),
            "import".to_string(),
            file.to_str().unwrap().to_string(),
            "--at".to_string(),
            "2026-11-01T03:00:00Z".to_string(),
        ]
    };
    let never: Vec<String> = args("never");
    let never: Vec<&str> = never.iter().map(String::as_str).collect();
    let run = env.run(&never).ok();
    assert!(run.stderr.contains("NewKnob"), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    let fresh = Env::new();
    let file = fresh.write("k.json", &seed.to_string());
    let run = fresh
        .run(&[
            "--color",
            "always",
            "import",
            file.to_str().unwrap(),
            "--at",
            "2026-11-01T03:00:00Z",
        ])
        .ok();
    assert!(run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    let sim = Sim::start(&[]);
    let run = env
        .run_signed(&["-q", "run", "--endpoint", &sim.url])
        .code(1);
    assert!(run.stderr.is_empty(), "-q: {}", run.stderr);
}

#[test]
fn a_drifted_config_names_its_fields_and_fails_the_run_when_asked() {
    let env = Env::new();
    let state = env.write("state.json", SEED);
    let sim = Sim::start_in(Some(&state), &[]);
    env.run_signed(&["run", "--endpoint", &sim.url]).code(1);
    drop(sim);
    let mut seed: serde_json::Value = serde_json::from_str(SEED).unwrap();
    seed["Response"]["ScanPeriod"] = serde_json::json!(3);
    seed["Response"]["ScanTime"] = serde_json::json!("04:00:00");
    std::fs::write(&state, seed.to_string()).unwrap();
    let sim = Sim::start_in(Some(&state), &[]);
    let run = env
        .run_signed(&[
            "run",
            "--endpoint",
            &sim.url,
            "--fail-on",
            "critical",
            "--fail-on-drift",
        ])
        .code(1);
    assert!(
        run.stderr
            .contains("default: #2 changed: ScanTime, ScanPeriod;"),
        "{}",
        run.stderr
    );
    let run = env
        .run_signed(&["run", "--endpoint", &sim.url, "--fail-on", "critical"])
        .ok();
    assert!(
        run.stderr.contains("#3 unchanged; 0 rules failing"),
        "{}",
        run.stderr
    );
}

#[test]
fn small_things_a_new_user_meets() {
    let env = Env::new();
    let first = import_at(&env, "a.json", SEED, "2026-11-01T03:00:00Z").ok();
    assert!(first.stdout.contains("  first  "), "{}", first.stdout);
    let history = env.run(&["history"]).ok().stdout;
    assert!(
        history.contains("  first  "),
        "the first snapshot says first: {history}"
    );
    // export needs no --jsonl to write its only format.
    let out = env.run(&["export"]).ok().stdout;
    assert!(
        out.starts_with("{\"schema\":\"tcss-audit/export/v1\""),
        "{out}"
    );
    // demo does not take a --db it would not use.
    let run = env.run(&["--db", "elsewhere.db", "demo"]).code(2);
    assert!(run.stderr.contains("--dir"), "{}", run.stderr);
}

#[test]
fn every_time_a_person_reads_is_in_the_chosen_zone() {
    let mut env = Env::new();
    env.now = Some("2026-11-28T12:00:00Z".into());
    import_at(&env, "a.json", SEED, "2026-11-28T03:00:00Z").ok();
    let flag = env.run(&["--tz", "Asia/Shanghai", "check"]).code(1).stdout;
    assert!(
        flag.contains("snapshot 1 at 2026-11-28T11:00:00+08:00"),
        "{flag}"
    );
    let var = env
        .run_with(&["check"], |c| {
            c.env("TCSS_AUDIT_TZ", "Asia/Shanghai");
        })
        .code(1)
        .stdout;
    assert_eq!(flag, var, "TCSS_AUDIT_TZ sets the zone as --tz does");
    // JSON keeps UTC, to the second.
    let json = env
        .run(&["--tz", "Asia/Shanghai", "check", "--format", "json"])
        .code(1)
        .json();
    assert_eq!(json["snapshot"]["at"], "2026-11-28T03:00:00Z");
}

#[test]
fn a_target_the_history_does_not_hold_is_refused_by_log_and_history_not_shown_as_quiet() {
    let env = Env::new();
    import_at(&env, "a.json", SEED, "2026-11-01T03:00:00Z").ok();
    let file = env.write("b.json", SEED);
    env.run(&[
        "import",
        file.to_str().unwrap(),
        "--at",
        "2026-11-02T03:00:00Z",
        "--target",
        "production",
    ])
    .ok();
    for command in ["log", "history"] {
        let run = env.run(&[command, "--target", "prodution"]).code(2);
        assert!(run.stdout.is_empty(), "{command}: {}", run.stdout);
        assert!(
            run.stderr.contains("no target prodution")
                && run.stderr.contains("did you mean production"),
            "{command}: {}",
            run.stderr
        );
        env.run(&[command, "--target", "production"]).ok();
    }
}

/// With several targets and no `--target`, a command that records or changes one refuses to
/// guess (exit 2, naming them, and `--all` where it takes it); one that acts on one target
/// does not offer `--all` at all. A target's first snapshot is `first`, not `changed`, in the
/// history's JSON and in the run's report.
#[test]
fn commands_that_would_guess_their_target_refuse_and_name_the_targets() {
    let sim = Sim::start(&[]);
    let env = Env::new();
    let cfg = env.write(
        "audit.toml",
        &format!(
            "db = \"audit.db\"\n\n[[target]]\nname = \"prod\"\nendpoint = \"{0}\"\n\n[[target]]\nname = \"staging\"\nendpoint = \"{0}\"\n",
            sim.url
        ),
    );
    let run = |args: &[&str]| {
        let mut all = vec!["--config", cfg.to_str().unwrap()];
        all.extend(args);
        env.run_with(&all, |c| {
            c.env_remove("TCSS_AUDIT_DB")
                .env("TENCENTCLOUD_SECRET_ID", crate::support::SIM_ID)
                .env("TENCENTCLOUD_SECRET_KEY", crate::support::SIM_KEY);
        })
    };
    let snapshot = run(&["snapshot"]).code(2);
    assert!(
        snapshot.stderr.contains("prod, staging") && snapshot.stderr.contains("--all"),
        "{}",
        snapshot.stderr
    );
    assert!(!env.db().exists(), "nothing was recorded");
    let restore = run(&["restore"]).code(2);
    assert!(
        restore.stderr.contains("prod, staging") && !restore.stderr.contains("--all"),
        "{}",
        restore.stderr
    );
    for cmd in [
        &["show", "--help"][..],
        &["restore", "--help"],
        &["baseline", "approve", "--help"],
    ] {
        let help = run(cmd).ok();
        assert!(!help.stdout.contains("--all"), "{cmd:?}: {}", help.stdout);
    }
    run(&["show", "--all"]).code(2);
    // The run's first snapshot of a target is "first", not "changed".
    let out = env.path("reports");
    let nightly = run(&[
        "run",
        "--out-dir",
        out.to_str().unwrap(),
        "--target",
        "prod",
    ]);
    assert!(nightly.code <= 1, "{}", nightly.stderr);
    let json = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let row = &report["run"][0];
    assert_eq!(
        (&row["changed"], &row["first"]),
        (&false.into(), &true.into()),
        "{row}"
    );
    // Every target on request; in the history's JSON too, a first snapshot is "first".
    run(&["snapshot", "--all"]).ok();
    for (target, first) in [("prod", false), ("staging", true)] {
        let history = run(&["history", "--target", target, "--format", "json"])
            .ok()
            .json();
        let last = history["snapshots"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["changed"], false, "{target}: {last}");
        assert_eq!(last.get("first").is_some(), first, "{target}: {last}");
    }
}

/// `check --all` names each target above its results; a gap rule that holds reads as a
/// sentence.
#[test]
fn check_all_names_each_target_before_its_results() {
    let mut env = Env::new();
    env.now = Some("2026-11-01T04:00:00Z".into());
    for (target, request) in [("alpha", "req-a"), ("beta", "req-b")] {
        let file = env.write(&format!("{target}.json"), &seed_with_request_id(request));
        env.run(&[
            "import",
            file.to_str().unwrap(),
            "--target",
            target,
            "--at",
            "2026-11-01T03:00:00Z",
        ])
        .ok();
    }
    let out = env.run(&["check", "--all"]);
    assert!(out.code <= 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"target alpha"), "{}", out.stdout);
    let beta = lines.iter().position(|l| *l == "target beta").unwrap();
    assert!(lines[beta - 1].is_empty() && lines[beta - 2].starts_with("alpha snapshot"));
    assert!(
        out.stdout
            .contains("the history has an observation at least every"),
        "{}",
        out.stdout
    );
}

/// `policy validate` and `policy test` without paths check what `check` and `run` would use:
/// the config file's policies, not only the shipped ones.
#[test]
fn policy_validate_checks_the_config_files_policies() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("mine")).unwrap();
    env.write(
        "mine/house.toml",
        "[policy]\nname = \"house\"\n\n[[rule]]\nid = \"H-1\"\ntitle = \"t\"\nseverity = \"high\"\nfield = \"Enable\"\nop = \"no_such_op\"\nvalue = true\n",
    );
    let cfg = env.write("audit.toml", "policies = [\"mine\"]\n");
    let run = env.run(&["--config", cfg.to_str().unwrap(), "policy", "validate"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("house.toml") && run.stderr.contains("no_such_op"),
        "{}",
        run.stderr
    );
    // Without a config, the shipped policies, which hold.
    env.run(&["policy", "validate"]).ok();
}

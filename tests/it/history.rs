//! Importing saved answers and reading the history back: show, history, verify, WHEN.

use crate::support::{Env, SEED, seed_with_request_id};

#[test]
fn the_reference_example_imports_with_nothing_lost() {
    let env = Env::new();
    let file = env.write("seed.json", SEED);
    env.run(&[
        "import",
        file.to_str().unwrap(),
        "--at",
        "2026-11-01T03:00:00Z",
    ])
    .ok();
    let raw = env.run(&["show", "--raw"]).ok();
    assert_eq!(
        raw.stdout_bytes,
        SEED.as_bytes(),
        "show --raw gives the answer back byte for byte"
    );
    let shown = env.run(&["show", "--format", "json"]).ok().json();
    assert_eq!(
        shown["config"]["All"],
        serde_json::json!(false),
        "All survives"
    );
    assert!(shown["config"].get("RequestId").is_none());
    assert_eq!(
        shown["snapshot"]["request_id"],
        "f60f0ef9-a105-4535-8dfd-42ad8b3a9c73"
    );
    assert_eq!(shown["snapshot"]["at"], "2026-11-01T03:00:00Z");
}

#[test]
fn show_raw_is_exact_in_a_pipe_and_escaped_on_a_terminal() {
    let env = Env::new();
    // JSON forbids C0 controls raw in a string, not C1 ones (CSI) or bidirectional overrides.
    let hostile = SEED.replace("\"tcss\"", "\"tc\u{9b}2J\u{202e}ss\"");
    assert_ne!(hostile, SEED);
    let file = env.write("hostile.json", &hostile);
    env.run(&[
        "import",
        file.to_str().unwrap(),
        "--at",
        "2026-11-01T03:00:00Z",
    ])
    .ok();
    let piped = env.run(&["show", "--raw"]).ok();
    assert_eq!(
        piped.stdout_bytes,
        hostile.as_bytes(),
        "a pipe gets the exact bytes"
    );
    assert!(!piped.stderr.contains("escapes"), "{}", piped.stderr);

    // `script` (util-linux, on every Debian and Ubuntu system) gives the command a terminal.
    let audit = env.cmd();
    let mut c = std::process::Command::new("script");
    for (name, value) in audit.get_envs() {
        match value {
            Some(value) => c.env(name, value),
            None => c.env_remove(name),
        };
    }
    let line = format!("'{}' show --raw", audit.get_program().to_string_lossy());
    let out = match c
        .current_dir(env.dir.path())
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "script is missing: {e}");
            eprintln!("skipped: script is not installed, so no terminal to test on");
            return;
        }
    };
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{seen}");
    assert!(seen.contains("tc\\u{9b}2J\\u{202e}ss"), "{seen}");
    assert!(
        !seen.contains('\u{9b}') && !seen.contains('\u{202e}'),
        "{seen}"
    );
    assert!(seen.contains("shown as escapes"), "{seen}");
}

#[test]
fn all_three_answer_shapes_import_as_one_config() {
    let env = Env::new();
    let night = |rid: &str| -> serde_json::Value {
        serde_json::from_str(&seed_with_request_id(rid)).unwrap()
    };
    let bare = serde_json::to_string(&night("night-2")["Response"]).unwrap();
    let tccli = serde_json::to_string_pretty(&night("night-3")["Response"]).unwrap();
    let a = env.write("a.json", SEED);
    let b = env.write("b.json", &bare);
    let c = env.write("c.json", &tccli);
    env.run(&[
        "import",
        a.to_str().unwrap(),
        "--at",
        "2026-11-01T00:00:00Z",
    ])
    .ok();
    env.run(&[
        "import",
        b.to_str().unwrap(),
        "--at",
        "2026-11-02T00:00:00Z",
    ])
    .ok();
    env.run(&[
        "import",
        c.to_str().unwrap(),
        "--at",
        "2026-11-03T00:00:00Z",
    ])
    .ok();
    let h = env.run(&["history", "--format", "json"]).ok().json();
    let snaps = h["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 3);
    assert_eq!(h["schema"], "tcss-audit/history/v1");
    assert!(
        snaps
            .iter()
            .all(|s| s["config_hash"] == snaps[0]["config_hash"])
    );
    assert_eq!(
        snaps
            .iter()
            .map(|s| s["changed"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [false, false, false]
    );
    // The first is the first, not a change.
    assert_eq!(snaps[0]["first"], true);
    assert!(snaps[1].get("first").is_none());
    let changes_only = env
        .run(&["history", "--changes-only", "--format", "json"])
        .ok()
        .json();
    assert_eq!(changes_only["snapshots"].as_array().unwrap().len(), 1);
}

#[test]
fn a_bad_import_records_nothing_and_says_which_file() {
    let env = Env::new();
    let good = env.write("good.json", SEED);
    let bad = env.write("bad.json", "{\"Response\": {\"Enable\": \"yes\"}}");
    let run = env
        .run(&["import", good.to_str().unwrap(), bad.to_str().unwrap()])
        .code(2);
    assert!(
        run.stderr.contains("bad.json") && run.stderr.contains("Enable"),
        "{}",
        run.stderr
    );
    assert!(
        !env.db().exists(),
        "nothing was recorded, not even an empty database"
    );
}

#[test]
fn when_before_the_first_snapshot_names_the_earliest() {
    let env = Env::new();
    let file = env.write("seed.json", SEED);
    env.run(&[
        "import",
        file.to_str().unwrap(),
        "--at",
        "2026-11-05T03:00:00Z",
    ])
    .ok();
    let run = env.run(&["show", "2026-11-01"]).code(2);
    assert!(
        run.stderr.contains("2026-11-05T03:00:00Z"),
        "{}",
        run.stderr
    );
    let run = env.run(&["show", "yesterday-ish"]).code(2);
    assert!(run.stderr.contains("latest"), "{}", run.stderr);
    env.run(&["show", "2026-11-05"]).ok();
}

#[test]
fn verify_passes_then_fails_after_a_row_is_altered() {
    let env = Env::new();
    for day in ["2026-11-01", "2026-11-02", "2026-11-03"] {
        let file = env.write("seed.json", &seed_with_request_id(day));
        env.run(&[
            "import",
            file.to_str().unwrap(),
            "--at",
            &format!("{day}T03:00:00Z"),
        ])
        .ok();
    }
    let ok = env.run(&["verify"]).ok();
    assert!(ok.stdout.contains("3 snapshots"), "{}", ok.stdout);
    {
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        conn.execute(
            "UPDATE snapshots SET observed_at = observed_at + 1000 WHERE id = 2",
            [],
        )
        .unwrap();
    }
    let broken = env.run(&["verify", "--format", "json"]).code(1).json();
    assert_eq!(broken["ok"], false);
    assert_eq!(broken["first_break"]["snapshot"], 2);
}

#[test]
fn read_commands_on_a_missing_database_explain_and_create_nothing() {
    let env = Env::new();
    let run = env.run(&["history"]).code(2);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert!(!env.db().exists());
}

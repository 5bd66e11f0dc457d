//! Storage: backups that round-trip, retention that keeps the chain verifiable, damaged or
//! foreign database files, and a process killed in the middle of a long import.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tcss_audit::normalize;
use tcss_audit::store::{NewSnapshot, OpenMode, Source, Store};

use crate::support::{Env, SEED};

/// Records `n` nightly observations of one target straight through the library, with a change
/// every tenth night, so tests can start from a long history quickly.
fn seed_history(db: &Path, n: i64) {
    let mut store = Store::open(db, OpenMode::Create).unwrap();
    let start: DateTime<Utc> = "2026-01-01T19:00:00Z".parse().unwrap();
    let seed: serde_json::Value = serde_json::from_str(SEED).unwrap();
    let rows: Vec<_> = (0..n)
        .map(|i| {
            let mut inner = seed["Response"].clone();
            inner["RequestId"] = serde_json::json!(format!("req-{i}"));
            inner["ScanPeriod"] = serde_json::json!(1 + (i / 10) % 3);
            let raw = serde_json::to_vec(&serde_json::json!({ "Response": inner })).unwrap();
            let fields = inner.as_object().unwrap();
            (
                start + chrono::Duration::days(i),
                format!("req-{i}"),
                raw,
                normalize::normalize(fields),
                normalize::status_of(fields),
            )
        })
        .collect();
    let batch: Vec<NewSnapshot<'_>> = rows
        .iter()
        .map(|(at, req, raw, config, status)| NewSnapshot {
            target: "prod",
            observed_at: *at,
            recorded_at: *at,
            source: Source::Import,
            endpoint: None,
            request_id: Some(req),
            raw,
            config,
            status,
        })
        .collect();
    store.record_batch(&batch).unwrap();
}

/// The count while another process may still be creating the database.
fn try_count(db: &Path) -> Option<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.query_row("SELECT COUNT(*) FROM snapshots", [], |r| r.get(0))
        .ok()
}

#[test]
fn export_then_import_into_an_empty_database_rebuilds_the_same_chain() {
    let env = Env::new();
    seed_history(&env.db(), 60);
    let backup = env.path("backup.jsonl");
    env.run(&["export", "--jsonl", "-o", backup.to_str().unwrap()])
        .ok();
    let restored = env.path("restored.db");
    env.run(&[
        "--db",
        restored.to_str().unwrap(),
        "import",
        "--jsonl",
        backup.to_str().unwrap(),
    ])
    .ok();
    env.run(&["--db", restored.to_str().unwrap(), "verify"])
        .ok();
    let again = env.path("again.jsonl");
    env.run(&[
        "--db",
        restored.to_str().unwrap(),
        "export",
        "--jsonl",
        "-o",
        again.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        std::fs::read_to_string(&again).unwrap(),
        "same observations, configs, hashes and chain"
    );
    let a = env.run(&["history", "--format", "json"]).ok().stdout;
    let b = env
        .run(&[
            "--db",
            restored.to_str().unwrap(),
            "history",
            "--format",
            "json",
        ])
        .ok()
        .stdout;
    assert_eq!(a, b);
}

#[test]
fn an_altered_backup_is_refused_where_it_was_altered() {
    let env = Env::new();
    seed_history(&env.db(), 5);
    let backup = env.path("backup.jsonl");
    env.run(&["export", "--jsonl", "-o", backup.to_str().unwrap()])
        .ok();
    let text = std::fs::read_to_string(&backup).unwrap();
    let forged = text.replacen(r#"\"ScanPeriod\":1"#, r#"\"ScanPeriod\":7"#, 1);
    assert_ne!(text, forged);
    let file = env.write("forged.jsonl", &forged);
    let run = env
        .run(&[
            "--db",
            env.path("r.db").to_str().unwrap(),
            "import",
            "--jsonl",
            file.to_str().unwrap(),
        ])
        .code(2);
    assert!(
        run.stderr.contains("forged.jsonl:2") && run.stderr.contains("altered"),
        "{}",
        run.stderr
    );
}

#[test]
fn pruning_keeps_the_chain_verifiable_and_the_configs_still_needed() {
    let env = Env::new();
    seed_history(&env.db(), 40);
    let run = env.run(&["prune", "--before", "2026-01-21"]).ok();
    assert!(
        run.stdout.contains("removed 20 snapshots"),
        "{}",
        run.stdout
    );
    env.run(&["verify"]).ok();
    let h = env.run(&["history", "--format", "json"]).ok().json();
    let snaps = h["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 20);
    assert_eq!(snaps[0]["at"], "2026-01-21T19:00:00Z");
    // ScanPeriod cycles 1,2,3 every ten nights: nights 20-39 use periods 3 and 1, and the
    // period-1 config (first seen on night 0) is still needed by night 30.
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let configs: i64 = conn
        .query_row("SELECT COUNT(*) FROM configs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(configs, 2);
    drop(conn);
    env.run(&["diff", "--from", "2026-01-25", "--to", "latest"])
        .ok();
    // Altering a kept row is still found after pruning.
    {
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        conn.execute("UPDATE snapshots SET request_id = 'x' WHERE id = 25", [])
            .unwrap();
    }
    let broken = env.run(&["verify"]).code(1);
    assert!(broken.stdout.contains("snapshot 25"), "{}", broken.stdout);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let env = Env::new();
    std::fs::write(env.db(), "name,score\nalice,3\n").unwrap();
    let run = env.run(&["history"]).code(4);
    assert!(run.stderr.contains("not an SQLite file"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(env.db()).unwrap(),
        "name,score\nalice,3\n"
    );
}

#[test]
fn a_truncated_database_is_a_storage_error_not_a_panic() {
    let env = Env::new();
    seed_history(&env.db(), 200);
    {
        // Fold the write-ahead log in, then cut the file in half.
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let len = std::fs::metadata(env.db()).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(env.db())
        .unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    for args in [&["verify"][..], &["history"][..], &["show", "latest"][..]] {
        let run = env.run(args);
        assert!(
            matches!(run.code, 1 | 4),
            "{args:?}: {}\n{}",
            run.code,
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[test]
fn a_database_from_a_newer_version_is_refused_untouched() {
    let env = Env::new();
    seed_history(&env.db(), 3);
    {
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = std::fs::read(env.db()).unwrap();
    let run = env.run(&["history"]).code(4);
    assert!(run.stderr.contains("newer tcss-audit"), "{}", run.stderr);
    assert_eq!(std::fs::read(env.db()).unwrap(), before);
}

#[test]
fn a_killed_import_leaves_every_committed_snapshot_and_a_chain_that_verifies() {
    let env = Env::new();
    let source = env.path("source.db");
    seed_history(&source, 5000);
    let backup = env.path("backup.jsonl");
    env.run(&[
        "--db",
        source.to_str().unwrap(),
        "export",
        "--jsonl",
        "-o",
        backup.to_str().unwrap(),
    ])
    .ok();

    let mut child = env
        .cmd()
        .args(["import", "--jsonl", backup.to_str().unwrap()])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let n = try_count(&env.db()).unwrap_or(0);
        if n >= 500 || Instant::now() > deadline {
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
    }
    let finished_first = child.try_wait().unwrap().is_some();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !finished_first,
        "the import must still be running when it is killed"
    );
    let committed = env.rows("snapshots");
    assert!(
        committed > 0,
        "some snapshots were committed before the kill"
    );
    env.run(&["verify"]).ok();
    let h = env.run(&["history", "--format", "json"]).ok().json();
    assert_eq!(h["snapshots"].as_array().unwrap().len() as i64, committed);
    // Running the import again completes the history: what was already there is recognised.
    env.run(&["import", "--jsonl", backup.to_str().unwrap()])
        .ok();
    assert_eq!(env.rows("snapshots"), 5000);
    env.run(&["verify"]).ok();
}

/// Clears the immutable flag again however the test ends, so the folder can be removed.
struct Immutable<'a>(&'a Path);

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(self.0)
            .status();
    }
}

#[test]
fn a_read_only_database_is_read_and_never_written() {
    let env = Env::new();
    seed_history(&env.db(), 3);
    {
        // Fold the write-ahead log in so the file alone holds the history.
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    // Permission bits do not stop root, so make the file immutable where the system allows it.
    let made = std::process::Command::new("chattr")
        .arg("+i")
        .arg(env.db())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("chattr +i is not available here: the read-only case is not exercised");
        return;
    }
    let _guard = Immutable(&env.db());
    let before = std::fs::read(env.db()).unwrap();
    env.run(&["verify"]).ok();
    let file = env.write("seed.json", SEED);
    let run = env.run(&["import", file.to_str().unwrap()]).code(4);
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(env.db()).unwrap(),
        before,
        "the file is as it was"
    );
}

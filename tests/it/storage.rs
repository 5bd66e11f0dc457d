//! Storage: backups that round-trip, retention that keeps the chain verifiable, damaged or
//! foreign database files, and a process killed in the middle of a long import.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tcss_audit::store::{NewSnapshot, OpenMode, Store};
use tcss_audit::task::normalize;
use tcss_audit::task::source::Source;

use crate::support::{Env, Immutable, SEED};

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
                normalize::Prepared::new(normalize::normalize(fields)),
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
            identity: None,
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
fn pruning_never_removes_a_targets_newest_snapshot_and_a_dry_run_removes_nothing() {
    let env = Env::new();
    seed_history(&env.db(), 10);
    let dry = env
        .run(&["prune", "--before", "2027-06-01", "--dry-run"])
        .ok();
    assert!(
        dry.stdout.contains("would remove 9 snapshots")
            && dry.stdout.contains("nothing was removed"),
        "{}",
        dry.stdout
    );
    assert_eq!(env.rows("snapshots"), 10);
    // Without a terminal (as under cron) it does not ask.
    let run = env.run(&["prune", "--before", "2027-06-01"]).ok();
    assert!(
        run.stdout.contains("removed 9 snapshots")
            && run.stdout.contains("newest snapshot of each target"),
        "{}",
        run.stdout
    );
    assert_eq!(env.rows("snapshots"), 1);
    env.run(&["verify"]).ok();
    env.run(&["show", "latest"]).ok();
    let again = env.run(&["prune", "--before", "2027-06-01", "--yes"]).ok();
    assert!(
        again.stdout.contains("nothing to remove"),
        "{}",
        again.stdout
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

/// A text field altered into bytes that are not UTF-8 breaks the chain at its row, with a
/// message that says so (and nothing of the bytes themselves), and its neighbours still hold.
#[test]
fn a_text_field_that_is_not_utf8_breaks_the_chain_at_its_row() {
    let env = Env::new();
    seed_history(&env.db(), 30);
    {
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        conn.execute(
            "UPDATE snapshots SET scan_result = CAST(X'73756363c3' AS TEXT) WHERE id = 12",
            [],
        )
        .unwrap();
    }
    let broken = env.run(&["verify", "--format", "json"]).code(1).json();
    assert_eq!(broken["first_break"]["snapshot"], 12, "{broken}");
    let reason = broken["first_break"]["reason"].as_str().unwrap();
    assert!(reason.contains("not UTF-8"), "{reason}");
    assert_eq!(broken["checked"], 12, "{broken}");
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

/// Another application's SQLite file, named by mistake, is refused by reading and recording
/// commands alike: no tables added, its journal mode kept, no `-wal` or `-shm` beside it.
#[test]
fn another_applications_sqlite_file_is_refused_untouched() {
    let env = Env::new();
    let db = env.path("notes.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let shown = db.to_str().unwrap();
    let seed = env.write("seed.json", SEED);
    let import = [
        "--db",
        shown,
        "import",
        seed.to_str().unwrap(),
        "--at",
        "2026-11-01",
    ];
    for args in [&["--db", shown, "history"][..], &import[..]] {
        let run = env.run(args).code(2);
        assert!(run.stderr.contains(shown), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("an SQLite database but not a tcss-audit history"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("left untouched"), "{}", run.stderr);
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    for side in ["notes.db-wal", "notes.db-shm", "notes.db-journal"] {
        assert!(!env.path(side).exists(), "{side}");
    }
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["notes"]);
}

/// A file of no bytes is still a new history, as SQLite itself treats it.
#[test]
fn an_empty_file_becomes_a_new_history() {
    let env = Env::new();
    std::fs::write(env.db(), "").unwrap();
    let seed = env.write("seed.json", SEED);
    env.run(&["import", seed.to_str().unwrap(), "--at", "2026-11-01"])
        .ok();
    assert_eq!(env.rows("snapshots"), 1);
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
    // Three import batches' worth, so that the kill lands between commits.
    seed_history(&source, 12000);
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
    assert_eq!(env.rows("snapshots"), 12000);
    env.run(&["verify"]).ok();
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

#[test]
fn unchanged_answers_are_kept_packed_and_come_back_byte_for_byte() {
    let env = Env::new();
    seed_history(&env.db(), 30);
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    // Three configs (ScanPeriod changes every ten nights): one whole base each, and every
    // answer packed against its config's base.
    let bases: i64 = conn
        .query_row("SELECT COUNT(*) FROM raw_bases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bases, 3);
    let (whole, packed_avg): (i64, f64) = conn
        .query_row(
            "SELECT COUNT(*) FILTER (WHERE raw_base IS NULL), AVG(length(raw)) FROM snapshots",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(whole, 0);
    let answer_len = SEED.len() as f64;
    assert!(
        packed_avg < answer_len / 4.0,
        "packed answers average {packed_avg} bytes against answers of about {answer_len}"
    );
    drop(conn);
    let shown = env.run(&["show", "12", "--raw"]).ok().stdout;
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["Response"]["RequestId"], "req-11");
    assert_eq!(v["Response"]["ScanPeriod"], 2);
    env.run(&["verify"]).ok();
}

#[test]
fn an_altered_packed_answer_or_base_breaks_the_chain_where_it_is_used() {
    let env = Env::new();
    seed_history(&env.db(), 30);
    env.run(&["verify"]).ok();
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    // One byte of snapshot 17's packed answer: a literal byte near the end (its RequestId).
    let raw: Vec<u8> = conn
        .query_row("SELECT raw FROM snapshots WHERE id = 17", [], |r| r.get(0))
        .unwrap();
    let mut forged = raw.clone();
    let i = forged.len() - 8;
    forged[i] ^= 0x01;
    conn.execute(
        "UPDATE snapshots SET raw = ?1 WHERE id = 17",
        rusqlite::params![forged],
    )
    .unwrap();
    let broken = env.run(&["verify"]).code(1);
    assert!(broken.stdout.contains("snapshot 17"), "{}", broken.stdout);
    assert!(broken.stdout.contains("raw answer"), "{}", broken.stdout);
    conn.execute(
        "UPDATE snapshots SET raw = ?1 WHERE id = 17",
        rusqlite::params![raw],
    )
    .unwrap();
    env.run(&["verify"]).ok();

    // The base of the second config (nights 10-19) is the answer of snapshot 11: altering it
    // breaks the first snapshot that is rebuilt from it.
    let (base, first): (i64, i64) = conn
        .query_row(
            "SELECT raw_base, MIN(id) FROM snapshots WHERE id > 10 GROUP BY raw_base ORDER BY 2 LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(first, 11);
    conn.execute(
        "UPDATE raw_bases SET bytes = CAST(replace(bytes, 'req-10', 'req-99') AS BLOB) WHERE id = ?1",
        [base],
    )
    .unwrap();
    let broken = env.run(&["verify"]).code(1);
    assert!(broken.stdout.contains("snapshot 11"), "{}", broken.stdout);
    // A base that is gone (deleted past the foreign key) is named as such.
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    conn.execute("DELETE FROM raw_bases WHERE id = ?1", [base])
        .unwrap();
    let broken = env.run(&["verify"]).code(1);
    assert!(
        broken.stdout.contains("snapshot 11") && broken.stdout.contains("not there"),
        "{}",
        broken.stdout
    );
}

/// The schema of the first four migrations, as databases written before answers were packed
/// have it.
fn old_schema(conn: &rusqlite::Connection) {
    for m in [
        "01-initial",
        "02-change-events",
        "03-check-results",
        "04-chain-checkpoints",
    ] {
        let sql = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(m)
                .join("up.sql"),
        )
        .unwrap();
        conn.execute_batch(&sql).unwrap();
    }
    conn.pragma_update(None, "user_version", 4).unwrap();
}

#[test]
fn a_database_written_before_packing_is_migrated_in_place_and_still_verifies() {
    let env = Env::new();
    let current = env.path("current.db");
    seed_history(&current, 25);
    let backup = env.path("backup.jsonl");
    let cur = current.to_str().unwrap();
    env.run(&[
        "--db",
        cur,
        "export",
        "--jsonl",
        "-o",
        backup.to_str().unwrap(),
    ])
    .ok();

    // The same history as the old schema stored it: whole answers, hex hashes, prev_chain.
    let old = rusqlite::Connection::open(env.db()).unwrap();
    old_schema(&old);
    let src = rusqlite::Connection::open(&current).unwrap();
    old.execute_batch(&format!("ATTACH '{cur}' AS src"))
        .unwrap();
    old.execute_batch(
        "INSERT INTO targets SELECT * FROM src.targets;
         INSERT INTO configs SELECT * FROM src.configs;",
    )
    .unwrap();
    let text = std::fs::read_to_string(&backup).unwrap();
    let mut prev = "0".repeat(64);
    for line in text.lines().skip(1) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = row["id"].as_i64().unwrap();
        let (target_id, observed, recorded, lst, sr): (i64, i64, i64, Option<String>, Option<String>) = src
            .query_row(
                "SELECT target_id, observed_at, recorded_at, last_scan_time, scan_result FROM snapshots WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        let raw = row["raw"].as_str().unwrap();
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(raw.as_bytes()))
        };
        let chain = row["chain_hash"].as_str().unwrap();
        old.execute(
            "INSERT INTO snapshots (id, target_id, observed_at, recorded_at, source, endpoint, request_id,
                 raw, raw_sha256, config_hash, last_scan_time, scan_result, prev_chain, chain_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            rusqlite::params![
                id,
                target_id,
                observed,
                recorded,
                row["source"].as_str(),
                row["endpoint"].as_str(),
                row["request_id"].as_str(),
                raw.as_bytes(),
                sha,
                row["config_hash"].as_str(),
                lst,
                sr,
                prev,
                chain
            ],
        )
        .unwrap();
        prev = chain.to_string();
    }
    old.execute_batch(
        "INSERT INTO change_events SELECT * FROM src.change_events;
         INSERT INTO seen_fields SELECT * FROM src.seen_fields;
         DETACH src;",
    )
    .unwrap();
    drop(old);
    drop(src);

    // Opening it migrates it: the answers stay whole, the chain holds, the export is the same.
    env.run(&["verify"]).ok();
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    // The latest schema: one migration a folder.
    let latest = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
        .unwrap()
        .count() as i64;
    assert_eq!(version, latest);
    let whole: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM snapshots WHERE raw_base IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(whole, 25);
    let events: i64 = conn
        .query_row("SELECT COUNT(*) FROM change_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 2);
    drop(conn);
    let again = env.path("again.jsonl");
    env.run(&["export", "--jsonl", "-o", again.to_str().unwrap()])
        .ok();
    assert_eq!(text, std::fs::read_to_string(&again).unwrap());

    // New answers recorded on top are packed, and the chain goes on from the migrated rows.
    seed_later(&env.db());
    env.run(&["verify"]).ok();
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let packed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM snapshots WHERE raw_base IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(packed, 3);
}

/// Three more nights after [`seed_history`]'s 25.
fn seed_later(db: &Path) {
    let mut store = Store::open(db, OpenMode::Create).unwrap();
    let seed: serde_json::Value = serde_json::from_str(SEED).unwrap();
    let start: DateTime<Utc> = "2026-03-01T19:00:00Z".parse().unwrap();
    for i in 0..3 {
        let mut inner = seed["Response"].clone();
        inner["RequestId"] = serde_json::json!(format!("later-{i}"));
        let raw = serde_json::to_vec(&serde_json::json!({ "Response": inner })).unwrap();
        let fields = inner.as_object().unwrap();
        let at = start + chrono::Duration::days(i);
        store
            .record(&NewSnapshot {
                target: "prod",
                observed_at: at,
                recorded_at: at,
                source: Source::Import,
                endpoint: None,
                request_id: Some("later"),
                raw: &raw,
                config: &normalize::Prepared::new(normalize::normalize(fields)),
                status: &normalize::status_of(fields),
                identity: None,
            })
            .unwrap();
    }
}

#[test]
fn a_path_that_is_not_a_regular_file_is_refused_untouched() {
    let env = Env::new();
    for db in [
        "/dev/null".to_string(),
        env.dir.path().display().to_string(),
    ] {
        let run = env.run(&["--db", &db, "history"]).code(4);
        assert!(
            run.stderr.contains("not a regular file"),
            "{db}: {}",
            run.stderr
        );
        // A good answer to record, so that only the path can be what is refused.
        let file = env.write("seed.json", SEED);
        let run = env
            .run(&[
                "--db",
                &db,
                "import",
                file.to_str().unwrap(),
                "--at",
                "2026-11-01",
            ])
            .code(4);
        assert!(
            run.stderr.contains("not a regular file"),
            "{db}: {}",
            run.stderr
        );
    }
    assert!(!std::path::Path::new("/dev/null-journal").exists());
    assert!(!std::path::Path::new("/dev/null-wal").exists());
}

/// A tmpfs mounted at a folder of the test's, unmounted when dropped.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(at: &Path) -> Option<Mount> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(at.to_path_buf()))
    }

    fn read_only(&self) {
        let ok = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_database_on_read_only_media_can_be_read_verified_and_reported_on() {
    let env = Env::new();
    let Some(mount) = Mount::tmpfs(&env.path("media")) else {
        eprintln!("skipped: this machine does not let the test mount a tmpfs (mount needs root)");
        return;
    };
    let db = env.path("media/archive.db");
    seed_history(&db, 5);
    mount.read_only();
    let db = db.to_str().unwrap();
    let h = env
        .run(&["--db", db, "history", "--format", "json"])
        .ok()
        .json();
    assert_eq!(h["snapshots"].as_array().unwrap().len(), 5);
    env.run(&["--db", db, "verify"]).ok();
    env.run(&[
        "--db",
        db,
        "report",
        "--since",
        "2026-01-01",
        "--until",
        "2026-01-10",
    ])
    .ok();
    // Writing is refused as storage, and the archive is as it was.
    let file = env.write("seed.json", SEED);
    let run = env
        .run(&[
            "--db",
            db,
            "import",
            file.to_str().unwrap(),
            "--at",
            "2026-02-01",
        ])
        .code(4);
    assert!(
        run.stderr.contains("read-only") || run.stderr.contains("readonly"),
        "{}",
        run.stderr
    );
}

#[test]
fn after_a_run_the_database_file_alone_holds_the_whole_history() {
    let env = Env::new();
    seed_history(&env.db(), 3);
    // The WAL files stay beside the database between runs, but everything is in the file.
    assert!(env.path("audit.db-wal").exists(), "the WAL file is kept");
    let copy = env.path("copy.db");
    std::fs::copy(env.db(), &copy).unwrap();
    let copy = copy.to_str().unwrap();
    let h = env
        .run(&["--db", copy, "history", "--format", "json"])
        .ok()
        .json();
    assert_eq!(h["snapshots"].as_array().unwrap().len(), 3);
    env.run(&["--db", copy, "verify"]).ok();
}

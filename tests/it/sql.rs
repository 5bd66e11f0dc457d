//! The history in SQL: the views a reader queries with `sqlite3`, over a history the real binary
//! recorded from the real stand-in.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use crate::support::{Env, Immutable, SEED, Sim, update};

/// The history opened as a reader would: read-only.
fn reader(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// The rows `sql` gives, each value as text (NULL as `NULL`).
fn table(db: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = db.prepare(sql).unwrap();
    let width = stmt.column_count();
    stmt.query_map([], |r| {
        (0..width)
            .map(|i| {
                Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Null => "NULL".into(),
                    other => format!("{other:?}"),
                })
            })
            .collect()
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// A nightly run against the stand-in, failing only on critical rules.
fn night(env: &Env, url: &str, code: i32) {
    let out = env.path("reports");
    env.run_signed(&[
        "run",
        "--endpoint",
        url,
        "--out-dir",
        out.to_str().unwrap(),
        "--fail-on",
        "critical",
    ])
    .code(code);
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[test]
fn the_views_answer_from_a_real_history() {
    let sim = Sim::start(&[]);
    let env = Env::new();
    let before = now_ms();
    night(&env, &sim.url, 0);
    // The scheduled scan switched off in the console: the critical rule fails.
    update(
        &sim.url,
        json!({"Enable": false, "ScanPeriod": 1, "ScanTime": "03:00:00", "ScanType": ["risk", "virus"]}),
    );
    night(&env, &sim.url, 1);
    let after = now_ms();
    // An old observation of a second target, imported for a moment long past.
    let seed = env.write("seed.json", SEED);
    env.run(&[
        "import",
        seed.to_str().unwrap(),
        "--target",
        "archive",
        "--at",
        "2026-01-02T03:04:05Z",
    ])
    .ok();
    let db = reader(&env.db());

    let state: (i64, i64, Option<String>, i64, String, String) = db
        .query_row(
            "SELECT snapshot_id, observed_at, account, enable, scan_types, config_hash
             FROM current_state WHERE target = 'default'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(state.0, 2, "the newest snapshot");
    assert!((before..=after).contains(&state.1), "{state:?}");
    assert_eq!(state.2.as_deref(), Some("100000000001"));
    assert_eq!(state.3, 0, "Enable is false after the disable");
    assert_eq!(state.4, r#"["risk","virus"]"#);
    let stored: String = db
        .query_row("SELECT config_hash FROM snapshots WHERE id = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(state.5, stored);

    let drift = table(
        &db,
        "SELECT target, from_snapshot, to_snapshot, field, kind, old, new FROM drift_timeline
         ORDER BY observed_at, field",
    );
    assert_eq!(
        drift,
        [["default", "1", "2", "Enable", "changed", "true", "false"]]
    );

    // Both nights are one UTC day: the day's last snapshot is the second, with the critical
    // failure the disable made and the low one of its change, beside the high and medium ones
    // of the reference task.
    let days = table(
        &db,
        "SELECT day, snapshot_id, failures, critical, high, medium, low, info
         FROM compliance_by_day WHERE target = 'default'",
    );
    let today = chrono::DateTime::from_timestamp_millis(state.1)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(days, [[today.as_str(), "2", "4", "1", "1", "1", "1", "0"]]);

    let stale: Vec<(String, i64, i64)> = db
        .prepare("SELECT target, last_observed_at, age_seconds FROM stale_targets ORDER BY target")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let archived = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .unwrap()
        .timestamp_millis();
    assert_eq!(stale.len(), 2, "{stale:?}");
    assert_eq!((stale[0].0.as_str(), stale[0].1), ("archive", archived));
    let age = (now_ms() - archived) / 1000;
    assert!(
        (age - 120..=age).contains(&stale[0].2),
        "{stale:?} against {age}"
    );
    assert_eq!((stale[1].0.as_str(), stale[1].1), ("default", state.1));
    assert!((0..120).contains(&stale[1].2), "{stale:?}");
}

/// The views' names, as the file's schema holds them.
fn views(db: &Path) -> Vec<String> {
    reader(db)
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'view' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

const VIEWS: [&str; 4] = [
    "compliance_by_day",
    "current_state",
    "drift_timeline",
    "stale_targets",
];

#[test]
fn an_older_history_gains_the_views_when_it_is_migrated() {
    let env = Env::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-signed");
    std::fs::copy(fixture.join("history.db"), env.db()).unwrap();
    assert!(views(&env.db()).is_empty());
    env.run(&["history"]).ok();
    assert_eq!(views(&env.db()), VIEWS);
    let (target, snapshot, newest): (String, i64, i64) = reader(&env.db())
        .query_row(
            "SELECT target, snapshot_id, (SELECT max(id) FROM snapshots) FROM current_state",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((target.as_str(), snapshot), ("prod", newest));
    env.run(&["verify"]).ok();
}

#[test]
fn a_history_from_before_the_views_is_read_as_it_is_on_read_only_media() {
    let env = Env::new();
    let seed = env.write("seed.json", SEED);
    env.run(&["import", seed.to_str().unwrap(), "--target", "prod"])
        .ok();
    {
        // The history as the schema before the views left it, the write-ahead log folded in.
        let conn = Connection::open(env.db()).unwrap();
        for view in VIEWS {
            conn.execute_batch(&format!("DROP VIEW {view}")).unwrap();
        }
        conn.pragma_update(None, "user_version", 13).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
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
    let shown = env.run(&["history", "--target", "prod"]).ok();
    assert!(
        shown.stdout.contains("first") && shown.stdout.contains("import"),
        "{}",
        shown.stdout
    );
    env.run(&["verify"]).ok();
    assert_eq!(
        std::fs::read(env.db()).unwrap(),
        before,
        "the file is as it was"
    );
}

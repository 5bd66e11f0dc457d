//! The signature line: what an insider with write access to the database (and no key) does to a
//! signed history, followed by the next recording command that holds the key. The signer must
//! refuse to vouch for it (exit 4, nothing signed, no report signature), and `verify` with the
//! public key must fail. Each case runs the real binary on a real SQLite file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Env, Sim};
use crate::trust::{
    NIGHTS, answer, caught, key, night_at, passes, recompute_chain, signed_history, sql,
};

/// The nightly job with the key against the stand-in: its run and the files it wrote.
fn nightly(env: &Env, key: &Path, after: &[&str]) -> (crate::support::Run, Vec<PathBuf>) {
    let sim = Sim::start(&[]);
    let out = env.path("reports");
    let k = key.to_str().unwrap();
    let o = out.to_str().unwrap();
    let mut args = vec![
        "--signing-key",
        k,
        "run",
        "--endpoint",
        &sim.url,
        "--out-dir",
        o,
    ];
    args.extend(after);
    let run = env.run_with(&args, |c| {
        c.env("TENCENTCLOUD_SECRET_ID", crate::support::SIM_ID)
            .env("TENCENTCLOUD_SECRET_KEY", crate::support::SIM_KEY)
            .env("HOOK_URL", "http://127.0.0.1:9/hook");
    });
    let files = std::fs::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    (run, files)
}

/// The job refused to sign: exit 4 saying why, no `.sig`, and the report says so.
#[track_caller]
fn refused_to_sign(run: &crate::support::Run, files: &[PathBuf], why: &str) {
    assert_eq!(
        run.code, 4,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains("signature line broken") && run.stderr.contains(why),
        "{why:?} not in:\n{}",
        run.stderr
    );
    assert!(!files.is_empty(), "the reports are still written");
    assert!(
        files
            .iter()
            .all(|f| f.extension().is_none_or(|e| e != "sig")),
        "{files:?}"
    );
    let json = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "json"))
        .expect("a JSON report");
    let report: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let said = report["integrity"]["signature_line_broken"]
        .as_str()
        .unwrap();
    assert!(said.contains(why), "{said}");
}

/// The key's next recording command: night `n`'s answer for `prod`, imported with `key` at the
/// night's time.
fn signed_night(env: &Env, key: &Path, n: i64) -> crate::support::Run {
    let file = env.write(&format!("signed-{n}.json"), &answer(n));
    let at = night_at(n);
    env.run(&[
        "--signing-key",
        key.to_str().unwrap(),
        "import",
        file.to_str().unwrap(),
        "--target",
        "prod",
        "--at",
        &at,
    ])
}

fn verify_keyed(env: &Env, public: &Path) -> crate::support::Run {
    env.run(&[
        "verify",
        "--public-key",
        public.to_str().unwrap(),
        "--require-signed",
    ])
}

/// Puts the file of another history in place of this one's.
fn replace_db(env: &Env, with: &Env) {
    std::fs::copy(with.db(), env.db()).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.db().display()));
    }
}

#[test]
fn a_history_rebuilt_by_reimporting_is_not_signed_by_the_nightly_job() {
    let (env, _witness, public) = signed_history();
    let forged = Env::new();
    for n in 1..=NIGHTS {
        let raw = env
            .run(&["show", &n.to_string(), "--raw", "--target", "prod"])
            .ok();
        let mut doc: Value = serde_json::from_str(&raw.stdout).unwrap();
        doc["Response"]["Enable"] = Value::Bool(true);
        let file = forged.write("a.json", &doc.to_string());
        let at = night_at(n);
        let args = [
            "import",
            file.to_str().unwrap(),
            "--target",
            "prod",
            "--at",
            &at,
        ];
        forged.run(&args).ok();
    }
    replace_db(&env, &forged);
    // The job's destinations are told too (a dry run here: what would be sent is printed).
    let cfg = env.write(
        "notify.toml",
        "[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\n",
    );
    let (run, files) = nightly(
        &env,
        &env.path("signing-key"),
        &["--config", cfg.to_str().unwrap(), "--notify-dry-run"],
    );
    refused_to_sign(&run, &files, "no checkpoint of this key");
    assert!(
        run.stdout.contains("\"kind\": \"integrity\"") && run.stdout.contains("\"target\": \"*\""),
        "{}",
        run.stdout
    );
    // What it fetched is recorded all the same, unsigned.
    let history = env
        .run(&["history", "--target", "default", "--format", "json"])
        .ok()
        .json();
    assert_eq!(history["snapshots"].as_array().unwrap().len(), 1);
    caught(&verify_keyed(&env, &public), &["checkpoints: 0 signed"]);
}

#[test]
fn an_edit_in_place_is_not_signed_and_plain_verify_finds_it() {
    let (env, _witness, public) = signed_history();
    let conn = sql(&env);
    let config_14: String = conn
        .query_row("SELECT config_hash FROM snapshots WHERE id = 14", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute(
        "UPDATE snapshots SET config_hash = ?1 WHERE id = 15",
        [&config_14],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM change_events WHERE to_snapshot IN (15, 16)",
        [],
    )
    .unwrap();
    conn.execute("DELETE FROM signed_checkpoints", []).unwrap();
    recompute_chain(&conn);
    drop(conn);
    let (run, files) = nightly(&env, &env.path("signing-key"), &[]);
    refused_to_sign(&run, &files, "no checkpoint of this key");
    caught(&env.run(&["verify"]), &["chain BROKEN at snapshot 15"]);
    caught(
        &verify_keyed(&env, &public),
        &["chain BROKEN at snapshot 15"],
    );
}

#[test]
fn an_edit_below_the_newest_checkpoint_is_not_signed() {
    let (env, _witness, _public) = signed_history();
    // The checkpoints kept; night 15's raw answer, config and events made night 14's, and the
    // chain recomputed: the newest checkpoint's head no longer holds.
    let conn = sql(&env);
    let (raw, base, sha, config): (Vec<u8>, Option<i64>, Vec<u8>, String) = conn
        .query_row(
            "SELECT raw, raw_base, raw_sha256, config_hash FROM snapshots WHERE id = 14",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    conn.execute(
        "UPDATE snapshots SET raw = ?1, raw_base = ?2, raw_sha256 = ?3, config_hash = ?4 WHERE id = 15",
        rusqlite::params![raw, base, sha, config],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM change_events WHERE to_snapshot IN (15, 16)",
        [],
    )
    .unwrap();
    recompute_chain(&conn);
    drop(conn);
    let run = signed_night(&env, &env.path("signing-key"), NIGHTS + 1);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("was rewritten"), "{}", run.stderr);
    let signed: i64 = sql(&env)
        .query_row("SELECT COUNT(*) FROM signed_checkpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(signed, NIGHTS, "nothing more was signed");
}

/// A config file that keeps the signer's state beside the key.
fn with_state(env: &Env, key: &Path) -> PathBuf {
    env.write(
        "audit.toml",
        &format!(
            "db = \"audit.db\"\nsigning_key = \"{}\"\nsigner_state = \"signer-state.json\"\n\n[[target]]\nname = \"prod\"\n",
            key.display()
        ),
    )
}

fn import_night(env: &Env, cfg: &Path, n: i64) -> crate::support::Run {
    let file = env.write(&format!("night-{n}.json"), &answer(n));
    let at = night_at(n);
    env.run_with(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "import",
            file.to_str().unwrap(),
            "--target",
            "prod",
            "--at",
            &at,
        ],
        |c| {
            c.env_remove("TCSS_AUDIT_DB");
        },
    )
}

#[test]
fn deleting_the_newest_checkpoints_is_found_by_the_next_signer_with_its_state() {
    let env = Env::new();
    let (k, public) = key(&env);
    let cfg = with_state(&env, &k);
    for n in 1..=5 {
        import_night(&env, &cfg, n).ok();
    }
    let state: Value =
        serde_json::from_slice(&std::fs::read(env.path("signer-state.json")).unwrap()).unwrap();
    assert_eq!(
        (state["seq"].as_i64(), state["snapshot"].as_i64()),
        (Some(5), Some(5))
    );
    passes(&verify_keyed(&env, &public));
    // The insider removes the two newest checkpoints (and would rewrite what they covered).
    sql(&env)
        .execute("DELETE FROM signed_checkpoints WHERE seq > 3", [])
        .unwrap();
    let run = import_night(&env, &cfg, 6);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("behind the signer state"),
        "{}",
        run.stderr
    );
    // The state is the signer's last word, kept as it was.
    let after: Value =
        serde_json::from_slice(&std::fs::read(env.path("signer-state.json")).unwrap()).unwrap();
    assert_eq!(after, state);
    // A missing state, where the key has checkpoints, is a broken line too.
    std::fs::remove_file(env.path("signer-state.json")).unwrap();
    let run = import_night(&env, &cfg, 7);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("is missing"), "{}", run.stderr);
}

#[test]
fn a_new_key_starts_its_line_only_when_told_and_the_journal_says_who() {
    let (env, _witness, _old_public) = signed_history();
    let other = Env::new();
    let (new_key, new_public) = key(&other);
    let file = env.write("next.json", &answer(NIGHTS + 1));
    let import = |extra: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend([
            "--signing-key",
            new_key.to_str().unwrap(),
            "import",
            file.to_str().unwrap(),
            "--target",
            "prod",
            "--at",
            "2026-11-21T19:00:00Z",
        ]);
        env.run(&args)
    };
    let refused = import(&[]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--start-signing"),
        "{}",
        refused.stderr
    );
    let started = import(&[
        "--start-signing",
        "--reason",
        "the key was rotated",
        "--by",
        "secops",
    ]);
    // The night was recorded by the refused run already; the line starts on the next row.
    assert_eq!(started.code, 0, "{}", started.stderr);
    let file = env.write("later.json", &answer(NIGHTS + 2));
    env.run(&[
        "--signing-key",
        new_key.to_str().unwrap(),
        "import",
        file.to_str().unwrap(),
        "--target",
        "prod",
        "--at",
        "2026-11-22T19:00:00Z",
    ])
    .ok();
    let v = verify_keyed(&env, &new_public);
    passes(&v);
    assert!(v.stdout.contains("line starts: snapshot"), "{}", v.stdout);
    let json = env
        .run(&[
            "verify",
            "--format",
            "json",
            "--public-key",
            new_public.to_str().unwrap(),
        ])
        .ok()
        .json();
    assert_eq!(
        json["checkpoints"]["line_starts"].as_array().unwrap().len(),
        1
    );
    let entries: Vec<(String, String, Option<i64>)> = sql(&env)
        .prepare("SELECT kind, by_whom, target_id FROM journal")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        entries,
        [("signing".to_string(), "secops".to_string(), None)]
    );
}

#[test]
fn a_history_signed_before_checkpoints_were_chained_continues_its_line() {
    let env = Env::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-signed");
    std::fs::copy(fixture.join("history.db"), env.db()).unwrap();
    let k = env.path("signing-key");
    std::fs::copy(fixture.join("signing-key"), &k).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let public = fixture.join("signing-key.pub");
    let before = verify_keyed(&env, &public);
    passes(&before);
    assert!(
        before.stdout.contains("4 signed, 4 verified"),
        "{}",
        before.stdout
    );
    let file = env.write("night-5.json", &answer(5));
    env.run(&[
        "--signing-key",
        k.to_str().unwrap(),
        "import",
        file.to_str().unwrap(),
        "--target",
        "prod",
        "--at",
        "2026-11-05T19:00:00Z",
    ])
    .ok();
    let after = verify_keyed(&env, &public);
    passes(&after);
    assert!(
        after.stdout.contains("5 signed, 5 verified"),
        "{}",
        after.stdout
    );
    // The first chained checkpoint links the newest of the old ones.
    let (seq, prev): (i64, Option<String>) = sql(&env)
        .query_row(
            "SELECT seq, prev_message FROM signed_checkpoints ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(seq, 1);
    assert_eq!(prev.map(|p| p.len()), Some(64));
}

#[test]
fn a_signed_history_its_backup_and_its_prune_verify_with_the_key() {
    let (env, _witness, public) = signed_history();
    passes(&verify_keyed(&env, &public));
    let backup = env.path("backup.jsonl");
    env.run(&["export", "--jsonl", "-o", backup.to_str().unwrap()])
        .ok();
    let restored = Env::new();
    restored
        .run(&["import", "--jsonl", backup.to_str().unwrap()])
        .ok();
    let v = verify_keyed(&restored, &public);
    passes(&v);
    assert!(
        v.stdout
            .contains(&format!("{NIGHTS} signed, {NIGHTS} verified")),
        "{}",
        v.stdout
    );
    // The restored history continues the line with the key.
    signed_night(&restored, &env.path("signing-key"), NIGHTS + 1).ok();
    passes(&verify_keyed(&restored, &public));
    // Pruned, it still verifies, and the signer still links to it.
    env.run(&["prune", "--before", "2026-11-10", "--yes"]).ok();
    passes(&verify_keyed(&env, &public));
    signed_night(&env, &env.path("signing-key"), NIGHTS + 1).ok();
    passes(&verify_keyed(&env, &public));
}

/// The other edits of the Trust table, each followed by the key's next recording: it refuses
/// to sign every one, and `verify` with the key finds a checkpoint deleted from the middle.
#[test]
fn every_edit_of_the_trust_table_is_refused_by_the_next_signer() {
    let edits: [(&str, &str, &str); 5] = [
        (
            "the change event of an unsigned row deleted",
            "DELETE FROM change_events WHERE to_snapshot = 21",
            "does not verify",
        ),
        (
            "the newest row edited, the chain left",
            "UPDATE snapshots SET scan_result = 'forged' WHERE id = 20",
            "does not match its chain hash",
        ),
        (
            "a journal entry edited",
            "UPDATE journal SET reason = 'forged'",
            "does not verify",
        ),
        (
            "the newest snapshots deleted",
            "DELETE FROM snapshots WHERE id > 18",
            "is gone",
        ),
        (
            "the newest checkpoint's signature altered",
            "UPDATE signed_checkpoints SET signed_at = signed_at + 1 WHERE id = (SELECT MAX(id) FROM signed_checkpoints)",
            "",
        ),
    ];
    for (what, edit, why) in edits {
        let (env, _witness, public) = signed_history();
        let k = env.path("signing-key");
        if what.contains("unsigned row") {
            // A night recorded without the key, switched off: a change event after the newest
            // checkpoint, which the next signer must check before it signs.
            let off = answer(NIGHTS + 1).replace("\"Enable\": true", "\"Enable\": false");
            let file = env.write("off.json", &off);
            let at = night_at(NIGHTS + 1);
            env.run(&[
                "import",
                file.to_str().unwrap(),
                "--target",
                "prod",
                "--at",
                &at,
            ])
            .ok();
        }
        if what.contains("journal") {
            env.run(&[
                "--signing-key",
                k.to_str().unwrap(),
                "baseline",
                "approve",
                "--target",
                "prod",
                "--reason",
                "agreed",
            ])
            .ok();
        }
        sql(&env).execute_batch(edit).unwrap();
        let run = signed_night(&env, &k, NIGHTS + 2);
        if why.is_empty() {
            // An altered newest checkpoint is not the key's: the line links the one before it,
            // whose head still holds, and goes on; verify with the key names the altered one.
            assert_eq!(run.code, 0, "{what}: {}", run.stderr);
            caught(
                &verify_keyed(&env, &public),
                &["does not verify with the public key"],
            );
            continue;
        }
        assert_eq!(run.code, 4, "{what}: {}", run.stderr);
        assert!(
            run.stderr.contains("signature line broken") && run.stderr.contains(why),
            "{what}: {}",
            run.stderr
        );
    }
    // A checkpoint deleted from the middle of the line: the next one no longer links it.
    let (env, _witness, public) = signed_history();
    sql(&env)
        .execute("DELETE FROM signed_checkpoints WHERE snapshot = 10", [])
        .unwrap();
    caught(
        &verify_keyed(&env, &public),
        &["does not link the one before it"],
    );
}

/// The step after a run that keeps the signer state apart copies a state only when it extends
/// the kept one: an empty kept state (a first run), a newer one; never another key's or an
/// older one.
#[test]
fn keep_state_copies_only_a_state_that_extends_the_kept_one() {
    let env = Env::new();
    let (k, _public) = key(&env);
    let cfg = with_state(&env, &k);
    let kept = env.write("kept.json", "");
    let keep = |from: &Path| {
        env.run(&[
            "key",
            "keep-state",
            from.to_str().unwrap(),
            "--to",
            kept.to_str().unwrap(),
        ])
    };
    let state = env.path("signer-state.json");
    import_night(&env, &cfg, 1).ok();
    keep(&state).ok();
    let first = std::fs::read(&kept).unwrap();
    import_night(&env, &cfg, 2).ok();
    let second = std::fs::read(&state).unwrap();
    keep(&state).ok();
    assert_eq!(std::fs::read(&kept).unwrap(), second);
    // The older state does not replace the newer.
    let older = env.path("older.json");
    std::fs::write(&older, &first).unwrap();
    let refused = keep(&older);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("does not extend"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read(&kept).unwrap(), second);
    // Nor does another key's.
    let mut other: Value = serde_json::from_slice(&second).unwrap();
    other["key"] = Value::from("SHA256:another");
    other["seq"] = Value::from(99);
    let other_path = env.write("other.json", &other.to_string());
    assert_eq!(keep(&other_path).code, 1);
    assert_eq!(std::fs::read(&kept).unwrap(), second);
}

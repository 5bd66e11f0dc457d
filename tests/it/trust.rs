//! Trust: what an insider with write access to the database file (and nothing else) can do to the
//! history, and what finds it. Each case runs the real binary on a real SQLite file; the insider
//! works on the file directly, as they would, with SQL and the public chain formula.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Env, SEED, Sim};

pub(crate) const NIGHTS: i64 = 20;
/// The night scanning was switched off.
const OFF: i64 = 15;
/// From this night on the answers carry a field the tool does not document.
const NEW_FIELD_FROM: i64 = 10;

pub(crate) fn night_at(n: i64) -> String {
    format!("2026-11-{n:02}T19:00:00Z")
}

/// Night `n`'s answer: the reference answer, switched off on night [`OFF`].
pub(crate) fn answer(n: i64) -> String {
    let mut seed: Value = serde_json::from_str(SEED).unwrap();
    let r = &mut seed["Response"];
    r["RequestId"] = Value::String(format!("req-night-{n}"));
    r["Enable"] = Value::Bool(n != OFF);
    if n >= NEW_FIELD_FROM {
        r["ScanCadence"] = Value::from("weekly");
    }
    serde_json::to_string_pretty(&seed).unwrap()
}

/// A history of [`NIGHTS`] nightly imports of target `prod`, each signed with `key` if given.
pub(crate) fn history(env: &Env, key: Option<&Path>) {
    for n in 1..=NIGHTS {
        let file = env.write(&format!("night-{n}.json"), &answer(n));
        let mut args: Vec<String> = Vec::new();
        if let Some(k) = key {
            args.extend(["--signing-key".into(), k.display().to_string()]);
        }
        args.extend([
            "import".into(),
            file.display().to_string(),
            "--target".into(),
            "prod".into(),
            "--at".into(),
            night_at(n),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.run(&args).ok();
    }
}

/// A signing key in the environment's folder: (private, public).
pub(crate) fn key(env: &Env) -> (PathBuf, PathBuf) {
    let k = env.path("signing-key");
    let out = env
        .run(&["key", "generate", "--out", k.to_str().unwrap()])
        .ok();
    assert!(out.stdout.starts_with("ssh-ed25519 AAAA"), "{}", out.stdout);
    (k.clone(), env.path("signing-key.pub"))
}

/// The report filed before anything happened to the history.
pub(crate) fn file_report(env: &Env, name: &str) -> PathBuf {
    let out = env.path(name);
    env.run(&[
        "report",
        "--target",
        "prod",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-30",
        "--format",
        "json",
        "--output",
        out.to_str().unwrap(),
    ])
    .ok();
    out
}

/// The three ways to verify: alone, with the filed report as witness, with the public key.
struct Verdicts {
    plain: crate::support::Run,
    witnessed: crate::support::Run,
    keyed: crate::support::Run,
}

fn verify_all(env: &Env, witness: &Path, public: &Path) -> Verdicts {
    Verdicts {
        plain: env.run(&["verify"]),
        witnessed: env.run(&["verify", "--witness", witness.to_str().unwrap()]),
        keyed: env.run(&[
            "verify",
            "--public-key",
            public.to_str().unwrap(),
            "--require-signed",
        ]),
    }
}

/// A signed history with a report filed from it: (env, witness, public key).
pub(crate) fn signed_history() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let (k, public) = key(&env);
    history(&env, Some(&k));
    let witness = file_report(&env, "filed-report.json");
    (env, witness, public)
}

pub(crate) fn sql(env: &Env) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    conn
}

/// What one chain link covers, in the order the chain formula serializes it (the formula is in
/// `docs/trust.md`: it is public and takes no key).
#[derive(Serialize)]
struct Link {
    id: i64,
    target: String,
    observed_at: i64,
    recorded_at: i64,
    source: String,
    endpoint: Option<String>,
    request_id: Option<String>,
    raw_sha256: String,
    config_hash: String,
    last_scan_time: Option<String>,
    scan_result: Option<String>,
}

/// Recomputes every chain hash from the rows as they are now, as an insider would after an edit.
pub(crate) fn recompute_chain(conn: &rusqlite::Connection) {
    let links: Vec<Link> = conn
        .prepare(
            "SELECT s.id, t.name, observed_at, recorded_at, source, endpoint, request_id,
                    lower(hex(raw_sha256)), config_hash, last_scan_time, scan_result
             FROM snapshots s JOIN targets t ON t.id = s.target_id ORDER BY s.id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok(Link {
                id: r.get(0)?,
                target: r.get(1)?,
                observed_at: r.get(2)?,
                recorded_at: r.get(3)?,
                source: r.get(4)?,
                endpoint: r.get(5)?,
                request_id: r.get(6)?,
                raw_sha256: r.get(7)?,
                config_hash: r.get(8)?,
                last_scan_time: r.get(9)?,
                scan_result: r.get(10)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut prev = "0".repeat(64);
    for link in links {
        let mut h = Sha256::new();
        h.update(b"tcss-audit/chain/v1\n");
        h.update(prev.as_bytes());
        h.update(b"\n");
        h.update(serde_json::to_vec(&link).unwrap());
        let digest: [u8; 32] = h.finalize().into();
        conn.execute(
            "UPDATE snapshots SET chain_hash = ?1 WHERE id = ?2",
            rusqlite::params![digest.to_vec(), link.id],
        )
        .unwrap();
        prev = hex::encode(digest);
    }
}

#[track_caller]
pub(crate) fn caught(run: &crate::support::Run, says: &[&str]) {
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    for s in says {
        assert!(run.stdout.contains(s), "{s:?} not in:\n{}", run.stdout);
    }
}

#[track_caller]
pub(crate) fn passes(run: &crate::support::Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

#[test]
fn an_untouched_history_passes_all_three_ways() {
    let (env, witness, public) = signed_history();
    let v = verify_all(&env, &witness, &public);
    passes(&v.plain);
    passes(&v.witnessed);
    passes(&v.keyed);
    assert!(
        v.witnessed
            .stdout
            .contains("filed-report.json: snapshot 20 held")
    );
    assert!(
        v.keyed.stdout.contains("20 signed, 20 verified")
            && v.keyed.stdout.contains("0 snapshots after"),
        "{}",
        v.keyed.stdout
    );
    let json = env
        .run(&[
            "verify",
            "--format",
            "json",
            "--public-key",
            public.to_str().unwrap(),
        ])
        .ok()
        .json();
    assert_eq!(json["schema"], "tcss-audit/verify/v1");
    assert_eq!(json["head"]["snapshot"], 20);
    assert_eq!(json["head"]["chain_hash"].as_str().unwrap().len(), 64);
    assert_eq!(json["checkpoints"]["verified"], 20);
    assert_eq!(json["checkpoints"]["unsigned_tail"], 0);
    // The report carries the head it was made from.
    let report: Value = serde_json::from_slice(&std::fs::read(&witness).unwrap()).unwrap();
    assert_eq!(report["integrity"]["head"], json["head"]);
    // The derived tables were compared: 3 events (the new field, off, on again), one
    // first-seen field.
    assert_eq!(json["events_checked"], 3);
    assert_eq!(json["fields_checked"], 1);
}

#[test]
fn a_history_rebuilt_by_reimporting_edited_answers_is_caught_by_a_witness_and_by_the_key() {
    let (env, witness, public) = signed_history();
    // The insider re-imports every night's answer, switched on, into a fresh file, and puts it
    // in place of the real one.
    let forged = Env::new();
    for n in 1..=NIGHTS {
        let raw = env
            .run(&["show", &n.to_string(), "--raw", "--target", "prod"])
            .ok();
        let mut doc: Value = serde_json::from_str(&raw.stdout).unwrap();
        doc["Response"]["Enable"] = Value::Bool(true);
        let file = forged.write("a.json", &doc.to_string());
        forged
            .run(&[
                "import",
                file.to_str().unwrap(),
                "--target",
                "prod",
                "--at",
                &night_at(n),
            ])
            .ok();
    }
    std::fs::copy(forged.db(), env.db()).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.db().display()));
    }
    let log = env.run(&["log", "--target", "prod"]).ok();
    assert!(
        !log.stdout.contains("Enable"),
        "the switch-off is gone: {}",
        log.stdout
    );
    let v = verify_all(&env, &witness, &public);
    // Consistent in itself: nothing without a witness or key can tell.
    passes(&v.plain);
    caught(
        &v.witnessed,
        &["filed-report.json", "snapshot 20 REWRITTEN"],
    );
    caught(
        &v.keyed,
        &["checkpoints: 0 signed", "unsigned tail: 20 snapshots"],
    );
}

#[test]
fn an_sql_edit_with_the_chain_recomputed_is_caught_by_a_witness_and_by_the_key() {
    let (env, witness, public) = signed_history();
    let conn = sql(&env);
    // Night 15 (switched off) is made to look like night 14: its raw answer, its config, and the
    // change events that the switch-off made removed, so that the derived tables agree.
    let on = env
        .run(&["show", "14", "--raw", "--target", "prod"])
        .ok()
        .stdout_bytes;
    let config_14: String = conn
        .query_row("SELECT config_hash FROM snapshots WHERE id = 14", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute(
        "UPDATE snapshots SET raw = ?1, raw_base = NULL, raw_sha256 = ?2, config_hash = ?3 WHERE id = 15",
        rusqlite::params![on, Sha256::digest(&on).to_vec(), config_14],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM change_events WHERE to_snapshot IN (15, 16)",
        [],
    )
    .unwrap();
    // Without recomputing, the chain itself says so.
    let broken = env.run(&["verify"]);
    caught(&broken, &["chain BROKEN at snapshot 15"]);
    recompute_chain(&conn);
    drop(conn);
    let v = verify_all(&env, &witness, &public);
    passes(&v.plain);
    caught(
        &v.witnessed,
        &["filed-report.json", "snapshot 20 REWRITTEN"],
    );
    caught(
        &v.keyed,
        &[
            "checkpoint BROKEN at snapshot 15",
            "history at or before it was rewritten",
        ],
    );
}

/// The in-place edit that leaves the raw answers as they were: the switched-off night is only
/// pointed at the compliant config, its change events deleted and the chain recomputed. Its
/// raw answer still says `Enable: false`, which plain `verify` finds with no key or witness.
#[test]
fn a_night_pointed_at_another_config_is_caught_by_its_raw_answer_without_a_key() {
    let (env, _witness, _public) = signed_history();
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
    let log = env.run(&["log", "--target", "prod"]).ok();
    assert!(!log.stdout.contains("Enable"), "{}", log.stdout);
    let plain = env.run(&["verify"]);
    caught(
        &plain,
        &[
            "chain BROKEN at snapshot 15",
            &format!("not the {} its row names", &config_14[..12]),
        ],
    );
    // A row that is its base but for an edited RequestId still passes: the value is no config.
    let env = Env::new();
    history(&env, None);
    let conn = sql(&env);
    let raw: Vec<u8> = env
        .run(&["show", "3", "--raw", "--target", "prod"])
        .ok()
        .stdout_bytes;
    let text = String::from_utf8(raw)
        .unwrap()
        .replace("req-night-3", "req-edited");
    conn.execute(
        "UPDATE snapshots SET raw = ?1, raw_base = NULL, raw_sha256 = ?2, request_id = 'req-edited' WHERE id = 3",
        rusqlite::params![text.as_bytes(), Sha256::digest(text.as_bytes()).to_vec()],
    )
    .unwrap();
    recompute_chain(&conn);
    drop(conn);
    passes(&env.run(&["verify"]));
}

#[test]
fn a_tail_cut_is_caught_by_a_witness_and_by_the_key() {
    let (env, witness, public) = signed_history();
    let conn = sql(&env);
    conn.execute_batch(
        "DELETE FROM change_events WHERE to_snapshot > 17 OR from_snapshot > 17;
         DELETE FROM snapshots WHERE id > 17;",
    )
    .unwrap();
    drop(conn);
    let v = verify_all(&env, &witness, &public);
    passes(&v.plain);
    assert!(
        v.plain.stdout.contains("17 snapshots"),
        "{}",
        v.plain.stdout
    );
    caught(
        &v.witnessed,
        &[
            "filed-report.json",
            "snapshot 20 MISSING",
            "the newest now is 17",
        ],
    );
    caught(&v.keyed, &["checkpoint BROKEN at snapshot 18", "is gone"]);
}

#[test]
fn deleted_change_events_are_caught_without_a_witness_or_key() {
    let (env, witness, public) = signed_history();
    sql(&env)
        .execute("DELETE FROM change_events WHERE to_snapshot = 15", [])
        .unwrap();
    let v = verify_all(&env, &witness, &public);
    caught(&v.plain, &["change_events", "snapshot 15", "deleted"]);
    caught(&v.witnessed, &["change_events"]);
    caught(&v.keyed, &["change_events"]);
    // An added one too.
    let env = Env::new();
    history(&env, None);
    sql(&env)
        .execute(
            "INSERT INTO change_events SELECT target_id, 3, 4, at, changes FROM change_events LIMIT 1",
            [],
        )
        .unwrap();
    caught(
        &env.run(&["verify"]),
        &["change_events", "snapshot 4", "added"],
    );
}

#[test]
fn edited_first_seen_fields_are_caught_without_a_witness_or_key() {
    let (env, witness, public) = signed_history();
    let conn = sql(&env);
    conn.execute("UPDATE seen_fields SET first_snapshot = 12", [])
        .unwrap();
    drop(conn);
    let v = verify_all(&env, &witness, &public);
    caught(
        &v.plain,
        &["seen_fields", "ScanCadence", "first appears in snapshot 10"],
    );
    caught(&v.witnessed, &["seen_fields"]);
    caught(&v.keyed, &["seen_fields"]);
    sql(&env).execute("DELETE FROM seen_fields", []).unwrap();
    caught(&env.run(&["verify"]), &["seen_fields", "deleted"]);
}

#[test]
fn after_prune_witnesses_hold_or_are_pruned_and_checkpoints_still_verify() {
    let env = Env::new();
    let (k, public) = key(&env);
    history(&env, Some(&k));
    // Witnesses at night 5 (a report's head) and night 10 (the verify JSON's head), then the
    // one filed at the end.
    let early = env.path("early.json");
    let at_ten = env.path("at-ten.json");
    {
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        let head = |id: i64| -> String {
            conn.query_row(
                "SELECT lower(hex(chain_hash)) FROM snapshots WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        let doc = |schema: &str, id: i64| {
            let head = serde_json::json!({"snapshot": id, "chain_hash": head(id)});
            if schema == "verify" {
                serde_json::json!({"schema": "tcss-audit/verify/v1", "head": head})
            } else {
                serde_json::json!({"schema": "tcss-audit/report/v1", "integrity": {"head": head}})
            }
        };
        std::fs::write(&early, doc("report", 5).to_string()).unwrap();
        std::fs::write(&at_ten, doc("verify", 10).to_string()).unwrap();
    }
    let filed = file_report(&env, "filed-report.json");
    env.run(&["prune", "--before", "2026-11-11T00:00:00Z", "--yes"])
        .ok();
    assert_eq!(env.rows("snapshots"), 10, "nights 1 to 10 were pruned");
    let v = verify_all(&env, &filed, &public);
    passes(&v.plain);
    passes(&v.witnessed);
    passes(&v.keyed);
    assert!(
        v.keyed.stdout.contains("11 verified") && v.keyed.stdout.contains("9 pruned"),
        "{}",
        v.keyed.stdout
    );
    let out = env
        .run(&[
            "verify",
            "--witness",
            early.to_str().unwrap(),
            at_ten.to_str().unwrap(),
            filed.to_str().unwrap(),
        ])
        .ok();
    assert!(
        out.stdout
            .contains("early.json: snapshot 5 pruned, not checkable"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("at-ten.json: snapshot 10 held (at the pruning checkpoint"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("filed-report.json: snapshot 20 held"),
        "{}",
        out.stdout
    );
    // A checkpoint-head witness that does not match is a rewrite, pruned or not.
    let mut forged: Value =
        serde_json::from_str(&std::fs::read_to_string(&at_ten).unwrap()).unwrap();
    forged["head"]["chain_hash"] = Value::String("0".repeat(64));
    std::fs::write(&at_ten, forged.to_string()).unwrap();
    caught(
        &env.run(&["verify", "--witness", at_ten.to_str().unwrap()]),
        &["at-ten.json: snapshot 10 REWRITTEN"],
    );
}

#[test]
fn unsigned_rows_after_the_newest_signature_fail_only_with_require_signed() {
    let env = Env::new();
    let (k, public) = key(&env);
    history(&env, Some(&k));
    let file = env.write("late.json", &answer(21));
    env.run(&[
        "import",
        file.to_str().unwrap(),
        "--target",
        "prod",
        "--at",
        "2026-11-21T19:00:00Z",
    ])
    .ok();
    let lenient = env
        .run(&["verify", "--public-key", public.to_str().unwrap()])
        .ok();
    assert!(
        lenient
            .stdout
            .contains("1 snapshot after the newest verified one"),
        "{}",
        lenient.stdout
    );
    caught(
        &env.run(&[
            "verify",
            "--public-key",
            public.to_str().unwrap(),
            "--require-signed",
        ]),
        &["unsigned tail: 1 snapshot is recorded"],
    );
    // Another key's public half verifies none of the checkpoints.
    let other = Env::new();
    let (_, other_public) = key(&other);
    caught(
        &env.run(&["verify", "--public-key", other_public.to_str().unwrap()]),
        &["does not verify with the public key", "another key"],
    );
}

#[test]
fn bad_keys_are_refused_with_the_reason_and_nothing_is_recorded() {
    let env = Env::new();
    let (k, public) = key(&env);
    // Refuses to overwrite.
    let again = env
        .run(&["key", "generate", "--out", k.to_str().unwrap()])
        .code(2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let file = env.write("a.json", &answer(1));
    let import = |key: &Path| {
        env.run(&[
            "--signing-key",
            key.to_str().unwrap(),
            "import",
            file.to_str().unwrap(),
            "--target",
            "prod",
        ])
    };
    // World-readable.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = import(&k).code(2);
        assert!(
            e.stderr.contains("can be read by every user"),
            "{}",
            e.stderr
        );
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // A public key where the private one belongs, and garbage.
    let given = env.path("given");
    std::fs::copy(&public, &given).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&given, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let e = import(&given).code(2);
    assert!(
        e.stderr.contains("not an OpenSSH private key"),
        "{}",
        e.stderr
    );
    let e = import(&env.path("no-such-key")).code(2);
    assert!(e.stderr.contains("no-such-key"), "{}", e.stderr);
    // Keys of another kind, and one with a passphrase, as OpenSSH makes them.
    if let Some(keygen) = ssh_keygen() {
        for (name, args, says) in [
            (
                "rsa",
                &["-t", "rsa", "-b", "2048", "-N", ""][..],
                "kind ssh-rsa",
            ),
            (
                "ecdsa",
                &["-t", "ecdsa", "-N", ""][..],
                "other than Ed25519",
            ),
            (
                "locked",
                &["-t", "ed25519", "-N", "a passphrase"][..],
                "passphrase",
            ),
        ] {
            let path = env.path(name);
            let made = std::process::Command::new(keygen)
                .args(args)
                .args(["-q", "-C", "", "-f"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                made.status.success(),
                "{}",
                String::from_utf8_lossy(&made.stderr)
            );
            let e = import(&path).code(2);
            assert!(e.stderr.contains(says), "{name}: {}", e.stderr);
        }
    }
    assert_eq!(
        env.rows("snapshots"),
        0,
        "nothing was recorded with a bad key"
    );
    // A witness that is no witness, and a .sig without a public key.
    let junk = env.write("junk.json", "{\"schema\": \"tcss-audit/diff/v1\"}");
    import(&k).ok();
    let e = env
        .run(&["verify", "--witness", junk.to_str().unwrap()])
        .code(2);
    assert!(
        e.stderr.contains("junk.json") && e.stderr.contains("neither"),
        "{}",
        e.stderr
    );
    let sig = env.write("r.json.sig", "x");
    env.write("r.json", "{}");
    let e = env
        .run(&["verify", "--witness", sig.to_str().unwrap()])
        .code(2);
    assert!(e.stderr.contains("--public-key"), "{}", e.stderr);
}

/// `ssh-keygen`, or `None` when it is missing here (in CI it must be there).
fn ssh_keygen() -> Option<&'static str> {
    let found = std::process::Command::new("ssh-keygen")
        .arg("-?")
        .output()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "ssh-keygen is missing; CI installs openssh-client"
        );
        eprintln!("skipped: ssh-keygen (openssh-client) is not installed");
        return None;
    }
    Some("ssh-keygen")
}

#[test]
fn run_signs_its_reports_so_that_ssh_keygen_verifies_them_and_the_key_never_leaks() {
    let sim = Sim::start(&[]);
    let env = Env::new();
    let (k, public) = key(&env);
    let out = env.path("reports");
    let run = env.run_signed(&[
        "--signing-key",
        k.to_str().unwrap(),
        "run",
        "--endpoint",
        &sim.url,
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let listed: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(listed.len(), 6, "{listed:?}");
    let json = PathBuf::from(listed.iter().find(|l| l.ends_with(".json")).unwrap());
    let md = PathBuf::from(listed.iter().find(|l| l.ends_with(".md")).unwrap());
    for report in [&json, &md] {
        let sig = PathBuf::from(format!("{}.sig", report.display()));
        assert!(
            std::fs::read_to_string(&sig)
                .unwrap()
                .starts_with("-----BEGIN SSH SIGNATURE-----")
        );
    }
    // Our own verify takes the .sig as a witness, and the Markdown report too.
    let v = env
        .run(&[
            "verify",
            "--public-key",
            public.to_str().unwrap(),
            "--require-signed",
            "--witness",
            &format!("{}.sig", json.display()),
            md.to_str().unwrap(),
        ])
        .ok();
    assert_eq!(
        v.stdout
            .matches("(signature verified): snapshot 1 held")
            .count(),
        2,
        "{}",
        v.stdout
    );

    if let Some(keygen) = ssh_keygen() {
        let allowed = env.write(
            "allowed_signers",
            &format!("tcss-audit {}", std::fs::read_to_string(&public).unwrap()),
        );
        let check = |report: &Path| {
            std::process::Command::new(keygen)
                .args(["-Y", "verify", "-f"])
                .arg(&allowed)
                .args(["-I", "tcss-audit", "-n", "tcss-audit", "-s"])
                .arg(format!("{}.sig", report.display()))
                .stdin(std::fs::File::open(report).unwrap())
                .output()
                .unwrap()
        };
        for report in [&json, &md] {
            let ok = check(report);
            assert!(
                ok.status.success(),
                "{}",
                String::from_utf8_lossy(&ok.stderr)
            );
        }
        // One byte of the report changed: ssh-keygen and our verify both refuse it.
        let mut bytes = std::fs::read(&json).unwrap();
        let i = bytes.len() / 2;
        bytes[i] ^= 0x01;
        std::fs::write(&json, &bytes).unwrap();
        assert!(!check(&json).status.success());
    } else {
        let mut bytes = std::fs::read(&json).unwrap();
        let i = bytes.len() / 2;
        bytes[i] ^= 0x01;
        std::fs::write(&json, &bytes).unwrap();
    }
    caught(
        &env.run(&[
            "verify",
            "--public-key",
            public.to_str().unwrap(),
            "--witness",
            json.to_str().unwrap(),
        ]),
        &["signature BAD", "changed after signing"],
    );

    // The private key's bytes are in the key file and nowhere else: not in the database, the
    // reports, their signatures, the public key, or anything printed.
    let private = ssh_key::PrivateKey::read_openssh_file(&k).unwrap();
    let seed = private.key_data().ed25519().unwrap().private.to_bytes();
    let pem = std::fs::read_to_string(&k).unwrap();
    let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut needles: Vec<Vec<u8>> = vec![seed.to_vec(), hex::encode(seed).into_bytes()];
    needles.extend(body.iter().map(|l| l.as_bytes().to_vec()));
    let files = crate::support::files_under(env.dir.path());
    let printed = [run.stdout, run.stderr, v.stdout, v.stderr].concat();
    for needle in &needles {
        assert!(
            !crate::support::holds(printed.as_bytes(), needle),
            "the key was printed"
        );
        for f in files.iter().filter(|f| **f != k) {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !crate::support::holds(&bytes, needle),
                "the key is in {}",
                f.display()
            );
        }
    }
    assert!(files.iter().any(|f| f.ends_with("audit.db")));
}

//! Approved baselines and restores against the real stand-in: approve, drift through a signed
//! Update, plan (nothing changes), apply, converge; a stale plan, a refused Update and one that
//! does not take.

use serde_json::{Value, json};
use tcss_audit::task::restore::{Plan, binding};
use tcss_audit::tencent::ClientOptions;

use crate::support::{Env, Sim, sim_client, update};

/// The stand-in's task, read with the operator's own signed client (nothing recorded).
fn live(url: &str) -> serde_json::Map<String, Value> {
    let client = sim_client(url, ClientOptions::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(client.describe()).unwrap().answer.fields
}

/// The reference task with virus scanning dropped and the scan switched off.
fn drift(url: &str) {
    update(
        url,
        json!({"Enable": false, "ScanPeriod": 1, "ScanTime": "03:00:00", "ScanType": ["vul", "risk"]}),
    );
}

/// A snapshot, then that snapshot approved as the baseline.
fn approved(env: &Env, sim: &Sim) {
    env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    let out = env
        .run(&[
            "baseline",
            "approve",
            "--reason",
            "CHG-1 agreed",
            "--by",
            "alice",
        ])
        .ok();
    assert!(
        out.stdout.contains("as the baseline, by alice"),
        "{}",
        out.stdout
    );
}

/// `audit restore` against the stand-in, with the stand-in's credentials.
fn restore(env: &Env, sim: &Sim, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["restore", "--endpoint", &sim.url];
    args.extend_from_slice(extra);
    env.run_signed(&args)
}

/// A plan saved with `--out` (planning exits 1: there is something to restore).
fn saved_plan(env: &Env, sim: &Sim) -> std::path::PathBuf {
    let plan = env.path("plan.json");
    restore(env, sim, &["--out", plan.to_str().unwrap()]).code(1);
    plan
}

/// How many Updates the stand-in's log shows.
fn updates_in(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("UpdateImageRegistryTimingScanTask"))
        .count()
}

#[test]
fn approve_drift_plan_apply_and_converge() {
    let env = Env::new();
    let sim = Sim::start(&[]);
    approved(&env, &sim);
    let shown = env
        .run(&["baseline", "show", "--format", "json"])
        .ok()
        .json();
    assert_eq!(shown["baseline"]["by"], "alice");
    assert_eq!(shown["baseline"]["reason"], "CHG-1 agreed");
    assert_eq!(shown["latest"]["equals_baseline"], true);
    let before = live(&sim.url);

    drift(&sim.url);
    env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    let diff = env
        .run(&["diff", "--from", "baseline", "--format", "json"])
        .ok()
        .json();
    let mut paths: Vec<&str> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    paths.dedup();
    assert_eq!(paths, ["Enable", "ScanType"], "{diff}");
    let check = env.run(&["check", "--format", "json"]).json();
    let base = check["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "TCSS-BASE-001")
        .unwrap()
        .clone();
    assert_eq!(base["status"], "fail", "{base}");
    assert_eq!(base["actual"], json!(["Enable", "ScanType"]));

    // Planning changes nothing: not the task, not the history.
    let snapshots = env.rows("snapshots");
    let plan = restore(&env, &sim, &[]).code(1);
    assert!(plan.stdout.contains("Enable"), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains("UpdateImageRegistryTimingScanTask would be sent"),
        "{}",
        plan.stdout
    );
    assert_eq!(env.rows("snapshots"), snapshots);
    assert_eq!(env.rows("journal"), 1);
    assert_eq!(live(&sim.url)["Enable"], json!(false));

    let applied = restore(&env, &sim, &["--apply", "--yes", "--by", "bob"]).ok();
    assert!(applied.stdout.contains("converged"), "{}", applied.stdout);
    // The plan is shown before it is applied, without the hint of how to apply it.
    assert!(!applied.stdout.contains("To apply"), "{}", applied.stdout);
    assert_eq!(env.rows("journal"), 2);
    assert_eq!(
        env.rows("snapshots"),
        snapshots + 1,
        "the read-back is recorded"
    );
    let after = live(&sim.url);
    for field in ["Enable", "ScanType", "ScanPeriod", "ScanTime"] {
        assert_eq!(after[field], before[field], "{field}");
    }

    // The next run shows no drift from the baseline, and the restore in its report.
    let out = env.path("reports");
    env.run_signed(&[
        "run",
        "--endpoint",
        &sim.url,
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    let json_report = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().contains("ocsf")
        })
        .unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_report).unwrap()).unwrap();
    let target = &report["targets"][0];
    assert_eq!(target["baseline"]["equals"], true, "{}", target["baseline"]);
    assert_eq!(target["restores"][0]["by"], "bob");
    assert_eq!(target["restores"][0]["converged"], true);
    let rule = target["check"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "TCSS-BASE-001")
        .unwrap()
        .clone();
    assert_eq!(rule["status"], "pass", "{rule}");
    let md = std::fs::read_to_string(json_report.with_extension("md")).unwrap();
    assert!(md.contains("The latest config **equals** it."), "{md}");
    assert!(md.contains("### Restores applied"), "{md}");

    let log = env.run(&["log"]).ok();
    assert!(
        log.stdout.contains("restore applied by bob to baseline"),
        "{}",
        log.stdout
    );
    assert!(
        log.stdout.contains("baseline approved by alice"),
        "{}",
        log.stdout
    );
    let verify = env.run(&["verify", "--format", "json"]).ok().json();
    assert_eq!(verify["journal"]["entries"], 2);
    assert_eq!(verify["journal"]["unlinked"], 0);

    // A backup restores the same chain, journal included.
    let backup = env.path("backup.jsonl");
    env.run(&["export", "-o", backup.to_str().unwrap()]).ok();
    let text = std::fs::read_to_string(&backup).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("{\"journal\""))
            .count(),
        2
    );
    let copy = env.path("copy.db");
    env.run(&[
        "--db",
        copy.to_str().unwrap(),
        "import",
        "--jsonl",
        backup.to_str().unwrap(),
    ])
    .ok();
    let again = env
        .run(&["--db", copy.to_str().unwrap(), "verify", "--format", "json"])
        .ok()
        .json();
    assert_eq!(again["head"], verify["head"]);
    assert_eq!(again["journal"]["entries"], 2);
}

#[test]
fn an_edited_baseline_is_found_by_verify() {
    let env = Env::new();
    let sim = Sim::start(&[]);
    approved(&env, &sim);
    env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    env.run(&["verify"]).ok();
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.execute("UPDATE journal SET by_whom = 'mallory'", [])
        .unwrap();
    drop(conn);
    let out = env.run(&["verify"]).code(1);
    assert!(
        out.stdout.contains("journal BROKEN at entry 1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("chain BROKEN at snapshot 2"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_stale_plan_is_refused_and_nothing_is_sent() {
    let env = Env::new();
    let log = env.path("sim.log");
    let sim = Sim::start_logged(&[], &log);
    approved(&env, &sim);
    drift(&sim.url);
    let plan = saved_plan(&env, &sim);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["schema"], "tcss-audit/restore-plan/v2");
    // Someone changes the task again after the plan was made.
    update(
        &sim.url,
        json!({"Enable": false, "ScanPeriod": 7, "ScanTime": "03:00:00"}),
    );
    let sent = updates_in(&log);
    let out = restore(
        &env,
        &sim,
        &["--apply", "--plan", plan.to_str().unwrap(), "--yes"],
    )
    .code(1);
    assert!(
        out.stderr.contains("changed since the plan"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    assert_eq!(updates_in(&log), sent, "no Update was sent");
    assert_eq!(live(&sim.url)["ScanPeriod"], json!(7));
    assert_eq!(env.rows("journal"), 1, "only the approval");
}

#[test]
fn a_saved_plan_applies_and_an_edited_one_is_refused() {
    let env = Env::new();
    let sim = Sim::start(&[]);
    approved(&env, &sim);
    drift(&sim.url);
    let plan = saved_plan(&env, &sim);
    let text = std::fs::read_to_string(&plan).unwrap();
    let mut edited: Value = serde_json::from_str(&text).unwrap();
    edited["update"]["ScanPeriod"] = json!(30);
    let bad = env.write("edited.json", &edited.to_string());
    let out = restore(
        &env,
        &sim,
        &["--apply", "--plan", bad.to_str().unwrap(), "--yes"],
    )
    .code(2);
    assert!(out.stderr.contains("it was edited"), "{}", out.stderr);
    assert_eq!(live(&sim.url)["Enable"], json!(false));

    restore(
        &env,
        &sim,
        &[
            "--apply",
            "--plan",
            plan.to_str().unwrap(),
            "--yes",
            "--by",
            "carol",
        ],
    )
    .ok();
    assert_eq!(live(&sim.url)["Enable"], json!(true));
}

#[test]
fn without_a_terminal_apply_needs_yes() {
    let env = Env::new();
    let log = env.path("sim.log");
    let sim = Sim::start_logged(&[], &log);
    approved(&env, &sim);
    drift(&sim.url);
    let sent = updates_in(&log);
    let out = restore(&env, &sim, &["--apply"]).code(2);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(updates_in(&log), sent);
}

#[test]
fn a_refused_update_is_exit_3_and_nothing_is_recorded_as_applied() {
    let env = Env::new();
    // The snapshot, the drifting Update, the plan's read and the apply's read; then the
    // restoring Update is refused.
    let sim = Sim::start(&["--faults", "ok*4,refuse"]);
    approved(&env, &sim);
    drift(&sim.url);
    let snapshots = env.rows("snapshots");
    let out = restore(&env, &sim, &["--apply", "--yes"]).code(3);
    assert!(
        out.stderr.contains("UnauthorizedOperation"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nothing was recorded as applied"),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("journal"), 1);
    assert_eq!(env.rows("snapshots"), snapshots);
    assert_eq!(live(&sim.url)["Enable"], json!(false));
}

#[test]
fn an_update_that_does_not_take_is_exit_1_naming_the_fields() {
    let env = Env::new();
    let sim = Sim::start(&["--faults", "ok*4,notake"]);
    approved(&env, &sim);
    drift(&sim.url);
    let out = restore(&env, &sim, &["--apply", "--yes", "--by", "bob"]).code(1);
    assert!(
        out.stderr
            .contains("the Update did not take for Enable, ScanType"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("NOT converged"), "{}", out.stdout);
    // The apply is recorded with its outcome, and the observation read back with it.
    assert_eq!(env.rows("journal"), 2);
    let log = env.run(&["log"]).ok();
    assert!(
        log.stdout.contains("NOT converged (Enable, ScanType)"),
        "{}",
        log.stdout
    );
}

#[test]
fn restore_without_a_baseline_says_how_to_approve_one() {
    let env = Env::new();
    let sim = Sim::start(&[]);
    env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    let out = restore(&env, &sim, &[]).code(2);
    assert!(
        out.stderr.contains("audit baseline approve"),
        "{}",
        out.stderr
    );
    let empty = env.run(&["baseline", "approve", "--reason", "  "]).code(2);
    assert!(
        empty.stderr.contains("--reason is empty"),
        "{}",
        empty.stderr
    );
}

/// Times and the stand-in's RequestIds vary from run to run: the goldens hold placeholders.
fn redact(text: &str, request_ids: &[&str]) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let looks_like_time = i + 11 <= chars.len()
            && chars[i..i + 4].iter().all(char::is_ascii_digit)
            && chars[i + 4] == '-'
            && chars[i + 7] == '-'
            && chars[i + 10] == 'T';
        if looks_like_time {
            out.push_str("<TIME>");
            while i < chars.len() && !matches!(chars[i], ' ' | '"' | ',' | ')' | '\n') {
                i += 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    for id in request_ids {
        out = out.replace(id, "<REQUEST-ID>");
    }
    out
}

#[test]
fn the_plan_is_exact_in_text_and_json() {
    let env = Env::new();
    let sim = Sim::start(&[]);
    approved(&env, &sim);
    update(
        &sim.url,
        json!({"Enable": false, "ScanPeriod": 3, "ScanTime": "04:30", "ScanType": ["vul"], "ContainerRunning": true}),
    );
    let plan = env.path("plan.json");
    let text = restore(&env, &sim, &["--out", plan.to_str().unwrap()]).code(1);
    let json = std::fs::read_to_string(&plan).unwrap();
    let value: Value = serde_json::from_str(&json).unwrap();
    let rid = value["live"]["request_id"].as_str().unwrap().to_string();
    let binding = value["binding"].as_str().unwrap().to_string();
    insta::assert_snapshot!("restore_plan_text", redact(&text.stdout, &[&rid]));
    insta::assert_snapshot!(
        "restore_plan_json",
        redact(&json, &[&rid]).replace(&binding, "<BINDING>")
    );
    // The published schema holds the plan, and is not vacuous.
    let schema: Value =
        serde_json::from_str(include_str!("../../schemas/restore-plan.schema.json")).unwrap();
    assert_eq!(schema["properties"]["schema"]["const"], value["schema"]);
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut unbound = value.clone();
    unbound.as_object_mut().unwrap().remove("binding");
    assert!(!validator.is_valid(&unbound));
    let to_snapshot = env.path("to-snapshot.json");
    restore(
        &env,
        &sim,
        &["--to", "1", "--out", to_snapshot.to_str().unwrap()],
    )
    .code(1);
    let to_snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(&to_snapshot).unwrap()).unwrap();
    assert_eq!(to_snapshot["restore_to"]["kind"], "snapshot");
    assert!(validator.is_valid(&to_snapshot), "{to_snapshot}");
    // The JSON on stdout is the saved plan.
    let again = restore(&env, &sim, &["--format", "json"]).code(1).json();
    assert_eq!(again["update"], value["update"]);
    assert_eq!(again["live"]["config_hash"], value["live"]["config_hash"]);
}

/// `now` moved by `days` (negative: back), as `TCSS_AUDIT_NOW` takes it.
fn days_from_now(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn a_future_dated_approval_is_never_in_force_refuses_later_ones_and_breaks_verify() {
    let mut env = Env::new();
    let sim = Sim::start(&[]);
    env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    let ahead = days_from_now(5 * 365);
    env.now = Some(ahead.clone());
    env.run(&[
        "baseline", "approve", "--reason", "CHG-9", "--by", "mallory",
    ])
    .ok();
    env.now = None;
    // Back to the real clock: the approval dated years ahead is not in force now.
    let shown = env.run(&["baseline", "show"]).code(2);
    assert!(
        shown.stderr.contains("no baseline in force"),
        "{}",
        shown.stderr
    );
    // Nor can another be approved before it.
    let refused = env
        .run(&["baseline", "approve", "--reason", "CHG-10", "--by", "alice"])
        .code(2);
    assert!(
        refused
            .stderr
            .contains("before the time of journal entry 1")
            && refused.stderr.contains(&ahead[..10]),
        "{}",
        refused.stderr
    );
    assert_eq!(env.rows("journal"), 1);
    // The next snapshot links the entry, which is then dated after it: verify finds it.
    env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    let out = env.run(&["verify"]).code(1);
    assert!(
        out.stdout.contains("journal BROKEN at entry 1")
            && out.stdout.contains("after the time of snapshot 2"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_backdated_approval_is_refused_naming_both_times() {
    let mut env = Env::new();
    let sim = Sim::start(&[]);
    env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    let back = days_from_now(-2 * 365);
    env.now = Some(back.clone());
    let out = env
        .run(&[
            "baseline", "approve", "1", "--reason", "CHG-1", "--by", "mallory",
        ])
        .code(2);
    assert!(
        out.stderr.contains(&back[..19]) && out.stderr.contains("before the time of snapshot 1"),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("journal"), 0, "nothing was approved");
    env.now = None;
    env.run(&["verify"]).ok();
}

/// The requests the stand-in's log shows: the task's and STS's.
fn requests_in(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("TimingScanTask") || l.contains("GetCallerIdentity"))
        .count()
}

/// An edit to a saved plan.
type Edit = fn(&mut Value);

/// `plan` with `edit` made and, when `rebind`, its binding made again as an editor could.
fn edited_plan(plan: &Value, edit: Edit, rebind: bool) -> String {
    let mut v = plan.clone();
    edit(&mut v);
    if rebind {
        let p: Plan = serde_json::from_value(v.clone()).unwrap();
        v["binding"] = json!(binding(&p));
    }
    v.to_string()
}

#[test]
fn every_edited_plan_and_a_v1_plan_are_refused_with_nothing_sent() {
    let env = Env::new();
    let log = env.path("sim.log");
    let sim = Sim::start_logged(&[], &log);
    approved(&env, &sim);
    drift(&sim.url);
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(saved_plan(&env, &sim)).unwrap()).unwrap();
    assert_eq!(plan["account"], "100000000001");
    assert_eq!(plan["restore_to"]["journal_entry"], 1);
    // (what, the edit, whether the history alone refuses it, before any request)
    let edits: [(&str, Edit, bool); 5] = [
        ("target", |p| p["target"] = json!("other"), true),
        ("account", |p| p["account"] = json!("100000000999"), true),
        (
            "restore_to",
            |p| p["restore_to"]["config_hash"] = json!("0".repeat(64)),
            true,
        ),
        (
            "changes",
            |p| p["changes"][0]["restored"] = json!(false),
            false,
        ),
        ("update", |p| p["update"]["ScanPeriod"] = json!(30), false),
    ];
    for (what, edit, before_any_request) in edits {
        for rebind in [false, true] {
            let file = env.write("edited.json", &edited_plan(&plan, edit, rebind));
            let (requests, updates) = (requests_in(&log), updates_in(&log));
            let out = restore(
                &env,
                &sim,
                &[
                    "--target",
                    "default",
                    "--apply",
                    "--plan",
                    file.to_str().unwrap(),
                    "--yes",
                ],
            )
            .code(2);
            let why = if rebind && what == "target" {
                "the plan is for target"
            } else {
                "edited"
            };
            assert!(out.stderr.contains(why), "{what} {rebind}: {}", out.stderr);
            if rebind {
                assert!(out.stderr.contains(what), "{what}: {}", out.stderr);
            }
            assert_eq!(updates_in(&log), updates, "{what} {rebind}: no Update");
            if before_any_request || !rebind {
                assert_eq!(requests_in(&log), requests, "{what} {rebind}: no request");
            }
            assert_eq!(live(&sim.url)["Enable"], json!(false), "{what} {rebind}");
        }
    }
    // A plan of the first version: nothing of it is trusted.
    let mut v1 = plan.clone();
    let v1 = v1.as_object_mut().unwrap();
    v1.insert("schema".into(), json!("tcss-audit/restore-plan/v1"));
    v1.insert("made_at".into(), v1["planned_at"].clone());
    for gone in ["planned_at", "account", "binding"] {
        v1.remove(gone);
    }
    let file = env.write("v1.json", &Value::Object(v1.clone()).to_string());
    let requests = requests_in(&log);
    let out = restore(
        &env,
        &sim,
        &["--apply", "--plan", file.to_str().unwrap(), "--yes"],
    )
    .code(2);
    assert!(
        out.stderr.contains("made by an older version") && out.stderr.contains("plan again"),
        "{}",
        out.stderr
    );
    assert_eq!(requests_in(&log), requests);
    assert_eq!(env.rows("journal"), 1, "only the approval");
}

#[test]
fn a_plan_whose_baseline_was_replaced_is_stale() {
    let env = Env::new();
    let log = env.path("sim.log");
    let sim = Sim::start_logged(&[], &log);
    approved(&env, &sim);
    drift(&sim.url);
    let plan = saved_plan(&env, &sim);
    env.run(&["baseline", "approve", "--reason", "CHG-2", "--by", "alice"])
        .ok();
    let requests = requests_in(&log);
    let out = restore(
        &env,
        &sim,
        &["--apply", "--plan", plan.to_str().unwrap(), "--yes"],
    )
    .code(1);
    assert!(
        out.stderr
            .contains("journal entry 1, which is no longer the one in force (journal entry 2 is)"),
        "{}",
        out.stderr
    );
    assert_eq!(requests_in(&log), requests, "nothing was sent");
}

#[test]
fn credentials_that_reach_another_account_are_refused_before_the_update() {
    let env = Env::new();
    let sim = Sim::start(&[]);
    approved(&env, &sim);
    drift(&sim.url);
    let plan = saved_plan(&env, &sim);
    // The same keys, served as another account's.
    let accounts = env.write("accounts.toml", "uin = \"100000000777\"\n");
    let log = env.path("other.log");
    let other = Sim::start_logged(&["--accounts", accounts.to_str().unwrap()], &log);
    let out = restore(
        &env,
        &other,
        &["--apply", "--plan", plan.to_str().unwrap(), "--yes"],
    )
    .code(2);
    assert!(
        out.stderr.contains("reach account 100000000777")
            && out.stderr.contains("plan's is account 100000000001"),
        "{}",
        out.stderr
    );
    assert_eq!(updates_in(&log), 0);
    assert_eq!(live(&sim.url)["Enable"], json!(false));
    assert_eq!(env.rows("journal"), 1);
}

#[test]
fn an_update_whose_read_back_fails_is_journalled_with_its_request_id() {
    let env = Env::new();
    // The snapshot, the drifting Update, the plan's read, the apply's read and the Update;
    // then every read fails.
    let sim = Sim::start(&["--faults", "ok*5,auth*10"]);
    approved(&env, &sim);
    drift(&sim.url);
    let snapshots = env.rows("snapshots");
    let out = restore(&env, &sim, &["--apply", "--yes", "--by", "bob"]).code(3);
    assert!(out.stderr.contains("read-back failed"), "{}", out.stderr);
    let request_id = out
        .stderr
        .split("RequestId ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("{}", out.stderr))
        .to_string();
    assert!(!request_id.is_empty());
    assert_eq!(env.rows("journal"), 2);
    assert_eq!(
        env.rows("snapshots"),
        snapshots,
        "nothing was read back to record"
    );
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let (kind, detail): (String, String) = conn
        .query_row("SELECT kind, detail FROM journal WHERE id = 2", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(kind, "restore");
    assert_eq!(detail["update_request_id"], json!(request_id));
    assert_eq!(detail["outcome"], "read-back failed");
    let log = env.run(&["log"]).ok();
    assert!(log.stdout.contains(&request_id), "{}", log.stdout);
    env.run(&["verify"]).ok();
}

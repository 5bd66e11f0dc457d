//! The JSON Schemas in `schemas/`: each is a valid draft 2020-12 schema named by its document's
//! `schema` value, every kind the source writes has one, and the real binary's documents (the
//! common shapes and the rarer ones) validate against them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{Env, Hostile, Run, SEED, Sim};

const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// The schema of documents of `kind` (`schemas/KIND.schema.json`).
fn schema(kind: &str) -> Value {
    let path = schemas_dir().join(format!("{kind}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validator(kind: &str) -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema(kind)).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// Why `doc` does not hold to the schema of `kind`; empty when it does.
fn errors(kind: &str, doc: &Value) -> Vec<String> {
    validator(kind)
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[track_caller]
fn assert_valid(kind: &str, doc: &Value) {
    let errors = errors(kind, doc);
    assert!(errors.is_empty(), "{kind}: {errors:#?}\n{doc:#}");
}

#[track_caller]
fn assert_invalid(kind: &str, doc: &Value) {
    assert!(!errors(kind, doc).is_empty(), "{kind} accepts {doc:#}");
}

/// Every `tcss-audit/KIND/vN` the source names as a document's schema, with its newest version:
/// a string literal ending there (hash domains such as `tcss-audit/chain/v1\n` go on).
fn kinds_in_source() -> BTreeMap<String, u32> {
    let mut kinds = BTreeMap::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (kind, version) in kinds_in(&text) {
                    let newest = kinds.entry(kind).or_insert(version);
                    *newest = (*newest).max(version);
                }
            }
        }
    }
    kinds
}

fn kinds_in(text: &str) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("\"tcss-audit/") {
        let rest = &text[at + "\"tcss-audit/".len()..];
        let kind: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        let Some(after) = rest[kind.len()..].strip_prefix("/v") else {
            continue;
        };
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        let end = &after[digits.len()..];
        if !kind.is_empty()
            && !digits.is_empty()
            && (end.starts_with('"') || end.starts_with("\\\""))
        {
            found.push((kind, digits.parse().unwrap()));
        }
    }
    found
}

#[test]
fn the_source_scan_finds_document_kinds_and_not_hash_domains() {
    let text = r#"json!({"schema": "tcss-audit/check/v1"}); b"tcss-audit/chain/v1\n";
        "{\"schema\":\"tcss-audit/export/v2\",…}"; concat!("tcss-audit/", env!("X"))"#;
    assert_eq!(
        kinds_in(text),
        [("check".to_string(), 1), ("export".to_string(), 2)]
    );
}

#[test]
fn every_schema_is_draft_2020_12_and_named_by_its_documents_schema_value() {
    let mut files = 0;
    for entry in std::fs::read_dir(schemas_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let kind = name
            .strip_suffix(".schema.json")
            .unwrap_or_else(|| panic!("{name}: not KIND.schema.json"));
        let s = schema(kind);
        assert_eq!(s["$schema"], DRAFT_2020_12, "{name}");
        jsonschema::draft202012::meta::validate(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
        validator(kind);
        let id = s["$id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no $id"));
        assert!(id.contains(':'), "{name}: $id {id} is not an absolute URI");
        let value = id
            .rsplit_once(&format!("tcss-audit/{kind}/v"))
            .map(|(_, v)| format!("tcss-audit/{kind}/v{v}"))
            .unwrap_or_else(|| panic!("{name}: $id {id} does not end in tcss-audit/{kind}/vN"));
        // A document's `schema` member is that value (the export's header line holds it).
        let member = match kind {
            "export" => &s["oneOf"][0]["properties"]["schema"]["const"],
            _ => &s["properties"]["schema"]["const"],
        };
        assert_eq!(member, &json!(value), "{name}");
        files += 1;
    }
    assert!(files >= 15, "{files} schemas");
}

#[test]
fn every_kind_of_document_in_the_source_has_its_schema() {
    let kinds = kinds_in_source();
    for kind in [
        "report",
        "check",
        "diff",
        "log",
        "history",
        "verify",
        "restore-plan",
        "notification",
        "export",
    ] {
        assert!(
            kinds.contains_key(kind),
            "{kind} not found in the source: {kinds:?}"
        );
    }
    for (kind, version) in &kinds {
        let path = schemas_dir().join(format!("{kind}.schema.json"));
        assert!(
            path.exists(),
            "tcss-audit/{kind}/v{version} has no schema {}",
            path.display()
        );
        let s = schema(kind);
        let id = s["$id"].as_str().unwrap();
        assert!(
            id.ends_with(&format!("tcss-audit/{kind}/v{version}")),
            "{kind}: $id {id}, but the source writes v{version}"
        );
    }
    // And no schema is left for a kind the source no longer writes.
    for entry in std::fs::read_dir(schemas_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let kind = name.trim_end_matches(".schema.json");
        assert!(
            kinds.contains_key(kind),
            "{name}: no such kind in the source"
        );
    }
}

/// A signed history of the default target: a first snapshot of the reference example, its
/// config approved as the baseline, then a snapshot of a drifted task (settings, an image
/// added, an image's field changed) from a second stand-in.
struct Signed {
    env: Env,
    config: PathBuf,
    first: Sim,
    drifted: Sim,
    /// The webhook the config's `[[notify]]` posts to.
    hook: Hostile,
    /// `audit snapshot --format json` of the first observation.
    first_snapshot: Value,
    /// `audit history --format json` right after it.
    first_history: Value,
}

impl Signed {
    fn new() -> Signed {
        let env = Env::new();
        let key = env.path("key");
        env.run(&["key", "generate", "--out", key.to_str().unwrap()])
            .ok();
        let config = env.write(
            "audit.toml",
            "signing_key = \"key\"\nsigner_state = \"signer-state.json\"\n\n[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\n",
        );
        let mut task: Value = serde_json::from_str(SEED).unwrap();
        let answer = &mut task["Response"];
        answer["Enable"] = json!(false);
        answer["ScanPeriod"] = json!(7);
        answer["ScanType"] = json!(["vul"]);
        // A field from a later API version, which a policy may not be able to judge.
        answer["ScanMode"] = json!("fast");
        let mut image = answer["Images"][0].clone();
        answer["Images"][0]["Force"] = json!("NoForce");
        image["ImageTag"] = json!("v2");
        image["ImageRepoAddress"] = json!("ccr.ccs.tencentyun.com/yunding/luping:v2");
        answer["Images"].as_array_mut().unwrap().push(image);
        let state = env.write("drifted.json", &task.to_string());
        let (first, drifted) = (Sim::start(&[]), Sim::start_in(Some(&state), &[]));
        let mut signed = Signed {
            env,
            config,
            first,
            drifted,
            hook: Hostile::start(|_| (200, "ok".into())),
            first_snapshot: Value::Null,
            first_history: Value::Null,
        };
        let url = signed.first.url.clone();
        signed.first_snapshot = signed
            .run(&["snapshot", "--endpoint", &url, "--format", "json"])
            .ok()
            .json();
        signed.first_history = signed.run(&["history", "--format", "json"]).ok().json();
        signed
            .run(&[
                "baseline",
                "approve",
                "--reason",
                "CHG-1 agreed",
                "--by",
                "alice",
            ])
            .ok();
        let url = signed.drifted.url.clone();
        signed.run(&["snapshot", "--endpoint", &url]).ok();
        signed
    }

    /// `audit ARGS` with the config and the stand-in's credentials.
    fn run(&self, args: &[&str]) -> Run {
        self.env.run_with(args, |c| {
            c.env("TCSS_AUDIT_CONFIG", &self.config)
                .env("TENCENTCLOUD_SECRET_ID", crate::support::SIM_ID)
                .env("TENCENTCLOUD_SECRET_KEY", crate::support::SIM_KEY)
                .env("HOOK_URL", format!("{}/hook", self.hook.url));
        })
    }
}

#[test]
fn a_first_snapshot_its_history_and_show_validate() {
    let s = Signed::new();
    assert_valid("snapshot", &s.first_snapshot);
    assert_eq!(s.first_snapshot["results"][0]["id"], 1);
    let recorded = &s.first_snapshot["results"][0];
    assert_eq!(
        (&recorded["first"], &recorded["changed"]),
        (&json!(true), &json!(false)),
        "a first snapshot is no change, as in history"
    );
    let mut said_changed = s.first_snapshot.clone();
    said_changed["results"][0]["changed"] = json!(true);
    assert_invalid("snapshot", &said_changed);
    assert_valid("history", &s.first_history);
    let first = &s.first_history["snapshots"][0];
    assert_eq!(
        (&first["first"], &first["changed"]),
        (&json!(true), &json!(false))
    );
    let history = s.run(&["history", "--format", "json"]).ok().json();
    assert_valid("history", &history);
    assert_eq!(history["snapshots"][1]["changed"], true);
    // A first snapshot that says it changed is not a history this tool writes.
    let mut wrong = s.first_history.clone();
    wrong["snapshots"][0]["changed"] = json!(true);
    assert_invalid("history", &wrong);
    let show = s.run(&["show", "--format", "json"]).ok().json();
    assert_valid("show", &show);
    assert_eq!(show["snapshot"]["id"], 2);
    // A target the stand-in does not answer for fails alone, and says so in the document.
    let cfg = s.env.write(
        "two.toml",
        &format!(
            "[[target]]\nname = \"up\"\nendpoint = \"{}\"\n\n[[target]]\nname = \"down\"\nendpoint = \"http://127.0.0.1:9\"\n",
            s.first.url
        ),
    );
    let both = s.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "snapshot",
        "--all",
        "--format",
        "json",
        "--retries",
        "0",
    ]);
    let both: Value =
        serde_json::from_str(&both.stdout).unwrap_or_else(|e| panic!("{e}: {}", both.stderr));
    assert_valid("snapshot", &both);
    assert!(
        both["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["error"].is_string()),
        "{both:#}"
    );
}

#[test]
fn a_diff_with_images_a_log_and_the_baseline_validate() {
    let s = Signed::new();
    let diff = s
        .run(&["diff", "--format", "json", "--include-status"])
        .ok()
        .json();
    assert_valid("diff", &diff);
    let paths: Vec<&str> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"Images[ccr.ccs.tencentyun.com/yunding/luping:v2]"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"Images[ccr.ccs.tencentyun.com/yunding/luping:v1].Force"),
        "{paths:?}"
    );
    assert!(paths.contains(&"ScanType"), "{paths:?}");
    // A change is `changed` with both sides, else one side: not both, not neither.
    let mut wrong = diff.clone();
    wrong["changes"][0] = json!({"path": "Enable", "kind": "changed", "new": false});
    assert_invalid("diff", &wrong);
    wrong["changes"][0] = json!({"path": "ScanType", "kind": "added", "old": "vul", "new": "vul"});
    assert_invalid("diff", &wrong);
    let from_baseline = s
        .run(&["diff", "--from", "baseline", "--format", "json"])
        .ok()
        .json();
    assert_valid("diff", &from_baseline);
    let log = s.run(&["log", "--format", "json"]).ok().json();
    assert_valid("log", &log);
    assert_eq!(log["journal"][0]["kind"], "baseline");
    let baseline = s.run(&["baseline", "show", "--format", "json"]).ok().json();
    assert_valid("baseline", &baseline);
    assert_eq!(baseline["latest"]["equals_baseline"], false);
    let approvals = s
        .run(&["baseline", "history", "--format", "json"])
        .ok()
        .json();
    assert_valid("baseline-history", &approvals);
    assert_eq!(approvals["approvals"][0]["by"], "alice");
}

const TEAM_POLICY: &str = r#"
[policy]
name = "team"
description = "what this team requires"

[[rule]]
id = "TEAM-001"
title = "Risk scanning is on"
severity = "high"
field = "ScanType"
op = "contains"
value = "risk"
remediation = "tick it"

[[rule]]
id = "TEAM-002"
title = "Daily"
severity = "medium"
field = "ScanPeriod"
op = "lte"
value = 1

[[rule]]
id = "TEAM-003"
title = "A field from a later API version"
severity = "info"
field = "ScanMode"
op = "gt"
value = 1

[[rule]]
id = "TEAM-004"
title = "Switched off while the licence is renewed"
severity = "critical"
field = "Enable"
op = "eq"
value = false

[[waiver]]
rule = "TEAM-001"
reason = "risk scanning waits for the licence upgrade"
owner = "secops@example.com"
expires = "2099-01-31"

[[waiver]]
rule = "TEAM-002"
target = "default"
reason = "weekly until the audit"
owner = "ops@example.com"
expires = "2020-01-01"
"#;

#[test]
fn a_failing_check_with_waivers_and_its_findings_validate() {
    let s = Signed::new();
    let dir = s.env.path("policies");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("team.toml"), TEAM_POLICY).unwrap();
    let policies = dir.to_str().unwrap();
    let check = s
        .run(&["check", "--policies", policies, "--format", "json"])
        .code(1)
        .json();
    assert_valid("check", &check);
    assert_eq!(
        check["summary"],
        json!({"pass": 1, "fail": 1, "waived": 1, "error": 1}),
        "{check:#}"
    );
    // A waived result names its waiver; a status outside the four is refused.
    let mut wrong = check.clone();
    let waived = check["results"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["status"] == "waived")
        .unwrap();
    wrong["results"][waived]["waiver"] = Value::Null;
    assert_invalid("check", &wrong);
    let mut wrong = check.clone();
    wrong["results"][0]["status"] = json!("skipped");
    assert_invalid("check", &wrong);
    // The builtin policies' check, every target at once: an array of check documents.
    let all = s
        .run(&["check", "--all", "--format", "json"])
        .code(1)
        .json();
    let all = if all.is_array() { all } else { json!([all]) };
    for doc in all.as_array().unwrap() {
        assert_valid("check", doc);
    }
    // The OCSF findings follow the cloud profile, with the account the snapshot came from.
    let findings = s
        .run(&["check", "--policies", policies, "--format", "ocsf"])
        .code(1)
        .json();
    for e in findings.as_array().unwrap() {
        assert_eq!(e["metadata"]["profiles"], json!(["cloud"]), "{e}");
        assert_eq!(e["cloud"]["provider"], "Tencent Cloud");
        assert_eq!(e["cloud"]["account"]["uid"], "100000000001", "{e}");
    }
}

#[test]
fn a_restore_plan_its_apply_and_the_signer_state_validate() {
    let s = Signed::new();
    let url = s.drifted.url.clone();
    let plan = s
        .run(&["restore", "--endpoint", &url, "--format", "json"])
        .code(1)
        .json();
    assert_valid("restore-plan", &plan);
    let applied = s
        .run(&[
            "restore",
            "--endpoint",
            &url,
            "--apply",
            "--yes",
            "--by",
            "bob",
            "--format",
            "json",
        ])
        .code(1)
        .json();
    assert_valid("restore-apply", &applied);
    assert_valid("restore-plan", &applied["plan"]);
    // The task keeps the field from a later API version: the restore did not converge.
    assert_eq!(
        (&applied["converged"], &applied["not_taken"]),
        (&json!(false), &json!(["ScanMode"]))
    );
    let mut wrong = applied.clone();
    wrong["converged"] = json!(true);
    assert_invalid("restore-apply", &wrong);
    let state: Value =
        serde_json::from_slice(&std::fs::read(s.env.path("signer-state.json")).unwrap()).unwrap();
    assert_valid("signer-state", &state);
    assert_eq!(state["snapshot"], applied["snapshot"]);
}

#[test]
fn every_line_of_an_export_of_a_signed_history_validates() {
    let s = Signed::new();
    let url = s.drifted.url.clone();
    s.run(&[
        "restore",
        "--endpoint",
        &url,
        "--apply",
        "--yes",
        "--by",
        "bob",
    ])
    .code(1);
    let export = s.run(&["export"]).ok();
    let mut seen = BTreeMap::new();
    for line in export.stdout.lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        assert_valid("export", &doc);
        let kind = if doc.get("schema").is_some() {
            "header".to_string()
        } else if let Some(entry) = doc.get("journal") {
            format!("journal {}", entry["kind"].as_str().unwrap())
        } else if doc.get("checkpoint").is_some() {
            "checkpoint".to_string()
        } else {
            "observation".to_string()
        };
        *seen.entry(kind).or_insert(0) += 1;
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        [
            "checkpoint",
            "header",
            "journal baseline",
            "journal restore",
            "observation"
        ],
        "{seen:?}"
    );
    assert_eq!(seen["observation"], 3);
    // A line of no kind the export writes, or a row with a member it does not write, is refused.
    assert_invalid("export", &json!({"witness": {"snapshot": 1}}));
    let row = export
        .stdout
        .lines()
        .find(|l| l.contains("\"raw\""))
        .unwrap();
    let row: Value = serde_json::from_str(row).unwrap();
    let mut wrong = row.clone();
    wrong["extra"] = json!(1);
    assert_invalid("export", &wrong);
}

#[test]
fn verify_with_witnesses_and_a_broken_chain_validates() {
    let s = Signed::new();
    let public = s.env.path("key.pub");
    let public = public.to_str().unwrap();
    let held = s.run(&["verify", "--format", "json"]).ok();
    let held_file = s.env.write("held.json", &held.stdout);
    assert_valid("verify", &held.json());
    let witness = |name: &str, snapshot: i64, hash: &str| {
        let doc = json!({"schema": "tcss-audit/verify/v1", "head": {"snapshot": snapshot, "chain_hash": hash}});
        s.env.write(name, &doc.to_string())
    };
    let rewritten = witness("rewritten.json", 1, &"0".repeat(64));
    let missing = witness("missing.json", 99, &"1".repeat(64));
    let witnessed = s.run(&[
        "verify",
        "--format",
        "json",
        "--public-key",
        public,
        "--witness",
        held_file.to_str().unwrap(),
        "--witness",
        rewritten.to_str().unwrap(),
        "--witness",
        missing.to_str().unwrap(),
    ]);
    let doc = witnessed.json();
    assert_valid("verify", &doc);
    let statuses: Vec<&str> = doc["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["held", "rewritten", "missing"], "{doc:#}");
    assert_eq!(doc["checkpoints"]["verified"], 2);
    // A history edited in place: the chain breaks, and the document says where.
    let conn = rusqlite::Connection::open(s.env.db()).unwrap();
    conn.execute(
        "UPDATE snapshots SET config_hash = (SELECT config_hash FROM snapshots WHERE id = 2) WHERE id = 1",
        [],
    )
    .unwrap();
    drop(conn);
    let broken = s.run(&["verify", "--format", "json"]);
    assert_ne!(broken.code, 0, "{}", broken.stdout);
    let broken = broken.json();
    assert_valid("verify", &broken);
    assert_eq!(
        (&broken["ok"], &broken["first_break"]["snapshot"]),
        (&json!(false), &json!(1))
    );
    let mut wrong = broken.clone();
    wrong["ok"] = json!(true);
    assert_invalid("verify", &wrong);
}

/// The JSON document printed after the dry run's line for the webhook destination.
fn dry_run_body(run: &Run) -> Value {
    let at = run
        .stdout
        .find("(dry run, nothing sent)")
        .unwrap_or_else(|| panic!("no dry run in {}", run.stdout));
    let rest = &run.stdout[at..];
    let rest = &rest[rest.find('\n').unwrap()..];
    serde_json::Deserializer::from_str(rest)
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap()
}

#[test]
fn the_report_the_run_and_its_notification_validate() {
    let s = Signed::new();
    let report = s.run(&["report", "--format", "json"]).ok().json();
    assert_valid("report", &report);
    let target = &report["targets"][0];
    assert_valid("check", &target["check"]);
    assert!(report.get("run").is_none());
    let mut wrong = report.clone();
    wrong["targets"][0]["daily"][0]["status"] = json!("skipped");
    assert_invalid("report", &wrong);
    // The nightly job tells the webhook; back on the first stand-in, the config drifted back,
    // and the webhook would be told (a dry run), then is told.
    let out = s.env.path("reports");
    let nightly = |url: &str, extra: &[&str]| {
        let mut args = vec!["run", "--endpoint", url, "--out-dir", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = s.run(&args);
        assert!(run.code <= 1, "{}", run.stderr);
        run
    };
    nightly(&s.drifted.url, &[]);
    let run = nightly(&s.first.url, &["--notify-dry-run"]);
    let body = dry_run_body(&run);
    assert_valid("notification", &body);
    let drift = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "drift")
        .unwrap_or_else(|| panic!("no drift in {body:#}"));
    assert!(
        drift["changes"].as_array().is_some_and(|c| !c.is_empty()),
        "{drift}"
    );
    let mut wrong = body.clone();
    wrong["events"][0]["kind"] = json!("weather");
    assert_invalid("notification", &wrong);
    nightly(&s.first.url, &[]);
    s.run(&["notify", "test"]).ok();
    let sent: Vec<Value> = s
        .hook
        .heard()
        .iter()
        .map(|h| serde_json::from_str(&h.body).unwrap())
        .collect();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    for body in &sent {
        assert_valid("notification", body);
    }
    assert_eq!(sent[1]["events"], body["events"]);
    assert_eq!(sent[2]["run"]["test"], true);
    let written = run
        .stdout
        .lines()
        .find(|l| l.ends_with(".json") && !l.contains("ocsf"))
        .expect("the JSON report is listed");
    let nightly: Value = serde_json::from_str(&std::fs::read_to_string(written).unwrap()).unwrap();
    assert_valid("report", &nightly);
    assert_eq!(nightly["run"][0]["target"], "default");
}

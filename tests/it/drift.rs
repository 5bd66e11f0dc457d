//! A scripted three-week history imported with `--at`: the exact `diff` and `log` it gives.

use serde_json::{Value, json};

use crate::support::Env;

/// The nightly answers, one per day, with the drift of the script.
fn script() -> Vec<(String, Value)> {
    let image_a = json!({
        "ImageRepoAddress": "ccr.ccs.tencentyun.com/shop/web:v1", "ImageName": "shop/web", "ImageTag": "v1",
        "InstanceId": "ins-1", "RegistryType": "ccr", "Namespace": "shop", "Force": "Force",
        "ImageDigest": "sha256:aaaa", "InstanceName": "shop-registry"
    });
    let image_b = json!({
        "ImageRepoAddress": "ccr.ccs.tencentyun.com/shop/api:v7", "ImageName": "shop/api", "ImageTag": "v7",
        "InstanceId": "ins-1", "RegistryType": "ccr", "Namespace": "shop", "Force": "Force",
        "ImageDigest": "sha256:bbbb", "InstanceName": "shop-registry"
    });
    let mut out = Vec::new();
    for day in 1..=21 {
        let mut task = json!({
            "Enable": true, "ScanTime": "03:00", "ScanPeriod": 1, "ScanType": ["vul", "risk", "virus"],
            "All": false, "Images": [image_a.clone()], "Id": [1], "Latest": true,
            "RegistryType": ["ccr"], "Namespace": ["shop"],
            "LastScanTime": format!("2026-11-{day:02} 03:10:00"), "ScanResult": "Success",
            "RequestId": format!("req-{day:02}")
        });
        if day >= 5 {
            // Virus scanning dropped, and the list comes back in another order (no change by itself).
            task["ScanType"] = json!(["RISK", "vul"]);
        }
        if day == 10 || day == 11 {
            task["Enable"] = json!(false);
        }
        if day >= 15 {
            task["Images"] = json!([image_b.clone(), image_a.clone()]);
        }
        if day >= 18 {
            task["ScanWindowHours"] = json!(4);
            task["ScanTime"] = json!("03:00:00");
        }
        out.push((
            format!("2026-11-{day:02}T19:00:00Z"),
            json!({"Response": task}),
        ));
    }
    out
}

fn import_all(env: &Env, days: &[(String, Value)]) {
    for (i, (at, answer)) in days.iter().enumerate() {
        let file = env.write(
            &format!("answer-{i}.json"),
            &serde_json::to_string_pretty(answer).unwrap(),
        );
        env.run(&["import", file.to_str().unwrap(), "--at", at])
            .ok();
    }
}

fn history_env() -> Env {
    let mut env = Env::new();
    env.now = Some("2026-11-28T12:00:00Z".into());
    import_all(&env, &script());
    env
}

#[test]
fn diffs_between_dates_are_exact() {
    let env = history_env();
    for (from, to, name) in [
        ("2026-11-01", "2026-11-21", "diff_whole_window"),
        ("2026-11-04", "2026-11-05", "diff_virus_dropped"),
        ("2026-11-09", "2026-11-10", "diff_switched_off"),
        ("2026-11-14", "2026-11-15", "diff_image_added"),
        ("2026-11-17", "2026-11-18", "diff_unknown_field"),
    ] {
        let run = env
            .run(&["diff", "--from", from, "--to", to, "--format", "json"])
            .ok();
        insta::assert_snapshot!(name, run.stdout);
    }
    // Off and on again between the 9th and the 12th: no net change, and --exit-code says 0.
    let none = env
        .run(&[
            "diff",
            "--from",
            "2026-11-09",
            "--to",
            "2026-11-12",
            "--format",
            "json",
            "--exit-code",
        ])
        .ok();
    assert_eq!(none.json()["changes"], json!([]));
    let some = env
        .run(&[
            "diff",
            "--from",
            "2026-11-09",
            "--to",
            "2026-11-10",
            "--exit-code",
        ])
        .code(1);
    assert!(some.stdout.contains("Enable"), "{}", some.stdout);
}

#[test]
fn the_log_lists_every_event_newest_first() {
    let env = history_env();
    let run = env.run(&["log", "--format", "json"]).ok();
    insta::assert_snapshot!("log_all", run.stdout);
    let only = env
        .run(&["log", "--field", "Enable", "--format", "json"])
        .ok()
        .json();
    let events = only["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["changes"][0]["path"] == "Enable"));
    let since = env
        .run(&["log", "--since", "2026-11-15", "--format", "json"])
        .ok()
        .json();
    assert_eq!(
        since["events"].as_array().unwrap().len(),
        2,
        "the image and the new field"
    );
    let text = env.run(&["log"]).ok();
    insta::assert_snapshot!("log_text", text.stdout);
}

#[test]
fn history_changes_only_uses_the_same_events() {
    let env = history_env();
    let h = env
        .run(&["history", "--changes-only", "--format", "json"])
        .ok()
        .json();
    let days: Vec<&str> = h["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["at"].as_str().unwrap())
        .collect();
    assert_eq!(
        days,
        [
            "2026-11-01T19:00:00Z",
            "2026-11-05T19:00:00Z",
            "2026-11-10T19:00:00Z",
            "2026-11-12T19:00:00Z",
            "2026-11-15T19:00:00Z",
            "2026-11-18T19:00:00Z"
        ]
    );
}

#[test]
fn importing_out_of_order_leaves_the_same_events() {
    let ordered = history_env();
    let mut shuffled_days = script();
    // A fixed permutation: newest week first, then the rest backwards.
    shuffled_days.rotate_left(14);
    shuffled_days[7..].reverse();
    let mut shuffled = Env::new();
    shuffled.now = ordered.now.clone();
    import_all(&shuffled, &shuffled_days);
    let strip = |v: Value| -> Vec<Value> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| json!({"at": e["at"], "changes": e["changes"]}))
            .collect()
    };
    let a = strip(ordered.run(&["log", "--format", "json"]).ok().json());
    let b = strip(shuffled.run(&["log", "--format", "json"]).ok().json());
    assert_eq!(a.len(), 5);
    assert_eq!(a, b);
    shuffled.run(&["verify"]).ok();
}

#[test]
fn from_later_than_to_is_an_error_not_an_inverted_diff() {
    let env = history_env();
    let run = env
        .run(&["diff", "--from", "2026-11-20", "--to", "2026-11-02"])
        .code(2);
    assert!(
        run.stderr.contains("--from is later than --to"),
        "{}",
        run.stderr
    );
}

#[test]
fn days_follow_the_time_zone() {
    let env = history_env();
    // 19:00 UTC on the 4th is 03:00 on the 5th in Shanghai: the 5th's snapshot is the virus drop.
    let utc = env
        .run(&["show", "2026-11-05", "--format", "json"])
        .ok()
        .json();
    let sh = env
        .run(&[
            "show",
            "2026-11-05",
            "--format",
            "json",
            "--tz",
            "Asia/Shanghai",
        ])
        .ok()
        .json();
    assert_eq!(utc["snapshot"]["at"], "2026-11-05T19:00:00Z");
    assert_eq!(sh["snapshot"]["at"], "2026-11-04T19:00:00Z");
}

/// The fleet's log (`--all`, written a target at a time as the events are read) is each
/// target's own log put together, in the order of names: a target without changes in the
/// window included, in text and in JSON. A field no target ever had is refused before any of
/// the log is written; a field the catalogue lacks but the history holds is shown.
#[test]
fn the_fleets_log_is_each_targets_log_in_order() {
    let env = history_env();
    // `alpha` sorts before the default target and changes once; `zulu` never changes.
    let days = script();
    for (name, nights) in [("alpha", &days[8..12]), ("zulu", &days[0..3])] {
        for (i, (at, answer)) in nights.iter().enumerate() {
            let file = env.write(&format!("{name}-{i}.json"), &answer.to_string());
            env.run(&[
                "import",
                file.to_str().unwrap(),
                "--at",
                at,
                "--target",
                name,
            ])
            .ok();
        }
    }
    let names = ["alpha", "default", "zulu"];
    let window = ["--since", "2026-11-01"];
    let one = |name: &str, extra: &[&str]| {
        let mut args = vec!["log", "--target", name];
        args.extend(window);
        args.extend(extra);
        env.run(&args).ok().stdout
    };
    let all = |extra: &[&str]| {
        let mut args = vec!["log", "--all"];
        args.extend(window);
        args.extend(extra);
        env.run(&args).ok().stdout
    };
    let texts: Vec<String> = names.iter().map(|n| one(n, &[])).collect();
    assert!(texts[2].contains("zulu: no changes"), "{}", texts[2]);
    assert!(texts[0].contains("Enable: true -> false"), "{}", texts[0]);
    assert_eq!(all(&[]), texts.join("\n"));
    let docs: Vec<Value> = names
        .iter()
        .map(|n| serde_json::from_str(&one(n, &["--format", "json"])).unwrap())
        .collect();
    let fleet = all(&["--format", "json"]);
    assert_eq!(
        fleet,
        format!("{}\n", serde_json::to_string_pretty(&docs).unwrap())
    );
    let enable: Vec<String> = names
        .iter()
        .map(|n| one(n, &["--field", "Enable"]))
        .collect();
    assert_eq!(all(&["--field", "Enable"]), enable.join("\n"));

    let mut args = vec!["log", "--all", "--field", "ScanTyp"];
    args.extend(window);
    let typo = env.run(&args).code(2);
    assert!(typo.stdout.is_empty(), "{}", typo.stdout);
    assert!(
        typo.stderr.contains("did you mean ScanType"),
        "{}",
        typo.stderr
    );
    let added = all(&["--field", "ScanWindowHours"]);
    assert!(added.contains("+ ScanWindowHours: 4"), "{added}");
    assert!(added.contains("alpha: no changes"), "{added}");
}

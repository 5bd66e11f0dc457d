//! `audit report` over a scripted history: golden Markdown and JSON, and the day counts it implies.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::support::Env;

/// One night of the script: what the task looked like when the nightly job read it.
#[derive(Debug, Clone, Copy)]
struct Night {
    day: u32,
    enabled: bool,
    virus: bool,
    second_image: bool,
}

/// Three weeks of November: an image added on the 6th, the 9th missed, the task off on the 13th
/// and 14th, virus scanning dropped from the 18th. The job runs at 03:00 in Shanghai, 19:00 UTC.
fn script() -> Vec<Night> {
    (1..=21)
        .filter(|d| *d != 9)
        .map(|day| Night {
            day,
            enabled: !(13..=14).contains(&day),
            virus: day < 18,
            second_image: day >= 6,
        })
        .collect()
}

const FIRST_DAY: u32 = 1;
const LAST_DAY: u32 = 21;

fn night_at(day: u32) -> DateTime<Utc> {
    format!("2026-11-{day:02}T19:00:00Z").parse().unwrap()
}

fn answer(n: &Night) -> Value {
    let image = |name: &str, tag: &str, digest: &str| {
        json!({
            "ImageRepoAddress": format!("ccr.ccs.tencentyun.com/{name}:{tag}"), "ImageName": name,
            "ImageTag": tag, "InstanceId": "ins-1", "RegistryType": "ccr", "Namespace": "shop",
            "Force": "Force", "ImageDigest": digest, "InstanceName": "shop-registry"
        })
    };
    let mut images = vec![image("shop/web", "v1", "sha256:aaaa")];
    if n.second_image {
        images.push(image("shop/api", "v7", "sha256:bbbb"));
    }
    let scan_types = if n.virus {
        json!(["vul", "risk", "virus"])
    } else {
        json!(["vul", "risk"])
    };
    // The scan at 03:00 Beijing time has finished ten minutes later, so each night sees the
    // previous night's scan: recent and successful, as the baseline wants.
    json!({"Response": {
        "Enable": n.enabled, "ScanTime": "03:00", "ScanPeriod": 1, "ScanType": scan_types,
        "All": true, "Images": images, "Latest": false, "ContainerRunning": false,
        "RegistryType": ["ccr"], "Namespace": ["shop"],
        "LastScanTime": format!("2026-11-{:02} 03:10:00", n.day), "ScanResult": "Success",
        "RequestId": format!("req-2026-11-{:02}", n.day)
    }})
}

const WAIVERS: &str = r#"[policy]
name = "exceptions"
description = "Findings accepted for a while, each with an owner and an end date."

[[waiver]]
rule = "TCSS-CC-002"
target = "default"
reason = "the scheduler host was replaced on 9 November; that night was not observed"
owner = "secops@example.com"
expires = "2027-01-31"
"#;

/// The shipped policies as files, plus a waiver of the missed night.
fn write_policies(env: &Env) {
    std::fs::create_dir_all(env.path("policies")).unwrap();
    env.write(
        "policies/tcss-baseline.toml",
        include_str!("../../policies/tcss-baseline.toml"),
    );
    env.write(
        "policies/change-control.toml",
        include_str!("../../policies/change-control.toml"),
    );
    env.write("policies/waivers.toml", WAIVERS);
}

fn history_env() -> Env {
    let mut env = Env::new();
    env.now = Some("2026-11-28T12:00:00Z".into());
    for n in script() {
        let file = env.write(
            &format!("night-{:02}.json", n.day),
            &serde_json::to_string_pretty(&answer(&n)).unwrap(),
        );
        let at = night_at(n.day).to_rfc3339();
        env.run(&["import", file.to_str().unwrap(), "--at", &at])
            .ok();
    }
    write_policies(&env);
    env
}

const WINDOW: [&str; 4] = ["--since", "2026-11-01", "--until", "2026-11-21"];

fn report(env: &Env, extra: &[&str]) -> Value {
    let mut args = vec!["report", "--format", "json"];
    args.extend(WINDOW);
    args.extend(extra);
    env.run(&args).ok().json()
}

/// Which nights of the script comply with the shipped policies at `fail_on`, worked out from the
/// script itself. The rules that the script can break:
/// - critical: the task is on;
/// - high: also every scan type is on, and it was never off for more than 24 hours;
/// - medium and below: also no gap between observations of more than 26 hours (unless waived)
///   and the scan types never changed.
///
/// The other rules hold on every night of the script: daily period, all images, a recent
/// successful scan, at most three changes in a week.
fn expected_compliant(fail_on: &str, gap_waived: bool) -> Vec<u32> {
    let nights = script();
    let mut ok = Vec::new();
    for (i, n) in nights.iter().enumerate() {
        let upto = &nights[..=i];
        let mut off_too_long = false;
        let mut off_since = None;
        for m in upto {
            match (m.enabled, off_since) {
                (false, None) => off_since = Some(night_at(m.day)),
                (true, Some(start)) => {
                    off_too_long |= night_at(m.day) - start > Duration::hours(24);
                    off_since = None;
                }
                _ => {}
            }
        }
        if let Some(start) = off_since {
            off_too_long |= night_at(n.day) - start > Duration::hours(24);
        }
        let long_gap = upto
            .windows(2)
            .any(|w| night_at(w[1].day) - night_at(w[0].day) > Duration::hours(26));
        let types_changed = upto.iter().any(|m| m.virus != upto[0].virus);
        let pass = match fail_on {
            "critical" => n.enabled,
            "high" => n.enabled && n.virus && !off_too_long,
            _ => {
                n.enabled && n.virus && !off_too_long && (gap_waived || !long_gap) && !types_changed
            }
        };
        if pass {
            ok.push(n.day);
        }
    }
    ok
}

fn expected_gaps() -> Vec<String> {
    let seen: Vec<u32> = script().iter().map(|n| n.day).collect();
    (FIRST_DAY..=LAST_DAY)
        .filter(|d| !seen.contains(d))
        .map(|d| format!("2026-11-{d:02}"))
        .collect()
}

fn compliant_days_of(target: &Value) -> Vec<u32> {
    target["daily"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["compliant"] == true)
        .map(|d| {
            let date: NaiveDate = d["date"].as_str().unwrap().parse().unwrap();
            chrono::Datelike::day(&date)
        })
        .collect()
}

/// The output with the tool's version masked, so that a release does not rewrite the goldens.
fn unversioned(text: &str) -> String {
    let version = env!("CARGO_PKG_VERSION");
    text.replace(
        &format!("\"tool_version\": \"{version}\""),
        "\"tool_version\": \"[version]\"",
    )
    .replace(&format!("tcss-audit {version}\n"), "tcss-audit [version]\n")
}

#[test]
fn the_report_is_exact() {
    let env = history_env();
    let mut args = vec!["report", "--policies", "policies"];
    args.extend(WINDOW);
    let md = env.run(&args).ok();
    insta::assert_snapshot!("report_markdown", unversioned(&md.stdout));
    args.extend(["--format", "json"]);
    let js = env.run(&args).ok();
    assert_eq!(js.json()["tool_version"], env!("CARGO_PKG_VERSION"));
    insta::assert_snapshot!("report_json", unversioned(&js.stdout));
}

#[test]
fn the_json_carries_every_documented_key() {
    let env = history_env();
    let r = report(&env, &["--policies", "policies"]);
    assert_eq!(r["schema"], "tcss-audit/report/v1");
    assert_eq!(r["generated_at"], "2026-11-28T12:00:00Z");
    assert_eq!(r["window"]["since"], "2026-11-01T00:00:00Z");
    // Every time in a JSON document is UTC to the second.
    assert_eq!(r["window"]["until"], "2026-11-21T23:59:59Z");
    for key in ["schema", "generated_at", "window", "targets", "integrity"] {
        assert!(r.get(key).is_some(), "{key} missing");
    }
    assert_eq!(r["integrity"]["ok"], true);
    assert_eq!(r["integrity"]["checked"], script().len());
    let targets = r["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
    for key in [
        "name",
        "snapshots",
        "latest",
        "config",
        "check",
        "changes",
        "compliant_days",
        "gaps",
    ] {
        assert!(t.get(key).is_some(), "targets[].{key} missing");
    }
    assert_eq!(t["name"], "default");
    assert_eq!(t["snapshots"], script().len());
    let latest = &t["latest"];
    for key in ["id", "at", "request_id", "config_hash"] {
        assert!(latest.get(key).is_some(), "latest.{key} missing");
    }
    assert_eq!(latest["request_id"], "req-2026-11-21");
    assert_eq!(latest["at"], "2026-11-21T19:00:00Z");
    assert_eq!(t["config"]["ScanType"], json!(["risk", "vul"]));
    assert_eq!(t["check"]["schema"], "tcss-audit/check/v1");
    assert_eq!(t["check"]["snapshot"]["id"], latest["id"]);
    // A timeline: oldest first, one event per change of config in the script.
    let changes = t["changes"].as_array().unwrap();
    let at: Vec<&str> = changes.iter().map(|c| c["at"].as_str().unwrap()).collect();
    assert_eq!(
        at,
        [
            "2026-11-06T19:00:00Z",
            "2026-11-13T19:00:00Z",
            "2026-11-15T19:00:00Z",
            "2026-11-18T19:00:00Z"
        ]
    );
    for c in changes {
        for key in ["at", "from", "to", "changes"] {
            assert!(c.get(key).is_some(), "changes[].{key} missing");
        }
    }
    // The missed night is waived, so the rule shows as waived with its owner.
    let waivers = t["waivers"].as_array().unwrap();
    assert_eq!(waivers.len(), 1);
    assert_eq!(waivers[0]["rule"], "TCSS-CC-002");
}

#[test]
fn compliant_days_and_gaps_follow_the_script() {
    let env = history_env();
    let days = (LAST_DAY - FIRST_DAY + 1) as u64;
    for (policies, fail_on, gap_waived) in [
        (None, "critical", false),
        (None, "high", false),
        (None, "low", false),
        (Some("policies"), "low", true),
    ] {
        let mut extra = vec!["--fail-on", fail_on];
        if let Some(p) = policies {
            extra.extend(["--policies", p]);
        }
        let r = report(&env, &extra);
        let t = &r["targets"][0];
        let want = expected_compliant(fail_on, gap_waived);
        assert_eq!(compliant_days_of(t), want, "{policies:?} at {fail_on}");
        assert_eq!(t["compliant_days"], want.len(), "{policies:?} at {fail_on}");
        assert_eq!(t["days"], days);
        assert_eq!(t["gaps"], json!(expected_gaps()));
    }
    // The script's compliance is not trivial: each threshold lets a different set of days through.
    let counts: Vec<usize> = ["critical", "high", "low"]
        .iter()
        .map(|f| expected_compliant(f, false).len())
        .collect();
    assert!(
        counts[0] > counts[1] && counts[1] > counts[2] && counts[2] > 0,
        "{counts:?}"
    );
}

#[test]
fn days_are_counted_in_the_zone() {
    let env = history_env();
    // 19:00 UTC is 03:00 the next day in Shanghai: the same history, every night a day later.
    let run = env
        .run(&[
            "report",
            "--format",
            "json",
            "--tz",
            "Asia/Shanghai",
            "--since",
            "2026-11-02",
            "--until",
            "2026-11-22",
        ])
        .ok()
        .json();
    let t = &run["targets"][0];
    assert_eq!(run["window"]["since"], "2026-11-01T16:00:00Z");
    assert_eq!(run["timezone"], "Asia/Shanghai");
    assert_eq!(t["days"], 21);
    assert_eq!(t["gaps"], json!(["2026-11-10"]));
    assert_eq!(t["snapshots"], script().len());
    let first = &t["daily"][0];
    assert_eq!(first["date"], "2026-11-02");
    assert_eq!(first["at"], "2026-11-01T19:00:00Z");
}

#[test]
fn the_same_history_gives_the_same_bytes() {
    let env = history_env();
    for format in ["markdown", "json"] {
        let mut args = vec!["report", "--format", format, "--policies", "policies"];
        args.extend(WINDOW);
        let a = env.run(&args).ok();
        let b = env.run(&args).ok();
        assert!(!a.stdout_bytes.is_empty());
        assert_eq!(a.stdout_bytes, b.stdout_bytes, "{format}");
    }
}

#[test]
fn output_writes_the_file_and_nothing_to_stdout() {
    let env = history_env();
    let mut args = vec!["report", "--policies", "policies"];
    args.extend(WINDOW);
    let shown = env.run(&args).ok();
    std::fs::create_dir_all(env.path("out")).unwrap();
    // An old report is replaced whole.
    env.write(
        "out/report.md",
        "an older report that is much longer than nothing\n",
    );
    args.extend(["--output", "out/report.md"]);
    let written = env.run(&args).ok();
    assert_eq!(written.stdout, "");
    assert_eq!(
        std::fs::read(env.path("out/report.md")).unwrap(),
        shown.stdout_bytes
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn the_current_check_is_what_audit_check_says() {
    let env = history_env();
    // Default window: the last 30 days up to now, so both judge the latest snapshot as of now.
    let r = env.run(&["report", "--format", "json"]).ok().json();
    let check = env.run(&["check", "--format", "json"]).code(1).json();
    assert_eq!(r["targets"][0]["check"], check);
    assert_eq!(r["window"]["until"], "2026-11-28T12:00:00Z");
    assert_eq!(r["window"]["since"], "2026-10-29T12:00:00Z");
    // 29 October to 28 November: the days before the history are not observed, the nights
    // without a snapshot after its start are missed, and the share counts observed days only.
    let t = &r["targets"][0];
    assert_eq!(t["days"], 31);
    let gaps = t["gaps"].as_array().unwrap().len();
    let unobserved = t["not_observed"].as_array().unwrap().len();
    assert!(unobserved > 0, "the window starts before the history");
    assert_eq!(gaps + unobserved, 31 - script().len(), "{}", t["gaps"]);
    assert_eq!(t["observed_days"], 31 - unobserved);
}

#[test]
fn a_report_is_not_a_verdict() {
    let env = history_env();
    // Nothing complies at the end of the window, yet the report itself succeeds.
    let r = report(&env, &["--fail-on", "high"]);
    assert_eq!(r["targets"][0]["compliant"], false);
    env.run(&["check", "2026-11-21", "--fail-on", "high"])
        .code(1);
}

#[test]
fn bad_windows_and_missing_history_are_usage_errors() {
    let env = history_env();
    let run = env
        .run(&["report", "--since", "2026-11-20", "--until", "2026-11-02"])
        .code(2);
    assert!(run.stderr.contains("--since"), "{}", run.stderr);
    let run = env.run(&["report", "--since", "someday"]).code(2);
    assert!(run.stderr.contains("someday"), "{}", run.stderr);
    let empty = Env::new();
    let run = empty.run(&["report"]).code(2);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
}

#[test]
fn snapshot_ids_bound_the_window_at_their_time() {
    let env = history_env();
    // Snapshots are numbered in import order: #1 is the 1st, #10 the 11th (the 9th was missed).
    let r = env
        .run(&[
            "report", "--format", "json", "--since", "1", "--until", "10",
        ])
        .ok()
        .json();
    assert_eq!(r["window"]["since"], "2026-11-01T19:00:00Z");
    assert_eq!(r["window"]["until"], "2026-11-11T19:00:00Z");
    assert_eq!(r["targets"][0]["snapshots"], 10);
    assert_eq!(r["targets"][0]["latest"]["id"], 10);
}

#[test]
fn a_target_without_history_has_no_day_observed_and_no_night_missed() {
    let env = history_env();
    let run = env
        .run(&[
            "report",
            "--format",
            "json",
            "--target",
            "staging",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-07",
        ])
        .ok();
    assert!(run.stderr.contains("no snapshots"), "{}", run.stderr);
    let t = &run.json()["targets"][0];
    assert_eq!(t["name"], "staging");
    assert_eq!(t["latest"], Value::Null);
    assert_eq!(t["check"], Value::Null);
    assert_eq!(t["compliant"], false);
    assert_eq!(t["compliant_days"], 0);
    assert_eq!(t["gaps"].as_array().unwrap().len(), 0);
    assert_eq!(t["not_observed"].as_array().unwrap().len(), 7);
    assert_eq!(t["observed_days"], 0);
    let md = env
        .run(&[
            "report",
            "--target",
            "staging",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-07",
        ])
        .ok();
    assert!(
        md.stdout.contains("No snapshot at or before"),
        "{}",
        md.stdout
    );
}

#[test]
fn the_html_report_is_exact_self_contained_and_renders_in_a_browser() {
    let env = history_env();
    let mut args = vec!["report", "--policies", "policies"];
    args.extend(WINDOW);
    args.extend(["--format", "html"]);
    let html = env.run(&args).ok().stdout;
    let version = env!("CARGO_PKG_VERSION");
    insta::assert_snapshot!(
        "report_html",
        html.replace(
            &format!("tcss-audit {version}</li>"),
            "tcss-audit [version]</li>"
        )
    );
    // Self-contained: no reference to anything outside, no script.
    let lower = html.to_lowercase();
    assert!(!lower.contains("http"), "an http reference");
    assert!(
        !lower.contains("<script") && !lower.contains("src="),
        "a script or resource"
    );
    assert!(
        html.contains("<svg") && html.contains("missed night"),
        "the calendar"
    );
    let page = env.write("report.html", &html);
    let Some(browser) = chromium() else { return };
    let shot = env.path("report.png");
    let out = chromium_on(
        &env,
        browser,
        &page,
        &[format!("--screenshot={}", shot.display())],
    );
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = &buf[..info.buffer_size()];
    let distinct: std::collections::HashSet<&[u8]> =
        pixels.chunks(info.color_type.samples()).collect();
    assert!(
        distinct.len() > 20,
        "the screenshot is blank ({} colours)",
        distinct.len()
    );
}

#[test]
fn hostile_text_is_escaped_in_the_html_report() {
    let env = Env::new();
    let mut answer: Value = serde_json::from_str(crate::support::SEED).unwrap();
    answer["Response"]["RequestId"] = Value::String("\"><img src=x onerror=alert(1)>".into());
    let file = env.write("a.json", &answer.to_string());
    let name = "<b>prod</b>";
    env.run(&["import", file.to_str().unwrap(), "--target", name])
        .ok();
    let html = env
        .run(&["report", "--target", name, "--format", "html"])
        .ok()
        .stdout;
    assert!(!html.contains("<b>prod</b>") && html.contains("&lt;b&gt;prod&lt;/b&gt;"));
    assert!(
        !html.contains("<img") && html.contains("&quot;&gt;&lt;img"),
        "{html}"
    );
}

/// Chromium, or `None` when it is missing here (in CI it must be there).
fn chromium() -> Option<&'static str> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if std::process::Command::new(name)
            .arg("--version")
            .output()
            .is_ok()
        {
            return Some(name);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium is missing; CI installs it"
    );
    eprintln!("skipped: chromium is not installed, the page is not rendered");
    None
}

/// The headings of a Markdown report, levels 1 to 4, as plain text.
fn markdown_headings(md: &str) -> Vec<String> {
    md.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().replace('`', ""))
        .collect()
}

/// The text of an HTML fragment: tags dropped, the report's entities read back.
fn html_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&rarr;", "->")
        .replace("&hellip;", "…")
        .replace("&amp;", "&")
}

/// The headings of an HTML report, levels 1 to 4, as plain text.
fn html_headings(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<h") {
        let level = rest.as_bytes().get(start + 2).copied();
        rest = &rest[start + 2..];
        let Some(level @ b'1'..=b'4') = level else {
            continue;
        };
        let close = format!("</h{}>", level as char);
        let open_end = rest.find('>').unwrap() + 1;
        let end = rest.find(&close).unwrap();
        found.push(html_text(&rest[open_end..end]).trim().to_string());
        rest = &rest[end..];
    }
    found
}

/// The inline code spans of a Markdown text (single-backtick fences).
fn markdown_code_spans(md: &str) -> Vec<String> {
    md.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.replace("\\|", "|"))
        .collect()
}

#[test]
fn the_html_report_has_every_section_and_figure_of_the_markdown() {
    let env = history_env();
    let mut args = vec!["report", "--policies", "policies"];
    args.extend(WINDOW);
    let md = env.run(&args).ok().stdout;
    args.extend(["--format", "html"]);
    let html = env.run(&args).ok().stdout;
    // The same sections, in the same order, under the same headings: configuration, failing
    // rules, waivers in force, drift, baseline, days, evidence, chain of custody.
    let headings = markdown_headings(&md);
    assert!(
        headings.contains(&"Waivers in force".to_string())
            && headings.contains(&"Configuration".to_string()),
        "{headings:?}"
    );
    assert_eq!(html_headings(&html), headings);
    // Every value the Markdown quotes (fields, values, rule ids, hashes, RequestIds, policy
    // files and their SHA-256) is in the HTML too.
    let text = html_text(&html);
    let spans = markdown_code_spans(&md);
    assert!(spans.len() > 100, "{}", spans.len());
    for span in &spans {
        assert!(text.contains(span.as_str()), "{span:?} is not in the HTML");
    }
    // The summary's figures: every cell of its rows, the severity split and the days not
    // observed included.
    let summary = md.split("## Summary").nth(1).unwrap();
    let rows = summary
        .lines()
        .filter(|l| l.starts_with("| `"))
        .collect::<Vec<_>>();
    assert!(!rows.is_empty());
    assert!(html.contains("<th>Days not observed</th>"), "{html}");
    for row in rows {
        let cells: Vec<String> = row
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().replace(['`', '*'], ""))
            .collect();
        let html_row = html
            .lines()
            .find(|l| l.starts_with("<tr>") && html_text(l).starts_with(&cells[0]))
            .unwrap_or_else(|| panic!("no summary row for {}", cells[0]));
        let html_cells: Vec<String> = html_row
            .split("</td>")
            .map(|c| html_text(c).trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(html_cells, cells, "{html_row}");
    }
    // The policy files with their SHA-256.
    assert!(md.contains("SHA-256") && text.contains("SHA-256"), "{text}");
}

#[test]
fn days_before_the_first_snapshot_are_said_once_in_markdown_and_html() {
    let env = history_env();
    // 30 days, the first nine before the history's first snapshot on 1 November.
    let args = ["report", "--since", "2026-10-23", "--until", "2026-11-21"];
    let md = env.run(&args).ok().stdout;
    let row = "| 2026-10-23 to 2026-10-31 | not observed (9 days, before the history held) |";
    assert_eq!(md.matches(row).count(), 1, "{md}");
    assert_eq!(md.matches("not observed (").count(), 2, "{md}");
    assert!(
        md.contains("9 days not observed (2026-10-23 to 2026-10-31, before the history held)"),
        "{md}"
    );
    assert!(!md.contains("| 2026-10-24 |"), "{md}");
    let mut html_args = args.to_vec();
    html_args.extend(["--format", "html"]);
    let html = env.run(&html_args).ok().stdout;
    assert_eq!(
        html.matches("<tr><td><time>2026-10-23</time> to <time>2026-10-31</time></td><td>not observed (9 days, before the history held)</td>").count(),
        1,
        "{html}"
    );
    assert!(!html.contains("<tr><td><time>2026-10-24</time>"), "{html}");
    // The JSON keeps every day.
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let t = &env.run(&json_args).ok().json()["targets"][0];
    assert_eq!(t["not_observed"].as_array().unwrap().len(), 9);
    assert_eq!(t["daily"].as_array().unwrap().len(), 30);
    assert_eq!(t["daily"][0]["status"], "not_observed");
}

/// Chromium run headless on a page, with a fixed window and a throwaway profile.
fn chromium_on(
    env: &Env,
    browser: &str,
    page: &std::path::Path,
    extra: &[String],
) -> std::process::Output {
    let profile = env.path("chromium-profile");
    std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1000,800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

/// What a browser lays out for a report: a test-only copy of the page with a script that
/// measures it after parsing and writes the numbers into the page; `--dump-dom` reads them
/// back. The report itself has no script.
const MEASURE: &str = r#"<script>
(function () {
  // A folded value opened: the whole of it must wrap inside its cell too.
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var view = document.documentElement.clientWidth;
  var out = {view: view, page: document.documentElement.scrollWidth, tables: [], remediation: [],
             texts: 0, texts_inside: 0, days: []};
  document.querySelectorAll('table').forEach(function (t) {
    out.tables.push(t.getBoundingClientRect().right);
  });
  document.querySelectorAll('th').forEach(function (th) {
    if (th.textContent === 'Remediation') {
      var b = th.getBoundingClientRect();
      out.remediation.push([b.left, b.right]);
    }
  });
  document.querySelectorAll('svg').forEach(function (svg) {
    var s = svg.getBoundingClientRect();
    svg.querySelectorAll('g > text').forEach(function (t) {
      var b = t.getBoundingClientRect();
      out.texts++;
      if (b.width > 0 && b.left >= s.left && b.right <= s.right + 0.5) out.texts_inside++;
      out.days.push(t.textContent);
    });
  });
  // Headers and short values (names, ids, numbers) are never broken inside a word (a hyphen
  // may end a line): a range over them spans no more lines than they have words.
  out.broken = [];
  document.querySelectorAll('th, code').forEach(function (e) {
    var text = e.textContent.trim();
    if (text.length > 24 || e.closest('details')) return;
    var range = document.createRange();
    range.selectNodeContents(e);
    var lines = new Set();
    Array.prototype.forEach.call(range.getClientRects(), function (r) {
      if (r.width > 0) lines.add(Math.round(r.top));
    });
    if (lines.size > text.split(/[\s-]+/).length) out.broken.push(text);
  });
  var pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;

/// The page's measurements in Chromium, or `None` without Chromium (outside CI).
fn measured(env: &Env, html: &str) -> Option<Value> {
    assert!(!html.contains("<script"), "the report has a script");
    let browser = chromium()?;
    let page = env.write(
        "measured.html",
        &html.replace("</body>", &format!("{MEASURE}</body>")),
    );
    let out = chromium_on(env, browser, &page, &["--dump-dom".to_string()]);
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom
        .find("<pre id=\"measured\">")
        .unwrap_or_else(|| panic!("{dom}\n{}", String::from_utf8_lossy(&out.stderr)))
        + "<pre id=\"measured\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    Some(serde_json::from_str(&text).unwrap())
}

#[test]
fn a_4_kb_finding_wraps_and_the_remediation_column_stays_on_the_page() {
    let env = Env::new();
    let mut answer: Value = serde_json::from_str(crate::support::SEED).unwrap();
    answer["Response"]["ScanType"] = json!(["vul", "risk", "x".repeat(4096)]);
    let file = env.write("a.json", &answer.to_string());
    env.run(&["import", file.to_str().unwrap()]).ok();
    let html = env.run(&["report", "--format", "html"]).ok().stdout;
    assert!(html.contains(&"x".repeat(4096)), "the whole value is there");
    let Some(m) = measured(&env, &html) else {
        return;
    };
    let view = m["view"].as_f64().unwrap();
    assert!(
        m["page"].as_f64().unwrap() <= view,
        "the page scrolls sideways: {m}"
    );
    for right in m["tables"].as_array().unwrap() {
        assert!(
            right.as_f64().unwrap() <= view,
            "a table runs off the page: {m}"
        );
    }
    let remediation = m["remediation"].as_array().unwrap();
    assert_eq!(remediation.len(), 1, "{m}");
    let (left, right) = (
        remediation[0][0].as_f64().unwrap(),
        remediation[0][1].as_f64().unwrap(),
    );
    assert!(right <= view && right - left > 100.0, "{m}");
    // Wrapping the long value breaks no short word elsewhere (the summary's headers, names).
    assert_eq!(m["broken"], json!([]), "{m}");
}

#[test]
fn the_calendar_shows_its_dates() {
    let env = history_env();
    let mut args = vec!["report"];
    args.extend(WINDOW);
    args.extend(["--format", "html"]);
    let html = env.run(&args).ok().stdout;
    let svg = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()];
    assert!(svg.contains(">2026-11</text>"), "{svg}");
    for day in FIRST_DAY..=LAST_DAY {
        assert!(
            svg.contains(&format!("<title>2026-11-{day:02} "))
                && svg.contains(&format!(">{day}</text></g>")),
            "day {day}: {svg}"
        );
    }
    let Some(m) = measured(&env, &html) else {
        return;
    };
    // Every day's number is drawn, inside the calendar.
    let days: Vec<String> = (FIRST_DAY..=LAST_DAY).map(|d| d.to_string()).collect();
    assert_eq!(m["days"], json!(days), "{m}");
    assert_eq!(m["texts_inside"], m["texts"], "{m}");
    assert_eq!(m["broken"], json!([]), "{m}");
}

//! Renderers for a diff between two snapshots and for a log of change events.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use owo_colors::OwoColorize;

use crate::report::Color;
use serde::Serialize;

use super::markdown::{code, value_code};
use super::short;
use crate::task::canonical::{pretty_json, sorted_value};
use crate::task::diff::{Change, ChangeKind, ShownChange};
use crate::task::normalize::Config;
use crate::task::text::{visible, visible_lines};
use crate::task::when::{fmt_time, fmt_utc};

const DIFF_SCHEMA: &str = "tcss-audit/diff/v1";
const LOG_SCHEMA: &str = "tcss-audit/log/v1";

/// One side of a diff: which snapshot, when, and the hash of its config.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffEnd {
    pub snapshot: i64,
    pub at: DateTime<Utc>,
    pub config_hash: String,
}

/// What changed between two snapshots of one target.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffDoc {
    pub target: String,
    pub from: DiffEnd,
    pub to: DiffEnd,
    pub changes: Vec<Change>,
    pub status_changes: Vec<Change>,
    pub include_status: bool,
}

/// The changes between two consecutive snapshots whose configs differ: built, or as stored
/// ([`crate::task::diff::StoredChange`], for the text log of a fleet).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent<C = Change> {
    pub at: DateTime<Utc>,
    pub from: i64,
    pub to: i64,
    pub changes: Vec<C>,
}

/// The change events of one target, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDoc<C = Change> {
    pub target: String,
    pub events: Vec<LogEvent<C>>,
    /// The journal's entries in the window (baselines approved, restores applied), newest
    /// first: shown among the changes, by time.
    pub journal: Vec<crate::store::Entry>,
}

/// A journal entry as one line of the log.
fn journal_line(e: &crate::store::Entry) -> String {
    use crate::store::EntryKind;
    match e.kind {
        EntryKind::Signing => format!(
            "signature line started by {}: {}",
            visible(&e.by),
            visible(&e.reason)
        ),
        EntryKind::Baseline => format!(
            "baseline approved by {}: {}config {}: {}",
            visible(&e.by),
            e.snapshot
                .map(|s| format!("snapshot #{s}, "))
                .unwrap_or_default(),
            short(&e.config_hash),
            visible(&e.reason)
        ),
        EntryKind::Restore => {
            let plan = &e.detail["plan"];
            let fields: Vec<String> = plan["update"]
                .as_object()
                .map(|m| m.keys().map(|k| visible(k).into_owned()).collect())
                .unwrap_or_default();
            let not_taken: Vec<String> = e.detail["not_taken"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(|s| visible(s).into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let outcome = e.detail["outcome"].as_str().unwrap_or_default();
            format!(
                "restore applied by {} to {} {} (sent {}); read back {}: {}",
                visible(&e.by),
                visible(plan["restore_to"]["kind"].as_str().unwrap_or("snapshot")),
                short(&e.config_hash),
                fields.join(", "),
                e.snapshot.map(|s| format!("#{s}")).unwrap_or_default(),
                if outcome == crate::task::restore::READ_BACK_FAILED {
                    format!(
                        "FAILED, the Update accepted (RequestId {}): the task's state is not known",
                        visible(e.detail["update_request_id"].as_str().unwrap_or_default())
                    )
                } else if not_taken.is_empty() {
                    "converged".to_string()
                } else {
                    format!("NOT converged ({})", not_taken.join(", "))
                }
            )
        }
    }
}

fn write_change(
    c: &impl ShownChange,
    indent: &str,
    color: Color,
    w: &mut dyn Write,
) -> io::Result<()> {
    // A path names an image by its registry, name and tag, as the API sent them. A value is
    // JSON, whose strings escape C0 controls but not DEL, C1 controls or the bidirectional
    // overrides: those are made visible too.
    let path = visible(c.path());
    let (mark, old, new) = match c.kind() {
        ChangeKind::Added => ("+ ", None, c.new_text()),
        ChangeKind::Removed => ("- ", None, c.old_text()),
        // Two spaces keep the paths aligned under the `+ ` and `- ` lines.
        ChangeKind::Changed => ("  ", Some(c.old_text()), c.new_text()),
    };
    let old = old.as_deref().map(visible);
    let new = visible(&new);
    if color == Color::Plain {
        // Written in pieces, not formatted: a fleet's year is many thousand lines.
        for piece in [indent, mark, &path, ": "] {
            w.write_all(piece.as_bytes())?;
        }
        if let Some(old) = &old {
            w.write_all(old.as_bytes())?;
            w.write_all(b" -> ")?;
        }
        w.write_all(new.as_bytes())?;
        return w.write_all(b"\n");
    }
    let line = match &old {
        Some(old) => format!("{mark}{path}: {old} -> {new}"),
        None => format!("{mark}{path}: {new}"),
    };
    match c.kind() {
        ChangeKind::Added => writeln!(w, "{indent}{}", line.green()),
        ChangeKind::Removed => writeln!(w, "{indent}{}", line.red()),
        ChangeKind::Changed => writeln!(w, "{indent}{}", line.yellow()),
    }
}

fn end_text(end: &DiffEnd, tz: Tz) -> String {
    format!("#{} ({})", end.snapshot, fmt_time(end.at, tz))
}

/// The diff for people: a header, then one line per change.
pub fn diff_text(doc: &DiffDoc, tz: Tz, color: Color, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "{}: {} -> {}",
        visible(&doc.target),
        end_text(&doc.from, tz),
        end_text(&doc.to, tz)
    )?;
    if doc.changes.is_empty() {
        writeln!(w, "no changes")?;
    }
    for c in &doc.changes {
        write_change(c, "", color, w)?;
    }
    if doc.include_status {
        if doc.status_changes.is_empty() {
            writeln!(w, "status: no changes")?;
        } else {
            writeln!(w, "status:")?;
            for c in &doc.status_changes {
                write_change(c, "", color, w)?;
            }
        }
    }
    Ok(())
}

fn kind_word(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Changed => "changed",
    }
}

fn md_table(changes: &[Change], w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "| Field | Change | Old | New |")?;
    writeln!(w, "|---|---|---|---|")?;
    for c in changes {
        writeln!(
            w,
            "| {} | {} | {} | {} |",
            code(&c.path),
            kind_word(c.kind),
            c.old.as_ref().map(value_code).unwrap_or_default(),
            c.new.as_ref().map(value_code).unwrap_or_default()
        )?;
    }
    Ok(())
}

/// The diff as GitHub-flavoured Markdown: a heading, the two ends, and a table of changes.
pub fn diff_markdown(doc: &DiffDoc, tz: Tz, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "## Changes in {}", code(&doc.target))?;
    writeln!(w)?;
    writeln!(
        w,
        "From snapshot {} to snapshot {}.",
        end_text(&doc.from, tz),
        end_text(&doc.to, tz)
    )?;
    writeln!(w)?;
    if doc.changes.is_empty() {
        writeln!(w, "No changes.")?;
    } else {
        md_table(&doc.changes, w)?;
    }
    if doc.include_status {
        writeln!(w)?;
        writeln!(w, "### Status")?;
        writeln!(w)?;
        if doc.status_changes.is_empty() {
            writeln!(w, "No status changes.")?;
        } else {
            md_table(&doc.status_changes, w)?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonEnd<'a> {
    snapshot: i64,
    at: String,
    config_hash: &'a str,
}

impl<'a> JsonEnd<'a> {
    fn of(end: &'a DiffEnd) -> JsonEnd<'a> {
        JsonEnd {
            snapshot: end.snapshot,
            at: fmt_utc(end.at),
            config_hash: &end.config_hash,
        }
    }
}

#[derive(Serialize)]
struct JsonDiff<'a> {
    schema: &'static str,
    target: &'a str,
    from: JsonEnd<'a>,
    to: JsonEnd<'a>,
    changes: Vec<Change>,
    status_changes: Vec<Change>,
}

#[derive(Serialize)]
struct JsonEvent {
    at: String,
    from: i64,
    to: i64,
    changes: Vec<Change>,
}

#[derive(Serialize)]
struct JsonLog<'a> {
    schema: &'static str,
    target: &'a str,
    events: Vec<JsonEvent>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    journal: &'a [crate::store::Entry],
}

/// Changes whose values serialize with sorted keys, whatever order their maps were built in.
fn stable(changes: &[Change]) -> Vec<Change> {
    changes
        .iter()
        .map(|c| Change {
            path: c.path.clone(),
            kind: c.kind,
            old: c.old.as_ref().map(sorted_value),
            new: c.new.as_ref().map(sorted_value),
        })
        .collect()
}

fn write_json<T: Serialize>(doc: &T, w: &mut dyn Write) -> io::Result<()> {
    super::write_json(w, doc)
}

/// The diff as its JSON document; `status_changes` is `[]` unless asked for.
pub fn diff_json(doc: &DiffDoc, w: &mut dyn Write) -> io::Result<()> {
    let status_changes = if doc.include_status {
        stable(&doc.status_changes)
    } else {
        Vec::new()
    };
    write_json(
        &JsonDiff {
            schema: DIFF_SCHEMA,
            target: &doc.target,
            from: JsonEnd::of(&doc.from),
            to: JsonEnd::of(&doc.to),
            changes: stable(&doc.changes),
            status_changes,
        },
        w,
    )
}

/// A unified diff of the two configs as pretty JSON; nothing at all when they are the same.
pub fn diff_unified(
    old: &Config,
    new: &Config,
    from_label: &str,
    to_label: &str,
    w: &mut dyn Write,
) -> io::Result<()> {
    let (a, b) = (pretty_json(old), pretty_json(new));
    let text = similar::TextDiff::from_lines(&a, &b);
    let diff = text.unified_diff().header(from_label, to_label).to_string();
    // JSON escapes C0 controls in strings, not DEL, C1 controls or bidirectional overrides.
    w.write_all(visible_lines(&diff).as_bytes())
}

/// The change log for people: per event its time and snapshots, then its changes indented.
pub fn log_text<C: ShownChange>(
    doc: &LogDoc<C>,
    tz: Tz,
    color: Color,
    w: &mut dyn Write,
) -> io::Result<()> {
    if doc.events.is_empty() && doc.journal.is_empty() {
        return writeln!(w, "{}: no changes", visible(&doc.target));
    }
    writeln!(w, "{}:", visible(&doc.target))?;
    // Both lists come newest first: merged by time, an entry before the changes of its moment.
    let mut journal = doc.journal.iter().peekable();
    for e in &doc.events {
        while let Some(j) = journal.next_if(|j| j.at >= e.at) {
            writeln!(w, "{}  {}", fmt_time(j.at, tz), journal_line(j))?;
        }
        writeln!(w, "{}  #{} -> #{}", fmt_time(e.at, tz), e.from, e.to)?;
        for c in &e.changes {
            write_change(c, "    ", color, w)?;
        }
    }
    for j in journal {
        writeln!(w, "{}  {}", fmt_time(j.at, tz), journal_line(j))?;
    }
    Ok(())
}

/// The change log as its JSON document, events newest first as given.
pub fn log_json(doc: &LogDoc, w: &mut dyn Write) -> io::Result<()> {
    let events = doc
        .events
        .iter()
        .map(|e| JsonEvent {
            at: fmt_utc(e.at),
            from: e.from,
            to: e.to,
            changes: stable(&e.changes),
        })
        .collect();
    write_json(
        &JsonLog {
            schema: LOG_SCHEMA,
            target: &doc.target,
            events,
            journal: &doc.journal,
        },
        w,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::task::diff::{diff, diff_status};
    use crate::task::normalize::{Status, config_hash};
    use crate::task::when::parse_zone;
    use crate::test_support::at;
    use serde_json::json;

    use crate::test_support::config as cfg;

    fn old_config() -> Config {
        cfg(json!({
            "Enable": true, "ScanTime": "03:00", "ScanType": ["risk", "virus"],
            "Images": [
                {"ImageRepoAddress": "ccr.ccs.tencentyun.com/team/app:v1", "Force": "Force"},
                {"ImageRepoAddress": "ccr.ccs.tencentyun.com/team/old:v1"}
            ]
        }))
    }

    fn new_config() -> Config {
        cfg(json!({
            "Enable": false, "ScanTime": "04:00:00", "ScanType": ["VUL", "risk"],
            "Images": [
                {"ImageRepoAddress": "ccr.ccs.tencentyun.com/team/app:v1", "Force": "a|b"},
                {"InstanceId": "ins-1", "ImageName": "team/new", "ImageTag": "v2"}
            ],
            "Tier": "gold"
        }))
    }

    fn doc(include_status: bool) -> DiffDoc {
        let (a, b) = (old_config(), new_config());
        let status = diff_status(
            &Status {
                last_scan_time: Some("2026-11-27 03:10:00".into()),
                scan_result: Some("Success".into()),
            },
            &Status {
                last_scan_time: Some("2026-11-28 03:10:00".into()),
                scan_result: Some("InsufficientLicense".into()),
            },
        );
        DiffDoc {
            target: "prod".into(),
            from: DiffEnd {
                snapshot: 3,
                at: at("2026-11-26T19:00:00Z"),
                config_hash: config_hash(&a),
            },
            to: DiffEnd {
                snapshot: 5,
                at: at("2026-11-27T19:00:00.250Z"),
                config_hash: config_hash(&b),
            },
            changes: diff(&a, &b),
            status_changes: status,
            include_status,
        }
    }

    fn empty_doc() -> DiffDoc {
        let mut d = doc(false);
        d.changes.clear();
        d
    }

    fn log_doc() -> LogDoc {
        let (a, b) = (old_config(), new_config());
        LogDoc {
            journal: Vec::new(),
            target: "prod".into(),
            events: vec![
                LogEvent {
                    at: at("2026-11-27T19:00:00Z"),
                    from: 4,
                    to: 5,
                    changes: diff(&a, &b),
                },
                LogEvent {
                    at: at("2026-11-20T19:00:00Z"),
                    from: 1,
                    to: 2,
                    changes: diff(
                        &cfg(json!({"ScanPeriod": 7})),
                        &cfg(json!({"ScanPeriod": 1})),
                    ),
                },
            ],
        }
    }

    fn render(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn shanghai() -> Tz {
        parse_zone("Asia/Shanghai").unwrap()
    }

    #[test]
    fn text_diff() {
        let out = render(|w| diff_text(&doc(false), shanghai(), Color::Plain, w));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn text_diff_with_status() {
        let out = render(|w| diff_text(&doc(true), Tz::UTC, Color::Plain, w));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn text_diff_without_changes() {
        let out = render(|w| diff_text(&empty_doc(), Tz::UTC, Color::Plain, w));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn status_changes_stay_out_unless_asked_for() {
        let out = render(|w| diff_text(&doc(false), Tz::UTC, Color::Plain, w));
        assert!(!out.contains("ScanResult"), "{out}");
        let md = render(|w| diff_markdown(&doc(false), Tz::UTC, w));
        assert!(!md.contains("ScanResult"), "{md}");
        let json: Value = serde_json::from_str(&render(|w| diff_json(&doc(false), w))).unwrap();
        assert_eq!(json["status_changes"], json!([]));
    }

    #[test]
    fn colour_only_when_asked_for() {
        let plain = render(|w| diff_text(&doc(true), Tz::UTC, Color::Plain, w));
        assert!(!plain.contains('\u{1b}'), "{plain:?}");
        let plain_log = render(|w| log_text(&log_doc(), Tz::UTC, Color::Plain, w));
        assert!(!plain_log.contains('\u{1b}'), "{plain_log:?}");
        let coloured = render(|w| diff_text(&doc(true), Tz::UTC, Color::Ansi, w));
        assert!(
            coloured.contains("\u{1b}[32m"),
            "green for added: {coloured:?}"
        );
        assert!(
            coloured.contains("\u{1b}[31m"),
            "red for removed: {coloured:?}"
        );
        assert!(
            coloured.contains("\u{1b}[33m"),
            "yellow for changed: {coloured:?}"
        );
    }

    #[test]
    fn markdown_diff() {
        let out = render(|w| diff_markdown(&doc(true), shanghai(), w));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn markdown_cells_never_split_a_row() {
        let md = render(|w| diff_markdown(&doc(false), Tz::UTC, w));
        for row in md.lines().filter(|l| l.starts_with('|')) {
            let cells = row.replace("\\|", "").matches('|').count();
            assert_eq!(cells, 5, "{row}");
        }
    }

    #[test]
    fn json_diff() {
        let out = render(|w| diff_json(&doc(true), w));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn json_diff_carries_the_documented_shape() {
        let out = render(|w| diff_json(&doc(false), w));
        assert!(out.ends_with("}\n"));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["schema"], "tcss-audit/diff/v1");
        assert_eq!(v["from"]["at"], "2026-11-26T19:00:00Z");
        assert_eq!(v["to"]["config_hash"], config_hash(&new_config()));
        let first = &v["changes"][0];
        assert_eq!(first["path"], "Enable");
        assert_eq!(first["kind"], "changed");
        // Keys come out in the documented order, not alphabetically.
        let schema_at = out.find("\"schema\"").unwrap();
        let target_at = out.find("\"target\"").unwrap();
        let from_at = out.find("\"from\"").unwrap();
        assert!(schema_at < target_at && target_at < from_at);
    }

    #[test]
    fn unified_diff() {
        let out = render(|w| diff_unified(&old_config(), &new_config(), "#3", "#5", w));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn unified_diff_of_equal_configs_is_empty() {
        let out = render(|w| diff_unified(&old_config(), &old_config(), "#3", "#3", w));
        assert_eq!(out, "");
    }

    #[test]
    fn text_log() {
        let out = render(|w| log_text(&log_doc(), shanghai(), Color::Plain, w));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn text_log_without_events() {
        let doc: LogDoc = LogDoc {
            journal: Vec::new(),
            target: "prod".into(),
            events: Vec::new(),
        };
        assert_eq!(
            render(|w| log_text(&doc, Tz::UTC, Color::Plain, w)),
            "prod: no changes\n"
        );
    }

    #[test]
    fn json_log() {
        let out = render(|w| log_json(&log_doc(), w));
        insta::assert_snapshot!(out);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["schema"], "tcss-audit/log/v1");
        assert_eq!(v["events"][0]["to"], 5);
        assert_eq!(v["events"][1]["from"], 1);
    }
}

//! The compliance report as one self-contained HTML page for an auditor's browser: no external
//! resource and no script, so it opens offline and prints as it shows. A day-by-day calendar per
//! target is drawn as inline SVG.
//!
//! It is the Markdown report marked up otherwise: both walk the same parts ([`super::parts`]) in
//! the same order, under the same headings. Long values wrap inside their cell, and a very long
//! one folds, so that a table never runs off the page.
//!
//! Written by hand rather than with a template engine: the page is a fixed structure over typed
//! data, and every value from outside goes through the one [`esc`] below; a template language
//! would add a second place where escaping could be forgotten.

use std::io::{self, Write};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use super::parts::{
    ConfigValue, Outcome, Seen, Shown, config_rows, days_sentence, enable_of, evidence_roles,
    failing_rules, image_parts, names_field, not_observed_verdict, run_outcome, seen_value,
    severities, share, source_name,
};
use super::{
    ComplianceReport, DayRow, DayStatus, MAX_DAILY_DAYS, TargetReport, TargetSection, day_rows,
    month_rows, window_days,
};
use crate::policy::RuleStatus;
use crate::task::canonical::canonical_value;
use crate::task::diff::{Change, ChangeKind};
use crate::task::text::visible;
use crate::task::when::fmt_time;

/// Text for HTML content and attribute values: control characters made visible, then `&`, `<`,
/// `>`, `"` and `'` escaped.
pub fn esc(s: &str) -> String {
    let shown = visible(s);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Values longer than this fold: the cell shows their start and opens to the whole.
const FOLD_AT: usize = 400;

/// Text from outside as inline code, folded when very long.
fn code(s: &str) -> String {
    if s.is_empty() {
        return "(empty)".into();
    }
    fold(s, |part| {
        let class = if has_long_word(part) {
            " class=\"long\""
        } else {
            ""
        };
        format!("<code{class}>{}</code>", esc(part))
    })
}

/// Text from outside as prose, folded when very long.
fn prose(s: &str) -> String {
    fold(s, |part| {
        if has_long_word(part) {
            format!("<span class=\"long\">{}</span>", esc(part))
        } else {
            esc(part)
        }
    })
}

/// A word longer than this (a hash, a RequestId, a value without spaces) may break anywhere, so
/// that it wraps inside its cell; shorter ones (names, rule ids, numbers) stay whole, so that
/// the table keeps their columns wide enough for them.
const LONG_WORD: usize = 24;

fn has_long_word(s: &str) -> bool {
    s.split_whitespace()
        .any(|word| word.chars().count() > LONG_WORD)
}

/// A value as inline code: its canonical JSON.
fn value_code(v: &Value) -> String {
    code(&canonical_value(v))
}

/// `s` marked up by `mark`; longer than [`FOLD_AT`] characters, in a `<details>` whose summary
/// shows its start and its length, and whose body holds the whole.
fn fold(s: &str, mark: impl Fn(&str) -> String) -> String {
    let chars = s.chars().count();
    if chars <= FOLD_AT {
        return mark(s);
    }
    let start: String = s.chars().take(FOLD_AT / 4).collect();
    format!(
        "<details class=\"fold\"><summary>{}&hellip; ({chars} characters)</summary>{}</details>",
        mark(&start),
        mark(s)
    )
}

/// A moment in the report's zone, kept on one line.
fn when(at: DateTime<Utc>, tz: Tz) -> String {
    format!("<time>{}</time>", esc(&fmt_time(at, tz)))
}

/// A day, kept on one line.
fn date(day: NaiveDate) -> String {
    format!("<time>{day}</time>")
}

/// Names as code, comma-separated.
fn codes(names: &[String]) -> String {
    names.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1b1b;margin:2em auto;max-width:72em;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:2px solid #ddd;padding-bottom:.2em}
h3{margin-top:1.4em}h4{margin:1em 0 .3em}table{border-collapse:collapse;margin:.5em 0;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:break-word}th{background:#f3f3f3}
table.rules{table-layout:fixed}.long{overflow-wrap:anywhere}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}time{white-space:nowrap}
details.fold summary{cursor:pointer}details.fold[open] summary{margin-bottom:.3em}
.yes{color:#1b5e20;font-weight:600}.no{color:#b71c1c;font-weight:600}.meta{color:#555}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
.broken{background:#ffebee;border:1px solid #b71c1c;padding:.5em}
@media print{body{margin:0;max-width:none}h2{break-before:auto}tr,svg{break-inside:avoid}}
";

const COLORS: [(DayStatus, &str, &str); 4] = [
    (DayStatus::Compliant, "#2e7d32", "compliant"),
    (DayStatus::Failing, "#c62828", "failing"),
    (DayStatus::Missed, "#9e9e9e", "missed night"),
    (DayStatus::NotObserved, "#eeeeee", "not observed"),
];

fn color(s: DayStatus) -> (&'static str, &'static str) {
    COLORS
        .iter()
        .find(|(d, _, _)| *d == s)
        .map(|(_, c, l)| (*c, *l))
        .unwrap_or(("#eeeeee", "not observed"))
}

pub fn html(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    html_head(r, w)?;
    for t in &r.targets {
        summary_row(t, w)?;
    }
    html_run(r, w)?;
    for t in &r.targets {
        target(r, t, w)?;
    }
    html_tail(r, w)
}

/// The page's head, what the report covers and how it judges, and the summary table's header:
/// everything before the first summary row. `r`'s own targets are not read.
pub fn html_head(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    let days = window_days(r.window.since, r.window.until, tz).len();
    writeln!(w, "<!DOCTYPE html>")?;
    writeln!(w, "<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(
        w,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(w, "<title>TCSS scheduled scan compliance report</title>")?;
    writeln!(w, "<style>{STYLE}</style></head><body>")?;
    writeln!(w, "<h1>TCSS scheduled scan compliance report</h1>")?;
    writeln!(w, "<ul class=\"meta\">")?;
    writeln!(
        w,
        "<li>Window: {} to {} ({days} day{} in {})</li>",
        when(r.window.since, tz),
        when(r.window.until, tz),
        if days == 1 { "" } else { "s" },
        esc(tz.name())
    )?;
    writeln!(w, "<li>Generated: {}</li>", when(r.generated_at, tz))?;
    writeln!(w, "<li>Tool: tcss-audit {}</li>", esc(r.tool_version))?;
    writeln!(
        w,
        "<li>Compliant means: no rule of severity {} or above fails or cannot be evaluated (waived failures do not count); a day is judged by its last snapshot, as of that snapshot's time</li>",
        r.fail_on
    )?;
    writeln!(w, "<li>Policies:<ul>")?;
    for p in &r.policies {
        writeln!(
            w,
            "<li>{}: {}, SHA-256 {}</li>",
            prose(&p.name),
            code(&p.file),
            code(&p.sha256)
        )?;
    }
    writeln!(w, "</ul></li></ul>")?;
    writeln!(w, "<h2>Summary</h2>")?;
    writeln!(
        w,
        "<table><tr><th>Target</th><th>Compliant at {}</th><th>Failing now</th><th>Changes</th><th>Snapshots</th><th>Observed days compliant</th><th>Missed nights</th><th>Days not observed</th></tr>",
        r.fail_on
    )?;
    Ok(())
}

/// One target's row of the summary table.
pub fn summary_row(t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        code(&t.name),
        match (t.failed_this_run, t.compliant) {
            (true, _) => "<span class=\"no\">not audited</span> (this run failed)",
            (false, true) => "<span class=\"yes\">yes</span>",
            (false, false) => "<span class=\"no\">no</span>",
        },
        esc(&severities(&t.failures_by_severity)),
        t.changes.len(),
        t.snapshots,
        esc(&share(t.compliant_days, t.observed_days)),
        t.gaps.len(),
        t.not_observed.len()
    )
}

/// The end of the summary table, what the run did and the notifications it could not deliver:
/// everything between the summary rows and the targets' sections.
pub fn html_run(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "</table>")?;
    if let Some(run) = &r.run {
        writeln!(
            w,
            "<h2>This run</h2><table><tr><th>Target</th><th>Outcome</th><th>Exit code</th></tr>"
        )?;
        for t in run {
            let outcome = match run_outcome(t) {
                Outcome::Failed(e) => format!("<span class=\"no\">FAILED</span>: {}", prose(e)),
                Outcome::Done(words) => esc(&words),
            };
            writeln!(
                w,
                "<tr><td>{}</td><td>{outcome}</td><td>{}</td></tr>",
                code(&t.target),
                t.exit_code
            )?;
        }
        writeln!(w, "</table>")?;
        let failed: Vec<String> = run
            .iter()
            .filter(|t| t.error.is_some())
            .map(|t| code(&t.target))
            .collect();
        if failed.is_empty() {
            writeln!(w, "<p>Every target was recorded.</p>")?;
        } else {
            writeln!(
                w,
                "<p class=\"broken\"><strong>Failed targets:</strong> {}.</p>",
                failed.join(", ")
            )?;
        }
    }
    if !r.notifications_failed.is_empty() {
        writeln!(
            w,
            "<p><strong>Notifications not delivered</strong> (they are tried again at the next run):</p><ul>"
        )?;
        for n in &r.notifications_failed {
            writeln!(w, "<li>{}</li>", prose(n))?;
        }
        writeln!(w, "</ul>")?;
    }
    Ok(())
}

/// The chain of custody and the page's end: everything after the targets' sections.
pub fn html_tail(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "<h2>Chain of custody</h2>")?;
    let i = &r.integrity;
    match &i.first_break {
        None => writeln!(
            w,
            "<p>The hash chain holds: {} snapshots and {} configs of the whole history were re-hashed and verified, and {} change events and {} first-seen fields match what the snapshots imply.</p>",
            i.checked, i.configs_checked, i.events_checked, i.fields_checked
        )?,
        Some(b) => writeln!(
            w,
            "<p class=\"broken\"><strong>The hash chain is BROKEN</strong> at snapshot #{}: {} ({} snapshots read). The history cannot be relied on past that point.</p>",
            b.snapshot,
            prose(&b.reason),
            i.checked
        )?,
    }
    if let Some(why) = &i.signature_line_broken {
        writeln!(
            w,
            "<p class=\"broken\"><strong>Signature line broken</strong>: {}. This run recorded its observations without signing them and this report carries no signature.</p>",
            prose(why)
        )?;
    }
    match &i.head {
        Some(h) => writeln!(
            w,
            "<p>Chain head: snapshot #{}, chain hash {}.</p>",
            h.snapshot,
            code(&h.chain_hash)
        )?,
        None => writeln!(
            w,
            "<p>Chain head: none (the history holds no snapshot).</p>"
        )?,
    }
    writeln!(w, "</body></html>")
}

/// One target's section; of `r`, only what the whole report shares is read (not its targets).
/// It walks [`TargetSection::of`], as the Markdown report does.
pub fn target(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "<section><h2>Target {}</h2>", code(&t.name))?;
    for part in TargetSection::of(t) {
        if let Some(title) = part.title() {
            writeln!(w, "<h3>{title}</h3>")?;
        }
        match part {
            TargetSection::Latest => latest_part(r, t, w)?,
            TargetSection::Configuration => config_part(t, w)?,
            TargetSection::FailingRules => failing_part(r, t, w)?,
            TargetSection::Waivers => waivers_part(t, w)?,
            TargetSection::Drift => drift_part(r, t, w)?,
            TargetSection::Baseline => baseline_part(r, t, w)?,
            TargetSection::Restores => restores_part(r, t, w)?,
            TargetSection::Days => days_part(r, t, w)?,
            TargetSection::Evidence => evidence_part(r, t, w)?,
        }
    }
    writeln!(w, "</section>")
}

fn latest_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    let (Some(latest), Some(check)) = (&t.latest, &t.check) else {
        return writeln!(
            w,
            "<p>No snapshot at or before {}: nothing to judge.</p>",
            when(r.window.until, tz)
        );
    };
    let s = check.summary;
    writeln!(
        w,
        "<p>Latest snapshot #{} at {} (RequestId {}), judged as of {}: {} at {}. Rules: {} pass, {} fail, {} waived, {} error.</p>",
        latest.id,
        when(latest.at, tz),
        latest
            .request_id
            .as_deref()
            .map(code)
            .unwrap_or_else(|| "none".into()),
        when(r.window.until.min(r.generated_at), tz),
        if t.compliant {
            "<span class=\"yes\">compliant</span>"
        } else {
            "<span class=\"no\">not compliant</span>"
        },
        r.fail_on,
        s.pass,
        s.fail,
        s.waived,
        s.error
    )?;
    if let Some(id) = &latest.identity {
        writeln!(
            w,
            "<p>Audited account: {} ({}, {}), as <code>sts:GetCallerIdentity</code> said for the credentials that fetched it.</p>",
            code(&id.account),
            code(&id.arn),
            prose(&id.principal_type)
        )?;
    }
    for c in &t.account_changes {
        writeln!(
            w,
            "<p class=\"broken\"><strong>The account changed</strong> at snapshot #{} ({}): the answers came from account {} before and from {} since. Check that the target's credentials reach the account meant.</p>",
            c.snapshot,
            when(c.at, tz),
            code(&c.from),
            code(&c.to)
        )?;
    }
    Ok(())
}

/// An image by its tag, digest and registry, not its JSON.
fn image_text(v: &Value) -> String {
    let parts = image_parts(v);
    if parts.is_empty() {
        return value_code(v);
    }
    parts
        .iter()
        .map(|(label, value)| format!("{label} {}", code(value)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn change_text(c: &Change) -> String {
    let show = |v: &Option<Value>| match v {
        Some(v) if c.is_whole_image() => image_text(v),
        Some(v) => value_code(v),
        None => String::new(),
    };
    match c.kind {
        ChangeKind::Added => format!("added {}", show(&c.new)),
        ChangeKind::Removed => format!("removed {}", show(&c.old)),
        ChangeKind::Changed => format!("{} &rarr; {}", show(&c.old), show(&c.new)),
    }
}

fn config_part(t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let rows = config_rows(t);
    if rows.is_empty() {
        return writeln!(w, "<p>The config is empty.</p>");
    }
    writeln!(w, "<table><tr><th>Field</th><th>Value</th></tr>")?;
    for (field, value) in rows {
        let shown = match value {
            ConfigValue::Image(image) => image_text(image),
            ConfigValue::Value(v) => value_code(v),
        };
        writeln!(w, "<tr><td>{}</td><td>{shown}</td></tr>", code(&field))?;
    }
    writeln!(w, "</table>")
}

/// The failing rules as one table whose columns keep their share of the page: a long value
/// wraps or folds inside its cell, and the remediation stays in view.
fn failing_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let failing = failing_rules(t);
    if failing.is_empty() {
        return writeln!(w, "<p>No rule fails.</p>");
    }
    writeln!(
        w,
        "<table class=\"rules\"><colgroup><col style=\"width:16%\"><col style=\"width:14%\"><col style=\"width:17%\"><col style=\"width:12%\"><col style=\"width:18%\"><col style=\"width:23%\"></colgroup>"
    )?;
    writeln!(
        w,
        "<tr><th>Rule</th><th>Field</th><th>Seen</th><th>Expected</th><th>Finding</th><th>Remediation</th></tr>"
    )?;
    for res in failing {
        let below = if res.severity < r.fail_on {
            format!(", below {}: does not count", r.fail_on)
        } else {
            String::new()
        };
        let status = if res.status == RuleStatus::Error {
            ", could not be evaluated"
        } else {
            ""
        };
        let seen = match seen_value(res) {
            Seen::Text(s) => code(s),
            Seen::Value(v) => value_code(v),
        };
        writeln!(
            w,
            "<tr><td><h4>{} ({}{status}{}): {}</h4></td><td>{}</td><td>{}: {seen}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&res.rule),
            res.severity,
            esc(&below),
            prose(&res.title),
            if names_field(res) {
                code(&res.field)
            } else {
                String::new()
            },
            prose(&res.measured.to_string()),
            code(&res.expected),
            prose(&res.message),
            prose(&res.remediation)
        )?;
    }
    writeln!(w, "</table>")
}

fn waivers_part(t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    if t.waivers.is_empty() {
        return writeln!(w, "<p>None.</p>");
    }
    writeln!(
        w,
        "<table><tr><th>Rule</th><th>Owner</th><th>Reason</th><th>Expires</th></tr>"
    )?;
    for v in &t.waivers {
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            code(&v.rule),
            prose(&v.owner),
            prose(&v.reason),
            esc(&v.expires)
        )?;
    }
    writeln!(w, "</table>")
}

fn drift_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    if t.changes.is_empty() {
        return writeln!(w, "<p>No changes.</p>");
    }
    writeln!(
        w,
        "<p>A change happened after the earlier snapshot and was seen at the later one.</p>"
    )?;
    writeln!(
        w,
        "<table><tr><th>Between</th><th>Field</th><th>Change</th></tr>"
    )?;
    for e in &t.changes {
        let from = match e.from_at {
            Some(at) => format!("#{} ({})", e.from, when(at, tz)),
            None => format!("#{}", e.from),
        };
        for c in &e.changes {
            writeln!(
                w,
                "<tr><td>{from} and #{} ({})</td><td>{}</td><td>{}</td></tr>",
                e.to,
                when(e.at, tz),
                code(&c.path),
                change_text(c)
            )?;
        }
    }
    writeln!(w, "</table>")
}

fn baseline_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let Some(b) = &t.baseline else {
        return writeln!(
            w,
            "<p>No approved baseline (<code>audit baseline approve</code> records one).</p>"
        );
    };
    writeln!(
        w,
        "<p>Baseline approved {} by {}{} (config {}): {}</p>",
        when(b.approved_at, r.tz),
        prose(&b.by),
        b.snapshot
            .map(|s| format!(" from snapshot #{s}"))
            .unwrap_or_default(),
        code(&b.config_hash),
        prose(&b.reason)
    )?;
    if b.equals {
        return writeln!(
            w,
            "<p>The latest config <span class=\"yes\">equals</span> it.</p>"
        );
    }
    writeln!(
        w,
        "<p>The latest config <span class=\"no\">differs</span> from it (<code>audit restore --to baseline</code> plans putting it back):</p>"
    )?;
    writeln!(
        w,
        "<table><tr><th>Field</th><th>Baseline &rarr; latest</th></tr>"
    )?;
    for c in &b.changes {
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td></tr>",
            code(&c.path),
            change_text(c)
        )?;
    }
    writeln!(w, "</table>")
}

fn restores_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "<table><tr><th>When</th><th>By</th><th>To</th><th>Fields sent</th><th>Read back</th><th>Outcome</th></tr>"
    )?;
    for x in &t.restores {
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(x.at, r.tz),
            prose(&x.by),
            prose(&x.restored_to),
            code(&x.config_hash),
            codes(&x.fields),
            x.snapshot
                .map(|s| format!("#{s}"))
                .unwrap_or_else(|| "-".into()),
            if x.converged {
                "converged".to_string()
            } else {
                format!(
                    "<span class=\"no\">not converged</span>: {}",
                    codes(&x.not_taken)
                )
            }
        )?;
    }
    writeln!(w, "</table>")
}

fn evidence_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    writeln!(
        w,
        "<table><tr><th>Snapshot</th><th>Observed</th><th>Source</th><th>Recorded</th><th>Account</th><th>RequestId</th><th>Config hash</th><th>Role</th></tr>"
    )?;
    for e in &t.evidence {
        writeln!(
            w,
            "<tr><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.id,
            when(e.at, tz),
            source_name(e.source),
            when(e.recorded_at, tz),
            e.identity
                .as_ref()
                .map(|i| code(&i.account))
                .unwrap_or_else(|| "not known".into()),
            e.request_id
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "none".into()),
            code(&e.config_hash),
            esc(&evidence_roles(t, e.id).join("; "))
        )?;
    }
    writeln!(w, "</table>")
}

/// The days: the sentence, the calendar, and the table of days (or, for a long window, of
/// months), as in the Markdown report.
fn days_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "<p>{}</p>", esc(&days_sentence(r, t)))?;
    if t.daily.is_empty() {
        return Ok(());
    }
    calendar(t, w)?;
    if t.daily.len() > MAX_DAILY_DAYS {
        return months_part(r, t, w);
    }
    writeln!(
        w,
        "<table><tr><th>Day</th><th>Verdict</th><th>Snapshot</th><th>Enable</th><th>Scan types</th><th>Failing at {}</th></tr>",
        r.fail_on
    )?;
    for row in day_rows(&t.daily) {
        let d = match row {
            DayRow::Day(d) => d,
            DayRow::NotObserved { first, last, days } => {
                writeln!(
                    w,
                    "<tr><td>{}</td><td>{}</td><td></td><td></td><td></td><td></td></tr>",
                    if first == last {
                        date(first)
                    } else {
                        format!("{} to {}", date(first), date(last))
                    },
                    esc(&not_observed_verdict(days))
                )?;
                continue;
            }
        };
        let verdict = match d.status {
            DayStatus::Compliant => "<span class=\"yes\">compliant</span>",
            DayStatus::Failing => "<span class=\"no\">failing</span>",
            DayStatus::Missed => "<span class=\"no\">missed night</span>",
            DayStatus::NotObserved => "not observed",
        };
        let snap = match (d.snapshot, d.at) {
            (Some(id), Some(at)) => format!("#{id} at {}", when(at, r.tz)),
            _ => String::new(),
        };
        let enable = match enable_of(d) {
            Shown::Plain(s) => s.to_string(),
            Shown::Alarm(s) => format!("<span class=\"no\">{s}</span>"),
            Shown::Value(v) => value_code(v),
        };
        let types = match &d.scan_type {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(code).unwrap_or_else(|| value_code(v)))
                .collect::<Vec<_>>()
                .join(" "),
            Some(other) => value_code(other),
            None if d.snapshot.is_some() => "none".to_string(),
            None => String::new(),
        };
        writeln!(
            w,
            "<tr><td>{}</td><td>{verdict}</td><td>{snap}</td><td>{enable}</td><td>{types}</td><td>{}</td></tr>",
            date(d.date),
            codes(&d.failing)
        )?;
    }
    writeln!(w, "</table>")
}

/// A long window month by month, as in the Markdown report (the calendar above has every day).
fn months_part(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "<table><tr><th>Month</th><th>Days</th><th>Compliant</th><th>Failing</th><th>Missed nights</th><th>Not observed</th><th>Failing at {} (days)</th></tr>",
        r.fail_on
    )?;
    for m in month_rows(&t.daily) {
        writeln!(
            w,
            "<tr><td>{}-{:02}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.year,
            m.month,
            m.days,
            m.compliant,
            m.failing,
            m.missed,
            m.not_observed,
            m.rules
                .iter()
                .map(|(rule, n)| format!("{} ({n})", code(rule)))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    writeln!(w, "</table>")
}

/// The window's days as a calendar: a column per weekday (Monday first), a row per week, each
/// day coloured by its verdict and showing its day of the month, each row labelled with the
/// month of its first day (and the year where it starts), and the full date and verdict as the
/// cell's title.
fn calendar(t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    const CELL: usize = 26;
    const GAP: usize = 3;
    const LEFT: usize = 64;
    const TOP: usize = 18;
    let Some(first) = t.daily.first() else {
        return Ok(());
    };
    let offset = first.date.weekday().num_days_from_monday() as usize;
    let rows = (offset + t.daily.len()).div_ceil(7);
    let (width, height) = (LEFT + 7 * (CELL + GAP), TOP + rows * (CELL + GAP));
    writeln!(
        w,
        "<svg width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"compliance by day\" font-family=\"system-ui,sans-serif\">"
    )?;
    for (i, name) in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .iter()
        .enumerate()
    {
        writeln!(
            w,
            "<text x=\"{}\" y=\"12\" font-size=\"10\" fill=\"#555\">{name}</text>",
            LEFT + i * (CELL + GAP) + 3
        )?;
    }
    let mut labelled: Option<usize> = None;
    for (n, d) in t.daily.iter().enumerate() {
        let slot = offset + n;
        let (x, y) = (
            LEFT + (slot % 7) * (CELL + GAP),
            TOP + (slot / 7) * (CELL + GAP),
        );
        // A row names its month when the month starts in it, or it is the first row.
        if labelled != Some(slot / 7) && (n == 0 || d.date.day() == 1) {
            labelled = Some(slot / 7);
            writeln!(
                w,
                "<text x=\"0\" y=\"{}\" font-size=\"11\" fill=\"#333\">{}</text>",
                y + CELL / 2 + 4,
                d.date.format("%Y-%m")
            )?;
        }
        let (fill, label) = color(d.status);
        let ink = if d.status == DayStatus::NotObserved {
            "#333"
        } else {
            "#fff"
        };
        writeln!(
            w,
            "<g><title>{} {label}</title><rect x=\"{x}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" rx=\"3\" fill=\"{fill}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{ink}\">{}</text></g>",
            d.date,
            x + CELL / 2,
            y + CELL / 2 + 4,
            d.date.day()
        )?;
    }
    writeln!(w, "</svg>")?;
    write!(w, "<p class=\"legend\">")?;
    for (_, fill, label) in COLORS {
        write!(w, "<span style=\"background:{fill}\"></span>{label}")?;
    }
    writeln!(w, "</p>")
}

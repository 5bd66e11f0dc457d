//! The compliance report as one self-contained HTML page for an auditor's browser: no external
//! resource and no script, so it opens offline and prints as it shows. A day-by-day calendar per
//! target is drawn as inline SVG.
//!
//! Written by hand rather than with a template engine: the page is a fixed structure over typed
//! data, and every value from outside goes through the one [`esc`] below; a template language
//! would add a second place where escaping could be forgotten.

use std::io::{self, Write};

use chrono::Datelike;

use super::{ComplianceReport, DayStatus, TargetReport, window_days};
use crate::policy::RuleStatus;
use crate::task::diff::ChangeKind;
use crate::task::source::Source;
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

fn val(v: &serde_json::Value) -> String {
    esc(&v.to_string())
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1b1b;margin:2em auto;max-width:72em;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:2px solid #ddd;padding-bottom:.2em}
h3{margin-top:1.4em}table{border-collapse:collapse;margin:.5em 0;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;word-break:break-all}
.yes{color:#1b5e20;font-weight:600}.no{color:#b71c1c;font-weight:600}.meta{color:#555}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
.broken{background:#ffebee;border:1px solid #b71c1c;padding:.5em}
@media print{body{margin:0;max-width:none}h2{break-before:auto}table,svg{break-inside:avoid}}
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

/// The page's head and the summary table's header: everything before the first summary row.
/// `r`'s own targets are not read.
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
    writeln!(
        w,
        "<p class=\"meta\">Window {} to {} ({days} days in {}); generated {}; tcss-audit {}. Compliant: no rule of severity {} or above fails or cannot be evaluated (waived failures do not count).</p>",
        esc(&fmt_time(r.window.since, tz)),
        esc(&fmt_time(r.window.until, tz)),
        esc(tz.name()),
        esc(&fmt_time(r.generated_at, tz)),
        esc(r.tool_version),
        r.fail_on
    )?;
    writeln!(w, "<h2>Summary</h2>")?;
    writeln!(
        w,
        "<table><tr><th>Target</th><th>Compliant</th><th>Failing now</th><th>Changes</th><th>Snapshots</th><th>Observed days compliant</th><th>Missed nights</th></tr>"
    )?;
    Ok(())
}

/// One target's row of the summary table.
pub fn summary_row(t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(&t.name),
        match (t.failed_this_run, t.compliant) {
            (true, _) => "<span class=\"no\">not audited</span> (this run failed)",
            (false, true) => "<span class=\"yes\">yes</span>",
            (false, false) => "<span class=\"no\">no</span>",
        },
        t.failures_by_severity.total(),
        t.changes.len(),
        t.snapshots,
        esc(&super::markdown::share(t.compliant_days, t.observed_days)),
        t.gaps.len()
    )
}

/// The end of the summary table and what the run did: everything between the summary rows and
/// the targets' sections.
pub fn html_run(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "</table>")?;
    if let Some(run) = &r.run {
        writeln!(
            w,
            "<h2>This run</h2><table><tr><th>Target</th><th>Outcome</th><th>Exit code</th></tr>"
        )?;
        for t in run {
            let outcome = match (&t.error, t.snapshot) {
                (Some(e), _) => format!("<span class=\"no\">FAILED</span>: {}", esc(e)),
                (None, Some(id)) => format!("recorded #{id}"),
                (None, None) if t.membership == Some("gone") => {
                    "no longer a member of the organization".into()
                }
                (None, None) => "nothing recorded".into(),
            };
            writeln!(
                w,
                "<tr><td><code>{}</code></td><td>{outcome}</td><td>{}</td></tr>",
                esc(&t.target),
                t.exit_code
            )?;
        }
        writeln!(w, "</table>")?;
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
            "<p>The hash chain holds: {} snapshots and {} configs re-hashed and verified; {} change events and {} first-seen fields match the snapshots.</p>",
            i.checked, i.configs_checked, i.events_checked, i.fields_checked
        )?,
        Some(b) => writeln!(
            w,
            "<p class=\"broken\"><strong>The hash chain is BROKEN</strong> at snapshot #{}: {}.</p>",
            b.snapshot,
            esc(&b.reason)
        )?,
    }
    if let Some(why) = &i.signature_line_broken {
        writeln!(
            w,
            "<p class=\"broken\"><strong>Signature line broken</strong>: {}. This run recorded its observations without signing them and this report carries no signature.</p>",
            esc(why)
        )?;
    }
    match &i.head {
        Some(h) => writeln!(
            w,
            "<p>Chain head: snapshot #{}, chain hash <code>{}</code>.</p>",
            h.snapshot,
            esc(&h.chain_hash)
        )?,
        None => writeln!(
            w,
            "<p>Chain head: none (the history holds no snapshot).</p>"
        )?,
    }
    writeln!(w, "</body></html>")
}

/// One target's section; of `r`, only what the whole report shares is read (not its targets).
pub fn target(r: &ComplianceReport, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    let tz = r.tz;
    writeln!(w, "<section><h2>Target <code>{}</code></h2>", esc(&t.name))?;
    match (&t.latest, &t.check) {
        (Some(latest), Some(check)) => {
            writeln!(
                w,
                "<p>Latest snapshot #{} at {} (RequestId <code>{}</code>): {}. Rules: {} pass, {} fail, {} waived, {} error.</p>",
                latest.id,
                esc(&fmt_time(latest.at, tz)),
                esc(latest.request_id.as_deref().unwrap_or("none")),
                if t.compliant {
                    "<span class=\"yes\">compliant</span>"
                } else {
                    "<span class=\"no\">not compliant</span>"
                },
                check.summary.pass,
                check.summary.fail,
                check.summary.waived,
                check.summary.error
            )?;
            if let Some(id) = &latest.identity {
                writeln!(
                    w,
                    "<p>Audited account: <code>{}</code> (<code>{}</code>).</p>",
                    esc(&id.account),
                    esc(&id.arn)
                )?;
            }
            for c in &t.account_changes {
                writeln!(
                    w,
                    "<p class=\"broken\">The account changed at snapshot #{}: from <code>{}</code> to <code>{}</code>.</p>",
                    c.snapshot,
                    esc(&c.from),
                    esc(&c.to)
                )?;
            }
            match &t.baseline {
                Some(b) if b.equals => writeln!(
                    w,
                    "<p>Baseline approved {} by {}: the latest config <span class=\"yes\">equals it</span>.</p>",
                    esc(&fmt_time(b.approved_at, tz)),
                    esc(&b.by)
                )?,
                Some(b) => {
                    let mut fields: Vec<&str> = b.changes.iter().map(|c| c.field()).collect();
                    fields.dedup();
                    writeln!(
                        w,
                        "<p>Baseline approved {} by {}: the latest config <span class=\"no\">differs</span> in {}.</p>",
                        esc(&fmt_time(b.approved_at, tz)),
                        esc(&b.by),
                        fields
                            .iter()
                            .map(|f| format!("<code>{}</code>", esc(f)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )?
                }
                None => writeln!(w, "<p>No approved baseline.</p>")?,
            }
            for x in &t.restores {
                writeln!(
                    w,
                    "<p>Restore applied {} by {}: {}.</p>",
                    esc(&fmt_time(x.at, tz)),
                    esc(&x.by),
                    if x.converged {
                        "converged".to_string()
                    } else {
                        format!("not converged ({})", esc(&x.not_taken.join(", ")))
                    }
                )?;
            }
            let failing: Vec<_> = check
                .results
                .iter()
                .filter(|x| x.status != RuleStatus::Pass)
                .collect();
            writeln!(w, "<h3>Failing rules</h3>")?;
            if failing.is_empty() {
                writeln!(w, "<p>None.</p>")?;
            } else {
                writeln!(
                    w,
                    "<table><tr><th>Rule</th><th>Severity</th><th>Status</th><th>Seen</th><th>Remediation</th></tr>"
                )?;
                for x in failing {
                    writeln!(
                        w,
                        "<tr><td><code>{}</code> {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&x.rule),
                        esc(&x.title),
                        x.severity,
                        match x.status {
                            RuleStatus::Waived => "waived",
                            RuleStatus::Error => "error",
                            _ => "<span class=\"no\">fail</span>",
                        },
                        esc(&x.message),
                        esc(&x.remediation)
                    )?;
                }
                writeln!(w, "</table>")?;
            }
        }
        _ => writeln!(w, "<p>No snapshot in the window: nothing to judge.</p>")?,
    }
    if !t.waivers.is_empty() {
        writeln!(
            w,
            "<h3>Waivers</h3><table><tr><th>Rule</th><th>Reason</th><th>Owner</th><th>Expires</th></tr>"
        )?;
        for v in &t.waivers {
            writeln!(
                w,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&v.rule),
                esc(&v.reason),
                esc(&v.owner),
                esc(&v.expires)
            )?;
        }
        writeln!(w, "</table>")?;
    }
    calendar(t, w)?;
    writeln!(w, "<h3>Drift</h3>")?;
    if t.changes.is_empty() {
        writeln!(w, "<p>No change in the window.</p>")?;
    } else {
        writeln!(
            w,
            "<table><tr><th>Seen at</th><th>Between</th><th>Field</th><th>Change</th></tr>"
        )?;
        for e in &t.changes {
            for c in &e.changes {
                let change = match c.kind {
                    ChangeKind::Added => format!(
                        "added <code>{}</code>",
                        c.new.as_ref().map(val).unwrap_or_default()
                    ),
                    ChangeKind::Removed => format!(
                        "removed <code>{}</code>",
                        c.old.as_ref().map(val).unwrap_or_default()
                    ),
                    ChangeKind::Changed => format!(
                        "<code>{}</code> &rarr; <code>{}</code>",
                        c.old.as_ref().map(val).unwrap_or_default(),
                        c.new.as_ref().map(val).unwrap_or_default()
                    ),
                };
                writeln!(
                    w,
                    "<tr><td>{}</td><td>#{} &rarr; #{}</td><td><code>{}</code></td><td>{change}</td></tr>",
                    esc(&fmt_time(e.at, tz)),
                    e.from,
                    e.to,
                    esc(&c.path)
                )?;
            }
        }
        writeln!(w, "</table>")?;
    }
    writeln!(
        w,
        "<h3>Evidence</h3><table><tr><th>Snapshot</th><th>Observed</th><th>Source</th><th>Account</th><th>RequestId</th><th>Config hash</th></tr>"
    )?;
    for e in &t.evidence {
        writeln!(
            w,
            "<tr><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            e.id,
            esc(&fmt_time(e.at, tz)),
            match e.source {
                Source::Fetch => "fetched",
                Source::Import => "imported",
            },
            e.identity
                .as_ref()
                .map(|i| format!("<code>{}</code>", esc(&i.account)))
                .unwrap_or_else(|| "not known".into()),
            esc(e.request_id.as_deref().unwrap_or("none")),
            esc(&e.config_hash)
        )?;
    }
    writeln!(w, "</table></section>")
}

/// The window's days as a calendar: a column per weekday (Monday first), a row per week, each
/// day coloured by its verdict, with its date and verdict as the cell's title.
fn calendar(t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
    const CELL: usize = 16;
    const GAP: usize = 3;
    writeln!(w, "<h3>Compliance by day</h3>")?;
    let Some(first) = t.daily.first() else {
        return writeln!(w, "<p>No day in the window.</p>");
    };
    let offset = first.date.weekday().num_days_from_monday() as usize;
    let rows = (offset + t.daily.len()).div_ceil(7);
    let (width, height) = (7 * (CELL + GAP) + 40, rows * (CELL + GAP) + 20);
    writeln!(
        w,
        "<svg width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"compliance by day\">"
    )?;
    for (i, name) in ["M", "T", "W", "T", "F", "S", "S"].iter().enumerate() {
        writeln!(
            w,
            "<text x=\"{}\" y=\"12\" font-size=\"10\" fill=\"#555\">{name}</text>",
            i * (CELL + GAP) + 4
        )?;
    }
    for (n, d) in t.daily.iter().enumerate() {
        let slot = offset + n;
        let (x, y) = ((slot % 7) * (CELL + GAP), (slot / 7) * (CELL + GAP) + 16);
        let (fill, label) = color(d.status);
        writeln!(
            w,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" rx=\"2\" fill=\"{fill}\"><title>{} {label}</title></rect>",
            d.date
        )?;
    }
    writeln!(w, "</svg>")?;
    write!(w, "<p class=\"legend\">")?;
    for (_, fill, label) in COLORS {
        write!(w, "<span style=\"background:{fill}\"></span>{label}")?;
    }
    writeln!(w, "</p>")
}

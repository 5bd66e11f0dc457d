//! The report's days and shares, from plain inputs.

use chrono_tz::Tz;

use super::parts::share;
use super::*;
use crate::task::when::parse_zone;
use crate::test_support::{at, date};

fn shanghai() -> Tz {
    parse_zone("Asia/Shanghai").unwrap()
}

#[test]
fn days_are_calendar_days_of_the_zone() {
    // The nightly job at 03:00 in Shanghai runs at 19:00 UTC the day before.
    assert_eq!(
        day_of(at("2026-11-04T19:00:00Z"), shanghai()),
        date("2026-11-05")
    );
    assert_eq!(
        day_of(at("2026-11-04T19:00:00Z"), Tz::UTC),
        date("2026-11-04")
    );
    assert_eq!(
        day_of(at("2026-11-04T15:59:59Z"), shanghai()),
        date("2026-11-04")
    );
    let since = at("2026-11-01T00:00:00+08:00");
    let until = at("2026-11-03T23:59:59+08:00");
    assert_eq!(
        window_days(since, until, shanghai()),
        [date("2026-11-01"), date("2026-11-02"), date("2026-11-03")]
    );
    // The same instants touch four UTC days: 31 October from 16:00 on.
    assert_eq!(window_days(since, until, Tz::UTC).len(), 4);
    assert_eq!(window_days(since, since, Tz::UTC), [date("2026-10-31")]);
}

#[test]
fn shares_round_half_up() {
    assert_eq!(share(8, 21), "8/21 (38%)");
    assert_eq!(share(1, 2), "1/2 (50%)");
    assert_eq!(share(2, 3), "2/3 (67%)");
    assert_eq!(share(0, 0), "0/0");
}

/// A report of targets with no history, over a window of `days` days.
fn report_of(names: &[&str], days: i64) -> ComplianceReport {
    let set = crate::policy::builtin().set;
    let opts = ReportOptions {
        since: at("2026-01-01T00:00:00Z"),
        until: at("2026-01-01T00:00:00Z") + chrono::Duration::days(days)
            - chrono::Duration::seconds(1),
        tz: Tz::UTC,
        fail_on: crate::policy::Severity::Low,
        generated_at: at("2027-01-01T00:00:00Z"),
        api_offset: crate::policy::default_api_offset(),
    };
    let window = window_days(opts.since, opts.until, opts.tz);
    let targets = names
        .iter()
        .map(|n| {
            build_target(
                &set,
                &opts,
                &window,
                TargetInput {
                    name: n.to_string(),
                    observations: Vec::new(),
                    events: Vec::new(),
                    earlier: Vec::new(),
                    baselines: Vec::new(),
                    restores: Vec::new(),
                },
            )
        })
        .collect();
    assemble(
        &set,
        &opts,
        targets,
        crate::store::VerifyReport::default(),
        None,
    )
}

#[test]
fn a_report_written_a_target_at_a_time_has_the_same_bytes() {
    for names in [&[][..], &["a"][..], &["a", "b", "c"][..]] {
        let whole = report_of(names, 3);
        let mut expected = Vec::new();
        json(&whole, &mut expected).unwrap();
        let mut shared = whole.clone();
        shared.targets.clear();
        let mut streamed = Vec::new();
        let mut writer = JsonTargets::start(&shared, &mut streamed).unwrap();
        for t in &whole.targets {
            writer
                .push(&JsonTargets::render(t).unwrap(), &mut streamed)
                .unwrap();
        }
        writer.finish(&shared, &mut streamed).unwrap();
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            String::from_utf8(expected).unwrap(),
            "{names:?}"
        );

        let mut expected = Vec::new();
        markdown(&whole, &mut expected).unwrap();
        let rows: Vec<SummaryRow> = whole.targets.iter().map(SummaryRow::of).collect();
        let mut pieces = Vec::new();
        markdown_head(&shared, &rows, &mut pieces).unwrap();
        for t in &whole.targets {
            target_section(&shared, t, &mut pieces).unwrap();
        }
        markdown_tail(&shared, &mut pieces).unwrap();
        assert_eq!(
            String::from_utf8(pieces).unwrap(),
            String::from_utf8(expected).unwrap()
        );

        let mut expected = Vec::new();
        html(&whole, &mut expected).unwrap();
        let mut pieces = Vec::new();
        html_head(&shared, &mut pieces).unwrap();
        for t in &whole.targets {
            html_summary_row(t, &mut pieces).unwrap();
        }
        html_run(&shared, &mut pieces).unwrap();
        for t in &whole.targets {
            html_target(&shared, t, &mut pieces).unwrap();
        }
        html_tail(&shared, &mut pieces).unwrap();
        assert_eq!(
            String::from_utf8(pieces).unwrap(),
            String::from_utf8(expected).unwrap(),
            "{names:?}"
        );
    }
}

#[test]
fn a_window_longer_than_a_month_is_summarized_by_month_in_markdown_only() {
    let long = report_of(&["a"], 62);
    let mut md = Vec::new();
    markdown(&long, &mut md).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert!(md.contains("summarized month by month"), "{md}");
    assert!(md.contains("| 2026-01 | 31 |"), "{md}");
    assert!(
        md.contains("| 2026-02 | 28 |") && md.contains("| 2026-03 | 3 |"),
        "{md}"
    );
    assert!(!md.contains("| Day | Verdict |"), "{md}");
    // The JSON keeps every day.
    assert_eq!(long.targets[0].daily.len(), 62);
    let short = report_of(&["a"], 31);
    let mut md = Vec::new();
    markdown(&short, &mut md).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert!(
        md.contains("| Day | Verdict |") && !md.contains("month by month"),
        "{md}"
    );
}

/// A rendering's headings, levels 1 to 4, as plain text.
fn headings(md: &str, html: &str) -> (Vec<String>, Vec<String>) {
    let md = md
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().replace('`', ""))
        .collect();
    let html = html
        .split("<h")
        .skip(1)
        .filter(|s| matches!(s.as_bytes().first(), Some(b'1'..=b'4')))
        .map(|s| {
            let inner = &s[s.find('>').unwrap() + 1..s.find("</h").unwrap()];
            inner.replace("<code>", "").replace("</code>", "")
        })
        .collect();
    (md, html)
}

#[test]
fn markdown_and_html_have_the_same_sections() {
    for (names, days) in [(&["a"][..], 3), (&["a", "b"][..], 62), (&[][..], 1)] {
        let r = report_of(names, days);
        let (mut md, mut html) = (Vec::new(), Vec::new());
        markdown(&r, &mut md).unwrap();
        super::html(&r, &mut html).unwrap();
        let (md, html) = headings(
            &String::from_utf8(md).unwrap(),
            &String::from_utf8(html).unwrap(),
        );
        assert!(
            md.contains(&"Days".to_string()) || names.is_empty(),
            "{md:?}"
        );
        assert_eq!(html, md, "{names:?} over {days} days");
    }
}

#[test]
fn days_not_observed_are_one_row() {
    // A target with no history yet: thirty days before it, said once.
    let r = report_of(&["a"], 30);
    let rows = day_rows(&r.targets[0].daily);
    assert_eq!(
        rows,
        [DayRow::NotObserved {
            first: date("2026-01-01"),
            last: date("2026-01-30"),
            days: 30
        }]
    );
    let mut md = Vec::new();
    markdown(&r, &mut md).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert_eq!(md.matches("not observed (").count(), 2, "{md}");
    assert!(
        md.contains(
            "| 2026-01-01 to 2026-01-30 | not observed (30 days, before the history held) |"
        ),
        "{md}"
    );
    let mut html = Vec::new();
    super::html(&r, &mut html).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert_eq!(html.matches("<tr><td><time>2026-01").count(), 1, "{html}");
    // The JSON keeps every day.
    assert_eq!(r.targets[0].not_observed.len(), 30);
    assert_eq!(r.targets[0].daily.len(), 30);
}

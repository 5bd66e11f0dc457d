//! JUnit XML output, for CI test dashboards: a test suite per policy file, a test case per rule.

use std::io::{self, Write};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::policy::{CheckReport, RuleStatus};

/// `<failure>` for a failure, `<error>` for a rule that could not be evaluated, `<skipped>` for a
/// waived one; quick-xml escapes every attribute and text.
pub fn junit(report: &CheckReport, w: &mut dyn Write) -> io::Result<()> {
    let mut x = Writer::new_with_indent(&mut *w, b' ', 2);
    x.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let s = report.summary;
    let total = report.results.len().to_string();
    let (fail, error, waived) = (
        s.fail.to_string(),
        s.error.to_string(),
        s.waived.to_string(),
    );
    let name = format!("tcss-audit check {}", report.target);
    let root = BytesStart::new("testsuites").with_attributes([
        ("name", name.as_str()),
        ("tests", total.as_str()),
        ("failures", fail.as_str()),
        ("errors", error.as_str()),
        ("skipped", waived.as_str()),
    ]);
    x.write_event(Event::Start(root))?;
    let timestamp = crate::task::when::fmt_utc(report.snapshot.at);
    for p in &report.policies {
        let results: Vec<_> = report
            .results
            .iter()
            .filter(|r| r.policy_file == p.file)
            .collect();
        let count = |st: RuleStatus| {
            results
                .iter()
                .filter(|r| r.status == st)
                .count()
                .to_string()
        };
        let tests = results.len().to_string();
        let (f, e, sk) = (
            count(RuleStatus::Fail),
            count(RuleStatus::Error),
            count(RuleStatus::Waived),
        );
        let suite = BytesStart::new("testsuite").with_attributes([
            ("name", p.name.as_str()),
            ("file", p.file.as_str()),
            ("tests", tests.as_str()),
            ("failures", f.as_str()),
            ("errors", e.as_str()),
            ("skipped", sk.as_str()),
            ("timestamp", timestamp.as_str()),
            ("hostname", report.target.as_str()),
        ]);
        x.write_event(Event::Start(suite))?;
        for r in results {
            let case_name = format!("{}: {}", r.rule, r.title);
            let case = BytesStart::new("testcase")
                .with_attributes([("name", case_name.as_str()), ("classname", p.name.as_str())]);
            let child = match r.status {
                RuleStatus::Pass => None,
                RuleStatus::Fail => Some("failure"),
                RuleStatus::Error => Some("error"),
                RuleStatus::Waived => Some("skipped"),
            };
            let Some(child) = child else {
                x.write_event(Event::Empty(case))?;
                continue;
            };
            x.write_event(Event::Start(case))?;
            let body = format!(
                "severity: {}\nfield: {}\nactual: {}\nexpected: {}\nremediation: {}",
                r.severity,
                r.field,
                serde_json::to_string(&r.actual).unwrap_or_default(),
                r.expected,
                r.remediation
            );
            let sev = r.severity.as_str();
            let mut el = BytesStart::new(child).with_attributes([("message", r.message.as_str())]);
            if child != "skipped" {
                el.push_attribute(("type", sev));
            }
            x.write_event(Event::Start(el))?;
            x.write_event(Event::Text(BytesText::new(&body)))?;
            x.write_event(Event::End(BytesEnd::new(child)))?;
            x.write_event(Event::End(BytesEnd::new("testcase")))?;
        }
        x.write_event(Event::End(BytesEnd::new("testsuite")))?;
    }
    x.write_event(Event::End(BytesEnd::new("testsuites")))?;
    writeln!(w)
}

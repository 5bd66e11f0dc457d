//! Notifications' words, shared by every destination: the webhook's JSON document, the title and
//! the message in each markup (Markdown for the WeCom and DingTalk robots, text for the Feishu
//! bot, mrkdwn for Slack) with that markup's escaping of outside text; in English or Chinese, and
//! shortened to the destination's limit with a line that says what was left out and where the
//! full report is. Each destination's own body is in `notify/`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::task::diff::Change;
use crate::task::text::visible;
use crate::task::when::{fmt_time, fmt_utc};

/// The notification document's schema.
pub const NOTIFICATION_SCHEMA: &str = "tcss-audit/notification/v1";

/// What happened to a target that a destination is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Drift,
    NewFailure,
    Error,
    Recovered,
    Stale,
    /// The history's trust is in question (target `*`): the signature line is broken.
    Integrity,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Drift,
        EventKind::NewFailure,
        EventKind::Error,
        EventKind::Recovered,
        EventKind::Stale,
        EventKind::Integrity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Drift => "drift",
            EventKind::NewFailure => "new-failure",
            EventKind::Error => "error",
            EventKind::Recovered => "recovered",
            EventKind::Stale => "stale",
            EventKind::Integrity => "integrity",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A rule named in an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub id: String,
    pub title: String,
    pub severity: crate::policy::Severity,
}

/// One thing to tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub target: String,
    pub kind: EventKind,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<Change>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleRef>>,
}

/// One message: the run it is about, what is new, where the reports are.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub at: DateTime<Utc>,
    /// The config's time zone, in which chat messages show `at` (the webhook's JSON keeps UTC).
    pub tz: chrono_tz::Tz,
    pub exit_code: crate::task::exit::ExitCode,
    pub events: Vec<Event>,
    pub report_markdown: Option<String>,
    pub report_json: Option<String>,
    /// A test message (`audit notify test`).
    pub test: bool,
}

/// The message language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    En,
    Zh,
}

impl Language {
    pub fn parse(text: &str) -> Option<Language> {
        match text {
            "en" => Some(Language::En),
            "zh" => Some(Language::Zh),
            _ => None,
        }
    }
}

/// The webhook's body: `{schema, run:{at, exit_code}, events:[...], report:{markdown, json}}`.
pub fn webhook_body(n: &Notification) -> Value {
    json!({
        "schema": NOTIFICATION_SCHEMA,
        "run": {"at": fmt_utc(n.at), "exit_code": n.exit_code, "test": n.test},
        "events": n.events,
        "report": {"markdown": n.report_markdown, "json": n.report_json},
    })
}

/// The title line.
pub fn title(n: &Notification, lang: Language) -> String {
    match (lang, n.test) {
        (Language::En, true) => "tcss-audit: test message".into(),
        (Language::Zh, true) => "tcss-audit：测试消息".into(),
        (Language::En, false) => format!(
            "tcss-audit: {} new since the last message (run at {}, exit {})",
            count_en(n.events.len()),
            fmt_time(n.at, n.tz),
            n.exit_code
        ),
        (Language::Zh, false) => format!(
            "tcss-audit：自上次通知以来新增 {} 项（运行于 {}，退出码 {}）",
            n.events.len(),
            fmt_time(n.at, n.tz),
            n.exit_code
        ),
    }
}

fn count_en(n: usize) -> String {
    if n == 1 {
        "1 event".into()
    } else {
        format!("{n} events")
    }
}

fn kind_label(kind: EventKind, lang: Language) -> &'static str {
    match (lang, kind) {
        (Language::En, EventKind::Drift) => "config drifted",
        (Language::En, EventKind::NewFailure) => "new failing rules",
        (Language::En, EventKind::Error) => "could not be audited",
        (Language::En, EventKind::Recovered) => "recovered",
        (Language::En, EventKind::Stale) => "no recent snapshot",
        (Language::En, EventKind::Integrity) => "history not signed",
        (Language::Zh, EventKind::Drift) => "配置发生变更",
        (Language::Zh, EventKind::NewFailure) => "新增不合规规则",
        (Language::Zh, EventKind::Error) => "无法审计",
        (Language::Zh, EventKind::Recovered) => "已恢复",
        (Language::Zh, EventKind::Stale) => "长时间无快照",
        (Language::Zh, EventKind::Integrity) => "历史记录未签名",
    }
}

/// How a destination reads a message, which decides how outside text is made inert in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The WeCom and DingTalk robots' Markdown.
    Markdown,
    /// The Feishu bot's plain text, which still reads `<at user_id="...">` as a mention.
    FeishuText,
    /// Slack's mrkdwn.
    Slack,
}

/// Outside text (target names, field values, rule titles, summaries, paths) as `format` shows
/// it literally: control characters made visible, then the format's markup neutralized, so
/// that a value cannot become a link, a mention or a heading.
pub fn inert(text: &str, format: Format) -> String {
    let text = visible(text);
    match format {
        Format::Markdown => escape_markdown(&text),
        Format::FeishuText => escape_feishu_text(&text),
        Format::Slack => escape_slack(&text),
    }
}

/// Markdown: a backslash before each character that opens or closes markup, and HTML
/// entities for `<` and `>` so that no tag (`<font>`, `<@all>`) can form.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '[' | ']' | '(' | ')' | '*' | '_' | '`' | '#' | '!' | '~' | '|' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Feishu text has no escapes and shows entities as they are; its only markup is the `<at>`
/// tag, so `<` becomes the full-width `＜`, which reads the same and opens no tag.
fn escape_feishu_text(text: &str) -> String {
    text.replace('<', "\u{ff1c}")
}

/// Slack mrkdwn: `&`, `<` and `>` as the entities Slack asks for, so that no link
/// (`<http://x|y>`) or mention (`<!channel>`) can form. mrkdwn has no escape for its emphasis
/// (`*bold*`, `_italic_`, `~strike~`, `` `code` ``): those marks become their full-width forms,
/// which read the same and format nothing.
fn escape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' => out.push('\u{ff0a}'),
            '_' => out.push('\u{ff3f}'),
            '~' => out.push('\u{ff5e}'),
            '`' => out.push('\u{ff40}'),
            c => out.push(c),
        }
    }
    out
}

/// One event as lines of the destination's format.
fn event_lines(e: &Event, lang: Language, format: Format) -> Vec<String> {
    let t = |s: &str| inert(s, format);
    let target = if format == Format::Markdown {
        format!("**{}**", t(&e.target))
    } else {
        t(&e.target)
    };
    let mut lines = vec![format!(
        "- {target} {}: {}",
        kind_label(e.kind, lang),
        t(&e.summary)
    )];
    if let Some(rules) = &e.rules {
        for r in rules {
            lines.push(format!(
                "  - {} {} {}",
                t(&r.id),
                t(&format!("[{}]", r.severity)),
                t(&r.title)
            ));
        }
    }
    if let Some(changes) = &e.changes {
        for c in changes {
            let v = |v: &Option<Value>| v.as_ref().map(|v| t(&v.to_string())).unwrap_or_default();
            let path = t(&c.path);
            lines.push(match (&c.old, &c.new) {
                (Some(_), Some(_)) => format!("  - {path}: {} -> {}", v(&c.old), v(&c.new)),
                (None, Some(_)) => format!("  - {path}: + {}", v(&c.new)),
                _ => format!("  - {path}: - {}", v(&c.old)),
            });
        }
    }
    lines
}

fn footer(n: &Notification, lang: Language, format: Format, left_out: usize) -> Vec<String> {
    let mut lines = Vec::new();
    if left_out > 0 {
        lines.push(match lang {
            Language::En => format!(
                "... and {left_out} more lines left out to fit this message; the full report has them."
            ),
            Language::Zh => format!("……另有 {left_out} 行因消息长度限制被省略，详见完整报告。"),
        });
    }
    if let Some(md) = &n.report_markdown {
        lines.push(match lang {
            Language::En => format!("Report: {}", inert(md, format)),
            Language::Zh => format!("报告：{}", inert(md, format)),
        });
    }
    lines
}

/// The message in `format` within `max_bytes` of UTF-8: the title, every event that fits, and a
/// footer saying how much was left out and where the report is.
pub fn message(n: &Notification, lang: Language, format: Format, max_bytes: usize) -> String {
    let head = if format == Format::Markdown {
        format!("## {}", title(n, lang))
    } else {
        title(n, lang)
    };
    let body: Vec<String> = n
        .events
        .iter()
        .flat_map(|e| event_lines(e, lang, format))
        .collect();
    let assemble = |kept: usize| {
        let mut out = vec![head.clone()];
        out.extend(body[..kept].iter().cloned());
        out.extend(footer(n, lang, format, body.len() - kept));
        out.join("\n")
    };
    let mut kept = body.len();
    let mut text = assemble(kept);
    while text.len() > max_bytes && kept > 0 {
        kept -= 1;
        text = assemble(kept);
    }
    if text.len() > max_bytes {
        // Even the title and footer are too long: cut at a character boundary.
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Notifications for the tests of every destination.
#[cfg(test)]
pub mod fixtures {
    use super::*;

    /// A message of `events` drift events.
    pub fn notification(events: usize) -> Notification {
        Notification {
            at: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            tz: chrono_tz::UTC,
            exit_code: crate::task::exit::ExitCode::Wanting,
            events: (0..events)
                .map(|i| Event {
                    target: format!("prod-{i}"),
                    kind: EventKind::Drift,
                    summary: "ScanType changed".into(),
                    changes: Some(vec![Change {
                        path: "ScanType".into(),
                        kind: crate::task::diff::ChangeKind::Removed,
                        old: Some(json!("virus")),
                        new: None,
                    }]),
                    rules: None,
                })
                .collect(),
            report_markdown: Some("reports/r.md".into()),
            report_json: Some("reports/r.json".into()),
            test: false,
        }
    }

    /// The values an attacker may put in a target name, a field or a rule title.
    pub const HOSTILE: &str = "[x](http://evil) <!channel> <@all> <at user_id=\"all\"></at> <font color=\"warning\">red</font> <http://x|y> *bold* _i_ `c` # h ![i](http://evil/i.png) & a > b";

    pub fn hostile() -> Notification {
        let mut n = notification(1);
        n.events[0].target = HOSTILE.into();
        n.events[0].summary = HOSTILE.into();
        n.events[0].rules = Some(vec![RuleRef {
            id: "R1".into(),
            title: HOSTILE.into(),
            severity: crate::policy::Severity::High,
        }]);
        n.events[0].changes.as_mut().unwrap()[0].old = Some(json!(HOSTILE));
        n
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{HOSTILE, hostile, notification};
    use super::*;

    #[test]
    fn a_long_message_is_cut_to_the_limit_and_says_what_was_left_out() {
        let n = notification(500);
        for lang in [Language::En, Language::Zh] {
            let text = message(&n, lang, Format::Markdown, 4096);
            assert!(text.len() <= 4096, "{}", text.len());
            assert!(text.contains("reports/r.md"), "{text}");
            assert!(text.contains("left out") || text.contains("省略"), "{text}");
        }
        let short = message(&notification(2), Language::En, Format::Markdown, 4096);
        assert!(!short.contains("left out"), "{short}");
        assert!(short.contains("**prod-1** config drifted"), "{short}");
    }

    #[test]
    fn the_title_shows_the_run_in_the_configured_zone_with_its_offset() {
        let mut n = notification(1);
        n.tz = chrono_tz::Asia::Shanghai;
        for lang in [Language::En, Language::Zh] {
            let t = title(&n, lang);
            assert!(t.contains("+08:00"), "{t}");
        }
        assert_eq!(webhook_body(&n)["run"]["at"], fmt_utc(n.at));
    }

    #[test]
    fn outside_text_in_a_message_is_made_visible() {
        let mut n = notification(1);
        n.events[0].target = "prod\u{1b}[2J".into();
        let text = message(&n, Language::En, Format::Markdown, 4096);
        assert!(!text.contains('\u{1b}'), "{text:?}");
    }

    #[test]
    fn markdown_escaping_leaves_no_link_tag_or_emphasis() {
        let text = escape_markdown(HOSTILE);
        for live in [
            "[x](", "<", ">", "](", " *bold*", " _i_", " `c`", "![i]", " # h",
        ] {
            assert!(!text.contains(live), "{live} in {text}");
        }
        assert!(text.contains("\\[x\\]\\(http://evil\\)"), "{text}");
        let message = message(&hostile(), Language::En, Format::Markdown, 4096);
        for live in ["[x](", "<!channel>", "<@all>", "<at ", "<font"] {
            assert!(!message.contains(live), "{live} in {message}");
        }
    }

    #[test]
    fn feishu_text_escaping_leaves_no_mention_tag() {
        let text = escape_feishu_text(HOSTILE);
        assert!(!text.contains('<'), "{text}");
        assert!(text.contains("\u{ff1c}at user_id"), "{text}");
        let message = message(&hostile(), Language::En, Format::FeishuText, 30_000);
        assert!(!message.contains("<at "), "{message}");
    }

    #[test]
    fn slack_escaping_leaves_no_link_mention_or_emphasis() {
        assert_eq!(
            escape_slack("<!channel> <http://x|y> a & b > c"),
            "&lt;!channel&gt; &lt;http://x|y&gt; a &amp; b &gt; c"
        );
        let text = escape_slack(HOSTILE);
        for live in ["*bold*", "_i_", "`c`", "~"] {
            assert!(!text.contains(live), "{live} in {text}");
        }
        assert!(text.contains("\u{ff0a}bold\u{ff0a}"), "{text}");
        let message = message(&hostile(), Language::En, Format::Slack, 40_000);
        assert!(
            !message.contains(" *bold* ") && !message.contains(" _i_ "),
            "{message}"
        );
    }

    #[test]
    fn the_webhook_document_keeps_outside_text_as_data() {
        let doc = webhook_body(&hostile());
        assert_eq!(doc["events"][0]["target"], HOSTILE);
    }
}

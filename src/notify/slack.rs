//! Slack's incoming webhook: a text fallback and `mrkdwn` section blocks of at most 3000
//! characters, 50 blocks at most; its URL is its key, so it takes no secret; its answer is the
//! word `ok` when taken.

use reqwest::Url;
use serde_json::{Value, json};

use super::{Destination, Refusal, Request, Retry, Signing};
use crate::report::notify::{self, Format, Language, Notification};

/// Slack's limits: characters of a section block, blocks of a message, and the text in all.
const BLOCK: usize = 3000;
const BLOCKS: usize = 50;
const LIMIT: usize = 40_000;

pub struct Slack;

impl Destination for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn takes_secret(&self) -> bool {
        false
    }

    fn request(&self, n: &Notification, lang: Language, _: &Signing<'_>, _: &mut Url) -> Request {
        Request::json(&body(n, lang))
    }

    fn judge(&self, body: &str) -> Result<(), Refusal> {
        if body.trim() == "ok" {
            Ok(())
        } else {
            Err(Refusal::new(
                Retry::Never,
                format!(
                    "Slack answered {}",
                    crate::net::excerpt(body.as_bytes(), 120)
                ),
            ))
        }
    }
}

/// The body: the title as the text fallback, the message in blocks cut at line ends.
fn body(n: &Notification, lang: Language) -> Value {
    let text = notify::message(n, lang, Format::Slack, LIMIT);
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line: String = line.chars().take(BLOCK).collect();
        if current.chars().count() + line.chars().count() + 1 > BLOCK {
            blocks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    // The footer of `message` names the report, for what does not fit.
    blocks.truncate(BLOCKS);
    json!({
        "text": notify::title(n, lang),
        "blocks": blocks
            .into_iter()
            .map(|t| json!({"type": "section", "text": {"type": "mrkdwn", "text": t}}))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::notify::fixtures;

    #[test]
    fn blocks_stay_within_3000_characters() {
        let body = body(&fixtures::notification(400), Language::En);
        let blocks = body["blocks"].as_array().unwrap();
        assert!(!blocks.is_empty() && blocks.len() <= BLOCKS);
        for b in blocks {
            assert!(b["text"]["text"].as_str().unwrap().chars().count() <= BLOCK);
        }
    }

    #[test]
    fn outside_text_makes_no_link_or_mention() {
        let body = body(&fixtures::hostile(), Language::En);
        for b in body["blocks"].as_array().unwrap() {
            let t = b["text"]["text"].as_str().unwrap();
            assert!(!t.contains('<') && !t.contains('>'), "{t}");
        }
    }

    #[test]
    fn only_ok_is_taken() {
        assert_eq!(Slack.judge("ok\n"), Ok(()));
        let e = Slack.judge("invalid_payload").unwrap_err();
        assert!(e.why.contains("invalid_payload") && e.retry == Retry::Never);
    }
}

//! WeCom's group robot: Markdown of at most 4096 bytes; its URL holds its key, so it takes no
//! secret; its answer is `{"errcode": 0}` when taken.

use reqwest::Url;
use serde_json::json;

use super::{BotAnswers, Destination, Refusal, Request, Retry, Signing};
use crate::report::notify::{self, Format, Language, Notification};

/// WeCom's limit on a Markdown message, in bytes.
const LIMIT: usize = 4096;

pub struct Wecom;

const ANSWERS: BotAnswers = BotAnswers {
    code_keys: &["errcode"],
    message_key: "errmsg",
    code_name: "errcode",
    bot: "robot",
};

impl Destination for Wecom {
    fn name(&self) -> &'static str {
        "wecom"
    }

    fn takes_secret(&self) -> bool {
        false
    }

    fn request(&self, n: &Notification, lang: Language, _: &Signing<'_>, _: &mut Url) -> Request {
        Request::json(&json!({
            "msgtype": "markdown",
            "markdown": {"content": notify::message(n, lang, Format::Markdown, LIMIT)},
        }))
    }

    fn judge(&self, body: &str) -> Result<(), Refusal> {
        ANSWERS.judge(body, |code| match code {
            45009 => (Retry::Again, "rate limited: at most 20 messages a minute"),
            40058 => (Retry::Never, "the message is too long"),
            93000 => (Retry::Never, "the robot's key is not valid"),
            _ => (Retry::Never, "refused"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::notify::fixtures;

    #[test]
    fn the_message_is_markdown_within_the_limit() {
        let mut url = Url::parse("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k").unwrap();
        let signing = Signing {
            secret: None,
            now: chrono::Utc::now(),
        };
        let r = Wecom.request(
            &fixtures::notification(500),
            Language::En,
            &signing,
            &mut url,
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["msgtype"], "markdown");
        assert!(body["markdown"]["content"].as_str().unwrap().len() <= LIMIT);
        assert!(r.headers.is_empty());
    }

    #[test]
    fn its_answer_codes_are_read() {
        assert_eq!(Wecom.judge(r#"{"errcode":0,"errmsg":"ok"}"#), Ok(()));
        let limited = Wecom.judge(r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#);
        assert_eq!(limited.unwrap_err().retry, Retry::Again);
        let bad = Wecom
            .judge(r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#)
            .unwrap_err();
        assert!(
            bad.why.contains("not valid") && bad.retry == Retry::Never,
            "{bad:?}"
        );
        assert!(
            Wecom
                .judge("<html>")
                .unwrap_err()
                .why
                .contains("not the robot's")
        );
    }
}

//! Feishu's custom bot: plain text; with a secret, the body carries `timestamp` (seconds) and
//! `sign`, the Base64 HMAC-SHA256 of nothing keyed by "timestamp\nsecret"; its answer is
//! `{"code": 0}` (older bots: `{"StatusCode": 0}`) when taken.

use reqwest::Url;
use serde_json::json;

use super::{BotAnswers, Destination, Refusal, Request, Retry, Signing, base64, hmac};
use crate::report::notify::{self, Format, Language, Notification};

/// Feishu's limit on a text message, in bytes.
const LIMIT: usize = 30_000;

pub struct Feishu;

/// `{"code": 0}`, or `{"StatusCode": 0}` from older bots.
const ANSWERS: BotAnswers = BotAnswers {
    code_keys: &["code", "StatusCode"],
    message_key: "msg",
    code_name: "code",
    bot: "bot",
};

impl Destination for Feishu {
    fn name(&self) -> &'static str {
        "feishu"
    }

    fn takes_secret(&self) -> bool {
        true
    }

    fn request(
        &self,
        n: &Notification,
        lang: Language,
        sign: &Signing<'_>,
        _: &mut Url,
    ) -> Request {
        let mut body = json!({
            "msg_type": "text",
            "content": {"text": notify::message(n, lang, Format::FeishuText, LIMIT)},
        });
        if let Some(secret) = sign.secret {
            let ts = sign.now.timestamp();
            let signature = base64(&hmac(format!("{ts}\n{}", secret.expose()).as_bytes(), b""));
            body["timestamp"] = json!(ts.to_string());
            body["sign"] = json!(signature);
        }
        Request::json(&body)
    }

    fn judge(&self, body: &str) -> Result<(), Refusal> {
        ANSWERS.judge(body, |code| match code {
            19021 => (Retry::Never, "the signature check failed"),
            _ => (Retry::Never, "refused"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::notify::fixtures;
    use crate::tencent::Secret;

    #[test]
    fn a_secret_signs_the_body_as_feishu_checks_it() {
        let secret = Secret::new("fs-secret");
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let signing = Signing {
            secret: Some(&secret),
            now,
        };
        let mut url = Url::parse("https://open.feishu.cn/open-apis/bot/v2/hook/x").unwrap();
        let r = Feishu.request(&fixtures::notification(1), Language::En, &signing, &mut url);
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["timestamp"], "1700000000");
        assert_eq!(body["sign"], base64(&hmac(b"1700000000\nfs-secret", b"")));
        assert_eq!(body["msg_type"], "text");
        assert_eq!(url.query(), None, "the URL is left as it is");
    }

    #[test]
    fn both_answer_shapes_are_read() {
        assert_eq!(Feishu.judge(r#"{"code":0,"msg":"success"}"#), Ok(()));
        assert_eq!(Feishu.judge(r#"{"StatusCode":0}"#), Ok(()));
        let e = Feishu
            .judge(r#"{"code":19021,"msg":"sign match fail"}"#)
            .unwrap_err();
        assert!(e.why.contains("signature"), "{e:?}");
    }
}

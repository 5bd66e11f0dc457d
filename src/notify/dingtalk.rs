//! DingTalk's custom robot: Markdown with a title; with a secret ("加签"), the URL carries
//! `timestamp` (milliseconds) and `sign`, the Base64 HMAC-SHA256 of "timestamp\nsecret" keyed by
//! the secret; its answer is `{"errcode": 0}` when taken.

use reqwest::Url;
use serde_json::json;

use super::{BotAnswers, Destination, Refusal, Request, Retry, Signing, base64, hmac};
use crate::report::notify::{self, Format, Language, Notification};

/// DingTalk's limit on a Markdown message, in bytes.
const LIMIT: usize = 20_000;

pub struct Dingtalk;

const ANSWERS: BotAnswers = BotAnswers {
    code_keys: &["errcode"],
    message_key: "errmsg",
    code_name: "errcode",
    bot: "robot",
};

impl Destination for Dingtalk {
    fn name(&self) -> &'static str {
        "dingtalk"
    }

    fn takes_secret(&self) -> bool {
        true
    }

    fn request(
        &self,
        n: &Notification,
        lang: Language,
        sign: &Signing<'_>,
        url: &mut Url,
    ) -> Request {
        if let Some(secret) = sign.secret {
            let secret = secret.expose();
            let ts = sign.now.timestamp_millis();
            let signature = base64(&hmac(
                secret.as_bytes(),
                format!("{ts}\n{secret}").as_bytes(),
            ));
            url.query_pairs_mut()
                .append_pair("timestamp", &ts.to_string())
                .append_pair("sign", &signature);
        }
        Request::json(&json!({
            "msgtype": "markdown",
            "markdown": {
                "title": notify::title(n, lang),
                "text": notify::message(n, lang, Format::Markdown, LIMIT),
            },
        }))
    }

    fn judge(&self, body: &str) -> Result<(), Refusal> {
        ANSWERS.judge(body, |code| match code {
            310000 => (Retry::Never, "the signature or keyword check failed"),
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
    fn a_secret_signs_the_url_as_dingtalk_checks_it() {
        let secret = Secret::new("SEC000");
        let now = chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let signing = Signing {
            secret: Some(&secret),
            now,
        };
        let mut url = Url::parse("https://oapi.dingtalk.com/robot/send?access_token=t").unwrap();
        let r = Dingtalk.request(&fixtures::notification(1), Language::Zh, &signing, &mut url);
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["timestamp"], "1700000000123");
        assert_eq!(
            q["sign"],
            base64(&hmac(b"SEC000", b"1700000000123\nSEC000")),
            "the signature of timestamp and secret"
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            body["markdown"]["title"]
                .as_str()
                .unwrap()
                .contains("tcss-audit")
        );
    }

    #[test]
    fn a_failed_signature_check_is_named() {
        let e = Dingtalk
            .judge(r#"{"errcode":310000,"errmsg":"sign not match"}"#)
            .unwrap_err();
        assert!(e.why.contains("signature"), "{e:?}");
        assert_eq!(Dingtalk.judge(r#"{"errcode":0}"#), Ok(()));
    }
}

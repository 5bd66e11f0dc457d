//! A plain webhook: the notification document (`tcss-audit/notification/v1`) as it is; with a
//! secret, the header `X-Tcss-Audit-Signature: sha256=HEX`, the HMAC-SHA256 of the body keyed by
//! the secret; any 2xx answer is taken.

use reqwest::Url;

use super::{Destination, Refusal, Request, Signing, hmac};
use crate::report::notify::{self, Language, Notification};

pub struct Webhook;

impl Destination for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn takes_secret(&self) -> bool {
        true
    }

    fn request(&self, n: &Notification, _: Language, sign: &Signing<'_>, _: &mut Url) -> Request {
        let mut request = Request::json(&notify::webhook_body(n));
        if let Some(secret) = sign.secret {
            let mac = hmac(secret.expose().as_bytes(), &request.body);
            request.headers.push((
                "X-Tcss-Audit-Signature",
                format!("sha256={}", hex::encode(mac)),
            ));
        }
        request
    }

    fn judge(&self, _: &str) -> Result<(), Refusal> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::notify::fixtures;
    use crate::tencent::Secret;

    #[test]
    fn the_signature_covers_the_body_sent() {
        let secret = Secret::new("hook-secret");
        let signing = Signing {
            secret: Some(&secret),
            now: chrono::Utc::now(),
        };
        let mut url = Url::parse("https://example.com/hook").unwrap();
        let r = Webhook.request(&fixtures::hostile(), Language::En, &signing, &mut url);
        let (name, value) = &r.headers[0];
        assert_eq!(*name, "X-Tcss-Audit-Signature");
        assert_eq!(
            *value,
            format!("sha256={}", hex::encode(hmac(b"hook-secret", &r.body)))
        );
        let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(doc["schema"], "tcss-audit/notification/v1");
        assert_eq!(
            doc["events"][0]["target"],
            fixtures::HOSTILE,
            "outside text stays data"
        );
    }
}

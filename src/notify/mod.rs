//! Alert destinations: one file each (WeCom, DingTalk, Feishu, Slack, a webhook), each owning
//! what its `[[notify]]` section may hold, the body it is sent, its signature and how its answer
//! is read. What they share is here: the registry, reading a destination's address from the
//! environment, and delivery over the network layer with bounded retries and answers. What is
//! new since a destination was last told is the application's (`app::notify`); the message's
//! text and each markup's escaping are the report's (`report::notify`).
//!
//! A new destination is a new file implementing [`Destination`] and one line in [`ALL`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;

use crate::report::notify::{Language, Notification};
use crate::tencent::Secret;

mod dingtalk;
mod feishu;
mod slack;
mod webhook;
mod wecom;

/// Every destination, by the `kind` its `[[notify]]` section names.
pub const ALL: [Kind; 5] = [
    Kind(&wecom::Wecom),
    Kind(&dingtalk::Dingtalk),
    Kind(&feishu::Feishu),
    Kind(&slack::Slack),
    Kind(&webhook::Webhook),
];

/// A kind of destination: how a message is put to it and how its answer is read.
pub trait Destination: Sync {
    /// Its `kind` in the config file.
    fn name(&self) -> &'static str;

    /// Whether its section takes `secret_env` (a robot whose URL is its key takes none).
    fn takes_secret(&self) -> bool;

    /// The request carrying `n`, signed with `secret` where the destination signs (in its body,
    /// its headers or, for DingTalk, its URL).
    fn request(
        &self,
        n: &Notification,
        lang: Language,
        sign: &Signing<'_>,
        url: &mut Url,
    ) -> Request;

    /// Whether a 2xx answer's body says the message was taken.
    fn judge(&self, body: &str) -> Result<(), Refusal>;
}

/// A destination kind, compared and shown by its name.
#[derive(Clone, Copy)]
pub struct Kind(&'static dyn Destination);

impl Kind {
    pub fn parse(name: &str) -> Option<Kind> {
        ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn names() -> String {
        ALL.map(|k| k.name()).join(", ")
    }
}

impl std::ops::Deref for Kind {
    type Target = dyn Destination;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        self.name() == other.name()
    }
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The secret a destination signs with, and the moment it signs at.
pub struct Signing<'a> {
    pub secret: Option<&'a Secret>,
    pub now: DateTime<Utc>,
}

/// What is sent: a JSON body and the headers beside `Content-Type`.
pub struct Request {
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Request {
    fn json(body: &serde_json::Value) -> Request {
        Request {
            body: serde_json::to_vec(body).expect("JSON values serialize"),
            headers: Vec::new(),
        }
    }
}

/// Why a destination did not take a message, and whether a second try may pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub retry: Retry,
    pub why: String,
}

/// Whether a failed delivery is tried again within the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    Again,
    Never,
}

impl Refusal {
    fn new(retry: Retry, why: String) -> Refusal {
        Refusal { retry, why }
    }
}

/// A destination's URL and secret, as read from the environment. Neither is ever shown: the
/// URL of a bot holds its key.
pub struct Address {
    url: Url,
    secret: Option<Secret>,
}

/// Why a destination's URL cannot be sent to (the variable is named, never its value).
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("{variable} is not set: it holds the destination's URL")]
    UrlUnset { variable: String },
    #[error("{variable} is not set: it holds the destination's secret")]
    SecretUnset { variable: String },
    #[error("{variable} does not hold a URL")]
    NotUrl { variable: String },
    #[error("{variable}: {refused}")]
    Refused {
        variable: String,
        refused: crate::net::UrlRefused,
    },
}

impl AddressError {
    /// A variable not set: that destination's delivery fails and is tried at the next run.
    /// Anything else is a configuration error, found before anything is sent.
    pub fn is_unset(&self) -> bool {
        matches!(
            self,
            AddressError::UrlUnset { .. } | AddressError::SecretUnset { .. }
        )
    }
}

impl Address {
    /// The URL in `url_env` and the secret in `secret_env`, the URL under the rule every client
    /// follows: `https://`, or plain `http://` to loopback only.
    pub fn from_env(
        url_env: &str,
        secret_env: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Address, AddressError> {
        let text = env(url_env)
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| AddressError::UrlUnset {
                variable: url_env.to_string(),
            })?;
        let url = Url::parse(&text).map_err(|_| AddressError::NotUrl {
            variable: url_env.to_string(),
        })?;
        crate::net::allowed(&url).map_err(|refused| AddressError::Refused {
            variable: url_env.to_string(),
            refused,
        })?;
        let secret = match secret_env {
            Some(name) => Some(
                env(name)
                    .filter(|s| !s.is_empty())
                    .map(Secret::new)
                    .ok_or_else(|| AddressError::SecretUnset {
                        variable: name.to_string(),
                    })?,
            ),
            None => None,
        };
        Ok(Address { url, secret })
    }
}

/// The one HTTP client for every destination: the config's trust and proxy, a short timeout.
pub fn http_client(net: &crate::net::Settings) -> Result<reqwest::Client, crate::net::Error> {
    let settings = crate::net::Settings {
        timeout: Duration::from_secs(10),
        ..net.clone()
    };
    crate::net::client(
        &settings,
        crate::net::Route::Proxied,
        crate::net::Roots::Platform,
    )
}

/// Tries per delivery, and the time they may take in all.
const TRIES: u32 = 3;
const DELIVERY_TIME: Duration = Duration::from_secs(20);

/// Sends `n` to `kind` at `address`, retrying what may pass on a second try; the error says
/// why it was not taken (never the URL or the secret).
pub async fn deliver(
    kind: Kind,
    address: &Address,
    n: &Notification,
    lang: Language,
    http: &reqwest::Client,
) -> Result<(), String> {
    let mut url = address.url.clone();
    let signing = Signing {
        secret: address.secret.as_ref(),
        now: Utc::now(),
    };
    let request = kind.request(n, lang, &signing, &mut url);
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Err(refusal) = attempt_once(kind, &url, &request, http).await else {
            return Ok(());
        };
        if refusal.retry == Retry::Never || attempt >= TRIES || started.elapsed() >= DELIVERY_TIME {
            return Err(if attempt > 1 {
                format!("{} (after {attempt} tries)", refusal.why)
            } else {
                refusal.why
            });
        }
        tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
    }
}

/// One try: the request sent, its answer read to the bound and judged.
async fn attempt_once(
    kind: Kind,
    url: &Url,
    request: &Request,
    http: &reqwest::Client,
) -> Result<(), Refusal> {
    let mut req = http
        .post(url.clone())
        .header("Content-Type", "application/json")
        .body(request.body.clone());
    for (k, v) in &request.headers {
        req = req.header(*k, v);
    }
    let response = req.send().await.map_err(|e| {
        // A certificate that does not verify will not verify on a second try.
        let retry = if crate::net::is_certificate_error(&e) {
            Retry::Never
        } else {
            Retry::Again
        };
        Refusal::new(
            retry,
            format!("not reachable: {}", crate::net::describe(&e)),
        )
    })?;
    let status = response.status().as_u16();
    let body = crate::net::read_bounded(response, crate::net::BOT_ANSWER_LIMIT)
        .await
        .map_err(|e| {
            let retry = match e {
                crate::net::ReadError::Cut { .. } => Retry::Again,
                _ => Retry::Never,
            };
            Refusal::new(retry, format!("HTTP {status}: {e}"))
        })?;
    let body = String::from_utf8_lossy(&body);
    let excerpt = || crate::net::excerpt(body.as_bytes(), 120);
    if status == 429 || status >= 500 {
        return Err(Refusal::new(
            Retry::Again,
            format!("HTTP {status}: {}", excerpt()),
        ));
    }
    if !(200..300).contains(&status) {
        return Err(Refusal::new(
            Retry::Never,
            format!("HTTP {status}: {}", excerpt()),
        ));
    }
    kind.judge(&body)
}

/// How a chat bot answers: the keys of its code (the first present counts) and of its message,
/// and its own word for itself.
struct BotAnswers {
    code_keys: &'static [&'static str],
    message_key: &'static str,
    /// "errcode", "code": how the code is named in a refusal.
    code_name: &'static str,
    /// "robot", "bot".
    bot: &'static str,
}

impl BotAnswers {
    /// Taken when the code is 0; else refused with what the code means (`meaning`: whether a
    /// retry may pass, and the words) and the bot's message. An answer without a code is not
    /// the bot's.
    fn judge(
        &self,
        body: &str,
        meaning: impl Fn(i64) -> (Retry, &'static str),
    ) -> Result<(), Refusal> {
        let answer = BotAnswer::parse(body);
        let Some(code) = self.code_keys.iter().find_map(|k| answer.code(k)) else {
            return Err(Refusal::new(
                Retry::Never,
                format!(
                    "an answer that is not the {}'s: {}",
                    self.bot,
                    crate::net::excerpt(body.as_bytes(), 120)
                ),
            ));
        };
        if code == 0 {
            return Ok(());
        }
        let (retry, words) = meaning(code);
        Err(Refusal::new(
            retry,
            format!(
                "{} {code} ({words}): {}",
                self.code_name,
                answer.message(self.message_key)
            ),
        ))
    }
}

/// A chat bot's JSON answer, parsed once.
struct BotAnswer {
    json: Option<serde_json::Value>,
}

impl BotAnswer {
    fn parse(body: &str) -> BotAnswer {
        BotAnswer {
            json: serde_json::from_str(body).ok(),
        }
    }

    fn code(&self, key: &str) -> Option<i64> {
        self.json.as_ref()?.get(key)?.as_i64()
    }

    /// The bot's message, made visible (it is outside text).
    fn message(&self, key: &str) -> String {
        self.json
            .as_ref()
            .and_then(|j| j.get(key))
            .and_then(serde_json::Value::as_str)
            .map(|m| crate::task::text::visible(m).into_owned())
            .unwrap_or_default()
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_name_once() {
        for k in ALL {
            assert_eq!(Kind::parse(k.name()), Some(k));
            assert_eq!(ALL.iter().filter(|o| o.name() == k.name()).count(), 1);
        }
        assert_eq!(Kind::parse("email"), None);
        assert_eq!(Kind::names(), "wecom, dingtalk, feishu, slack, webhook");
    }

    #[test]
    fn an_address_is_read_from_the_environment_under_the_plain_http_rule() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let ok = env(&[("U", " https://example.com/hook "), ("S", "s")]);
        let a = Address::from_env("U", Some("S"), &ok).unwrap();
        assert_eq!(a.url.as_str(), "https://example.com/hook");
        assert_eq!(a.secret.as_ref().map(Secret::expose), Some("s"));
        let remote = env(&[("U", "http://example.com/hook")]);
        let e = Address::from_env("U", None, &remote).err().unwrap();
        assert!(
            !e.is_unset() && e.to_string().starts_with("U: plain http://"),
            "{e}"
        );
        assert!(!e.to_string().contains("example.com"), "{e}");
        let unset = env(&[("U", "https://example.com/")]);
        let e = Address::from_env("U", Some("S"), &unset).err().unwrap();
        assert!(e.is_unset(), "{e}");
    }
}

//! Notifications: what is new for each destination since it was last told (drift, new failures,
//! errors, recoveries, stale targets), delivered to WeCom, DingTalk, Feishu, Slack or a webhook
//! after the run's records and reports are stored. A delivery that fails is retried within a
//! bounded time, named, and tried again at the next run (what a destination was told is saved
//! only once it was told).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::app::Error;
use crate::report::notify::{self, Event, EventKind, Format, Language, Notification, RuleRef};
use crate::store::Store;
use crate::task::diff;
use crate::task::text::visible;

/// Where a destination is, as the config file's `[[notify]]` says.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySpec {
    pub kind: NotifyKind,
    /// The variable that holds the webhook URL (a secret: the URL itself is never shown).
    pub url_env: String,
    pub secret_env: Option<String>,
    /// Kinds of events sent; `always` sends a message every run.
    pub on: Vec<EventKind>,
    pub always: bool,
    /// Target name globs; empty: every target.
    pub targets: Vec<glob::Pattern>,
    pub language: Language,
    pub stale_after: chrono::Duration,
}

/// The kinds of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    Wecom,
    Dingtalk,
    Feishu,
    Slack,
    Webhook,
}

impl NotifyKind {
    pub const ALL: [NotifyKind; 5] = [
        NotifyKind::Wecom,
        NotifyKind::Dingtalk,
        NotifyKind::Feishu,
        NotifyKind::Slack,
        NotifyKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Wecom => "wecom",
            NotifyKind::Dingtalk => "dingtalk",
            NotifyKind::Feishu => "feishu",
            NotifyKind::Slack => "slack",
            NotifyKind::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<NotifyKind> {
        NotifyKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl NotifySpec {
    /// The destination's name in messages and in the database: its kind and the variable that
    /// holds its URL, never the URL.
    pub fn id(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.url_env)
    }

    fn wants(&self, target: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|p| p.matches(target))
    }
}

/// The default `on`: everything but `stale`.
pub const DEFAULT_ON: [EventKind; 5] = [
    EventKind::Drift,
    EventKind::NewFailure,
    EventKind::Error,
    EventKind::Recovered,
    EventKind::Integrity,
];

/// What a destination was last told about a target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    pub config_hash: Option<String>,
    pub failing: Vec<String>,
    pub error: bool,
    pub stale: bool,
    /// When this destination first saw the target: the start of a gap for a target that never
    /// recorded a snapshot (absent from states saved before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
}

/// A target as this run leaves it.
#[derive(Debug, Clone)]
pub struct TargetNow {
    pub target: String,
    /// The newest config recorded (this run's, or an earlier one when the run failed).
    pub config_hash: Option<String>,
    /// Rules failing at or above `fail_on` now (when the target was audited).
    pub failing: Vec<RuleRef>,
    pub error: Option<String>,
    /// The newest snapshot before this run.
    pub last_before: Option<DateTime<Utc>>,
    /// Recorded in this run.
    pub recorded: bool,
}

/// The events `now` holds for a destination that was told `before` (none: never told), and
/// what it will have been told once they are delivered.
pub fn events_for(
    spec: &NotifySpec,
    before: Option<&Told>,
    now: &TargetNow,
    run_at: DateTime<Utc>,
    store: &Store,
) -> (Vec<Event>, Told) {
    let prev = before.cloned().unwrap_or_default();
    let lang = spec.language;
    let mut events = Vec::new();
    let mut push = |kind: EventKind, summary: String, changes, rules| {
        if spec.always || spec.on.contains(&kind) {
            events.push(Event {
                target: now.target.clone(),
                kind,
                summary,
                changes,
                rules,
            });
        }
    };
    let mut told = prev.clone();
    match &now.error {
        Some(e) => {
            if !prev.error {
                push(EventKind::Error, e.clone(), None, None);
            }
            told.error = true;
        }
        None => {
            if let (Some(old), Some(cur)) = (&prev.config_hash, &now.config_hash)
                && old != cur
            {
                let changes = match (store.config(old), store.config(cur)) {
                    (Ok(a), Ok(b)) => diff::diff(&a, &b),
                    _ => Vec::new(),
                };
                let mut fields: Vec<&str> = Vec::new();
                for c in &changes {
                    if !fields.contains(&c.field()) {
                        fields.push(c.field());
                    }
                }
                let fields = fields.join(", ");
                push(
                    EventKind::Drift,
                    words(
                        lang,
                        format!("changed: {fields}"),
                        format!("变更：{fields}"),
                    ),
                    Some(changes),
                    None,
                );
            }
            let newly: Vec<RuleRef> = now
                .failing
                .iter()
                .filter(|r| !prev.failing.contains(&r.id))
                .cloned()
                .collect();
            if !newly.is_empty() {
                push(
                    EventKind::NewFailure,
                    failing_summary(lang, newly.len(), before.is_some()),
                    None,
                    Some(newly),
                );
            }
            let healed: Vec<String> = prev
                .failing
                .iter()
                .filter(|id| !now.failing.iter().any(|r| r.id == **id))
                .cloned()
                .collect();
            if prev.error || !healed.is_empty() {
                let summary = if healed.is_empty() {
                    words(
                        lang,
                        "audited again after an error".into(),
                        "出错后已重新审计".into(),
                    )
                } else {
                    let ids = healed.join(", ");
                    words(
                        lang,
                        format!("passing again: {ids}"),
                        format!("重新合规：{ids}"),
                    )
                };
                push(EventKind::Recovered, summary, None, None);
            }
            told = Told {
                config_hash: now.config_hash.clone(),
                failing: now.failing.iter().map(|r| r.id.clone()).collect(),
                error: false,
                stale: false,
                first_seen: None,
            };
        }
    }
    let first_seen = prev.first_seen.unwrap_or(run_at);
    told.first_seen = Some(first_seen);
    // A stopped job: the gap before this run, or a target that still has no fresh snapshot.
    // A target that never recorded one, and did not now, has no snapshot to count from: its gap
    // starts when this destination first saw it, which is kept, rather than when this run
    // started, which would make the gap only as long as the run.
    let never = now.last_before.is_none() && !now.recorded;
    let since = now.last_before.or(never.then_some(first_seen));
    let gap = since.map(|t| run_at - t);
    let stale = gap.is_some_and(|g| g > spec.stale_after);
    if stale && !prev.stale {
        let hours = gap.map_or(0, |g| g.num_hours());
        push(
            EventKind::Stale,
            stale_summary(lang, hours, spec.stale_after.num_hours(), never),
            None,
            None,
        );
    }
    told.stale = stale && !now.recorded;
    (events, told)
}

/// A summary's fixed words in the destination's language (outside text stays as it is).
fn words(lang: Language, en: String, zh: String) -> String {
    match lang {
        Language::En => en,
        Language::Zh => zh,
    }
}

/// How long a target has had no snapshot, or, if it never recorded one, since it was first seen.
fn stale_summary(lang: Language, hours: i64, limit: i64, never: bool) -> String {
    match (lang, never) {
        (Language::En, false) => format!("no snapshot for {hours} h (more than {limit} h)"),
        (Language::En, true) => {
            format!("no snapshot ever recorded, {hours} h since first seen (more than {limit} h)")
        }
        (Language::Zh, false) => format!("已 {hours} 小时无快照（超过 {limit} 小时）"),
        (Language::Zh, true) => {
            format!("从未记录快照，首次发现至今 {hours} 小时（超过 {limit} 小时）")
        }
    }
}

/// Rules failing that the destination has not been told about: "new" only when it was told
/// about the target before, since a destination that never was cannot know they once passed.
fn failing_summary(lang: Language, count: usize, told_before: bool) -> String {
    match (lang, told_before) {
        (Language::En, true) => format!("{count} failing that passed before"),
        (Language::En, false) => format!("{count} failing"),
        (Language::Zh, true) => format!("{count} 项此前合规、现不合规"),
        (Language::Zh, false) => format!("{count} 项不合规"),
    }
}

/// The outcome of one destination.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub destination: String,
    pub events: usize,
    /// Why it could not be delivered (never the URL or secret).
    pub failed: Option<String>,
    /// What would have been sent (dry run): the webhook's JSON document.
    pub dry_run: Option<Value>,
}

/// Notifies every destination of what is new; with `dry_run`, only says what would be sent.
#[allow(clippy::too_many_arguments)]
pub fn notify_all(
    store: &mut Store,
    specs: &[NotifySpec],
    targets: &[TargetNow],
    run_at: DateTime<Utc>,
    exit_code: u8,
    reports: (Option<String>, Option<String>),
    dry_run: bool,
    env: &dyn Fn(&str) -> Option<String>,
    integrity: Option<&str>,
    tz: chrono_tz::Tz,
    net: &crate::net::Settings,
) -> Result<Vec<Delivery>, Error> {
    let runtime = crate::app::runtime::runtime(crate::app::runtime::Threads::Current)?;
    let http = if dry_run {
        None
    } else {
        Some(http_client(net)?)
    };
    let mut out = Vec::new();
    for spec in specs {
        let told: HashMap<String, Told> = store
            .told(&spec.id())?
            .into_iter()
            .filter_map(|(t, s)| serde_json::from_str(&s).ok().map(|s| (t, s)))
            .collect();
        let mut events = Vec::new();
        let mut next = Vec::new();
        for t in targets.iter().filter(|t| spec.wants(&t.target)) {
            let (e, state) = events_for(spec, told.get(&t.target), t, run_at, store);
            events.extend(e);
            next.push((
                t.target.clone(),
                serde_json::to_string(&state).expect("a state serializes"),
            ));
        }
        // Said at every run while it lasts: it is about the whole history, not a target.
        if let Some(why) = integrity
            && (spec.always || spec.on.contains(&EventKind::Integrity))
        {
            events.push(Event {
                target: "*".into(),
                kind: EventKind::Integrity,
                summary: words(
                    spec.language,
                    format!("signature line broken: {why}"),
                    format!("签名链断裂：{why}"),
                ),
                changes: None,
                rules: None,
            });
        }
        let n = Notification {
            at: run_at,
            tz,
            exit_code,
            events,
            report_markdown: reports.0.clone(),
            report_json: reports.1.clone(),
            test: false,
        };
        let count = n.events.len();
        if dry_run {
            out.push(Delivery {
                destination: spec.id(),
                events: count,
                failed: None,
                dry_run: Some(notify::webhook_body(&n)),
            });
            continue;
        }
        let result = match &http {
            Some(http) if count > 0 || spec.always => {
                runtime.block_on(deliver(spec, &n, env, http))
            }
            _ => Ok(()),
        };
        match result {
            Ok(()) => {
                store.save_told(&spec.id(), &next, run_at)?;
                out.push(Delivery {
                    destination: spec.id(),
                    events: count,
                    failed: None,
                    dry_run: None,
                });
            }
            Err(why) => out.push(Delivery {
                destination: spec.id(),
                events: count,
                failed: Some(why),
                dry_run: None,
            }),
        }
    }
    Ok(out)
}

/// Sends one test message to every destination.
pub fn test_all(
    specs: &[NotifySpec],
    at: DateTime<Utc>,
    tz: chrono_tz::Tz,
    env: &dyn Fn(&str) -> Option<String>,
    net: &crate::net::Settings,
) -> Result<Vec<Delivery>, Error> {
    check_destinations(specs, env)?;
    let http = http_client(net)?;
    let runtime = crate::app::runtime::runtime(crate::app::runtime::Threads::Current)?;
    Ok(specs
        .iter()
        .map(|spec| {
            let n = Notification {
                at,
                tz,
                exit_code: 0,
                events: Vec::new(),
                report_markdown: None,
                report_json: None,
                test: true,
            };
            Delivery {
                destination: spec.id(),
                events: 0,
                failed: runtime.block_on(deliver(spec, &n, env, &http)).err(),
                dry_run: None,
            }
        })
        .collect())
}

/// Tries per delivery, and the time they may take in all.
const TRIES: u32 = 3;
const DELIVERY_TIME: Duration = Duration::from_secs(20);

/// A destination's URL and secret, as read from the environment. Neither is ever shown: the
/// URL of a bot holds its key.
struct Address {
    url: reqwest::Url,
    secret: Option<crate::tencent::Secret>,
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

impl NotifySpec {
    /// The URL and secret from the environment, the URL under the rule every client follows:
    /// `https://`, or plain `http://` to loopback only.
    fn address(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Address, AddressError> {
        let text = env(&self.url_env)
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| AddressError::UrlUnset {
                variable: self.url_env.clone(),
            })?;
        let url = reqwest::Url::parse(&text).map_err(|_| AddressError::NotUrl {
            variable: self.url_env.clone(),
        })?;
        crate::net::allowed(&url).map_err(|refused| AddressError::Refused {
            variable: self.url_env.clone(),
            refused,
        })?;
        let secret = match &self.secret_env {
            Some(name) => Some(
                env(name)
                    .filter(|s| !s.is_empty())
                    .map(crate::tencent::Secret::new)
                    .ok_or_else(|| AddressError::SecretUnset {
                        variable: name.clone(),
                    })?,
            ),
            None => None,
        };
        Ok(Address { url, secret })
    }
}

/// Refuses, before anything is sent, a destination whose URL is set but cannot be sent to (a
/// remote plain `http://`, not a URL): a configuration error. One whose variable is unset is a
/// failed delivery of that destination alone, tried again at the next run.
pub fn check_destinations(
    specs: &[NotifySpec],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Error> {
    for spec in specs {
        match spec.address(env) {
            Ok(_) | Err(AddressError::UrlUnset { .. } | AddressError::SecretUnset { .. }) => {}
            Err(e) => {
                return Err(Error::Usage(format!(
                    "[[notify]] {}: {e}; nothing was sent",
                    visible(&spec.id())
                )));
            }
        }
    }
    Ok(())
}

/// The one HTTP client for every destination: the config's trust and proxy, a short timeout.
pub fn http_client(net: &crate::net::Settings) -> Result<reqwest::Client, Error> {
    let settings = crate::net::Settings {
        timeout: Duration::from_secs(10),
        ..net.clone()
    };
    crate::net::client(
        &settings,
        crate::net::Route::Proxied,
        crate::net::Roots::Platform,
    )
    .map_err(|e| Error::Usage(format!("notifications: {e}")))
}

/// The request body and headers for `spec`'s kind, with its signature where it has a secret.
fn payload(
    spec: &NotifySpec,
    n: &Notification,
    address: &mut Address,
) -> (Vec<u8>, Vec<(&'static str, String)>) {
    let lang = spec.language;
    let now = Utc::now();
    let secret = address.secret.as_ref().map(|s| s.expose().to_string());
    let body: Value = match spec.kind {
        NotifyKind::Wecom => json!({
            "msgtype": "markdown",
            "markdown": {"content": notify::message(n, lang, Format::Markdown, 4096)},
        }),
        NotifyKind::Dingtalk => {
            if let Some(secret) = &secret {
                let ts = now.timestamp_millis();
                let sign = base64(&hmac(
                    secret.as_bytes(),
                    format!("{ts}\n{secret}").as_bytes(),
                ));
                address
                    .url
                    .query_pairs_mut()
                    .append_pair("timestamp", &ts.to_string())
                    .append_pair("sign", &sign);
            }
            json!({
                "msgtype": "markdown",
                "markdown": {"title": notify::title(n, lang), "text": notify::message(n, lang, Format::Markdown, 20_000)},
            })
        }
        NotifyKind::Feishu => {
            let mut body = json!({
                "msg_type": "text",
                "content": {"text": notify::message(n, lang, Format::FeishuText, 30_000)},
            });
            if let Some(secret) = &secret {
                let ts = now.timestamp();
                let sign = base64(&hmac(format!("{ts}\n{secret}").as_bytes(), b""));
                body["timestamp"] = json!(ts.to_string());
                body["sign"] = json!(sign);
            }
            body
        }
        NotifyKind::Slack => notify::slack_body(n, lang),
        NotifyKind::Webhook => notify::webhook_body(n),
    };
    let bytes = serde_json::to_vec(&body).expect("JSON values serialize");
    let mut headers = Vec::new();
    if spec.kind == NotifyKind::Webhook
        && let Some(secret) = &secret
    {
        headers.push((
            "X-Tcss-Audit-Signature",
            format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &bytes))),
        ));
    }
    (bytes, headers)
}

/// Builds the destination's request and sends it, retrying what may pass on a second try.
async fn deliver(
    spec: &NotifySpec,
    n: &Notification,
    env: &dyn Fn(&str) -> Option<String>,
    http: &reqwest::Client,
) -> Result<(), String> {
    let mut address = spec.address(env).map_err(|e| e.to_string())?;
    let (bytes, headers) = payload(spec, n, &mut address);
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = http
            .post(address.url.clone())
            .header("Content-Type", "application/json")
            .body(bytes.clone());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let outcome = match req.send().await {
            // A certificate that does not verify will not verify on a second try.
            Err(e) => Err((
                !crate::net::is_certificate_error(&e),
                format!("not reachable: {}", crate::net::describe(&e)),
            )),
            Ok(resp) => {
                let status = resp.status().as_u16();
                match crate::net::read_bounded(resp, crate::net::BOT_ANSWER_LIMIT).await {
                    Ok(body) => judge(spec.kind, status, &String::from_utf8_lossy(&body)),
                    Err(e) => Err((
                        matches!(e, crate::net::ReadError::Cut { .. }),
                        format!("HTTP {status}: {e}"),
                    )),
                }
            }
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err((retry, why)) => {
                if !retry || attempt >= TRIES || started.elapsed() >= DELIVERY_TIME {
                    return Err(if attempt > 1 {
                        format!("{why} (after {attempt} tries)")
                    } else {
                        why
                    });
                }
                tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
            }
        }
    }
}

/// Whether the destination took the message: `Err((retry, why))` if not.
fn judge(kind: NotifyKind, status: u16, body: &str) -> Result<(), (bool, String)> {
    let excerpt = || crate::net::excerpt(body.as_bytes(), 120);
    if status == 429 || status >= 500 {
        return Err((true, format!("HTTP {status}: {}", excerpt())));
    }
    if !(200..300).contains(&status) {
        return Err((false, format!("HTTP {status}: {}", excerpt())));
    }
    let json: Option<Value> = serde_json::from_str(body).ok();
    let code = |k: &str| json.as_ref().and_then(|j| j.get(k)).and_then(Value::as_i64);
    let msg = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(Value::as_str)
            .map(|m| visible(m).into_owned())
            .unwrap_or_default()
    };
    match kind {
        NotifyKind::Wecom | NotifyKind::Dingtalk => match code("errcode") {
            Some(0) => Ok(()),
            Some(c) => {
                let meaning = match (kind, c) {
                    (NotifyKind::Wecom, 45009) => "rate limited: at most 20 messages a minute",
                    (NotifyKind::Wecom, 40058) => "the message is too long",
                    (NotifyKind::Wecom, 93000) => "the robot's key is not valid",
                    (NotifyKind::Dingtalk, 310000) => "the signature or keyword check failed",
                    _ => "refused",
                };
                Err((
                    c == 45009,
                    format!("errcode {c} ({meaning}): {}", msg("errmsg")),
                ))
            }
            None => Err((
                false,
                format!("an answer that is not the robot's: {}", excerpt()),
            )),
        },
        NotifyKind::Feishu => match code("code").or_else(|| code("StatusCode")) {
            Some(0) => Ok(()),
            Some(c) => {
                let meaning = if c == 19021 {
                    "the signature check failed"
                } else {
                    "refused"
                };
                Err((false, format!("code {c} ({meaning}): {}", msg("msg"))))
            }
            None => Err((
                false,
                format!("an answer that is not the bot's: {}", excerpt()),
            )),
        },
        NotifyKind::Slack => {
            if body.trim() == "ok" {
                Ok(())
            } else {
                Err((false, format!("Slack answered {}", excerpt())))
            }
        }
        NotifyKind::Webhook => Ok(()),
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_targets_filter_takes_globs_and_empty_means_every_target() {
        let mut spec = NotifySpec {
            kind: NotifyKind::Webhook,
            url_env: "U".into(),
            secret_env: None,
            on: DEFAULT_ON.to_vec(),
            always: false,
            targets: vec![glob::Pattern::new("prod-*").unwrap()],
            language: Language::En,
            stale_after: chrono::Duration::hours(26),
        };
        assert!(spec.wants("prod-eu") && !spec.wants("staging"));
        spec.targets.clear();
        assert!(spec.wants("staging"));
    }
}

//! Notifications: what is new for each destination since it was last told (drift, new failures,
//! errors, recoveries, stale targets), delivered to WeCom, DingTalk, Feishu, Slack or a webhook
//! after the run's records and reports are stored. A delivery that fails is retried within a
//! bounded time, named, and tried again at the next run (what a destination was told is saved
//! only once it was told).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::{Error, ExitCode};
use crate::report::notify::{self, Event, EventKind, Language, Notification, RuleRef};
use crate::store::Store;
use crate::task::diff;
use crate::task::text::visible;

/// Where a destination is, as the config file's `[[notify]]` says.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySpec {
    pub kind: crate::notify::Kind,
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

impl NotifySpec {
    /// The destination's name in messages and in the database: its kind and the variable that
    /// holds its URL, never the URL.
    pub fn id(&self) -> String {
        format!("{}:{}", self.kind.name(), self.url_env)
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
    let event = |kind: EventKind, summary: String| plain_event(now, kind, summary);
    let mut events = Vec::new();
    let mut told = match &now.error {
        Some(e) => {
            if !prev.error {
                events.push(event(EventKind::Error, e.clone()));
            }
            Told {
                error: true,
                ..prev.clone()
            }
        }
        None => {
            events.extend(audited_events(lang, &prev, before.is_some(), now, store));
            Told {
                config_hash: now.config_hash.clone(),
                failing: now.failing.iter().map(|r| r.id.clone()).collect(),
                error: false,
                stale: false,
                first_seen: None,
            }
        }
    };
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
        events.push(event(
            EventKind::Stale,
            stale_summary(lang, hours, spec.stale_after.num_hours(), never),
        ));
    }
    told.stale = stale && !now.recorded;
    events.retain(|e| spec.always || spec.on.contains(&e.kind));
    (events, told)
}

/// What is new for a target audited in this run, against what was told (`prev`; `told_before`:
/// whether this destination was ever told of it): drift, rules newly failing, recovery.
fn audited_events(
    lang: Language,
    prev: &Told,
    told_before: bool,
    now: &TargetNow,
    store: &Store,
) -> Vec<Event> {
    let event = |kind: EventKind, summary: String| plain_event(now, kind, summary);
    let mut events = Vec::new();
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
        events.push(Event {
            changes: Some(changes),
            ..event(
                EventKind::Drift,
                words(
                    lang,
                    format!("changed: {fields}"),
                    format!("变更：{fields}"),
                ),
            )
        });
    }
    let newly: Vec<RuleRef> = now
        .failing
        .iter()
        .filter(|r| !prev.failing.contains(&r.id))
        .cloned()
        .collect();
    if !newly.is_empty() {
        let summary = failing_summary(lang, newly.len(), told_before);
        events.push(Event {
            rules: Some(newly),
            ..event(EventKind::NewFailure, summary)
        });
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
        events.push(event(EventKind::Recovered, summary));
    }
    events
}

/// An event about `now`'s target with no changes or rules attached.
fn plain_event(now: &TargetNow, kind: EventKind, summary: String) -> Event {
    Event {
        target: now.target.clone(),
        kind,
        summary,
        changes: None,
        rules: None,
    }
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
    exit_code: ExitCode,
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
            Some(http) if count > 0 || spec.always => runtime.block_on(spec.deliver(&n, env, http)),
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
                exit_code: ExitCode::Ok,
                events: Vec::new(),
                report_markdown: None,
                report_json: None,
                test: true,
            };
            Delivery {
                destination: spec.id(),
                events: 0,
                failed: runtime.block_on(spec.deliver(&n, env, &http)).err(),
                dry_run: None,
            }
        })
        .collect())
}

impl NotifySpec {
    /// Where this destination is, from the environment.
    fn address(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::notify::Address, crate::notify::AddressError> {
        crate::notify::Address::from_env(&self.url_env, self.secret_env.as_deref(), env)
    }

    /// Sends `n` to this destination.
    async fn deliver(
        &self,
        n: &Notification,
        env: &dyn Fn(&str) -> Option<String>,
        http: &reqwest::Client,
    ) -> Result<(), String> {
        let address = self.address(env).map_err(|e| e.to_string())?;
        crate::notify::deliver(self.kind, &address, n, self.language, http).await
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
            Err(e) if !e.is_unset() => {
                return Err(Error::Destination {
                    destination: visible(&spec.id()).into_owned(),
                    source: e,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

fn http_client(net: &crate::net::Settings) -> Result<reqwest::Client, Error> {
    crate::notify::http_client(net).map_err(|source| Error::Net {
        what: "notifications",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_targets_filter_takes_globs_and_empty_means_every_target() {
        let mut spec = NotifySpec {
            kind: crate::notify::Kind::parse("webhook").unwrap(),
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

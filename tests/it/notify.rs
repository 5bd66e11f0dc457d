//! Notifications, delivered to a real HTTP receiver on loopback that answers as each bot does:
//! the payloads and their signatures, the limits, the bots' error codes, and over a scripted
//! history of nights what is sent once, what is not sent again, and what is retried.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{Env, Run, SIM_ID, SIM_KEY, Sim, update};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Received>>,
    /// Per path: the status and body to answer (default 200 and the bot's "ok").
    answers: Mutex<HashMap<String, (u16, String)>>,
}

/// A receiver on an ephemeral loopback port, in a thread of its own.
struct Receiver {
    url: String,
    inbox: Arc<Inbox>,
}

impl Receiver {
    fn start() -> Receiver {
        let inbox = Arc::new(Inbox::default());
        let shared = inbox.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(take).with_state(shared);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Receiver {
            url: format!("http://{addr}"),
            inbox,
        }
    }

    fn answer(&self, path: &str, status: u16, body: &str) {
        self.inbox
            .answers
            .lock()
            .unwrap()
            .insert(path.to_string(), (status, body.to_string()));
    }

    fn got(&self, path: &str) -> Vec<Received> {
        self.inbox
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn take(
    State(inbox): State<Arc<Inbox>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = uri.path().to_string();
    inbox.got.lock().unwrap().push(Received {
        path: path.clone(),
        query: uri.query().unwrap_or("").to_string(),
        headers,
        body: body.to_vec(),
    });
    let answer = inbox.answers.lock().unwrap().get(&path).cloned();
    let (status, body) = answer.unwrap_or_else(|| {
        let ok = match path.as_str() {
            p if p.starts_with("/wecom") || p.starts_with("/dingtalk") => {
                r#"{"errcode":0,"errmsg":"ok"}"#
            }
            p if p.starts_with("/feishu") => r#"{"code":0,"msg":"success"}"#,
            p if p.starts_with("/slack") => "ok",
            _ => "",
        };
        (200, ok.to_string())
    });
    (StatusCode::from_u16(status).unwrap(), body)
}

/// A secret-looking part of each URL: it must never be shown.
const URL_KEY: &str = "0123456789abcdefSECRETWEBHOOKKEY";
const SECRET: &str = "SECsigningSECRETthatMustStayHidden";

fn base_params(scan_types: &[&str]) -> Value {
    json!({"Enable": true, "ScanPeriod": 1, "ScanTime": "03:00:00", "ScanType": scan_types})
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs the nightly job with the destinations' URLs and secrets in the environment.
fn run(env: &Env, cfg: &Path, urls: &[(&str, String)]) -> Run {
    run_with(env, cfg, urls, &[])
}

/// As [`run`], with more flags for `audit run`.
fn run_with(env: &Env, cfg: &Path, urls: &[(&str, String)], flags: &[&str]) -> Run {
    let out_dir = env.path("reports");
    let mut args = vec![
        "--config",
        cfg.to_str().unwrap(),
        "run",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    env.run_with(&args, |c| {
        c.env("TENCENTCLOUD_SECRET_ID", SIM_ID)
            .env("TENCENTCLOUD_SECRET_KEY", SIM_KEY)
            .env("HOOK_SECRET", SECRET);
        for (k, v) in urls {
            c.env(k, v);
        }
    })
}

#[test]
fn each_kind_gets_its_own_payload_signed_and_within_its_limit() {
    let sim = Sim::start(&[]);
    let rx = Receiver::start();
    let env = Env::new();
    let cfg = env.write(
        "config.toml",
        &format!(
            r#"
[[target]]
name = "prod"
endpoint = "{}"

[[notify]]
kind = "wecom"
url_env = "WECOM_URL"
on = ["always"]

[[notify]]
kind = "dingtalk"
url_env = "DINGTALK_URL"
secret_env = "HOOK_SECRET"
on = ["always"]
language = "zh"

[[notify]]
kind = "feishu"
url_env = "FEISHU_URL"
secret_env = "HOOK_SECRET"
on = ["always"]

[[notify]]
kind = "slack"
url_env = "SLACK_URL"
on = ["always"]

[[notify]]
kind = "webhook"
url_env = "HOOK_URL"
secret_env = "HOOK_SECRET"
on = ["always"]
"#,
            sim.url
        ),
    );
    let urls = vec![
        ("WECOM_URL", format!("{}/wecom?key={URL_KEY}", rx.url)),
        (
            "DINGTALK_URL",
            format!("{}/dingtalk?access_token={URL_KEY}", rx.url),
        ),
        ("FEISHU_URL", format!("{}/feishu/{URL_KEY}", rx.url)),
        ("SLACK_URL", format!("{}/slack/{URL_KEY}", rx.url)),
        ("HOOK_URL", format!("{}/hook/{URL_KEY}", rx.url)),
    ];
    let first = run(&env, &cfg, &urls);
    assert!(first.code <= 1, "{}", first.stderr);
    // A long drift: 80 images added.
    let mut params = base_params(&["vul", "risk"]);
    params["Images"] = Value::Array(
        (0..80)
            .map(|i| {
                json!({"ImageRepoAddress": format!("ccr.ccs.tencentyun.com/shop/app{i}:v1"),
                       "ImageName": format!("shop/app{i}"), "ImageTag": "v1", "InstanceId": "ins-1",
                       "InstanceName": "r", "Namespace": "shop", "RegistryType": "ccr",
                       "ImageDigest": format!("sha256:{i:064}"), "Force": "Force"})
            })
            .collect(),
    );
    update(&sim.url, params);
    let second = run(&env, &cfg, &urls);
    assert!(second.code <= 1, "{}", second.stderr);

    let wecom = rx.got("/wecom");
    assert_eq!(wecom.len(), 2, "always: a message each run");
    let body = wecom[1].json();
    assert_eq!(body["msgtype"], "markdown");
    let content = body["markdown"]["content"].as_str().unwrap();
    assert!(content.len() <= 4096, "{}", content.len());
    assert!(
        content.contains("left out") && content.contains("Report: "),
        "{content}"
    );

    let ding = &rx.got("/dingtalk")[1];
    let q: HashMap<String, String> = url::form_urlencoded::parse(ding.query.as_bytes())
        .into_owned()
        .collect();
    let ts = &q["timestamp"];
    assert_eq!(
        q["sign"],
        b64(&hmac(
            SECRET.as_bytes(),
            format!("{ts}\n{SECRET}").as_bytes()
        ))
    );
    assert_eq!(ding.json()["msgtype"], "markdown");
    assert!(
        ding.json()["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("配置发生变更")
    );

    let feishu = rx.got(&format!("/feishu/{URL_KEY}"))[1].json();
    let ts = feishu["timestamp"].as_str().unwrap();
    assert_eq!(
        feishu["sign"],
        b64(&hmac(format!("{ts}\n{SECRET}").as_bytes(), b""))
    );
    assert_eq!(feishu["msg_type"], "text");

    let slack = rx.got(&format!("/slack/{URL_KEY}"))[1].json();
    for b in slack["blocks"].as_array().unwrap() {
        assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 3000);
    }

    let hook = &rx.got(&format!("/hook/{URL_KEY}"))[1];
    let doc = hook.json();
    assert_eq!(doc["schema"], "tcss-audit/notification/v1");
    assert!(doc["report"]["json"].as_str().unwrap().ends_with(".json"));
    let drift = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "drift")
        .expect("a drift event");
    assert_eq!(drift["target"], "prod");
    assert!(drift["changes"].as_array().unwrap().len() >= 80);
    let sig = hook.headers["x-tcss-audit-signature"].to_str().unwrap();
    assert_eq!(
        sig,
        format!(
            "sha256={}",
            hex::encode(hmac(SECRET.as_bytes(), &hook.body))
        )
    );

    // The bots' own refusals are named, and make the run exit 3 with everything else done.
    rx.answer(
        "/wecom",
        200,
        r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
    );
    rx.answer(
        "/dingtalk",
        200,
        r#"{"errcode":310000,"errmsg":"sign not match"}"#,
    );
    rx.answer(
        &format!("/feishu/{URL_KEY}"),
        200,
        r#"{"code":19021,"msg":"sign match fail"}"#,
    );
    let refused = run(&env, &cfg, &urls).code(3);
    for code in ["45009", "310000", "19021"] {
        assert!(refused.stderr.contains(code), "{code}: {}", refused.stderr);
    }
    assert_eq!(
        env.rows("snapshots"),
        3,
        "the run recorded its snapshot all the same"
    );

    // No URL or secret anywhere.
    let mut printed = String::new();
    for r in [&first, &second, &refused] {
        printed.push_str(&r.stdout);
        printed.push_str(&r.stderr);
    }
    let files = crate::support::files_under(env.dir.path());
    for secret in [URL_KEY, SECRET] {
        assert!(!printed.contains(secret), "a secret was printed");
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !crate::support::holds(&bytes, secret.as_bytes()),
                "a secret is in {}",
                f.display()
            );
        }
    }
}

#[test]
fn over_a_history_of_nights_what_is_new_is_sent_once_and_a_failed_delivery_is_sent_later() {
    let sim = Sim::start(&[]);
    let rx = Receiver::start();
    let env = Env::new();
    let cfg = env.write(
        "config.toml",
        &format!(
            r#"
[[target]]
name = "prod"
endpoint = "{}"

[[notify]]
kind = "webhook"
url_env = "HOOK_URL"

[[notify]]
kind = "webhook"
url_env = "STALE_URL"
on = ["stale"]
stale_after = "3s"
"#,
            sim.url
        ),
    );
    let urls = vec![
        ("HOOK_URL", format!("{}/hook", rx.url)),
        ("STALE_URL", format!("{}/stale", rx.url)),
    ];
    let kinds = |r: &Received| -> Vec<String> {
        r.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    };
    update(&sim.url, base_params(&["vul", "risk", "virus"]));
    // Night 1: the destination was never told; nothing has drifted yet.
    run(&env, &cfg, &urls);
    let told = rx.got("/hook").len();
    // Night 2: nothing new, nothing sent.
    run(&env, &cfg, &urls);
    assert_eq!(rx.got("/hook").len(), told, "nothing new is not sent");
    // Night 3: virus scanning dropped: a drift and a new failure, sent once.
    update(&sim.url, base_params(&["vul", "risk"]));
    run(&env, &cfg, &urls);
    let got = rx.got("/hook");
    assert_eq!(got.len(), told + 1);
    let k = kinds(got.last().unwrap());
    assert!(
        k.contains(&"drift".into()) && k.contains(&"new-failure".into()),
        "{k:?}"
    );
    // Night 4: the same failure is not sent again.
    run(&env, &cfg, &urls);
    assert_eq!(
        rx.got("/hook").len(),
        told + 1,
        "the same failure is not sent again"
    );
    // Night 5: fixed: a drift and a recovery.
    update(&sim.url, base_params(&["vul", "risk", "virus"]));
    run(&env, &cfg, &urls);
    let got = rx.got("/hook");
    assert_eq!(got.len(), told + 2);
    assert!(kinds(got.last().unwrap()).contains(&"recovered".into()));
    // Night 6: the receiver is down: the run exits 3 and its records and reports are whole.
    rx.answer("/hook", 503, "down");
    update(&sim.url, base_params(&["vul"]));
    let before = env.rows("snapshots");
    let down = run(&env, &cfg, &urls).code(3);
    assert!(
        down.stderr
            .contains("notify webhook:HOOK_URL: not delivered"),
        "{}",
        down.stderr
    );
    assert_eq!(env.rows("snapshots"), before + 1);
    let md = down.stdout.lines().find(|l| l.ends_with(".md")).unwrap();
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("Notifications not delivered") && md.contains("HTTP 503"),
        "{md}"
    );
    // Night 7: up again: the drift of night 6 arrives now.
    rx.answer("/hook", 200, "");
    run(&env, &cfg, &urls);
    let got = rx.got("/hook");
    let last = got.last().unwrap().json();
    let drift = last["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "drift")
        .expect("the undelivered drift, delivered now");
    assert!(
        drift["summary"].as_str().unwrap().contains("ScanType"),
        "{drift}"
    );
    // A job that stopped: the next run after the gap says so.
    assert!(rx.got("/stale").is_empty(), "no gap yet");
    std::thread::sleep(std::time::Duration::from_secs(4));
    run(&env, &cfg, &urls);
    let stale = rx.got("/stale");
    assert_eq!(stale.len(), 1);
    assert_eq!(kinds(&stale[0]), ["stale"]);

    // A dry run prints what would be sent and sends nothing.
    update(&sim.url, base_params(&["vul", "risk", "virus"]));
    let n = rx.got("/hook").len();
    let dry = run_with(&env, &cfg, &urls, &["--notify-dry-run"]);
    assert!(dry.code <= 1, "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains("notify webhook:HOOK_URL (dry run, nothing sent)"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("\"kind\": \"drift\""), "{}", dry.stdout);
    assert_eq!(rx.got("/hook").len(), n, "nothing sent");
}

#[test]
fn a_chinese_message_is_in_the_configured_zone_with_an_absolute_report_path() {
    let sim = Sim::start(&[]);
    let rx = Receiver::start();
    let env = Env::new();
    let cfg = env.write(
        "config.toml",
        &format!(
            "timezone = \"Asia/Shanghai\"\n\n[[target]]\nname = \"prod\"\nendpoint = \"{}\"\n",
            sim.url
        ),
    );
    // Failing from the first night, before any destination exists.
    update(&sim.url, base_params(&["vul", "risk"]));
    let first = run(&env, &cfg, &[]);
    assert!(first.code <= 1, "{}", first.stderr);
    // A destination added later; the out dir given relative to the working directory.
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[[notify]]\nkind = \"wecom\"\nurl_env = \"WECOM_URL\"\nlanguage = \"zh\"\n");
    std::fs::write(&cfg, text).unwrap();
    let second = env.run_with(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--out-dir",
            "reports",
        ],
        |c| {
            c.env("TENCENTCLOUD_SECRET_ID", SIM_ID)
                .env("TENCENTCLOUD_SECRET_KEY", SIM_KEY)
                .env("WECOM_URL", format!("{}/wecom", rx.url));
        },
    );
    assert!(second.code <= 1, "{}", second.stderr);
    let got = rx.got("/wecom");
    assert_eq!(got.len(), 1, "{}", second.stderr);
    let content = got[0].json()["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        content.contains("+08:00"),
        "the run in the config's zone: {content}"
    );
    assert!(content.contains("项不合规"), "{content}");
    // Not told before: the rules are failing, not newly failing; and no English fixed words.
    for english in ["failing", "passed before", "Report", "changed"] {
        assert!(!content.contains(english), "{english} in {content}");
    }
    let path = content
        .lines()
        .find_map(|l| l.strip_prefix("报告："))
        .expect("the report's path");
    assert!(path.starts_with('/'), "an absolute path: {path}");
}

#[test]
fn a_target_that_never_recorded_a_snapshot_turns_stale() {
    let rx = Receiver::start();
    let env = Env::new();
    // Nothing listens on port 1: the target fails at every run and never records a snapshot.
    let cfg = env.write(
        "config.toml",
        "retries = 0\n\n[[target]]\nname = \"prod\"\nendpoint = \"http://127.0.0.1:1\"\n\n\
         [[notify]]\nkind = \"webhook\"\nurl_env = \"STALE_URL\"\non = [\"stale\"]\nstale_after = \"2s\"\n",
    );
    let urls = vec![("STALE_URL", format!("{}/stale", rx.url))];
    let first = run(&env, &cfg, &urls);
    assert_eq!(env.rows("snapshots"), 0, "{}", first.stderr);
    assert!(rx.got("/stale").is_empty(), "just seen: not stale yet");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let second = run(&env, &cfg, &urls);
    let stale = rx.got("/stale");
    assert_eq!(stale.len(), 1, "{}", second.stderr);
    let event = &stale[0].json()["events"][0];
    assert_eq!(event["kind"], "stale");
    assert_eq!(event["target"], "prod");
    run(&env, &cfg, &urls);
    assert_eq!(rx.got("/stale").len(), 1, "said once while it lasts");
}

#[test]
fn notify_test_sends_one_message_to_each_destination() {
    let rx = Receiver::start();
    let env = Env::new();
    let cfg = env.write(
        "config.toml",
        "[[notify]]\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n\n[[notify]]\nkind = \"wecom\"\nurl_env = \"WECOM_URL\"\n",
    );
    let out = env.run_with(
        &["--config", cfg.to_str().unwrap(), "notify", "test"],
        |c| {
            c.env("SLACK_URL", format!("{}/slack", rx.url))
                .env("WECOM_URL", format!("{}/wecom", rx.url));
        },
    );
    let out = out.ok();
    assert!(
        out.stdout.contains("slack:SLACK_URL: delivered"),
        "{}",
        out.stdout
    );
    assert_eq!(rx.got("/slack").len(), 1);
    assert!(
        rx.got("/wecom")[0].json()["markdown"]["content"]
            .as_str()
            .unwrap()
            .contains("test message")
    );
    // A destination whose URL variable is not set is named, exit 3.
    let missing = env
        .run(&["--config", cfg.to_str().unwrap(), "notify", "test"])
        .code(3);
    assert!(
        missing.stdout.contains("SLACK_URL is not set"),
        "{}",
        missing.stdout
    );
}

/// A destination's URL that may not be sent to (plain http:// off this machine) is a
/// configuration error before anything is sent or recorded; its URL is never shown.
#[test]
fn a_remote_plain_http_destination_is_refused_before_anything_is_sent() {
    let sim = Sim::start(&[]);
    let rx = Receiver::start();
    let env = Env::new();
    let cfg = env.write(
        "config.toml",
        &format!(
            "[[target]]\nname = \"prod\"\nendpoint = \"{}\"\n\n[[notify]]\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\non = [\"always\"]\n\n[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\n",
            sim.url
        ),
    );
    let remote = format!("http://hooks.example.com/{URL_KEY}");
    let urls = [
        ("SLACK_URL", format!("{}/slack", rx.url)),
        ("HOOK_URL", remote),
    ];
    let out = run(&env, &cfg, &urls).code(2);
    assert!(
        out.stderr.contains("HOOK_URL") && out.stderr.contains("loopback"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(URL_KEY) && !out.stdout.contains(URL_KEY));
    assert!(rx.got("/slack").is_empty(), "nothing was sent");
    assert!(!env.db().exists(), "nothing was recorded");
    let test = env.run_with(
        &["--config", cfg.to_str().unwrap(), "notify", "test"],
        |c| {
            for (k, v) in &urls {
                c.env(k, v);
            }
        },
    );
    assert_eq!(test.code, 2, "{}", test.stderr);
    assert!(rx.got("/slack").is_empty(), "nothing was sent");
}

/// A destination's answer is read to 64 KiB at most: a larger one is refused by its size.
#[test]
fn a_destination_answer_is_read_to_a_bound() {
    let rx = Receiver::start();
    rx.answer("/slack", 200, &"ok".repeat(40_000));
    let env = Env::new();
    let cfg = env.write(
        "config.toml",
        "[[notify]]\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n",
    );
    let out = env
        .run_with(
            &["--config", cfg.to_str().unwrap(), "notify", "test"],
            |c| {
                c.env("SLACK_URL", format!("{}/slack", rx.url));
            },
        )
        .code(3);
    assert!(
        out.stdout.contains("NOT delivered") && out.stdout.contains("65536"),
        "{}",
        out.stdout
    );
    assert_eq!(rx.got("/slack").len(), 1, "a refused size is not retried");
}

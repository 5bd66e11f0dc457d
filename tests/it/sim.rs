//! The stand-in endpoint over real HTTP on loopback: signatures, envelope, state, limit, faults.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tcss_audit::sim::{self, Fault, RunningSim, SimOptions};
use tcss_audit::task::clock::ManualClock;
use tcss_audit::tencent::sign::{self, SignInput};
use tcss_audit::tencent::{DESCRIBE, SERVICE, Secret, UPDATE, VERSION};

const ID: &str = "AKIDsimTEST0000000000000000000001";
const KEY: &str = "simTestSecretKey000000000000001";
const ID2: &str = "AKIDsimTEST0000000000000000000002";
const KEY2: &str = "simTestSecretKey000000000000002";
const NOW: i64 = 1_764_288_000;

fn clock() -> ManualClock {
    ManualClock::new(DateTime::<Utc>::from_timestamp(NOW, 0).unwrap())
}

async fn start_with(faults: Vec<Fault>, clock: &ManualClock) -> RunningSim {
    sim::start(SimOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_file: None,
        credentials: vec![
            (ID.into(), Secret::new(KEY)),
            (ID2.into(), Secret::new(KEY2)),
        ],
        latency: Duration::ZERO,
        faults,
        rate_limit: 20,
        clock: Arc::new(clock.clone()),
        accounts_file: None,
        temp_lifetime: None,
        tls: None,
    })
    .await
    .expect("the stand-in starts")
}

/// One request to sign and send; each field can be bent to test one rule.
struct Call {
    id: &'static str,
    key: &'static str,
    action: &'static str,
    version: &'static str,
    timestamp: i64,
    body: String,
    signed: &'static [&'static str],
    /// Replaces the body after signing.
    tamper: Option<String>,
}

impl Call {
    fn new(action: &'static str, body: Value) -> Self {
        Call {
            id: ID,
            key: KEY,
            action,
            version: VERSION,
            timestamp: NOW,
            body: body.to_string(),
            signed: &["content-type", "host"],
            tamper: None,
        }
    }

    fn request(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        let host = url.trim_start_matches("http://");
        let value_of = |name: &str| match name {
            "content-type" => "application/json; charset=utf-8",
            "host" => host,
            "x-tc-action" => self.action,
            other => panic!("no value for {other}"),
        };
        let headers: Vec<(&str, &str)> = self.signed.iter().map(|n| (*n, value_of(n))).collect();
        let signed = sign::sign(&SignInput {
            secret_id: self.id,
            secret_key: self.key,
            service: SERVICE,
            timestamp: self.timestamp,
            headers: &headers,
            payload: self.body.as_bytes(),
        });
        client
            .post(format!("{url}/"))
            .header("Content-Type", "application/json; charset=utf-8")
            .header("X-TC-Action", self.action)
            .header("X-TC-Version", self.version)
            .header("X-TC-Timestamp", self.timestamp.to_string())
            .header("X-TC-Region", "ap-guangzhou")
            .header("Authorization", signed.authorization)
            .body(self.tamper.clone().unwrap_or_else(|| self.body.clone()))
    }

    async fn send(&self, sim: &RunningSim) -> Value {
        let resp = self.request(&client(), &sim.url()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("a JSON answer")
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn error_code(answer: &Value) -> Option<&str> {
    answer["Response"]["Error"]["Code"].as_str()
}

fn assert_request_id(answer: &Value) {
    let id = answer["Response"]["RequestId"]
        .as_str()
        .expect("a RequestId");
    assert_eq!(id.len(), 36, "{id}");
}

fn seed() -> Value {
    let mut v: Value =
        serde_json::from_str(include_str!("../fixtures/api/describe_seed_example.json")).unwrap();
    v["Response"].as_object_mut().unwrap().remove("RequestId");
    v["Response"].take()
}

#[tokio::test]
async fn describe_answers_the_reference_example_in_the_envelope() {
    let clock = clock();
    let sim = start_with(vec![], &clock).await;
    let resp = Call::new(DESCRIBE, json!({}))
        .request(&client(), &sim.url())
        .send()
        .await
        .unwrap();
    let date = resp.headers()["date"].to_str().unwrap().to_string();
    assert_eq!(
        date, "Fri, 28 Nov 2025 00:00:00 GMT",
        "the Date header follows the sim clock"
    );
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&answer), None, "{answer}");
    assert_request_id(&answer);
    let mut got = answer["Response"].clone();
    got.as_object_mut().unwrap().remove("RequestId");
    // The task is on, so the stand-in has run its daily 03:00 (Beijing) scan: the status fields
    // are the simulation's; everything else is the reference example.
    let status = got.as_object_mut().unwrap();
    assert_eq!(
        status.remove("LastScanTime"),
        Some(json!("2025-11-28 03:10:00"))
    );
    assert_eq!(status.remove("ScanResult"), Some(json!("Success")));
    // The optional fields the example has no value for come as null, as the real API sends them.
    for name in [
        "ScanEndTime",
        "RegistryType",
        "ContainerRunning",
        "ScanScope",
        "Namespace",
        "ExcludeImageAssetIds",
    ] {
        assert_eq!(status.remove(name), Some(Value::Null), "{name}");
    }
    assert_eq!(got, seed());
    assert_eq!(got["All"], json!(false));

    let again = Call::new(DESCRIBE, json!({})).send(&sim).await;
    assert_ne!(
        again["Response"]["RequestId"],
        answer["Response"]["RequestId"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn update_changes_what_describe_answers_and_keeps_the_rest() {
    let clock = clock();
    let sim = start_with(vec![], &clock).await;
    let update =
        json!({"ScanPeriod": 7, "Enable": false, "ScanTime": "18:10", "ScanType": ["vul"]});
    let answer = Call::new(UPDATE, update).send(&sim).await;
    assert_eq!(error_code(&answer), None, "{answer}");
    assert_request_id(&answer);
    assert_eq!(
        answer["Response"].as_object().unwrap().len(),
        1,
        "only a RequestId: {answer}"
    );

    let now = Call::new(DESCRIBE, json!({})).send(&sim).await["Response"].clone();
    assert_eq!(now["Enable"], json!(false));
    assert_eq!(now["ScanPeriod"], json!(7));
    assert_eq!(now["ScanTime"], json!("18:10"));
    assert_eq!(now["ScanType"], json!(["vul"]));
    assert_eq!(now["Images"], seed()["Images"], "fields not given are kept");
    assert_eq!(sim.state()["Enable"], json!(false));
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_updates_are_refused_with_tencents_codes_and_change_nothing() {
    let clock = clock();
    let sim = start_with(vec![], &clock).await;
    let cases = [
        (
            json!({"Enable": true, "ScanTime": "03:00:00"}),
            "MissingParameter",
        ),
        (
            json!({"ScanPeriod": "1", "Enable": true, "ScanTime": "03:00:00"}),
            "InvalidParameter",
        ),
        (
            json!({"ScanPeriod": 1, "Enable": true, "ScanTime": "3 am"}),
            "InvalidParameterValue",
        ),
        (
            json!({"ScanPeriod": 1, "Enable": false, "ScanTime": "03:00", "Bogus": 1}),
            "UnknownParameter",
        ),
    ];
    for (body, code) in cases {
        let answer = Call::new(UPDATE, body.clone()).send(&sim).await;
        assert_eq!(error_code(&answer), Some(code), "{body}: {answer}");
        assert_request_id(&answer);
    }
    let mut not_json = Call::new(UPDATE, json!({}));
    not_json.body = "{\"Enable\":".into();
    assert_eq!(
        error_code(&not_json.send(&sim).await),
        Some("InvalidParameter")
    );
    assert_eq!(Value::Object(sim.state()), seed());

    let unknown_param = Call::new(DESCRIBE, json!({"Limit": 1})).send(&sim).await;
    assert_eq!(error_code(&unknown_param), Some("UnknownParameter"));
    let mut action = Call::new(DESCRIBE, json!({}));
    action.action = "DescribeEverything";
    assert_eq!(error_code(&action.send(&sim).await), Some("InvalidAction"));
    let mut version = Call::new(DESCRIBE, json!({}));
    version.version = "2018-01-01";
    assert_eq!(error_code(&version.send(&sim).await), Some("NoSuchVersion"));
    sim.shutdown().await;
}

#[tokio::test]
async fn signatures_are_checked_as_tencent_checks_them() {
    let clock = clock();
    let sim = start_with(vec![], &clock).await;

    let mut wrong_key = Call::new(DESCRIBE, json!({}));
    wrong_key.key = KEY2;
    assert_eq!(
        error_code(&wrong_key.send(&sim).await),
        Some("AuthFailure.SignatureFailure")
    );

    let mut unknown = Call::new(DESCRIBE, json!({}));
    unknown.id = "AKIDnobody";
    assert_eq!(
        error_code(&unknown.send(&sim).await),
        Some("AuthFailure.SecretIdNotFound")
    );

    for (offset, code) in [
        (301, Some("AuthFailure.SignatureExpire")),
        (-301, Some("AuthFailure.SignatureExpire")),
        (299, None),
        (-299, None),
    ] {
        let mut call = Call::new(DESCRIBE, json!({}));
        call.timestamp = NOW + offset;
        let answer = call.send(&sim).await;
        assert_eq!(error_code(&answer), code, "offset {offset}: {answer}");
    }

    let mut page_style = Call::new(DESCRIBE, json!({}));
    page_style.signed = &["content-type", "host", "x-tc-action"];
    assert_eq!(error_code(&page_style.send(&sim).await), None);

    let mut no_host = Call::new(DESCRIBE, json!({}));
    no_host.signed = &["content-type"];
    let answer = no_host.send(&sim).await;
    assert_eq!(
        error_code(&answer),
        Some("AuthFailure.InvalidAuthorization")
    );
    assert!(
        answer["Response"]["Error"]["Message"]
            .as_str()
            .unwrap()
            .contains("host")
    );

    let mut tampered = Call::new(
        UPDATE,
        json!({"ScanPeriod": 1, "Enable": true, "ScanTime": "03:00:00"}),
    );
    tampered.tamper =
        Some(json!({"ScanPeriod": 1, "Enable": false, "ScanTime": "03:00:00"}).to_string());
    assert_eq!(
        error_code(&tampered.send(&sim).await),
        Some("AuthFailure.SignatureFailure")
    );
    assert_eq!(
        sim.state()["Enable"],
        json!(true),
        "a tampered update does nothing"
    );

    // The sim clock moves; a client that keeps its old timestamp goes stale.
    clock.advance(chrono::Duration::seconds(301));
    let stale = Call::new(DESCRIBE, json!({})).send(&sim).await;
    assert_eq!(error_code(&stale), Some("AuthFailure.SignatureExpire"));
    assert!(sim.counters().auth_failures >= 6);
    sim.shutdown().await;
}

#[tokio::test]
async fn missing_or_malformed_headers_get_their_own_codes() {
    let clock = clock();
    let sim = start_with(vec![], &clock).await;
    let c = client();
    let call = Call::new(DESCRIBE, json!({}));

    let bare = c
        .post(sim.url())
        .header("Content-Type", "application/json")
        .body("{}");
    let answer: Value = bare.send().await.unwrap().json().await.unwrap();
    assert_eq!(error_code(&answer), Some("MissingParameter"), "{answer}");

    let no_auth = c
        .post(sim.url())
        .header("Content-Type", "application/json")
        .header("X-TC-Action", DESCRIBE)
        .header("X-TC-Version", VERSION)
        .header("X-TC-Timestamp", NOW.to_string())
        .body("{}");
    let answer: Value = no_auth.send().await.unwrap().json().await.unwrap();
    assert_eq!(
        error_code(&answer),
        Some("AuthFailure.InvalidAuthorization"),
        "{answer}"
    );

    let garbled = call
        .request(&c, &sim.url())
        .header("Authorization", "TC3-HMAC-SHA256 Credential=x");
    let answer: Value = garbled.send().await.unwrap().json().await.unwrap();
    assert_eq!(
        error_code(&answer),
        Some("AuthFailure.InvalidAuthorization"),
        "{answer}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_twenty_first_request_in_a_second_is_limited_for_that_secret_id_only() {
    let clock = clock();
    let sim = start_with(vec![], &clock).await;
    let c = client();
    // Sent together so that all 21 arrive well within one second.
    let sends = (0..21).map(|_| {
        let req = Call::new(DESCRIBE, json!({})).request(&c, &sim.url());
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    });
    let answers = futures_join_all(sends).await;
    let limited = answers
        .iter()
        .filter(|a| error_code(a) == Some("RequestLimitExceeded"))
        .count();
    assert_eq!(limited, 1, "{answers:?}");
    assert_eq!(sim.counters().rate_limited, 1);

    let mut other = Call::new(DESCRIBE, json!({}));
    other.id = ID2;
    other.key = KEY2;
    assert_eq!(error_code(&other.send(&sim).await), None);
    sim.shutdown().await;
}

/// Runs futures concurrently on the current task (the crate has no `futures` dependency).
async fn futures_join_all<F: std::future::Future<Output = Value> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<Value> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn the_fault_script_is_used_in_order_then_answers_are_normal() {
    let clock = clock();
    let faults =
        sim::parse_faults("http500,http503,garbage,truncate,limit,internal,auth,ok").unwrap();
    let sim = start_with(faults, &clock).await;
    let c = client();
    let send = || async {
        let resp = Call::new(DESCRIBE, json!({}))
            .request(&c, &sim.url())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap())
    };

    let (status, body) = send().await;
    assert_eq!(status, 500);
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert_eq!(send().await.0, 503);
    let (status, body) = send().await;
    assert_eq!(status, 200);
    assert!(
        serde_json::from_slice::<Value>(&body).is_err(),
        "garbage is not JSON"
    );

    let (status, body) = send().await;
    assert_eq!(status, 200);
    assert!(
        serde_json::from_slice::<Value>(&body).is_err(),
        "a truncated answer does not parse"
    );
    let text = String::from_utf8_lossy(&body);
    assert!(text.starts_with("{\"Response\":{"), "{text}");

    for code in [
        "RequestLimitExceeded",
        "InternalError",
        "AuthFailure.SignatureFailure",
    ] {
        let (status, body) = send().await;
        assert_eq!(status, 200);
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error_code(&answer), Some(code));
        assert_request_id(&answer);
    }
    for _ in 0..2 {
        let (status, body) = send().await;
        assert_eq!(status, 200);
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            error_code(&answer),
            None,
            "ok, then the script is used up: {answer}"
        );
    }
    assert_eq!(sim.faults_remaining(), 0);
    assert_eq!(sim.counters().faults_injected, 7);
    assert_eq!(
        sim.counters().rate_limited,
        0,
        "a scripted limit is not the real limit"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_hang_makes_the_client_time_out_and_shutdown_still_finishes() {
    let clock = clock();
    let sim = start_with(vec![Fault::Hang], &clock).await;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let err = Call::new(DESCRIBE, json!({}))
        .request(&c, &sim.url())
        .send()
        .await
        .expect_err("no answer comes");
    assert!(err.is_timeout(), "{err}");
    let after = Call::new(DESCRIBE, json!({})).send(&sim).await;
    assert_eq!(error_code(&after), None, "the next request is answered");

    let sim2 = start_with(vec![Fault::Hang], &clock).await;
    let url2 = sim2.url();
    let pending = tokio::spawn(async move {
        Call::new(DESCRIBE, json!({}))
            .request(&client(), &url2)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(8), sim2.shutdown())
        .await
        .expect("shutdown ends a hanging request");
    let _ = pending.await;
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_is_added_before_the_answer() {
    let clock = clock();
    let sim = sim::start(SimOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_file: None,
        credentials: vec![(ID.into(), Secret::new(KEY))],
        latency: Duration::from_millis(1500),
        faults: vec![],
        rate_limit: 20,
        clock: Arc::new(clock.clone()),
        accounts_file: None,
        temp_lifetime: None,
        tls: None,
    })
    .await
    .unwrap();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = Call::new(DESCRIBE, json!({}))
        .request(&c, &sim.url())
        .send()
        .await
        .expect_err("the answer comes after the client's timeout");
    assert!(err.is_timeout(), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_state_file_is_served_and_updates_are_written_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("task.json");
    std::fs::write(
        &path,
        r#"{"Response": {"Enable": true, "ScanPeriod": 1, "ScanTime": "02:00:00", "Future": {"x": 1}, "RequestId": "old"}}"#,
    )
    .unwrap();
    let clock = clock();
    let sim = sim::start(SimOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_file: Some(path.clone()),
        credentials: vec![(ID.into(), Secret::new(KEY))],
        latency: Duration::ZERO,
        faults: vec![],
        rate_limit: 20,
        clock: Arc::new(clock.clone()),
        accounts_file: None,
        temp_lifetime: None,
        tls: None,
    })
    .await
    .unwrap();
    let answer = Call::new(DESCRIBE, json!({})).send(&sim).await;
    assert_eq!(answer["Response"]["ScanTime"], json!("02:00:00"));
    assert_eq!(answer["Response"]["Future"], json!({"x": 1}));
    assert_ne!(answer["Response"]["RequestId"], json!("old"));

    let update = json!({"ScanPeriod": 3, "Enable": false, "ScanTime": "04:00:00"});
    assert_eq!(
        error_code(&Call::new(UPDATE, update).send(&sim).await),
        None
    );
    sim.shutdown().await;
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        saved,
        json!({"Response": {"Enable": false, "ScanPeriod": 3, "ScanTime": "04:00:00", "Future": {"x": 1}}})
    );
}

#[tokio::test]
async fn start_refuses_a_bad_state_file_and_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "not json").unwrap();
    let opts = |state_file, credentials| SimOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_file,
        credentials,
        latency: Duration::ZERO,
        faults: vec![],
        rate_limit: 20,
        clock: Arc::new(clock()),
        accounts_file: None,
        temp_lifetime: None,
        tls: None,
    };
    let err = sim::start(opts(
        Some(path.clone()),
        vec![(ID.into(), Secret::new(KEY))],
    ))
    .await
    .err()
    .expect("a bad state file is refused");
    assert!(err.to_string().contains("bad.json"), "{err}");
    let err = sim::start(opts(None, vec![]))
        .await
        .err()
        .expect("no credentials is refused");
    assert!(matches!(err, sim::SimError::NoCredentials));
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_prints_its_url_serves_a_credentials_file_and_stops_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("fleet.txt");
    std::fs::write(&creds, format!("# fleet\nAKIDother otherkey\n{ID}={KEY}\n")).unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("audit"))
        .args(["-v", "sim", "--credentials-file"])
        .arg(&creds)
        .env("TCSS_AUDIT_NOW", "2025-11-28T00:00:00Z")
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");

    let answer: Value = Call::new(DESCRIBE, json!({}))
        .request(&client(), &url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error_code(&answer), None, "{answer}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(ID),
        "one line per request names the SecretId: {log}"
    );
    assert!(!log.contains(KEY), "the key never reaches the log: {log}");
}

#[test]
fn an_update_can_be_refused_or_accepted_without_taking() {
    let sim = crate::support::Sim::start(&["--faults", "refuse,notake"]);
    let client =
        crate::support::sim_client(&sim.url, tcss_audit::tencent::ClientOptions::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let params = serde_json::json!({"Enable": false, "ScanPeriod": 3, "ScanTime": "04:00"});
    let refused = rt.block_on(client.update(&params)).unwrap_err();
    assert!(
        refused.to_string().contains("UnauthorizedOperation"),
        "{refused}"
    );
    // Accepted, with a RequestId, but the task is as it was.
    let id = rt.block_on(client.update(&params)).unwrap();
    assert_eq!(id.len(), 36);
    let now = rt.block_on(client.describe()).unwrap();
    assert_eq!(
        now.answer.fields["ScanPeriod"], 1,
        "the Update did not take"
    );
    // The script is used up: the next Update takes.
    rt.block_on(client.update(&params)).unwrap();
    let now = rt.block_on(client.describe()).unwrap();
    assert_eq!(now.answer.fields["ScanPeriod"], 3);
}

/// A request to the real binary's stand-in, signed now with its credential.
async fn to_binary(sim: &crate::support::Sim, action: &'static str, body: Value) -> Value {
    let call = Call {
        id: crate::support::SIM_ID,
        key: crate::support::SIM_KEY,
        timestamp: Utc::now().timestamp(),
        ..Call::new(action, body)
    };
    call.send_to(&sim.url).await
}

impl Call {
    async fn send_to(&self, url: &str) -> Value {
        let resp = self.request(&client(), url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("a JSON answer")
    }
}

#[tokio::test]
async fn an_old_style_signature_is_told_that_only_tc3_is_accepted() {
    let sim = crate::support::Sim::start(&[]);
    let now = Utc::now().timestamp();
    let common = format!(
        "Action={DESCRIBE}&Version={VERSION}&SecretId={}&Timestamp={now}&Nonce=11886&Region=ap-guangzhou",
        crate::support::SIM_ID
    );
    // v2 in the query (GET), then v1 in a form (POST) with no method named: HmacSHA1, its default.
    let get = client()
        .get(format!(
            "{}/?{common}&SignatureMethod=HmacSHA256&Signature=bm90LWNoZWNrZWQ%3D",
            sim.url
        ))
        .send();
    let post = client()
        .post(format!("{}/", sim.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("{common}&Signature=bm90LWNoZWNrZWQ%3D"))
        .send();
    for (answer, method) in [(get.await, "HmacSHA256"), (post.await, "HmacSHA1")] {
        let answer: Value = answer.unwrap().json().await.unwrap();
        assert_eq!(
            error_code(&answer),
            Some("AuthFailure.SignatureFailure"),
            "{answer}"
        );
        let message = answer["Response"]["Error"]["Message"].as_str().unwrap();
        assert!(
            message.contains(method) && message.contains("only TC3-HMAC-SHA256"),
            "{message}"
        );
        assert_request_id(&answer);
    }
}

#[tokio::test]
async fn optional_fields_without_a_value_are_answered_as_null() {
    let env = crate::support::Env::new();
    // Off, so it has never scanned; ScanScope set, so it is answered with its value.
    let state = env.write(
        "state.json",
        r#"{"Enable": false, "ScanTime": "03:00", "ScanPeriod": 1, "ScanType": ["vul"], "ScanScope": 0}"#,
    );
    let sim = crate::support::Sim::start_in(Some(&state), &[]);
    let answer = to_binary(&sim, DESCRIBE, json!({})).await;
    let got = &answer["Response"];
    for name in [
        "ScanEndTime",
        "RegistryType",
        "ContainerRunning",
        "Namespace",
        "ExcludeImageAssetIds",
        "LastScanTime",
        "ScanResult",
    ] {
        assert_eq!(got.get(name), Some(&Value::Null), "{name}: {answer}");
    }
    assert_eq!(got["ScanScope"], json!(0));
    assert!(
        got.get("Images").is_none(),
        "only the nullable fields are added: {answer}"
    );
    // What is answered as null is not written into the state.
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(kept.get("RegistryType").is_none(), "{kept}");
}

#[tokio::test]
async fn an_update_keeps_the_status_of_the_last_scan() {
    let sim = crate::support::Sim::start(&[]);
    // The reference task is on: its daily scan has run. An operator switches it off and a
    // restore switches it on again, before anyone has read it.
    let off = json!({"Enable": false, "ScanPeriod": 1, "ScanTime": "03:00:00"});
    let on = json!({"Enable": true, "ScanPeriod": 1, "ScanTime": "03:00:00"});
    for update in [off, on] {
        let answer = to_binary(&sim, UPDATE, update).await;
        assert_eq!(error_code(&answer), None, "{answer}");
    }
    let answer = to_binary(&sim, DESCRIBE, json!({})).await;
    let got = &answer["Response"];
    assert_eq!(got["ScanResult"], json!("Success"), "{answer}");
    let last = got["LastScanTime"]
        .as_str()
        .unwrap_or_else(|| panic!("no LastScanTime: {answer}"));
    let last = chrono::NaiveDateTime::parse_from_str(last, "%Y-%m-%d %H:%M:%S").unwrap();
    let beijing_now = (Utc::now() + chrono::Duration::hours(8)).naive_utc();
    let age = beijing_now - last;
    assert!(
        age <= chrono::Duration::hours(24) && age >= -chrono::Duration::minutes(10),
        "the last daily scan, not a new one: {last}"
    );
}

#[test]
fn a_credentials_file_adds_to_the_keys_of_the_environment() {
    let env = crate::support::Env::new();
    const FILE_ID: &str = "AKIDsimFILE0000000000000000000001";
    const FILE_KEY: &str = "simFileSecretKey000000000000001";
    let file = env.write("keys.txt", &format!("{FILE_ID} {FILE_KEY}\n"));
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("audit"));
    c.args(["sim", "--listen", "127.0.0.1:0", "--credentials-file"])
        .arg(&file)
        .env("TENCENTCLOUD_SECRET_ID", crate::support::SIM_ID)
        .env("TENCENTCLOUD_SECRET_KEY", crate::support::SIM_KEY)
        .env_remove("TCSS_AUDIT_NOW")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let sim = crate::support::Sim {
        child,
        url: line.trim().to_string(),
    };
    env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    env.run_with(&["snapshot", "--endpoint", &sim.url], |c| {
        c.env("TENCENTCLOUD_SECRET_ID", FILE_ID)
            .env("TENCENTCLOUD_SECRET_KEY", FILE_KEY);
    })
    .ok();
    assert_eq!(env.rows("snapshots"), 2);
}

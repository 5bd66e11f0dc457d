//! Micro-benchmarks of the hot paths: signing a request, normalizing and hashing an answer,
//! diffing two configs, and evaluating the shipped policies on one snapshot with 30 days behind it.

use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use tcss_audit::policy::{self, CheckInput, Observation, evaluate};
use tcss_audit::task::diff;
use tcss_audit::task::normalize::{self, Config};
use tcss_audit::tencent::model;
use tcss_audit::tencent::sign::{SignInput, sign};

const ANSWER: &str = include_str!("../tests/fixtures/api/describe_seed_example.json");

fn fields(raw: &[u8]) -> Map<String, Value> {
    let (_, answer) = model::parse_any(raw).expect("the fixture parses");
    answer.fields
}

/// The fixture with `n` more images and the status fields, as a busy account would answer.
fn bigger_answer(n: usize) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(ANSWER).unwrap();
    let inner = v["Response"].as_object_mut().unwrap();
    let images = inner["Images"].as_array_mut().unwrap();
    for i in 0..n {
        images.push(json!({
            "ImageDigest": format!("sha256:{i:064x}"),
            "RegistryType": "ccr",
            "ImageRepoAddress": format!("ccr.ccs.tencentyun.com/app/svc{i}:v1"),
            "InstanceId": "ins-12345678",
            "InstanceName": "registry",
            "Namespace": "prod",
            "ImageName": format!("app/svc{i}"),
            "ImageTag": "v1",
            "Force": "Force",
        }));
    }
    inner.insert("LastScanTime".into(), json!("2026-11-28 03:10:00"));
    inner.insert("ScanResult".into(), json!("success"));
    serde_json::to_vec(&v).unwrap()
}

fn bench_sign(c: &mut Criterion) {
    let payload = br#"{"Limit":10}"#;
    let headers = [
        ("content-type", "application/json; charset=utf-8"),
        ("host", "tcss.tencentcloudapi.com"),
        ("x-tc-action", "describeimageregistrytimingscantask"),
    ];
    c.bench_function("sign_request", |b| {
        b.iter(|| {
            sign(black_box(&SignInput {
                secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                secret_key: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                service: "tcss",
                timestamp: 1_764_298_800,
                headers: &headers,
                payload,
            }))
        })
    });
}

fn bench_normalize(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalize_and_hash");
    for images in [1usize, 20] {
        let raw = bigger_answer(images - 1);
        group.bench_function(format!("{images}_images"), |b| {
            b.iter(|| {
                let f = fields(black_box(&raw));
                let config = normalize::normalize(&f);
                (normalize::config_hash(&config), normalize::status_of(&f))
            })
        });
    }
    group.finish();
}

fn changed(config: &Config) -> Config {
    let mut c = config.as_map().clone();
    c.insert("Enable".into(), json!(false));
    c.insert("ScanType".into(), json!(["risk", "vul"]));
    if let Some(Value::Array(images)) = c.get_mut("Images") {
        images.remove(0);
        if let Some(first) = images.first_mut() {
            first["ImageDigest"] = json!("sha256:changed");
        }
    }
    normalize::normalize(&c)
}

fn bench_diff(c: &mut Criterion) {
    let old = normalize::normalize(&fields(&bigger_answer(19)));
    let new = changed(&old);
    c.bench_function("diff_two_configs_20_images", |b| {
        b.iter(|| diff::diff(black_box(&old), black_box(&new)))
    });
}

fn bench_policies(c: &mut Criterion) {
    let set = policy::builtin().set;
    let f = fields(&bigger_answer(2));
    let config = normalize::normalize(&f);
    let status = normalize::status_of(&f);
    let now: DateTime<Utc> = "2026-11-28T19:00:00Z".parse().unwrap();
    let hash = normalize::config_hash(&config);
    let history: Vec<Observation> = (0..31)
        .map(|i| Observation {
            snapshot_id: i + 1,
            at: now - Duration::days(30 - i),
            config: config.clone(),
            config_hash: hash.clone(),
            status: status.clone(),
        })
        .collect();
    let current = history.last().unwrap();
    c.bench_function("evaluate_shipped_policies_30_nights", |b| {
        b.iter(|| {
            evaluate(
                black_box(&set),
                &CheckInput {
                    target: "prod",
                    now,
                    current,
                    history: &history,
                    times: tcss_audit::policy::Times::default(),
                    baseline: None,
                },
            )
        })
    });
}

criterion_group!(
    benches,
    bench_sign,
    bench_normalize,
    bench_diff,
    bench_policies
);
criterion_main!(benches);

//! Generates the benchmark's reproducible fleet history: records it through the library into a
//! scratch database (so the export carries real chain hashes) and writes the same history as a
//! `git fast-import` stream, one JSON file per target and one commit per night.
//!
//! ```text
//! cargo run --release --example gen_history -- --targets 1000 --nights 365 --seed 42 \
//!     --end 2026-12-31 --db scratch.db --git-stream history.fi [--signing-key KEY]
//! ```
//!
//! With `--signing-key`, each night's batch stores its own signed checkpoint, as a nightly
//! `audit run` with a key does.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use tcss_audit::store::{NewSnapshot, OpenMode, Store};
use tcss_audit::task::normalize;
use tcss_audit::task::source::Source;

/// SplitMix64: tiny, seeded, and the same on every platform and crate version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(len);
        s
    }
}

struct Args {
    targets: usize,
    nights: i64,
    seed: u64,
    end: NaiveDate,
    db: PathBuf,
    git_stream: Option<PathBuf>,
    change_per_mille: u64,
    signing_key: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut a = Args {
        targets: 1000,
        nights: 365,
        seed: 42,
        end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        db: PathBuf::from("scratch.db"),
        git_stream: None,
        change_per_mille: 20,
        signing_key: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| die(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--targets" => a.targets = val().parse().unwrap_or_else(|_| die("bad --targets")),
            "--nights" => a.nights = val().parse().unwrap_or_else(|_| die("bad --nights")),
            "--seed" => a.seed = val().parse().unwrap_or_else(|_| die("bad --seed")),
            "--end" => a.end = val().parse().unwrap_or_else(|_| die("bad --end")),
            "--db" => a.db = val().into(),
            "--git-stream" => a.git_stream = Some(val().into()),
            "--signing-key" => a.signing_key = Some(val().into()),
            "--change-per-mille" => {
                a.change_per_mille = val().parse().unwrap_or_else(|_| die("bad value"))
            }
            other => die(&format!("unknown flag {other}")),
        }
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("gen_history: {msg}");
    std::process::exit(2)
}

pub fn target_name(i: usize) -> String {
    format!("t{i:04}")
}

fn image(rng: &mut Rng) -> Value {
    let n = rng.below(1000);
    let repo = format!("app{}/svc{}", rng.below(50), n);
    let tag = format!("v{}", 1 + rng.below(9));
    json!({
        "ImageDigest": format!("sha256:{}", rng.hex(64)),
        "RegistryType": "ccr",
        "ImageRepoAddress": format!("ccr.ccs.tencentyun.com/{repo}:{tag}"),
        "InstanceId": format!("ins-{}", rng.hex(8)),
        "InstanceName": "registry",
        "Namespace": "prod",
        "ImageName": repo,
        "ImageTag": tag,
        "Force": "Force",
    })
}

/// A target's first task: mostly compliant, a few images for some.
fn initial_task(rng: &mut Rng) -> Map<String, Value> {
    let mut t = Map::new();
    t.insert("ScanTime".into(), json!("03:00:00"));
    t.insert("ScanPeriod".into(), json!(1));
    t.insert("ScanType".into(), json!(["vul", "risk", "virus"]));
    let all = rng.chance(300);
    t.insert("All".into(), json!(all));
    let images: Vec<Value> = if all {
        Vec::new()
    } else {
        (0..1 + rng.below(3)).map(|_| image(rng)).collect()
    };
    t.insert("Images".into(), Value::Array(images));
    t.insert("Id".into(), json!([1 + rng.below(5)]));
    t.insert("Enable".into(), json!(true));
    t.insert("Latest".into(), json!(true));
    t
}

/// One change of the kinds operators make: switch off/on, period, scan types, time, images.
fn mutate(rng: &mut Rng, t: &mut Map<String, Value>) {
    match rng.below(6) {
        0 => {
            let on = t["Enable"].as_bool().unwrap_or(true);
            t.insert("Enable".into(), json!(!on));
        }
        1 => {
            t.insert("ScanPeriod".into(), json!([1, 3, 7][rng.below(3) as usize]));
        }
        2 => {
            let all = ["vul", "risk", "virus"];
            let kept: Vec<&str> = all.iter().copied().filter(|_| rng.chance(700)).collect();
            let kept = if kept.is_empty() { vec!["vul"] } else { kept };
            t.insert("ScanType".into(), json!(kept));
        }
        3 => {
            t.insert(
                "ScanTime".into(),
                json!(format!("{:02}:{:02}:00", rng.below(24), rng.below(4) * 15)),
            );
        }
        4 => {
            let images = t["Images"].as_array_mut().expect("images");
            if !images.is_empty() && rng.chance(400) {
                let i = rng.below(images.len() as u64) as usize;
                images.remove(i);
            } else {
                images.push(image(rng));
            }
        }
        _ => {
            let images = t["Images"].as_array_mut().expect("images");
            if let Some(img) = images.first_mut() {
                img["ImageDigest"] = json!(format!("sha256:{}", rng.hex(64)));
            } else {
                t.insert("ScanPeriod".into(), json!(3));
            }
        }
    }
}

/// The answer as the API sends it: compact, `RequestId` and the status fields included.
fn answer(rng: &mut Rng, task: &Map<String, Value>, night: NaiveDate) -> (String, Vec<u8>) {
    let request_id = format!(
        "{}-{}-{}-{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(4),
        rng.hex(4),
        rng.hex(12)
    );
    let mut inner = task.clone();
    inner.insert("RequestId".into(), json!(request_id));
    inner.insert(
        "LastScanTime".into(),
        json!(format!("{} 03:10:00", night.format("%Y-%m-%d"))),
    );
    inner.insert("ScanResult".into(), json!("success"));
    let raw = serde_json::to_vec(&json!({ "Response": inner })).expect("serializes");
    (request_id, raw)
}

/// What a git scraper keeps: the answer less `RequestId` and the status fields, keys sorted and
/// pretty-printed, so that a commit touches a file only when its config changed.
fn scraped(task: &Map<String, Value>) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&Value::Object(task.clone())).expect("serializes");
    out.push(b'\n');
    out
}

fn main() {
    let args = parse_args();
    let mut rng = Rng(args.seed);
    let first = args.end - Duration::days(args.nights - 1);
    let mut tasks: Vec<Map<String, Value>> =
        (0..args.targets).map(|_| initial_task(&mut rng)).collect();
    let names: Vec<String> = (0..args.targets).map(target_name).collect();

    let _ = std::fs::remove_file(&args.db);
    let mut store = Store::open(&args.db, OpenMode::Create).unwrap_or_else(|e| die(&e.to_string()));
    let key = args.signing_key.as_ref().map(|p| {
        std::sync::Arc::new(
            tcss_audit::trust::SigningKey::load(p).unwrap_or_else(|e| die(&e.to_string())),
        )
    });
    let mut git = args.git_stream.as_ref().map(|p| {
        std::io::BufWriter::new(std::fs::File::create(p).unwrap_or_else(|e| die(&e.to_string())))
    });
    let mut changes = 0u64;
    let mut commits = 0u64;
    for night in 0..args.nights {
        let date = first + Duration::days(night);
        let midnight: DateTime<Utc> = date.and_hms_opt(19, 0, 0).unwrap().and_utc();
        let mut touched = Vec::new();
        let mut rows = Vec::with_capacity(args.targets);
        for (i, task) in tasks.iter_mut().enumerate() {
            if night == 0 {
                touched.push(i);
            } else if rng.chance(args.change_per_mille) {
                mutate(&mut rng, task);
                changes += 1;
                touched.push(i);
            }
            let at = midnight + Duration::milliseconds(i as i64 * 50);
            let (request_id, raw) = answer(&mut rng, task, date);
            let fields: Map<String, Value> =
                serde_json::from_slice::<Value>(&raw).unwrap()["Response"]
                    .as_object()
                    .unwrap()
                    .clone();
            rows.push((
                at,
                request_id,
                raw,
                normalize::Prepared::new(normalize::normalize(&fields)),
                normalize::status_of(&fields),
            ));
        }
        let batch: Vec<NewSnapshot<'_>> = rows
            .iter()
            .zip(&names)
            .map(|((at, req, raw, config, status), name)| NewSnapshot {
                target: name,
                observed_at: *at,
                recorded_at: *at + Duration::seconds(1),
                source: Source::Fetch,
                endpoint: Some("tcss.tencentcloudapi.com"),
                request_id: Some(req),
                raw,
                config,
                status,
                identity: None,
            })
            .collect();
        if let Some(key) = &key {
            // A new command each night: a checkpoint row of its own.
            store.sign_checkpoints_with(key.clone());
        }
        store
            .record_batch(&batch)
            .unwrap_or_else(|e| die(&e.to_string()));
        if let Some(w) = git.as_mut()
            && !touched.is_empty()
        {
            commits += 1;
            let msg = format!("night {date}\n");
            writeln!(w, "commit refs/heads/main").unwrap();
            writeln!(w, "mark :{commits}").unwrap();
            writeln!(
                w,
                "committer cron <cron@example.com> {} +0000",
                midnight.timestamp() + 60
            )
            .unwrap();
            writeln!(w, "data {}\n{msg}", msg.len()).unwrap();
            if commits > 1 {
                writeln!(w, "from :{}", commits - 1).unwrap();
            }
            for i in touched {
                let body = scraped(&tasks[i]);
                writeln!(w, "M 100644 inline {}.json", names[i]).unwrap();
                writeln!(w, "data {}", body.len()).unwrap();
                w.write_all(&body).unwrap();
                writeln!(w).unwrap();
            }
        }
    }
    if let Some(mut w) = git {
        w.flush().unwrap();
    }
    eprintln!(
        "generated {} targets x {} nights ({} to {}): {} observations, {} changes, {} commits",
        args.targets,
        args.nights,
        first,
        args.end,
        args.targets as i64 * args.nights,
        changes,
        commits
    );
}

//! `audit demo`: the whole nightly job end to end on the stand-in, on a simulated clock, with no
//! account and no network: three weeks of nights while drift happens through signed Updates.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::app::config::TargetSpec;
use crate::app::nightly::{self, JobOptions};
use crate::app::report::write_run_reports;
use crate::app::{Error, ExitCode};
use crate::policy::{self, Severity};
use crate::report::compliance::ReportOptions;
use crate::sim::{self, SimOptions};
use crate::store::{OpenMode, Store};
use crate::task::clock::{Clock, ManualClock};
use crate::tencent::{Client, ClientOptions, CredentialSource, Credentials, Endpoint, Secret};

/// The demo's made-up credential, known only to the in-process stand-in.
const DEMO_ID: &str = "AKIDdemoEXAMPLEexampleEXAMPLE0001";
const DEMO_KEY: &str = "DemoOnlySecretKeyNotARealOne00001";
/// Nights simulated.
pub const NIGHTS: i64 = 21;
/// The file that marks a folder as the demo's own, so a rerun may replace what it wrote.
const MARKER: &str = ".tcss-audit-demo";
/// The demo's signing key, made afresh in its folder (its public key beside it, `.pub`).
pub const SIGNING_KEY: &str = "signing-key";

/// A drift the demo injects, and the night it happens (0-based).
#[derive(Debug, Clone)]
pub struct Drift {
    pub night: i64,
    pub what: &'static str,
    params: Option<Value>,
}

/// The script: what an operator does to the task over three weeks.
pub fn script() -> Vec<Drift> {
    let image = |name: &str, tag: &str| {
        json!({
            "ImageRepoAddress": format!("ccr.ccs.tencentyun.com/shop/{name}:{tag}"),
            "ImageName": format!("shop/{name}"), "ImageTag": tag, "InstanceId": "ins-shop01",
            "InstanceName": "shop-registry", "Namespace": "shop", "RegistryType": "ccr",
            "ImageDigest": format!("sha256:{}", crate::tencent::sign::sha256_hex(format!("{name}:{tag}").as_bytes())),
            "Force": "Force"
        })
    };
    let base = |extra: Value| {
        let mut p = json!({"Enable": true, "ScanPeriod": 1, "ScanTime": "03:00:00"});
        p.as_object_mut()
            .expect("an object")
            .extend(extra.as_object().expect("an object").clone());
        p
    };
    vec![
        Drift {
            night: 0,
            what: "the baseline: every scan type, daily, every image",
            params: Some(base(json!({
                "ScanType": ["vul", "risk", "virus"], "All": true, "ScanScope": 0, "Latest": false,
                "ContainerRunning": false, "RegistryType": ["ccr", "tcr"], "Images": [image("web", "v1")]
            }))),
        },
        Drift {
            night: 5,
            what: "virus scanning dropped",
            params: Some(base(json!({"ScanType": ["vul", "risk"]}))),
        },
        Drift {
            night: 10,
            what: "the task switched off",
            params: Some(json!({"Enable": false, "ScanPeriod": 1, "ScanTime": "03:00:00"})),
        },
        Drift {
            night: 12,
            what: "the task switched on again",
            params: Some(base(json!({}))),
        },
        Drift {
            night: 14,
            what: "the nightly job did not run (a missed night)",
            params: None,
        },
        Drift {
            night: 16,
            what: "an image added to the scan",
            params: Some(base(
                json!({"Images": [image("web", "v1"), image("api", "v7")]}),
            )),
        },
    ]
}

/// What the demo did, for its summary.
#[derive(Debug)]
pub struct DemoRun {
    pub dir: PathBuf,
    pub db: PathBuf,
    pub reports: Vec<PathBuf>,
    /// The public key of the key that signed the checkpoints and reports.
    pub public_key: PathBuf,
    /// The exit code `audit run` would have given on the last night.
    pub last_night: ExitCode,
    pub summary: Vec<String>,
}

/// Prepares `dir`: new, empty, or an earlier demo's (whose files are replaced).
pub fn prepare_dir(dir: &Path) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Input(format!("demo folder {}: {e}", dir.display()));
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(io)?.peekable();
        if entries.peek().is_some() && !dir.join(MARKER).exists() {
            return Err(Error::Usage(format!(
                "demo folder {} is not empty and was not made by `audit demo`; name an empty or new folder with --dir",
                dir.display()
            )));
        }
        for name in [
            "audit.db",
            "audit.db-wal",
            "audit.db-shm",
            "audit.db.lock",
            SIGNING_KEY,
            "signing-key.pub",
        ] {
            let _ = std::fs::remove_file(dir.join(name));
        }
        let _ = std::fs::remove_dir_all(dir.join("reports"));
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(
        dir.join(MARKER),
        "made by audit demo; a rerun replaces this folder's demo files\n",
    )
    .map_err(io)?;
    Ok(())
}

/// Runs the demo in `dir`, ending the simulated three weeks at `end`.
/// Times in the summary are shown in `tz`.
pub fn run(dir: &Path, end: DateTime<Utc>, tz: chrono_tz::Tz) -> Result<DemoRun, Error> {
    prepare_dir(dir)?;
    let db = dir.join("audit.db");
    // Nights at 19:00 UTC, which is 03:00 the next morning in Asia/Shanghai.
    let last_night = end
        .date_naive()
        .and_hms_opt(19, 0, 0)
        .expect("a valid time")
        .and_utc();
    let last_night = if last_night > end {
        last_night - chrono::Duration::days(1)
    } else {
        last_night
    };
    let first_night = last_night - chrono::Duration::days(NIGHTS - 1);
    let clock = ManualClock::new(first_night - chrono::Duration::minutes(30));
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());

    let runtime = crate::app::runtime::runtime(crate::app::runtime::Threads::Workers(2))?;
    let loaded = policy::builtin();
    let mut store = Store::open(&db, OpenMode::Create)?;
    // Every night's checkpoint and the reports are signed, as a job with a key kept apart does.
    let key = Arc::new(crate::trust::SigningKey::generate());
    let public_key = key.write_new(&dir.join(SIGNING_KEY))?;
    let drifts = script();
    let (last_night_code, reports, summary) = runtime.block_on(async {
        let sim = sim::start(SimOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            state_file: None,
            credentials: vec![(DEMO_ID.to_string(), Secret::new(DEMO_KEY))],
            latency: Duration::ZERO,
            faults: Vec::new(),
            rate_limit: sim::DEFAULT_RATE_LIMIT,
            clock: shared.clone(),
            accounts_file: None,
            temp_lifetime: None,
        })
        .await
        .map_err(|e| Error::Usage(format!("the demo's stand-in could not start: {e}")))?;
        let operator = Client::new(
            Endpoint::parse(&sim.url())?,
            Credentials {
                secret_id: DEMO_ID.into(),
                secret_key: Secret::new(DEMO_KEY),
                token: None,
                origin: "the demo".into(),
            },
            shared.clone(),
            ClientOptions::default(),
        )?;
        let target = TargetSpec {
            name: "prod".into(),
            endpoint: sim.url(),
            region: None,
            credentials: CredentialSource::default(),
            account: None,
        };
        let defaults = CredentialSource::default();
        let job = JobOptions {
            services: Default::default(),
            concurrency: 1,
            fail_on_drift: false,
            endpoint: None,
            client: ClientOptions::default(),
            fail_on: Severity::High,
            times: crate::policy::Times::new(
                crate::app::config::beijing(),
                chrono_tz::Asia::Shanghai,
            ),
            env: Arc::new(move |name: &str| {
                if name == defaults.secret_id_env {
                    Some(DEMO_ID.to_string())
                } else if name == defaults.secret_key_env {
                    Some(DEMO_KEY.to_string())
                } else {
                    None
                }
            }),
        };
        let mut last = ExitCode::Ok;
        let mut summary = Vec::new();
        let mut run_targets = Vec::new();
        for night in 0..NIGHTS {
            let at = first_night + chrono::Duration::days(night);
            clock.set(at - chrono::Duration::minutes(20));
            let mut skip = false;
            for d in drifts.iter().filter(|d| d.night == night) {
                match &d.params {
                    Some(p) => {
                        operator.update(p).await?;
                    }
                    None => skip = true,
                }
                summary.push(format!(
                    "night {:>2} ({}): {}",
                    night + 1,
                    crate::task::when::fmt_time(at, tz),
                    d.what
                ));
            }
            if skip {
                continue;
            }
            clock.set(at);
            // Each night is a run of its own, with a checkpoint of its own.
            store.sign_checkpoints_with(key.clone());
            let outcomes = nightly::snapshot_and_check(
                &mut store,
                &loaded.set,
                std::slice::from_ref(&target),
                shared.clone(),
                &job,
                |_| {},
            )
            .await?;
            last = outcomes.iter().fold(ExitCode::Ok, |c, o| c.worst(o.code));
            if let Some(o) = outcomes.iter().find(|o| o.run.error.is_some()) {
                return Err(Error::Usage(format!(
                    "the demo's nightly job failed: {}",
                    o.line
                )));
            }
            run_targets = outcomes.into_iter().map(|o| o.run).collect();
        }
        sim.shutdown().await;
        let reports = write_run_reports(
            &store,
            &loaded.set,
            std::slice::from_ref(&target.name),
            &ReportOptions {
                since: first_night - chrono::Duration::hours(1),
                until: last_night + chrono::Duration::hours(1),
                generated_at: last_night + chrono::Duration::hours(1),
                tz: chrono_tz::Asia::Shanghai,
                fail_on: Severity::High,
                api_offset: crate::app::config::beijing(),
            },
            &run_targets,
            &dir.join("reports"),
            Some(&key),
        )?;
        Ok::<_, Error>((last, reports, summary))
    })?;
    Ok(DemoRun {
        dir: dir.to_path_buf(),
        db,
        reports,
        public_key,
        last_night: last_night_code,
        summary,
    })
}

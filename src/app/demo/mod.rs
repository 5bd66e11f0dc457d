//! `audit demo`: the whole nightly job end to end on the stand-in, on a simulated clock, with no
//! account and no network: three weeks of nights while drift happens through signed Updates.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::app::config::{ORG_ROLE, OrganizationSpec, TargetSpec};
use crate::app::nightly::{self, JobOptions};
use crate::app::organization;
use crate::app::report::write_run_reports;
use crate::app::snapshot::ServiceSettings;
use crate::app::{Error, ExitCode};
use crate::policy::{self, PolicySet, Severity};
use crate::report::compliance::{ReportOptions, RunTarget};
use crate::sim::{self, RunningSim, SimOptions};
use crate::store::{OpenMode, Store};
use crate::task::clock::{Clock, ManualClock};
use crate::tencent::Provider;
use crate::tencent::identity::RoleSpec;
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
/// The stand-in's accounts: the demo's own, and an organization of three members.
const ACCOUNTS: &str = "accounts.toml";
/// The organization's members: (UIN, name).
pub const MEMBERS: [(&str, &str); 3] = [
    ("100000000002", "shop"),
    ("100000000003", "ads"),
    ("100000000004", "data"),
];
/// The folder of the members' tasks, one file each, which the stand-in serves and updates.
const MEMBER_TASKS: &str = "members";

/// The demo's story as data (`story.json`): the members' starting task (compliant: every scan
/// type, daily, every image in scope, so that the drift the demo tells of is what makes them
/// fail), what prod's operator writes night by night, and what an operator in the `ads` member
/// account writes.
#[derive(Debug, Clone, serde::Deserialize)]
struct Story {
    member_task: Value,
    drifts: Vec<Drift>,
    member_drift: Drift,
}

fn story() -> Story {
    serde_json::from_str(include_str!("story.json")).expect("the demo's story is valid JSON")
}

/// Writes each member's starting task and returns the accounts file's text that names them.
fn write_accounts(dir: &Path, member_task: &Value) -> Result<String, Error> {
    let io = |source| Error::File {
        path: dir.to_path_buf(),
        action: "write the demo's members",
        source,
    };
    std::fs::create_dir_all(dir.join(MEMBER_TASKS)).map_err(io)?;
    let member_task = member_task.to_string();
    let mut accounts = String::from("uin = \"100000000001\"\nname = \"demo\"\n");
    for (uin, name) in MEMBERS {
        let task = format!("{MEMBER_TASKS}/{name}.json");
        std::fs::write(dir.join(&task), &member_task).map_err(io)?;
        accounts.push_str(&format!(
            "\n[[member]]\nuin = \"{uin}\"\nname = \"{name}\"\nstate = \"{task}\"\nroles = [{{ name = \"{ORG_ROLE}\", trust = [\"100000000001\"] }}]\n"
        ));
    }
    Ok(accounts)
}

/// A drift the demo injects, and the night it happens (0-based): an Update with `params`, or,
/// without them, a night the nightly job does not run.
#[derive(Debug, Clone, serde::Deserialize)]
struct Drift {
    night: i64,
    what: String,
    params: Option<Value>,
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
    let io = |source| Error::File {
        path: dir.to_path_buf(),
        action: "prepare the demo's folder",
        source,
    };
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
            ACCOUNTS,
        ] {
            let _ = std::fs::remove_file(dir.join(name));
        }
        let _ = std::fs::remove_dir_all(dir.join("reports"));
        let _ = std::fs::remove_dir_all(dir.join(MEMBER_TASKS));
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
    let (first_night, last_night) = nights(end);
    let clock = ManualClock::new(first_night - chrono::Duration::minutes(30));
    let runtime = crate::app::runtime::runtime(crate::app::runtime::Threads::Workers(2))?;
    let loaded = policy::builtin();
    let mut store = Store::open(&db, OpenMode::Create)?;
    // Every night's checkpoint and the reports are signed, as a job with a key kept apart does.
    let key = Arc::new(crate::trust::SigningKey::generate());
    let public_key = key.write_new(&dir.join(SIGNING_KEY))?;
    let story = story();
    let accounts = write_accounts(dir, &story.member_task)?;
    let accounts_file = dir.join(ACCOUNTS);
    std::fs::write(&accounts_file, accounts).map_err(|source| Error::File {
        path: accounts_file.clone(),
        action: "write the stand-in's accounts",
        source,
    })?;
    let (last_night_code, reports, summary) = runtime.block_on(async {
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let sim = start_sim(shared.clone(), accounts_file.clone()).await?;
        let mut nights = Nights::new(&sim.url(), &clock, &mut store, &key, tz).await?;
        let (last, run_targets) = nights.play(&loaded.set, &story, first_night).await?;
        sim.shutdown().await;
        let names: Vec<String> = nights.targets.iter().map(|t| t.name.clone()).collect();
        let reports = write_run_reports(
            nights.store,
            &loaded.set,
            &names,
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
        Ok::<_, Error>((last, reports, nights.summary))
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

/// The first and the last night before `end`: nights at 19:00 UTC, which is 03:00 the next
/// morning in Asia/Shanghai.
fn nights(end: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
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
    (last_night - chrono::Duration::days(NIGHTS - 1), last_night)
}

/// The demo's stand-in, in process, on the simulated clock, serving the organization's accounts.
async fn start_sim(clock: Arc<dyn Clock>, accounts_file: PathBuf) -> Result<RunningSim, Error> {
    sim::start(SimOptions {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        state_file: None,
        credentials: vec![(DEMO_ID.to_string(), Secret::new(DEMO_KEY))],
        latency: Duration::ZERO,
        faults: Vec::new(),
        rate_limit: sim::DEFAULT_RATE_LIMIT,
        clock,
        accounts_file: Some(accounts_file),
        temp_lifetime: None,
        tls: None,
    })
    .await
    .map_err(Error::Sim)
}

fn demo_credentials() -> Credentials {
    Credentials {
        secret_id: DEMO_ID.into(),
        secret_key: Secret::new(DEMO_KEY),
        token: None,
        origin: "the demo".into(),
    }
}

/// The nightly job's options, its environment holding the demo's credential only.
fn demo_job() -> JobOptions {
    let defaults = CredentialSource::default();
    JobOptions {
        services: Default::default(),
        concurrency: 1,
        fail_on_drift: false,
        endpoint: None,
        client: ClientOptions::default(),
        fail_on: Severity::High,
        times: crate::policy::Times::new(crate::app::config::beijing(), chrono_tz::Asia::Shanghai),
        env: Arc::new(move |name: &str| {
            if name == defaults.secret_id_env {
                Some(DEMO_ID.to_string())
            } else if name == defaults.secret_key_env {
                Some(DEMO_KEY.to_string())
            } else {
                None
            }
        }),
    }
}

/// The organization: its members listed through the stand-in's Organization API, each audited
/// through its role, as `audit run` does with an [organization] section.
fn demo_organization(url: &str) -> OrganizationSpec {
    OrganizationSpec {
        credentials: CredentialSource::default(),
        endpoint: url.to_string(),
        region: None,
        role_name: ORG_ROLE.into(),
        external_id: None,
        role_duration: crate::tencent::identity::DEFAULT_ROLE_DURATION,
        include: Vec::new(),
        exclude: Vec::new(),
        name: "org-{name}".into(),
    }
}

/// The three weeks: what the operators do each night, and the nightly job after them.
struct Nights<'a> {
    clock: &'a ManualClock,
    shared: Arc<dyn Clock>,
    store: &'a mut Store,
    key: &'a Arc<crate::trust::SigningKey>,
    tz: chrono_tz::Tz,
    job: JobOptions,
    /// prod, then the organization's members.
    targets: Vec<TargetSpec>,
    /// An operator of prod's account, and one in the `ads` member account, reached through the
    /// organization's role.
    operator: Client,
    ads_operator: Client,
    summary: Vec<String>,
}

impl<'a> Nights<'a> {
    async fn new(
        url: &str,
        clock: &'a ManualClock,
        store: &'a mut Store,
        key: &'a Arc<crate::trust::SigningKey>,
        tz: chrono_tz::Tz,
    ) -> Result<Nights<'a>, Error> {
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let job = demo_job();
        let org = demo_organization(url);
        let members = organization::members(
            &org,
            &ServiceSettings::default(),
            None,
            shared.clone(),
            &ClientOptions::default(),
            &job.env,
        )
        .await?;
        let mut targets = vec![TargetSpec {
            name: "prod".into(),
            endpoint: url.to_string(),
            region: None,
            credentials: CredentialSource::default(),
            account: None,
        }];
        targets.extend(organization::member_targets(&org, &members));
        let endpoint = Endpoint::parse(url)?;
        let operator = Client::new(
            endpoint.clone(),
            demo_credentials(),
            shared.clone(),
            ClientOptions::default(),
        )?;
        let ads_operator = Client::with(
            endpoint.clone(),
            crate::tencent::identity::assume_role(
                Provider::Static(demo_credentials()),
                RoleSpec {
                    arn: format!("qcs::cam::uin/{}:roleName/{ORG_ROLE}", MEMBERS[1].0),
                    session_name: "demo-operator".into(),
                    duration: crate::tencent::identity::DEFAULT_ROLE_DURATION,
                    external_id: None,
                },
                endpoint,
                shared.clone(),
                &ClientOptions::default(),
            ),
            crate::tencent::client::TCSS,
            shared.clone(),
            ClientOptions::default(),
        )?;
        let summary = vec![format!(
            "the organization: {} member accounts ({}), each audited through its {ORG_ROLE}",
            members.len(),
            members
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )];
        Ok(Nights {
            clock,
            shared,
            store,
            key,
            tz,
            job,
            targets,
            operator,
            ads_operator,
            summary,
        })
    }

    /// Plays every night from `first_night`; gives the last night's exit code and targets.
    async fn play(
        &mut self,
        set: &PolicySet,
        story: &Story,
        first_night: DateTime<Utc>,
    ) -> Result<(ExitCode, Vec<RunTarget>), Error> {
        let Story {
            drifts,
            member_drift,
            ..
        } = story;
        let mut last = (ExitCode::Ok, Vec::new());
        for night in 0..NIGHTS {
            let at = first_night + chrono::Duration::days(night);
            self.clock.set(at - chrono::Duration::minutes(20));
            let ran = self.operate(drifts, member_drift, night, at).await?;
            if ran {
                self.clock.set(at);
                last = self.audit(set, night, at).await?;
            }
        }
        Ok(last)
    }

    /// What the operators do before the night's job (prod's, then the one in the `ads`
    /// member account); gives whether the job runs that night.
    async fn operate(
        &mut self,
        drifts: &[Drift],
        member_drift: &Drift,
        night: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let mut runs = true;
        for d in drifts.iter().filter(|d| d.night == night) {
            match &d.params {
                Some(p) => {
                    self.operator.update(p).await?;
                }
                None => runs = false,
            }
            self.say(night, at, d.what.clone());
        }
        if let (true, Some(p)) = (member_drift.night == night, &member_drift.params) {
            self.ads_operator.update(p).await?;
            self.say(
                night,
                at,
                format!(
                    "in member account {} ({}), {}",
                    MEMBERS[1].1, MEMBERS[1].0, member_drift.what
                ),
            );
        }
        Ok(runs)
    }

    /// The night's job: every target snapshotted and checked, its checkpoint signed; the first
    /// night's config of prod approved as its baseline.
    async fn audit(
        &mut self,
        set: &PolicySet,
        night: i64,
        at: DateTime<Utc>,
    ) -> Result<(ExitCode, Vec<RunTarget>), Error> {
        // Each night is a run of its own, with a checkpoint of its own.
        self.store.sign_checkpoints_with(self.key.clone());
        let outcomes = nightly::snapshot_and_check(
            self.store,
            set,
            &self.targets,
            self.shared.clone(),
            &self.job,
            |_| {},
        )
        .await?;
        let code = outcomes.iter().fold(ExitCode::Ok, |c, o| c.worst(o.code));
        if let Some(o) = outcomes.iter().find(|o| o.run.error.is_some()) {
            return Err(Error::Usage(format!(
                "the demo's nightly job failed: {}",
                o.line
            )));
        }
        if night == 0 {
            // The first night's config is the one agreed: approved as prod's baseline, so the
            // report shows the drift from it and TCSS-BASE-001 judges it.
            crate::app::baseline::approve(
                self.store,
                &self.targets[0].name,
                &crate::task::when::When::Latest,
                self.tz,
                "the agreed scan task (change ticket CHG-0001)",
                "secops",
                self.clock.now(),
            )?;
            self.say(
                night,
                at,
                "its config approved as prod's baseline (audit baseline approve)".into(),
            );
        }
        Ok((code, outcomes.into_iter().map(|o| o.run).collect()))
    }

    /// A line of the story, dated in the summary's zone.
    fn say(&mut self, night: i64, at: DateTime<Utc>, what: String) {
        self.summary.push(format!(
            "night {:>2} ({}): {what}",
            night + 1,
            crate::task::when::fmt_time(at, self.tz)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The story is data, checked against the catalogue: every key it writes is a documented
    /// field of the task, and every drift falls within the demo's nights.
    #[test]
    fn the_story_writes_only_fields_of_the_catalogue() {
        let story = story();
        let mut written = vec![&story.member_task];
        written.extend(story.drifts.iter().filter_map(|d| d.params.as_ref()));
        written.extend(story.member_drift.params.as_ref());
        for task in written {
            for key in task.as_object().expect("an object").keys() {
                assert!(crate::task::fields::field(key).is_some(), "{key}");
            }
        }
        for d in story.drifts.iter().chain([&story.member_drift]) {
            assert!((0..NIGHTS).contains(&d.night), "{d:?}");
        }
        assert_eq!(
            story.drifts.iter().filter(|d| d.params.is_none()).count(),
            1,
            "one missed night"
        );
    }
}

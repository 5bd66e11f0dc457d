//! The nightly job's core, shared by `audit run` and `audit demo`: fetch every target (bounded
//! concurrency), record each answer as it arrives, check it, and say how each target went.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::app::check;
use crate::app::config::TargetSpec;
use crate::app::lock::{RunLock, describe_holder};
use crate::app::report::{Newest, RunReport};
use crate::app::runtime::{Threads, runtime};
use crate::app::snapshot::{self, Arrival, EnvLookup};
use crate::app::{Error, ExitCode};
use crate::policy::{PolicySet, Severity};
use crate::report::compliance::{Membership, ReportOptions, RunTarget};
use crate::report::notify::RuleRef;
use crate::store::{OpenMode, Store};
use crate::task::clock::Clock;
use crate::task::text::{count, visible};
use crate::tencent::ClientOptions;
use crate::trust::SigningKey;

/// How the job runs.
#[derive(Clone)]
pub struct JobOptions {
    pub concurrency: usize,
    /// A drifted config earns exit 1 even when no rule fails.
    pub fail_on_drift: bool,
    pub endpoint: Option<String>,
    pub client: ClientOptions,
    pub fail_on: Severity,
    /// How API times are read and findings show times.
    pub times: crate::policy::Times,
    pub env: EnvLookup,
    /// Where STS, Organization and the metadata service are.
    pub services: snapshot::ServiceSettings,
}

/// One target's outcome.
#[derive(Debug, Clone)]
pub struct TargetOutcome {
    pub code: ExitCode,
    /// The summary line for people.
    pub line: String,
    pub run: RunTarget,
    /// Rules failing at or above `fail_on` (for notifications).
    pub failing: Vec<crate::report::notify::RuleRef>,
    /// Every failing rule, by severity (for metrics; every severity present).
    pub failing_by_severity: std::collections::BTreeMap<String, u64>,
    /// Changes between the snapshot recorded and the one before it.
    pub drift_changes: u64,
}

/// The nightly job as `audit run` runs it: the database, what to fetch and judge, and where the
/// reports go.
pub struct NightlyRun<'a> {
    pub db: PathBuf,
    /// How long to wait for another run on the same database.
    pub lock_timeout: Duration,
    pub set: &'a PolicySet,
    pub targets: &'a [TargetSpec],
    pub job: JobOptions,
    /// The reports' window, back from the end of the run.
    pub window: chrono::Duration,
    pub tz: Tz,
    pub out_dir: PathBuf,
    /// Signs each recording's new head and the reports.
    pub signing_key: Option<Arc<SigningKey>>,
    /// The signer's state file and a line to start, with a signing key.
    pub line: crate::store::LineSettings,
    /// The organization's members among `targets`, to name new and departed ones.
    pub organization: Option<OrgMembers>,
    /// Where to tell what is new, after the reports are written.
    pub notify: Vec<crate::app::notify::NotifySpec>,
    /// Say what would be sent, send nothing, and remember nothing as told.
    pub notify_dry_run: bool,
    /// Where the run's Prometheus metrics go.
    pub metrics: Option<PathBuf>,
    /// Also write the OCSF findings (`NAME.ocsf.json`).
    pub ocsf: bool,
}

/// What the nightly job did.
#[derive(Debug)]
pub struct NightlyDone {
    pub code: ExitCode,
    pub written: Vec<PathBuf>,
    pub deliveries: Vec<crate::app::notify::Delivery>,
}

/// Which targets are an organization's members now, and how its target names are made.
#[derive(Debug, Clone)]
pub struct OrgMembers {
    pub template: String,
    pub members: Vec<String>,
    /// Names that members share with a configured target or with each other: those members
    /// were not audited, so they are neither new nor gone, and the run exits 2.
    pub collided: Vec<String>,
}

/// Runs the nightly job: takes the run lock, snapshots and checks every target (`done` hears of
/// each), then writes the run's reports. Returns the job's exit code (the most severe of its
/// targets') and the reports written.
pub fn run(
    plan: &NightlyRun<'_>,
    clock: Arc<dyn Clock>,
    done: impl FnMut(&TargetOutcome),
) -> Result<NightlyDone, Error> {
    let started = std::time::Instant::now();
    let _lock = RunLock::acquire(&plan.db, plan.lock_timeout, &describe_holder(clock.now()))?;
    let mut store = Store::open(&plan.db, OpenMode::Create)?;
    if let Some(key) = &plan.signing_key {
        store.sign_checkpoints_with(key.clone());
        store.keep_line(plan.line.clone());
    }
    // Before anything is recorded: which targets the history already holds, and when each was
    // last seen (for notifications of a job that stopped).
    let known = store.targets()?;
    let last_before = last_seen(&store, plan);
    let runtime = runtime(Threads::Workers(2))?;
    let outcomes = runtime.block_on(snapshot_and_check(
        &mut store,
        plan.set,
        plan.targets,
        clock.clone(),
        &plan.job,
        done,
    ))?;
    let mut code = outcomes.iter().fold(ExitCode::Ok, |c, o| c.worst(o.code));
    if plan
        .organization
        .as_ref()
        .is_some_and(|o| !o.collided.is_empty())
    {
        code = code.worst(ExitCode::Usage);
    }
    // A broken signature line: everything was recorded, nothing signed, the job exits 4.
    let broken = store.signature_line_broken().map(|why| {
        let e = Error::SignatureLine(crate::task::text::visible(why).into_owned());
        tracing::error!("{e}");
        code = code.worst(e.exit_code());
        why.to_string()
    });
    let figures: HashMap<String, Figures> = outcomes
        .iter()
        .map(|o| (o.run.target.clone(), Figures::of(o)))
        .collect();
    let mut run_targets: Vec<RunTarget> = outcomes.into_iter().map(|o| o.run).collect();
    if let Some(org) = &plan.organization {
        name_membership(org, &known, plan.targets, &mut run_targets);
    }
    let now = clock.now();
    let key = plan.signing_key.as_deref().filter(|_| broken.is_none());
    let (mut report, written) = write_reports(plan, &store, &run_targets, broken.as_deref(), now)?;
    let mut deliveries = Vec::new();
    if !plan.notify.is_empty() {
        let nows = targets_now(&report, &run_targets, &figures, &last_before);
        let news = RunNews {
            now,
            code,
            written: &written,
            broken: broken.as_deref(),
        };
        deliveries = notify(plan, &mut store, &nows, &news)?;
        let failed: Vec<String> = deliveries
            .iter()
            .filter_map(|d| d.failed.as_ref().map(|f| format!("{}: {f}", d.destination)))
            .collect();
        if !failed.is_empty() {
            code = code.worst(ExitCode::Remote);
            report.set_notifications_failed(failed);
            report.write(key, Some(&written))?;
        }
    }
    if let Some(path) = &plan.metrics {
        let metrics = crate::report::metrics::RunMetrics {
            duration_seconds: started.elapsed().as_secs_f64(),
            exit_code: code,
            chain_ok: report.chain_ok(),
            targets: target_metrics(&report, &run_targets, &figures, now),
        };
        crate::app::output::write_atomically(path, |w| {
            crate::report::metrics::prometheus(&metrics, w)
        })?;
    }
    Ok(NightlyDone {
        code,
        written,
        deliveries,
    })
}

/// When each target was last observed before this run, for the notifications of a job that
/// stopped (nothing when there is nobody to tell).
fn last_seen(store: &Store, plan: &NightlyRun<'_>) -> HashMap<String, DateTime<Utc>> {
    if plan.notify.is_empty() {
        return HashMap::new();
    }
    plan.targets
        .iter()
        .filter_map(|t| {
            let m = store
                .resolve(&t.name, &crate::task::when::When::Latest, chrono_tz::UTC)
                .ok()?;
            Some((t.name.clone(), m.observed_at))
        })
        .collect()
}

/// Writes the run's reports (Markdown, JSON, HTML, and the OCSF findings when asked), signed
/// unless the signature line is `broken`; gives the report and the files written.
fn write_reports(
    plan: &NightlyRun<'_>,
    store: &Store,
    run_targets: &[RunTarget],
    broken: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(RunReport, Vec<PathBuf>), Error> {
    let names: Vec<String> = plan.targets.iter().map(|t| t.name.clone()).collect();
    let regions: super::report::Regions = plan
        .targets
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.region.clone()?)))
        .collect();
    let opts = ReportOptions {
        since: now - plan.window,
        until: now,
        generated_at: now,
        tz: plan.tz,
        fail_on: plan.job.fail_on,
        api_offset: plan.job.times.api_offset,
    };
    let mut report = RunReport::build(
        store,
        plan.set,
        &names,
        &opts,
        run_targets,
        &plan.out_dir,
        plan.ocsf.then_some(&regions),
    )?;
    let key = plan.signing_key.as_deref().filter(|_| broken.is_none());
    if let Some(why) = broken {
        report.set_signature_line_broken(why);
    }
    let mut written = report.write(key, None)?;
    if plan.ocsf {
        let findings = report.write_ocsf(&written[1], key)?;
        written.extend(findings);
    }
    Ok((report, written))
}

/// What the run tells its destinations besides the targets' news.
struct RunNews<'a> {
    now: DateTime<Utc>,
    code: ExitCode,
    written: &'a [PathBuf],
    broken: Option<&'a str>,
}

/// Tells every destination what is new, with the reports' paths made absolute: a relative
/// --out-dir means nothing to whoever reads the message.
fn notify(
    plan: &NightlyRun<'_>,
    store: &mut Store,
    nows: &[crate::app::notify::TargetNow],
    news: &RunNews<'_>,
) -> Result<Vec<crate::app::notify::Delivery>, Error> {
    let shown = |p: &PathBuf| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string()
    };
    let paths = (
        news.written.first().map(shown),
        news.written.get(1).map(shown),
    );
    crate::app::notify::notify_all(
        store,
        &plan.notify,
        nows,
        news.now,
        news.code,
        paths,
        plan.notify_dry_run,
        plan.job.env.as_ref(),
        news.broken,
        plan.tz,
        &plan.job.client.net,
    )
}

/// Names each member seen for the first time as new and adds a row for each member that has
/// left (a target the template made that the history holds and the run did not audit), then
/// puts the rows in name order. A name that members collided on is neither.
fn name_membership(
    org: &OrgMembers,
    known: &[String],
    targets: &[TargetSpec],
    run_targets: &mut Vec<RunTarget>,
) {
    // Sets: an organization can have thousands of members.
    let members: std::collections::HashSet<&str> = org.members.iter().map(String::as_str).collect();
    let known_set: std::collections::HashSet<&str> = known.iter().map(String::as_str).collect();
    for t in run_targets.iter_mut() {
        if members.contains(t.target.as_str()) && !known_set.contains(t.target.as_str()) {
            t.membership = Some(Membership::New);
        }
    }
    let made = crate::app::organization::made_by(&org.template);
    let running: std::collections::HashSet<&str> =
        targets.iter().map(|t| t.name.as_str()).collect();
    for name in known {
        if !running.contains(name.as_str()) && made(name) && !org.collided.contains(name) {
            // Said where the run's other lines go, not only in the report.
            tracing::warn!(
                "{}: no longer a member of the organization: not audited; its history stays",
                visible(name)
            );
            run_targets.push(RunTarget {
                target: name.clone(),
                snapshot: None,
                changed: None,
                first: false,
                error: None,
                exit_code: ExitCode::Ok,
                membership: Some(Membership::Gone),
            });
        }
    }
    run_targets.sort_by(|a, b| a.target.cmp(&b.target));
}

/// What the end of the run needs of each target's outcome, once the outcomes have become the
/// report's rows.
#[derive(Debug, Clone, Default)]
struct Figures {
    failing: Vec<RuleRef>,
    failing_by_severity: BTreeMap<String, u64>,
    drift_changes: u64,
    compliant: bool,
}

impl Figures {
    fn of(o: &TargetOutcome) -> Figures {
        Figures {
            failing: o.failing.clone(),
            failing_by_severity: o.failing_by_severity.clone(),
            drift_changes: o.drift_changes,
            compliant: o.run.error.is_none() && o.failing.is_empty(),
        }
    }
}

/// The run's targets (not those gone from the organization) with their newest snapshot, as
/// their part of the report shows it.
fn live<'r>(
    report: &'r RunReport,
    run: &'r [RunTarget],
) -> impl Iterator<Item = (&'r RunTarget, Option<&'r Newest>)> {
    run.iter()
        .filter(|t| t.membership != Some(Membership::Gone))
        .map(move |t| (t, report.newest(&t.target)))
}

/// Each target as the notifications compare it with what a destination was told.
fn targets_now(
    report: &RunReport,
    run: &[RunTarget],
    figures: &HashMap<String, Figures>,
    last_before: &HashMap<String, DateTime<Utc>>,
) -> Vec<crate::app::notify::TargetNow> {
    live(report, run)
        .map(|(t, newest)| crate::app::notify::TargetNow {
            target: t.target.clone(),
            config_hash: newest.and_then(|n| n.config_hash.clone()),
            failing: figures
                .get(&t.target)
                .map(|f| f.failing.clone())
                .unwrap_or_default(),
            error: t.error.clone(),
            last_before: last_before.get(&t.target).copied(),
            recorded: t.snapshot.is_some(),
        })
        .collect()
}

/// Each target's metrics.
fn target_metrics(
    report: &RunReport,
    run: &[RunTarget],
    figures: &HashMap<String, Figures>,
    now: DateTime<Utc>,
) -> Vec<crate::report::metrics::TargetMetrics> {
    live(report, run)
        .map(|(t, newest)| {
            let f = figures.get(&t.target).cloned().unwrap_or_default();
            let at = newest.and_then(|n| n.at);
            crate::report::metrics::TargetMetrics {
                target: t.target.clone(),
                compliant: f.compliant,
                failing_by_severity: f.failing_by_severity,
                drift_changes: f.drift_changes,
                // Every snapshot held was recorded without error: the newest is the last success.
                last_success: at,
                scan_enabled: newest.and_then(|n| n.scan_enabled),
                snapshot_age_seconds: at.map(|at| (now - at).num_milliseconds() as f64 / 1000.0),
            }
        })
        .collect()
}

/// Snapshots and checks every target; `done` hears about each as it finishes. Outcomes come back
/// sorted by target name.
pub async fn snapshot_and_check(
    store: &mut Store,
    set: &PolicySet,
    targets: &[TargetSpec],
    clock: Arc<dyn Clock>,
    opts: &JobOptions,
    mut done: impl FnMut(&TargetOutcome),
) -> Result<Vec<TargetOutcome>, Error> {
    let permits = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    // One HTTP client for the fleet: its TLS setup is made once, and targets on the same
    // endpoint reuse its connections. If it cannot be made, each target says why.
    let mut opts = opts.clone();
    if opts.client.http.is_none() {
        opts.client.http = crate::tencent::client::http_client(&opts.client).ok();
    }
    let opts = &opts;
    let mut tasks = tokio::task::JoinSet::new();
    // Which target each task fetches, for a task that panics: its failure is that target's alone.
    let mut names = std::collections::HashMap::new();
    for target in targets.iter().cloned() {
        let permits = permits.clone();
        let clock = clock.clone();
        let opts = opts.clone();
        let name = target.name.clone();
        let handle = tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let result = snapshot::fetch(
                &target,
                opts.endpoint.as_deref(),
                clock,
                &opts.client,
                &opts.env,
                &opts.services,
            )
            .await;
            (target.name, result)
        });
        names.insert(handle.id(), name);
    }
    let mut outcomes = Vec::with_capacity(targets.len());
    let mut checks = Vec::new();
    // Records are written here, as fetches finish: SQLite has one writer. Answers that arrive
    // together are recorded in one transaction, so a large fleet is not one commit per target.
    while let Some(first) = tasks.join_next().await {
        let mut ready = vec![first];
        while let Some(more) = tasks.try_join_next() {
            ready.push(more);
        }
        let mut arrivals = Vec::new();
        for joined in ready {
            let (target, fetched) = match joined {
                Ok(done) => done,
                Err(e) => {
                    let target = names.get(&e.id()).cloned().unwrap_or_default();
                    let why = Error::TaskFailed {
                        target: target.clone(),
                        why: panic_text(e),
                    };
                    (target, Err(why))
                }
            };
            match fetched {
                Ok(f) => arrivals.push(Arrival {
                    target,
                    fetched: f.fetched,
                    endpoint: f.endpoint,
                    identity: f.identity,
                }),
                Err(e) => {
                    let o = failed(&target, &e);
                    done(&o);
                    outcomes.push(o);
                }
            }
        }
        if arrivals.is_empty() {
            continue;
        }
        match snapshot::record_arrivals(store, &arrivals, clock.as_ref()) {
            Ok(recorded) => {
                for (a, r) in arrivals.iter().zip(recorded) {
                    let o = judge(store, set, a, &r, clock.as_ref(), opts, &mut checks)
                        .unwrap_or_else(|e| failed(&a.target, &e));
                    done(&o);
                    outcomes.push(o);
                }
            }
            Err(e) => {
                for a in &arrivals {
                    let o = failed(&a.target, &e);
                    done(&o);
                    outcomes.push(o);
                }
            }
        }
        // Kept as they come, a few hundred a commit, while the fetches still out are awaited:
        // ten thousand at the end held the run's last half second.
        if checks.len() >= CHECKS_PER_COMMIT {
            store.save_checks(&checks)?;
            checks.clear();
        }
    }
    store.save_checks(&checks)?;
    outcomes.sort_by(|a, b| a.run.target.cmp(&b.run.target));
    Ok(outcomes)
}

/// What a task that did not finish said: its panic message, or that it was cancelled.
fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "its task was cancelled".into();
    }
    let payload = e.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    visible(&text).into_owned()
}

fn failed(target: &str, e: &Error) -> TargetOutcome {
    TargetOutcome {
        failing: Vec::new(),
        failing_by_severity: Default::default(),
        drift_changes: 0,
        code: e.exit_code(),
        line: format!("{}: error: {}", visible(target), visible(&e.to_string())),
        run: RunTarget {
            target: target.to_string(),
            snapshot: None,
            changed: None,
            first: false,
            error: Some(e.to_string()),
            exit_code: e.exit_code(),
            membership: None,
        },
    }
}

/// How many check results are stored in one commit while a run goes on.
const CHECKS_PER_COMMIT: usize = 512;

/// Checks a recorded snapshot; its result joins `checks`, which are stored a batch at a time.
fn judge(
    store: &Store,
    set: &PolicySet,
    arrival: &Arrival,
    recorded: &crate::store::Recorded,
    clock: &dyn Clock,
    opts: &JobOptions,
    checks: &mut Vec<crate::store::StoredCheck>,
) -> Result<TargetOutcome, Error> {
    let (name, tries) = (arrival.target.as_str(), arrival.fetched.tries);
    let meta = store.meta(recorded.id)?;
    let now = clock.now();
    let report = check::check_snapshot(store, set, &meta, now, opts.times)?;
    checks.push(check::to_stored(set, &report, now)?);
    let failing_rules: Vec<crate::report::notify::RuleRef> = report
        .failing_at_or_above(opts.fail_on)
        .map(|r| crate::report::notify::RuleRef {
            id: r.rule.clone(),
            title: r.title.clone(),
            severity: r.severity,
        })
        .collect();
    let failing = failing_rules.len();
    // The fields this observation changed, by their top-level name, in the order the diff gives.
    let mut fields: Vec<String> = Vec::new();
    let mut drift_changes = 0u64;
    for event in store.events(name, Some(recorded.observed_at), Some(recorded.observed_at))? {
        if event.to != recorded.id {
            continue;
        }
        drift_changes += event.changes.len() as u64;
        for change in &event.changes {
            if !fields.iter().any(|f| f == change.field()) {
                fields.push(change.field().to_string());
            }
        }
    }
    let drifted = recorded.changed && !recorded.first;
    let mut code = check::verdict(&report, opts.fail_on);
    if drifted && opts.fail_on_drift {
        code = code.worst(ExitCode::Wanting);
    }
    let state = if recorded.first {
        "first".to_string()
    } else if !recorded.changed {
        "unchanged".to_string()
    } else if fields.is_empty() {
        "changed".to_string()
    } else {
        let shown: Vec<String> = fields.iter().map(|f| visible(f).into_owned()).collect();
        format!("changed: {}", shown.join(", "))
    };
    let mut failing_by_severity: std::collections::BTreeMap<String, u64> =
        crate::policy::Severity::ALL
            .iter()
            .map(|s| (s.to_string(), 0))
            .collect();
    for r in report.results.iter().filter(|r| r.status.is_failing()) {
        *failing_by_severity
            .entry(r.severity.to_string())
            .or_default() += 1;
    }
    Ok(TargetOutcome {
        failing: failing_rules,
        failing_by_severity,
        drift_changes,
        code,
        line: format!(
            "{}: #{} {state}; {} failing at or above {}{}{}",
            visible(name),
            recorded.id,
            count(failing as u64, "rule", "rules"),
            opts.fail_on,
            match &recorded.identity {
                Some(id) => format!("; account {}", visible(&id.account)),
                None => String::new(),
            },
            if tries > 1 {
                format!(" (answered on try {tries})")
            } else {
                String::new()
            },
        ),
        run: RunTarget {
            target: name.to_string(),
            snapshot: Some(recorded.id),
            changed: Some(recorded.changed && !recorded.first),
            first: recorded.first,
            error: None,
            exit_code: code,
            membership: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    use super::*;
    use crate::app::config::beijing;
    use crate::policy;
    use crate::sim::{self, SimOptions};
    use crate::store::OpenMode;
    use crate::task::clock::SystemClock;
    use crate::tencent::{CredentialSource, Secret};

    const ID: &str = "AKIDnightlyTEST";
    const KEY: &str = "nightly-test-key";

    fn target(name: &str, endpoint: &str) -> TargetSpec {
        TargetSpec {
            name: name.into(),
            endpoint: endpoint.into(),
            region: None,
            credentials: CredentialSource {
                secret_id_env: format!("{}_ID", name.to_uppercase()),
                secret_key_env: format!("{}_KEY", name.to_uppercase()),
                ..CredentialSource::default()
            },
            account: None,
        }
    }

    #[test]
    fn a_target_whose_task_panics_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("a.db"), OpenMode::Create).unwrap();
        let set = policy::builtin().set;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let runtime =
            crate::app::runtime::runtime(crate::app::runtime::Threads::Workers(2)).unwrap();
        let (outcomes, heard) = runtime.block_on(async {
            let sim = sim::start(SimOptions {
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                state_file: None,
                credentials: vec![(ID.to_string(), Secret::new(KEY))],
                latency: Duration::ZERO,
                faults: Vec::new(),
                rate_limit: 0,
                clock: clock.clone(),
                accounts_file: None,
                temp_lifetime: None,
                tls: None,
            })
            .await
            .unwrap();
            let url = sim.url();
            let targets: Vec<TargetSpec> =
                ["alpha", "beta", "gamma"].map(|n| target(n, &url)).into();
            // Reading beta's credentials panics inside its fetch task.
            let env: EnvLookup = Arc::new(|name: &str| match name {
                "BETA_ID" => panic!("a bug while reading beta's credentials"),
                n if n.ends_with("_ID") => Some(ID.to_string()),
                n if n.ends_with("_KEY") => Some(KEY.to_string()),
                _ => None,
            });
            let opts = JobOptions {
                services: Default::default(),
                concurrency: 3,
                fail_on_drift: false,
                endpoint: None,
                client: ClientOptions::default(),
                fail_on: Severity::High,
                times: crate::policy::Times::new(beijing(), chrono_tz::Tz::UTC),
                env,
            };
            let mut heard = Vec::new();
            let outcomes = snapshot_and_check(&mut store, &set, &targets, clock, &opts, |o| {
                heard.push(o.run.target.clone())
            })
            .await
            .unwrap();
            sim.shutdown().await;
            (outcomes, heard)
        });
        assert_eq!(heard.len(), 3, "every target is reported: {heard:?}");
        let by_name: Vec<(&str, Option<i64>, u8)> = outcomes
            .iter()
            .map(|o| (o.run.target.as_str(), o.run.snapshot, o.run.exit_code as u8))
            .collect();
        assert_eq!(by_name[1].0, "beta");
        // A panic is a bug: exit 5, the most severe, for that target alone.
        assert_eq!((by_name[1].1, by_name[1].2), (None, 5), "{by_name:?}");
        assert_eq!(outcomes[1].code, ExitCode::Internal);
        let why = outcomes[1].run.error.as_deref().unwrap();
        assert!(
            why.contains("beta") && why.contains("a bug while reading"),
            "{why}"
        );
        for i in [0, 2] {
            assert!(by_name[i].1.is_some(), "{by_name:?}");
        }
        assert_eq!(store.targets().unwrap(), ["alpha", "gamma"]);
    }
}

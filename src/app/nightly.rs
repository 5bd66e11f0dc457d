//! The nightly job's core, shared by `audit run` and `audit demo`: fetch every target (bounded
//! concurrency), record each answer as it arrives, check it, and say how each target went.

use std::sync::Arc;

use crate::app::check;
use crate::app::config::TargetSpec;
use crate::app::snapshot::{self, Arrival, EnvLookup};
use crate::app::{Error, ExitCode};
use crate::policy::{PolicySet, RuleStatus, Severity};
use crate::report::compliance::RunTarget;
use crate::store::Store;
use crate::task::clock::Clock;
use crate::tencent::ClientOptions;

/// How the job runs.
#[derive(Clone)]
pub struct JobOptions {
    pub concurrency: usize,
    pub endpoint: Option<String>,
    pub client: ClientOptions,
    pub fail_on: Severity,
    pub api_offset: chrono::FixedOffset,
    pub env: EnvLookup,
}

/// One target's outcome.
#[derive(Debug, Clone)]
pub struct TargetOutcome {
    pub code: ExitCode,
    /// The summary line for people.
    pub line: String,
    pub run: RunTarget,
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
    for target in targets.iter().cloned() {
        let permits = permits.clone();
        let clock = clock.clone();
        let opts = opts.clone();
        tasks.spawn(async move {
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
            )
            .await;
            (target.name, result)
        });
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
            let (target, fetched) = joined.expect("fetch tasks do not panic");
            match fetched {
                Ok((fetched, endpoint)) => arrivals.push(Arrival {
                    target,
                    fetched,
                    endpoint,
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
                    let o = judge(store, set, &a.target, &r, clock.as_ref(), opts, &mut checks)
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
    }
    store.save_checks(&checks)?;
    outcomes.sort_by(|a, b| a.run.target.cmp(&b.run.target));
    Ok(outcomes)
}

fn failed(target: &str, e: &Error) -> TargetOutcome {
    TargetOutcome {
        code: e.exit_code(),
        line: format!("{target}: error: {e}"),
        run: RunTarget {
            target: target.to_string(),
            snapshot: None,
            changed: None,
            error: Some(e.to_string()),
            exit_code: e.exit_code() as u8,
        },
    }
}

/// Checks a recorded snapshot; its result joins `checks`, which are kept together at the end.
fn judge(
    store: &Store,
    set: &PolicySet,
    name: &str,
    recorded: &crate::store::Recorded,
    clock: &dyn Clock,
    opts: &JobOptions,
    checks: &mut Vec<crate::store::StoredCheck>,
) -> Result<TargetOutcome, Error> {
    let meta = store.meta(recorded.id)?;
    let now = clock.now();
    let report = check::check_snapshot(store, set, &meta, now, opts.api_offset)?;
    checks.push(check::to_stored(set, &report, now)?);
    let failing = report
        .results
        .iter()
        .filter(|r| {
            r.severity >= opts.fail_on && matches!(r.status, RuleStatus::Fail | RuleStatus::Error)
        })
        .count();
    let changes: usize = store
        .events(name, Some(recorded.observed_at), Some(recorded.observed_at))?
        .into_iter()
        .filter(|e| e.to == recorded.id)
        .map(|e| e.changes.len())
        .sum();
    let code = check::verdict(&report, opts.fail_on);
    Ok(TargetOutcome {
        code,
        line: format!(
            "{name}: #{} {}{}, {failing} rule(s) failing at or above {}",
            recorded.id,
            if recorded.changed {
                "changed"
            } else {
                "unchanged"
            },
            if changes > 0 {
                format!(" ({changes} change(s))")
            } else {
                String::new()
            },
            opts.fail_on,
        ),
        run: RunTarget {
            target: name.to_string(),
            snapshot: Some(recorded.id),
            changed: Some(recorded.changed),
            error: None,
            exit_code: code as u8,
        },
    })
}

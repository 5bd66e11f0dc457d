//! Fetching a target's task and recording it: the work `audit snapshot` and `audit run` share.

use std::sync::Arc;

use crate::app::config::TargetSpec;
use crate::app::{Error, ExitCode};
use crate::store::{NewSnapshot, Recorded, Store};
use crate::task::clock::Clock;
use crate::task::normalize;
use crate::task::source::Source;
use crate::task::text::visible;
use crate::tencent::{self, Client, ClientOptions, Endpoint, Fetched};

/// The outcome for one target.
#[derive(Debug)]
pub struct TargetOutcome {
    pub target: String,
    pub result: Result<Recorded, Error>,
}

impl TargetOutcome {
    pub fn exit_code(&self) -> ExitCode {
        match &self.result {
            Ok(_) => ExitCode::Ok,
            Err(e) => e.exit_code(),
        }
    }
}

/// Builds a signed client for a target, reading its credentials.
pub fn client_for(
    target: &TargetSpec,
    endpoint_override: Option<&str>,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Client, tencent::Error> {
    let endpoint = Endpoint::parse(endpoint_override.unwrap_or(&target.endpoint))?;
    let credentials = target.credentials.resolve(&target.name, env)?;
    let mut options = options.clone();
    if options.region.is_none() {
        options.region = target.region.clone();
    }
    Client::new(endpoint, credentials, clock, options)
}

/// Where credentials' variables are read: the process environment, or a stand-in's for the demo.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment.
pub fn process_env() -> EnvLookup {
    Arc::new(|name: &str| std::env::var(name).ok())
}

/// Fetches one target's task (no storage involved, so many can run at once).
pub async fn fetch(
    target: &TargetSpec,
    endpoint_override: Option<&str>,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
    env: &EnvLookup,
) -> Result<(Fetched, String), Error> {
    let client = client_for(target, endpoint_override, clock, options, env.as_ref())?;
    let endpoint = client.endpoint().to_string();
    let fetched = client.describe().await?;
    Ok((fetched, endpoint))
}

/// One fetched answer waiting to be recorded.
#[derive(Debug)]
pub struct Arrival {
    pub target: String,
    pub fetched: Fetched,
    pub endpoint: String,
}

/// Records a fetched answer for `target`.
pub fn record_fetched(
    store: &mut Store,
    arrival: Arrival,
    clock: &dyn Clock,
) -> Result<Recorded, Error> {
    Ok(record_arrivals(store, std::slice::from_ref(&arrival), clock)?.remove(0))
}

/// Records answers that arrived together in one transaction: all of them or none.
pub fn record_arrivals(
    store: &mut Store,
    arrivals: &[Arrival],
    clock: &dyn Clock,
) -> Result<Vec<Recorded>, Error> {
    let now = clock.now();
    let parts: Vec<_> = arrivals
        .iter()
        .map(|a| {
            (
                normalize::Prepared::new(normalize::normalize(&a.fetched.answer.fields)),
                normalize::status_of(&a.fetched.answer.fields),
            )
        })
        .collect();
    let batch: Vec<NewSnapshot<'_>> = arrivals
        .iter()
        .zip(&parts)
        .map(|(a, (config, status))| NewSnapshot {
            target: &a.target,
            observed_at: a.fetched.at,
            recorded_at: now,
            source: Source::Fetch,
            endpoint: Some(&a.endpoint),
            request_id: a.fetched.answer.request_id(),
            raw: &a.fetched.raw,
            config,
            status,
        })
        .collect();
    let recorded = store.record_batch(&batch)?;
    for (a, r) in arrivals.iter().zip(&recorded) {
        warn_new_fields(&a.target, r);
    }
    Ok(recorded)
}

/// Says which undocumented fields a target shows for the first time: they are kept and compared
/// as plain JSON, but someone should know the API changed.
pub fn warn_new_fields(target: &str, recorded: &Recorded) {
    for field in &recorded.new_fields {
        tracing::warn!(
            "target {}: the answer has a field {} that this tool does not document; it is kept and compared as plain JSON",
            visible(target),
            visible(field)
        );
    }
}

/// Fetches and records each target in turn (`audit snapshot`): one target failing does not stop
/// the others. `done` hears of each outcome as it comes; a callback error stops the job.
pub fn snapshot_targets(
    store: &mut Store,
    targets: &[TargetSpec],
    endpoint_override: Option<&str>,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
    mut done: impl FnMut(&TargetOutcome) -> Result<(), Error>,
) -> Result<Vec<TargetOutcome>, Error> {
    let runtime = crate::app::runtime::runtime(crate::app::runtime::Threads::Current)?;
    let env = process_env();
    let mut outcomes = Vec::with_capacity(targets.len());
    for target in targets {
        let result = runtime
            .block_on(fetch(
                target,
                endpoint_override,
                clock.clone(),
                options,
                &env,
            ))
            .and_then(|(fetched, endpoint)| {
                let arrival = Arrival {
                    target: target.name.clone(),
                    fetched,
                    endpoint,
                };
                record_fetched(store, arrival, clock.as_ref())
            });
        let outcome = TargetOutcome {
            target: target.name.clone(),
            result,
        };
        done(&outcome)?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

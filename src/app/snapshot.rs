//! Fetching a target's task and recording it: the work `audit snapshot` and `audit run` share.

use std::sync::Arc;

use crate::app::config::TargetSpec;
use crate::app::{Error, ExitCode};
use crate::store::{NewSnapshot, Recorded, Store};
use crate::task::clock::Clock;
use crate::task::normalize;
use crate::task::source::Identity;
use crate::task::source::Source;
use crate::task::text::visible;
use crate::tencent::client::TCSS;
use crate::tencent::credentials::{self, SourceEndpoints};
use crate::tencent::identity;
use crate::tencent::{self, Client, ClientOptions, Endpoint, Fetched, Provider};

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

/// Where the APIs besides TCSS are, as the config sets them (`None`: the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSettings {
    pub sts: Option<String>,
    pub organization: Option<String>,
    pub metadata: Option<String>,
}

/// The services' endpoints for a target whose TCSS endpoint is `tcss`. With a loopback `tcss`
/// (the stand-in, which serves every API on one address) each one not set defaults to it too.
pub struct Services {
    pub sources: SourceEndpoints,
    pub organization: Endpoint,
}

impl ServiceSettings {
    pub fn resolve(&self, tcss: &Endpoint) -> Result<Services, tencent::Error> {
        let local = tcss.is_loopback();
        let pick = |set: &Option<String>, default: &str| -> Result<Endpoint, tencent::Error> {
            match set {
                Some(s) => Endpoint::parse(s),
                None if local => Ok(tcss.clone()),
                None => Endpoint::parse(default),
            }
        };
        let metadata = match &self.metadata {
            Some(m) => m.clone(),
            None if local => tcss.url().to_string(),
            None => credentials::DEFAULT_METADATA.into(),
        };
        let metadata = credentials::metadata_url(&metadata).map_err(|message| {
            tencent::Error::BadEndpoint {
                endpoint: metadata.clone(),
                message,
            }
        })?;
        Ok(Services {
            sources: SourceEndpoints {
                sts: pick(&self.sts, STS_ENDPOINT)?,
                metadata,
            },
            organization: pick(&self.organization, ORGANIZATION_ENDPOINT)?,
        })
    }
}

/// STS's and Organization's public hosts.
pub const STS_ENDPOINT: &str = "sts.tencentcloudapi.com";
pub const ORGANIZATION_ENDPOINT: &str = "organization.tencentcloudapi.com";

/// A target's client and where its credentials come from.
pub struct TargetClient {
    pub client: Client,
    pub provider: Provider,
    pub services: Services,
    pub options: ClientOptions,
}

/// Builds a signed client for a target: its credentials from the source it names (or the chain),
/// and the role it assumes, if any.
pub async fn client_for(
    target: &TargetSpec,
    endpoint_override: Option<&str>,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
    settings: &ServiceSettings,
) -> Result<TargetClient, tencent::Error> {
    let endpoint = Endpoint::parse(endpoint_override.unwrap_or(&target.endpoint))?;
    let services = settings.resolve(&endpoint)?;
    let mut options = options.clone();
    if options.region.is_none() {
        options.region = target.region.clone();
    }
    let provider = target
        .credentials
        .provider(
            &target.name,
            env,
            &services.sources,
            clock.clone(),
            &options,
        )
        .await?;
    // Had here, before any request, so that a refusal of them names this target.
    provider
        .current()
        .await
        .map_err(|e| e.for_target(&target.name))?;
    let client = Client::with(endpoint, provider.clone(), TCSS, clock, options.clone())?;
    Ok(TargetClient {
        client,
        provider,
        services,
        options,
    })
}

/// Where credentials' variables are read: the process environment, or a stand-in's for the demo.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment, as it was when this was called. Read once: a run looks up several
/// variables a target, and `getenv` scans the whole environment each time, which for a fleet
/// with a credential pair a target (twenty thousand variables) took a fifth of the run.
/// A variable whose name or value is not UTF-8 is absent, as `std::env::var` has it.
pub fn process_env() -> EnvLookup {
    let vars: std::collections::HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    Arc::new(move |name: &str| vars.get(name).cloned())
}

/// One target's answer, where it came from, and which account its credentials belong to.
#[derive(Debug)]
pub struct FetchedFrom {
    pub fetched: Fetched,
    pub endpoint: String,
    pub identity: Option<Identity>,
}

/// Fetches one target's task (no storage involved, so many can run at once), and asks STS, at
/// the same time, which account the credentials belong to (once per credential per process).
/// A target pinned to an account gets nothing but an error from any other.
pub async fn fetch(
    target: &TargetSpec,
    endpoint_override: Option<&str>,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
    env: &EnvLookup,
    settings: &ServiceSettings,
) -> Result<FetchedFrom, Error> {
    let tc = client_for(
        target,
        endpoint_override,
        clock.clone(),
        options,
        env.as_ref(),
        settings,
    )
    .await?;
    let endpoint = tc.client.endpoint().to_string();
    let (fetched, identity) = tokio::join!(
        tc.client.describe(),
        identity::caller_identity(&tc.provider, &tc.services.sources.sts, clock, &tc.options)
    );
    let fetched = fetched?;
    let identity = match (identity, &target.account) {
        (Ok(id), Some(pin)) if id.account != *pin => {
            return Err(tencent::Error::WrongAccount {
                target: target.name.clone(),
                expected: pin.clone(),
                found: id.account,
                arn: id.arn,
            }
            .into());
        }
        (Ok(id), _) => Some(id),
        (Err(e), Some(pin)) => {
            return Err(tencent::Error::Credentials {
                origin: tc.provider.origin(),
                message: format!(
                    "target {:?} is pinned to account {pin}, and which account its credentials belong to cannot be asked (sts:GetCallerIdentity): {e}; nothing was recorded",
                    visible(&target.name)
                ),
            }
            .into());
        }
        (Err(e), None) => {
            tracing::warn!(
                "target {}: which account the answer came from is not known (sts:GetCallerIdentity failed: {}); it is recorded without one",
                visible(&target.name),
                visible(&e.to_string())
            );
            None
        }
    };
    Ok(FetchedFrom {
        fetched,
        endpoint,
        identity,
    })
}

/// One fetched answer waiting to be recorded.
#[derive(Debug)]
pub struct Arrival {
    pub target: String,
    pub fetched: Fetched,
    pub endpoint: String,
    pub identity: Option<Identity>,
}

impl Arrival {
    /// The answer's normalized config and its status fields.
    pub fn prepare(&self) -> (normalize::Prepared, normalize::Status) {
        (
            normalize::Prepared::new(normalize::normalize(&self.fetched.answer.fields)),
            normalize::status_of(&self.fetched.answer.fields),
        )
    }

    /// The observation to record, with `parts` from [`Arrival::prepare`].
    pub fn snapshot<'a>(
        &'a self,
        (config, status): &'a (normalize::Prepared, normalize::Status),
        now: chrono::DateTime<chrono::Utc>,
    ) -> NewSnapshot<'a> {
        NewSnapshot {
            target: &self.target,
            observed_at: self.fetched.at,
            recorded_at: now,
            source: Source::Fetch,
            endpoint: Some(&self.endpoint),
            request_id: self.fetched.answer.request_id(),
            raw: &self.fetched.raw,
            config,
            status,
            identity: self.identity.as_ref(),
        }
    }
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
    let parts: Vec<_> = arrivals.iter().map(Arrival::prepare).collect();
    let batch: Vec<NewSnapshot<'_>> = arrivals
        .iter()
        .zip(&parts)
        .map(|(a, parts)| a.snapshot(parts, now))
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
    settings: &ServiceSettings,
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
                settings,
            ))
            .and_then(|f| {
                let arrival = Arrival {
                    target: target.name.clone(),
                    fetched: f.fetched,
                    endpoint: f.endpoint,
                    identity: f.identity,
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

#[cfg(test)]
mod tests {
    use super::process_env;

    #[test]
    fn the_environment_read_once_answers_as_the_process_environment_does() {
        let env = process_env();
        let mut compared = 0;
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            assert_eq!(env(name), value.into_string().ok(), "{name}");
            compared += 1;
        }
        assert!(compared > 0, "a test process has an environment");
        assert_eq!(env("TCSS_AUDIT_NO_SUCH_VARIABLE_AT_ALL"), None);
    }
}

//! `audit run` as one call: its flags, resolved by the command line into a [`RunRequest`], become
//! the run's targets (the config file's, the organization's members), its policies and its
//! plan here, and the nightly job runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::app::config::{Settings, TargetSpec};
use crate::app::nightly::{self, JobOptions, NightlyDone, NightlyRun, OrgMembers, TargetOutcome};
use crate::app::organization::{self, Collision};
use crate::app::{Error, check};
use crate::task::clock::Clock;

/// What `audit run` is asked, its flags resolved; the rest comes from the config file.
pub struct RunRequest<'a> {
    pub settings: &'a Settings,
    /// The config file's targets that `--target` selects: none when it names none of them and
    /// the organization may hold it.
    pub configured: Vec<TargetSpec>,
    /// `--target`: one target or member, else every one.
    pub only: Option<String>,
    /// `--profile`, for every target.
    pub profile: Option<String>,
    /// `--policy` paths; none: the config file's, else the shipped policies.
    pub policies: Vec<PathBuf>,
    pub db: PathBuf,
    pub lock_timeout: Duration,
    pub window: chrono::Duration,
    pub tz: chrono_tz::Tz,
    /// Where the reports go; none: `reports/` beside the database.
    pub out_dir: Option<PathBuf>,
    pub signing_key: Option<Arc<crate::trust::SigningKey>>,
    pub line: crate::store::LineSettings,
    pub notify_dry_run: bool,
    pub metrics: Option<PathBuf>,
    pub ocsf: bool,
    pub job: JobOptions,
}

/// What the run did, and the members it left out because their names were not their own.
pub struct RunDone {
    pub done: NightlyDone,
    pub collisions: Vec<Collision>,
}

/// What the caller hears while the run goes: how many targets it has, then each one done.
pub trait Progress {
    fn start(&mut self, targets: usize);
    fn done(&mut self, outcome: &TargetOutcome);
}

/// Runs the nightly job `request` asks for. A destination that may not be sent to is refused
/// before any request; then the targets and policies are resolved, and the job runs.
pub fn run(
    request: RunRequest<'_>,
    clock: Arc<dyn Clock>,
    progress: &mut dyn Progress,
) -> Result<RunDone, Error> {
    let settings = request.settings;
    if !request.notify_dry_run {
        crate::app::notify::check_destinations(&settings.notify, request.job.env.as_ref())?;
    }
    let (mut targets, organization, collisions) = targets(&request, clock.clone())?;
    if let Some(p) = &request.profile {
        for t in &mut targets {
            t.credentials.profile = Some(p.clone());
        }
    }
    let loaded = check::load_policies(&request.policies, settings)?;
    let out_dir = request.out_dir.clone().unwrap_or_else(|| {
        request
            .db
            .parent()
            .map(|p| p.join("reports"))
            .unwrap_or_else(|| PathBuf::from("reports"))
    });
    let plan = NightlyRun {
        db: request.db,
        lock_timeout: request.lock_timeout,
        set: &loaded.set,
        targets: &targets,
        job: request.job,
        window: request.window,
        tz: request.tz,
        out_dir,
        signing_key: request.signing_key,
        line: request.line,
        organization,
        notify: settings.notify.clone(),
        notify_dry_run: request.notify_dry_run,
        metrics: request.metrics.or_else(|| settings.metrics_file.clone()),
        ocsf: request.ocsf,
    };
    progress.start(targets.len());
    let done = nightly::run(&plan, clock, |o| progress.done(o))?;
    Ok(RunDone { done, collisions })
}

/// The run's targets, the organization's members among them, and the members left out.
type Targets = (Vec<TargetSpec>, Option<OrgMembers>, Vec<Collision>);

/// The run's targets: the config file's, and with an organization its members (and then not
/// the default target); members whose names are not their own are left out, as collisions.
fn targets(request: &RunRequest<'_>, clock: Arc<dyn Clock>) -> Result<Targets, Error> {
    let settings = request.settings;
    let mut targets = request.configured.clone();
    let Some(spec) = &settings.organization else {
        return Ok((targets, None, Vec::new()));
    };
    if !settings.targets_given {
        targets.clear();
    }
    let job = &request.job;
    let members = organization::resolve_members(
        spec,
        &job.services,
        job.endpoint.as_deref(),
        clock,
        &job.client,
        &job.env,
    )?;
    let configured: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let only = request.only.as_deref();
    let named = organization::name_members(spec, &members, &configured, |name| {
        only.is_none_or(|t| t == name)
    });
    let names: Vec<String> = named.targets.iter().map(|t| t.name.clone()).collect();
    targets.extend(named.targets);
    let collisions = named.collisions;
    if targets.is_empty() && !collisions.is_empty() {
        let each: Vec<String> = collisions.iter().map(ToString::to_string).collect();
        return Err(Error::Usage(each.join("\n")));
    }
    if targets.is_empty() {
        return Err(Error::Usage(format!(
            "target {:?} is neither in the config file nor a member of the organization",
            crate::task::text::visible(only.unwrap_or(""))
        )));
    }
    let organization = OrgMembers {
        template: spec.name.clone(),
        members: names,
        collided: collisions.iter().map(|c| c.name.clone()).collect(),
    };
    Ok((targets, Some(organization), collisions))
}

//! Putting a drifted task back: a plan from the live config and the one to restore, then an
//! apply that sends exactly that plan or nothing, reads the task back, and records both.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::app::config::TargetSpec;
use crate::app::snapshot::{self, Arrival, EnvLookup, FetchedFrom, ServiceSettings};
use crate::app::{Error, baseline};
use crate::store::{Entry, EntryKind, NewEntry, Recorded, Store};
use crate::task::clock::Clock;
use crate::task::journal_time;
use crate::task::normalize::{self, Config};
use crate::task::restore::{self, Live, PLAN_SCHEMA, Plan, RestoreTo};
use crate::task::text::visible;
use crate::task::when::{When, fmt_utc};
use crate::tencent::ClientOptions;

/// What to restore.
#[derive(Debug, Clone)]
pub enum To {
    /// The approved baseline.
    Baseline,
    /// The config recorded at a moment.
    At(When),
}

/// One target's restore: where its task is and how to reach it.
pub struct Restorer<'a> {
    pub target: &'a TargetSpec,
    pub endpoint_override: Option<&'a str>,
    pub clock: Arc<dyn Clock>,
    pub options: &'a ClientOptions,
    pub settings: &'a ServiceSettings,
    pub env: EnvLookup,
}

/// What an apply did.
#[derive(Debug)]
pub enum Applied {
    /// The plan no longer holds: nothing was sent.
    Stale(Stale),
    /// The plan has nothing the Update can send: nothing was sent.
    NothingToSend,
    /// The Update was sent and the task read back; `not_taken` names the fields that still
    /// differ from the config restored (empty: converged).
    Sent {
        entry: Box<Entry>,
        recorded: Box<Recorded>,
        not_taken: Vec<String>,
        request_id: String,
    },
    /// The Update was accepted but the task could not be read back: the apply is journalled
    /// with the Update's RequestId, and nothing else is recorded.
    ReadBackFailed {
        entry: Box<Entry>,
        request_id: String,
        error: String,
    },
}

/// Why a plan no longer holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Stale {
    /// The live config is no longer the one the plan was made from.
    LiveChanged { found: String, planned: String },
    /// The baseline the plan restores to is no longer the one in force.
    BaselineReplaced { planned: i64, in_force: Option<i64> },
}

/// Why a plan is refused before anything is sent (exit 2, or 3 when the account is not known).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Plan(#[from] crate::task::restore::PlanError),
    #[error("the plan is for target {plan:?}, not {given:?}: nothing was sent")]
    Target { plan: String, given: String },
    #[error(
        "the plan's {what} is {planned}, but the history gives {found}: it was edited; make a new plan (nothing was sent)"
    )]
    Edited {
        what: &'static str,
        planned: String,
        found: String,
    },
    #[error(
        "the credentials reach account {found}, but the {whose} is account {expected}: nothing was sent"
    )]
    OtherAccount {
        whose: &'static str,
        expected: String,
        found: String,
    },
    #[error(
        "which account the credentials reach is not known (sts:GetCallerIdentity failed), and a plan is bound to its account: nothing was sent"
    )]
    AccountUnknown,
}

impl Restorer<'_> {
    fn runtime(&self) -> Result<tokio::runtime::Runtime, Error> {
        crate::app::runtime::runtime(crate::app::runtime::Threads::Current)
    }

    /// Reads the live task (nothing is recorded).
    pub fn fetch_live(&self) -> Result<FetchedFrom, Error> {
        self.read(&self.runtime()?)
    }

    fn read(&self, runtime: &tokio::runtime::Runtime) -> Result<FetchedFrom, Error> {
        runtime.block_on(snapshot::fetch(
            self.target,
            self.endpoint_override,
            self.clock.clone(),
            self.options,
            &self.env,
            self.settings,
        ))
    }

    /// The config to restore, and what the plan says of it.
    pub fn resolve_to(&self, store: &Store, to: &To, tz: Tz) -> Result<(RestoreTo, Config), Error> {
        let name = &self.target.name;
        let to = match to {
            To::Baseline => of_baseline(&baseline::in_force(store, name, self.clock.now())?),
            To::At(when) => of_snapshot(&store.resolve(name, when, tz)?),
        };
        let config = store.config(&to.config_hash)?;
        Ok((to, config))
    }

    /// The plan that puts the live task back to `to` (the baseline in force, or the config
    /// recorded at a moment, read in `tz`), made now: the target resolved in the history, the
    /// live task read (nothing recorded), and the difference planned.
    pub fn plan_to(&self, store: &Store, to: &To, tz: Tz) -> Result<Plan, Error> {
        let (to, restored) = self.resolve_to(store, to, tz)?;
        let live = self.fetch_live()?;
        self.plan(store, &live, to, &restored, self.clock.now())
    }

    /// A plan from the live answer `live` to `restored`, made against the account the live
    /// answer's credentials reach (which must be the one the history records for the target).
    pub fn plan(
        &self,
        store: &Store,
        live: &FetchedFrom,
        to: RestoreTo,
        restored: &Config,
        now: DateTime<Utc>,
    ) -> Result<Plan, Error> {
        let account = live_account(live)?;
        if let Some(recorded) = history_account(store, &self.target.name)?
            && recorded != account
        {
            return Err(Refused::OtherAccount {
                whose: "target's history",
                expected: recorded,
                found: account,
            }
            .into());
        }
        let observed = Live {
            config_hash: String::new(),
            observed_at: fmt_utc(live.fetched.at),
            request_id: live.fetched.answer.request_id().map(str::to_string),
        };
        let config = prepared(live);
        Ok(self.derive(account, &config, observed, to, restored, fmt_utc(now)))
    }

    /// The plan the history, the live config and the given times and RequestId make, bound.
    fn derive(
        &self,
        account: String,
        live: &normalize::Prepared,
        observed: Live,
        to: RestoreTo,
        restored: &Config,
        planned_at: String,
    ) -> Plan {
        let parts = restore::parts(live.config(), restored);
        let mut plan = Plan {
            schema: PLAN_SCHEMA.into(),
            target: self.target.name.clone(),
            account,
            planned_at,
            live: Live {
                config_hash: live.hash().to_string(),
                ..observed
            },
            restore_to: to,
            changes: parts.changes,
            update: parts.update,
            not_restorable: parts.not_restorable,
            binding: String::new(),
        };
        plan.binding = restore::binding(&plan);
        plan
    }

    /// What the history says of `plan`, before any request: its target, what it restores to
    /// (the journal entry or snapshot, and its config) and its account. Gives what it restores
    /// to as the history has it, and that config.
    fn check_history(&self, store: &Store, plan: &Plan) -> Result<(RestoreTo, Config), Error> {
        let name = &self.target.name;
        if plan.target != *name {
            return Err(Refused::Target {
                plan: visible(&plan.target).into_owned(),
                given: visible(name).into_owned(),
            }
            .into());
        }
        let planned = &plan.restore_to;
        let to = match (
            planned.kind.as_str(),
            planned.journal_entry,
            planned.snapshot,
        ) {
            ("baseline", Some(id), _) => store
                .entries(Some(name), Some(EntryKind::Baseline))?
                .iter()
                .find(|e| e.id == id)
                .map(of_baseline),
            ("snapshot", None, Some(id)) => store
                .meta(id)
                .ok()
                .filter(|m| m.target == *name)
                .map(|m| of_snapshot(&m)),
            _ => None,
        };
        let Some(to) = to else {
            return Err(edited(
                "restore_to",
                planned,
                &"no such approval or snapshot of the target",
            ));
        };
        if to.config_hash != planned.config_hash {
            return Err(edited(
                "restore_to.config_hash",
                &planned.config_hash,
                &to.config_hash,
            ));
        }
        if to != *planned {
            return Err(edited("restore_to", planned, &to));
        }
        if let Some(recorded) = history_account(store, name)?
            && recorded != plan.account
        {
            return Err(edited("account", &plan.account, &recorded));
        }
        let config = store.config(&to.config_hash)?;
        Ok((to, config))
    }

    /// Whether the baseline `plan` restores to is still the one in force now.
    fn baseline_stale(&self, store: &Store, plan: &Plan) -> Result<Option<Stale>, Error> {
        let Some(planned) = plan.restore_to.journal_entry else {
            return Ok(None);
        };
        let in_force =
            baseline::in_force_at(store, &self.target.name, self.clock.now())?.map(|e| e.id);
        Ok((in_force != Some(planned)).then_some(Stale::BaselineReplaced { planned, in_force }))
    }

    /// Applies `plan` if it is still the plan the history and the live task give: its target,
    /// account, config to restore, live config, changes and Update all derived again (the
    /// binding compared), the baseline still in force. Then sends the Update, reads the task
    /// back, and records the apply and that observation in one transaction.
    pub fn apply(&self, store: &mut Store, plan: &Plan, by: &str) -> Result<Applied, Error> {
        let (to, restored) = self.check_history(store, plan)?;
        if let Some(stale) = self.baseline_stale(store, plan)? {
            return Ok(Applied::Stale(stale));
        }
        // The apply is journalled at this time: refused now if out of order, not after sending.
        journal_time::check(self.clock.now(), &store.newest_times()?).map_err(Error::OutOfOrder)?;
        let runtime = self.runtime()?;
        let live = self.read(&runtime)?;
        let account = live_account(&live)?;
        if account != plan.account {
            return Err(Refused::OtherAccount {
                whose: "plan's",
                expected: plan.account.clone(),
                found: account,
            }
            .into());
        }
        let live_config = prepared(&live);
        if live_config.hash() != plan.live.config_hash {
            return Ok(Applied::Stale(Stale::LiveChanged {
                found: live_config.hash().to_string(),
                planned: plan.live.config_hash.clone(),
            }));
        }
        let derived = self.derive(
            account,
            &live_config,
            plan.live.clone(),
            to,
            &restored,
            plan.planned_at.clone(),
        );
        same_plan(plan, &derived)?;
        if plan.update.is_empty() {
            return Ok(Applied::NothingToSend);
        }
        let tc = runtime.block_on(snapshot::client_for(
            self.target,
            self.endpoint_override,
            self.clock.clone(),
            self.options,
            self.env.as_ref(),
            self.settings,
        ))?;
        let request_id = runtime.block_on(tc.client.update(&Value::Object(plan.update.clone())))?;
        match self.read(&runtime) {
            Ok(after) => self.record(store, plan, &restored, by, request_id, after),
            Err(e) => self.record_unread(store, plan, by, request_id, &e),
        }
    }

    /// Records a sent Update with the observation read back after it.
    fn record(
        &self,
        store: &mut Store,
        plan: &Plan,
        restored: &Config,
        by: &str,
        request_id: String,
        after: FetchedFrom,
    ) -> Result<Applied, Error> {
        let arrival = Arrival {
            target: self.target.name.clone(),
            fetched: after.fetched,
            endpoint: after.endpoint,
            identity: after.identity,
        };
        let prepared = arrival.prepare();
        let not_taken = restore::not_taken(prepared.0.config(), restored);
        let detail = json!({
            "plan": plan,
            "update_request_id": request_id,
            "outcome": if not_taken.is_empty() { "converged" } else { "not_converged" },
            "not_taken": not_taken,
            "live_after": prepared.0.hash(),
        });
        let now = self.clock.now();
        let (entry, recorded) = store.record_after_entry(
            &self.entry(plan, by, now, &detail),
            &arrival.snapshot(&prepared, now),
        )?;
        crate::app::snapshot::warn_new_fields(&self.target.name, &recorded);
        Ok(Applied::Sent {
            entry: Box::new(entry),
            recorded: Box::new(recorded),
            not_taken,
            request_id,
        })
    }

    /// Records an Update that was accepted but whose read-back failed: the task may have
    /// changed, so the apply is journalled (with the Update's RequestId) though nothing was
    /// observed after it.
    fn record_unread(
        &self,
        store: &mut Store,
        plan: &Plan,
        by: &str,
        request_id: String,
        error: &Error,
    ) -> Result<Applied, Error> {
        let error = error.to_string();
        let detail = json!({
            "plan": plan,
            "update_request_id": request_id,
            "outcome": restore::READ_BACK_FAILED,
            "read_back_error": error,
        });
        let entry = store.append_entry(&self.entry(plan, by, self.clock.now(), &detail))?;
        Ok(Applied::ReadBackFailed {
            entry: Box::new(entry),
            request_id,
            error,
        })
    }

    fn entry<'e>(
        &'e self,
        plan: &'e Plan,
        by: &'e str,
        at: DateTime<Utc>,
        detail: &'e Value,
    ) -> NewEntry<'e> {
        NewEntry {
            target: &self.target.name,
            kind: EntryKind::Restore,
            at,
            by,
            reason: "",
            snapshot: None,
            config_hash: &plan.restore_to.config_hash,
            detail,
        }
    }
}

/// Refuses `plan` unless it is `derived` (the plan the history and the live task give): the
/// changes and the Update named first, then every other field through the binding.
fn same_plan(plan: &Plan, derived: &Plan) -> Result<(), Error> {
    if plan.changes != derived.changes {
        return Err(edited("changes", &plan.changes, &derived.changes));
    }
    if plan.update != derived.update {
        return Err(edited("update", &plan.update, &derived.update));
    }
    if plan.binding != derived.binding {
        return Err(edited("binding", &plan.binding, &derived.binding));
    }
    Ok(())
}

/// A plan field that is not what the history gives.
fn edited(
    what: &'static str,
    planned: &impl serde::Serialize,
    found: &impl serde::Serialize,
) -> Error {
    Refused::Edited {
        what,
        planned: one_line(planned),
        found: one_line(found),
    }
    .into()
}

/// A value as JSON on one line, escaped and cut short: a change list can be long, and the plan
/// file holds it whole.
fn one_line(v: &impl serde::Serialize) -> String {
    const MAX: usize = 200;
    let text = serde_json::to_string(v).unwrap_or_default();
    let text = visible(&text);
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// What a plan says of a baseline's approval.
fn of_baseline(b: &Entry) -> RestoreTo {
    RestoreTo {
        kind: "baseline".into(),
        journal_entry: Some(b.id),
        snapshot: b.snapshot,
        config_hash: b.config_hash.clone(),
        approved_at: Some(fmt_utc(b.at)),
        approved_by: Some(b.by.clone()),
    }
}

/// What a plan says of a recorded snapshot.
fn of_snapshot(meta: &crate::store::SnapshotMeta) -> RestoreTo {
    RestoreTo {
        kind: "snapshot".into(),
        journal_entry: None,
        snapshot: Some(meta.id),
        config_hash: meta.config_hash.clone(),
        approved_at: None,
        approved_by: None,
    }
}

/// The account a live answer's credentials reach.
fn live_account(live: &FetchedFrom) -> Result<String, Error> {
    Ok(live
        .identity
        .as_ref()
        .ok_or(Refused::AccountUnknown)?
        .account
        .clone())
}

/// The account the target's latest snapshot was recorded from, when it records one.
fn history_account(store: &Store, target: &str) -> Result<Option<String>, Error> {
    match store.resolve(target, &When::Latest, chrono_tz::UTC) {
        Ok(meta) => Ok(meta.identity.map(|i| i.account)),
        Err(crate::store::StoreError::NoSnapshot { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The normalized config of a live answer.
fn prepared(live: &FetchedFrom) -> normalize::Prepared {
    normalize::Prepared::new(normalize::normalize(&live.fetched.answer.fields))
}

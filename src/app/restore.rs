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
use crate::task::normalize::{self, Config};
use crate::task::restore::{self, Live, PLAN_SCHEMA, Plan, RestoreTo};
use crate::task::text::visible;
use crate::task::when::{When, fmt_utc_exact};
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
    /// The live config is no longer the one the plan was made from: nothing was sent.
    Stale { found: String, planned: String },
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
        match to {
            To::Baseline => {
                let b = baseline::in_force(store, name, self.clock.now())?;
                let config = store.config(&b.config_hash)?;
                Ok((
                    RestoreTo {
                        kind: "baseline".into(),
                        snapshot: b.snapshot,
                        config_hash: b.config_hash,
                        approved_at: Some(fmt_utc_exact(b.at)),
                        approved_by: Some(b.by),
                    },
                    config,
                ))
            }
            To::At(when) => {
                let meta = store.resolve(name, when, tz)?;
                let config = store.config(&meta.config_hash)?;
                Ok((
                    RestoreTo {
                        kind: "snapshot".into(),
                        snapshot: Some(meta.id),
                        config_hash: meta.config_hash,
                        approved_at: None,
                        approved_by: None,
                    },
                    config,
                ))
            }
        }
    }

    /// A plan from the live answer `live` to `restored`.
    pub fn plan(
        &self,
        live: &FetchedFrom,
        to: RestoreTo,
        restored: &Config,
        now: DateTime<Utc>,
    ) -> Plan {
        let config = prepared(live);
        let parts = restore::parts(config.config(), restored);
        Plan {
            schema: PLAN_SCHEMA.into(),
            target: self.target.name.clone(),
            made_at: fmt_utc_exact(now),
            live: Live {
                config_hash: config.hash().to_string(),
                observed_at: fmt_utc_exact(live.fetched.at),
                request_id: live.fetched.answer.request_id().map(str::to_string),
            },
            restore_to: to,
            changes: parts.changes,
            update: parts.update,
            not_restorable: parts.not_restorable,
        }
    }

    /// Reads a saved plan's config to restore from the history, after checking that the plan is
    /// this target's. (That its changes are what its two configs give is checked by
    /// [`Restorer::apply`], against the live config itself.)
    pub fn check_saved(&self, store: &Store, plan: &Plan) -> Result<Config, Error> {
        if plan.schema != PLAN_SCHEMA {
            return Err(Error::Input(format!(
                "the plan's schema is {:?}, not {PLAN_SCHEMA}",
                visible(&plan.schema)
            )));
        }
        if plan.target != self.target.name {
            return Err(Error::Usage(format!(
                "the plan is for target {}, not {}",
                visible(&plan.target),
                visible(&self.target.name)
            )));
        }
        Ok(store.config(&plan.restore_to.config_hash)?)
    }

    /// Sends `plan`'s Update if the live config still has the plan's hash, reads the task
    /// back, and records the apply and that observation in one transaction.
    pub fn apply(
        &self,
        store: &mut Store,
        plan: &Plan,
        restored: &Config,
        by: &str,
    ) -> Result<Applied, Error> {
        let runtime = self.runtime()?;
        let live = self.read(&runtime)?;
        let live_config = prepared(&live);
        if live_config.hash() != plan.live.config_hash {
            return Ok(Applied::Stale {
                found: live_config.hash().to_string(),
                planned: plan.live.config_hash.clone(),
            });
        }
        // Same live config, same config to restore: the changes and parameters are the plan's,
        // unless someone edited it.
        let parts = restore::parts(live_config.config(), restored);
        if parts.update != plan.update || parts.changes != plan.changes {
            return Err(Error::Input(
                "the plan's changes or parameters are not what its two configs give: it was edited; make a new one".into(),
            ));
        }
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
        let after = self.read(&runtime)?;
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
            &NewEntry {
                target: &self.target.name,
                kind: EntryKind::Restore,
                at: now,
                by,
                reason: "",
                snapshot: None,
                config_hash: &plan.restore_to.config_hash,
                detail: &detail,
            },
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
}

/// The normalized config of a live answer.
fn prepared(live: &FetchedFrom) -> normalize::Prepared {
    normalize::Prepared::new(normalize::normalize(&live.fetched.answer.fields))
}

//! The one judge: which history a verdict on an observation sees, and the verdict, waivers
//! applied. `audit check`, the nightly job and the compliance report's days all judge through it,
//! so a day's verdict in a report is the one `audit check` gives for the same snapshot and time.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeSet;
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::baseline::Baseline;
use super::evaluate::{
    CheckReport, Observation, RuleStatus, View, evaluate_rule, followed_value, report_of,
    waiver_in_force,
};
use super::model::{Check, Condition, PolicySet, Rule, Severity};
use super::ops::{TimeCtx, Times, changed_flags};
use crate::task::fields;

/// One target's observations, oldest first, prepared once for judging any number of them.
pub struct Judge<'a> {
    set: &'a PolicySet,
    target: &'a str,
    times: Times,
    history: &'a [Observation],
    /// The target's approved baselines, oldest first; a judgement as of `now` compares with the
    /// one in force then.
    baselines: &'a [Baseline],
    /// What verdicts without messages need, made on the first such verdict: `audit check` and
    /// the nightly job ask only for full reports, and need none of it.
    verdicts: OnceCell<Verdicts>,
}

/// The observations prepared for verdicts without messages.
struct Verdicts {
    /// Each observation reduced to the fields the rules read (its status fields included): a
    /// verdict needs no more, and copying whole configs (images and all) for every judgement was
    /// what a report's days cost. A baseline rule reads the whole config from the observation.
    light: Vec<Map<String, Value>>,
    /// For each history rule (by rule index), the value it follows in every observation, and
    /// whether it differs from the observation's before. A rule that follows the whole config
    /// follows its hash, which changes exactly when it does.
    followed: Vec<Option<(Vec<Value>, Vec<bool>)>>,
    /// For each observation, which run of consecutive observations with one config it is in.
    runs: Vec<usize>,
    /// For each rule whose verdict is the config's alone (see [`config_alone`]), the run it was
    /// last judged in and its status then. A year of days judges a few configs, each on many
    /// days; a config the rule saw on the day before gives the same status.
    last: RefCell<Vec<Option<(usize, RuleStatus)>>>,
}

impl Verdicts {
    fn new(set: &PolicySet, history: &[Observation]) -> Verdicts {
        let read = fields_read(set);
        let mut runs = Vec::with_capacity(history.len());
        let mut light: Vec<Map<String, Value>> = Vec::with_capacity(history.len());
        // The config's part of a view is made once for a run, then copied with each
        // observation's status added: a lookup of every field read for every observation cost
        // more than the copy.
        let mut part = Map::new();
        for (i, o) in history.iter().enumerate() {
            let same_config = i > 0 && history[i - 1].config_hash == o.config_hash;
            if !same_config {
                part = reduced_config(o, &read);
            }
            runs.push(match runs.last() {
                Some(&run) if same_config => run,
                Some(&run) => run + 1,
                None => 0,
            });
            let mut view = part.clone();
            view.extend(
                o.status
                    .fields()
                    .filter(|(name, _)| read.contains(name))
                    .map(|(name, value)| (name.to_string(), Value::String(value.into()))),
            );
            light.push(view);
        }
        let followed = set
            .rules()
            .iter()
            .map(|rule| {
                let values: Vec<Value> = match &rule.check {
                    Check::History { field: None, .. } => history
                        .iter()
                        .map(|o| Value::String(o.config_hash.clone()))
                        .collect(),
                    Check::History { field, .. } => {
                        light.iter().map(|v| followed_value(field, v)).collect()
                    }
                    Check::State(_) | Check::Baseline { .. } => return None,
                };
                let changed = changed_flags(&values);
                Some((values, changed))
            })
            .collect();
        Verdicts {
            light,
            followed,
            runs,
            last: RefCell::new(vec![None; set.rules().len()]),
        }
    }
}

impl<'a> Judge<'a> {
    /// `history`: the target's observations, oldest first (ties by snapshot id). The target has no
    /// approved baseline unless [`Judge::with_baselines`] gives it some.
    pub fn new(
        set: &'a PolicySet,
        target: &'a str,
        times: Times,
        history: &'a [Observation],
    ) -> Judge<'a> {
        Judge {
            set,
            target,
            times,
            history,
            baselines: &[],
            verdicts: OnceCell::new(),
        }
    }

    /// The same judge, with the target's approved baselines (oldest first): a judgement as of
    /// `now` compares with the newest approved at or before `now` (see [`Baseline::in_force`]).
    pub fn with_baselines(self, baselines: &'a [Baseline]) -> Judge<'a> {
        Judge { baselines, ..self }
    }

    /// The observations a judgement of observation `idx` as of `now` sees: from the last
    /// observation before `now - max_window` (every one at that time, as the store returns
    /// them), which gives the state at the window's start, through `idx`. A caller that loaded
    /// less than that gets what it loaded.
    pub fn history_range(&self, idx: usize, now: DateTime<Utc>) -> Range<usize> {
        let obs = self.history;
        let lo = (now - self.set.max_window()).min(obs[idx].at);
        let before = obs.partition_point(|o| o.at < lo);
        let start = match before.checked_sub(1) {
            Some(prev) => {
                let t = obs[prev].at;
                obs.partition_point(|o| o.at < t)
            }
            None => 0,
        };
        start..idx + 1
    }

    /// The full check of observation `idx` as of `now`: every rule's finding, with messages.
    pub fn report(&self, idx: usize, now: DateTime<Utc>) -> CheckReport {
        let range = self.history_range(idx, now);
        let current = &self.history[idx];
        let views: Vec<Map<String, Value>> = self.history[range.clone()]
            .iter()
            .map(Observation::view)
            .collect();
        let history: Vec<View> = self.history[range]
            .iter()
            .zip(&views)
            .map(|(o, v)| View { at: o.at, view: v })
            .collect();
        let current_view = views.last().expect("a range ends with idx");
        report_of(
            self.set,
            self.target,
            current,
            current_view,
            &history,
            &self.time(now),
        )
    }

    /// The rules of severity `fail_on` or above that fail (unwaived) or cannot be evaluated for
    /// observation `idx` as of `now`: the verdict of [`Judge::report`], without its messages.
    pub fn failing(&self, idx: usize, now: DateTime<Utc>, fail_on: Severity) -> Vec<String> {
        let Verdicts {
            light,
            followed,
            runs,
            last,
        } = self
            .verdicts
            .get_or_init(|| Verdicts::new(self.set, self.history));
        let range = self.history_range(idx, now);
        let history: Vec<View> = range
            .clone()
            .map(|i| View {
                at: self.history[i].at,
                view: &light[i],
            })
            .collect();
        let t = self.time(now);
        let mut last = last.borrow_mut();
        let mut failing = Vec::new();
        for ((rule, followed), last) in self.set.rules().iter().zip(followed).zip(last.iter_mut()) {
            if rule.severity < fail_on {
                continue;
            }
            let followed = followed
                .as_ref()
                .map(|(values, changed)| (&values[range.clone()], &changed[range.clone()]));
            let status = match (&rule.check, *last) {
                (_, Some((run, status))) if run == runs[idx] => status,
                // The light view holds only the fields the other rules read: a comparison with
                // the baseline reads the whole config, which the observation has.
                (Check::Baseline { ignore, .. }, _) => {
                    baseline_verdict(rule, ignore, &light[idx], &self.history[idx], &t)
                }
                _ => {
                    let status = evaluate_rule(rule, &light[idx], &history, followed, &t, false).0;
                    if config_alone(rule) {
                        *last = Some((runs[idx], status));
                    }
                    status
                }
            };
            let waived = status == RuleStatus::Fail
                && waiver_in_force(self.set, self.target, &rule.id, now).is_some();
            if status.is_failing() && !waived {
                failing.push(rule.id.clone());
            }
        }
        failing
    }

    /// The context of a judgement as of `now`: its times, and the baseline in force then.
    fn time(&self, now: DateTime<Utc>) -> TimeCtx<'a> {
        TimeCtx::new(now, self.times).with_baseline(Baseline::in_force(self.baselines, now))
    }
}

/// A baseline rule's verdict on `o` (`light`: its view for the rule's `when`), as
/// [`evaluate_rule`] gives it, from the observation's whole config.
fn baseline_verdict(
    rule: &super::model::Rule,
    ignore: &[String],
    light: &Map<String, Value>,
    o: &Observation,
    t: &super::ops::TimeCtx,
) -> RuleStatus {
    if let Some(when) = &rule.when {
        // As evaluate_rule: a `when` that does not hold makes the rule not applicable (a pass),
        // and one that cannot be read is an error.
        match when.op.check(&when.field, light, t) {
            super::ops::Verdict::Holds => {}
            super::ops::Verdict::Fails(_) => return RuleStatus::Pass,
            super::ops::Verdict::Unreadable(_) => return RuleStatus::Error,
        }
    }
    match t.baseline {
        Some(b) if !b.differing_fields(o.config.as_map(), ignore).is_empty() => RuleStatus::Fail,
        _ => RuleStatus::Pass,
    }
}

/// The top-level fields the rules of `set` read (a baseline rule reads the whole config from the
/// observation itself, not from these).
fn fields_read(set: &PolicySet) -> BTreeSet<&str> {
    let mut fields = BTreeSet::new();
    for rule in set.rules() {
        if let Some(when) = &rule.when {
            fields.insert(when.field.head.as_str());
        }
        match &rule.check {
            Check::State(c) => {
                fields.insert(c.field.head.as_str());
            }
            Check::History { field: Some(f), .. } => {
                fields.insert(f.head.as_str());
            }
            Check::History { field: None, .. } => {}
            Check::Baseline { .. } => {}
        }
    }
    fields
}

/// The config of `o` with only the fields in `read` (its status fields are the observation's).
fn reduced_config(o: &Observation, read: &BTreeSet<&str>) -> Map<String, Value> {
    read.iter()
        .filter_map(|&name| Some((name.to_string(), o.config.get(name)?.clone())))
        .collect()
}

/// Whether `rule`'s verdict on an observation is a function of its config alone, so that two
/// observations with one config get the same one: a state rule whose field and precondition
/// read config fields (not status fields, which change every night) with ops that do not read
/// the evaluation's time.
fn config_alone(rule: &Rule) -> bool {
    let alone = |c: &Condition| !fields::is_status(&c.field.head) && !c.op.reads_now();
    match &rule.check {
        Check::State(c) => alone(c) && rule.when.as_ref().is_none_or(alone),
        Check::History { .. } | Check::Baseline { .. } => false,
    }
}

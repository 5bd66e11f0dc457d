//! Evaluates a policy set on one observation and its history into plain, ordered findings.
//!
//! Time: every time-relative check is relative to the input's `now`. `within` compares against
//! `now`; a history rule's window is `[now - window, now]`, with the last observation before the
//! window giving the state at its start; `max_duration` counts a run still held at the last
//! observation up to `now`; `max_gap` includes the gap from the last observation to `now`, so a
//! job that stopped is caught. To judge a past moment as it stood then, pass `now = current.at`.
//!
//! A rule whose `when` does not hold passes with a message starting "not applicable:", as does an
//! `equals_baseline` rule for a target with no approved baseline in force at `now`.
//! A rule that cannot be evaluated (a value of the wrong type in the data, an unreadable time)
//! has status `error`, which [`CheckReport::fails_at_or_above`] counts as a failure: an
//! unevaluated rule shows nothing about compliance.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::baseline::Baseline;
use super::diagnostic::Location;
use super::fields::FieldPath;
use super::model::{Check, Condition, PolicyFileInfo, PolicySet, Rule, Severity, Waiver};
use super::ops::{HistoryOp, HistoryVerdict, Point, TimeCtx, Times, Verdict, changed_flags};
use crate::task::fields;
use crate::task::normalize::{Config, Status};

/// The offset of API times written without one: Beijing time, UTC+8.
pub fn default_api_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Waivers expiring within this many days are called out.
pub const EXPIRING_SOON_DAYS: i64 = 14;

/// One observation of a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub snapshot_id: i64,
    pub at: DateTime<Utc>,
    pub config: Config,
    /// The identity of `config`, as the store computed it.
    pub config_hash: String,
    pub status: Status,
}

impl Observation {
    /// The config with its status fields, as rules see it.
    pub fn view(&self) -> Map<String, Value> {
        let mut view = self.config.as_map().clone();
        for (name, value) in self.status.fields() {
            view.insert(name.into(), Value::String(value.into()));
        }
        view
    }
}

/// What to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    pub target: &'a str,
    pub now: DateTime<Utc>,
    pub current: &'a Observation,
    /// Oldest first, ending with `current`: at least [`PolicySet::max_window`] before `now`,
    /// plus one observation before that.
    pub history: &'a [Observation],
    /// How API times are read and findings show times.
    pub times: Times,
    /// The target's approved baseline in force at `now` (see [`Baseline::in_force`]), which
    /// `equals_baseline` rules compare `current` with; `None`: the target has none, and those
    /// rules do not apply.
    pub baseline: Option<&'a Baseline>,
}

/// The outcome of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleStatus {
    Pass,
    Fail,
    Waived,
    Error,
}

impl RuleStatus {
    /// Failed or could not be evaluated: what counts against compliance (an unevaluated rule
    /// shows nothing about it).
    pub fn is_failing(self) -> bool {
        matches!(self, RuleStatus::Fail | RuleStatus::Error)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Pass => "pass",
            RuleStatus::Fail => "fail",
            RuleStatus::Waived => "waived",
            RuleStatus::Error => "error",
        }
    }
}

impl std::fmt::Display for RuleStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The waiver that turned a failure into `waived`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverRef {
    pub rule: String,
    pub target: Option<String>,
    pub reason: String,
    pub owner: String,
    pub expires: String,
    pub file: String,
}

/// One rule's finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub status: RuleStatus,
    pub field: String,
    pub actual: Value,
    pub expected: String,
    pub message: String,
    pub remediation: String,
    pub waiver: Option<WaiverRef>,
    /// The policy file the rule comes from (as in `policies[].file`).
    #[serde(skip)]
    pub policy_file: String,
    /// Where the rule is written (its `[[rule]]` header).
    #[serde(skip)]
    pub location: Location,
    /// What `actual` is: a field's value, or a quantity a history rule measured.
    #[serde(skip)]
    pub measured: Measured,
}

/// What a finding's `actual` is, for a reader to know how to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measured {
    /// The value of a field (or of a part of one) as the task holds it: JSON.
    Value { subject: String },
    /// A quantity a history rule measured (a count, a run, a gap), in words.
    Quantity { words: String },
    /// The names of the config fields that differ from the baseline.
    BaselineFields,
}

impl Measured {
    /// Whether `actual` is a value of the task, shown as JSON; else it is a quantity, shown as
    /// its text.
    pub fn is_value(&self) -> bool {
        matches!(self, Measured::Value { .. })
    }
}

impl std::fmt::Display for Measured {
    /// In words: "the value of ScanType", "changes to ScanType in the window".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Measured::Value { subject } => write!(f, "the value of {subject}"),
            Measured::Quantity { words } => f.write_str(words),
            Measured::BaselineFields => {
                f.write_str("the config fields that differ from the baseline")
            }
        }
    }
}

/// The evaluated snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRef {
    pub id: i64,
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    pub config_hash: String,
}

fn ser_time<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::task::when::fmt_utc(*at))
}

/// Counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub waived: usize,
    pub error: usize,
}

/// What a waiver note says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaiverNoteKind {
    /// Past its date: it no longer applies.
    Expired,
    /// It suppressed nothing in this check.
    Unused,
    /// It applies, but expires within [`EXPIRING_SOON_DAYS`] days.
    ExpiringSoon,
}

/// A remark about a waiver, for the people who own it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverNote {
    pub kind: WaiverNoteKind,
    pub rule: String,
    pub target: Option<String>,
    pub owner: String,
    pub expires: String,
    pub location: Location,
    pub message: String,
}

/// The result of a check; `waiver_notes` is not part of the JSON contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub target: String,
    pub snapshot: SnapshotRef,
    pub policies: Vec<PolicyFileInfo>,
    pub results: Vec<RuleResult>,
    pub summary: Summary,
    #[serde(skip)]
    pub waiver_notes: Vec<WaiverNote>,
}

impl CheckReport {
    /// The rules of at least `sev` that failed or could not be evaluated (waived ones do not
    /// count).
    pub fn failing_at_or_above(&self, sev: Severity) -> impl Iterator<Item = &RuleResult> {
        self.results
            .iter()
            .filter(move |r| r.severity >= sev && r.status.is_failing())
    }

    /// Whether a rule of at least `sev` failed or could not be evaluated (waived ones do not count).
    pub fn fails_at_or_above(&self, sev: Severity) -> bool {
        self.failing_at_or_above(sev).next().is_some()
    }
}

/// One observation as evaluation sees it: config and status fields in one map.
pub(crate) struct View<'a> {
    pub at: DateTime<Utc>,
    pub view: &'a Map<String, Value>,
}

/// Evaluates every rule of `set` for `input`, in file and rule order.
pub fn evaluate(set: &PolicySet, input: &CheckInput) -> CheckReport {
    let views: Vec<Map<String, Value>> = input.history.iter().map(Observation::view).collect();
    let mut history: Vec<View> = input
        .history
        .iter()
        .zip(&views)
        .map(|(o, v)| View { at: o.at, view: v })
        .collect();
    let current_view = input.current.view();
    // The contract says history ends with current; accept callers that leave it out.
    if input.history.last() != Some(input.current) {
        history.push(View {
            at: input.current.at,
            view: &current_view,
        });
    }
    let t = TimeCtx::new(input.now, input.times).with_baseline(input.baseline);
    report_of(
        set,
        input.target,
        input.current,
        &current_view,
        &history,
        &t,
    )
}

/// The full report on `current` (whose view is `current_view`) with `history` behind it.
pub(crate) fn report_of(
    set: &PolicySet,
    target: &str,
    current: &Observation,
    current_view: &Map<String, Value>,
    history: &[View],
    t: &TimeCtx,
) -> CheckReport {
    let (results, waiver_notes) = evaluate_views(set, target, current_view, history, t);
    let mut summary = Summary::default();
    for r in &results {
        match r.status {
            RuleStatus::Pass => summary.pass += 1,
            RuleStatus::Fail => summary.fail += 1,
            RuleStatus::Waived => summary.waived += 1,
            RuleStatus::Error => summary.error += 1,
        }
    }
    CheckReport {
        target: target.to_string(),
        snapshot: SnapshotRef {
            id: current.snapshot_id,
            at: current.at,
            config_hash: current.config_hash.clone(),
        },
        policies: set.files().to_vec(),
        results,
        summary,
        waiver_notes,
    }
}

pub(crate) fn config_only(view: &Map<String, Value>) -> Value {
    Value::Object(
        view.iter()
            .filter(|(k, _)| !fields::is_status(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// The value a history rule follows in one observation: its field, or the whole config.
pub(crate) fn followed_value(
    field: &Option<super::fields::FieldPath>,
    view: &Map<String, Value>,
) -> Value {
    match field {
        Some(f) => f.value_of(view),
        None => config_only(view),
    }
}

/// A check's outcome as a status.
fn status_of(verdict: &Verdict) -> RuleStatus {
    match verdict {
        Verdict::Holds => RuleStatus::Pass,
        Verdict::Fails(_) => RuleStatus::Fail,
        Verdict::Unreadable(_) => RuleStatus::Error,
    }
}

/// `followed`: for a history rule, the values it follows in `history` and whether each differs
/// from the one before ([`changed_flags`]), if the caller has them. Without `explain`, only the
/// status is wanted: the actual value is null and the message empty.
pub(crate) fn evaluate_rule(
    rule: &Rule,
    current: &Map<String, Value>,
    history: &[View],
    followed: Option<(&[Value], &[bool])>,
    t: &TimeCtx,
    explain: bool,
) -> (RuleStatus, Value, String) {
    if let Some(settled) = precondition(rule, current, t, explain) {
        return settled;
    }
    match &rule.check {
        Check::State(c) => state_rule(c, current, t, explain),
        Check::History {
            field,
            window,
            op,
            expected,
        } => {
            let v = judge_history(field, op, *window, history, followed, t, explain);
            if !explain {
                return (status_of(&v.verdict), Value::Null, String::new());
            }
            history_outcome(rule, op, expected, v)
        }
        Check::Baseline { ignore, .. } => baseline_rule(current, ignore, t, explain),
    }
}

/// The outcome of a rule whose `when` does not hold (a pass: the rule does not apply) or cannot
/// be read (an error); `None` when it holds, or the rule has none, and the check itself decides.
fn precondition(
    rule: &Rule,
    current: &Map<String, Value>,
    t: &TimeCtx,
    explain: bool,
) -> Option<(RuleStatus, Value, String)> {
    let when = rule.when.as_ref()?;
    match when.op.check(&when.field, current, t) {
        Verdict::Holds => None,
        Verdict::Fails(_) if !explain => Some((RuleStatus::Pass, Value::Null, String::new())),
        Verdict::Fails(why) => {
            let actual = match &rule.check {
                Check::State(c) => c.field.value_of(current),
                Check::History { .. } | Check::Baseline { .. } => Value::Null,
            };
            Some((
                RuleStatus::Pass,
                actual,
                format!(
                    "not applicable: the precondition `{} {}` does not hold ({} {why})",
                    when.field.text, when.expected, when.field.text
                ),
            ))
        }
        Verdict::Unreadable(e) => Some((
            RuleStatus::Error,
            when.field.value_of(current),
            format!(
                "could not evaluate the precondition on {}: it {e}",
                when.field.text
            ),
        )),
    }
}

/// A state rule's check `c` on `current`.
fn state_rule(
    c: &Condition,
    current: &Map<String, Value>,
    t: &TimeCtx,
    explain: bool,
) -> (RuleStatus, Value, String) {
    let verdict = c.op.check(&c.field, current, t);
    if !explain {
        return (status_of(&verdict), Value::Null, String::new());
    }
    let actual = c.field.value_of(current);
    match verdict {
        Verdict::Holds => (
            RuleStatus::Pass,
            actual,
            format!("{} {}: holds", c.field.text, c.expected),
        ),
        Verdict::Fails(why) => (
            RuleStatus::Fail,
            actual,
            format!(
                "{} {why}; expected {} {}",
                c.field.text, c.field.text, c.expected
            ),
        ),
        Verdict::Unreadable(e) => (
            RuleStatus::Error,
            actual,
            format!(
                "cannot evaluate {} {}: {} {e}",
                c.field.text, c.expected, c.field.text
            ),
        ),
    }
}

/// A history rule's op over `history`, following `field`: the caller's `followed` values and
/// change flags when it has them, else worked out here.
fn judge_history(
    field: &Option<FieldPath>,
    op: &HistoryOp,
    window: Duration,
    history: &[View],
    followed: Option<(&[Value], &[bool])>,
    t: &TimeCtx,
    explain: bool,
) -> HistoryVerdict {
    let computed: (Vec<Value>, Vec<bool>);
    let (values, changed) = match followed {
        Some(f) => f,
        None => {
            let values: Vec<Value> = history
                .iter()
                .map(|h| followed_value(field, h.view))
                .collect();
            let flags = changed_flags(&values);
            computed = (values, flags);
            (&computed.0[..], &computed.1[..])
        }
    };
    let points: Vec<Point> = history
        .iter()
        .zip(values)
        .zip(changed)
        .map(|((h, value), &changed)| Point {
            at: h.at,
            value,
            changed,
        })
        .collect();
    op.check_as(&points, window, t, explain)
}

/// A history rule's outcome, explained, from its op's verdict `v`.
fn history_outcome(
    rule: &Rule,
    op: &HistoryOp,
    expected: &str,
    v: HistoryVerdict,
) -> (RuleStatus, Value, String) {
    let name = rule.subject();
    // "the history" is what has the observations: "the history has an observation...".
    let verb = if matches!(op, HistoryOp::MaxGap(_)) {
        " has"
    } else {
        ""
    };
    match v.verdict {
        Verdict::Holds => (
            RuleStatus::Pass,
            v.actual,
            format!("{name}{verb} {expected}: holds"),
        ),
        Verdict::Fails(why) => (RuleStatus::Fail, v.actual, format!("{name} {why}")),
        Verdict::Unreadable(e) => (
            RuleStatus::Error,
            v.actual,
            format!("cannot evaluate {name} {expected}: {e}"),
        ),
    }
}

/// An `equals_baseline` rule on `current` (a view: config and status fields): `actual` is the
/// sorted names of the fields that differ from the baseline in force.
fn baseline_rule(
    current: &Map<String, Value>,
    ignore: &[String],
    t: &TimeCtx,
    explain: bool,
) -> (RuleStatus, Value, String) {
    let Some(baseline) = t.baseline else {
        let message = if explain {
            format!(
                "not applicable: the target has no approved baseline as of {}",
                t.show(t.now)
            )
        } else {
            String::new()
        };
        return (RuleStatus::Pass, Value::Null, message);
    };
    let differ = baseline.differing_fields(current, ignore);
    let status = if differ.is_empty() {
        RuleStatus::Pass
    } else {
        RuleStatus::Fail
    };
    if !explain {
        return (status, Value::Null, String::new());
    }
    let ignoring = if ignore.is_empty() {
        String::new()
    } else {
        format!(" (ignoring {})", ignore.join(", "))
    };
    let message = if differ.is_empty() {
        format!(
            "the config{ignoring} equals {}: holds",
            baseline.describe(t)
        )
    } else {
        format!(
            "the config{ignoring} differs from {} in {}: {}",
            baseline.describe(t),
            crate::task::text::count(differ.len() as u64, "field", "fields"),
            differ.join(", ")
        )
    };
    let actual = Value::Array(differ.into_iter().map(Value::String).collect());
    (status, actual, message)
}

fn waiver_ref(set: &PolicySet, w: &Waiver) -> WaiverRef {
    WaiverRef {
        rule: w.rule.clone(),
        target: w.target.clone(),
        reason: w.reason.clone(),
        owner: w.owner.clone(),
        expires: w.expires.to_string(),
        file: set.files()[w.file].file.clone(),
    }
}

/// The waiver that turns a failure of `rule` for `target` into `waived` as of `now`, with its
/// index in the set: the first for that rule and target still in force. The one waiver rule,
/// for full checks and for verdicts alike.
pub(crate) fn waiver_in_force<'s>(
    set: &'s PolicySet,
    target: &str,
    rule: &str,
    now: DateTime<Utc>,
) -> Option<(usize, &'s Waiver)> {
    set.waivers()
        .iter()
        .enumerate()
        .find(|(_, w)| w.rule == rule && w.covers_target(target) && w.active_at(now))
}

/// Every rule of `set` on `current` (and `history`) for `target`, each failure waived by the
/// waiver in force, with notes on the target's waivers.
pub(crate) fn evaluate_views(
    set: &PolicySet,
    target: &str,
    current: &Map<String, Value>,
    history: &[View],
    t: &TimeCtx,
) -> (Vec<RuleResult>, Vec<WaiverNote>) {
    let mut used = vec![false; set.waivers().len()];
    let mut results = Vec::new();
    for rule in set.rules() {
        let (status, actual, message) = evaluate_rule(rule, current, history, None, t, true);
        let (status, message, waiver) = if status == RuleStatus::Fail {
            apply_waiver(set, target, rule, t, message, &mut used)
        } else {
            (status, message, None)
        };
        results.push(RuleResult {
            rule: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            status,
            field: rule.field_text(),
            actual,
            expected: rule.expected().to_string(),
            message,
            remediation: rule.remediation.clone(),
            waiver,
            policy_file: set.files()[rule.file].file.clone(),
            location: rule.location.clone(),
            measured: match &rule.check {
                Check::State(_) => Measured::Value {
                    subject: rule.subject(),
                },
                Check::History { op, .. } => Measured::Quantity {
                    words: op.measure(&rule.subject()),
                },
                Check::Baseline { .. } => Measured::BaselineFields,
            },
        });
    }
    let notes = waiver_notes(set, target, t, &used);
    (results, notes)
}

/// A failure of `rule` with its `message`: waived by the waiver in force (marked `used`), or
/// still a failure, its message then naming an expired waiver for it.
fn apply_waiver(
    set: &PolicySet,
    target: &str,
    rule: &Rule,
    t: &TimeCtx,
    message: String,
    used: &mut [bool],
) -> (RuleStatus, String, Option<WaiverRef>) {
    if let Some((i, w)) = waiver_in_force(set, target, &rule.id, t.now) {
        used[i] = true;
        let message = format!(
            "{message} (waived by {} until {}: {})",
            w.owner, w.expires, w.reason
        );
        return (RuleStatus::Waived, message, Some(waiver_ref(set, w)));
    }
    let expired = set
        .waivers()
        .iter()
        .find(|w| w.rule == rule.id && w.covers_target(target));
    let Some(w) = expired else {
        return (RuleStatus::Fail, message, None);
    };
    let message = format!(
        "{message}; the waiver by {} expired on {} ({}) and no longer applies: renew it or fix the finding",
        w.owner, w.expires, w.location
    );
    (RuleStatus::Fail, message, None)
}

/// Notes on the waivers for `target`: expired, unused (`used` says which suppressed a failure)
/// or expiring soon.
fn waiver_notes(set: &PolicySet, target: &str, t: &TimeCtx, used: &[bool]) -> Vec<WaiverNote> {
    let today = t.now.date_naive();
    let mut notes = Vec::new();
    for (w, &used) in set.waivers().iter().zip(used) {
        if !w.covers_target(target) {
            continue;
        }
        let note = |kind, message: String| WaiverNote {
            kind,
            rule: w.rule.clone(),
            target: w.target.clone(),
            owner: w.owner.clone(),
            expires: w.expires.to_string(),
            location: w.location.clone(),
            message,
        };
        if !w.active_at(t.now) {
            notes.push(note(
                WaiverNoteKind::Expired,
                format!(
                    "the waiver for {} expired on {} and no longer applies; remove or renew it",
                    w.rule, w.expires
                ),
            ));
            continue;
        }
        if !used {
            notes.push(note(
                WaiverNoteKind::Unused,
                format!("the waiver for {} suppressed nothing (the rule did not fail); remove it if it is no longer needed", w.rule),
            ));
        }
        let left = (w.expires - today).num_days();
        if left < EXPIRING_SOON_DAYS {
            notes.push(note(
                WaiverNoteKind::ExpiringSoon,
                format!(
                    "the waiver for {} expires on {} (in {left} day{}); renew it or fix the finding",
                    w.rule,
                    w.expires,
                    if left == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    notes
}

//! The ops a rule may use: checked against the field's type at load, then evaluated on a config
//! (state ops) or over a run of observations (history ops).

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, NaiveTime, TimeZone, Utc};
use regex::Regex;
use serde_json::{Map, Value};

use super::baseline::Baseline;
use super::fields::{Elem, FieldPath, FieldType, Resolved};

/// Declares an op-name enum: each variant with the word a policy file spells it with, in the
/// order the documentation lists them.
macro_rules! op_names {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every op, in the documentation's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word a policy file writes.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            /// The op a policy file's word names.
            pub fn parse(word: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|op| op.as_str() == word)
            }

            /// Every op's word, for messages that list them.
            pub fn words() -> impl Iterator<Item = &'static str> {
                Self::ALL.iter().map(|op| op.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

op_names! {
    /// The name of a state op (a rule without `kind`, or a `when`).
    StateOpName {
        Eq = "eq",
        Ne = "ne",
        In = "in",
        NotIn = "not_in",
        Gt = "gt",
        Gte = "gte",
        Lt = "lt",
        Lte = "lte",
        Contains = "contains",
        NotContains = "not_contains",
        ContainsAll = "contains_all",
        ContainsAny = "contains_any",
        SubsetOf = "subset_of",
        Matches = "matches",
        Exists = "exists",
        Absent = "absent",
        Empty = "empty",
        NotEmpty = "not_empty",
        Within = "within",
        TimeBetween = "time_between",
    }
}

op_names! {
    /// The name of a history op (`kind = "history"`).
    HistoryOpName {
        Unchanged = "unchanged",
        MaxChanges = "max_changes",
        NeverIncreases = "never_increases",
        NeverDecreases = "never_decreases",
        MaxDuration = "max_duration",
        MaxGap = "max_gap",
    }
}

impl StateOpName {
    /// Whether the op takes a `value`.
    pub fn takes_value(self) -> bool {
        !matches!(
            self,
            StateOpName::Exists | StateOpName::Absent | StateOpName::Empty | StateOpName::NotEmpty
        )
    }
}

impl HistoryOpName {
    /// Whether the op takes a `value`.
    pub fn takes_value(self) -> bool {
        matches!(self, HistoryOpName::MaxChanges | HistoryOpName::MaxDuration)
    }

    /// Whether the op takes a `duration`.
    pub fn takes_duration(self) -> bool {
        matches!(self, HistoryOpName::MaxDuration | HistoryOpName::MaxGap)
    }

    /// Whether the op needs a `field` (the others follow the whole config, or none).
    pub fn needs_field(self) -> bool {
        matches!(
            self,
            HistoryOpName::NeverIncreases
                | HistoryOpName::NeverDecreases
                | HistoryOpName::MaxDuration
        )
    }
}

/// A state op with its value, already checked against the field's type.
#[derive(Debug, Clone)]
pub enum StateOp {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Contains(Value),
    NotContains(Value),
    ContainsAll(Vec<Value>),
    ContainsAny(Vec<Value>),
    SubsetOf(Vec<Value>),
    Matches(Regex),
    Exists,
    Absent,
    Empty,
    NotEmpty,
    /// A date-time field is no older than this, relative to the evaluation's `now`.
    Within(Duration),
    /// A time of day within `[from, to]`, inclusive; when `from > to` the range wraps midnight.
    TimeBetween(NaiveTime, NaiveTime),
}

/// What evaluating one check gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    /// It does not hold, and this says why.
    Fails(String),
    /// It cannot be evaluated on this data (a value of the wrong type, an unreadable time).
    Unreadable(String),
}

impl Verdict {
    /// `Ok(true)` when it holds, `Ok(false)` when it fails, the reason when it cannot be evaluated.
    pub fn holds(&self) -> Result<bool, String> {
        match self {
            Verdict::Holds => Ok(true),
            Verdict::Fails(_) => Ok(false),
            Verdict::Unreadable(e) => Err(e.clone()),
        }
    }
}

/// The ops' working form of a verdict, so that `?` carries an unreadable value out: `Ok(None)`
/// holds, `Ok(Some(why))` fails, `Err(why)` cannot be evaluated. It never leaves this module.
type Outcome = Result<Option<String>, String>;

impl From<Outcome> for Verdict {
    fn from(o: Outcome) -> Verdict {
        match o {
            Ok(None) => Verdict::Holds,
            Ok(Some(why)) => Verdict::Fails(why),
            Err(why) => Verdict::Unreadable(why),
        }
    }
}

/// How times are read and shown: the offset of API times written without one (UTC+8 unless
/// configured), and the zone in which findings show the times they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub api_offset: FixedOffset,
    pub tz: chrono_tz::Tz,
}

impl Times {
    pub fn new(api_offset: FixedOffset, tz: chrono_tz::Tz) -> Times {
        Times { api_offset, tz }
    }
}

impl Default for Times {
    /// UTC+8 for the API's times, UTC for showing them.
    fn default() -> Times {
        Times::new(super::evaluate::default_api_offset(), chrono_tz::Tz::UTC)
    }
}

/// How time-relative ops read times: as of `now`, by `times`; and what else holds as of `now`.
#[derive(Debug, Clone, Copy)]
pub struct TimeCtx<'a> {
    pub now: DateTime<Utc>,
    pub times: Times,
    /// The target's approved baseline in force at `now`, which `equals_baseline` rules compare
    /// the config with; `None` when the target has none by then (the rules do not apply). It
    /// travels with `now` because which baseline is in force depends on it.
    pub baseline: Option<&'a Baseline>,
}

impl<'a> TimeCtx<'a> {
    /// As of `now`, with no baseline in force.
    pub fn new(now: DateTime<Utc>, times: Times) -> TimeCtx<'a> {
        TimeCtx {
            now,
            times,
            baseline: None,
        }
    }

    /// The same, with `baseline` in force.
    pub fn with_baseline(self, baseline: Option<&'a Baseline>) -> TimeCtx<'a> {
        TimeCtx { baseline, ..self }
    }

    /// A time as a finding shows it: in the zone, to the second, with its offset.
    pub fn show(&self, at: DateTime<Utc>) -> String {
        crate::task::when::fmt_time(at, self.times.tz)
    }
}

fn op_kind_ok(op: StateOpName, ty: FieldType) -> bool {
    use FieldType as T;
    use StateOpName as O;
    let scalar = matches!(ty, T::Bool | T::Int | T::Text | T::TimeOfDay | T::DateTime);
    let stringy = matches!(ty, T::Text | T::TimeOfDay | T::DateTime);
    let list = matches!(ty, T::List(_));
    let objects = ty == T::List(Elem::Object);
    if ty == T::Any {
        return true;
    }
    match op {
        O::Exists | O::Absent => true,
        O::Eq | O::Ne => !objects,
        O::In | O::NotIn => scalar,
        O::Gt | O::Gte | O::Lt | O::Lte => ty == T::Int,
        O::Contains | O::NotContains => !objects && (list || stringy),
        O::ContainsAll | O::ContainsAny | O::SubsetOf => !objects && list,
        O::Matches => stringy,
        O::Empty | O::NotEmpty => list || stringy,
        O::Within => ty == T::DateTime,
        O::TimeBetween => ty == T::TimeOfDay,
    }
}

/// Whether `v` fits where one element or scalar of type `ty` goes.
fn scalar_fits(v: &Value, ty: FieldType) -> bool {
    match ty {
        FieldType::Bool => v.is_boolean(),
        FieldType::Int | FieldType::List(Elem::Int) => v.is_i64() || v.is_u64(),
        FieldType::Text
        | FieldType::TimeOfDay
        | FieldType::DateTime
        | FieldType::List(Elem::Text) => v.is_string(),
        FieldType::List(Elem::Object) => v.is_object(),
        FieldType::Any => !v.is_null(),
    }
}

fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Parses a duration such as `48h`, `30d` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("{text:?} is not a duration ({e}); write one such as \"48h\" or \"30d\"")
    })?;
    let d = Duration::from_std(d)
        .ok()
        .filter(|d| *d <= Duration::days(365 * 100))
        .ok_or_else(|| format!("{text:?} is too long a duration"))?;
    if d <= Duration::zero() {
        return Err(format!("{text:?} is zero; a duration must be positive"));
    }
    Ok(d)
}

/// A duration as people read it (`1 day 6 h`), to the second.
pub fn show_duration(d: Duration) -> String {
    // By hand: humantime writes `1day 2h`, which reads as a typo in a report; people write
    // `1 day 2 h`.
    let secs = d.num_seconds().max(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (hours, rest) = (rest / 3_600, rest % 3_600);
    let (mins, secs) = (rest / 60, rest % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} {}", if days == 1 { "day" } else { "days" }));
    }
    for (n, unit) in [(hours, "h"), (mins, "min"), (secs, "s")] {
        if n > 0 {
            parts.push(format!("{n} {unit}"));
        }
    }
    if parts.is_empty() {
        "0 s".into()
    } else {
        parts.join(" ")
    }
}

/// Parses a time of day, `HH:MM:SS` or `HH:MM`.
pub fn parse_time_of_day(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
}

/// Parses an API time: RFC 3339, or `YYYY-MM-DD HH:MM:SS` (or with `T`) at `offset`.
pub fn parse_api_time(text: &str, offset: FixedOffset) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .and_then(|n| offset.from_local_datetime(&n).single())
        .map(|t| t.with_timezone(&Utc))
}

/// Values compare as JSON, except that numbers compare by value and lists as sets
/// (every list this API returns is set-like; normalization already sorted them).
pub fn same(a: &Value, b: &Value) -> bool {
    if a == b {
        // The common case, and cheap: only unequal arrays need comparing as sets.
        return true;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            let mut x: Vec<String> = x.iter().map(show).collect();
            let mut y: Vec<String> = y.iter().map(show).collect();
            x.sort();
            x.dedup();
            y.sort();
            y.dedup();
            x == y
        }
        _ => a == b,
    }
}

fn lower_strings(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_lowercase()),
        Value::Array(items) => Value::Array(items.into_iter().map(lower_strings).collect()),
        other => other,
    }
}

impl StateOp {
    /// Checks `op` and its `value` against `field` and builds the op; the error says what is wrong.
    pub fn compile(
        op: StateOpName,
        value: Option<&Value>,
        field: &FieldPath,
    ) -> Result<StateOp, String> {
        use StateOpName as O;
        let ty = field.ty;
        if !op_kind_ok(op, ty) {
            return Err(format!(
                "`{op}` does not apply to {} ({}); {}",
                field.text,
                ty.describe(),
                suggest_ops(ty)
            ));
        }
        let arg = OpValue::new(op, value, field)?;
        let v = arg.value.clone().unwrap_or(Value::Null);
        Ok(match op {
            O::Eq | O::Ne => arg.equality(v)?,
            O::In => StateOp::In(arg.list()?),
            O::NotIn => StateOp::NotIn(arg.list()?),
            O::Gt | O::Gte | O::Lt | O::Lte => compile_bound(op, &v)?,
            O::Contains | O::NotContains => arg.containment(v)?,
            O::ContainsAll => StateOp::ContainsAll(arg.list()?),
            O::ContainsAny => StateOp::ContainsAny(arg.list()?),
            O::SubsetOf => StateOp::SubsetOf(arg.list()?),
            O::Matches => compile_matches(&v)?,
            O::Exists => StateOp::Exists,
            O::Absent => StateOp::Absent,
            O::Empty => StateOp::Empty,
            O::NotEmpty => StateOp::NotEmpty,
            O::Within => compile_within(&v)?,
            O::TimeBetween => compile_time_between(&v)?,
        })
    }

    /// Whether the verdict depends on the evaluation's time (`now`), not only on the value:
    /// `within` alone.
    pub fn reads_now(&self) -> bool {
        matches!(self, StateOp::Within(_))
    }

    /// Whether the op holds for `field` in `view`. `[*]` paths must hold for every element.
    pub fn check(&self, field: &FieldPath, view: &Map<String, Value>, t: &TimeCtx) -> Verdict {
        self.outcome(field, view, t).into()
    }

    fn outcome(&self, field: &FieldPath, view: &Map<String, Value>, t: &TimeCtx) -> Outcome {
        match field.resolve(view) {
            Resolved::One(v) => self.check_one(v, t),
            Resolved::Each(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(why) = self.check_one(*item, t)? {
                        return Ok(Some(format!("element {i} of {}: {why}", field.head)));
                    }
                }
                Ok(None)
            }
        }
    }

    fn check_one(&self, actual: Option<&Value>, t: &TimeCtx) -> Outcome {
        match self {
            StateOp::Exists => match actual {
                Some(_) => Ok(None),
                None => fail("is missing".into()),
            },
            StateOp::Absent => match actual {
                None => Ok(None),
                Some(v) => fail(format!("is present ({})", show(v))),
            },
            StateOp::Empty | StateOp::NotEmpty => self.check_emptiness(actual),
            StateOp::Eq(want) => match actual {
                Some(a) if same(a, want) => Ok(None),
                None if want.as_array().is_some_and(|w| w.is_empty()) => Ok(None),
                _ => fail(format!("is {}", shown(actual))),
            },
            StateOp::Ne(want) => match actual {
                Some(a) if same(a, want) => fail(format!("is {}", show(a))),
                None if want.as_array().is_some_and(|w| w.is_empty()) => fail("is empty".into()),
                _ => Ok(None),
            },
            StateOp::In(set) | StateOp::NotIn(set) => self.check_membership(set, actual),
            StateOp::Gt(n) | StateOp::Gte(n) | StateOp::Lt(n) | StateOp::Lte(n) => {
                self.check_bound(*n, actual)
            }
            StateOp::Contains(want) | StateOp::NotContains(want) => {
                self.check_containment(want, actual)
            }
            StateOp::ContainsAll(want) | StateOp::ContainsAny(want) | StateOp::SubsetOf(want) => {
                self.check_set(want, actual)
            }
            StateOp::Matches(re) => match actual {
                None => fail("is missing".into()),
                Some(Value::String(s)) if re.is_match(s) => Ok(None),
                Some(Value::String(s)) => fail(format!("is {s:?}, which does not match")),
                Some(v) => Err(format!("is {}, not a string", show(v))),
            },
            StateOp::Within(d) => check_within(*d, actual, t),
            StateOp::TimeBetween(from, to) => check_time_between(*from, *to, actual),
        }
    }

    /// `empty` or `not_empty`: a missing value is empty; a number or boolean has no emptiness.
    fn check_emptiness(&self, actual: Option<&Value>) -> Outcome {
        let empty = match actual {
            None => true,
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            Some(v) => return Err(format!("is {}, which has no emptiness", show(v))),
        };
        match (self, empty) {
            (StateOp::Empty, false) => fail(format!("is {}, not empty", shown(actual))),
            (StateOp::NotEmpty, true) => fail(format!(
                "is {}",
                if actual.is_none() {
                    "missing".into()
                } else {
                    shown(actual)
                }
            )),
            _ => Ok(None),
        }
    }

    /// `in` or `not_in` the `set`.
    fn check_membership(&self, set: &[Value], actual: Option<&Value>) -> Outcome {
        let found = actual.is_some_and(|a| set.iter().any(|w| same(a, w)));
        match (self, found) {
            (StateOp::In(_), false) => fail(format!(
                "is {}, not one of the allowed values",
                shown(actual)
            )),
            (StateOp::NotIn(_), true) => {
                fail(format!("is {}, one of the forbidden values", shown(actual)))
            }
            _ => Ok(None),
        }
    }

    /// `gt`, `gte`, `lt` or `lte` the bound `n`.
    fn check_bound(&self, n: f64, actual: Option<&Value>) -> Outcome {
        let a = match actual {
            None => return fail("is missing".into()),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| format!("is {}, not a number", show(v)))?,
        };
        let holds = match self {
            StateOp::Gt(_) => a > n,
            StateOp::Gte(_) => a >= n,
            StateOp::Lt(_) => a < n,
            _ => a <= n,
        };
        if holds {
            Ok(None)
        } else {
            fail(format!("is {}", shown(actual)))
        }
    }

    /// `contains` or `not_contains` `want`: an element of a list, or a substring of a string.
    fn check_containment(&self, want: &Value, actual: Option<&Value>) -> Outcome {
        let found = match actual {
            None => false,
            Some(Value::Array(items)) => items.iter().any(|i| same(i, want)),
            Some(Value::String(s)) => want.as_str().is_some_and(|w| s.contains(w)),
            Some(v) => return Err(format!("is {}, neither a list nor a string", show(v))),
        };
        match (self, found) {
            (StateOp::Contains(_), false) => {
                fail(format!("is {}, without {}", shown(actual), show(want)))
            }
            (StateOp::NotContains(_), true) => {
                fail(format!("is {}, with {}", shown(actual), show(want)))
            }
            _ => Ok(None),
        }
    }

    /// `contains_all`, `contains_any` or `subset_of` `want`; a missing list is an empty one.
    fn check_set(&self, want: &[Value], actual: Option<&Value>) -> Outcome {
        let items: &[Value] = match actual {
            None => &[],
            Some(Value::Array(items)) => items,
            Some(v) => return Err(format!("is {}, not a list", show(v))),
        };
        let has = |w: &Value| items.iter().any(|i| same(i, w));
        match self {
            StateOp::ContainsAll(_) => {
                let missing: Vec<String> = want.iter().filter(|w| !has(w)).map(show).collect();
                if missing.is_empty() {
                    Ok(None)
                } else {
                    fail(format!(
                        "is {}, missing {}",
                        shown(actual),
                        missing.join(", ")
                    ))
                }
            }
            StateOp::ContainsAny(_) => {
                if want.iter().any(has) {
                    Ok(None)
                } else {
                    fail(format!("is {}, with none of them", shown(actual)))
                }
            }
            _ => {
                let extra: Vec<String> = items
                    .iter()
                    .filter(|i| !want.iter().any(|w| same(i, w)))
                    .map(show)
                    .collect();
                if extra.is_empty() {
                    Ok(None)
                } else {
                    fail(format!(
                        "is {}, with {} outside the allowed set",
                        shown(actual),
                        extra.join(", ")
                    ))
                }
            }
        }
    }
}

/// A failed check, saying why.
fn fail(why: String) -> Outcome {
    Ok(Some(why))
}

/// A value as a failure quotes it, or `missing`.
fn shown(v: Option<&Value>) -> String {
    v.map(show).unwrap_or_else(|| "missing".into())
}

/// `within` `d` of the evaluation's `now`: the value is an API time no older than that.
fn check_within(d: Duration, actual: Option<&Value>, t: &TimeCtx) -> Outcome {
    let text = match actual {
        None => return fail("is missing".into()),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return fail("is empty".into());
        }
        Some(Value::String(s)) => s,
        Some(v) => return Err(format!("is {}, not a time", show(v))),
    };
    let at = parse_api_time(text, t.times.api_offset).ok_or_else(|| {
        format!("is {text:?}, which is not a time (YYYY-MM-DD HH:MM:SS or RFC 3339)")
    })?;
    let age = t.now - at;
    if age > d {
        fail(format!(
            "is {text:?}, {} old, more than {}",
            show_duration(age),
            show_duration(d)
        ))
    } else {
        Ok(None)
    }
}

/// `time_between` `from` and `to`, inclusive; the range wraps midnight when `from > to`.
fn check_time_between(from: NaiveTime, to: NaiveTime, actual: Option<&Value>) -> Outcome {
    let text = match actual {
        None => return fail("is missing".into()),
        Some(Value::String(s)) => s,
        Some(v) => return Err(format!("is {}, not a time of day", show(v))),
    };
    let at = parse_time_of_day(text)
        .ok_or_else(|| format!("is {text:?}, which is not a time of day (HH:MM:SS)"))?;
    let inside = if from <= to {
        from <= at && at <= to
    } else {
        at >= from || at <= to
    };
    if inside {
        Ok(None)
    } else {
        fail(format!("is {text:?}"))
    }
}

/// A state op's value as [`StateOp::compile`] checks it against the field.
struct OpValue<'a> {
    op: StateOpName,
    field: &'a FieldPath,
    /// The value as written (lowered for a caseless field); `None` for an op that takes none.
    value: Option<Value>,
    /// The type of one element of a list field; the field's own type otherwise.
    elem_ty: FieldType,
}

impl<'a> OpValue<'a> {
    /// The op's value, present exactly when the op takes one.
    fn new(
        op: StateOpName,
        value: Option<&Value>,
        field: &'a FieldPath,
    ) -> Result<OpValue<'a>, String> {
        let value = match (op.takes_value(), value) {
            (false, Some(_)) => return Err(format!("`{op}` takes no `value`; remove it")),
            (false, None) => None,
            (true, None) => return Err(format!("`{op}` needs a `value`")),
            (true, Some(v)) => Some(if crate::task::fields::is_caseless(&field.head) {
                lower_strings(v.clone())
            } else {
                v.clone()
            }),
        };
        let elem_ty = match field.ty {
            FieldType::List(Elem::Int) => FieldType::Int,
            FieldType::List(Elem::Text) => FieldType::Text,
            t => t,
        };
        Ok(OpValue {
            op,
            field,
            value,
            elem_ty,
        })
    }

    /// What the field's elements are, in words, for messages.
    fn elem_what(&self) -> &'static str {
        match self.elem_ty {
            FieldType::Int => "integers",
            FieldType::Bool => "booleans",
            FieldType::Any => "values",
            _ => "strings",
        }
    }

    /// The value as a list whose every item fits one of the field's elements.
    fn list(&self) -> Result<Vec<Value>, String> {
        match &self.value {
            Some(Value::Array(items)) if items.iter().all(|v| scalar_fits(v, self.elem_ty)) => {
                Ok(items.clone())
            }
            _ => Err(format!(
                "`{}` on {} needs a list of {} as its value, got {}",
                self.op,
                self.field.text,
                self.elem_what(),
                self.value.as_ref().map(show).unwrap_or_default()
            )),
        }
    }

    /// `eq` or `ne`: the value fits the field whole (a time of day must read as one).
    fn equality(&self, v: Value) -> Result<StateOp, String> {
        let (op, ty) = (self.op, self.field.ty);
        let fits = match ty {
            FieldType::List(_) => self.list().is_ok(),
            t => scalar_fits(&v, t),
        };
        if !fits {
            return Err(format!(
                "`{op}` on {} needs {} as its value, got {}",
                self.field.text,
                ty.describe(),
                show(&v)
            ));
        }
        if ty == FieldType::TimeOfDay && parse_time_of_day(v.as_str().unwrap_or("")).is_none() {
            return Err(format!(
                "{} is not a time of day; write \"HH:MM:SS\"",
                show(&v)
            ));
        }
        Ok(if op == StateOpName::Eq {
            StateOp::Eq(v)
        } else {
            StateOp::Ne(v)
        })
    }

    /// `contains` or `not_contains`: one element of a list field, or a substring of a text one.
    fn containment(&self, v: Value) -> Result<StateOp, String> {
        let fits = match self.field.ty {
            FieldType::List(_) | FieldType::Any => scalar_fits(&v, self.elem_ty),
            _ => v.is_string(),
        };
        if !fits {
            return Err(format!(
                "`{}` on {} needs one {} as its value, got {}",
                self.op,
                self.field.text,
                self.elem_what().trim_end_matches('s'),
                show(&v)
            ));
        }
        Ok(if self.op == StateOpName::Contains {
            StateOp::Contains(v)
        } else {
            StateOp::NotContains(v)
        })
    }
}

/// `gt`, `gte`, `lt` or `lte`: a number to compare with.
fn compile_bound(op: StateOpName, v: &Value) -> Result<StateOp, String> {
    let n = v
        .as_f64()
        .ok_or_else(|| format!("`{op}` needs a number as its value, got {}", show(v)))?;
    Ok(match op {
        StateOpName::Gt => StateOp::Gt(n),
        StateOpName::Gte => StateOp::Gte(n),
        StateOpName::Lt => StateOp::Lt(n),
        _ => StateOp::Lte(n),
    })
}

/// `matches`: a regular expression that compiles.
fn compile_matches(v: &Value) -> Result<StateOp, String> {
    let pattern = v.as_str().ok_or_else(|| {
        format!(
            "`matches` needs a regular expression string, got {}",
            show(v)
        )
    })?;
    let re = Regex::new(pattern).map_err(|e| {
        format!(
            "{pattern:?} is not a valid regular expression: {}",
            one_line(&e.to_string())
        )
    })?;
    Ok(StateOp::Matches(re))
}

/// `within`: a duration string.
fn compile_within(v: &Value) -> Result<StateOp, String> {
    let text = v.as_str().ok_or_else(|| {
        format!(
            "`within` needs a duration string such as \"48h\", got {}",
            show(v)
        )
    })?;
    Ok(StateOp::Within(parse_duration(text)?))
}

/// `time_between`: two times of day.
fn compile_time_between(v: &Value) -> Result<StateOp, String> {
    let bad = || {
        format!(
            "`time_between` needs two times of day, as in [\"00:00\", \"06:00\"], got {}",
            show(v)
        )
    };
    let items = v.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
    let t: Vec<NaiveTime> = items
        .iter()
        .map(|i| i.as_str().and_then(parse_time_of_day))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    Ok(StateOp::TimeBetween(t[0], t[1]))
}

/// The regex crate's message draws a caret under the pattern over several lines; its last line
/// says what is wrong.
fn one_line(s: &str) -> String {
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s);
    last.trim().trim_start_matches("error: ").to_string()
}

fn suggest_ops(ty: FieldType) -> String {
    let ok: Vec<&str> = StateOpName::ALL
        .iter()
        .filter(|op| op_kind_ok(**op, ty))
        .map(|op| op.as_str())
        .collect();
    format!("ops that do: {}", ok.join(", "))
}

/// A history op with its parameters, already checked.
#[derive(Debug, Clone)]
pub enum HistoryOp {
    Unchanged,
    MaxChanges(u64),
    NeverIncreases,
    NeverDecreases,
    MaxDuration { value: Value, duration: Duration },
    MaxGap(Duration),
}

/// What a history op gives: the verdict and the measured quantity (changes, longest run or gap).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryVerdict {
    pub verdict: Verdict,
    pub actual: Value,
}

/// One observation as history ops see it: when, the value they follow, and whether that value
/// differs ([`same`]) from the one of the observation before it.
#[derive(Debug, Clone)]
pub struct Point<'a> {
    pub at: DateTime<Utc>,
    pub value: &'a Value,
    /// False for the first observation a caller holds. Ops read it only for a point that has one
    /// before it, so a run of points must be consecutive observations.
    pub changed: bool,
}

/// For each of a run of followed values (oldest first), whether it differs ([`same`]) from the
/// one before it; the first does not. Made once for a target's history, it spares judging each
/// of a report's days comparing the nights of its window again.
pub fn changed_flags(values: &[Value]) -> Vec<bool> {
    std::iter::once(false)
        .chain(values.windows(2).map(|w| !same(&w[0], &w[1])))
        .take(values.len())
        .collect()
}

fn order(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        v => v.as_f64(),
    }
}

impl HistoryOp {
    /// What the op's measured quantity (`actual`) is, in words, for the rule's `subject`
    /// ([`super::model::Rule::subject`]).
    pub fn measure(&self, subject: &str) -> String {
        match self {
            HistoryOp::Unchanged | HistoryOp::MaxChanges(_) => {
                format!("changes to {subject} in the window")
            }
            HistoryOp::NeverIncreases => format!("increases of {subject} in the window"),
            HistoryOp::NeverDecreases => format!("decreases of {subject} in the window"),
            HistoryOp::MaxDuration { value, .. } => {
                format!(
                    "the longest time {subject} was {} in the window",
                    show(value)
                )
            }
            HistoryOp::MaxGap(_) => {
                "the longest time without an observation in the window, up to now".into()
            }
        }
    }

    /// Evaluates over `points` (oldest first) for the window `[now - window, now]`. The last point
    /// before the window gives the state at its start; runs and gaps that cross the start count.
    pub fn check(&self, points: &[Point<'_>], window: Duration, t: &TimeCtx) -> HistoryVerdict {
        self.check_as(points, window, t, true)
    }

    /// [`HistoryOp::check`]; without `explain` only the verdict is right (its message is empty
    /// and `actual` null), which is what judging a report's days needs, at a fraction of the cost.
    pub(crate) fn check_as(
        &self,
        points: &[Point<'_>],
        window: Duration,
        t: &TimeCtx,
        explain: bool,
    ) -> HistoryVerdict {
        let now = t.now;
        let start = now - window;
        // Oldest first: those at or before now are a prefix.
        let points = &points[..points.partition_point(|p| p.at <= now)];
        let first_in = points.partition_point(|p| p.at < start);
        let from = first_in.saturating_sub(1);
        let points = &points[from..];
        if points.is_empty() {
            return HistoryVerdict {
                verdict: Verdict::Unreadable(
                    "no observations in the window; take a snapshot first".into(),
                ),
                actual: Value::Null,
            };
        }
        let w = Window {
            points,
            start,
            t,
            explain,
        };
        match self {
            HistoryOp::Unchanged => w.changes_at_most(0),
            HistoryOp::MaxChanges(n) => w.changes_at_most(*n),
            HistoryOp::NeverIncreases => w.monotonic(true),
            HistoryOp::NeverDecreases => w.monotonic(false),
            HistoryOp::MaxDuration { value, duration } => w.max_duration(value, *duration),
            HistoryOp::MaxGap(limit) => w.max_gap(*limit),
        }
    }
}

/// The observations a history op judges: the last one before the window, then those in it up
/// to `now` (never empty).
struct Window<'w, 'p> {
    points: &'w [Point<'p>],
    start: DateTime<Utc>,
    t: &'w TimeCtx<'w>,
    explain: bool,
}

/// A time during which the followed value was the held one: from the observation that first
/// showed it to the first that did not, or to `now` when it `still` is.
struct Run {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    still: bool,
}

/// A verdict without its message or measure, for a check that does not explain.
fn quiet(verdict: Outcome) -> HistoryVerdict {
    HistoryVerdict {
        verdict: match verdict {
            Ok(None) => Verdict::Holds,
            Ok(Some(_)) => Verdict::Fails(String::new()),
            Err(_) => Verdict::Unreadable(String::new()),
        },
        actual: Value::Null,
    }
}

/// Whether a change moves the wrong way: up for `never_increases` (`up`), down otherwise;
/// values that are neither numbers nor booleans never do.
fn wrong_way(up: bool, (a, b): &(&Point, &Point)) -> bool {
    match (order(a.value), order(b.value)) {
        (Some(x), Some(y)) => {
            if up {
                y > x
            } else {
                y < x
            }
        }
        _ => false,
    }
}

impl<'w, 'p> Window<'w, 'p> {
    /// The changes inside the window, each with the point before it; a verdict without a
    /// message only counts or scans them, so they are collected only to be described.
    fn changes(&self) -> impl Iterator<Item = (&'w Point<'p>, &'w Point<'p>)> + use<'w, 'p> {
        let start = self.start;
        self.points
            .windows(2)
            .filter(move |w| w[1].at >= start && w[1].changed)
            .map(|w| (&w[0], &w[1]))
    }

    /// One change, as a failure lists it.
    fn describe(&self, (a, b): &(&Point, &Point)) -> String {
        format!(
            "{} -> {} at {}",
            show(a.value),
            show(b.value),
            self.t.show(b.at)
        )
    }

    /// `unchanged` (a `limit` of 0) or `max_changes`; the measure is the count of changes.
    fn changes_at_most(&self, limit: u64) -> HistoryVerdict {
        if !self.explain {
            let n = self.changes().count() as u64;
            return quiet(if n <= limit {
                Ok(None)
            } else {
                Ok(Some(String::new()))
            });
        }
        let changes: Vec<(&Point, &Point)> = self.changes().collect();
        let n = changes.len() as u64;
        let verdict: Outcome = if n <= limit {
            Ok(None)
        } else {
            let list: Vec<String> = changes.iter().map(|c| self.describe(c)).collect();
            Ok(Some(format!(
                "changed {n} time{} in the window (at most {limit} allowed): {}",
                if n == 1 { "" } else { "s" },
                list.join("; ")
            )))
        };
        HistoryVerdict {
            verdict: verdict.into(),
            actual: Value::from(n),
        }
    }

    /// `never_increases` (`up`) or `never_decreases`; the measure is the count of changes the
    /// wrong way.
    fn monotonic(&self, up: bool) -> HistoryVerdict {
        if !self.explain {
            let any = self.changes().any(|c| wrong_way(up, &c));
            return quiet(if any {
                Ok(Some(String::new()))
            } else {
                Ok(None)
            });
        }
        let bad: Vec<String> = self
            .changes()
            .filter(|c| wrong_way(up, c))
            .map(|c| self.describe(&c))
            .collect();
        let verdict: Outcome = if bad.is_empty() {
            Ok(None)
        } else {
            Ok(Some(format!(
                "{} in the window: {}",
                if up { "increased" } else { "decreased" },
                bad.join("; ")
            )))
        };
        HistoryVerdict {
            verdict: verdict.into(),
            actual: Value::from(bad.len()),
        }
    }

    /// The runs during which the followed value was `value`, oldest first.
    fn runs_of(&self, value: &Value) -> Vec<Run> {
        let mut runs = Vec::new();
        let mut run_start = None;
        // A point that did not change holds what the one before it held (`same` is an
        // equivalence), so only the first point and the changes are compared.
        let mut held = false;
        for (i, p) in self.points.iter().enumerate() {
            if i == 0 || p.changed {
                held = same(p.value, value);
            }
            match (held, run_start) {
                (true, None) => run_start = Some(p.at),
                (false, Some(from)) => {
                    runs.push(Run {
                        from,
                        to: p.at,
                        still: false,
                    });
                    run_start = None;
                }
                _ => {}
            }
        }
        if let Some(from) = run_start {
            runs.push(Run {
                from,
                to: self.t.now,
                still: true,
            });
        }
        runs
    }

    /// `max_duration`: no run of `value` longer than `duration`; the measure is the longest.
    fn max_duration(&self, value: &Value, duration: Duration) -> HistoryVerdict {
        let runs = self.runs_of(value);
        let longest = runs.iter().max_by_key(|r| r.to - r.from);
        if !self.explain {
            let over = longest.is_some_and(|r| r.to - r.from > duration);
            return quiet(if over {
                Ok(Some(String::new()))
            } else {
                Ok(None)
            });
        }
        let actual = longest
            .map(|r| Value::from(show_duration(r.to - r.from)))
            .unwrap_or(Value::Null);
        let verdict: Outcome = match longest {
            Some(r) if r.to - r.from > duration => Ok(Some(format!(
                "was {} for {} from {}{} (at most {} allowed)",
                show(value),
                show_duration(r.to - r.from),
                self.t.show(r.from),
                if r.still {
                    ", and still is".to_string()
                } else {
                    format!(" to {}", self.t.show(r.to))
                },
                show_duration(duration)
            ))),
            _ => Ok(None),
        };
        HistoryVerdict {
            verdict: verdict.into(),
            actual,
        }
    }

    /// `max_gap`: no time without an observation longer than `limit`; the measure is the
    /// widest gap.
    fn max_gap(&self, limit: Duration) -> HistoryVerdict {
        let (start, now) = (self.start, self.t.now);
        // Only the part of a gap inside the window counts: the observation before the
        // window says where the gap starts, the window where it is judged.
        let times = self
            .points
            .iter()
            .map(|p| p.at.max(start))
            .chain(std::iter::once(now));
        let widest = times
            .clone()
            .zip(times.skip(1))
            .max_by_key(|(a, b)| *b - *a);
        let (a, b) = widest.unwrap_or((now, now));
        let gap = b - a;
        if !self.explain {
            return quiet(if gap > limit {
                Ok(Some(String::new()))
            } else {
                Ok(None)
            });
        }
        let verdict: Outcome = if gap > limit {
            Ok(Some(format!(
                "has no observation for {} between {} and {}{} (at most {} allowed)",
                show_duration(gap),
                self.t.show(a),
                self.t.show(b),
                if b == now { " (now)" } else { "" },
                show_duration(limit)
            )))
        } else {
            Ok(None)
        };
        HistoryVerdict {
            verdict: verdict.into(),
            actual: Value::from(show_duration(gap)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(now: &str) -> TimeCtx<'static> {
        let now = DateTime::parse_from_rfc3339(now)
            .unwrap()
            .with_timezone(&Utc);
        TimeCtx::new(now, Times::default())
    }

    fn holds(field: &str, op: &str, value: Option<Value>, view: Value) -> Verdict {
        let (path, _) = FieldPath::parse(field).unwrap();
        let op = StateOpName::parse(op).unwrap();
        let op = StateOp::compile(op, value.as_ref(), &path).unwrap();
        op.check(&path, view.as_object().unwrap(), &t("2026-10-03T00:00:00Z"))
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(show_duration(Duration::days(3)), "3 days");
        assert_eq!(show_duration(Duration::hours(26)), "1 day 2 h");
        assert_eq!(show_duration(Duration::days(30)), "30 days");
        assert_eq!(show_duration(Duration::minutes(90)), "1 h 30 min");
        assert_eq!(show_duration(Duration::seconds(59)), "59 s");
        assert_eq!(show_duration(Duration::zero()), "0 s");
        assert_eq!(show_duration(Duration::days(1)), "1 day");
    }

    #[test]
    fn op_names_read_back_and_no_word_names_two_ops() {
        for op in StateOpName::ALL {
            assert_eq!(StateOpName::parse(op.as_str()), Some(*op));
            assert_eq!(HistoryOpName::parse(op.as_str()), None, "{op}");
        }
        for op in HistoryOpName::ALL {
            assert_eq!(HistoryOpName::parse(op.as_str()), Some(*op));
        }
        assert_eq!((StateOpName::ALL.len(), HistoryOpName::ALL.len()), (20, 6));
        assert_eq!(StateOpName::parse("EQ"), None);
    }

    #[test]
    fn every_state_op_holds_and_fails() {
        let cfg = json!({
            "Enable": true, "ScanPeriod": 1, "ScanType": ["risk", "virus", "vul"],
            "ScanTime": "03:00:00", "ScanResult": "Success", "Id": [1, 2],
            "LastScanTime": "2026-10-01 13:10:00", "ExcludeImageAssetIds": [],
            "Images": [{"Force": "a", "ImageTag": "v1"}, {"Force": "a", "ImageTag": "latest"}]
        });
        let cases: Vec<(&str, &str, Option<Value>, bool)> = vec![
            ("Enable", "eq", Some(json!(true)), true),
            ("Enable", "eq", Some(json!(false)), false),
            ("Enable", "ne", Some(json!(false)), true),
            ("Enable", "ne", Some(json!(true)), false),
            ("ScanPeriod", "in", Some(json!([1, 2])), true),
            ("ScanPeriod", "in", Some(json!([3])), false),
            ("ScanPeriod", "not_in", Some(json!([3])), true),
            ("ScanPeriod", "not_in", Some(json!([1])), false),
            ("ScanPeriod", "gt", Some(json!(0)), true),
            ("ScanPeriod", "gt", Some(json!(1)), false),
            ("ScanPeriod", "gte", Some(json!(1)), true),
            ("ScanPeriod", "gte", Some(json!(2)), false),
            ("ScanPeriod", "lt", Some(json!(2)), true),
            ("ScanPeriod", "lt", Some(json!(1)), false),
            ("ScanPeriod", "lte", Some(json!(1)), true),
            ("ScanPeriod", "lte", Some(json!(0)), false),
            ("ScanType", "contains", Some(json!("vul")), true),
            ("ScanType", "contains", Some(json!("cve")), false),
            ("ScanType", "contains", Some(json!("VUL")), true),
            ("ScanType", "not_contains", Some(json!("cve")), true),
            ("ScanType", "not_contains", Some(json!("vul")), false),
            ("ScanResult", "contains", Some(json!("Succ")), true),
            (
                "ScanType",
                "contains_all",
                Some(json!(["vul", "risk"])),
                true,
            ),
            (
                "ScanType",
                "contains_all",
                Some(json!(["vul", "cve"])),
                false,
            ),
            (
                "ScanType",
                "contains_any",
                Some(json!(["cve", "vul"])),
                true,
            ),
            ("ScanType", "contains_any", Some(json!(["cve"])), false),
            (
                "ScanType",
                "subset_of",
                Some(json!(["risk", "virus", "vul", "cve"])),
                true,
            ),
            ("ScanType", "subset_of", Some(json!(["risk"])), false),
            (
                "ScanType",
                "eq",
                Some(json!(["vul", "virus", "risk"])),
                true,
            ),
            ("Id", "eq", Some(json!([1])), false),
            ("ScanResult", "matches", Some(json!("^Succ")), true),
            ("ScanResult", "matches", Some(json!("^Fail")), false),
            ("Enable", "exists", None, true),
            ("ContainerRunning", "exists", None, false),
            ("ContainerRunning", "absent", None, true),
            ("Enable", "absent", None, false),
            ("ExcludeImageAssetIds", "empty", None, true),
            ("Namespace", "empty", None, true),
            ("Id", "empty", None, false),
            ("Id", "not_empty", None, true),
            ("ExcludeImageAssetIds", "not_empty", None, false),
            ("LastScanTime", "within", Some(json!("48h")), true),
            ("LastScanTime", "within", Some(json!("24h")), false),
            (
                "ScanTime",
                "time_between",
                Some(json!(["00:00", "06:00"])),
                true,
            ),
            (
                "ScanTime",
                "time_between",
                Some(json!(["04:00", "06:00"])),
                false,
            ),
            (
                "ScanTime",
                "time_between",
                Some(json!(["22:00", "03:00"])),
                true,
            ),
            (
                "ScanTime",
                "time_between",
                Some(json!(["22:00", "02:59"])),
                false,
            ),
            ("Images[*].Force", "eq", Some(json!("a")), true),
            ("Images[*].ImageTag", "ne", Some(json!("latest")), false),
            (
                "Images[*].ImageTag",
                "matches",
                Some(json!("^v|latest")),
                true,
            ),
            ("Images[*].ImageDigest", "absent", None, true),
            ("Id[*]", "gt", Some(json!(1)), false),
        ];
        for (field, op, value, expect) in cases {
            let got = holds(field, op, value.clone(), cfg.clone());
            assert_eq!(got.holds(), Ok(expect), "{field} {op} {value:?}: {got:?}");
        }
    }

    #[test]
    fn missing_fields_hold_only_for_negative_ops() {
        let empty = json!({});
        for (field, op, value, expect) in [
            ("Enable", "eq", Some(json!(true)), false),
            ("Enable", "ne", Some(json!(true)), true),
            ("ScanType", "contains", Some(json!("vul")), false),
            ("ScanType", "not_contains", Some(json!("vul")), true),
            ("ScanType", "eq", Some(json!([])), true),
            ("ScanType", "subset_of", Some(json!(["vul"])), true),
            ("LastScanTime", "within", Some(json!("48h")), false),
            (
                "ScanTime",
                "time_between",
                Some(json!(["00:00", "06:00"])),
                false,
            ),
            ("Images[*].Force", "eq", Some(json!("x")), true),
        ] {
            let got = holds(field, op, value, empty.clone());
            assert_eq!(got.holds(), Ok(expect), "{field} {op}");
        }
    }

    #[test]
    fn unreadable_data_is_an_error_not_a_failure() {
        let got = holds(
            "LastScanTime",
            "within",
            Some(json!("48h")),
            json!({"LastScanTime": "soon"}),
        );
        assert!(got.holds().unwrap_err().contains("not a time"), "{got:?}");
        let got = holds("Mystery", "gt", Some(json!(1)), json!({"Mystery": "x"}));
        assert!(matches!(got, Verdict::Unreadable(_)), "{got:?}");
    }

    #[test]
    fn api_times_without_offset_are_read_at_the_api_offset() {
        let t = parse_api_time(
            "2026-10-01 03:10:00",
            FixedOffset::east_opt(8 * 3600).unwrap(),
        )
        .unwrap();
        assert_eq!(crate::task::when::fmt_utc(t), "2026-09-30T19:10:00Z");
        let t = parse_api_time(
            "2026-10-01T03:10:00Z",
            FixedOffset::east_opt(8 * 3600).unwrap(),
        )
        .unwrap();
        assert_eq!(crate::task::when::fmt_utc(t), "2026-10-01T03:10:00Z");
        // Read at UTC+8 the scan is 55h old and stale; misread as UTC it would look 47h old.
        let view = json!({"LastScanTime": "2026-10-01 03:00:00"});
        let (path, _) = FieldPath::parse("LastScanTime").unwrap();
        let op = StateOp::compile(StateOpName::Within, Some(&json!("48h")), &path).unwrap();
        let mut ctx = t_at("2026-10-03T02:00:00Z");
        assert!(matches!(
            op.check(&path, view.as_object().unwrap(), &ctx),
            Verdict::Fails(_)
        ));
        ctx.times.api_offset = FixedOffset::east_opt(0).unwrap();
        assert_eq!(
            op.check(&path, view.as_object().unwrap(), &ctx),
            Verdict::Holds
        );
    }

    fn t_at(now: &str) -> TimeCtx<'static> {
        t(now)
    }

    #[test]
    fn type_mismatches_are_load_errors() {
        let bad: [(&str, &str, Option<Value>, &str); 9] = [
            ("ScanType", "gt", Some(json!(1)), "does not apply"),
            (
                "ScanResult",
                "matches",
                Some(json!("(")),
                "regular expression",
            ),
            (
                "LastScanTime",
                "within",
                Some(json!("two days")),
                "not a duration",
            ),
            (
                "ScanType",
                "contains_all",
                Some(json!("vul")),
                "list of strings",
            ),
            ("Enable", "eq", Some(json!("yes")), "a boolean"),
            ("ScanPeriod", "in", Some(json!(["1"])), "list of integers"),
            ("Enable", "exists", Some(json!(true)), "takes no"),
            (
                "ScanTime",
                "time_between",
                Some(json!(["00:00"])),
                "two times",
            ),
            ("Enable", "within", Some(json!("1h")), "does not apply"),
        ];
        for (field, op, value, says) in bad {
            let (path, _) = FieldPath::parse(field).unwrap();
            let op = StateOpName::parse(op).unwrap();
            let e = StateOp::compile(op, value.as_ref(), &path).unwrap_err();
            assert!(e.contains(says), "{field} {op}: {e}");
        }
    }

    fn pts<'a>(script: &'a [(&str, Value)]) -> Vec<Point<'a>> {
        let values: Vec<Value> = script.iter().map(|(_, v)| v.clone()).collect();
        script
            .iter()
            .zip(changed_flags(&values))
            .map(|((at, v), changed)| Point {
                at: DateTime::parse_from_rfc3339(at)
                    .unwrap()
                    .with_timezone(&Utc),
                value: v,
                changed,
            })
            .collect()
    }

    fn run(op: HistoryOp, script: &[(&str, Value)], window: &str, now: &str) -> HistoryVerdict {
        op.check(&pts(script), parse_duration(window).unwrap(), &t(now))
    }

    #[test]
    fn history_ops_over_a_scripted_history() {
        let now = "2026-10-10T00:00:00Z";
        let script = [
            ("2026-09-01T00:00:00Z", json!(1)), // before the window: the state at its start
            ("2026-10-05T00:00:00Z", json!(1)),
            ("2026-10-06T00:00:00Z", json!(3)),
            ("2026-10-07T00:00:00Z", json!(2)),
            ("2026-10-09T12:00:00Z", json!(2)),
        ];
        fn ok(v: &HistoryVerdict) -> Result<bool, String> {
            v.verdict.holds()
        }
        assert_eq!(
            ok(&run(HistoryOp::Unchanged, &script, "7d", now)),
            Ok(false)
        );
        assert_eq!(ok(&run(HistoryOp::Unchanged, &script, "2d", now)), Ok(true));
        let v = run(HistoryOp::MaxChanges(2), &script, "7d", now);
        assert_eq!((ok(&v), v.actual.clone()), (Ok(true), json!(2)));
        assert_eq!(
            ok(&run(HistoryOp::MaxChanges(1), &script, "7d", now)),
            Ok(false)
        );
        assert_eq!(
            ok(&run(HistoryOp::NeverIncreases, &script, "7d", now)),
            Ok(false)
        );
        assert_eq!(
            ok(&run(HistoryOp::NeverIncreases, &script, "3d12h", now)),
            Ok(true)
        );
        assert_eq!(
            ok(&run(HistoryOp::NeverDecreases, &script, "7d", now)),
            Ok(false)
        );
        assert_eq!(
            ok(&run(HistoryOp::NeverDecreases, &script, "2d12h", now)),
            Ok(true)
        );
        // Gaps: 2d (from the window's start), 1d, 1d, 2d12h, then 12h to now.
        assert_eq!(
            ok(&run(
                HistoryOp::MaxGap(Duration::hours(60)),
                &script,
                "7d",
                now
            )),
            Ok(true)
        );
        let v = run(HistoryOp::MaxGap(Duration::hours(59)), &script, "7d", now);
        assert_eq!(
            (ok(&v), v.actual.clone()),
            (Ok(false), json!("2 days 12 h"))
        );
        // The month-long silence before the window counts only from the window's start.
        let wide = |days| run(HistoryOp::MaxGap(Duration::days(4)), &script, days, now);
        assert_eq!(ok(&wide("7d")), Ok(true));
        assert_eq!(ok(&wide("10d")), Ok(false));
        // The gap to now counts: nothing for 12h is fine at 26h, not at 6h.
        assert_eq!(
            ok(&run(
                HistoryOp::MaxGap(Duration::hours(6)),
                &script,
                "1d",
                now
            )),
            Ok(false)
        );
    }

    #[test]
    fn max_duration_counts_runs_from_first_seen_to_first_not_seen_or_now() {
        let now = "2026-10-10T00:00:00Z";
        let off = |hours: i64| HistoryOp::MaxDuration {
            value: json!(false),
            duration: Duration::hours(hours),
        };
        let ended = [
            ("2026-10-01T00:00:00Z", json!(true)),
            ("2026-10-02T00:00:00Z", json!(false)),
            ("2026-10-02T12:00:00Z", json!(false)),
            ("2026-10-03T06:00:00Z", json!(true)),
        ];
        let v = run(off(30), &ended, "30d", now);
        assert_eq!(v.verdict, Verdict::Holds);
        assert_eq!(v.actual, json!("1 day 6 h"));
        assert_eq!(run(off(29), &ended, "30d", now).verdict.holds(), Ok(false));
        let held = [
            ("2026-10-08T00:00:00Z", json!(true)),
            ("2026-10-09T00:00:00Z", json!(false)),
        ];
        let v = run(off(24), &held, "30d", now);
        assert_eq!(v.verdict, Verdict::Holds);
        let Verdict::Fails(why) = run(off(23), &held, "30d", now).verdict else {
            panic!("a run held 24 h fails a 23 h limit");
        };
        assert!(why.contains("still is"), "{why}");
    }
}

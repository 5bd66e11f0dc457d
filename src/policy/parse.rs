//! Reads one policy file with spans and checks it, collecting every diagnostic on the way.

use std::ops::Range;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use toml_edit::{ImDocument, InlineTable, Item, Key, Table};

use super::baseline::{self, Baseline};
use super::diagnostic::{Diagnostic, Level, LineIndex, Location};
use super::fields::{FieldPath, FieldType};
use super::model::{
    Check, Condition, PolicyFileInfo, PolicyTest, Rule, Severity, TestPoint, Waiver,
};
use super::ops::{HistoryOp, HistoryOpName, StateOp, StateOpName, parse_duration, show_duration};
use crate::task::fields::{self as catalogue, Role};
use crate::task::text::nearest;

/// The `now` of a test with neither a `now` key nor a history: a fixed instant, so that tests
/// never depend on the day they run.
pub const DEFAULT_TEST_NOW: &str = "2026-01-01T00:00:00Z";

/// The target a test evaluates as when it names none (the default target's name).
pub const DEFAULT_TEST_TARGET: &str = "default";

const TOP_KEYS: [&str; 4] = ["policy", "rule", "waiver", "test"];
const POLICY_KEYS: [&str; 2] = ["name", "description"];
const RULE_KEYS: [&str; 13] = [
    "id",
    "title",
    "severity",
    "kind",
    "field",
    "op",
    "value",
    "when",
    "window",
    "duration",
    "ignore",
    "remediation",
    "description",
];
const WHEN_KEYS: [&str; 3] = ["field", "op", "value"];
const WAIVER_KEYS: [&str; 5] = ["rule", "target", "reason", "owner", "expires"];
const TEST_KEYS: [&str; 9] = [
    "name",
    "config",
    "history",
    "baseline",
    "target",
    "now",
    "expect_fail",
    "expect_pass",
    "expect_waived",
];
const HISTORY_POINT_KEYS: [&str; 2] = ["at", "config"];

/// Where a key or value sits in the file, when the parser gives a place.
type Span = Option<Range<usize>>;

/// A rule id named by a waiver or a test, checked once every file is loaded.
#[derive(Debug, Clone)]
pub(crate) struct RuleRef {
    pub id: String,
    pub location: Location,
    pub subject: String,
    pub what: &'static str,
}

/// What one file gave.
#[derive(Debug, Default)]
pub(crate) struct ParsedFile {
    pub info: Option<PolicyFileInfo>,
    pub description: String,
    pub rules: Vec<Rule>,
    pub waivers: Vec<Waiver>,
    pub tests: Vec<PolicyTest>,
    pub refs: Vec<RuleRef>,
    /// Every rule id written, including those of rules with errors, so that a waiver for a
    /// broken rule is not also reported as naming an unknown one.
    pub ids: Vec<String>,
}

#[derive(Clone, Copy)]
enum Tbl<'a> {
    T(&'a Table),
    I(&'a InlineTable),
}

impl<'a> Tbl<'a> {
    fn of(item: &'a Item) -> Option<Tbl<'a>> {
        match item {
            Item::Table(t) => Some(Tbl::T(t)),
            Item::Value(toml_edit::Value::InlineTable(t)) => Some(Tbl::I(t)),
            _ => None,
        }
    }

    fn span(self) -> Option<Range<usize>> {
        match self {
            Tbl::T(t) => t.span(),
            Tbl::I(t) => t.span(),
        }
    }

    fn keys(self) -> Vec<String> {
        match self {
            Tbl::T(t) => t.iter().map(|(k, _)| k.to_string()).collect(),
            Tbl::I(t) => t.iter().map(|(k, _)| k.to_string()).collect(),
        }
    }

    fn get(self, key: &str) -> Option<(&'a Key, &'a Item)> {
        match self {
            Tbl::T(t) => t.get_key_value(key),
            Tbl::I(t) => t.get_key_value(key),
        }
    }
}

fn item_span(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Value(v) => v.span(),
        other => other.span(),
    }
}

/// A TOML value as JSON; dates and times become their TOML text.
fn to_json(item: &Item) -> Value {
    match item {
        Item::None => Value::Null,
        Item::Value(v) => value_json(v),
        Item::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
        }
        Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .map(|t| {
                    Value::Object(t.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
                })
                .collect(),
        ),
    }
}

fn value_json(v: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    match v {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::from(*i.value()),
        V::Float(f) => serde_json::Number::from_f64(*f.value()).map_or(Value::Null, Value::Number),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(d) => Value::String(d.value().to_string()),
        V::Array(a) => Value::Array(a.iter().map(value_json).collect()),
        V::InlineTable(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), value_json(v)))
                .collect(),
        ),
    }
}

fn kind_of(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(v) => v.type_name(),
    }
}

struct P<'a> {
    file: &'a str,
    lines: LineIndex<'a>,
    file_index: usize,
    diags: &'a mut Vec<Diagnostic>,
}

impl P<'_> {
    fn loc(&self, span: Option<Range<usize>>) -> Location {
        self.lines.locate(self.file, span.map_or(0, |s| s.start))
    }

    fn error(&mut self, span: Option<Range<usize>>, subject: &str, message: String) {
        let loc = self.loc(span);
        let subject = (!subject.is_empty()).then_some(subject);
        self.diags
            .push(Diagnostic::at(Level::Error, &loc, subject, message));
    }

    fn warn(&mut self, span: Option<Range<usize>>, subject: &str, message: String) {
        let loc = self.loc(span);
        let subject = (!subject.is_empty()).then_some(subject);
        self.diags
            .push(Diagnostic::at(Level::Warning, &loc, subject, message));
    }

    fn unknown_keys(&mut self, t: Tbl, allowed: &[&str], subject: &str, what: &str) {
        for k in t.keys() {
            if allowed.contains(&k.as_str()) {
                continue;
            }
            let span = t.get(&k).and_then(|(key, _)| key.span());
            self.error(
                span,
                subject,
                format!(
                    "unknown key `{k}` in {what} (did you mean `{}`?); valid keys: {}",
                    nearest(&k, allowed.iter().copied()),
                    allowed.join(", ")
                ),
            );
        }
    }

    /// A string key: `None` (after an error when `required`) if missing or not a string.
    fn string(
        &mut self,
        t: Tbl,
        key: &str,
        subject: &str,
        what: &str,
        required: bool,
    ) -> Option<(String, Option<Range<usize>>)> {
        match t.get(key) {
            None => {
                if required {
                    self.error(
                        t.span(),
                        subject,
                        format!("{what} has no `{key}`; add `{key} = \"...\"`"),
                    );
                }
                None
            }
            Some((_, item)) => match item.as_str() {
                Some(s) if !s.trim().is_empty() => Some((s.to_string(), item_span(item))),
                Some(_) => {
                    self.error(item_span(item), subject, format!("`{key}` is empty"));
                    None
                }
                None => {
                    self.error(
                        item_span(item),
                        subject,
                        format!("`{key}` must be a string, not {}", kind_of(item)),
                    );
                    None
                }
            },
        }
    }

    fn id_list(&mut self, t: Tbl, key: &str, subject: &str) -> Vec<(String, Location)> {
        let Some((_, item)) = t.get(key) else {
            return Vec::new();
        };
        let Some(arr) = item.as_array() else {
            self.error(
                item_span(item),
                subject,
                format!("`{key}` must be a list of rule ids, as in [\"TCSS-SCAN-001\"]"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for v in arr.iter() {
            match v.as_str() {
                Some(s) => out.push((s.to_string(), self.loc(v.span()))),
                None => self.error(
                    v.span(),
                    subject,
                    format!("`{key}` holds {}, not a rule id string", v.type_name()),
                ),
            }
        }
        out
    }
}

fn instant(item: &Item) -> Option<DateTime<Utc>> {
    let text = match item {
        Item::Value(toml_edit::Value::Datetime(d)) => d.value().to_string(),
        other => other.as_str()?.to_string(),
    };
    DateTime::parse_from_rfc3339(&text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses and checks one file; diagnostics go to `diags`.
pub(crate) fn parse_file(
    file: &str,
    text: &str,
    file_index: usize,
    diags: &mut Vec<Diagnostic>,
) -> ParsedFile {
    let mut p = P {
        file,
        lines: LineIndex::new(text),
        file_index,
        diags,
    };
    let mut out = ParsedFile::default();
    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            p.error(
                e.span(),
                "",
                format!("not valid TOML: {}", e.message().trim()),
            );
            return out;
        }
    };
    let root = doc.as_table();
    p.unknown_keys(Tbl::T(root), &TOP_KEYS, "", "a policy file");

    let (name, description) = parse_policy_table(&mut p, root, file);
    out.description = description;
    out.info = Some(PolicyFileInfo {
        file: file.to_string(),
        name,
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
    });
    parse_entries(&mut p, root, &mut out);
    out
}

/// The `[policy]` table's name (the file's stem when it gives none) and description.
fn parse_policy_table(p: &mut P, root: &Table, file: &str) -> (String, String) {
    let stem = std::path::Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    let mut name = stem;
    let mut description = String::new();
    let Some(item) = root.get("policy") else {
        p.warn(
            Some(0..0),
            "",
            "no [policy] table; add one with `name` and `description`".into(),
        );
        return (name, description);
    };
    let Some(t) = Tbl::of(item) else {
        p.error(item_span(item), "", "`policy` must be a table".into());
        return (name, description);
    };
    p.unknown_keys(t, &POLICY_KEYS, "", "[policy]");
    if let Some((n, _)) = p.string(t, "name", "", "[policy]", true) {
        name = n;
    }
    if let Some((d, _)) = p.string(t, "description", "", "[policy]", false) {
        description = d;
    }
    (name, description)
}

/// The file's `[[rule]]`, `[[waiver]]` and `[[test]]` tables, in that order, each kept when it
/// reads; every rule id written is kept, even of a rule that does not.
fn parse_entries(p: &mut P, root: &Table, out: &mut ParsedFile) {
    for (key, what) in [
        ("rule", "[[rule]]"),
        ("waiver", "[[waiver]]"),
        ("test", "[[test]]"),
    ] {
        let Some(item) = root.get(key) else { continue };
        let Some(tables) = item.as_array_of_tables() else {
            p.error(
                item_span(item),
                "",
                format!("`{key}` must be written as {what} tables"),
            );
            continue;
        };
        for (n, t) in tables.iter().enumerate() {
            parse_entry(p, key, Tbl::T(t), n + 1, out);
        }
    }
}

/// The `n`th table of `key` (`rule`, `waiver` or `test`), kept in `out` when it reads.
fn parse_entry(p: &mut P, key: &str, t: Tbl, n: usize, out: &mut ParsedFile) {
    match key {
        "rule" => {
            if let Some(id) = t.get("id").and_then(|(_, i)| i.as_str()) {
                out.ids.push(id.to_string());
            }
            if let Some(rule) = parse_rule(p, t, n) {
                out.rules.push(rule);
            }
        }
        "waiver" => {
            if let Some((w, r)) = parse_waiver(p, t, n) {
                out.waivers.push(w);
                out.refs.push(r);
            }
        }
        _ => {
            if let Some((test, refs)) = parse_test(p, t, n) {
                out.tests.push(test);
                out.refs.extend(refs);
            }
        }
    }
}

/// A field, op and value: a state rule's (`in_rule`), or a `when`'s, where `equals_baseline` is
/// not an op.
fn parse_condition(
    p: &mut P,
    t: Tbl,
    subject: &str,
    what: &str,
    in_rule: bool,
) -> Option<Condition> {
    let field = parse_field(p, t, subject, what, true)?;
    let (op_text, op_span) = p.string(t, "op", subject, what, true)?;
    let Some(op) = StateOpName::parse(&op_text) else {
        // A rule may also compare the config with its baseline; a `when` may not.
        let ops = || StateOpName::words().chain(in_rule.then_some(baseline::OP));
        let hint = if HistoryOpName::parse(&op_text).is_some() {
            format!(
                "`{op_text}` is a history op: add kind = \"history\" to the rule (not allowed in `when`)"
            )
        } else if op_text == baseline::OP {
            format!(
                "`{op_text}` compares the whole config with its approved baseline; it is a rule's op, not a `when` precondition"
            )
        } else {
            format!(
                "unknown op `{}` (did you mean `{}`?); valid ops: {}; history ops (with kind = \"history\"): {}",
                clip(&op_text),
                nearest(&op_text, ops()),
                ops().collect::<Vec<_>>().join(", "),
                HistoryOpName::words().collect::<Vec<_>>().join(", ")
            )
        };
        p.error(op_span, subject, hint);
        return None;
    };
    let value = t
        .get("value")
        .map(|(_, item)| (to_json(item), item_span(item)));
    match StateOp::compile(op, value.as_ref().map(|(v, _)| v), &field) {
        Ok(state) => Some(Condition {
            expected: match &value {
                Some((v, _)) => format!("{op} {}", serde_json::to_string(v).unwrap_or_default()),
                None => op.to_string(),
            },
            field,
            op: state,
        }),
        Err(msg) => {
            let span = value.and_then(|(_, s)| s).or(op_span);
            p.error(span, subject, msg);
            None
        }
    }
}

fn parse_field(p: &mut P, t: Tbl, subject: &str, what: &str, required: bool) -> Option<FieldPath> {
    let (text, span) = p.string(t, "field", subject, what, required)?;
    match FieldPath::parse(&text) {
        Ok((path, unknown)) => {
            if let Some(u) = unknown {
                p.warn(
                    span,
                    subject,
                    format!(
                        "unknown field `{}` (did you mean `{}`?); it is checked as written, with no type checks",
                        u.name, u.nearest
                    ),
                );
            }
            Some(path)
        }
        Err(msg) => {
            p.error(span, subject, msg);
            None
        }
    }
}

fn parse_rule(p: &mut P, t: Tbl, n: usize) -> Option<Rule> {
    let header = t.span();
    let id = p.string(t, "id", &format!("rule #{n}"), &format!("rule #{n}"), true);
    let subject = id
        .as_ref()
        .map_or_else(|| format!("rule #{n}"), |(s, _)| s.clone());
    let what = format!("rule {subject}");
    p.unknown_keys(t, &RULE_KEYS, &subject, "a rule");
    let title = p.string(t, "title", &subject, &what, true);
    let severity = rule_severity(p, t, &subject, &what);
    let remediation = match p.string(t, "remediation", &subject, &what, false) {
        Some((r, _)) => r,
        None => {
            p.warn(
                header.clone(),
                &subject,
                "no `remediation`; say what to do when this rule fails".into(),
            );
            String::new()
        }
    };
    let kind = p.string(t, "kind", &subject, &what, false);
    let when = rule_when(p, t, &subject);
    let history = rule_is_history(p, kind, &subject)?;
    // Whatever the kind: a history rule with this op gets its own hint from `parse_history`.
    let compares_baseline = t
        .get("op")
        .and_then(|(_, i)| i.as_str())
        .is_some_and(|op| op == baseline::OP);
    let ignore_ok = compares_baseline || ignore_absent(p, t, &subject);
    let check = if history {
        parse_history(p, t, &subject, &what)
    } else if compares_baseline {
        parse_baseline(p, t, &subject)
    } else {
        parse_state(p, t, &subject, &what)
    };
    // Every part is read (and every mistake reported) before a broken one drops the rule.
    if !ignore_ok {
        return None;
    }
    Some(Rule {
        id: id?.0,
        title: title?.0,
        severity: severity?,
        check: check?,
        when: when.ok()?,
        remediation,
        file: p.file_index,
        location: p.loc(header),
    })
}

/// A rule's `severity`, which must name a known level.
fn rule_severity(p: &mut P, t: Tbl, subject: &str, what: &str) -> Option<Severity> {
    let (s, span) = p.string(t, "severity", subject, what, true)?;
    match s.parse::<Severity>() {
        Ok(sev) => Some(sev),
        Err(e) => {
            p.error(span, subject, e);
            None
        }
    }
}

/// A rule's `when` precondition, if it has one; `Err` when it is written but does not read.
fn rule_when(p: &mut P, t: Tbl, subject: &str) -> Result<Option<Condition>, ()> {
    let Some((_, item)) = t.get("when") else {
        return Ok(None);
    };
    let Some(w) = Tbl::of(item) else {
        p.error(
            item_span(item),
            subject,
            "`when` must be a table: when = { field = \"Enable\", op = \"eq\", value = true }"
                .into(),
        );
        return Err(());
    };
    p.unknown_keys(w, &WHEN_KEYS, subject, "`when`");
    let what = format!("the `when` of {subject}");
    parse_condition(p, w, subject, &what, false)
        .map(Some)
        .ok_or(())
}

/// Whether a rule's `kind` makes it a history rule; `None` after an error for an unknown kind,
/// which drops the rule before its check is read.
fn rule_is_history(p: &mut P, kind: Option<(String, Span)>, subject: &str) -> Option<bool> {
    match kind {
        None => Some(false),
        Some((k, _)) if k == "state" => Some(false),
        Some((k, _)) if k == "history" => Some(true),
        Some((k, span)) => {
            p.error(
                span,
                subject,
                format!("unknown kind {k:?}; use \"state\" (the default) or \"history\""),
            );
            None
        }
    }
}

/// Whether a rule that does not compare with the baseline leaves out `ignore` (an error if not).
fn ignore_absent(p: &mut P, t: Tbl, subject: &str) -> bool {
    let Some((k, _)) = t.get("ignore") else {
        return true;
    };
    p.error(
        k.span(),
        subject,
        format!(
            "`ignore` is only for op = \"{}\" (fields left out of the comparison with the baseline); remove it",
            baseline::OP
        ),
    );
    false
}

/// A state rule's check: a condition, with no `window` or `duration` (each an error, reported
/// before the condition's own).
fn parse_state(p: &mut P, t: Tbl, subject: &str, what: &str) -> Option<Check> {
    let mut ok = true;
    for key in ["window", "duration"] {
        if let Some((k, _)) = t.get(key) {
            p.error(
                k.span(),
                subject,
                format!("`{key}` is only for history rules; add kind = \"history\" or remove it"),
            );
            ok = false;
        }
    }
    let check = parse_condition(p, t, subject, what, true).map(Check::State);
    if !ok {
        return None;
    }
    check
}

/// What a history rule names besides its window, each part read and checked on its own.
struct HistorySpec {
    op: HistoryOpName,
    op_span: Span,
    field: Option<FieldPath>,
    value: Option<(Value, Span)>,
    duration: Option<Duration>,
}

fn parse_history(p: &mut P, t: Tbl, subject: &str, what: &str) -> Option<Check> {
    let (op, op_span) = history_op_name(p, t, subject, what)?;
    let window = optional_duration(p, t, "window", subject, what)
        .ok()?
        .map_or_else(|| Duration::days(30), |(d, _)| d);
    let field = history_field(p, t, subject, what, op).ok()?;
    let value = t
        .get("value")
        .map(|(k, item)| (k.span(), to_json(item), item_span(item)));
    let duration = optional_duration(p, t, "duration", subject, what).ok()?;
    let spec = history_parts(p, (op, op_span), field, value, duration, subject)?;
    let hop = history_op(p, t, subject, &spec)?;
    Some(Check::History {
        expected: history_expected(&hop, window),
        field: spec.field,
        window,
        op: hop,
    })
}

/// A history rule's `op`, with a hint when it names a state op, the baseline comparison or
/// nothing known.
fn history_op_name(p: &mut P, t: Tbl, subject: &str, what: &str) -> Option<(HistoryOpName, Span)> {
    let (op_text, op_span) = p.string(t, "op", subject, what, true)?;
    if let Some(op) = HistoryOpName::parse(&op_text) {
        return Some((op, op_span));
    }
    let hint = if StateOpName::parse(&op_text).is_some() {
        format!("`{op_text}` is a state op; remove kind = \"history\" to use it")
    } else if op_text == baseline::OP {
        format!(
            "`{op_text}` compares the config as observed with its approved baseline, not a history; remove kind = \"history\""
        )
    } else {
        format!(
            "unknown history op `{}` (did you mean `{}`?); valid history ops: {}",
            clip(&op_text),
            nearest(&op_text, HistoryOpName::words()),
            HistoryOpName::words().collect::<Vec<_>>().join(", ")
        )
    };
    p.error(op_span, subject, hint);
    None
}

/// An optional duration key (`window`, `duration`) with its span; `Err` after an error when
/// it does not read as a duration.
fn optional_duration(
    p: &mut P,
    t: Tbl,
    key: &str,
    subject: &str,
    what: &str,
) -> Result<Option<(Duration, Span)>, ()> {
    let Some((text, span)) = p.string(t, key, subject, what, false) else {
        return Ok(None);
    };
    match parse_duration(&text) {
        Ok(d) => Ok(Some((d, span))),
        Err(e) => {
            p.error(span, subject, format!("bad `{key}`: {e}"));
            Err(())
        }
    }
}

/// A history rule's `field`: none for `max_gap`, which follows observations (a `field` there
/// is an error, though the rest is still checked); `Err` when an op that needs one has none
/// that reads.
fn history_field(
    p: &mut P,
    t: Tbl,
    subject: &str,
    what: &str,
    op: HistoryOpName,
) -> Result<Option<FieldPath>, ()> {
    if op == HistoryOpName::MaxGap {
        if let Some((k, _)) = t.get("field") {
            p.error(
                k.span(),
                subject,
                "`max_gap` follows observations, not a field; remove `field`".into(),
            );
        }
        return Ok(None);
    }
    let f = parse_field(p, t, subject, what, op.needs_field());
    if op.needs_field() && f.is_none() {
        return Err(());
    }
    Ok(f)
}

/// A history rule's parts together, its `value` and `duration` each present exactly when the
/// op takes it; every mistake is reported before a wrong one drops the rule.
fn history_parts(
    p: &mut P,
    (op, op_span): (HistoryOpName, Span),
    field: Option<FieldPath>,
    value: Option<(Span, Value, Span)>,
    duration: Option<(Duration, Span)>,
    subject: &str,
) -> Option<HistorySpec> {
    let mut ok = true;
    let value = match (op.takes_value(), value) {
        (false, Some((k, _, _))) => {
            p.error(k, subject, format!("`{op}` takes no `value`; remove it"));
            ok = false;
            None
        }
        (true, None) => {
            p.error(op_span.clone(), subject, format!("`{op}` needs a `value`"));
            ok = false;
            None
        }
        (_, v) => v.map(|(_, v, span)| (v, span)),
    };
    let duration = match (op.takes_duration(), duration) {
        (false, Some((_, span))) => {
            p.error(
                span,
                subject,
                format!("`{op}` takes no `duration`; remove it"),
            );
            ok = false;
            None
        }
        (true, None) => {
            p.error(
                op_span.clone(),
                subject,
                format!("`{op}` needs a `duration`, such as \"24h\""),
            );
            ok = false;
            None
        }
        (_, d) => d.map(|(d, _)| d),
    };
    ok.then_some(HistorySpec {
        op,
        op_span,
        field,
        value,
        duration,
    })
}

/// The checked history op: its value fits it and its field's type.
fn history_op(p: &mut P, t: Tbl, subject: &str, spec: &HistorySpec) -> Option<HistoryOp> {
    let op = spec.op;
    match (op, &spec.value, spec.duration, &spec.field) {
        (HistoryOpName::Unchanged, _, _, _) => Some(HistoryOp::Unchanged),
        (HistoryOpName::MaxChanges, Some((v, span)), _, _) => {
            let Some(n) = v.as_u64() else {
                p.error(
                    span.clone(),
                    subject,
                    format!("`max_changes` needs a count (0 or more) as its value, got {v}"),
                );
                return None;
            };
            Some(HistoryOp::MaxChanges(n))
        }
        (HistoryOpName::NeverIncreases | HistoryOpName::NeverDecreases, _, _, Some(f)) => {
            if !matches!(f.ty, FieldType::Int | FieldType::Bool | FieldType::Any) {
                p.error(
                    t.get("field").and_then(|(_, i)| item_span(i)),
                    subject,
                    format!(
                        "`{op}` needs a number or boolean field; {} is {}",
                        f.text,
                        f.ty.describe()
                    ),
                );
                return None;
            }
            Some(if op == HistoryOpName::NeverIncreases {
                HistoryOp::NeverIncreases
            } else {
                HistoryOp::NeverDecreases
            })
        }
        (HistoryOpName::MaxDuration, Some((v, span)), Some(d), Some(f)) => {
            // Compile `eq` to reuse its type check: the held value must fit the field.
            if let Err(e) = StateOp::compile(StateOpName::Eq, Some(v), f) {
                p.error(span.clone(), subject, e.replace("`eq`", "`max_duration`"));
                return None;
            }
            Some(HistoryOp::MaxDuration {
                value: v.clone(),
                duration: d,
            })
        }
        (HistoryOpName::MaxGap, _, Some(d), _) => Some(HistoryOp::MaxGap(d)),
        // Each op's parts were checked present before; nothing else reaches here.
        (op, ..) => {
            p.error(
                spec.op_span.clone(),
                subject,
                format!("`{op}` is missing a part it needs"),
            );
            None
        }
    }
}

/// What a history rule expects, in words, as its findings show it.
fn history_expected(op: &HistoryOp, window: Duration) -> String {
    let w = show_duration(window);
    match op {
        HistoryOp::Unchanged => format!("unchanged over {w}"),
        HistoryOp::MaxChanges(n) => format!("at most {n} changes over {w}"),
        HistoryOp::NeverIncreases => format!("never increases over {w}"),
        HistoryOp::NeverDecreases => format!("never decreases over {w}"),
        HistoryOp::MaxDuration { value, duration } => format!(
            "{value} for at most {} at a time over {w}",
            show_duration(*duration)
        ),
        HistoryOp::MaxGap(d) => format!(
            "an observation at least every {} over {w}",
            show_duration(*d)
        ),
    }
}

/// An `equals_baseline` rule's check: it takes no `field`, `value`, `window` or `duration`, and
/// an optional `ignore` list of top-level config fields. Every mistake is reported.
fn parse_baseline(p: &mut P, t: Tbl, subject: &str) -> Option<Check> {
    let op = baseline::OP;
    let mut ok = true;
    for key in ["field", "value", "window", "duration"] {
        if let Some((k, _)) = t.get(key) {
            let hint = if key == "field" {
                " (to leave fields out of the comparison, list them in `ignore`)"
            } else {
                ""
            };
            p.error(
                k.span(),
                subject,
                format!(
                    "`{op}` takes no `{key}`: it compares the whole config as observed with the approved baseline; remove it{hint}"
                ),
            );
            ok = false;
        }
    }
    let mut ignore = Vec::new();
    if let Some((_, item)) = t.get("ignore") {
        match item.as_array() {
            None => {
                p.error(
                    item_span(item),
                    subject,
                    "`ignore` must be a list of config field names, as in [\"ScanTime\", \"Images\"]"
                        .into(),
                );
                ok = false;
            }
            Some(arr) => {
                for v in arr.iter() {
                    match v.as_str() {
                        Some(name) => {
                            ignore_warning(p, v.span(), subject, name);
                            ignore.push(name.to_string());
                        }
                        None => {
                            p.error(
                                v.span(),
                                subject,
                                format!(
                                    "`ignore` holds {}, not a config field name string",
                                    v.type_name()
                                ),
                            );
                            ok = false;
                        }
                    }
                }
            }
        }
    }
    if !ok {
        return None;
    }
    let expected = if ignore.is_empty() {
        op.to_string()
    } else {
        format!(
            "{op} ignore {}",
            serde_json::to_string(&ignore).unwrap_or_default()
        )
    };
    Some(Check::Baseline { ignore, expected })
}

/// Warns about an `ignore` entry that is not a known top-level config field: a status field is
/// never compared anyway; any other name is left out as written (the API may add fields), with
/// the nearest known name.
fn ignore_warning(p: &mut P, span: Option<Range<usize>>, subject: &str, name: &str) {
    match catalogue::field(name).map(|f| f.role) {
        Some(Role::Config) => {}
        Some(Role::Status) => p.warn(
            span,
            subject,
            format!(
                "`{name}` is a status field, which a comparison with the baseline never counts; remove it from `ignore`"
            ),
        ),
        _ => {
            let config = catalogue::with_role(Role::Config).map(|f| f.name);
            p.warn(
                span,
                subject,
                format!(
                    "unknown config field `{}` in `ignore` (did you mean `{}`?); `ignore` takes top-level config field names, and this one is left out as written",
                    clip(name),
                    nearest(catalogue::head(name), config)
                ),
            );
        }
    }
}

fn parse_waiver(p: &mut P, t: Tbl, n: usize) -> Option<(Waiver, RuleRef)> {
    let subject = format!("waiver #{n}");
    p.unknown_keys(t, &WAIVER_KEYS, &subject, "a waiver");
    let rule = p.string(t, "rule", &subject, &subject, true);
    let target = p
        .string(t, "target", &subject, &subject, false)
        .map(|(s, _)| s);
    let reason = p.string(t, "reason", &subject, &subject, true);
    let owner = p.string(t, "owner", &subject, &subject, true);
    let expires = match t.get("expires") {
        None => {
            p.error(
                t.span(),
                &subject,
                "waiver has no `expires`; add `expires = \"YYYY-MM-DD\"` (a UTC date, valid through its end)"
                    .into(),
            );
            None
        }
        Some((_, item)) => {
            let text = match item {
                Item::Value(toml_edit::Value::Datetime(d)) => Some(d.value().to_string()),
                other => other.as_str().map(str::to_string),
            };
            match text
                .as_deref()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            {
                Some(d) => Some(d),
                None => {
                    p.error(
                        item_span(item),
                        &subject,
                        "`expires` must be a date, \"YYYY-MM-DD\" (UTC, valid through the end of that day)"
                            .into(),
                    );
                    None
                }
            }
        }
    };
    let (rule, rule_span) = rule?;
    let subject = format!("waiver for {rule}");
    Some((
        Waiver {
            rule: rule.clone(),
            target,
            reason: reason?.0,
            owner: owner?.0,
            expires: expires?,
            file: p.file_index,
            location: p.loc(t.span()),
        },
        RuleRef {
            id: rule,
            location: p.loc(rule_span),
            subject,
            what: "a waiver",
        },
    ))
}

fn parse_config(p: &mut P, item: &Item, subject: &str, key: &str) -> Option<Map<String, Value>> {
    match to_json(item) {
        Value::Object(m) if Tbl::of(item).is_some() => Some(m),
        _ => {
            p.error(
                item_span(item),
                subject,
                format!(
                    "`{key}` must be a table of fields, as in {{ Enable = true, ScanPeriod = 1 }}"
                ),
            );
            None
        }
    }
}

fn parse_test(p: &mut P, t: Tbl, n: usize) -> Option<(PolicyTest, Vec<RuleRef>)> {
    let name = p.string(
        t,
        "name",
        &format!("test #{n}"),
        &format!("test #{n}"),
        true,
    );
    let subject = name
        .as_ref()
        .map_or_else(|| format!("test #{n}"), |(s, _)| format!("test {s:?}"));
    p.unknown_keys(t, &TEST_KEYS, &subject, "a test");
    let target = p
        .string(t, "target", &subject, &subject, false)
        .map_or_else(|| DEFAULT_TEST_TARGET.to_string(), |(s, _)| s);
    let config = match t.get("config") {
        None => {
            p.error(
                t.span(),
                &subject,
                "test has no `config`; add config = { ... }".into(),
            );
            None
        }
        Some((_, item)) => parse_config(p, item, &subject, "config"),
    };
    let baseline_config = test_baseline_config(p, t, &subject);
    let (history, mut history_ok) = test_history(p, t, &subject);
    let now = test_now(p, t, &subject, &history);
    if let Some(now) = now {
        history_ok &= now_after_history(p, t, &subject, now, &history);
    }
    let (refs, [expect_fail, expect_pass, expect_waived]) = test_expectations(p, t, &subject);
    // Every part is read (and every mistake reported) before a broken one drops the test.
    let baseline_config = baseline_config.ok()?;
    if !history_ok {
        return None;
    }
    let now = now?;
    Some((
        PolicyTest {
            name: name?.0,
            target,
            now,
            history,
            config: config?,
            baseline: baseline_config.map(|config| test_baseline(config, now)),
            expect_fail,
            expect_pass,
            expect_waived,
            file: p.file_index,
            location: p.loc(t.span()),
        },
        refs,
    ))
}

/// A test's `baseline` config, if it has one, with status fields left out (each with a
/// warning); `Err` when it is written but is not a table of fields.
fn test_baseline_config(
    p: &mut P,
    t: Tbl,
    subject: &str,
) -> Result<Option<Map<String, Value>>, ()> {
    let Some((_, item)) = t.get("baseline") else {
        return Ok(None);
    };
    let Some(mut config) = parse_config(p, item, subject, "baseline") else {
        return Err(());
    };
    let status: Vec<String> = config
        .keys()
        .filter(|k| catalogue::is_status(k))
        .cloned()
        .collect();
    for name in status {
        let span = Tbl::of(item)
            .and_then(|b| b.get(&name))
            .and_then(|(k, _)| k.span());
        p.warn(
            span.or_else(|| item_span(item)),
            subject,
            format!("`{name}` is a status field, which a baseline does not hold; it is left out"),
        );
        config.remove(&name);
    }
    Ok(Some(config))
}

/// A test's `history`, oldest first, and whether every entry of it was sound.
fn test_history(p: &mut P, t: Tbl, subject: &str) -> (Vec<TestPoint>, bool) {
    let mut history = Vec::new();
    let Some((_, item)) = t.get("history") else {
        return (history, true);
    };
    let (entries, mut ok) = history_entries(p, item, subject);
    for (span, e) in entries {
        let Some(point) = history_point(p, span.clone(), e, subject) else {
            ok = false;
            continue;
        };
        if history.last().is_some_and(|l: &TestPoint| l.at > point.at) {
            p.error(span, subject, "history entries must be oldest first".into());
            ok = false;
        }
        history.push(point);
    }
    (history, ok)
}

/// The tables of a test's `history` (an array of tables or a list of inline tables), each with
/// its span, and whether every entry was a table.
fn history_entries<'a>(p: &mut P, item: &'a Item, subject: &str) -> (Vec<(Span, Tbl<'a>)>, bool) {
    match item {
        Item::ArrayOfTables(a) => (a.iter().map(|t| (t.span(), Tbl::T(t))).collect(), true),
        Item::Value(toml_edit::Value::Array(a)) => {
            let mut v = Vec::new();
            let mut ok = true;
            for e in a.iter() {
                let Some(it) = e.as_inline_table() else {
                    p.error(
                        e.span(),
                        subject,
                        "each `history` entry must be { at = \"RFC 3339\", config = { ... } }"
                            .into(),
                    );
                    ok = false;
                    continue;
                };
                v.push((it.span(), Tbl::I(it)));
            }
            (v, ok)
        }
        other => {
            p.error(
                item_span(other),
                subject,
                "`history` must be a list of { at = \"RFC 3339\", config = { ... } }".into(),
            );
            (Vec::new(), false)
        }
    }
}

/// One `history` entry: its `at` and its `config`, both checked before either drops it.
fn history_point(p: &mut P, span: Span, e: Tbl, subject: &str) -> Option<TestPoint> {
    p.unknown_keys(e, &HISTORY_POINT_KEYS, subject, "a history entry");
    let at = match e.get("at") {
        Some((_, i)) => instant(i).or_else(|| {
            p.error(
                item_span(i),
                subject,
                "`at` must be an RFC 3339 time with an offset, as in \"2026-10-01T03:00:00+08:00\""
                    .into(),
            );
            None
        }),
        None => {
            p.error(span.clone(), subject, "history entry has no `at`".into());
            None
        }
    };
    let view = match e.get("config") {
        Some((_, i)) => parse_config(p, i, subject, "config"),
        None => {
            p.error(span, subject, "history entry has no `config`".into());
            None
        }
    };
    Some(TestPoint {
        at: at?,
        view: view?,
    })
}

/// A test's `now`: as written, else the last history entry's time, else [`DEFAULT_TEST_NOW`].
fn test_now(p: &mut P, t: Tbl, subject: &str, history: &[TestPoint]) -> Option<DateTime<Utc>> {
    let Some((_, i)) = t.get("now") else {
        return Some(history.last().map_or_else(
            || {
                Utc.from_utc_datetime(
                    &DateTime::parse_from_rfc3339(DEFAULT_TEST_NOW)
                        .expect("valid constant")
                        .naive_utc(),
                )
            },
            |l| l.at,
        ));
    };
    let now = instant(i);
    if now.is_none() {
        p.error(
            item_span(i),
            subject,
            "`now` must be an RFC 3339 time with an offset".into(),
        );
    }
    now
}

/// Whether a test's `now` comes no earlier than its last history entry (an error if not).
fn now_after_history(
    p: &mut P,
    t: Tbl,
    subject: &str,
    now: DateTime<Utc>,
    history: &[TestPoint],
) -> bool {
    let Some(last) = history.last().filter(|last| last.at > now) else {
        return true;
    };
    p.error(
        t.get("now").and_then(|(_, i)| item_span(i)),
        subject,
        format!(
            "`now` ({}) is before the last history entry ({})",
            crate::task::when::fmt_utc(now),
            crate::task::when::fmt_utc(last.at)
        ),
    );
    false
}

/// A test's `expect_fail`, `expect_pass` and `expect_waived` ids, in that order, and a
/// reference for each id, checked against the rules once every file is loaded; a warning when
/// it expects nothing.
fn test_expectations(p: &mut P, t: Tbl, subject: &str) -> (Vec<RuleRef>, [Vec<String>; 3]) {
    let mut refs = Vec::new();
    let lists = ["expect_fail", "expect_pass", "expect_waived"].map(|key| {
        let ids = p.id_list(t, key, subject);
        refs.extend(ids.iter().map(|(id, loc)| RuleRef {
            id: id.clone(),
            location: loc.clone(),
            subject: subject.to_string(),
            what: "a test",
        }));
        ids.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
    });
    if lists.iter().all(Vec::is_empty) {
        p.warn(
            t.span(),
            subject,
            "the test expects nothing; add expect_fail or expect_pass".into(),
        );
    }
    (refs, lists)
}

/// A test's `baseline`: approved a second before the test's `now`, from no snapshot, its hash
/// that of its canonical JSON as the store computes it.
fn test_baseline(config: Map<String, Value>, now: DateTime<Utc>) -> Baseline {
    Baseline {
        entry: 0,
        approved_at: now - Duration::seconds(1),
        snapshot: None,
        config_hash: hex::encode(Sha256::digest(
            crate::task::canonical::canonical_json(&config).as_bytes(),
        )),
        config,
    }
}

/// A value quoted back in a message, cut short: the location already says where it is.
fn clip(text: &str) -> String {
    const MAX: usize = 60;
    if text.len() <= MAX {
        text.to_string()
    } else {
        format!("{}…", &text[..text.floor_char_boundary(MAX)])
    }
}

//! Policies in TOML: parse with spans, validate every error, evaluate into findings.
//!
//! A file has `[policy]` (`name`, `description`), `[[rule]]`, and optional `[[waiver]]` and
//! `[[test]]` tables (`docs/policies.md`). Loading reads every file, collects every error
//! and warning with its `file:line:col`, then checks what spans files: duplicate rule ids, and
//! waivers and tests that name rules no file defines. Only then does it fail, with all of them.
//!
//! Semantics chosen where `docs/policies.md` is silent:
//! - `Name[*]` / `Name[*].Sub`: the op must hold for every element (vacuously for none).
//! - `time_between [from, to]` is inclusive; with `from > to` it wraps midnight
//!   (`["22:00", "02:00"]` holds from 22:00 through 02:00).
//! - `null`, missing and (for lists) `[]` are the same; `ne`, `not_in`, `not_contains`,
//!   `absent`, `empty` and `subset_of` hold on a missing field, the other ops fail.
//! - Values for `ScanType` and `RegistryType` are lower-cased at load, as configs are.
//! - A `when` that does not hold makes the rule pass with "not applicable: ...".
//! - `equals_baseline` compares the config (status fields aside, `ignore` fields left out) with
//!   the newest approved [`Baseline`] at or before `now`, top-level field by top-level field; with
//!   none it passes with "not applicable: ...". A test's `baseline` is approved a second before
//!   its `now`.
//! - Time-relative ops and history windows are relative to `now` (see [`evaluate`]); times
//!   without an offset (`LastScanTime`) are read at the input's API offset, UTC+8 by default.
//! - History windows are `[now - window, now]`; the last observation before the window gives the
//!   state at its start. `max_duration` runs count from the first observation with the value to
//!   the first without it, or to `now`. `max_gap` measures the gaps between consecutive
//!   observations (only their part inside the window) and from the last one to `now`.
//!   `unchanged` and `max_changes` without `field` follow the whole config.
//! - A test's `now` is its `now` key, else its last history entry's `at`, else
//!   2026-01-01T00:00:00Z ([`DEFAULT_TEST_NOW`]); its `config` is observed at `now`, its target
//!   is `default` unless it names one, and `expect_waived` checks that a waiver applies.
//! - [`CheckReport::fails_at_or_above`] counts `error` results as failures.
//! - Waivers: valid through the end of their `expires` UTC day; they turn `fail` into `waived`.

mod baseline;
mod diagnostic;
mod evaluate;
mod fields;
mod judge;
mod model;
mod ops;
mod parse;
mod testing;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use baseline::Baseline;
pub use diagnostic::{Diagnostic, Level, Location, PolicyError};
pub use evaluate::{
    CheckInput, CheckReport, EXPIRING_SOON_DAYS, Measured, Observation, RuleResult, RuleStatus,
    SnapshotRef, Summary, WaiverNote, WaiverNoteKind, WaiverRef, default_api_offset, evaluate,
};
pub use fields::{FieldPath, FieldType, IMAGE_FIELDS};
pub use judge::Judge;
pub use model::{
    Check, Condition, PolicyFileInfo, PolicySet, PolicyTest, Rule, Severity, TestPoint, Waiver,
};
pub use ops::{HistoryOpName, StateOpName, Times, Verdict};
pub use parse::{DEFAULT_TEST_NOW, DEFAULT_TEST_TARGET};
pub use testing::{Mismatch, TestOutcome, TestReport, run_tests};

/// A loaded policy set and the warnings its files gave.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub set: PolicySet,
    pub warnings: Vec<Diagnostic>,
}

/// The shipped policy files, compiled in so that `audit check` works from any directory.
pub const BUILTIN: [(&str, &str); 3] = [
    (
        "builtin/tcss-baseline.toml",
        include_str!("../../policies/tcss-baseline.toml"),
    ),
    (
        "builtin/change-control.toml",
        include_str!("../../policies/change-control.toml"),
    ),
    (
        "builtin/baseline.toml",
        include_str!("../../policies/baseline.toml"),
    ),
];

/// The name that stands for the shipped policies among policy paths, so that a deployment can add
/// its own files to them: `policies = ["@builtin", "policies"]`.
pub const BUILTIN_NAME: &str = "@builtin";

/// The shipped policies.
pub fn builtin() -> Loaded {
    let sources = BUILTIN
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    load_sources(sources, Vec::new()).unwrap_or_else(|e| panic!("the built-in policies load:\n{e}"))
}

/// Loads one policy file's text; `name` stands for its path in diagnostics.
pub fn load_str(name: &str, text: &str) -> Result<Loaded, PolicyError> {
    load_sources(vec![(name.to_string(), text.to_string())], Vec::new())
}

/// Loads files and directories (every `*.toml` in a directory, sorted by name; not recursive);
/// [`BUILTIN_NAME`] among them stands for the shipped policies.
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, PolicyError> {
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    if paths.iter().any(|p| p.as_os_str() == BUILTIN_NAME) {
        sources.extend(BUILTIN.iter().map(|(n, t)| (n.to_string(), t.to_string())));
    }
    let unreadable = |path: &Path, message: String| Diagnostic {
        level: Level::Error,
        file: path.display().to_string(),
        line: None,
        col: None,
        subject: None,
        message,
    };
    for path in paths.iter().filter(|p| p.as_os_str() != BUILTIN_NAME) {
        if path.is_dir() {
            let entries = match std::fs::read_dir(path) {
                Ok(entries) => entries,
                Err(e) => {
                    diags.push(unreadable(path, ReadError::from(e).to_string()));
                    continue;
                }
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                .collect();
            files.sort();
            if files.is_empty() {
                diags.push(unreadable(
                    path,
                    "this directory holds no *.toml policy files; name a file or another directory"
                        .into(),
                ));
            }
            for f in files {
                match read_policy(&f) {
                    Ok(text) => sources.push((f.display().to_string(), text)),
                    Err(e) => diags.push(unreadable(&f, e.to_string())),
                }
            }
        } else {
            match read_policy(path) {
                Ok(text) => sources.push((path.display().to_string(), text)),
                Err(e) => diags.push(unreadable(path, e.to_string())),
            }
        }
    }
    load_sources(sources, diags)
}

/// The most a policy file may hold. The shipped ones are a few KiB; a limit keeps a wrong path
/// (`/dev/zero`, a log file) from being read until memory runs out.
pub const MAX_POLICY_BYTES: u64 = 4 * 1024 * 1024;

/// Why a policy file could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("cannot read this policy path: {0}; check that it exists and is readable")]
    Io(#[from] std::io::Error),
    #[error(
        "this policy file holds more than {} MiB ({MAX_POLICY_BYTES} bytes), the most one may; name a policy file, or split this one into several",
        MAX_POLICY_BYTES / 1024 / 1024
    )]
    TooLarge,
}

/// Reads a policy file, at most [`MAX_POLICY_BYTES`] of it: one byte more says it is too large.
fn read_policy(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_POLICY_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
        .into()
    })
}

fn load_sources(
    sources: Vec<(String, String)>,
    mut diags: Vec<Diagnostic>,
) -> Result<Loaded, PolicyError> {
    let mut set = PolicySet::default();
    let mut refs = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for (i, (name, text)) in sources.iter().enumerate() {
        let parsed = parse::parse_file(name, text, i, &mut diags);
        set.files
            .push(parsed.info.unwrap_or_else(|| PolicyFileInfo {
                file: name.clone(),
                name: String::new(),
                sha256: String::new(),
            }));
        set.descriptions.push(parsed.description);
        set.rules.extend(parsed.rules);
        set.waivers.extend(parsed.waivers);
        set.tests.extend(parsed.tests);
        refs.extend(parsed.refs);
        ids.extend(parsed.ids);
    }
    duplicate_ids(&set.rules, &mut diags);
    unknown_rule_refs(refs, &ids, &mut diags);
    let order = |d: &Diagnostic| {
        (
            sources
                .iter()
                .position(|(n, _)| *n == d.file)
                .unwrap_or(usize::MAX),
            d.line,
            d.col,
        )
    };
    diags.sort_by_key(order);
    if diags.iter().any(Diagnostic::is_error) {
        diags.sort_by_key(|d| !d.is_error());
        return Err(PolicyError { diagnostics: diags });
    }
    Ok(Loaded {
        set,
        warnings: diags,
    })
}

/// An error for each rule whose id an earlier rule already has.
fn duplicate_ids(rules: &[Rule], diags: &mut Vec<Diagnostic>) {
    // Each id's first rule, by id: a search of the rules before each one took time in the
    // square of their number.
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let first = *first_of.entry(&rule.id).or_insert(i);
        if first != i {
            diags.push(Diagnostic::at(
                Level::Error,
                &rule.location,
                Some(&rule.id),
                format!(
                    "rule id {} is already defined at {}; give each rule its own id",
                    rule.id, rules[first].location
                ),
            ));
        }
    }
}

/// An error for each waiver or test that names a rule id no file wrote (`ids`), with the
/// nearest one.
fn unknown_rule_refs(refs: Vec<parse::RuleRef>, ids: &[String], diags: &mut Vec<Diagnostic>) {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let known: HashSet<&str> = ids.iter().copied().collect();
    for r in refs {
        if known.contains(r.id.as_str()) {
            continue;
        }
        let hint = if ids.is_empty() {
            "no rules are loaded".to_string()
        } else {
            format!(
                "did you mean {}?",
                crate::task::text::nearest(&r.id, ids.iter().copied())
            )
        };
        diags.push(Diagnostic::at(
            Level::Error,
            &r.location,
            Some(&r.subject),
            format!(
                "{} names rule {}, which no loaded policy file defines ({hint})",
                r.what, r.id
            ),
        ));
    }
}

impl PolicySet {
    /// Warnings about waivers that expire within [`EXPIRING_SOON_DAYS`] days of `now`, or have
    /// expired, for `audit policy validate`.
    pub fn waiver_warnings(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<Diagnostic> {
        let today = now.date_naive();
        self.waivers
            .iter()
            .filter_map(|w| {
                let left = (w.expires - today).num_days();
                let message = if left < 0 {
                    format!(
                        "this waiver expired on {}; it no longer applies: remove or renew it",
                        w.expires
                    )
                } else if left < EXPIRING_SOON_DAYS {
                    format!(
                        "this waiver expires on {} (in {left} days); renew it or fix the finding",
                        w.expires
                    )
                } else {
                    return None;
                };
                Some(Diagnostic::at(
                    Level::Warning,
                    &w.location,
                    Some(&format!("waiver for {}", w.rule)),
                    message,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;

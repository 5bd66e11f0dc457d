//! Runs the `[[test]]` cases of policy files and accounts for every mismatch.
//!
//! A test's `config` is observed at its `now`: the `now` key when given, else the last history
//! entry's `at`, else 2026-01-01T00:00:00Z. Its `history` entries come before, oldest first.
//! Its `baseline`, when given, is approved a second before `now`; without one the target has no
//! approved baseline.
//! Times without an offset in the test are read at UTC+8, as the API means them. Configs are
//! taken as written, already normalized (lower-case scan types, `HH:MM:SS` times).

use serde::Serialize;

use super::diagnostic::Location;
use super::evaluate::{RuleStatus, View, evaluate_views};
use super::model::PolicySet;
use super::ops::TimeCtx;

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub rule: String,
    pub expected: RuleStatus,
    pub got: RuleStatus,
    pub message: String,
}

/// One test's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestOutcome {
    pub name: String,
    pub file: String,
    pub location: Location,
    pub mismatches: Vec<Mismatch>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Every test's outcome, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TestReport {
    pub outcomes: Vec<TestOutcome>,
}

impl TestReport {
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed()).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed()
    }

    pub fn all_passed(&self) -> bool {
        self.failed() == 0
    }
}

/// Runs every test of `set` against the whole set.
pub fn run_tests(set: &PolicySet) -> TestReport {
    let mut outcomes = Vec::new();
    for test in set.tests() {
        let mut history: Vec<View> = test
            .history
            .iter()
            .map(|p| View {
                at: p.at,
                view: &p.view,
            })
            .collect();
        history.push(View {
            at: test.now,
            view: &test.config,
        });
        let t =
            TimeCtx::new(test.now, super::Times::default()).with_baseline(test.baseline.as_ref());
        let (results, _) = evaluate_views(set, &test.target, &test.config, &history, &t);
        let mut mismatches = Vec::new();
        let expectations = [
            (&test.expect_fail, RuleStatus::Fail),
            (&test.expect_pass, RuleStatus::Pass),
            (&test.expect_waived, RuleStatus::Waived),
        ];
        for (ids, expected) in expectations {
            for id in ids {
                let Some(r) = results.iter().find(|r| &r.rule == id) else {
                    continue;
                };
                if r.status != expected {
                    mismatches.push(Mismatch {
                        rule: id.clone(),
                        expected,
                        got: r.status,
                        message: r.message.clone(),
                    });
                }
            }
        }
        outcomes.push(TestOutcome {
            name: test.name.clone(),
            file: set.files()[test.file].file.clone(),
            location: test.location.clone(),
            mismatches,
        });
    }
    TestReport { outcomes }
}

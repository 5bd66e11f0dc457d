//! The compliance report as its JSON document, pretty and deterministic; whole, or a target at
//! a time with the same bytes.

use std::io::{self, Write};

use super::{ComplianceReport, TargetReport};
use crate::report::{PrettyArray, pretty_element};

pub fn json(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    crate::report::write_json(w, r)
}

/// Where the targets' array stands in the document of a report without targets.
const EMPTY_TARGETS: &str = "\n  \"targets\": [],\n";

/// The document's text of `r` (whose targets are not written) split around its targets' array:
/// what comes before the array's first element, and what comes after its last.
fn around_targets(r: &ComplianceReport) -> io::Result<(String, String)> {
    let mut empty = r.clone();
    empty.targets = Vec::new();
    let text = String::from_utf8(serde_json::to_vec_pretty(&empty)?)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let at = text
        .find(EMPTY_TARGETS)
        .ok_or_else(|| io::Error::other("the report document has no targets array"))?;
    let before = format!("{}\n  \"targets\": [", &text[..at]);
    let after = format!("\n  ],\n{}\n", &text[at + EMPTY_TARGETS.len()..]);
    Ok((before, after))
}

/// Writes the JSON document a target at a time, with the bytes [`json`] writes for the whole:
/// [`JsonTargets::head`] (or [`JsonTargets::start`]) before the first target, each target's
/// text rendered apart ([`JsonTargets::render`], on any thread) and pushed in order
/// ([`JsonTargets::push`]), [`JsonTargets::finish`] with the report's final shared parts (its
/// chain check) at the end. The targets can be written to one place (a spool) and the head and
/// end around them to another.
#[derive(Debug, Default)]
pub struct JsonTargets {
    array: PrettyArray,
}

/// A target stands two levels in: an element of the document's `targets` array.
const TARGET_DEPTH: usize = 2;

impl JsonTargets {
    /// `r`'s parts before the targets (schema, time, window) are written; they are known at the
    /// start.
    pub fn start(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<JsonTargets> {
        Self::head(r, w)?;
        Ok(JsonTargets::default())
    }

    /// The document's text before its first target.
    pub fn head(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
        let (before, _) = around_targets(r)?;
        w.write_all(before.as_bytes())
    }

    /// A target's text, to be pushed in its place.
    pub fn render(t: &TargetReport) -> io::Result<Vec<u8>> {
        pretty_element(t, TARGET_DEPTH)
    }

    pub fn push(&mut self, rendered: &[u8], w: &mut dyn Write) -> io::Result<()> {
        self.array.push(rendered, w)
    }

    /// The document's text after its last target.
    pub fn finish(&self, r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
        let (_, after) = around_targets(r)?;
        if self.array.is_empty() {
            // As serde writes an empty array: `[]`.
            return w.write_all(format!("]{}", after.trim_start_matches("\n  ]")).as_bytes());
        }
        w.write_all(after.as_bytes())
    }
}

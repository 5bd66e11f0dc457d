//! The compliance report as its JSON document, pretty and deterministic; whole, or a target at
//! a time with the same bytes.

use std::io::{self, Write};

use super::{ComplianceReport, TargetReport};

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
/// [`JsonTargets::start`] before the first target, [`JsonTargets::target`] for each in order,
/// [`JsonTargets::finish`] with the report's final shared parts (its chain check) at the end.
pub struct JsonTargets {
    written: usize,
}

impl JsonTargets {
    /// `r`'s parts before the targets (schema, time, window) are written; they are known at the
    /// start.
    pub fn start(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<JsonTargets> {
        let (before, _) = around_targets(r)?;
        w.write_all(before.as_bytes())?;
        Ok(JsonTargets { written: 0 })
    }

    pub fn target(&mut self, t: &TargetReport, w: &mut dyn Write) -> io::Result<()> {
        let text = serde_json::to_vec_pretty(t)?;
        let mut out = Vec::with_capacity(text.len() + text.len() / 8);
        out.extend_from_slice(if self.written == 0 { b"\n" } else { b",\n" });
        // An element of the array is indented two levels; a JSON text holds no raw line break
        // but between tokens, so indenting each line is exact.
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(b"    ");
            out.extend_from_slice(line);
        }
        self.written += 1;
        w.write_all(&out)
    }

    pub fn finish(self, r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
        let (_, after) = around_targets(r)?;
        if self.written == 0 {
            // As serde writes an empty array: `[]`.
            return w.write_all(format!("]{}", after.trim_start_matches("\n  ]")).as_bytes());
        }
        w.write_all(after.as_bytes())
    }
}

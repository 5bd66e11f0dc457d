//! The compliance report as its JSON document, pretty and deterministic.

use std::io::{self, Write};

use super::ComplianceReport;

pub fn json(r: &ComplianceReport, w: &mut dyn Write) -> io::Result<()> {
    crate::report::write_json(w, r)
}

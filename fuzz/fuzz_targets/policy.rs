//! Fuzzes the policy loader with arbitrary text.
//!
//! Asserts: `load_str` never panics (errors are fine); a refused file has at least one error, and
//! every diagnostic, error or warning, points at a line and column inside the input; the report
//! prints.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcss_audit::policy::{Diagnostic, Level, load_str};

const NAME: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match load_str(NAME, text) {
        Ok(loaded) => {
            for d in &loaded.warnings {
                assert_eq!(d.level, Level::Warning);
                assert_within(d, text);
            }
        }
        Err(e) => {
            assert!(e.errors().next().is_some(), "refused without an error: {e}");
            for d in &e.diagnostics {
                assert_within(d, text);
            }
            assert!(!e.to_string().is_empty());
        }
    }
});

/// A diagnostic names this file, and a 1-based line and column (in characters) inside `text`; the
/// column may be one past the end of its line (where a missing value was expected).
fn assert_within(d: &Diagnostic, text: &str) {
    assert_eq!(d.file, NAME, "{d}");
    let (Some(line), Some(col)) = (d.line, d.col) else {
        panic!("a diagnostic without a position: {d}");
    };
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        line >= 1 && line <= lines.len(),
        "line {line} of {}: {d}",
        lines.len()
    );
    let width = lines[line - 1].chars().count();
    assert!(col >= 1 && col <= width + 1, "column {col} of {width}: {d}");
}

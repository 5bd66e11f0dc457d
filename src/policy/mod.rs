//! Policies in TOML: parse with spans, validate every error, evaluate into findings.

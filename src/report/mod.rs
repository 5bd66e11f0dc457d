//! Report models and their renderers, all writing to `impl Write`.

pub mod compliance;
pub mod diff;
pub mod history;

use std::io::{self, Write};

use serde::Serialize;

/// Writes a JSON document pretty-printed, with a final newline. Documents are built from structs
/// and BTreeMaps, so the bytes are deterministic.
pub fn write_json(w: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value)?;
    w.write_all(b"\n")
}

/// The first 12 hex digits of a hash, as people read it.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

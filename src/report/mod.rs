//! Reports: models built from what the application gathered, and their renderers, one per
//! format, all writing to `dyn Write`. The one JSON writer and the one Markdown escaping live here.

pub mod check;
pub mod compliance;
pub mod diff;
pub mod history;
pub mod markdown;
pub mod metrics;
pub mod notify;
pub mod restore;

use std::io::{self, Write};

use serde::Serialize;

/// Writes a JSON document pretty-printed, with a final newline. Documents are built from structs
/// and BTreeMaps, so the bytes are deterministic.
pub fn write_json(w: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    // Serialized in memory and written at once: a fleet's report is many MB of small pieces,
    // and each piece through `dyn Write` cost more than the serializing.
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    w.write_all(&bytes)
}

/// Writes several documents, each as its own renderer writes it, as one JSON array (for
/// `--all`, where one document a target would not be one JSON text).
pub fn write_json_array<T>(
    w: &mut dyn Write,
    docs: &[T],
    render: impl Fn(&T, &mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut values = Vec::with_capacity(docs.len());
    for d in docs {
        let mut buf = Vec::new();
        render(d, &mut buf)?;
        values.push(serde_json::from_slice::<serde_json::Value>(&buf)?);
    }
    write_json(w, &values)
}

/// The first 12 hex digits of a hash, as people read it.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

//! Report models and their renderers, all writing to `impl Write`.

pub mod compliance;
pub mod diff;
pub mod files;
pub mod history;

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::Error;

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

/// Writes to a temporary file beside `path`, then renames it over `path`, so a reader never sees
/// half a report and a failure leaves the old one in place.
pub fn write_atomically(
    path: &Path,
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let what = || path.display().to_string();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|source| Error::Output {
        what: what(),
        source,
    })?;
    {
        let mut buf = std::io::BufWriter::with_capacity(1 << 16, file.as_file_mut());
        render(&mut buf)
            .and_then(|()| buf.flush())
            .map_err(|source| Error::Output {
                what: what(),
                source,
            })?;
    }
    // A temporary file is private; a report is for others to read, like any file written here.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o777);
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|source| Error::Output {
                what: what(),
                source,
            })?;
    }
    file.as_file().sync_all().map_err(|source| Error::Output {
        what: what(),
        source,
    })?;
    file.persist(path).map_err(|e| Error::Output {
        what: what(),
        source: e.error,
    })?;
    tracing::info!("wrote {}", path.display());
    Ok(())
}

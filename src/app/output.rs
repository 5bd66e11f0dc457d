//! Writing results to files: a temporary file beside the target, then a rename, so a reader
//! never sees half a report or export and a failure leaves the old file in place.

use std::io::Write;
use std::path::Path;

use crate::app::Error;

/// Writes to a temporary file beside `path`, then renames it over `path`, so a reader never sees
/// half a report and a failure leaves the old one in place.
pub fn write_atomically(
    path: &Path,
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    write_file_atomically(path, |file| {
        let mut buf = std::io::BufWriter::with_capacity(1 << 16, file);
        render(&mut buf)?;
        buf.flush()
    })
}

/// [`write_atomically`], handing `render` the temporary file itself: a copy from another file
/// into it then stays in the kernel (`copy_file_range`) rather than pass through a buffer.
pub fn write_file_atomically(
    path: &Path,
    render: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
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
    render(file.as_file_mut()).map_err(|source| Error::Output {
        what: what(),
        source,
    })?;
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

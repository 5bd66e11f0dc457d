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
    let failed = |source| Error::Output {
        what: path.display().to_string(),
        source,
    };
    // What the path names now (a symbolic link followed).
    let existing = std::fs::metadata(path).ok();
    // A path that names no regular file (`/dev/null`, `/dev/stdout`, a named pipe) is written
    // into as it is: a rename would put a regular file in its place, and run as root over
    // `/dev/null` that breaks the whole machine. A symbolic link is followed, and the file it
    // names is replaced, so that the link stays a link.
    if existing
        .as_ref()
        .is_some_and(|m| !m.is_file() && !m.is_dir())
    {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| render(&mut f))
            .map_err(failed);
    }
    let followed = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).ok(),
        _ => None,
    };
    let target = followed.as_deref().unwrap_or(path);
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    render(file.as_file_mut()).map_err(failed)?;
    // A temporary file is private; a report is for others to read, like any file written here.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = existing.map_or(0o644, |m| m.permissions().mode() & 0o777);
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(failed)?;
    }
    file.as_file().sync_all().map_err(failed)?;
    file.persist(target).map_err(|e| failed(e.error))?;
    tracing::info!("wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_is_written_into_and_stays_a_pipe() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(&fifo).unwrap())
        };
        write_atomically(&fifo, |w| w.write_all(b"a report\n")).unwrap();
        // Checked before the reader is joined: had a file replaced the pipe, the reader would
        // wait for a writer for ever.
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(
            kind.is_fifo(),
            "still a named pipe, not a file in its place"
        );
        assert_eq!(reader.join().unwrap(), b"a report\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_stays_and_the_file_it_names_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.md");
        let link = dir.path().join("link.md");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, |w| w.write_all(b"new")).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn a_regular_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.md");
        std::fs::write(&file, "a longer old text").unwrap();
        write_atomically(&file, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        let failed = write_atomically(&file, |_| Err(std::io::Error::other("no")));
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "new",
            "a failure keeps the old"
        );
    }
}

//! One writer job at a time per database: a lock file beside it, held for the whole run, which
//! names its holder so that a second run can say who it waited for.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::store::StoreError;

/// A held run lock; released when dropped (and by the OS if the process dies).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

/// The lock file of a database: `audit.db` -> `audit.db.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "audit.db".into());
    name.push(".lock");
    db.with_file_name(name)
}

impl RunLock {
    /// Takes the lock, waiting up to `wait` for another holder to finish.
    pub fn acquire(db: &Path, wait: Duration, holder: &str) -> Result<RunLock, StoreError> {
        let path = lock_path(db);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::Sqlite {
                path: path.display().to_string(),
                message: format!("cannot open the run lock: {e}"),
            })?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if started.elapsed() >= wait {
                        let mut who = String::new();
                        let _ = (&file).read_to_string(&mut who);
                        return Err(StoreError::Busy {
                            path: db.display().to_string(),
                            holder: who.trim().to_string(),
                            waited: wait,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(StoreError::Sqlite {
                        path: path.display().to_string(),
                        message: format!("cannot take the run lock: {e}"),
                    });
                }
            }
        }
        let mut lock = RunLock { file, path };
        lock.write_holder(holder);
        Ok(lock)
    }

    fn write_holder(&mut self, holder: &str) {
        // Best effort: the lock itself is what matters; the text only helps the message.
        let _ = self.file.set_len(0);
        let _ = self.file.seek(SeekFrom::Start(0));
        let _ = self.file.write_all(holder.as_bytes());
        let _ = self.file.flush();
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        self.write_holder("");
        let _ = self.file.unlock();
    }
}

/// Who holds the lock, for the message a waiting run prints.
pub fn describe_holder(now: chrono::DateTime<chrono::Utc>) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    format!(
        "audit run, process {}{} since {}",
        std::process::id(),
        if host.is_empty() {
            String::new()
        } else {
            format!(" on {host}")
        },
        crate::task::when::fmt_utc(now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_names_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("audit.db");
        let first =
            RunLock::acquire(&db, Duration::ZERO, "audit run, process 1 since then").unwrap();
        assert_eq!(first.path(), dir.path().join("audit.db.lock"));
        let started = Instant::now();
        let e = RunLock::acquire(&db, Duration::from_millis(300), "second").unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        let text = e.to_string();
        assert!(text.contains("process 1 since then"), "{text}");
        assert_eq!(
            crate::app::Error::from(e).exit_code(),
            crate::app::ExitCode::Storage
        );
        drop(first);
        RunLock::acquire(&db, Duration::ZERO, "third").unwrap();
    }
}

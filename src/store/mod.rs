//! The SQLite history: open and migrate, record snapshots, configs once, the hash chain and its
//! verification, the journal, signed checkpoints and their line, the derived tables, queries.

mod chain;
mod checks;
mod derived;
mod export;
mod journal;
mod line;
mod notify;
mod prune;
mod query;
mod rawcheck;
mod rawpack;
mod record;
mod signed;
mod since;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use rusqlite_migration::{M, Migrations};

pub use chain::{ChainBreak, VerifyReport};
pub use checks::{CheckCounts, KeptCheck, StoredCheck, split_document};
pub use export::{EXPORT_SCHEMA, ExportHeader, ExportLine, ExportRow};
pub use journal::{Entry, EntryKind, ExportEntry, JournalReport, NewEntry};
pub use line::{LineSettings, LineStart, SignerState, StoredCheckpoint, read_state, write_state};
pub use prune::Pruned;
pub use query::{Event, HistoryRow, SnapshotMeta, StoredEvent, StoredSnapshot};
pub use record::{Bulk, NewSnapshot, Recorded};
pub use signed::{CheckpointReport, LineStartSeen};

/// A read transaction open on a [`Store`] (see [`Store::reading`]); dropping it ends it.
pub struct Reading<'a> {
    _open: rusqlite::Transaction<'a>,
}

/// The schema, one migration a folder. Never edit one that has landed; add the next.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../migrations/01-initial/up.sql")),
        M::up(include_str!("../../migrations/02-change-events/up.sql")),
        M::up(include_str!("../../migrations/03-check-results/up.sql")),
        M::up(include_str!("../../migrations/04-chain-checkpoints/up.sql")),
        M::up(include_str!("../../migrations/05-compact-snapshots/up.sql")),
        M::up(include_str!(
            "../../migrations/06-signed-checkpoints/up.sql"
        )),
        M::up(include_str!("../../migrations/07-identity/up.sql")),
        M::up(include_str!("../../migrations/08-notify-state/up.sql")),
        M::up(include_str!("../../migrations/09-journal/up.sql")),
        M::up(include_str!(
            "../../migrations/10-change-events-by-time/up.sql"
        )),
        M::up(include_str!("../../migrations/11-configs-by-row/up.sql")),
        M::up_with_hook(
            include_str!("../../migrations/12-check-documents/up.sql"),
            |tx: &rusqlite::Transaction| Ok(checks::split_kept_documents(tx)?),
        ),
        M::up(include_str!("../../migrations/13-signature-line/up.sql")),
        M::up(include_str!("../../migrations/14-views/up.sql")),
    ])
}

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {message}")]
    Sqlite { path: String, message: String },
    #[error(
        "database {path} does not exist yet: nothing has been recorded; run `audit snapshot` or `audit import` first, or name another file with --db"
    )]
    Missing { path: String },
    #[error(
        "{path} is not a tcss-audit database (not an SQLite file); it was left untouched: check --db / TCSS_AUDIT_DB"
    )]
    NotSqlite { path: String },
    #[error(
        "{path} is an SQLite database but not a tcss-audit history (it holds {tables}); it was left untouched: check --db / TCSS_AUDIT_DB"
    )]
    Foreign { path: String, tables: String },
    #[error(
        "{path} is not a regular file (a device, a folder or a pipe); it was left untouched: name a database file with --db / TCSS_AUDIT_DB"
    )]
    NotAFile { path: String },
    #[error(
        "database {path} was written by a newer tcss-audit (schema {found}, this one knows {known}); it was left untouched: upgrade tcss-audit"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error(
        "database {path} is locked by another process and stayed locked for {waited:?}; try again when it finishes"
    )]
    Locked { path: String, waited: Duration },
    #[error("database {path} is in use by another run ({}) and stayed so for {waited:?}; try again when it finishes, or raise --lock-timeout", if holder.is_empty() { "holder unknown" } else { holder.as_str() })]
    Busy {
        path: String,
        holder: String,
        waited: Duration,
    },
    #[error(
        "database {path} is read-only: {message}; record into a writable copy or fix its permissions"
    )]
    ReadOnly { path: String, message: String },
    #[error(
        "database {path} is damaged: {message}; restore it from a backup (`audit export --jsonl` keeps one)"
    )]
    Corrupt { path: String, message: String },
    #[error("target {target:?} has no snapshot{}{}", if what.is_empty() { String::new() } else { format!(" {what}") }, earliest.map(|e| format!("; its earliest snapshot is at {}", crate::task::when::fmt_utc(e))).unwrap_or_else(|| "; it has no snapshots yet".into()))]
    NoSnapshot {
        target: String,
        what: String,
        earliest: Option<DateTime<Utc>>,
    },
    #[error("snapshot {id} does not exist{}", .target.as_ref().map(|t| format!(" for target {t:?}")).unwrap_or_default())]
    UnknownSnapshot { id: i64, target: Option<String> },
    #[error("snapshot {id} belongs to target {actual:?}, not {wanted:?}")]
    WrongTarget {
        id: i64,
        wanted: String,
        actual: String,
    },
    #[error("database {path}: the stored config {hash} cannot be read: {message}")]
    BadConfig {
        path: String,
        hash: String,
        message: String,
    },
}

impl StoreError {
    /// Whether the request, not the database, is at fault: it named a snapshot, a moment or a
    /// file that holds nothing. The application maps this to a usage error, the rest to storage.
    pub fn is_about_the_request(&self) -> bool {
        matches!(
            self,
            StoreError::NoSnapshot { .. }
                | StoreError::UnknownSnapshot { .. }
                | StoreError::WrongTarget { .. }
                | StoreError::Missing { .. }
                | StoreError::Foreign { .. }
        )
    }
}

/// An open history database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    bases: BaseCache,
    recent: record::Recent,
    /// With a signing key: the key, and this connection's checkpoint row once it has one.
    signer: Option<signed::Signer>,
}

/// The raw-answer bases read or written lately. Bases never change once committed and their ids
/// are never given out again (`AUTOINCREMENT`), so a remembered one stays right.
#[derive(Default)]
pub(crate) struct BaseCache(Mutex<Generations>);

/// Two generations of bases: the ones used since the young one began, and the ones before. A
/// base used again moves to the young one; when that is full, it becomes the old one and the
/// old one is dropped. So what is used over and over stays, however many bases the history
/// holds, and memory stays within two generations (an LRU's effect without its bookkeeping).
#[derive(Default)]
pub(crate) struct Generations {
    young: HashMap<i64, Arc<[u8]>>,
    old: HashMap<i64, Arc<[u8]>>,
}

impl Generations {
    fn insert(&mut self, id: i64, bytes: Arc<[u8]>) {
        if self.young.len() >= BaseCache::GENERATION {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(id, bytes);
    }
}

impl BaseCache {
    /// More than a large fleet's bases in use at once: a pass in recording order (verify,
    /// export) meets each target once a night, and a target's answers are packed against the
    /// base of its current config, so a night of ten thousand targets uses ten thousand bases
    /// (a base is an answer, under a kilobyte). A generation that held fewer would drop each
    /// base before the next night needs it again.
    const GENERATION: usize = 16384;

    fn get_or_load(
        &self,
        id: i64,
        load: impl FnOnce() -> Result<Vec<u8>, StoreError>,
    ) -> Result<Arc<[u8]>, StoreError> {
        {
            let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(b) = cache.young.get(&id) {
                return Ok(b.clone());
            }
            if let Some(b) = cache.old.remove(&id) {
                cache.insert(id, b.clone());
                return Ok(b);
            }
        }
        let bytes: Arc<[u8]> = load()?.into();
        self.remember([(id, bytes.clone())]);
        Ok(bytes)
    }

    fn remember(&self, bases: impl IntoIterator<Item = (i64, Arc<[u8]>)>) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (id, bytes) in bases {
            cache.insert(id, bytes);
        }
    }
}

/// How to open the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create it (and its folder) if it is not there.
    Create,
    /// It must exist: reading commands do not create empty files.
    Existing,
}

/// How long a command waits for another process's write to finish.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A connection's page cache, in KiB: as opened (a year of a large fleet is a few hundred MB,
/// and a cache of up to 64 MiB, filled only as pages are read, keeps an import's index inserts
/// and a long history's reads off the disk); for one pass over the whole history; for a
/// connection that reads each row about once, beside others; and for a look at one index page
/// a target, once.
const LARGE_CACHE_KIB: i64 = 65536;
const SMALL_CACHE_KIB: i64 = 8192;
pub const READ_ONCE_CACHE_KIB: i64 = 2048;
const PAGE_A_TARGET_CACHE_KIB: i64 = 256;

impl Store {
    pub fn open(path: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        Self::open_with_timeout(path, mode, DEFAULT_BUSY_TIMEOUT)
    }

    pub fn open_with_timeout(
        path: &Path,
        mode: OpenMode,
        busy_timeout: Duration,
    ) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let sqlite_err = |e: rusqlite::Error| classify(&shown, e, busy_timeout);
        match std::fs::metadata(path) {
            // A device, folder or pipe is no database, and SQLite would create files beside it
            // (`/dev/null-journal`): refused before anything is opened.
            Ok(meta) if !meta.is_file() => return Err(StoreError::NotAFile { path: shown }),
            Ok(meta) if meta.len() > 0 => check_header(path, &shown)?,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if mode == OpenMode::Existing {
                    return Err(StoreError::Missing { path: shown });
                }
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| StoreError::Sqlite {
                        path: shown.clone(),
                        message: format!("cannot create the folder {}: {e}", parent.display()),
                    })?;
                }
            }
            Err(e) => {
                return Err(StoreError::Sqlite {
                    path: shown,
                    message: format!("cannot read it: {e}"),
                });
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let opened = Connection::open_with_flags(path, flags).and_then(|conn| {
            conn.busy_timeout(busy_timeout)?;
            let version = user_version(&conn)?;
            Ok((conn, version))
        });
        let (mut conn, version, immutable) = match opened {
            Ok((conn, version)) => (conn, version, false),
            // A database on read-only media cannot be opened for writing, nor read in WAL mode
            // (which needs its `-shm` file): an existing one is opened read-only and immutable,
            // so an archived copy can still be read, verified and reported on.
            Err(rusqlite::Error::SqliteFailure(f, _))
                if mode == OpenMode::Existing
                    && matches!(
                        f.code,
                        rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly
                    ) =>
            {
                let (conn, version) = open_immutable(path).map_err(sqlite_err)?;
                (conn, version, true)
            }
            // For writing: a file that opens only as immutable is on read-only media.
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::CannotOpen
                    && path.exists()
                    && open_immutable(path).is_ok() =>
            {
                return Err(StoreError::ReadOnly {
                    path: shown,
                    message: "it is on read-only media and can be read but not written".into(),
                });
            }
            Err(e) => return Err(sqlite_err(e)),
        };
        // Refuse a newer schema before touching anything, so the user's file is never rewritten.
        let known = KNOWN_VERSION;
        if version > known {
            return Err(StoreError::TooNew {
                path: shown,
                found: version,
                known,
            });
        }
        // Refuse another application's file before anything is written to it: migrating would
        // add this tool's tables and WAL would change its journal mode.
        if version == 0
            && let Some(tables) = foreign_tables(&conn).map_err(sqlite_err)?
        {
            return Err(StoreError::Foreign {
                path: shown,
                tables: describe_tables(&tables),
            });
        }
        match conn.pragma_update(None, "journal_mode", "WAL") {
            // A read-only file can still be read in the journal mode it has; a write will say
            // why it cannot happen.
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ReadOnly => {}
            other => other.map_err(sqlite_err)?,
        }
        conn.pragma_update(None, "cache_size", -LARGE_CACHE_KIB)
            .map_err(sqlite_err)?;
        // FULL: an audit trail should survive a power cut, and one fsync a night costs nothing.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite_err)?;
        keep_wal_files(&conn);
        // On read-only media, or a file SQLite could open only for reading, nothing can be
        // migrated: a schema whose tables are this one's is read as it is.
        let read_only = immutable
            || conn
                .is_readonly(rusqlite::DatabaseName::Main)
                .map_err(sqlite_err)?;
        if version < known && !(read_only && version >= READABLE_AS_IT_IS) {
            bring_up_to_date(&mut conn, &shown, busy_timeout)?;
        }
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite_err)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            bases: BaseCache::default(),
            recent: record::Recent::default(),
            signer: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checkpoints the WAL into the database and cuts the kept WAL file back to nothing: after
    /// a large import, whose WAL would otherwise stay on disk at its largest size. A nightly
    /// run does not call it, since truncating costs a sync of its own.
    pub fn compact_wal(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// For a connection that reads each row about once (a report's worker): a small page cache,
    /// so that several such connections together stay within what one would use.
    pub fn read_once(&self) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "cache_size", -READ_ONCE_CACHE_KIB)
            .map_err(|e| self.err(e))
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        classify(&self.shown(), e, DEFAULT_BUSY_TIMEOUT)
    }

    /// `query_row` through the statement cache: the queries a report repeats for every target
    /// are parsed once.
    fn cached_row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached(sql)?.query_row(params, f)
    }

    /// A raw answer as recorded: `stored` is whole when `base` is `None`, else packed against it.
    fn unpack_raw(
        &self,
        id: i64,
        base: Option<i64>,
        stored: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let Some(base) = base else {
            return Ok(stored);
        };
        let bytes = self.base(id, base)?;
        rawpack::unpack(&stored, &bytes).map_err(|message| StoreError::Corrupt {
            path: self.shown(),
            message: format!("snapshot {id}: {message}"),
        })
    }

    /// A read transaction, held until the value is dropped: the queries made meanwhile see one
    /// moment of the history (a snapshot recorded by another process is wholly in or out), and
    /// SQLite takes its shared lock once rather than once a query.
    pub fn reading(&self) -> Result<Reading<'_>, StoreError> {
        self.conn
            .unchecked_transaction()
            .map(|open| Reading { _open: open })
            .map_err(|e| self.err(e))
    }

    /// Runs `f` with this connection's page cache small: a single pass over the whole history
    /// gains nothing from a large one, and memory then stays flat however long it is.
    pub(crate) fn with_small_cache<T>(
        &self,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_cache(SMALL_CACHE_KIB, f)
    }

    /// Runs `f` with this connection's page cache at most `kib` KiB, as while other connections
    /// of this process do the reading (a report's workers, its chain check).
    ///
    /// SQLite is built with `SQLITE_ENABLE_MEMORY_MANAGEMENT`, so the caches of every connection
    /// in the process are one pool, as large as their sizes together: an idle connection's
    /// large cache lets the others' pages pile up to its size. Making it small trims the pool
    /// at once.
    pub fn with_cache<T, E: From<StoreError>>(
        &self,
        kib: i64,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let cache: i64 = self
            .conn
            .pragma_query_value(None, "cache_size", |r| r.get(0))
            .map_err(|e| self.err(e))?;
        self.conn
            .pragma_update(None, "cache_size", -kib)
            .map_err(|e| self.err(e))?;
        let done = f();
        let restored = self.conn.pragma_update(None, "cache_size", cache);
        let done = done?;
        restored.map_err(|e| self.err(e))?;
        Ok(done)
    }

    /// The base that snapshot `id`'s raw answer is packed against.
    fn base(&self, id: i64, base: i64) -> Result<Arc<[u8]>, StoreError> {
        self.bases
            .get_or_load(base, || load_base(&self.conn, &self.shown(), id, base))
    }
}

/// Migrates an older history to this binary's schema, in one transaction a migration.
fn bring_up_to_date(
    conn: &mut Connection,
    shown: &str,
    busy_timeout: Duration,
) -> Result<(), StoreError> {
    let sqlite_err = |e: rusqlite::Error| classify(shown, e, busy_timeout);
    // A migration that rebuilds a table drops the old one while rows elsewhere still point at
    // its ids; references are checked once the schema is whole.
    conn.pragma_update(None, "foreign_keys", "OFF")
        .map_err(sqlite_err)?;
    migrations().to_latest(conn).map_err(|e| match e {
        rusqlite_migration::Error::RusqliteError { err, .. } => classify(shown, err, busy_timeout),
        other => StoreError::Sqlite {
            path: shown.to_string(),
            message: format!("cannot bring the schema up to date: {other}"),
        },
    })?;
    match dangling_reference(conn).map_err(sqlite_err)? {
        Some(table) => Err(StoreError::Corrupt {
            path: shown.to_string(),
            message: format!(
                "after the schema update, table {table} points at rows that are not there"
            ),
        }),
        None => Ok(()),
    }
}

/// Reads raw base `base`, which snapshot `id`'s answer is packed against.
fn load_base(conn: &Connection, shown: &str, id: i64, base: i64) -> Result<Vec<u8>, StoreError> {
    conn.prepare_cached("SELECT bytes FROM raw_bases WHERE id = ?1")
        .and_then(|mut st| st.query_row([base], |r| r.get(0)))
        .optional()
        .map_err(|e| classify(shown, e, DEFAULT_BUSY_TIMEOUT))?
        .ok_or_else(|| StoreError::Corrupt {
            path: shown.to_string(),
            message: format!(
                "snapshot {id}'s raw answer refers to a base ({base}) that is not there"
            ),
        })
}

/// The first table with a row that points at a row that is not there, if any: a check of every
/// foreign key at once, for changes made with their checks off.
fn dangling_reference(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()
}

/// Tables the first migration creates: a file at schema 0 that has any of them is a history
/// whose first migration did not finish; one with tables but none of these belongs to another
/// application.
const FIRST_TABLES: [&str; 4] = ["targets", "configs", "snapshots", "seen_fields"];

/// The tables of a file at schema 0 if it is another application's: it has tables, none of
/// them this tool's. A file with no tables at all (a new or empty one) is a new history.
fn foreign_tables(conn: &Connection) -> rusqlite::Result<Option<Vec<String>>> {
    let tables = table_names(conn)?;
    let ours = tables.iter().any(|t| FIRST_TABLES.contains(&t.as_str()));
    Ok((!tables.is_empty() && !ours).then_some(tables))
}

/// The names of a file's own tables (not SQLite's internal ones), in order.
fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
         ORDER BY name",
    )?
    .query_map([], |r| r.get(0))?
    .collect()
}

/// A few of a foreign file's table names, escaped: they are another application's text.
fn describe_tables(tables: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut names: Vec<String> = tables
        .iter()
        .take(SHOWN)
        .map(|t| crate::task::text::visible(t).into_owned())
        .collect();
    if tables.len() > SHOWN {
        names.push(format!("{} more", tables.len() - SHOWN));
    }
    format!(
        "{}: {}",
        crate::task::text::count(tables.len() as u64, "table", "tables"),
        names.join(", ")
    )
}

/// The schema version this binary writes.
const KNOWN_VERSION: i64 = 14;

/// The oldest schema this binary reads as it is: the migrations after it add only views for
/// people reading the history in SQL, which the tool itself never reads. A history of this
/// schema or newer on read-only media, which cannot be migrated, is read without them.
const READABLE_AS_IT_IS: i64 = 13;

fn check_header(path: &Path, shown: &str) -> Result<(), StoreError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::Sqlite {
        path: shown.to_string(),
        message: format!("cannot open it: {e}"),
    })?;
    let n = file.read(&mut head).unwrap_or(0);
    if n < 16 || &head != SQLITE_HEADER {
        return Err(StoreError::NotSqlite {
            path: shown.to_string(),
        });
    }
    Ok(())
}

/// Turns SQLite's error codes into the errors users can act on.
/// Keeps the `-wal` and `-shm` files when the last connection closes (it still checkpoints, so
/// the database file alone is whole after every run). Deleting the WAL at close made the next
/// run create it again, and a new file costs a sync of its folder on top of the commit's: a
/// nightly snapshot was five fsyncs, this makes it four. It also lets people without write
/// access to the folder read the history, since the files they need are already there.
fn keep_wal_files(conn: &Connection) {
    let mut on: std::os::raw::c_int = 1;
    // SAFETY: `handle` is this open connection's own pointer, "main" a NUL-terminated name, and
    // the argument an int that lives through the call, as SQLITE_FCNTL_PERSIST_WAL requires.
    // rusqlite has no safe call for this file control. A failure leaves the default, which is
    // correct, only slower.
    unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut std::os::raw::c_int).cast(),
        );
    }
}

/// The schema version a database file records.
fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Opens `path` read-only as an immutable file (no locks, no journal), for read-only media, and
/// reads its schema version: opening alone does not read the file.
fn open_immutable(path: &Path) -> rusqlite::Result<(Connection, i64)> {
    // SQLite's URI syntax: the path with `%`, `?` and `#` escaped, then the parameter.
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let version = user_version(&conn)?;
    Ok((conn, version))
}

fn classify(path: &str, e: rusqlite::Error, waited: Duration) -> StoreError {
    use rusqlite::ErrorCode as C;
    let path = path.to_string();
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let message = msg.clone().unwrap_or_else(|| f.to_string());
            match f.code {
                C::DatabaseBusy | C::DatabaseLocked => StoreError::Locked { path, waited },
                C::ReadOnly | C::CannotOpen
                    if message.contains("readonly") || f.code == C::ReadOnly =>
                {
                    StoreError::ReadOnly { path, message }
                }
                C::NotADatabase => StoreError::NotSqlite { path },
                C::DatabaseCorrupt => StoreError::Corrupt { path, message },
                C::DiskFull => StoreError::Sqlite {
                    path,
                    message:
                        "the disk is full; free space and run again (nothing was half-written)"
                            .into(),
                },
                _ => StoreError::Sqlite { path, message },
            }
        }
        _ => StoreError::Sqlite {
            path,
            message: e.to_string(),
        },
    }
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrations_count() -> usize {
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .count()
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
        assert_eq!(KNOWN_VERSION as usize, migrations_count());
    }

    #[test]
    fn configs_have_rowids_and_a_snapshot_still_needs_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db"), OpenMode::Create).unwrap();
        let c = &store.conn;
        // A table without rowids refuses to name the column: its hashes would share the
        // canonical texts' tree again.
        c.execute_batch(&format!(
            "INSERT INTO configs (hash, canonical, first_seen_at) VALUES ('{}', '{{}}', 0);
             INSERT INTO targets (id, name, created_at) VALUES (1, 't', 0);",
            "a".repeat(64)
        ))
        .unwrap();
        let rowid: i64 = c
            .query_row("SELECT rowid FROM configs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rowid, 1);
        let snapshot = |hash: &str| {
            c.execute(
                "INSERT INTO snapshots (target_id, observed_at, recorded_at, source, raw,
                     raw_sha256, config_hash, chain_hash)
                 VALUES (1, 0, 0, 'fetch', x'', zeroblob(32), ?1, zeroblob(32))",
                [hash],
            )
        };
        let unknown = snapshot(&"b".repeat(64)).unwrap_err();
        assert!(unknown.to_string().contains("FOREIGN KEY"), "{unknown}");
        snapshot(&"a".repeat(64)).unwrap();
        let short = c.execute(
            "INSERT INTO configs (hash, canonical, first_seen_at) VALUES ('abc', '{}', 0)",
            [],
        );
        assert!(short.unwrap_err().to_string().contains("CHECK"));
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.db");
        std::fs::write(&path, "these are my notes, not a database\n").unwrap();
        let e = Store::open(&path, OpenMode::Create).err().unwrap();
        assert!(matches!(e, StoreError::NotSqlite { .. }), "{e}");
        assert!(!e.is_about_the_request());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "these are my notes, not a database\n"
        );
    }

    #[test]
    fn a_foreign_files_table_names_are_shown_escaped_and_cut_short() {
        let names: Vec<String> = ["a\u{1b}[31mred", "b", "c", "d", "e", "f", "g"]
            .map(String::from)
            .into();
        assert_eq!(
            describe_tables(&names),
            "7 tables: a\\u{1b}[31mred, b, c, d, e, 2 more"
        );
    }

    #[test]
    fn a_file_with_only_sqlites_own_tables_is_a_new_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        {
            let c = Connection::open(&path).unwrap();
            // `sqlite_sequence` appears with the first AUTOINCREMENT table and stays.
            c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT); DROP TABLE t;")
                .unwrap();
        }
        drop(Store::open(&path, OpenMode::Create).unwrap());
        assert_eq!(
            user_version(&Connection::open(&path).unwrap()).unwrap(),
            KNOWN_VERSION
        );
    }

    #[test]
    fn a_newer_schema_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        drop(Store::open(&path, OpenMode::Create).unwrap());
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let e = Store::open(&path, OpenMode::Create).err().unwrap();
        assert!(matches!(e, StoreError::TooNew { found: 99, .. }), "{e}");
    }

    #[test]
    fn a_cache_size_holds_for_its_closure_only_even_when_it_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db"), OpenMode::Create).unwrap();
        let size = || -> i64 {
            store
                .conn
                .pragma_query_value(None, "cache_size", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(size(), -LARGE_CACHE_KIB);
        let inside = store
            .with_cache(READ_ONCE_CACHE_KIB, || Ok::<_, StoreError>(size()))
            .unwrap();
        assert_eq!(inside, -READ_ONCE_CACHE_KIB);
        assert_eq!(size(), -LARGE_CACHE_KIB);
        let failed: Result<(), StoreError> = store.with_cache(256, || {
            assert_eq!(size(), -256);
            Err(StoreError::UnknownSnapshot {
                id: 7,
                target: None,
            })
        });
        assert!(matches!(
            failed,
            Err(StoreError::UnknownSnapshot { id: 7, .. })
        ));
        assert_eq!(size(), -LARGE_CACHE_KIB);
    }

    #[test]
    fn reading_commands_do_not_create_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.db");
        let e = Store::open(&path, OpenMode::Existing).err().unwrap();
        assert!(matches!(e, StoreError::Missing { .. }));
        assert!(!path.exists());
    }
}
